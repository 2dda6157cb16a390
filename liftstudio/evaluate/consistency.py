"""Consistency QA: how far the current 3D labels agree with the 2D masks.

:func:`check_consistency` renders the per-Gaussian labels into every training view,
matches the rendered instances to the view's mask segments and reports

- a **disagreement map** per view (1 where the rendered instance and its matched mask
  segment disagree, 0 where they agree or both are background), which
  :func:`heatmap_rgb` colours for display;
- a **view score**: the share of labelled pixels (labelled in the render or the mask)
  where the two agree;
- a **per-instance row** (:class:`InstanceScore`), sorted worst first, naming the view
  where the instance agrees least, so a panel can jump there.

Matching. With *associated* masks (an id means the same object in every view, e.g.
Gaussian Grouping ``object_mask``) one global mapping rendered id → mask id is chosen
by Hungarian matching on the intersection summed over all views. With per-view masks
(SAM-style: ids mean nothing across views) each view gets its own mapping, by
Hungarian matching on IoU. Id 0 is background on both sides and never matched.

Per instance and view, IoU is that of the rendered instance and its matched segment
(0 when it has none). An instance is *seen* in a view when that union is not empty;
with associated masks this includes views where only its mask segment appears (the
labels lost it there). Its score is the mean of its IoUs over the views where it is
seen, weighted by the union's share of the view's pixels (so views of other sizes
weigh alike), i.e. ``Σ_v inter_v/P_v / Σ_v union_v/P_v``.

Everything is computed at a working size: the mask's size, capped at ``max_side``
pixels on its longer side (the mask is downsampled by nearest neighbour, the labels
are rendered directly at that size). Per view only a small map of (rendered, mask) pair
indices is kept until matching; the disagreement maps returned are float32 at the
working size.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

import numpy as np
from scipy.optimize import linear_sum_assignment

from liftstudio.evaluate.metrics import resize_nearest
from liftstudio.jobs import CancelToken, ProgressCallback, check_cancelled, report
from liftstudio.render.backend import RenderBackend
from liftstudio.render.label_maps import render_label_map
from liftstudio.scene.camera import Camera
from liftstudio.scene.gaussians import GaussianScene
from liftstudio.sources.label_files import same_aspect

__all__ = ["ConsistencyReport", "InstanceScore", "check_consistency", "heatmap_rgb"]

#: Colour of full disagreement in :func:`heatmap_rgb`.
HEAT_COLOUR = (255, 0, 0)


# --------------------------------------------------------------------------- results


@dataclass(frozen=True)
class InstanceScore:
    """How well one labelled instance agrees with the masks.

    Attributes
    ----------
    instance_id
        The label id (as in the per-Gaussian labels).
    score
        Area-weighted mean IoU over the views where it is seen, in [0, 1].
    worst_view
        Index (into :attr:`ConsistencyReport.views`) of the view with the lowest IoU.
    worst_iou
        The IoU there.
    views_seen
        Number of views where it is seen (rendered, or its associated segment present).
    pixels
        Rendered pixels over all views, at the working size.
    view_ious
        View index → IoU, for every view where it is seen.
    """

    instance_id: int
    score: float
    worst_view: int
    worst_iou: float
    views_seen: int
    pixels: int
    view_ious: Mapping[int, float] = field(default_factory=dict)


@dataclass(frozen=True)
class ConsistencyReport:
    """Result of :func:`check_consistency`.

    Attributes
    ----------
    views
        Camera names, in the order given.
    view_scores : (V,) float64
        Per view, agreeing pixels / labelled pixels (1.0 when nothing is labelled).
    disagreement
        Per view, a float32 ``(h, w)`` map in [0, 1] at the working size.
    instances
        One :class:`InstanceScore` per seen instance, worst (lowest score) first.
    associated
        Whether the masks were matched with one global id mapping.
    unseen
        Label ids (non-zero) carried by some Gaussian but seen in no view.
    """

    views: tuple[str, ...]
    view_scores: np.ndarray
    disagreement: list[np.ndarray]
    instances: list[InstanceScore]
    associated: bool
    unseen: tuple[int, ...] = ()

    def worst_views(self, count: int | None = None) -> list[int]:
        """View indices from the lowest view score up (``count`` of them, or all)."""
        order = np.argsort(self.view_scores, kind="stable")
        return [int(v) for v in order[:count]]

    def summary(self) -> str:
        """A few lines for a status bar or a terminal."""
        mode = "associated ids" if self.associated else "per-view ids"
        lines = [
            f"{len(self.views)} views ({mode}), {len(self.instances)} instances; "
            f"mean view agreement {float(np.mean(self.view_scores)):.3f}"
        ]
        if len(self.views):
            v = self.worst_views(1)[0]
            lines.append(f"worst view: {self.views[v]} ({self.view_scores[v]:.3f})")
        if self.instances:
            worst = self.instances[0]
            lines.append(
                f"worst instance: {worst.instance_id} (score {worst.score:.3f}; IoU "
                f"{worst.worst_iou:.3f} in {self.views[worst.worst_view]})"
            )
        if self.unseen:
            lines.append(f"{len(self.unseen)} labelled instance(s) are seen in no view")
        return "\n".join(lines)


@dataclass(frozen=True)
class _ViewPairs:
    """One view's (rendered id, mask id) pairs with pixel counts, and where they lie."""

    rendered: np.ndarray  # (P,) int64
    mask: np.ndarray  # (P,) int64
    count: np.ndarray  # (P,) int64
    pair_map: np.ndarray  # (h, w) index into the pairs


# --------------------------------------------------------------------------- public API


def check_consistency(
    gaussians: GaussianScene,
    cameras: Sequence[Camera],
    masks: Sequence[np.ndarray],
    labels: np.ndarray,
    *,
    backend: RenderBackend,
    associated: bool,
    max_side: int | None = 320,
    progress: ProgressCallback | None = None,
    cancel: CancelToken | None = None,
) -> ConsistencyReport:
    """Compare per-Gaussian labels with per-view 2D masks (see the module docstring).

    Parameters
    ----------
    gaussians
        The scene.
    cameras
        One camera per mask (e.g. ``ImportedMasks.matched_cameras``).
    masks
        Per camera an ``(H, W)`` non-negative integer label map (0 = no mask), a
        uniform rescale of its camera's image size (e.g. ``ImportedMasks.matched_maps``).
    labels : (N,) int
        Instance id per Gaussian; 0 = unlabelled.
    backend
        The render backend.
    associated
        Whether mask ids mean the same object in every view (``ImportedMasks.associated``).
    max_side
        Cap on the longer side of the working size; None keeps the masks' size.
    progress, cancel
        One progress step per view rendered; cancelled between views.

    Returns
    -------
    ConsistencyReport

    Raises
    ------
    ValueError
        Naming the argument (and the view) at fault: mismatched counts, a labels array
        of the wrong shape or with negative/non-integer ids, a mask that is not a 2-D
        non-negative integer array or whose aspect ratio is not its camera's, or a
        ``max_side`` below 1.
    JobCancelled
        When ``cancel`` is set.
    """
    labels = _check_labels(labels, len(gaussians))
    masks = _check_masks(cameras, masks)
    _check_max_side(max_side)
    views = _collect_pairs(
        gaussians, cameras, masks, labels, backend, max_side, progress=progress, cancel=cancel
    )
    if associated:
        mapping = _hungarian(_concat(views), weight="intersection")
        mappings = [mapping] * len(views)
    else:
        mappings = [_hungarian(view, weight="iou") for view in views]
    disagreement, view_scores, stats = [], [], []
    for view, mapping in zip(views, mappings, strict=True):
        agree, labelled = _pair_agreement(view, mapping)
        disagreement.append((labelled & ~agree)[view.pair_map].astype(np.float32))
        view_scores.append(_share(view.count, agree, labelled))
        stats.append(_instance_stats(view, mapping, associated=associated))
    instances = _instance_rows(stats)
    seen = {row.instance_id for row in instances}
    return ConsistencyReport(
        views=tuple(camera.name for camera in cameras),
        view_scores=np.asarray(view_scores, dtype=np.float64),
        disagreement=disagreement,
        instances=instances,
        associated=associated,
        unseen=tuple(int(i) for i in np.unique(labels) if i != 0 and int(i) not in seen),
    )


def heatmap_rgb(
    disagreement: np.ndarray, image: np.ndarray | None = None, *, opacity: float = 1.0
) -> np.ndarray:
    """Colour a disagreement map: transparent (or black) at 0 to red at 1.

    Parameters
    ----------
    disagreement : (h, w) float
        Values in [0, 1].
    image : (H, W, 3), optional
        A uint8 or [0, 1] float image to draw over; the map is resized to it by nearest
        neighbour. Without it the background is black.
    opacity
        Opacity of full disagreement, in [0, 1].

    Returns
    -------
    (H, W, 3) uint8
        ``background · (1 − a) + red · a`` with ``a = opacity · disagreement``.

    Raises
    ------
    ValueError
        If the map is not 2-D or holds values outside [0, 1] (or NaN), the image is not
        ``(H, W, 3)``, or ``opacity`` is outside [0, 1].
    """
    heat = np.asarray(disagreement, dtype=np.float64)
    if heat.ndim != 2:
        raise ValueError(f"disagreement must be a 2-D map, got shape {heat.shape}")
    if heat.size and not (np.all(heat >= 0.0) and np.all(heat <= 1.0)):
        raise ValueError("disagreement must hold values in [0, 1] (no NaN)")
    if not 0.0 <= opacity <= 1.0:
        raise ValueError(f"opacity must be in [0, 1], got {opacity}")
    if image is None:
        base = np.zeros((*heat.shape, 3))
    else:
        base = _image_as_float255(image)
        heat = resize_nearest(heat, base.shape[:2])
    alpha = (opacity * heat)[..., None]
    out = base * (1.0 - alpha) + np.asarray(HEAT_COLOUR, dtype=np.float64) * alpha
    return np.clip(np.rint(out), 0, 255).astype(np.uint8)


# --------------------------------------------------------------------------- validation


def _check_labels(labels: np.ndarray, count: int) -> np.ndarray:
    labels = np.asarray(labels)
    if labels.shape != (count,):
        raise ValueError(
            f"labels must have shape ({count},) (one per Gaussian), got {labels.shape}"
        )
    if labels.dtype.kind not in "iu":
        raise ValueError(f"labels must hold integer ids, got dtype {labels.dtype}")
    if labels.size and labels.dtype.kind == "i" and labels.min() < 0:
        raise ValueError(f"labels holds negative ids (smallest {labels.min()}); ids must be ≥ 0")
    return labels.astype(np.int64, copy=False)


def _check_masks(cameras: Sequence[Camera], masks: Sequence[np.ndarray]) -> list[np.ndarray]:
    if len(cameras) != len(masks):
        raise ValueError(f"{len(cameras)} cameras but {len(masks)} masks: pass one mask per camera")
    if not cameras:
        raise ValueError("no views to check (cameras is empty)")
    pairs = enumerate(zip(cameras, masks, strict=True))
    return [_check_mask(v, camera, mask) for v, (camera, mask) in pairs]


def _check_mask(v: int, camera: Camera, mask: np.ndarray | None) -> np.ndarray:
    where = f"masks[{v}] (view {camera.name!r})"
    if mask is None:
        raise ValueError(
            f"{where} is None: pass only views with a mask (ImportedMasks.matched_cameras "
            "and .matched_maps)"
        )
    mask = np.asarray(mask)
    if mask.ndim != 2 or min(mask.shape) == 0:
        raise ValueError(f"{where} must be a non-empty 2-D (H, W) label map, got {mask.shape}")
    if mask.dtype.kind not in "iub":
        raise ValueError(f"{where} must hold integer ids, got dtype {mask.dtype}")
    if mask.dtype.kind == "i" and mask.min() < 0:
        raise ValueError(f"{where} holds negative ids (smallest {mask.min()})")
    height, width = mask.shape
    if not same_aspect((width, height), (camera.width, camera.height)):
        raise ValueError(
            f"{where} is {width}x{height} but its camera is {camera.width}x{camera.height}: "
            "another aspect ratio (a mask must cover the whole image, at its size or a "
            "uniform rescale of it)"
        )
    return mask


def _check_max_side(max_side: int | None) -> None:
    if max_side is None:
        return
    if isinstance(max_side, bool) or not isinstance(max_side, (int, np.integer)) or max_side < 1:
        raise ValueError(f"max_side must be a positive integer or None, got {max_side!r}")


def _image_as_float255(image: np.ndarray) -> np.ndarray:
    image = np.asarray(image)
    if image.ndim != 3 or image.shape[2] != 3:
        raise ValueError(f"image must be (H, W, 3), got {image.shape}")
    if image.dtype.kind == "f":
        return np.clip(image.astype(np.float64), 0.0, 1.0) * 255.0
    return image.astype(np.float64)


# --------------------------------------------------------------------------- rendering


def _working_size(height: int, width: int, max_side: int | None) -> tuple[int, int]:
    """``(h, w)`` of the mask's size capped at ``max_side`` on its longer side."""
    if max_side is None or max(height, width) <= max_side:
        return height, width
    scale = max_side / max(height, width)
    return max(1, round(height * scale)), max(1, round(width * scale))


def _collect_pairs(
    gaussians: GaussianScene,
    cameras: Sequence[Camera],
    masks: Sequence[np.ndarray],
    labels: np.ndarray,
    backend: RenderBackend,
    max_side: int | None,
    *,
    progress: ProgressCallback | None,
    cancel: CancelToken | None,
) -> list[_ViewPairs]:
    views = []
    for v, (camera, mask) in enumerate(zip(cameras, masks, strict=True)):
        check_cancelled(cancel)
        size = _working_size(*mask.shape, max_side)
        mask = resize_nearest(mask, size).astype(np.int64)
        rendered = render_label_map(
            backend, gaussians, camera, labels, resolution=(size[1], size[0])
        )
        views.append(_pairs(rendered.astype(np.int64), mask))
        report(progress, v + 1, len(cameras), f"checked view {camera.name}")
    return views


def _pairs(rendered: np.ndarray, mask: np.ndarray) -> _ViewPairs:
    base = int(mask.max()) + 1
    codes, inverse, count = np.unique(
        rendered.ravel() * base + mask.ravel(), return_inverse=True, return_counts=True
    )
    index_type = np.uint16 if codes.size <= np.iinfo(np.uint16).max else np.int32
    return _ViewPairs(
        rendered=codes // base,
        mask=codes % base,
        count=count.astype(np.int64),
        pair_map=inverse.reshape(rendered.shape).astype(index_type),
    )


def _concat(views: Sequence[_ViewPairs]) -> _ViewPairs:
    """All views' pairs as one set (pair map left empty)."""
    return _ViewPairs(
        rendered=np.concatenate([v.rendered for v in views]),
        mask=np.concatenate([v.mask for v in views]),
        count=np.concatenate([v.count for v in views]),
        pair_map=np.zeros((0, 0), dtype=np.int32),
    )


# --------------------------------------------------------------------------- matching


def _hungarian(pairs: _ViewPairs, *, weight: str) -> dict[int, int]:
    """One-to-one rendered id → mask id maximising summed intersection or IoU (0 left out)."""
    if not np.any((pairs.rendered != 0) & (pairs.mask != 0)):
        return {}
    rendered_ids, r_inv = np.unique(pairs.rendered, return_inverse=True)
    mask_ids, m_inv = np.unique(pairs.mask, return_inverse=True)
    table = np.zeros((rendered_ids.size, mask_ids.size), dtype=np.float64)
    np.add.at(table, (r_inv, m_inv), pairs.count)
    rows = np.flatnonzero(rendered_ids != 0)
    cols = np.flatnonzero(mask_ids != 0)
    inter = table[np.ix_(rows, cols)]
    if weight == "iou":
        union = table.sum(axis=1)[rows][:, None] + table.sum(axis=0)[cols][None, :] - inter
        inter = inter / np.maximum(union, 1.0)
    r, c = linear_sum_assignment(inter, maximize=True)
    matched = inter[r, c] > 0
    return {
        int(rendered_ids[rows[i]]): int(mask_ids[cols[j]])
        for i, j in zip(r[matched], c[matched], strict=True)
    }


def _mapped(pairs: _ViewPairs, mapping: Mapping[int, int]) -> np.ndarray:
    """Per pair, the mask id its rendered id is matched to (-1 when unmatched)."""
    return np.array([mapping.get(int(r), -1) for r in pairs.rendered], dtype=np.int64)


def _pair_agreement(pairs: _ViewPairs, mapping: Mapping[int, int]) -> tuple[np.ndarray, np.ndarray]:
    """Per pair: whether render and mask agree, and whether either is labelled."""
    labelled = (pairs.rendered != 0) | (pairs.mask != 0)
    agree = (pairs.rendered != 0) & (_mapped(pairs, mapping) == pairs.mask)
    return agree, labelled


def _share(count: np.ndarray, agree: np.ndarray, labelled: np.ndarray) -> float:
    total = int(count[labelled].sum())
    return 1.0 if total == 0 else float(count[agree].sum() / total)


# --------------------------------------------------------------------------- scoring


@dataclass(frozen=True)
class _Seen:
    """One instance in one view: intersection, union, rendered area, view pixels."""

    inter: int
    union: int
    rendered: int
    pixels: int


def _instance_stats(
    pairs: _ViewPairs, mapping: Mapping[int, int], *, associated: bool
) -> dict[int, _Seen]:
    """Per instance seen in this view, its :class:`_Seen`."""
    pixels = int(pairs.count.sum())
    rendered_area = _sums(pairs.rendered, pairs.count)
    mask_area = _sums(pairs.mask, pairs.count)
    mapped = _mapped(pairs, mapping)
    inter_area = _sums(pairs.rendered[mapped == pairs.mask], pairs.count[mapped == pairs.mask])
    present = set(rendered_area) - {0}
    if associated:  # an instance whose segment shows but which was not rendered
        present |= {i for i, m in mapping.items() if m in mask_area}
    out = {}
    for instance in sorted(present):
        area = rendered_area.get(instance, 0)
        target = mapping.get(instance)
        inter = inter_area.get(instance, 0) if target is not None else 0
        union = area + (mask_area.get(target, 0) if target is not None else 0) - inter
        out[instance] = _Seen(inter, union, area, pixels)
    return out


def _sums(ids: np.ndarray, count: np.ndarray) -> dict[int, int]:
    unique, inverse = np.unique(ids, return_inverse=True)
    totals = np.bincount(inverse, weights=count, minlength=unique.size)
    return {int(i): int(t) for i, t in zip(unique, totals, strict=True)}


def _instance_rows(stats: Sequence[Mapping[int, _Seen]]) -> list[InstanceScore]:
    """Fold per-view stats into rows, worst score first (ties: larger first, then id)."""
    ids = sorted(set().union(*stats)) if stats else []
    rows = [_row(instance, stats) for instance in ids]
    return sorted(rows, key=lambda row: (row.score, -row.pixels, row.instance_id))


def _row(instance: int, stats: Sequence[Mapping[int, _Seen]]) -> InstanceScore:
    seen = {v: view[instance] for v, view in enumerate(stats) if instance in view}
    ious = {v: s.inter / s.union for v, s in seen.items()}
    inter = sum(s.inter / s.pixels for s in seen.values())
    union = sum(s.union / s.pixels for s in seen.values())
    worst = min(ious, key=lambda v: (ious[v], v))
    return InstanceScore(
        instance_id=instance,
        score=float(inter / union),
        worst_view=worst,
        worst_iou=float(ious[worst]),
        views_seen=len(seen),
        pixels=sum(s.rendered for s in seen.values()),
        view_ious=ious,
    )
