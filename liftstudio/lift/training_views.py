"""The training views of a learned lifting method: masked pixels with their operator rows.

With the geometry frozen, a per-Gaussian quantity ``X`` renders into view ``v`` as
``F_v = W_v X`` (DESIGN §4). Learned methods therefore need, per training view, only
the sparse rows of ``W_v`` for the pixels that carry supervision: each such pixel's
top-K Gaussians and blending weights, and the 2D mask it lies in. :func:`prepare_training_views`
extracts them once (at most :attr:`TrainingSetConfig.max_image_side` pixels along an
image's longer side: label maps are resampled by nearest pixel centres); every training
step then samples pixels of one view (:meth:`TrainingView.sample`) and renders by a sparse
gather (:func:`liftstudio.lift.feature_training.render_pixels`).

Every pixel that some Gaussian covers is kept (decoders render labels into all of them,
:mod:`~liftstudio.lift.label_decoding`); the ones that lie in a mask (label > 0) are
the *supervised* pixels that training samples. Per view the masks are renumbered
``0..M-1`` in order of their original ids (:attr:`TrainingView.mask_ids` maps back);
ids need not agree across views.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from liftstudio.jobs import CancelToken, ProgressCallback, check_cancelled, report
from liftstudio.lift.registry import LiftInputs
from liftstudio.lift.votes import check_label_map
from liftstudio.render.backend import RenderBackend
from liftstudio.render.operator_cache import OperatorCache, cached_operator_rows
from liftstudio.scene.camera import Camera
from liftstudio.scene.gaussians import GaussianScene


@dataclass(frozen=True)
class PixelBatch:
    """Sampled pixels of one view, ready for rendering.

    Attributes
    ----------
    ids : (P, K) int64
        Gaussian ids per pixel; padding entries point at Gaussian 0 with weight 0.
    weights : (P, K) float32
        Blending weights.
    masks : (P,) int64
        The view's mask index (``0..M-1``) of each pixel, -1 outside every mask.
    pixels : (P,) int64
        Flat pixel index (``row * width + column``) in the training resolution.
    """

    ids: np.ndarray
    weights: np.ndarray
    masks: np.ndarray
    pixels: np.ndarray

    def __len__(self) -> int:
        return int(self.masks.shape[0])


@dataclass(frozen=True)
class TrainingView:
    """The supervised pixels of one training view.

    Attributes
    ----------
    name
        The camera's name.
    height, width
        Training resolution of the view.
    pixels : (P,) int64
        Flat index of every kept (covered) pixel, increasing.
    ids : (P, K) int32
        Top-K Gaussian ids per kept pixel, -1 padding.
    weights : (P, K) float16 or float32
        Their blending weights.
    masks : (P,) int32
        Mask index ``0..M-1`` per kept pixel, -1 for pixels in no mask.
    mask_ids : (M,) int32
        The original label of each mask index.
    supervised : (S,) int64
        Positions (into the kept pixels) of the pixels that lie in a mask.
    """

    name: str
    height: int
    width: int
    pixels: np.ndarray
    ids: np.ndarray
    weights: np.ndarray
    masks: np.ndarray
    mask_ids: np.ndarray
    supervised: np.ndarray

    @property
    def num_pixels(self) -> int:
        """Kept (covered) pixels."""
        return int(self.pixels.shape[0])

    @property
    def num_supervised(self) -> int:
        """Kept pixels that lie in a mask."""
        return int(self.supervised.shape[0])

    @property
    def num_masks(self) -> int:
        """Masks of the view."""
        return int(self.mask_ids.shape[0])

    @property
    def nbytes(self) -> int:
        """Memory held by the view's arrays."""
        return sum(a.nbytes for a in (self.pixels, self.ids, self.weights, self.masks))

    def mask_sizes(self) -> np.ndarray:
        """(M,) int64: kept pixels per mask."""
        return np.bincount(self.masks[self.supervised], minlength=self.num_masks)

    def batch(self, rows: np.ndarray) -> PixelBatch:
        """The kept pixels at positions ``rows`` (indices into the kept pixels)."""
        ids = self.ids[rows].astype(np.int64)
        weights = self.weights[rows].astype(np.float32)
        padding = ids < 0
        ids[padding] = 0
        weights[padding] = 0.0
        return PixelBatch(
            ids=ids,
            weights=weights,
            masks=self.masks[rows].astype(np.int64),
            pixels=self.pixels[rows],
        )

    def sample(self, count: int, rng: np.random.Generator) -> PixelBatch:
        """``count`` supervised pixels drawn without replacement (all if fewer), in random order.

        Any leading part of the batch is therefore a random sample too.
        """
        if count >= self.num_supervised:
            return self.batch(self.supervised[rng.permutation(self.num_supervised)])
        chosen = rng.choice(self.num_supervised, size=count, replace=False)
        return self.batch(self.supervised[chosen])


@dataclass(frozen=True)
class TrainingSet:
    """Every training view of a scene, and each Gaussian's visibility.

    Attributes
    ----------
    views
        One :class:`TrainingView` per camera (views without a supervised pixel included).
    visibility : (N,) float32
        Each Gaussian's summed weight over all pixels of every view (β, top-K rows),
        masked or not.
    num_gaussians
        N.
    """

    views: list[TrainingView]
    visibility: np.ndarray
    num_gaussians: int

    @property
    def nbytes(self) -> int:
        """Memory held by the views."""
        return sum(v.nbytes for v in self.views)

    def seen(self, min_visibility: float) -> np.ndarray:
        """(N,) bool: Gaussians with at least ``min_visibility`` summed weight."""
        return self.visibility >= min_visibility


@dataclass(frozen=True)
class TrainingSetConfig:
    """How training views are extracted.

    Parameters
    ----------
    top_k
        Gaussians kept per pixel. The weights are sorted, so the first few carry most of
        the mass on opaque surfaces; fewer makes every step cheaper.
    max_image_side
        Views whose longer side exceeds this are trained at a reduced resolution
        (the label map resampled at the reduced pixel centres).
    weight_dtype
        Storage of the weights (float16 halves the memory; widened per batch).
    """

    top_k: int = 8
    max_image_side: int = 640
    weight_dtype: type = np.float16

    def __post_init__(self) -> None:
        for name in ("top_k", "max_image_side"):
            value = getattr(self, name)
            if isinstance(value, bool) or int(value) != value or value < 1:
                raise ValueError(
                    f"TrainingSetConfig.{name} must be a positive integer, got {value!r}"
                )


def training_resolution(height: int, width: int, max_side: int) -> tuple[int, int]:
    """(height, width) scaled down (aspect kept) so the longer side is at most ``max_side``."""
    longest = max(height, width)
    if longest <= max_side:
        return height, width
    scale = max_side / longest
    return max(1, round(height * scale)), max(1, round(width * scale))


def resample_label_map(label_map: np.ndarray, height: int, width: int) -> np.ndarray:
    """``label_map`` sampled at the pixel centres of a ``height`` × ``width`` grid (nearest)."""
    source_h, source_w = label_map.shape
    if (source_h, source_w) == (height, width):
        return label_map
    rows = ((np.arange(height) + 0.5) * source_h / height).astype(np.int64)
    cols = ((np.arange(width) + 0.5) * source_w / width).astype(np.int64)
    return label_map[np.ix_(np.minimum(rows, source_h - 1), np.minimum(cols, source_w - 1))]


def prepare_training_views(
    backend: RenderBackend,
    scene: GaussianScene,
    cameras: Sequence[Camera],
    label_maps: Sequence[np.ndarray],
    config: TrainingSetConfig | None = None,
    *,
    cache: OperatorCache | None = None,
    progress: ProgressCallback | None = None,
    cancel: CancelToken | None = None,
) -> TrainingSet:
    """Extract the supervised pixels of every view with their operator rows.

    Parameters
    ----------
    backend, scene
        Render backend and Gaussians.
    cameras, label_maps
        One integer (H, W) label map per camera (0 = in no mask), of the camera's
        aspect ratio; ids need not agree across views.
    config
        Extraction settings (default :class:`TrainingSetConfig`).
    cache
        On-disk operator-row cache; None computes the rows afresh.
    progress, cancel
        One step per view; cancel between views.

    Raises
    ------
    ValueError
        If the counts differ, or a label map is not a non-negative integer image whose
        aspect ratio matches its camera's (naming the view).
    """
    config = config or TrainingSetConfig()
    if len(cameras) != len(label_maps):
        raise ValueError(f"{len(cameras)} cameras but {len(label_maps)} label maps were given")
    visibility = np.zeros(len(scene), dtype=np.float64)
    views: list[TrainingView] = []
    for index, (camera, label_map) in enumerate(zip(cameras, label_maps, strict=True)):
        check_cancelled(cancel)
        labels = check_label_map(label_map, camera)
        _check_aspect(labels, camera)
        height, width = training_resolution(*labels.shape, config.max_image_side)
        labels = resample_label_map(labels, height, width)
        options = dict(resolution=(width, height), top_k=config.top_k,
                       weight_dtype=config.weight_dtype)  # fmt: skip
        if cache is None:
            rows = backend.operator_rows(scene, camera, **options)
        else:
            rows = cached_operator_rows(backend, scene, camera, cache=cache, **options)
        ids = rows.ids.reshape(-1, rows.top_k)
        weights = rows.weights.reshape(-1, rows.top_k)
        flat_weights = weights.astype(np.float32)
        valid = ids >= 0
        visibility += np.bincount(ids[valid], weights=flat_weights[valid], minlength=len(scene))
        flat_labels = labels.reshape(-1)
        keep = np.flatnonzero(flat_weights.sum(axis=1) > 0)
        kept_labels = flat_labels[keep]
        supervised = np.flatnonzero(kept_labels > 0)
        mask_ids, inverse = np.unique(kept_labels[supervised], return_inverse=True)
        masks = np.full(keep.size, -1, dtype=np.int32)
        masks[supervised] = inverse.reshape(-1)
        views.append(
            TrainingView(
                name=camera.name,
                height=height,
                width=width,
                pixels=keep.astype(np.int64),
                ids=np.ascontiguousarray(ids[keep]),
                weights=np.ascontiguousarray(weights[keep]),
                masks=masks,
                mask_ids=mask_ids.astype(np.int32),
                supervised=supervised.astype(np.int64),
            )
        )
        report(progress, index + 1, len(cameras), f"operator rows of view {camera.name}")
    return TrainingSet(views=views, visibility=visibility.astype(np.float32),
                       num_gaussians=len(scene))  # fmt: skip


def training_views_for(
    inputs: LiftInputs,
    config: TrainingSetConfig | None = None,
    *,
    progress: ProgressCallback | None = None,
    cancel: CancelToken | None = None,
) -> TrainingSet:
    """:func:`prepare_training_views` of a lifting job's scene, cameras and label maps."""
    return prepare_training_views(
        inputs.backend, inputs.gaussians, inputs.cameras, inputs.label_maps, config,
        progress=progress, cancel=cancel,
    )  # fmt: skip


def _check_aspect(labels: np.ndarray, camera: Camera) -> None:
    height, width = labels.shape
    if height == 0 or width == 0:
        raise ValueError(f"label map for camera {camera.name!r} is empty")
    if not math.isclose(width / height, camera.width / camera.height, rel_tol=0.02):
        raise ValueError(
            f"label map for camera {camera.name!r} is {width}x{height}, which does not have "
            f"the aspect ratio of the camera's {camera.width}x{camera.height} image"
        )
