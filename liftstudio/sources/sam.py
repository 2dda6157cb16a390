"""Segment Anything (SAM) as a 2D source: automatic mask stacks and a prompt predictor.

- :func:`load_sam` (from :mod:`liftstudio.sources.sam_checkpoints`) reads a checkpoint
  and infers its architecture from the weights.
- :func:`automatic_masks` / :func:`generate_sam_masks` run ``segment_anything``'s
  :class:`SamAutomaticMaskGenerator` on views and return :class:`MaskStack` s (scores =
  SAM's predicted IoU), the input SAGA / OmniSeg3D-style lifting takes.
- :class:`SamPromptPredictor` implements :class:`~liftstudio.lift.sam_prompt.MaskPredictor`
  for LUDVIG's SAM mode, computing each image's embedding once.

``segment_anything`` (and the ``torchvision`` it imports) are imported only when a
function needs them, so this module imports without them; :func:`sam_available` says
whether SAM can run.

Small-region clean-up. SAM's own ``min_mask_region_area`` post-processing needs OpenCV,
which LiftStudio does not depend on, so the generator always runs with
``min_mask_region_area=0`` and :func:`postprocess_small_regions` does the equivalent
with ``scipy.ndimage``: per mask, background regions (8-connected, as OpenCV's
``connectedComponentsWithStats(..., 8)`` in SAM) smaller than the area are filled —
like SAM this includes small background regions touching the image border — then
foreground islands smaller than the area are removed; masks left empty are dropped
(SAM instead keeps the largest island, so a mask made only of small islands survives
there; here every kept mask has an island of at least the area). Then box NMS runs
again to remove the duplicates the clean-up created, preferring masks the clean-up did
not change (as SAM does), then higher predicted IoU (SAM breaks those ties
arbitrarily). Boxes cover whole pixels (``[x0, x1 + 1)``), unlike SAM's inclusive
pixel-index boxes in which a one-pixel-wide mask has no area. Masks keep SAM's order.

Point coordinates. LiftStudio's points are continuous pixel coordinates, the centre of
pixel ``(row i, column j)`` being ``(j + 0.5, i + 0.5)``. SAM's prompt encoder adds 0.5
to every coordinate *in the resized (longest side = encoder input) frame*, i.e. it
takes integer pixel indices of that frame. :class:`SamPromptPredictor` therefore maps
a point ``c`` to ``c · s − 0.5`` in the resized frame (``s`` = resized / original size
per axis), so that after SAM's shift it lands exactly at ``c · s``. Boxes are mapped
the same way (their corners are continuous coordinates too).
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import scipy.ndimage as ndi
import torch

from liftstudio.jobs import CancelToken, ProgressCallback, check_cancelled, report
from liftstudio.sources.mask_stacks import MaskStack
from liftstudio.sources.sam_checkpoints import (
    MODEL_TYPES,
    OFFICIAL_ARCHITECTURES,
    SamArchitecture,
    SamModel,
    SamUnavailable,
    import_segment_anything,
    infer_sam_architecture,
    load_sam,
    read_sam_state_dict,
)

__all__ = [
    "MODEL_TYPES",
    "OFFICIAL_ARCHITECTURES",
    "SamArchitecture",
    "SamAutoConfig",
    "SamModel",
    "SamPromptPredictor",
    "SamUnavailable",
    "automatic_masks",
    "generate_sam_masks",
    "infer_sam_architecture",
    "load_sam",
    "postprocess_small_regions",
    "read_sam_state_dict",
    "remove_small_regions",
    "sam_available",
]

#: Values above 1 by at most this much are clipped in float images (rendering noise).
_FLOAT_SLACK = 1e-3
_EIGHT_CONNECTED = np.ones((3, 3), dtype=bool)


def sam_available() -> str | None:
    """Whether SAM can run here.

    Returns
    -------
    str or None
        None when ``segment_anything`` (with ``torchvision``) imports, else the reason
        and what to install.
    """
    try:
        import_segment_anything()
    except SamUnavailable as error:
        return str(error)
    return None


# ---------------------------------------------------------------------------- config
@dataclass(frozen=True)
class SamAutoConfig:
    """Settings of SAM's automatic mask generator (SAGA / OmniSeg3D defaults).

    Attributes
    ----------
    points_per_side
        Prompt grid side; ``points_per_side²`` point prompts per image (≥ 1).
    pred_iou_thresh
        Keep masks whose predicted IoU exceeds this, in [0, 1] (0: no filter).
    stability_score_thresh
        Keep masks whose stability score reaches this, in [0, 1] (0: no filter).
    min_mask_region_area
        Fill holes and remove islands smaller than this many pixels (≥ 0; 0: no
        clean-up), see :func:`postprocess_small_regions`.
    points_per_batch
        Point prompts decoded together (≥ 1; memory vs speed).
    crop_n_layers
        Extra layers of image crops (≥ 0; 0: the whole image only).
    box_nms_thresh
        Box IoU above which the lower-scored duplicate is dropped, in (0, 1].

    Raises
    ------
    ValueError
        For a value outside its range.
    """

    points_per_side: int = 32
    pred_iou_thresh: float = 0.88
    stability_score_thresh: float = 0.95
    min_mask_region_area: int = 100
    points_per_batch: int = 64
    crop_n_layers: int = 0
    box_nms_thresh: float = 0.7

    def __post_init__(self) -> None:
        for name, low in (
            ("points_per_side", 1),
            ("points_per_batch", 1),
            ("crop_n_layers", 0),
            ("min_mask_region_area", 0),
        ):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int | np.integer) or value < low:
                raise ValueError(f"{name} must be an integer >= {low}, got {value!r}")
        for name in ("pred_iou_thresh", "stability_score_thresh"):
            value = getattr(self, name)
            if not 0.0 <= value <= 1.0:
                raise ValueError(f"{name} must lie in [0, 1], got {value!r}")
        if not 0.0 < self.box_nms_thresh <= 1.0:
            raise ValueError(f"box_nms_thresh must lie in (0, 1], got {self.box_nms_thresh!r}")


# ---------------------------------------------------------------------------- automatic
def automatic_masks(
    model: SamModel | torch.nn.Module,
    image: np.ndarray,
    config: SamAutoConfig | None = None,
    *,
    cancel: CancelToken | None = None,
) -> MaskStack:
    """SAM's automatic masks of one image.

    Parameters
    ----------
    model
        A :class:`SamModel` (or a bare ``segment_anything`` ``Sam`` module).
    image : (H, W, 3)
        RGB, float in [0, 1] or uint8.
    config
        Generator settings (default :class:`SamAutoConfig`).
    cancel
        Checked before every batch of point prompts.

    Returns
    -------
    MaskStack
        (M, H, W) bool masks in SAM's order, empty masks removed, cleaned up by
        :func:`postprocess_small_regions` when ``min_mask_region_area > 0``; scores =
        SAM's predicted IoU.

    Raises
    ------
    ValueError
        For an image that is not (H, W, 3) uint8 or float in [0, 1].
    SamUnavailable
        When ``segment_anything`` cannot be imported.
    liftstudio.jobs.JobCancelled
        If ``cancel`` was set.
    """
    config = config or SamAutoConfig()
    pixels = _as_uint8_rgb(image)
    check_cancelled(cancel)
    generator = _mask_generator(_module(model), config, cancel)
    records = generator.generate(pixels)
    check_cancelled(cancel)
    height, width = pixels.shape[:2]
    if records:
        masks = np.stack([np.asarray(r["segmentation"], dtype=bool) for r in records])
        scores = np.array([r["predicted_iou"] for r in records], dtype=np.float32)
    else:
        masks = np.zeros((0, height, width), dtype=bool)
        scores = np.zeros(0, dtype=np.float32)
    nonempty = masks.any(axis=(1, 2))
    stack = MaskStack(masks[nonempty], scores[nonempty])
    if config.min_mask_region_area > 0:
        stack = postprocess_small_regions(
            stack,
            config.min_mask_region_area,
            nms_thresh=max(config.box_nms_thresh, generator.crop_nms_thresh),
        )
    return stack


def generate_sam_masks(
    model: SamModel | torch.nn.Module,
    images: Sequence[np.ndarray],
    config: SamAutoConfig | None = None,
    *,
    progress: ProgressCallback | None = None,
    cancel: CancelToken | None = None,
) -> list[MaskStack]:
    """:func:`automatic_masks` of every view.

    Parameters
    ----------
    model, config
        As for :func:`automatic_masks`.
    images
        One (H, W, 3) RGB image per view (uint8 or float in [0, 1]).
    progress
        One step per view.
    cancel
        Checked between views (and between prompt batches inside a view).

    Returns
    -------
    list of MaskStack
        One per image, in order.

    Raises
    ------
    ValueError
        For a bad image, naming its index.
    liftstudio.jobs.JobCancelled
        If ``cancel`` was set; nothing is returned.
    """
    stacks: list[MaskStack] = []
    total = len(images)
    for index, image in enumerate(images):
        check_cancelled(cancel)
        try:
            stack = automatic_masks(model, image, config, cancel=cancel)
        except ValueError as error:
            raise ValueError(f"image {index}: {error}") from None
        stacks.append(stack)
        report(progress, index + 1, total, f"SAM masks of view {index + 1}/{total}")
    return stacks


def _mask_generator(
    module: torch.nn.Module, config: SamAutoConfig, cancel: CancelToken | None
) -> Any:
    """A ``SamAutomaticMaskGenerator`` (checking ``cancel`` per prompt batch)."""
    sam = import_segment_anything()
    base = sam.SamAutomaticMaskGenerator

    class _Generator(base):
        def _process_batch(self, *args: Any, **kwargs: Any) -> Any:
            check_cancelled(cancel)
            return super()._process_batch(*args, **kwargs)

    kind = _Generator if cancel is not None else base
    return kind(
        module,
        points_per_side=config.points_per_side,
        points_per_batch=config.points_per_batch,
        pred_iou_thresh=config.pred_iou_thresh,
        stability_score_thresh=config.stability_score_thresh,
        box_nms_thresh=config.box_nms_thresh,
        crop_n_layers=config.crop_n_layers,
        min_mask_region_area=0,  # SAM's clean-up needs OpenCV: ours runs afterwards
        output_mode="binary_mask",
    )


# ---------------------------------------------------------------------------- clean-up
def remove_small_regions(mask: np.ndarray, min_area: int) -> tuple[np.ndarray, bool]:
    """Fill small holes, then remove small islands, of one mask (see module docstring).

    Parameters
    ----------
    mask : (H, W) bool
        The mask.
    min_area
        Regions of fewer pixels are filled (background) or removed (foreground).

    Returns
    -------
    mask : (H, W) bool
        The cleaned mask; empty when every island was smaller than ``min_area``.
    changed : bool
        Whether anything was filled or removed.
    """
    mask = np.asarray(mask, dtype=bool)
    result = mask.copy()
    holes, count = ndi.label(~mask, structure=_EIGHT_CONNECTED)
    if count:
        sizes = np.bincount(holes.ravel(), minlength=count + 1)
        small = np.flatnonzero(sizes < min_area)
        small = small[small > 0]
        if len(small):
            result |= np.isin(holes, small)
    islands, count = ndi.label(result, structure=_EIGHT_CONNECTED)
    if count:
        sizes = np.bincount(islands.ravel(), minlength=count + 1)
        small = np.flatnonzero(sizes < min_area)
        small = small[small > 0]
        if len(small):
            result &= ~np.isin(islands, small)
    return result, bool((result != mask).any())


def postprocess_small_regions(
    stack: MaskStack, min_area: int, *, nms_thresh: float = 0.7
) -> MaskStack:
    """Clean every mask of small holes and islands, drop emptied masks, re-run box NMS.

    Parameters
    ----------
    stack
        Masks and (optional) scores.
    min_area
        Area threshold in pixels (≥ 0; 0 returns ``stack`` unchanged).
    nms_thresh
        Box IoU above which a duplicate is dropped, in (0, 1]. Unchanged masks win
        over changed ones, then higher scores, then earlier masks.

    Returns
    -------
    MaskStack
        The surviving cleaned masks, in their original order, with their scores.
    """
    if min_area < 0:
        raise ValueError(f"min_area must be >= 0, got {min_area}")
    if not 0.0 < nms_thresh <= 1.0:
        raise ValueError(f"nms_thresh must lie in (0, 1], got {nms_thresh}")
    if min_area == 0 or len(stack) == 0:
        return stack
    cleaned, unchanged = [], []
    for mask in stack.masks:
        result, changed = remove_small_regions(mask, min_area)
        cleaned.append(result)
        unchanged.append(not changed)
    masks = np.stack(cleaned)
    scores = stack.scores if stack.scores is not None else np.zeros(len(masks), np.float32)
    alive = np.flatnonzero(masks.any(axis=(1, 2)))
    order = alive[np.lexsort((-scores[alive], ~np.asarray(unchanged)[alive]))]
    keep = np.sort(_greedy_box_nms(_mask_boxes(masks[order]), nms_thresh, order))
    return MaskStack(masks[keep], None if stack.scores is None else stack.scores[keep])


def _mask_boxes(masks: np.ndarray) -> np.ndarray:
    """(M, 4) float64 ``x0, y0, x1, y1`` pixel-edge boxes of non-empty masks."""
    rows = masks.any(axis=2)
    cols = masks.any(axis=1)
    height, width = masks.shape[1:]
    y0 = rows.argmax(axis=1)
    y1 = height - rows[:, ::-1].argmax(axis=1)
    x0 = cols.argmax(axis=1)
    x1 = width - cols[:, ::-1].argmax(axis=1)
    return np.stack([x0, y0, x1, y1], axis=1).astype(np.float64)


def _greedy_box_nms(boxes: np.ndarray, threshold: float, ids: np.ndarray) -> np.ndarray:
    """``ids`` of the boxes kept by greedy NMS, ``boxes`` being in priority order."""
    areas = (boxes[:, 2] - boxes[:, 0]) * (boxes[:, 3] - boxes[:, 1])
    suppressed = np.zeros(len(boxes), dtype=bool)
    kept = []
    for i in range(len(boxes)):
        if suppressed[i]:
            continue
        kept.append(ids[i])
        rest = np.arange(i + 1, len(boxes))
        width = np.minimum(boxes[i, 2], boxes[rest, 2]) - np.maximum(boxes[i, 0], boxes[rest, 0])
        height = np.minimum(boxes[i, 3], boxes[rest, 3]) - np.maximum(boxes[i, 1], boxes[rest, 1])
        inter = np.clip(width, 0, None) * np.clip(height, 0, None)
        iou = inter / (areas[i] + areas[rest] - inter)
        suppressed[rest[iou > threshold]] = True
    return np.asarray(kept, dtype=np.int64)


# ---------------------------------------------------------------------------- prompts
class SamPromptPredictor:
    """SAM as a :class:`~liftstudio.lift.sam_prompt.MaskPredictor` (points or a box).

    The image embedding is computed when an image differs from the previous one (by a
    hash of its uint8 pixels) and reused otherwise, so LUDVIG's repeated draws on one
    view cost one encoder pass. Not thread-safe: one predictor per worker.

    Parameters
    ----------
    model
        A :class:`SamModel` (or a bare ``segment_anything`` ``Sam`` module).

    Raises
    ------
    SamUnavailable
        When ``segment_anything`` cannot be imported.
    """

    def __init__(self, model: SamModel | torch.nn.Module) -> None:
        sam = import_segment_anything()
        self._predictor = sam.SamPredictor(_module(model))
        self._image_key: tuple | None = None

    @property
    def sam_predictor(self) -> Any:
        """The wrapped ``segment_anything.SamPredictor``."""
        return self._predictor

    def predict(self, image: np.ndarray, points: np.ndarray, labels: np.ndarray) -> np.ndarray:
        """Masks of the object the points are on, best first.

        Parameters
        ----------
        image : (H, W, 3)
            RGB, float in [0, 1] or uint8.
        points : (P, 2) float
            ``(x, y)`` continuous pixel coordinates (pixel centres at +0.5), P ≥ 1.
        labels : (P,) int
            1 for a positive point, 0 for a negative one.

        Returns
        -------
        (M, H, W) bool
            SAM's multimask output sorted by predicted IoU, best first.
        """
        masks, _ = self.segment(image, points=points, labels=labels)
        return masks

    def predict_box(self, image: np.ndarray, box_xyxy: np.ndarray) -> np.ndarray:
        """Masks of the object in a box, best first.

        Parameters
        ----------
        image : (H, W, 3)
            RGB, float in [0, 1] or uint8.
        box_xyxy : (4,) float
            ``x0, y0, x1, y1`` in continuous pixel coordinates (the whole image is
            ``0, 0, W, H``).

        Returns
        -------
        (M, H, W) bool
            Sorted by predicted IoU, best first.
        """
        masks, _ = self.segment(image, box_xyxy=box_xyxy)
        return masks

    def segment(
        self,
        image: np.ndarray,
        *,
        points: np.ndarray | None = None,
        labels: np.ndarray | None = None,
        box_xyxy: np.ndarray | None = None,
    ) -> tuple[np.ndarray, np.ndarray]:
        """Masks and predicted IoUs for points and/or a box, best first.

        Parameters
        ----------
        image, points, labels, box_xyxy
            As for :meth:`predict` and :meth:`predict_box`; give points, a box or both.

        Returns
        -------
        masks : (M, H, W) bool
            Sorted by predicted IoU, best first.
        scores : (M,) float32
            The predicted IoUs, descending.

        Raises
        ------
        ValueError
            For a bad image, points, labels or box.
        """
        self._set_image(_as_uint8_rgb(image))
        predictor = self._predictor
        height, width = predictor.original_size
        scale = np.array(
            [predictor.input_size[1] / width, predictor.input_size[0] / height], np.float64
        )
        device = predictor.device
        coords_t = labels_t = box_t = None
        if points is not None or labels is not None:
            coords, point_labels = _check_points(points, labels)
            resized = coords * scale - 0.5  # SAM adds 0.5 back (module docstring)
            coords_t = torch.as_tensor(resized[None], dtype=torch.float32, device=device)
            labels_t = torch.as_tensor(point_labels[None], dtype=torch.int32, device=device)
        if box_xyxy is not None:
            box = _check_box(box_xyxy)
            resized = box.reshape(2, 2) * scale - 0.5
            box_t = torch.as_tensor(resized.reshape(1, 4), dtype=torch.float32, device=device)
        if coords_t is None and box_t is None:
            raise ValueError("give prompt points (with labels) or a box")
        masks, scores, _ = predictor.predict_torch(coords_t, labels_t, box_t, multimask_output=True)
        masks = masks[0].cpu().numpy().astype(bool)
        scores = scores[0].float().cpu().numpy()
        order = np.argsort(-scores, kind="stable")
        return masks[order], scores[order].astype(np.float32)

    def _set_image(self, pixels: np.ndarray) -> None:
        digest = hashlib.blake2b(np.ascontiguousarray(pixels).data, digest_size=16).digest()
        key = (pixels.shape, digest)
        if key != self._image_key or not self._predictor.is_image_set:
            self._image_key = None
            self._predictor.set_image(pixels)
            self._image_key = key


# ---------------------------------------------------------------------------- checks
def _module(model: SamModel | torch.nn.Module) -> torch.nn.Module:
    return model.module if isinstance(model, SamModel) else model


def _as_uint8_rgb(image: np.ndarray) -> np.ndarray:
    """(H, W, 3) uint8 from uint8 or float-in-[0, 1] RGB."""
    image = np.asarray(image)
    if image.ndim != 3 or image.shape[2] != 3 or min(image.shape[:2]) < 1:
        raise ValueError(f"an image must be an (H, W, 3) RGB array, got shape {image.shape}")
    if image.dtype == np.uint8:
        return np.ascontiguousarray(image)
    if image.dtype.kind != "f":
        raise ValueError(f"an image must be uint8 or float in [0, 1], got {image.dtype}")
    if not np.isfinite(image).all():
        raise ValueError("the image contains NaN or inf")
    low, high = float(image.min()), float(image.max())
    if low < -_FLOAT_SLACK or high > 1.0 + _FLOAT_SLACK:
        raise ValueError(
            f"a float image must lie in [0, 1], got values in [{low:.3g}, {high:.3g}] "
            "(divide 0-255 images by 255)"
        )
    return np.round(np.clip(image, 0.0, 1.0) * 255.0).astype(np.uint8)


def _check_points(points: Any, labels: Any) -> tuple[np.ndarray, np.ndarray]:
    if points is None or labels is None:
        raise ValueError("points and labels go together")
    coords = np.asarray(points, dtype=np.float64)
    values = np.asarray(labels)
    if coords.ndim != 2 or coords.shape[1] != 2 or len(coords) < 1:
        raise ValueError(f"points must be (P, 2) with P >= 1, got shape {coords.shape}")
    if not np.isfinite(coords).all():
        raise ValueError("points contain NaN or inf")
    if values.shape != (len(coords),) or not np.isin(values, (0, 1)).all():
        raise ValueError(f"labels must be {len(coords)} values of 0 or 1, got {values!r}")
    return coords, values.astype(np.int32)


def _check_box(box_xyxy: Any) -> np.ndarray:
    box = np.asarray(box_xyxy, dtype=np.float64).reshape(-1)
    if box.shape != (4,) or not np.isfinite(box).all():
        raise ValueError(f"a box is 4 finite numbers x0, y0, x1, y1; got {box_xyxy!r}")
    if box[2] < box[0] or box[3] < box[1]:
        raise ValueError(f"a box needs x0 <= x1 and y0 <= y1, got {box.tolist()}")
    return box
