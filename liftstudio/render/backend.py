"""The render interface every backend offers, and the helpers they share.

A backend renders a :class:`~liftstudio.scene.gaussians.GaussianScene` through a
:class:`~liftstudio.scene.camera.Camera` (OpenCV axes, pixel centres at +0.5) at any
resolution: ``resolution=(width, height)`` scales the intrinsics. Four operations:

- :meth:`RenderBackend.render` — colour, expected depth, alpha, C-channel features;
- :meth:`RenderBackend.uplift` — ``Σ_v W_vᵀ F_v`` and ``β = Σ_v W_vᵀ 1``, streaming over
  views without building ``W``;
- :meth:`RenderBackend.operator_rows` — the top-K entries of each row of ``W_v``;
- :meth:`RenderBackend.pick` — the Gaussians under one pixel with their weights.
"""

from __future__ import annotations

import operator
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Protocol, runtime_checkable

import numpy as np

from liftstudio.jobs import CancelToken, ProgressCallback
from liftstudio.render.results import OperatorRows, PickResult, RenderResult, UpliftResult
from liftstudio.render.rules import RasterRules
from liftstudio.scene.camera import Camera
from liftstudio.scene.gaussians import GaussianScene
from liftstudio.scene.sh import SH_C0, sh_to_rgb

Resolution = tuple[int, int]
"""``(width, height)`` in pixels."""


@runtime_checkable
class RenderBackend(Protocol):
    """What every render backend offers (see the module docstring)."""

    name: str
    rules: RasterRules

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
        """Render one view.

        Parameters
        ----------
        scene
            The Gaussians.
        camera
            The view; rendered at ``resolution`` (default: the camera's own size).
        resolution
            ``(width, height)``; the intrinsics are scaled to it.
        features : (N, C) array, optional
            Per-Gaussian values to render (C from 1 to 256).
        rgb
            Whether to render colour.
        background
            Colour behind the Gaussians (RGB only).
        sh_degree
            Highest SH degree to use (default: all the scene has).
        """
        ...

    def uplift(
        self,
        scene: GaussianScene,
        cameras: Sequence[Camera],
        maps: Iterable[np.ndarray],
        *,
        progress: ProgressCallback | None = None,
        cancel: CancelToken | None = None,
    ) -> UpliftResult:
        """Accumulate ``Σ_v W_vᵀ F_v`` and ``β`` over views.

        Parameters
        ----------
        scene
            The Gaussians.
        cameras
            One camera per map.
        maps
            One (H, W) or (H, W, C) float map per camera, consumed one at a time (an
            iterator keeps only one in memory). A map may be smaller than its camera's
            image: the view is rendered at the map's size.
        progress, cancel
            Progress callback (one step per view) and cancel token.
        """
        ...

    def operator_rows(
        self,
        scene: GaussianScene,
        camera: Camera,
        *,
        resolution: Resolution | None = None,
        top_k: int | None = 16,
        weight_dtype: np.dtype | type = np.float16,
    ) -> OperatorRows:
        """Return each pixel's top-K Gaussians and weights, plus the mass left out.

        ``top_k=None`` keeps every contribution (K = the most any pixel has).
        """
        ...

    def pick(self, scene: GaussianScene, camera: Camera, x: float, y: float) -> PickResult:
        """Return the Gaussians under pixel position ``(x, y)`` of ``camera``, front to back.

        ``(x, y)`` are continuous pixel coordinates: the centre of pixel ``(row i,
        column j)`` is ``(j + 0.5, i + 0.5)``; the Gaussians are evaluated at exactly
        ``(x, y)``.
        """
        ...


# ---------------------------------------------------------------------------- shared helpers
@dataclass(frozen=True)
class SplatArrays:
    """Activated float32 arrays of a scene, as rasterizers want them.

    Attributes
    ----------
    means : (N, 3)
    quats : (N, 4)
        Unit quaternions, w first.
    scales : (N, 3)
        Activated scales.
    opacities : (N,)
        Activated opacities.
    sh : (N, K, 3)
        SH coefficients.
    """

    means: np.ndarray
    quats: np.ndarray
    scales: np.ndarray
    opacities: np.ndarray
    sh: np.ndarray

    @classmethod
    def from_scene(cls, scene: GaussianScene) -> SplatArrays:
        """Activate and convert a scene's columns."""
        return cls(
            means=np.ascontiguousarray(scene.means, dtype=np.float32),
            quats=np.ascontiguousarray(scene.quats, dtype=np.float32),
            scales=np.ascontiguousarray(scene.scales, dtype=np.float32),
            opacities=np.ascontiguousarray(scene.opacities, dtype=np.float32),
            sh=np.ascontiguousarray(scene.sh, dtype=np.float32),
        )

    def __len__(self) -> int:
        return int(self.means.shape[0])


def camera_at(camera: Camera, resolution: Resolution | None) -> Camera:
    """``camera`` scaled to ``resolution`` (``(width, height)``), or itself when None."""
    if resolution is None:
        return camera
    width, height = (int(v) for v in resolution)
    if width <= 0 or height <= 0:
        raise ValueError(f"resolution must be positive, got {width}x{height}")
    if (width, height) == (camera.width, camera.height):
        return camera
    return camera.scaled_to(width, height)


def view_colors(
    scene_or_splats: GaussianScene | SplatArrays, camera: Camera, sh_degree: int | None = None
) -> np.ndarray:
    """Per-Gaussian RGB seen from ``camera``: SH at the viewing direction, +0.5, clamped ≥ 0.

    Parameters
    ----------
    scene_or_splats
        The Gaussians.
    camera
        Viewing position (its centre).
    sh_degree
        Highest degree to use; None uses every band present.

    Returns
    -------
    (N, 3) float32
    """
    sh = scene_or_splats.sh
    if sh_degree is not None:
        if sh_degree < 0:
            raise ValueError(f"sh_degree must be >= 0, got {sh_degree}")
        sh = sh[:, : min(sh.shape[1], (sh_degree + 1) ** 2)]
    if sh.shape[1] == 1:  # degree 0: no view dependence, no directions needed
        return np.maximum(0.5 + SH_C0 * sh[:, 0, :].astype(np.float32), 0.0)
    means = np.asarray(scene_or_splats.means, dtype=np.float64)
    dirs = means - camera.center
    norms = np.linalg.norm(dirs, axis=1, keepdims=True)
    dirs = np.divide(dirs, norms, out=np.zeros_like(dirs), where=norms > 0)
    return np.maximum(sh_to_rgb(sh, dirs), 0.0).astype(np.float32)


def check_features(features: np.ndarray | None, num_gaussians: int) -> np.ndarray | None:
    """Validate per-Gaussian features and return them as float32 (N, C)."""
    if features is None:
        return None
    features = np.asarray(features)
    if features.ndim == 1:
        features = features[:, None]
    if features.ndim != 2 or features.shape[0] != num_gaussians:
        raise ValueError(
            f"features must have shape (N, C) with N = {num_gaussians} Gaussians, "
            f"got {features.shape}"
        )
    if not 1 <= features.shape[1] <= 256:
        raise ValueError(f"features must have 1 to 256 channels, got {features.shape[1]}")
    features = np.ascontiguousarray(features, dtype=np.float32)
    if not np.isfinite(features).all():
        raise ValueError("features contain NaN or inf")
    return features


def check_operator_request(
    top_k: int | None, weight_dtype: np.dtype | type
) -> tuple[int | None, np.dtype]:
    """Validate ``operator_rows`` arguments: a positive integer K (or None) and a float dtype.

    Raises
    ------
    ValueError
        For a K that is not a positive integer, or weights other than float16/float32.
    """
    if top_k is not None:
        if isinstance(top_k, bool):
            raise ValueError(f"top_k must be a positive integer or None, got {top_k!r}")
        try:
            top_k = operator.index(top_k)
        except TypeError:
            raise ValueError(f"top_k must be a positive integer or None, got {top_k!r}") from None
        if top_k < 1:
            raise ValueError(f"top_k must be >= 1 or None, got {top_k}")
    dtype = np.dtype(weight_dtype)
    if dtype not in (np.dtype(np.float16), np.dtype(np.float32)):
        raise ValueError(f"weight_dtype must be float16 or float32, got {dtype}")
    return top_k, dtype


def check_map(values: np.ndarray, camera: Camera, index: int) -> np.ndarray:
    """Validate one uplift map and return it as float32 (H, W, C).

    Raises
    ------
    ValueError
        Naming the view when the map is not 2D/3D or not finite. Any map size is
        accepted: the view is rendered at the map's size (intrinsics scaled).
    """
    values = np.asarray(values)
    if values.ndim == 2:
        values = values[..., None]
    if values.ndim != 3:
        raise ValueError(
            f"map {index} (camera {camera.name!r}) must be (H, W) or (H, W, C), "
            f"got shape {values.shape}"
        )
    if values.dtype == bool:
        values = values.astype(np.float32)
    values = np.ascontiguousarray(values, dtype=np.float32)
    if not np.isfinite(values).all():
        raise ValueError(f"map {index} (camera {camera.name!r}) contains NaN or inf")
    return values


def zip_views(
    cameras: Sequence[Camera], maps: Iterable[np.ndarray]
) -> Iterable[tuple[int, Camera, np.ndarray]]:
    """Pair cameras with maps, validating each map; raise if the counts differ."""
    iterator = iter(maps)
    for index, camera in enumerate(cameras):
        try:
            values = next(iterator)
        except StopIteration:
            raise ValueError(f"{len(cameras)} cameras but only {index} maps were given") from None
        yield index, camera, check_map(values, camera, index)
    if next(iterator, None) is not None:
        raise ValueError(f"more maps than the {len(cameras)} cameras were given")
