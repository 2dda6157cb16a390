"""The gsplat render backend (CUDA): gsplat's kernels behind LiftStudio's interface.

It follows gsplat's own rule, :data:`~liftstudio.render.rules.GSPLAT_RULES`:
``rasterization(..., packed=False, eps2d=0.3, rasterize_mode="classic")``, i.e. the 2D
covariance dilated by 0.3 px², the Jacobian clamped at 1.3× the field of view
(``clamp_margin=0.3``), tiles binned with a 3.33σ box, alpha clamped at 0.999,
contributions below 1/255 skipped and a pixel finished (exclusively) once its
transmittance would reach 1e-4. Compositing order is gsplat's per-tile depth sort.

How each operation maps onto gsplat:

- :meth:`GsplatBackend.render`: one ``rasterization`` call, ``render_mode="RGB+ED"``.
  Colours are LiftStudio's own :func:`~liftstudio.render.backend.view_colors` passed as
  ``(N, 3)`` values (``sh_degree=None``), so SH evaluation is the same in every backend;
  features ride along as extra channels (gsplat pads any channel count to one its
  kernels support and splits wide inputs into 32-channel chunks).
- :meth:`GsplatBackend.uplift`: the autograd trick of DESIGN §4. Per view, zero values
  ``[X | 1]`` that require grad are rendered and the map ``[F | 1]`` is fed back as the
  output gradient: the gradient on ``X`` is ``Wᵀ F`` and on the ones column ``β``.
- :meth:`GsplatBackend.operator_rows` and :meth:`GsplatBackend.pick`: gsplat's
  ``rasterize_to_indices_in_range`` lists, for every pixel, the Gaussians it composites
  front to back; the weights ``α·T`` are recomputed from those ids with gsplat's
  formula. Pixels are processed in bands of rows: a pixel outside the band starts at
  transmittance 0, so gsplat finishes it at its first Gaussian and lists nothing.
  (Splitting by ranges of depth layers instead, carrying the transmittance from one
  range to the next, is not exact: the kernel cannot know a pixel already finished in
  an earlier range and would let it take further Gaussians.) Each pixel's list is
  complete, so the top K are exact and the residual is what the list leaves out.

torch and gsplat are imported only when a backend is made or
:func:`gsplat_unavailable_reason` is asked (importing this module imports neither);
gsplat may compile its kernels on first use, which takes minutes.
"""

from __future__ import annotations

import functools
import inspect
import math
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from types import SimpleNamespace
from typing import Any

import numpy as np

from liftstudio.errors import LiftStudioError
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
from liftstudio.render.results import OperatorRows, PickResult, RenderResult, UpliftResult
from liftstudio.render.rules import GSPLAT_RULES
from liftstudio.scene.camera import Camera
from liftstudio.scene.gaussians import GaussianScene

DEFAULT_DEVICE = "cuda"
"""The torch device a :class:`GsplatBackend` renders on unless told otherwise."""

TILE_SIZE = 16
"""gsplat's tile edge in pixels (the only size its kernels are tested with)."""

CHANNEL_CHUNK = 32
"""Channels rasterized per kernel call (render and uplift)."""

_ALPHA_THRESHOLD = 1.0 / 255.0  # gsplat's ALPHA_THRESHOLD
_ALL_BATCHES = 2**31 - 1  # range_end that covers every batch of every tile


class GsplatUnavailable(LiftStudioError):
    """gsplat cannot render here: no CUDA GPU, gsplat missing, or its kernels fail."""


def _torch() -> Any:
    import torch

    return torch


@functools.lru_cache(maxsize=1)
def gsplat_unavailable_reason() -> str | None:
    """Say why gsplat cannot render here, or return None when it can.

    Checks that torch sees a CUDA GPU, that gsplat imports, and that its CUDA kernels
    load and render one Gaussian. The answer is computed once per process.

    Returns
    -------
    str or None
        A sentence for the user, or None when :class:`GsplatBackend` can be used.
    """
    try:
        import torch
    except Exception as exc:  # any failure means "not usable"
        return f"PyTorch cannot be imported ({type(exc).__name__}: {exc})"
    try:
        has_cuda = bool(torch.cuda.is_available())
    except Exception as exc:
        return f"PyTorch cannot query CUDA ({type(exc).__name__}: {exc})"
    if not has_cuda:
        build = (
            "a CPU-only build"
            if torch.version.cuda is None
            else f"built for CUDA {torch.version.cuda}"
        )
        return (
            f"no CUDA GPU is available to PyTorch {torch.__version__} ({build}); "
            "gsplat needs one, use the 'cpu' backend instead"
        )
    try:
        import gsplat  # noqa: F401
    except Exception as exc:
        return (
            f"gsplat is not installed or cannot be imported ({type(exc).__name__}: {exc}); "
            "install it with 'pip install gsplat'"
        )
    try:
        _smoke_test(DEFAULT_DEVICE)
    except Exception as exc:
        return f"gsplat's CUDA kernels failed to load or run ({type(exc).__name__}: {exc})"
    return None


def _smoke_test(device: str) -> None:
    """Render one Gaussian with gsplat on ``device``; raise if anything goes wrong."""
    torch = _torch()
    from gsplat import rasterization

    dev = torch.device(device)
    _, alpha, _ = rasterization(
        means=torch.tensor([[0.0, 0.0, 2.0]], device=dev),
        quats=torch.tensor([[1.0, 0.0, 0.0, 0.0]], device=dev),
        scales=torch.full((1, 3), 0.2, device=dev),
        opacities=torch.tensor([0.9], device=dev),
        colors=torch.ones((1, 3), device=dev),
        viewmats=torch.eye(4, device=dev)[None],
        Ks=torch.tensor([[[8.0, 0.0, 4.0], [0.0, 8.0, 4.0], [0.0, 0.0, 1.0]]], device=dev),
        width=8,
        height=8,
        packed=False,
    )
    torch.cuda.synchronize(dev)
    if not float(alpha.max()) > 0.0:
        raise RuntimeError("a test Gaussian in front of the camera rendered nothing")


def _load_api() -> SimpleNamespace:
    """The gsplat functions the backend calls."""
    import gsplat

    return SimpleNamespace(
        rasterization=gsplat.rasterization,
        fully_fused_projection=gsplat.fully_fused_projection,
        isect_tiles=gsplat.isect_tiles,
        isect_offset_encode=gsplat.isect_offset_encode,
        rasterize_to_indices_in_range=gsplat.rasterize_to_indices_in_range,
    )


# ---------------------------------------------------------------------------- device data
@dataclass(frozen=True)
class _DeviceSplats:
    """Activated Gaussians as float32 tensors on the device."""

    means: Any  # (N, 3)
    quats: Any  # (N, 4)
    scales: Any  # (N, 3)
    opacities: Any  # (N,)

    @property
    def count(self) -> int:
        return int(self.means.shape[0])


@dataclass(frozen=True)
class _Projected:
    """One view projected and binned by gsplat (one image: leading dimension 1)."""

    width: int
    height: int
    means2d: Any  # (1, N, 2)
    conics: Any  # (1, N, 3) upper triangle of Σ⁻¹: a, b, c
    depths: Any  # (1, N)
    opacities: Any  # (1, N)
    isect_offsets: Any  # (1, tiles_y, tiles_x)
    flatten_ids: Any  # (n_isects,)


@dataclass(frozen=True)
class _Contributions:
    """The (pixel, Gaussian) pairs of some pixels, grouped by pixel, front to back.

    ``pixels`` are row-major indices into the image; ``start`` is the index of each
    pair's first pair of the same pixel.
    """

    pixels: Any  # (M,) int64
    gaussians: Any  # (M,) int64
    weights: Any  # (M,) float64, α·T
    log_keep: Any  # (M,) float64, log(1 - α)
    start: Any  # (M,) int64


class GsplatBackend:
    """gsplat's CUDA rasterizer behind :class:`~liftstudio.render.backend.RenderBackend`.

    Follows gsplat's rule (:data:`~liftstudio.render.rules.GSPLAT_RULES`: alpha clamp
    0.999, 3.33σ tile box with the 1/255 alpha cut, ``eps2d=0.3``); see the module
    docstring for how each operation uses gsplat. Results are float32 numpy arrays on
    the CPU, as from every backend.

    Parameters
    ----------
    device
        CUDA device to render on (default ``"cuda"``, the current one).

    Raises
    ------
    GsplatUnavailable
        When gsplat cannot render here; the message says why.
    """

    name = "gsplat"
    rules = GSPLAT_RULES

    pixels_per_pass = 1 << 18
    """Pixels whose Gaussian lists are extracted at once in :meth:`operator_rows`."""

    def __init__(self, device: str | None = None) -> None:
        reason = gsplat_unavailable_reason()
        if reason is not None:
            raise GsplatUnavailable(reason)
        torch = _torch()
        resolved = torch.device(DEFAULT_DEVICE if device is None else device)
        if resolved.type != "cuda":
            raise GsplatUnavailable(f"gsplat renders on CUDA devices only, got {device!r}")
        self.device = resolved
        self._api = _load_api()

    @classmethod
    def _with_api(cls, api: Any, device: str) -> GsplatBackend:
        """A backend calling ``api`` in place of gsplat on ``device``, unchecked.

        For tests that run this backend's own logic on kernels emulated in torch.
        """
        backend = cls.__new__(cls)
        backend.device = _torch().device(device)
        backend._api = api
        return backend

    # ------------------------------------------------------------------ shared steps
    def _to_device(self, splats: SplatArrays) -> _DeviceSplats:
        torch = _torch()

        def tensor(array: np.ndarray) -> Any:
            return torch.from_numpy(np.ascontiguousarray(array, np.float32)).to(self.device)

        return _DeviceSplats(
            means=tensor(splats.means),
            quats=tensor(splats.quats),
            scales=tensor(splats.scales),
            opacities=tensor(splats.opacities),
        )

    def _camera_tensors(self, camera: Camera) -> tuple[Any, Any]:
        """``viewmats (1, 4, 4)`` and ``Ks (1, 3, 3)`` float32 on the device."""
        torch = _torch()
        viewmat = torch.from_numpy(np.asarray(camera.viewmat, dtype=np.float32))
        K = torch.from_numpy(np.asarray(camera.K, dtype=np.float32))
        return viewmat[None].to(self.device), K[None].to(self.device)

    def _rasterize(
        self,
        splats: _DeviceSplats,
        colors: Any,
        camera: Camera,
        *,
        render_mode: str,
        backgrounds: Any = None,
    ) -> tuple[Any, Any]:
        """Rasterize ``colors (N, D)`` with gsplat: ``(1, H, W, D')`` and ``(1, H, W, 1)``."""
        viewmats, Ks = self._camera_tensors(camera)
        rendered, alphas, _ = self._api.rasterization(
            means=splats.means,
            quats=splats.quats,
            scales=splats.scales,
            opacities=splats.opacities,
            colors=colors,
            viewmats=viewmats,
            Ks=Ks,
            width=camera.width,
            height=camera.height,
            near_plane=self.rules.near_plane,
            far_plane=self.rules.far_plane,
            eps2d=self.rules.cov2d_dilation,
            sh_degree=None,
            packed=False,
            tile_size=TILE_SIZE,
            backgrounds=backgrounds,
            render_mode=render_mode,
            rasterize_mode="classic",
            channel_chunk=CHANNEL_CHUNK,
        )
        return rendered, alphas

    def _project(self, splats: _DeviceSplats, camera: Camera) -> _Projected:
        """Project and bin the Gaussians exactly as ``rasterization`` does."""
        api = self._api
        viewmats, Ks = self._camera_tensors(camera)
        extra = {}
        if "opacities" in inspect.signature(api.fully_fused_projection).parameters:
            extra["opacities"] = splats.opacities  # gsplat >= 1.5 tightens radii with it
        radii, means2d, depths, conics, _ = api.fully_fused_projection(
            splats.means,
            None,
            splats.quats,
            splats.scales,
            viewmats,
            Ks,
            camera.width,
            camera.height,
            eps2d=self.rules.cov2d_dilation,
            near_plane=self.rules.near_plane,
            far_plane=self.rules.far_plane,
            packed=False,
            calc_compensations=False,
            **extra,
        )
        tiles_x = math.ceil(camera.width / TILE_SIZE)
        tiles_y = math.ceil(camera.height / TILE_SIZE)
        _, isect_ids, flatten_ids = api.isect_tiles(
            means2d, radii, depths, TILE_SIZE, tiles_x, tiles_y, packed=False, n_images=1
        )
        offsets = api.isect_offset_encode(isect_ids, 1, tiles_x, tiles_y)
        return _Projected(
            width=camera.width,
            height=camera.height,
            means2d=means2d.contiguous(),
            conics=conics.contiguous(),
            depths=depths,
            opacities=splats.opacities[None].contiguous(),
            isect_offsets=offsets.reshape(1, tiles_y, tiles_x),
            flatten_ids=flatten_ids,
        )

    def _contributions(self, view: _Projected, transmittance: Any) -> _Contributions:
        """The Gaussians of every pixel where ``transmittance`` (H, W) is 1."""
        torch = _torch()
        gaussians, pixels, _ = self._api.rasterize_to_indices_in_range(
            0,
            _ALL_BATCHES,
            transmittance[None].contiguous(),
            view.means2d,
            view.conics,
            view.opacities,
            view.width,
            view.height,
            TILE_SIZE,
            view.isect_offsets,
            view.flatten_ids,
        )
        # gsplat writes the pairs grouped by pixel, front to back; a stable sort keeps that.
        order = torch.argsort(pixels, stable=True)
        pixels = pixels[order].long()
        gaussians = gaussians[order].long()
        # α exactly as gsplat's kernels compute it (float32, pixel centres at +0.5).
        columns = (pixels % view.width).float() + 0.5
        rows = torch.div(pixels, view.width, rounding_mode="floor").float() + 0.5
        delta = view.means2d[0, gaussians] - torch.stack([columns, rows], dim=1)
        conic = view.conics[0, gaussians]
        sigma = (
            0.5 * (conic[:, 0] * delta[:, 0] ** 2 + conic[:, 2] * delta[:, 1] ** 2)
            + conic[:, 1] * delta[:, 0] * delta[:, 1]
        )
        alpha = torch.clamp_max(
            view.opacities[0, gaussians] * torch.exp(-sigma), self.rules.alpha_max
        ).double()
        log_keep = torch.log1p(-alpha)
        # T before each pair = exp(Σ log(1-α) over the earlier pairs of its pixel).
        _, counts = torch.unique_consecutive(pixels, return_counts=True)
        first = torch.cumsum(counts, 0) - counts
        start = torch.repeat_interleave(first, counts)
        exclusive = torch.cumsum(log_keep, 0) - log_keep
        weights = alpha * torch.exp(exclusive - exclusive[start])
        return _Contributions(pixels, gaussians, weights, log_keep, start)

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
        """Render colour, expected depth, alpha and features (see ``RenderBackend``).

        One gsplat ``rasterization`` call in ``"RGB+ED"`` mode; depth is gsplat's
        ``Σ w z / Σ w`` and 0 where alpha is 0.
        """
        torch = _torch()
        camera = camera_at(camera, resolution)
        features = check_features(features, len(scene))
        bg = np.asarray(background, dtype=np.float32)
        if bg.shape != (3,):
            raise ValueError(f"background must be 3 numbers (RGB), got shape {bg.shape}")
        splats = SplatArrays.from_scene(scene)
        shape = (camera.height, camera.width)
        columns = []
        if rgb:
            columns.append(view_colors(splats, camera, sh_degree))
        if features is not None:
            columns.append(features)
        if len(splats) == 0:
            return _empty_render(shape, bg if rgb else None, features)
        with torch.no_grad():
            device_splats = self._to_device(splats)
            if columns:
                values = np.ascontiguousarray(np.concatenate(columns, axis=1))
                colors = torch.from_numpy(values).to(self.device)
                backgrounds = None
                if rgb and bg.any():
                    padded = np.zeros((1, values.shape[1]), dtype=np.float32)
                    padded[0, :3] = bg
                    backgrounds = torch.from_numpy(padded).to(self.device)
                mode = "RGB+ED"
            else:
                colors = torch.zeros((len(splats), 1), device=self.device)
                backgrounds = None
                mode = "ED"
            rendered, alphas = self._rasterize(
                device_splats, colors, camera, render_mode=mode, backgrounds=backgrounds
            )
            rendered = rendered[0].float().cpu().numpy()
            alpha = np.ascontiguousarray(alphas[0, ..., 0].float().cpu().numpy())
        depth = np.where(alpha > 0, rendered[..., -1], 0.0).astype(np.float32)
        image = np.ascontiguousarray(rendered[..., :3]) if rgb else None
        feature_image = None
        if features is not None:
            first = 3 if rgb else 0
            feature_image = np.ascontiguousarray(rendered[..., first : first + features.shape[1]])
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
        """``Σ_v W_vᵀ F_v`` and ``β`` over views, one view on the GPU at a time.

        Per view the gradient of ``⟨render([X | 1]), [F | 1]⟩`` with respect to zero
        values ``X`` is read off gsplat's backward pass, ``CHANNEL_CHUNK`` channels at a
        time; sums are kept in float64 on the device.
        """
        torch = _torch()
        splats = SplatArrays.from_scene(scene)
        n = len(splats)
        device_splats = self._to_device(splats)
        weighted_sum = None
        beta = torch.zeros(n, dtype=torch.float64, device=self.device)
        for index, camera, values in zip_views(cameras, maps):
            check_cancelled(cancel)
            height, width, channels = values.shape
            if weighted_sum is None:
                weighted_sum = torch.zeros((n, channels), dtype=torch.float64, device=self.device)
            elif weighted_sum.shape[1] != channels:
                raise ValueError(
                    f"map {index} (camera {camera.name!r}) has {channels} channels, "
                    f"the first map had {weighted_sum.shape[1]}"
                )
            if n > 0:
                view = camera_at(camera, (width, height))
                view_sum, view_beta = self._transpose_apply(device_splats, view, values)
                weighted_sum += view_sum
                beta += view_beta
            report(progress, index + 1, len(cameras), f"uplifted view {camera.name}")
        if weighted_sum is None:
            raise ValueError("uplift needs at least one view")
        return UpliftResult(
            weighted_sum=weighted_sum.float().cpu().numpy(), beta=beta.float().cpu().numpy()
        )

    def _transpose_apply(
        self, splats: _DeviceSplats, camera: Camera, values: np.ndarray
    ) -> tuple[Any, Any]:
        """``(Wᵀ F (N, C), Wᵀ 1 (N,))`` in float64 for one view's map ``F (H, W, C)``."""
        torch = _torch()
        height, width, channels = values.shape
        grad_map = torch.from_numpy(values).to(self.device)
        ones = torch.ones((height, width, 1), dtype=torch.float32, device=self.device)
        full = torch.cat([grad_map, ones], dim=-1)[None]  # (1, H, W, C + 1)
        parts = []
        with torch.enable_grad():
            for start in range(0, channels + 1, CHANNEL_CHUNK):
                stop = min(start + CHANNEL_CHUNK, channels + 1)
                x = torch.zeros(
                    (splats.count, stop - start), device=self.device, requires_grad=True
                )
                rendered, _ = self._rasterize(splats, x, camera, render_mode="RGB")
                (grad,) = torch.autograd.grad(
                    rendered, x, grad_outputs=full[..., start:stop].contiguous()
                )
                parts.append(grad.double())
        products = torch.cat(parts, dim=1)
        return products[:, :channels], products[:, channels]

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

        The pixel lists come from gsplat's ``rasterize_to_indices_in_range``, in bands
        of about :attr:`pixels_per_pass` pixels; ties keep compositing order.
        ``top_k=None`` keeps every contribution (K = the most any pixel has). The
        residual is ``alpha - Σ kept weights`` (float32 weights, before the cast to
        ``weight_dtype``), at least 0.
        """
        top_k, weight_dtype = check_operator_request(top_k, weight_dtype)
        torch = _torch()
        camera = camera_at(camera, resolution)
        height, width = camera.height, camera.width
        splats = SplatArrays.from_scene(scene)
        rows_per_pass = max(1, self.pixels_per_pass // (width * TILE_SIZE)) * TILE_SIZE
        bands = []
        with torch.no_grad():
            view = self._project(self._to_device(splats), camera) if len(splats) else None
            for row in range(0, height, rows_per_pass):
                rows = min(rows_per_pass, height - row)
                bands.append(self._band_rows(view, row, rows, width, top_k))
        k = top_k if top_k is not None else max(1, max(b[0].shape[1] for b in bands))
        ids = np.concatenate([_pad_columns(b[0], k, -1) for b in bands])
        weights = np.concatenate([_pad_columns(b[1], k, 0.0) for b in bands])
        alpha = np.concatenate([b[2] for b in bands])
        kept = weights.sum(axis=1, dtype=np.float64)
        residual = np.maximum(alpha - kept, 0.0)
        return OperatorRows(
            ids=ids.reshape(height, width, k),
            weights=weights.astype(weight_dtype).reshape(height, width, k),
            residual=residual.astype(np.float32).reshape(height, width),
        )

    def _band_rows(
        self, view: _Projected | None, row: int, rows: int, width: int, top_k: int | None
    ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Top-K ids (P, k) int32, weights (P, k) float32, alpha (P,) float64 of a band."""
        num_pixels = rows * width
        if view is None:
            k = top_k or 0
            return (
                np.full((num_pixels, k), -1, np.int32),
                np.zeros((num_pixels, k), np.float32),
                np.zeros(num_pixels, np.float64),
            )
        torch = _torch()
        mask = torch.zeros((view.height, width), dtype=torch.float32, device=self.device)
        mask[row : row + rows] = 1.0
        found = self._contributions(view, mask)
        local = found.pixels - row * width
        log_t = torch.zeros(num_pixels, dtype=torch.float64, device=self.device)
        log_t.index_add_(0, local, found.log_keep)
        alpha = -torch.expm1(log_t)
        # Largest weight first within each pixel; stable sorts keep compositing order on ties.
        order = torch.argsort(-found.weights, stable=True)
        order = order[torch.argsort(local[order], stable=True)]
        # Both orders are grouped by pixel, so each position keeps its pixel's start.
        rank = torch.arange(len(order), device=self.device) - found.start
        counts = torch.bincount(local, minlength=num_pixels)
        k = top_k if top_k is not None else int(counts.max()) if len(local) else 0
        keep = rank < k
        picked = order[keep]
        ids = torch.full((num_pixels, k), -1, dtype=torch.int32, device=self.device)
        weights = torch.zeros((num_pixels, k), dtype=torch.float32, device=self.device)
        ids[local[picked], rank[keep]] = found.gaussians[picked].int()
        weights[local[picked], rank[keep]] = found.weights[picked].float()
        return ids.cpu().numpy(), weights.cpu().numpy(), alpha.cpu().numpy()

    def pick(self, scene: GaussianScene, camera: Camera, x: float, y: float) -> PickResult:
        """The Gaussians composited into the pixel containing ``(x, y)``, front to back.

        gsplat evaluates Gaussians at pixel centres only, so this is the full row of
        ``W`` for pixel ``(floor(y), floor(x))``, evaluated at its centre, not at
        exactly ``(x, y)`` as the CPU backends do.
        """
        if not (0 <= x < camera.width and 0 <= y < camera.height):
            raise ValueError(
                f"pick position ({x}, {y}) is outside the {camera.width}x{camera.height} image"
            )
        torch = _torch()
        splats = SplatArrays.from_scene(scene)
        if len(splats) == 0:
            empty = np.zeros(0, np.float32)
            return PickResult(ids=np.zeros(0, np.int32), weights=empty, depths=empty)
        with torch.no_grad():
            view = self._project(self._to_device(splats), camera)
            mask = torch.zeros(
                (camera.height, camera.width), dtype=torch.float32, device=self.device
            )
            mask[math.floor(y), math.floor(x)] = 1.0
            found = self._contributions(view, mask)
            depths = view.depths[0, found.gaussians]
            return PickResult(
                ids=found.gaussians.int().cpu().numpy(),
                weights=found.weights.float().cpu().numpy(),
                depths=depths.float().cpu().numpy(),
            )


def _pad_columns(array: np.ndarray, k: int, fill: float) -> np.ndarray:
    """``array (P, k')`` padded on the right with ``fill`` to ``(P, k)``."""
    if array.shape[1] == k:
        return array
    out = np.full((array.shape[0], k), fill, dtype=array.dtype)
    out[:, : array.shape[1]] = array
    return out


def _empty_render(
    shape: tuple[int, int], background: np.ndarray | None, features: np.ndarray | None
) -> RenderResult:
    """What any backend renders for a scene without Gaussians."""
    zeros = np.zeros(shape, dtype=np.float32)
    return RenderResult(
        alpha=zeros,
        depth=zeros.copy(),
        rgb=None if background is None else np.broadcast_to(background, (*shape, 3)).copy(),
        features=None
        if features is None
        else np.zeros((*shape, features.shape[1]), dtype=np.float32),
    )
