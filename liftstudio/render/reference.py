"""The reference render backend: :class:`RasterRules` followed literally, pixel by pixel.

This backend exists to test the other backends (the numba CPU renderer, and through
it gsplat). It is slow on purpose and written to be read: every quantity is float64
numpy, the projection is the plain matrix form of the EWA splatting formulas, and each
pixel is composited on its own by a Python loop that is the per-pixel rule of
:mod:`liftstudio.render.rules` word for word:

1. Project every Gaussian (:func:`_project`): ``Σ = R diag(s²) Rᵀ``, ``t = viewmat·[μ, 1]``,
   cull ``t_z ∉ (near_plane, far_plane)``, ``Σ2D = J W Σ Wᵀ Jᵀ + cov2d_dilation·I`` with
   the Jacobian evaluated at the clamped ``t_x/t_z, t_y/t_z``, ``mean2d = f·t/t_z + c``
   (not clamped). Gaussians whose ``Σ2D`` is not positive definite are culled.
2. Sort the projected Gaussians once by camera depth ``t_z`` (ties: smaller index first).
3. At pixel centre ``p``: for each Gaussian ``q = dᵀ Σ2D⁻¹ d`` with ``d = p - mean2d``,
   ``α = min(alpha_max, opacity·exp(-q/2))``; it contributes iff
   ``q <= footprint_sigmas²`` and ``α >= min_alpha``.
4. Composite the contributors front to back (:func:`_composite`): ``T = 1``; before each,
   stop if ``T·(1-α) < transmittance_stop``; else ``w = α·T`` and ``T ← T·(1-α)``.

Everything a backend returns is a function of those weights ``w``.

Speed: step 3 only looks at candidate Gaussians whose footprint bounding box
``mean2d ± footprint_sigmas·sqrt(diag Σ2D)`` covers the pixel (:meth:`_Projection.candidates`).
This prefilter is exact: that box is the axis-aligned bounding box of the ellipse
``dᵀ Σ2D⁻¹ d <= footprint_sigmas²``, so a Gaussian outside it cannot contribute; the box
is also widened by a relative 1e-6 so that rounding cannot drop a point on the ellipse's
edge. The rule itself is then evaluated for every candidate.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass

import numpy as np

from liftstudio.jobs import CancelToken, ProgressCallback, check_cancelled, report
from liftstudio.render.backend import (
    Resolution,
    camera_at,
    check_features,
    check_operator_request,
    view_colors,
    zip_views,
)
from liftstudio.render.results import OperatorRows, PickResult, RenderResult, UpliftResult
from liftstudio.render.rules import INRIA_RULES, RasterRules
from liftstudio.scene.camera import Camera
from liftstudio.scene.gaussians import GaussianScene
from liftstudio.scene.rotations import quats_to_matrices

_BOX_PAD = 1e-6
"""Relative widening of the footprint boxes (keeps the prefilter a strict superset)."""

_BLOCK = 16
"""Pixels of one image row evaluated together against their common candidates."""


class ReferenceBackend:
    """Slow, literal float64 implementation of :class:`RasterRules` (see the module docstring).

    Parameters
    ----------
    rules
        The rasterization constants to follow.
    """

    name = "reference"

    def __init__(self, rules: RasterRules = INRIA_RULES) -> None:
        if not isinstance(rules, RasterRules):
            raise ValueError(f"rules must be a RasterRules, got {type(rules).__name__}")
        self.rules = rules

    def __repr__(self) -> str:
        return f"ReferenceBackend(rules={self.rules.name!r})"

    # ------------------------------------------------------------------ render
    def render(
        self,
        scene: GaussianScene,
        camera: Camera,
        *,
        resolution: Resolution | None = None,
        features: np.ndarray | None = None,
        rgb: bool = True,
        background: Sequence[float] = (0.0, 0.0, 0.0),
        sh_degree: int | None = None,
    ) -> RenderResult:
        """Render one view (see :meth:`liftstudio.render.backend.RenderBackend.render`).

        Parameters
        ----------
        scene
            The Gaussians.
        camera
            The view.
        resolution
            ``(width, height)``; the intrinsics are scaled to it (default: the camera's).
        features : (N, C) array, optional
            Per-Gaussian values to render.
        rgb
            Whether to render colour.
        background : (3,)
            Colour behind the Gaussians (RGB only).
        sh_degree
            Highest SH degree to use (default: all the scene has).

        Returns
        -------
        RenderResult
            ``alpha (H, W)``, ``depth (H, W)``, ``rgb (H, W, 3)`` or None,
            ``features (H, W, C)`` or None, all float32.
        """
        camera = camera_at(camera, resolution)
        feats = check_features(features, len(scene))
        bg = _check_background(background)
        height, width = camera.height, camera.width

        colors = view_colors(scene, camera, sh_degree).astype(np.float64) if rgb else None
        values = None if feats is None else feats.astype(np.float64)

        alpha = np.zeros((height, width))
        depth = np.zeros((height, width))
        rgb_image = np.tile(bg, (height, width, 1)) if rgb else None  # T = 1 where empty
        feat_image = None if values is None else np.zeros((height, width, values.shape[1]))

        proj = _project(scene, camera, self.rules)
        for i, j, pos, weights, transmittance in _pixels(proj, width, height, self.rules):
            ids = proj.ids[pos]
            total = weights.sum()
            alpha[i, j] = total
            if total > 0:
                depth[i, j] = (weights @ proj.depths[pos]) / total
            if rgb_image is not None:
                rgb_image[i, j] = weights @ colors[ids] + transmittance * bg
            if feat_image is not None:
                feat_image[i, j] = weights @ values[ids]

        return RenderResult(
            alpha=alpha.astype(np.float32),
            depth=depth.astype(np.float32),
            rgb=None if rgb_image is None else rgb_image.astype(np.float32),
            features=None if feat_image is None else feat_image.astype(np.float32),
        )

    # ------------------------------------------------------------------ uplift
    def uplift(
        self,
        scene: GaussianScene,
        cameras: Sequence[Camera],
        maps: Iterable[np.ndarray],
        *,
        progress: ProgressCallback | None = None,
        cancel: CancelToken | None = None,
    ) -> UpliftResult:
        """Accumulate ``Σ_v W_vᵀ F_v`` and ``β = Σ_v W_vᵀ 1`` in float64.

        Parameters
        ----------
        scene
            The Gaussians.
        cameras
            One camera per map.
        maps
            One (H, W) or (H, W, C) map per camera; each view is rendered at its map's size.
        progress, cancel
            Progress callback (one step per view) and cancel token.

        Returns
        -------
        UpliftResult
            ``weighted_sum (N, C)`` and ``beta (N,)``, float32.

        Raises
        ------
        ValueError
            When there are no cameras, the map and camera counts differ, or the maps'
            channel counts differ.
        liftstudio.jobs.JobCancelled
            When ``cancel`` is set (checked before each view).
        """
        cameras = list(cameras)
        if not cameras:
            raise ValueError("uplift needs at least one camera and map")
        total = len(cameras)
        num = len(scene)
        weighted_sum: np.ndarray | None = None
        beta = np.zeros(num)
        for index, camera, values in zip_views(cameras, maps):
            check_cancelled(cancel)
            map_height, map_width, channels = values.shape
            if weighted_sum is None:
                weighted_sum = np.zeros((num, channels))
            elif channels != weighted_sum.shape[1]:
                raise ValueError(
                    f"map {index} (camera {camera.name!r}) has {channels} channels, "
                    f"the first map had {weighted_sum.shape[1]}"
                )
            view = camera_at(camera, (map_width, map_height))
            pixels = values.astype(np.float64)
            proj = _project(scene, view, self.rules)
            for i, j, pos, weights, _ in _pixels(proj, map_width, map_height, self.rules):
                ids = proj.ids[pos]  # distinct within one pixel, so += is safe
                weighted_sum[ids] += weights[:, None] * pixels[i, j][None, :]
                beta[ids] += weights
            report(progress, index + 1, total, f"uplift: view {camera.name}")
        return UpliftResult(
            weighted_sum=weighted_sum.astype(np.float32), beta=beta.astype(np.float32)
        )

    # ------------------------------------------------------------------ operator rows
    def operator_rows(
        self,
        scene: GaussianScene,
        camera: Camera,
        *,
        resolution: Resolution | None = None,
        top_k: int | None = 16,
        weight_dtype: np.dtype | type = np.float16,
    ) -> OperatorRows:
        """Each pixel's ``top_k`` largest weights, their Gaussian ids and the mass left out.

        Parameters
        ----------
        scene
            The Gaussians.
        camera
            The view.
        resolution
            ``(width, height)``; the intrinsics are scaled to it.
        top_k
            Entries kept per pixel (>= 1), or None for all of them (K is then the largest
            number of contributors of any pixel, at least 1).
        weight_dtype
            Floating dtype of the stored weights.

        Returns
        -------
        OperatorRows
            ``ids (H, W, K)`` int32 by weight descending (ties: composited first), -1 pads;
            ``weights (H, W, K)`` of ``weight_dtype``, 0 pads; ``residual (H, W)``
            float32, ``Σ all weights - Σ kept weights`` computed in float64.
        """
        top_k, dtype = check_operator_request(top_k, weight_dtype)
        camera = camera_at(camera, resolution)
        height, width = camera.height, camera.width

        proj = _project(scene, camera, self.rules)
        rows: list[tuple[int, int, np.ndarray, np.ndarray]] = []
        for i, j, pos, weights, _ in _pixels(proj, width, height, self.rules):
            by_weight = np.argsort(-weights, kind="stable")  # ties keep compositing order
            rows.append((i, j, proj.ids[pos][by_weight], weights[by_weight]))
        if top_k is None:
            top_k = max([1, *(len(w) for _, _, _, w in rows)])

        ids = np.full((height, width, top_k), -1, dtype=np.int32)
        kept_weights = np.zeros((height, width, top_k), dtype=dtype)
        residual = np.zeros((height, width))
        for i, j, row_ids, row_weights in rows:
            kept = min(top_k, len(row_ids))
            ids[i, j, :kept] = row_ids[:kept]
            kept_weights[i, j, :kept] = row_weights[:kept]
            residual[i, j] = row_weights.sum() - row_weights[:kept].sum()
        return OperatorRows(ids=ids, weights=kept_weights, residual=residual.astype(np.float32))

    # ------------------------------------------------------------------ pick
    def pick(self, scene: GaussianScene, camera: Camera, x: float, y: float) -> PickResult:
        """The Gaussians under the continuous pixel position ``(x, y)``, front to back.

        Parameters
        ----------
        scene
            The Gaussians.
        camera
            The view, at its own resolution.
        x, y
            Pixel coordinates in ``[0, width) x [0, height)``; the centre of pixel
            ``(row i, column j)`` is ``(j + 0.5, i + 0.5)``.

        Returns
        -------
        PickResult
            ``ids`` int32 in compositing order, their ``weights`` and camera ``depths``
            (float32).

        Raises
        ------
        ValueError
            When ``(x, y)`` is not finite or lies outside the image.
        """
        x, y = float(x), float(y)
        if not (np.isfinite(x) and np.isfinite(y)):
            raise ValueError(f"pick position must be finite, got ({x}, {y})")
        if not (0.0 <= x < camera.width and 0.0 <= y < camera.height):
            raise ValueError(
                f"pick position ({x}, {y}) is outside the {camera.width}x{camera.height} "
                f"image of camera {camera.name!r}"
            )
        proj = _project(scene, camera, self.rules)
        sel = proj.candidates(x, x, y, y)
        alpha, contributes = _evaluate(proj, sel, np.array([x]), y, self.rules)
        pos = sel[contributes[0]]
        weights, _ = _composite(alpha[0, contributes[0]].tolist(), self.rules)
        pos = pos[: len(weights)]
        return PickResult(
            ids=proj.ids[pos].astype(np.int32),
            weights=np.asarray(weights, dtype=np.float32),
            depths=proj.depths[pos].astype(np.float32),
        )


# ---------------------------------------------------------------------------- the rule
@dataclass(frozen=True)
class _Projection:
    """The non-culled Gaussians of one view, sorted by (depth, index); float64.

    Attributes
    ----------
    ids : (M,) int64
        Gaussian index in the scene.
    means2d : (M, 2)
        Projected centres in pixels.
    cov_inv : (M, 2, 2)
        Inverses of the 2D covariances.
    depths : (M,)
        Camera-space z of the centres.
    opacities : (M,)
        Activated opacities.
    half_box : (M, 2)
        Half-widths of the footprint bounding boxes (x, y), slightly widened.
    """

    ids: np.ndarray
    means2d: np.ndarray
    cov_inv: np.ndarray
    depths: np.ndarray
    opacities: np.ndarray
    half_box: np.ndarray

    def candidates(self, x_lo: float, x_hi: float, y_lo: float, y_hi: float) -> np.ndarray:
        """Positions (ascending) of the Gaussians whose footprint box meets the rectangle."""
        lo = self.means2d - self.half_box
        hi = self.means2d + self.half_box
        hit = (hi[:, 0] >= x_lo) & (lo[:, 0] <= x_hi) & (hi[:, 1] >= y_lo) & (lo[:, 1] <= y_hi)
        return np.flatnonzero(hit)


def _project(scene: GaussianScene, camera: Camera, rules: RasterRules) -> _Projection:
    """Project every Gaussian of ``scene`` into ``camera`` (step 1-2 of the module docstring)."""
    means = np.asarray(scene.means, dtype=np.float64)
    scales = np.asarray(scene.scales, dtype=np.float64)
    opacities = np.asarray(scene.opacities, dtype=np.float64)
    rotations = quats_to_matrices(np.asarray(scene.quats, dtype=np.float64))  # (N, 3, 3)

    view_rot = camera.viewmat[:3, :3]
    t = means @ view_rot.T + camera.viewmat[:3, 3]  # (N, 3) camera coordinates
    tz = t[:, 2]
    kept = np.flatnonzero((tz > rules.near_plane) & (tz < rules.far_plane))
    t, tz = t[kept], tz[kept]
    tx, ty = t[:, 0], t[:, 1]

    # Σ = R diag(s²) Rᵀ, then into camera axes: W Σ Wᵀ.
    rot = rotations[kept]
    cov3d = rot @ (scales[kept, :, None] ** 2 * np.swapaxes(rot, 1, 2))
    cov_cam = view_rot @ cov3d @ view_rot.T

    fx, fy, cx, cy = camera.fx, camera.fy, camera.cx, camera.cy
    width, height, margin = camera.width, camera.height, rules.clamp_margin
    lim_x = (-(cx / fx + margin * width / fx), (width - cx) / fx + margin * width / fx)
    lim_y = (-(cy / fy + margin * height / fy), (height - cy) / fy + margin * height / fy)
    tx_c = tz * np.clip(tx / tz, *lim_x)
    ty_c = tz * np.clip(ty / tz, *lim_y)
    jac = np.zeros((len(kept), 2, 3))
    jac[:, 0, 0] = fx / tz
    jac[:, 0, 2] = -fx * tx_c / tz**2
    jac[:, 1, 1] = fy / tz
    jac[:, 1, 2] = -fy * ty_c / tz**2
    cov2d = jac @ cov_cam @ np.swapaxes(jac, 1, 2) + rules.cov2d_dilation * np.eye(2)
    means2d = np.stack([fx * tx / tz + cx, fy * ty / tz + cy], axis=1)

    det = cov2d[:, 0, 0] * cov2d[:, 1, 1] - cov2d[:, 0, 1] * cov2d[:, 1, 0]
    ok = np.isfinite(det) & (det > 0) & np.isfinite(means2d).all(axis=1)
    kept, cov2d, means2d, tz = kept[ok], cov2d[ok], means2d[ok], tz[ok]

    order = np.lexsort((kept, tz))  # by depth, then by index
    kept, cov2d, means2d, tz = kept[order], cov2d[order], means2d[order], tz[order]
    diag = np.stack([cov2d[:, 0, 0], cov2d[:, 1, 1]], axis=1)
    half_box = rules.footprint_sigmas * np.sqrt(diag) * (1.0 + _BOX_PAD) + _BOX_PAD
    return _Projection(
        ids=kept,
        means2d=means2d,
        cov_inv=np.linalg.inv(cov2d) if len(kept) else np.zeros((0, 2, 2)),
        depths=tz,
        opacities=opacities[kept],
        half_box=half_box,
    )


def _evaluate(
    proj: _Projection, sel: np.ndarray, xs: np.ndarray, y: float, rules: RasterRules
) -> tuple[np.ndarray, np.ndarray]:
    """Alpha and the contribution test of Gaussians ``sel`` at points ``(xs, y)``.

    Returns
    -------
    alpha : (P, S)
        ``min(alpha_max, opacity·exp(-q/2))``.
    contributes : (P, S) bool
        ``q <= footprint_sigmas²`` and ``alpha >= min_alpha``.
    """
    mean = proj.means2d[sel]
    inv = proj.cov_inv[sel]
    dx = xs[:, None] - mean[None, :, 0]  # (P, S)
    dy = (y - mean[:, 1])[None, :]  # (1, S)
    q = dx * (inv[:, 0, 0] * dx + inv[:, 0, 1] * dy) + dy * (inv[:, 1, 0] * dx + inv[:, 1, 1] * dy)
    alpha = np.minimum(rules.alpha_max, proj.opacities[sel] * np.exp(-0.5 * q))
    contributes = (q <= rules.footprint_sigmas**2) & (alpha >= rules.min_alpha)
    return alpha, contributes


def _composite(alphas: list[float], rules: RasterRules) -> tuple[list[float], float]:
    """Front-to-back compositing of one pixel's contributors (already in depth order).

    Returns the weights ``α·T`` of the Gaussians that were added (a prefix of
    ``alphas``) and the final transmittance.
    """
    transmittance = 1.0
    weights = []
    for alpha in alphas:
        after = transmittance * (1.0 - alpha)
        if after < rules.transmittance_stop:
            break
        weights.append(alpha * transmittance)
        transmittance = after
    return weights, transmittance


def _pixels(
    proj: _Projection, width: int, height: int, rules: RasterRules
) -> Iterator[tuple[int, int, np.ndarray, np.ndarray, float]]:
    """Yield ``(row, column, positions, weights, final T)`` for every pixel with contributors.

    ``positions`` index into ``proj`` (so ``proj.ids[positions]`` are Gaussian ids) in
    compositing order; ``weights`` (float64) are their ``α·T``. Pixels nothing reaches
    (weights all zero, ``T = 1``) are skipped.
    """
    for i in range(height):
        y = i + 0.5
        row = proj.candidates(-np.inf, np.inf, y, y)
        if len(row) == 0:
            continue
        row_proj = _subset(proj, row)
        for j0 in range(0, width, _BLOCK):
            xs = np.arange(j0, min(j0 + _BLOCK, width)) + 0.5
            block = row_proj.candidates(xs[0], xs[-1], y, y)
            if len(block) == 0:
                continue
            alpha, contributes = _evaluate(row_proj, block, xs, y, rules)
            for k in range(len(xs)):
                hits = contributes[k]
                if not hits.any():
                    continue
                weights, transmittance = _composite(alpha[k, hits].tolist(), rules)
                if not weights:
                    continue
                pos = row[block[hits][: len(weights)]]
                yield i, j0 + k, pos, np.asarray(weights), transmittance


def _subset(proj: _Projection, sel: np.ndarray) -> _Projection:
    """The Gaussians at positions ``sel`` (ascending, so still in compositing order)."""
    return _Projection(
        ids=proj.ids[sel],
        means2d=proj.means2d[sel],
        cov_inv=proj.cov_inv[sel],
        depths=proj.depths[sel],
        opacities=proj.opacities[sel],
        half_box=proj.half_box[sel],
    )


def _check_background(background: Sequence[float]) -> np.ndarray:
    bg = np.asarray(background, dtype=np.float64)
    if bg.shape != (3,) or not np.isfinite(bg).all():
        raise ValueError(f"background must be 3 finite numbers (RGB), got {background!r}")
    return bg
