"""The CPU render backend: numba, tile-based, parallel over tiles.

Pipeline per view: :func:`~liftstudio.render.cpu.projection.project` (EWA, float64
maths, float32 results) → :func:`~liftstudio.render.cpu.tiles.bin_tiles` (exact
ellipse–tile overlap, one global depth sort, stable counting sort by tile) →
:func:`~liftstudio.render.cpu.composite.composite_tiles` (front to back with early stop,
float32). It follows the :class:`~liftstudio.render.rules.RasterRules` it is given
(INRIA constants by default) exactly as the ``reference`` backend does; the kernels are
compiled with ``cache=True`` so a second process loads them from disk.
"""

from __future__ import annotations

import time
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

import numpy as np

from liftstudio.jobs import CancelToken, ProgressCallback, check_cancelled, report
from liftstudio.render.backend import (
    Resolution,
    SplatArrays,
    camera_at,
    check_features,
    check_operator_request,
    view_colors,
    zip_views,
)
from liftstudio.render.cpu.composite import (
    MODE_RENDER,
    MODE_TOPK,
    MODE_TRANSPOSE,
    composite_tiles,
    finish_top,
    sum_entries_per_gaussian,
)
from liftstudio.render.cpu.projection import Projected, project
from liftstudio.render.cpu.tiles import TILE_SIZE, TileBins, bin_tiles
from liftstudio.render.results import OperatorRows, PickResult, RenderResult, UpliftResult
from liftstudio.render.rules import INRIA_RULES, RasterRules
from liftstudio.scene.camera import Camera
from liftstudio.scene.gaussians import GaussianScene

_ENTRY_BUFFER_BYTES = 256 * 1024**2  # transpose products split channels above this
_NO_ORDER = np.iinfo(np.int32).max


@dataclass(frozen=True)
class _View:
    camera: Camera
    projected: Projected
    bins: TileBins


class CpuBackend:
    """Numba CPU rasterizer following :class:`~liftstudio.render.rules.RasterRules`.

    Parameters
    ----------
    rules
        The compositing constants (default: INRIA's, exact 3σ ellipse footprint).
    tile_size
        Tile edge in pixels.
    """

    name = "cpu"

    def __init__(self, rules: RasterRules = INRIA_RULES, tile_size: int = TILE_SIZE) -> None:
        self.rules = rules
        self.tile_size = int(tile_size)

    # ------------------------------------------------------------------ shared steps
    def _prepare(self, splats: SplatArrays, camera: Camera) -> _View:
        projected = project(
            splats.means, splats.quats, splats.scales, splats.opacities, camera, self.rules
        )
        bins = bin_tiles(projected, camera.width, camera.height, self.tile_size)
        return _View(camera, projected, bins)

    def _composite(
        self,
        view: _View,
        mode: int,
        opacities: np.ndarray,
        values: np.ndarray,
        *,
        out_values: np.ndarray | None = None,
        entry_values: np.ndarray | None = None,
        entry_weight: np.ndarray | None = None,
        top: tuple[np.ndarray, np.ndarray, np.ndarray] | None = None,
    ) -> tuple[np.ndarray, np.ndarray]:
        """Run the kernel; return the final transmittance and counts, (H·W,) each."""
        camera, projected, bins = view.camera, view.projected, view.bins
        num_pixels = camera.width * camera.height
        channels = values.shape[1]
        transmittance = np.empty(num_pixels, dtype=np.float64)
        counts = np.empty(num_pixels, dtype=np.int32)
        empty_values = np.zeros((0, channels), dtype=np.float32)
        top_ids, top_weights, top_order = top or (
            np.zeros((0, 0), np.int32),
            np.zeros((0, 0), np.float32),
            np.zeros((0, 0), np.int32),
        )
        composite_tiles(
            mode, camera.width, camera.height, self.tile_size, bins.tiles_x, bins.tile_start,
            bins.entry_gaussian, projected.mean2d, projected.conic, projected.qmax, opacities,
            projected.box, float(self.rules.alpha_max),
            float(self.rules.transmittance_stop), values,
            empty_values if out_values is None else out_values, transmittance, counts,
            empty_values if entry_values is None else entry_values,
            np.zeros(0, np.float32) if entry_weight is None else entry_weight,
            top_ids, top_weights, top_order,
        )  # fmt: skip
        return transmittance, counts

    def profile_render(self, scene: GaussianScene, camera: Camera) -> dict:
        """Time the stages of one colour render (ms) and count the work that drives them.

        Returns
        -------
        dict
            ``activate_and_sh_ms``, ``project_ms``, ``bin_ms``, ``composite_ms``,
            ``visible_gaussians``, ``tile_entries``, ``contributions_per_pixel`` (mean
            over all pixels) and ``covered_pixel_fraction``.
        """
        clock = time.perf_counter
        start = clock()
        splats = SplatArrays.from_scene(scene)
        colors = view_colors(splats, camera)
        activated = clock()
        projected = project(
            splats.means, splats.quats, splats.scales, splats.opacities, camera, self.rules
        )
        projected_at = clock()
        bins = bin_tiles(projected, camera.width, camera.height, self.tile_size)
        binned = clock()
        values = np.concatenate([projected.depth[:, None], colors], 1).astype(np.float32)
        out = np.empty((camera.width * camera.height, 4), np.float32)
        _, counts = self._composite(
            _View(camera, projected, bins), MODE_RENDER, splats.opacities, values, out_values=out
        )
        done = clock()
        return {
            "activate_and_sh_ms": 1000 * (activated - start),
            "project_ms": 1000 * (projected_at - activated),
            "bin_ms": 1000 * (binned - projected_at),
            "composite_ms": 1000 * (done - binned),
            "visible_gaussians": int(projected.visible.sum()),
            "tile_entries": bins.num_entries,
            "contributions_per_pixel": float(counts.mean()),
            "covered_pixel_fraction": float((counts > 0).mean()),
        }

    # ------------------------------------------------------------------ operations
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
        """Render colour, expected depth, alpha and features (see ``RenderBackend``)."""
        camera = camera_at(camera, resolution)
        features = check_features(features, len(scene))
        splats = SplatArrays.from_scene(scene)
        view = self._prepare(splats, camera)
        columns = [view.projected.depth[:, None]]
        if rgb:
            columns.append(view_colors(splats, camera, sh_degree))
        if features is not None:
            columns.append(features)
        values = np.ascontiguousarray(np.concatenate(columns, axis=1), dtype=np.float32)
        out = np.empty((camera.width * camera.height, values.shape[1]), dtype=np.float32)
        transmittance, _ = self._composite(
            view, MODE_RENDER, splats.opacities, values, out_values=out
        )
        shape = (camera.height, camera.width)
        alpha = (1.0 - transmittance).astype(np.float32).reshape(shape)
        depth_sum = out[:, 0].reshape(shape)
        depth = np.divide(depth_sum, alpha, out=np.zeros(shape, np.float32), where=alpha > 0)
        image = None
        column = 1
        if rgb:
            bg = np.asarray(background, dtype=np.float32).reshape(1, 3)
            image = (out[:, 1:4] + transmittance[:, None].astype(np.float32) * bg).reshape(
                *shape, 3
            )
            column = 4
        feature_image = None
        if features is not None:
            feature_image = out[:, column:].reshape(*shape, -1)
        return RenderResult(alpha=alpha, depth=depth, rgb=image, features=feature_image)

    def uplift(
        self,
        scene: GaussianScene,
        cameras: Sequence[Camera],
        maps: Iterable[np.ndarray],
        *,
        progress: ProgressCallback | None = None,
        cancel: CancelToken | None = None,
    ) -> UpliftResult:
        """``Σ_v W_vᵀ F_v`` and ``β`` over views, one view in memory at a time."""
        splats = SplatArrays.from_scene(scene)
        n = len(splats)
        weighted_sum: np.ndarray | None = None
        beta = np.zeros(n, dtype=np.float64)
        for index, camera, values in zip_views(cameras, maps):
            check_cancelled(cancel)
            height, width, channels = values.shape
            if weighted_sum is None:
                weighted_sum = np.zeros((n, channels), dtype=np.float64)
            elif weighted_sum.shape[1] != channels:
                raise ValueError(
                    f"map {index} (camera {camera.name!r}) has {channels} channels, "
                    f"the first map had {weighted_sum.shape[1]}"
                )
            view = self._prepare(splats, camera_at(camera, (width, height)))
            flat = values.reshape(height * width, channels)
            entries = max(view.bins.num_entries, 1)
            step = max(1, min(channels, _ENTRY_BUFFER_BYTES // (4 * entries)))
            for start in range(0, channels, step):
                chunk = np.ascontiguousarray(flat[:, start : start + step])
                entry_values = np.zeros((view.bins.num_entries, chunk.shape[1]), np.float32)
                entry_weight = np.zeros(view.bins.num_entries, np.float32)
                self._composite(
                    view, MODE_TRANSPOSE, splats.opacities, chunk,
                    entry_values=entry_values, entry_weight=entry_weight,
                )  # fmt: skip
                sums = np.zeros((n, chunk.shape[1]), dtype=np.float64)
                # β is the same for every channel chunk: accumulate it once.
                beta_sink = beta if start == 0 else np.zeros(n, dtype=np.float64)
                sum_entries_per_gaussian(
                    view.bins.entry_gaussian, entry_values, entry_weight, sums, beta_sink
                )
                weighted_sum[:, start : start + step] += sums
            report(progress, index + 1, len(cameras), f"uplifted view {camera.name}")
        if weighted_sum is None:
            raise ValueError("uplift needs at least one view")
        return UpliftResult(weighted_sum.astype(np.float32), beta.astype(np.float32))

    def operator_rows(
        self,
        scene: GaussianScene,
        camera: Camera,
        *,
        resolution: Resolution | None = None,
        top_k: int | None = 16,
        weight_dtype: np.dtype | type = np.float16,
    ) -> OperatorRows:
        """Each pixel's top-K Gaussians and weights plus the mass left out.

        ``top_k=None`` keeps every contribution (K = the most any pixel has).
        """
        top_k, weight_dtype = check_operator_request(top_k, weight_dtype)
        camera = camera_at(camera, resolution)
        splats = SplatArrays.from_scene(scene)
        view = self._prepare(splats, camera)
        ones = np.zeros((1, 1), dtype=np.float32)
        if top_k is None:
            _, counts = self._composite(view, MODE_TOPK, splats.opacities, ones)
            top_k = max(1, int(counts.max(initial=0)))
        num_pixels = camera.width * camera.height
        top_ids = np.full((num_pixels, top_k), -1, dtype=np.int32)
        top_weights = np.zeros((num_pixels, top_k), dtype=np.float32)
        top_order = np.full((num_pixels, top_k), _NO_ORDER, dtype=np.int32)
        transmittance, counts = self._composite(
            view, MODE_TOPK, splats.opacities, ones, top=(top_ids, top_weights, top_order)
        )
        residual = np.empty(num_pixels, dtype=np.float32)
        finish_top(top_ids, top_weights, top_order, counts, transmittance, residual)
        shape = (camera.height, camera.width)
        return OperatorRows(
            ids=top_ids.reshape(*shape, top_k),
            weights=top_weights.astype(weight_dtype).reshape(*shape, top_k),
            residual=residual.reshape(shape),
        )

    def pick(self, scene: GaussianScene, camera: Camera, x: float, y: float) -> PickResult:
        """The Gaussians under the point ``(x, y)``, evaluated there exactly (no image render)."""
        if not (0 <= x < camera.width and 0 <= y < camera.height):
            raise ValueError(
                f"pick position ({x}, {y}) is outside the {camera.width}x{camera.height} image"
            )
        splats = SplatArrays.from_scene(scene)
        projected = project(
            splats.means, splats.quats, splats.scales, splats.opacities, camera, self.rules
        )
        return pick_from_projection(projected, splats.opacities, x, y, self.rules)


def pick_from_projection(
    projected: Projected, opacities: np.ndarray, x: float, y: float, rules: RasterRules
) -> PickResult:
    """Composite the Gaussians whose footprint contains ``(x, y)``, front to back."""
    cov = projected.cov2d.astype(np.float64)
    qmax = projected.qmax.astype(np.float64)
    dx = x - projected.mean2d[:, 0].astype(np.float64)
    dy = y - projected.mean2d[:, 1].astype(np.float64)
    near = (
        (qmax > 0) & (dx * dx <= qmax * cov[:, 0] * 1.0001) & (dy * dy <= qmax * cov[:, 2] * 1.0001)
    )
    candidates = np.flatnonzero(near)
    conic = projected.conic[candidates].astype(np.float64)
    cdx, cdy = dx[candidates], dy[candidates]
    q = conic[:, 0] * cdx * cdx + 2 * conic[:, 1] * cdx * cdy + conic[:, 2] * cdy * cdy
    inside = q <= qmax[candidates]
    candidates, q = candidates[inside], q[inside]
    order = np.argsort(projected.depth[candidates], kind="stable")
    candidates, q = candidates[order], q[order]
    alphas = np.minimum(rules.alpha_max, opacities[candidates] * np.exp(-0.5 * q))
    ids, weights = [], []
    transmittance = 1.0
    for gaussian, alpha in zip(candidates, alphas, strict=True):
        next_t = transmittance * (1.0 - alpha)
        if next_t < rules.transmittance_stop:
            break
        ids.append(gaussian)
        weights.append(alpha * transmittance)
        transmittance = next_t
    ids_array = np.asarray(ids, dtype=np.int32)
    return PickResult(
        ids=ids_array,
        weights=np.asarray(weights, dtype=np.float32),
        depths=projected.depth[ids_array].astype(np.float32),
    )
