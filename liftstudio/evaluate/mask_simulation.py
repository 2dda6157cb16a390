"""Simulated 2D instance masks: what a user would get from SAM, made from ground truth.

The benchmark scenes give, per training view, a ground-truth instance map (``0`` =
void, ids ``>= 1`` the same object in every view) and the rendered RGB image. This
module turns them into the masks a lifting method is fed:

- :func:`simulate_label_maps` degrades the ground truth with the effects listed in
  :class:`MaskNoise` (per-view relabelling, over/under-segmentation, boundary jitter,
  missed objects, spurious blobs, a minimum area) and returns one label map per view;
- :func:`simulate_sam_masks` returns the same simulated masks in the form of SAM's
  automatic mask generator (overlapping boolean masks, part/whole hierarchy included),
  and :func:`flatten_sam_masks` flattens that form the way DESIGN §7 describes;
- :func:`felzenszwalb_label_maps` runs a real segmenter that needs no weights on the
  rendered images;
- :func:`make_masks` is the one entry point the benchmark harness calls, by the names
  in :data:`MASK_SOURCES`.

Everything is deterministic for a given seed: view ``v`` draws from
``np.random.default_rng([seed, v])``, so views do not depend on each other.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np
from scipy import ndimage

from liftstudio.sources.mask_stacks import paint_larger_first
from liftstudio.sources.segmenters import FelzenszwalbConfig, felzenszwalb_segments

#: The image size (height, width) that :attr:`MaskNoise.min_area` refers to by default.
REFERENCE_HW = (480, 640)

#: The names :func:`make_masks` accepts.
MASK_SOURCES = ("clean", "sam-like", "hard", "felzenszwalb")

# An object is split only into parts of at least this many pixels (and of at least the
# effective minimum area), so tiny objects are never over-segmented.
_MIN_PART_PIXELS = 32
# Over-segmentation splits an object into 2 to this many parts.
_MAX_PARTS = 4
# Spurious ellipses: semi-axes as fractions of min(H, W).
_SPURIOUS_AXES = (0.03, 0.12)
# k-means on at most this many pixel coordinates per object.
_KMEANS_SAMPLE = 4096
_KMEANS_ITERATIONS = 15


@dataclass(frozen=True)
class MaskNoise:
    """The ways simulated masks differ from the ground truth, and how strongly.

    Effects are applied per view in this order: miss, under-segment, over-segment,
    boundary jitter, spurious blobs, minimum area, relabelling.

    Parameters
    ----------
    permute_ids
        Relabel the masks of each view at random (ids ``1..n`` in a random order), so
        the same object has unrelated ids in different views, as with SAM. Off: objects
        keep their ground-truth id (a merged group the id of its largest member, the
        largest part of a split object the object's id) and new masks get ids above
        every ground-truth id.
    over_segment
        Probability that an object is split into 2–4 spatially coherent parts (k-means
        on its pixel coordinates). Objects merged by ``under_segment`` are not split;
        objects too small for parts of ``max(32, min_area)`` pixels are not split.
    under_segment
        Probability that an object touching another one in that view (sharing a
        4-connected boundary) is merged with one of its touching neighbours.
    boundary_jitter_px
        Each mask (a merged group or a split object as a whole) is eroded or dilated by
        a random whole number of pixels in ``[-boundary_jitter_px, boundary_jitter_px]``
        (Euclidean disk). Where a dilated mask meets another mask the one with the larger
        radius takes the pixels, so masks stay disjoint.
    miss
        Probability that an object's mask is dropped (its pixels become 0).
    spurious
        Expected number (Poisson) of spurious masks per view: random ellipses anywhere
        in the image, over objects or void alike.
    min_area
        Masks with fewer pixels are removed, like SAM's ``min_mask_region_area``. In
        pixels of an image of size ``reference_hw``; scaled by image area for other sizes.
    reference_hw
        (height, width) that ``min_area`` refers to; ``None``: ``min_area`` is in pixels
        of the image at hand.
    """

    permute_ids: bool = False
    over_segment: float = 0.0
    under_segment: float = 0.0
    boundary_jitter_px: int = 0
    miss: float = 0.0
    spurious: float = 0.0
    min_area: float = 0.0
    reference_hw: tuple[int, int] | None = field(default=REFERENCE_HW)

    def __post_init__(self) -> None:
        for name in ("over_segment", "under_segment", "miss"):
            value = getattr(self, name)
            if not 0.0 <= value <= 1.0:
                raise ValueError(f"MaskNoise.{name} must be a probability in [0, 1], got {value}")
        if int(self.boundary_jitter_px) != self.boundary_jitter_px or self.boundary_jitter_px < 0:
            raise ValueError(
                "MaskNoise.boundary_jitter_px must be a whole number >= 0, "
                f"got {self.boundary_jitter_px}"
            )
        if not (self.spurious >= 0.0 and math.isfinite(self.spurious)):
            raise ValueError(f"MaskNoise.spurious must be finite and >= 0, got {self.spurious}")
        if not (self.min_area >= 0.0 and math.isfinite(self.min_area)):
            raise ValueError(f"MaskNoise.min_area must be finite and >= 0, got {self.min_area}")
        if self.reference_hw is not None and (
            len(self.reference_hw) != 2 or min(self.reference_hw) <= 0
        ):
            raise ValueError(
                f"MaskNoise.reference_hw must be (height, width) > 0 or None, "
                f"got {self.reference_hw}"
            )

    def min_area_px(self, shape: tuple[int, int]) -> float:
        """The minimum mask area in pixels for an image of ``shape`` (height, width)."""
        if self.reference_hw is None:
            return float(self.min_area)
        ref_h, ref_w = self.reference_hw
        return float(self.min_area) * shape[0] * shape[1] / (ref_h * ref_w)


#: Named noise levels: ``clean`` (consistent ids, no noise: a video tracker run on the
#: ground truth), ``sam-like`` (what SAM's automatic mask generator gives per view) and
#: ``hard`` (stronger everything).
PRESETS: dict[str, MaskNoise] = {
    "clean": MaskNoise(),
    "sam-like": MaskNoise(
        permute_ids=True,
        over_segment=0.15,
        under_segment=0.15,
        boundary_jitter_px=2,
        miss=0.05,
        spurious=1.0,
        min_area=100.0,
    ),
    "hard": MaskNoise(
        permute_ids=True,
        over_segment=0.35,
        under_segment=0.35,
        boundary_jitter_px=4,
        miss=0.15,
        spurious=3.0,
        min_area=200.0,
    ),
}


def noise_preset(name: str) -> MaskNoise:
    """The :class:`MaskNoise` of a named preset.

    Parameters
    ----------
    name
        One of the keys of :data:`PRESETS`.

    Returns
    -------
    MaskNoise

    Raises
    ------
    ValueError
        For an unknown name; the message lists the valid ones.
    """
    try:
        return PRESETS[name]
    except (KeyError, TypeError):
        raise ValueError(
            f"unknown mask noise preset {name!r}; valid names: {', '.join(PRESETS)}"
        ) from None


@dataclass(eq=False)
class SamMask:
    """One mask as SAM's automatic mask generator returns it.

    Parameters
    ----------
    segmentation
        (H, W) bool.
    area
        Number of pixels set in ``segmentation``.
    bbox
        (x, y, w, h) of the set pixels, XYWH as SAM writes it.
    predicted_iou
        The model's own estimate of the mask's quality, in [0, 1].
    stability_score
        IoU of the mask thresholded at two cut-offs, in [0, 1].
    """

    segmentation: np.ndarray = field(repr=False)
    area: int
    bbox: tuple[int, int, int, int]
    predicted_iou: float
    stability_score: float


# --------------------------------------------------------------------------- public API


def simulate_label_maps(
    gt_maps: Sequence[np.ndarray], noise: MaskNoise, seed: int
) -> list[np.ndarray]:
    """Degrade ground-truth instance maps into per-view label maps.

    Parameters
    ----------
    gt_maps
        One (H, W) integer map per view; 0 = void, ids >= 1 are objects.
    noise
        The effects to apply, e.g. ``noise_preset("sam-like")``.
    seed
        Random seed (>= 0); view ``v`` draws from ``default_rng([seed, v])``.

    Returns
    -------
    list of np.ndarray
        One (H, W) int32 map per view, 0 = no mask. With ``PRESETS["clean"]`` it equals
        the ground truth.
    """
    maps = _validate_gt_maps(gt_maps)
    _validate_seed(seed)
    _check_noise(noise)
    fresh = _fresh_id_start(maps)
    return [_simulate_view(gt, noise, seed, v, fresh).label_map for v, gt in enumerate(maps)]


def simulate_sam_masks(
    gt_maps: Sequence[np.ndarray], noise: MaskNoise, seed: int
) -> list[list[SamMask]]:
    """The masks of :func:`simulate_label_maps` in SAM's automatic-mask-generator form.

    Each view's masks may overlap: an over-segmented object gives its parts and also
    the whole object (the part/whole hierarchy SAM produces), and spurious blobs lie
    over other masks. Masks are sorted by area, largest first. Good masks score
    ``predicted_iou`` and ``stability_score`` in about [0.9, 1]; jittered masks lower,
    spurious ones lower still. Same seed, same simulation as :func:`simulate_label_maps`.

    Parameters
    ----------
    gt_maps
        One (H, W) integer map per view; 0 = void, ids >= 1 are objects.
    noise
        The effects to apply.
    seed
        Random seed (>= 0).

    Returns
    -------
    list of list of SamMask
        Per view, its masks. Each holds a full-size (H, W) bool array, so many views of
        many masks take memory: call per view where that matters.
    """
    maps = _validate_gt_maps(gt_maps)
    _validate_seed(seed)
    _check_noise(noise)
    fresh = _fresh_id_start(maps)
    out = []
    for v, gt in enumerate(maps):
        sim = _simulate_view(gt, noise, seed, v, fresh)
        out.append(_sam_form(sim, noise, np.random.default_rng([seed, v, 1])))
    return out


def flatten_sam_masks(masks: Sequence[SamMask | dict], shape: tuple[int, int]) -> np.ndarray:
    """Paint overlapping masks into one label map, larger masks first.

    Masks are sorted by area (largest first, ties kept in input order) and given ids
    ``1..M`` in that order; each is painted over the ones before, so where masks
    overlap the smaller one wins (a part inside its whole object survives). A mask
    covered entirely by smaller ones leaves no pixel with its id.

    Parameters
    ----------
    masks
        :class:`SamMask` objects or SAM's dicts (with a ``"segmentation"`` key).
    shape
        (H, W) of the output; every segmentation must have it.

    Returns
    -------
    np.ndarray
        (H, W) int32, 0 where no mask is set.
    """
    shape = tuple(int(s) for s in shape)
    if len(shape) != 2:
        raise ValueError(f"shape must be (height, width), got {shape}")
    segs = []
    for i, mask in enumerate(masks):
        seg = mask["segmentation"] if isinstance(mask, dict) else mask.segmentation
        seg = np.asarray(seg)
        if seg.shape != shape:
            raise ValueError(f"masks[{i}].segmentation has shape {seg.shape}, expected {shape}")
        segs.append(seg.astype(bool, copy=False))
    if not segs:
        return np.zeros(shape, dtype=np.int32)
    painted = paint_larger_first(np.stack(segs))  # mask i has id i + 1
    areas = np.array([int(seg.sum()) for seg in segs], dtype=np.int64)
    rank = np.zeros(len(segs) + 1, dtype=np.int32)  # ids 1..M in painting order
    rank[np.argsort(-areas, kind="stable") + 1] = np.arange(1, len(segs) + 1)
    return rank[painted]


def felzenszwalb_label_maps(
    images: Sequence[np.ndarray],
    *,
    scale: float = 400.0,
    sigma: float = 0.8,
    min_size: int | None = None,
    void_masks: Sequence[np.ndarray] | None = None,
) -> list[np.ndarray]:
    """Segment rendered images with Felzenszwalb's graph method (no weights needed).

    :func:`liftstudio.sources.segmenters.felzenszwalb_segments` per image (thin strips
    along soft edges merged into a neighbour). The defaults give about one segment per
    flat- or smoothly-shaded object on 320×240 to 640×480 renders.

    Parameters
    ----------
    images
        One (H, W, 3) RGB image per view, float in [0, 1] (or uint8).
    scale
        Felzenszwalb's ``k``: larger gives larger segments.
    sigma
        Width of the Gaussian smoothing applied first.
    min_size
        Smallest segment in pixels; default 150 at 640×480, scaled by image area.
    void_masks
        Optional (H, W) bool per view; pixels set there (nothing rendered) get 0.

    Returns
    -------
    list of np.ndarray
        One (H, W) int32 map per view with ids ``1..n``; 0 only on void pixels.
    """
    imgs = _validate_images(images, None)
    config = FelzenszwalbConfig(scale=scale, sigma=sigma, min_size=min_size)
    voids: list[np.ndarray | None] = [None] * len(imgs)
    if void_masks is not None:
        if len(void_masks) != len(imgs):
            raise ValueError(f"void_masks has {len(void_masks)} entries for {len(imgs)} images")
        voids = []
        for v, (mask, img) in enumerate(zip(void_masks, imgs, strict=True)):
            mask = np.asarray(mask)
            if mask.shape != img.shape[:2]:
                raise ValueError(
                    f"void_masks[{v}] has shape {mask.shape}, expected {img.shape[:2]}"
                )
            voids.append(mask.astype(bool, copy=False))
    return [
        felzenszwalb_segments(img, config, void=void) for img, void in zip(imgs, voids, strict=True)
    ]


def make_masks(
    source: str,
    gt_maps: Sequence[np.ndarray],
    images: Sequence[np.ndarray] | None,
    seed: int,
) -> list[np.ndarray]:
    """Per-view label maps from a named mask source (the benchmark harness's entry point).

    Parameters
    ----------
    source
        One of :data:`MASK_SOURCES`: a noise preset (``clean``, ``sam-like``, ``hard``)
        applied to ``gt_maps``, or ``felzenszwalb`` run on ``images`` with the ground
        truth's void (nothing rendered, as an alpha mask would show) set to 0.
    gt_maps
        One (H, W) integer map per view; 0 = void.
    images
        One (H, W, 3) rendered RGB image per view (float in [0, 1]); needed for
        ``felzenszwalb``, may be ``None`` for the presets.
    seed
        Random seed (>= 0).

    Returns
    -------
    list of np.ndarray
        One (H, W) int32 label map per view, 0 = no mask.
    """
    if source not in MASK_SOURCES:
        raise ValueError(f"unknown mask source {source!r}; valid names: {', '.join(MASK_SOURCES)}")
    maps = _validate_gt_maps(gt_maps)
    if images is not None:
        _validate_images(images, maps)
    if source == "felzenszwalb":
        if images is None:
            raise ValueError("mask source 'felzenszwalb' needs the rendered images")
        return felzenszwalb_label_maps(images, void_masks=[gt == 0 for gt in maps])
    return simulate_label_maps(maps, noise_preset(source), seed)


# --------------------------------------------------------------------------- validation


def _validate_gt_maps(gt_maps: Sequence[np.ndarray]) -> list[np.ndarray]:
    if isinstance(gt_maps, np.ndarray) and gt_maps.ndim == 2:
        raise ValueError("gt_maps must be a list of (H, W) maps; got a single 2D array")
    if isinstance(gt_maps, (str, bytes)) or not hasattr(gt_maps, "__len__"):
        raise ValueError(f"gt_maps must be a list of (H, W) integer maps, got {type(gt_maps)}")
    maps = []
    for v, gt in enumerate(gt_maps):
        gt = np.asarray(gt)
        if gt.ndim != 2 or gt.size == 0:
            raise ValueError(f"gt_maps[{v}] must be a non-empty (H, W) map, got shape {gt.shape}")
        if gt.dtype.kind not in "iu":
            raise ValueError(f"gt_maps[{v}] must hold integer ids, got dtype {gt.dtype}")
        if gt.dtype.kind == "i" and gt.min() < 0:
            raise ValueError(f"gt_maps[{v}] holds negative ids; 0 is void, objects are >= 1")
        if int(gt.max()) >= np.iinfo(np.int32).max // 2:
            raise ValueError(f"gt_maps[{v}] holds ids too large for int32 label maps")
        maps.append(gt)
    return maps


def _validate_images(
    images: Sequence[np.ndarray], maps: list[np.ndarray] | None
) -> list[np.ndarray]:
    if isinstance(images, np.ndarray) and images.ndim == 3:
        raise ValueError("images must be a list of (H, W, 3) images; got a single 3D array")
    if maps is not None and len(images) != len(maps):
        raise ValueError(f"images has {len(images)} views but gt_maps has {len(maps)}")
    out = []
    for v, img in enumerate(images):
        img = np.asarray(img)
        if img.ndim != 3 or img.shape[2] != 3 or img.shape[0] == 0 or img.shape[1] == 0:
            raise ValueError(f"images[{v}] must be (H, W, 3) RGB, got shape {img.shape}")
        if maps is not None and img.shape[:2] != maps[v].shape:
            raise ValueError(f"images[{v}] is {img.shape[:2]} but gt_maps[{v}] is {maps[v].shape}")
        if img.dtype == np.uint8:
            img = img.astype(np.float32) / 255.0
        elif img.dtype.kind == "f":
            if not np.isfinite(img).all():
                raise ValueError(f"images[{v}] holds NaN or infinite values")
        else:
            raise ValueError(f"images[{v}] must be float in [0, 1] or uint8, got {img.dtype}")
        out.append(img)
    return out


def _validate_seed(seed: int) -> None:
    if isinstance(seed, bool) or not isinstance(seed, (int, np.integer)) or seed < 0:
        raise ValueError(f"seed must be a whole number >= 0, got {seed!r}")


def _check_noise(noise: MaskNoise) -> None:
    if not isinstance(noise, MaskNoise):
        raise ValueError(
            f"noise must be a MaskNoise (e.g. noise_preset('sam-like')), got {type(noise)}"
        )


def _fresh_id_start(maps: list[np.ndarray]) -> int:
    """The first id above every ground-truth id in every view."""
    return 1 + max((int(gt.max()) for gt in maps), default=0)


# --------------------------------------------------------------------------- simulation


@dataclass
class _Segment:
    """One simulated mask before spurious blobs and the minimum area are applied."""

    rows: slice
    cols: slice
    mask: np.ndarray  # bool, the (rows, cols) crop
    kind: str  # "object" (an object or merged group), "part", "whole", "spurious"
    radius: int  # jitter radius applied (0 for spurious)
    group: int  # index of the group it came from (-1: spurious)
    label_id: int = 0  # id in the label map without permutation


@dataclass
class _ViewSim:
    shape: tuple[int, int]
    segments: list[_Segment]  # disjoint object/part masks, then spurious ones
    wholes: list[_Segment]  # whole masks of split objects (overlap their parts)
    label_map: np.ndarray  # int32


def _simulate_view(gt: np.ndarray, noise: MaskNoise, seed: int, view: int, fresh: int) -> _ViewSim:
    rng = np.random.default_rng([seed, view])
    shape = gt.shape
    jitter = int(noise.boundary_jitter_px)
    min_area = noise.min_area_px(shape)

    ids, compact = _compact_ids(gt)
    n_obj = len(ids) - 1
    slices = ndimage.find_objects(compact, max_label=n_obj)
    areas = np.bincount(compact.ravel(), minlength=n_obj + 1)

    # Miss.
    kept = np.ones(n_obj + 1, dtype=bool)
    kept[0] = False
    kept[1:] = rng.random(n_obj) >= noise.miss

    # Under-segmentation: merge touching objects (union-find over compact ids).
    parent = np.arange(n_obj + 1)

    def find(a: int) -> int:
        while parent[a] != a:
            parent[a] = parent[parent[a]]
            a = parent[a]
        return a

    if noise.under_segment > 0 and n_obj > 1:
        neighbours = _touching(compact, kept)
        for obj in rng.permutation(np.flatnonzero(kept)):
            near = neighbours.get(int(obj))
            if near and rng.random() < noise.under_segment:
                other = near[rng.integers(len(near))]
                parent[find(int(obj))] = find(other)
    groups: dict[int, list[int]] = {}
    for obj in np.flatnonzero(kept):
        groups.setdefault(find(int(obj)), []).append(int(obj))

    segments: list[_Segment] = []
    wholes: list[_Segment] = []
    originals = []  # per group: (rows, cols, original crop mask, radius)
    for g, members in enumerate(groups[root] for root in sorted(groups)):
        rows, cols = _union_slices([slices[m - 1] for m in members], shape, jitter)
        crop = compact[rows, cols]
        orig = np.isin(crop, members)
        largest = max(members, key=lambda m: areas[m])
        gt_id = int(ids[largest])

        centres = None
        if len(members) == 1 and noise.over_segment > 0 and rng.random() < noise.over_segment:
            part_px = max(_MIN_PART_PIXELS, min_area)
            k = min(int(rng.integers(2, _MAX_PARTS + 1)), int(areas[largest] // part_px))
            if k >= 2:
                centres = _split_centres(orig, k, rng)

        radius = int(rng.integers(-jitter, jitter + 1)) if jitter > 0 else 0
        mask = _jitter(orig, radius)
        originals.append((rows, cols, orig, radius))
        if centres is None:
            segments.append(_Segment(rows, cols, mask, "object", radius, g, gt_id))
            continue
        yy, xx = np.nonzero(mask)
        nearest = _nearest_centre(np.stack([yy, xx], axis=1), centres)
        parts = []
        for c in range(len(centres)):
            part = np.zeros_like(mask)
            part[yy[nearest == c], xx[nearest == c]] = True
            if part.any():
                parts.append(part)
        parts.sort(key=lambda p: -int(p.sum()))
        for i, part in enumerate(parts):
            label_id = gt_id if i == 0 else 0
            segments.append(_Segment(rows, cols, part, "part", radius, g, label_id))
        wholes.append(_Segment(rows, cols, mask, "whole", radius, g))

    _resolve_overlaps(segments, originals, shape)

    # Label map before spurious blobs: disjoint masks.
    index = np.zeros(shape, dtype=np.int64)  # segment index + 1
    for i, seg in enumerate(segments):
        index[seg.rows, seg.cols][seg.mask] = i + 1
    seg_area = np.array([0] + [int(s.mask.sum()) for s in segments], dtype=np.int64)

    # Spurious blobs: painted over everything, the smaller mask winning (as when SAM
    # masks are flattened).
    n_spurious = int(rng.poisson(noise.spurious)) if noise.spurious > 0 else 0
    blobs = [_random_ellipse(shape, rng) for _ in range(n_spurious)]
    blobs = [b for b in blobs if b.mask.any()]
    blobs.sort(key=lambda b: -int(b.mask.sum()))
    for blob in blobs:
        area = int(blob.mask.sum())
        region = index[blob.rows, blob.cols]
        owner_area = seg_area[region]
        paint = blob.mask & ((region == 0) | (owner_area >= area))
        segments.append(blob)
        seg_area = np.append(seg_area, area)
        region[paint] = len(segments)

    # Minimum area on what is visible.
    visible = np.bincount(index.ravel(), minlength=len(segments) + 1)
    alive = visible >= max(min_area, 1)
    alive[0] = False
    index[~alive[index]] = 0

    # Ids.
    lut = np.zeros(len(segments) + 1, dtype=np.int64)
    survivors = np.flatnonzero(alive)
    if noise.permute_ids:
        lut[survivors] = rng.permutation(len(survivors)) + 1
    else:
        next_id = fresh
        for i in survivors:
            seg = segments[i - 1]
            if seg.label_id == 0:
                seg.label_id = next_id
                next_id += 1
            lut[i] = seg.label_id
    label_map = lut[index].astype(np.int32)
    return _ViewSim(shape, segments, wholes, label_map)


def _compact_ids(gt: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """``ids`` (``ids[0] == 0``, then the object ids present) and ``gt`` as indices into it."""
    top = int(gt.max())
    if top <= 4 * gt.size + 65536:  # a lookup table beats sorting every pixel
        present = np.bincount(gt.ravel(), minlength=top + 1) > 0
        present[0] = True
        ids = np.flatnonzero(present)
        lut = np.zeros(top + 1, dtype=np.int64)
        lut[ids] = np.arange(len(ids))
        return ids, lut[gt]
    ids, compact = np.unique(gt, return_inverse=True)
    compact = compact.reshape(gt.shape)
    if ids[0] != 0:
        compact += 1
        ids = np.concatenate([[0], ids])
    return ids, compact


def _touching(compact: np.ndarray, kept: np.ndarray) -> dict[int, list[int]]:
    """For each kept object, the kept objects sharing a 4-connected boundary with it."""
    pairs = []
    for a, b in ((compact[:, :-1], compact[:, 1:]), (compact[:-1, :], compact[1:, :])):
        diff = (a != b) & kept[a] & kept[b]
        pairs.append(np.stack([a[diff], b[diff]], axis=1))
    both = np.concatenate(pairs)
    both = np.unique(np.sort(both, axis=1), axis=0)
    out: dict[int, list[int]] = {}
    for a, b in both:
        out.setdefault(int(a), []).append(int(b))
        out.setdefault(int(b), []).append(int(a))
    return out


def _union_slices(
    slices: list[tuple[slice, slice]], shape: tuple[int, int], pad: int
) -> tuple[slice, slice]:
    r0 = max(min(s[0].start for s in slices) - pad, 0)
    r1 = min(max(s[0].stop for s in slices) + pad, shape[0])
    c0 = max(min(s[1].start for s in slices) - pad, 0)
    c1 = min(max(s[1].stop for s in slices) + pad, shape[1])
    return slice(r0, r1), slice(c0, c1)


def _jitter(mask: np.ndarray, radius: int) -> np.ndarray:
    """Dilate (radius > 0) or erode (radius < 0) by a Euclidean disk.

    The crop must have ``radius`` pixels of margin except at the image border, which
    counts as neither inside nor outside (masks are not eroded from the image border).
    """
    if radius == 0 or mask.all():  # (the EDT of an array with no zero is meaningless)
        return mask.copy()
    if radius > 0:
        return ndimage.distance_transform_edt(~mask) <= radius
    return ndimage.distance_transform_edt(mask) > -radius


def _resolve_overlaps(
    segments: list[_Segment], originals: list[tuple], shape: tuple[int, int]
) -> None:
    """Make the jittered masks disjoint: the larger jitter radius wins a contested pixel.

    Groups are painted in increasing radius; within one radius, pixels a group gained
    by dilation are painted before the pixels it kept, so an owner keeps its pixels
    against a neighbour dilated by the same radius. Segment masks are cut to what they
    won, in place.
    """
    if not segments:
        return
    owner = np.zeros(shape, dtype=np.int64)  # segment index + 1
    radii = sorted({orig[3] for orig in originals})
    for radius in radii:
        for keep_own in (False, True):
            for i, seg in enumerate(segments):
                rows, cols, orig, r = originals[seg.group]
                if r != radius:
                    continue
                paint = seg.mask & (orig if keep_own else ~orig)
                owner[rows, cols][paint] = i + 1
    for i, seg in enumerate(segments):
        seg.mask = seg.mask & (owner[seg.rows, seg.cols] == i + 1)


def _split_centres(mask: np.ndarray, k: int, rng: np.random.Generator) -> np.ndarray:
    """Centres whose nearest-centre cells split ``mask`` into 2..k non-empty parts."""
    coords = np.argwhere(mask).astype(np.float64)
    sample = coords
    if len(coords) > _KMEANS_SAMPLE:
        sample = coords[rng.choice(len(coords), _KMEANS_SAMPLE, replace=False)]
    centres = _kmeans(sample, k, rng)
    used = np.unique(_nearest_centre(coords, centres))
    if len(used) >= 2:
        return centres[used]
    # Degenerate k-means: cut across the principal axis through the mean instead.
    mean = coords.mean(axis=0)
    _, _, vt = np.linalg.svd(coords - mean, full_matrices=False)
    return np.stack([mean - vt[0], mean + vt[0]])


def _kmeans(points: np.ndarray, k: int, rng: np.random.Generator) -> np.ndarray:
    """Lloyd's k-means with k-means++ seeding; empty clusters are reseeded far away."""
    centres = [points[rng.integers(len(points))]]
    for _ in range(1, k):
        d2 = np.min(((points[:, None, :] - np.array(centres)[None]) ** 2).sum(-1), axis=1)
        total = d2.sum()
        if total <= 0:
            break
        centres.append(points[rng.choice(len(points), p=d2 / total)])
    centres = np.array(centres)
    for _ in range(_KMEANS_ITERATIONS):
        d2 = ((points[:, None, :] - centres[None]) ** 2).sum(-1)
        nearest = d2.argmin(axis=1)
        new = centres.copy()
        for c in range(len(centres)):
            members = points[nearest == c]
            if len(members):
                new[c] = members.mean(axis=0)
            else:
                new[c] = points[d2.min(axis=1).argmax()]
        if np.allclose(new, centres):
            break
        centres = new
    return centres


def _nearest_centre(coords: np.ndarray, centres: np.ndarray) -> np.ndarray:
    d2 = ((coords[:, None, :].astype(np.float64) - centres[None]) ** 2).sum(-1)
    return d2.argmin(axis=1)


def _random_ellipse(shape: tuple[int, int], rng: np.random.Generator) -> _Segment:
    h, w = shape
    lo, hi = _SPURIOUS_AXES
    a, b = rng.uniform(lo, hi, size=2) * min(h, w)
    a, b = max(a, 1.0), max(b, 1.0)
    cy, cx = rng.uniform(0, h), rng.uniform(0, w)
    theta = rng.uniform(0, np.pi)
    reach = max(a, b)
    r0, r1 = max(int(cy - reach), 0), min(int(cy + reach) + 2, h)
    c0, c1 = max(int(cx - reach), 0), min(int(cx + reach) + 2, w)
    yy, xx = np.mgrid[r0:r1, c0:c1]
    dy, dx = yy + 0.5 - cy, xx + 0.5 - cx
    u = dx * np.cos(theta) + dy * np.sin(theta)
    v = -dx * np.sin(theta) + dy * np.cos(theta)
    mask = (u / a) ** 2 + (v / b) ** 2 <= 1.0
    return _Segment(slice(r0, r1), slice(c0, c1), mask, "spurious", 0, -1)


def _sam_form(sim: _ViewSim, noise: MaskNoise, rng: np.random.Generator) -> list[SamMask]:
    min_area = max(noise.min_area_px(sim.shape), 1)
    out = []
    for seg in sim.segments + sim.wholes:
        area = int(seg.mask.sum())
        if area < min_area:
            continue
        if seg.kind == "whole":
            parts = [
                s for s in sim.segments if s.group == seg.group and int(s.mask.sum()) >= min_area
            ]
            if len(parts) < 2:  # the whole would repeat its only part
                continue
            mask = np.zeros(seg.mask.shape, dtype=bool)
            for p in parts:
                mask |= p.mask
            area = int(mask.sum())
        else:
            mask = seg.mask
        full = np.zeros(sim.shape, dtype=bool)
        full[seg.rows, seg.cols] = mask
        iou, stability = _scores(seg, rng)
        out.append(SamMask(full, area, _bbox_xywh(full), iou, stability))
    out.sort(key=lambda m: -m.area)
    return out


def _scores(seg: _Segment, rng: np.random.Generator) -> tuple[float, float]:
    if seg.kind == "spurious":
        iou, stability = rng.uniform(0.70, 0.90), rng.uniform(0.75, 0.93)
    else:
        iou, stability = rng.uniform(0.92, 1.0), rng.uniform(0.94, 1.0)
        iou -= 0.015 * abs(seg.radius)
        stability -= 0.02 * abs(seg.radius)
    return float(np.clip(iou, 0.0, 1.0)), float(np.clip(stability, 0.0, 1.0))


def _bbox_xywh(mask: np.ndarray) -> tuple[int, int, int, int]:
    rows = np.flatnonzero(mask.any(axis=1))
    cols = np.flatnonzero(mask.any(axis=0))
    return int(cols[0]), int(rows[0]), int(cols[-1] - cols[0] + 1), int(rows[-1] - rows[0] + 1)
