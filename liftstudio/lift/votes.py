"""FlashSplat-style label votes, kept sparse: ``A = Σ_v W_vᵀ onehot(M_v)`` (DESIGN §4–§5).

For label maps that already agree across views (Gaussian Grouping's ``object_mask``, a
video tracker, hand labels), each Gaussian collects, per label, the blending weight
that the label's pixels give it over all views. A dense ``labels × N`` table costs
gigabytes on real scenes, so each Gaussian keeps only its ``slots`` heaviest labels:

- one view at a time, the view's operator rows (pixel → top-K Gaussians and weights)
  are folded into a small per-view table, exact unless a Gaussian touches more than
  :data:`VIEW_SLOTS` labels in that single view (:func:`label_weights_in_view`);
- the view's totals are merged into the running table of ``slots`` labels per Gaussian
  (:func:`accumulate_votes`). When a Gaussian already holds ``slots`` labels and a new
  one arrives, whichever of the new label and the lightest kept label weighs less is
  dropped, and the dropped weight is counted in :attr:`SparseVotes.dropped` so the
  loss is visible. Weights are therefore never over-estimated.

Pixels with label 0 (in no mask) vote for the background; ``β`` is every vote a
Gaussian got. :func:`assign_labels` turns the votes into one label per Gaussian with
explicit outcomes (assigned, background, unseen, uncertain), and :func:`one_vs_rest`
is FlashSplat's binary decision for one label.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from enum import IntEnum

import numba
import numpy as np

from liftstudio.jobs import CancelToken, ProgressCallback, check_cancelled, report
from liftstudio.render.backend import RenderBackend, check_operator_request
from liftstudio.render.operator_cache import OperatorCache, cached_operator_rows
from liftstudio.render.results import OperatorRows
from liftstudio.scene.camera import Camera
from liftstudio.scene.gaussians import GaussianScene

#: Distinct labels one Gaussian may touch in a single view before the lightest is dropped.
VIEW_SLOTS = 8


class VoteOutcome(IntEnum):
    """Why a Gaussian got the label it got."""

    BACKGROUND = 0  #: its background votes beat its best label (with the bias γ)
    ASSIGNED = 1  #: its best label won clearly
    UNSEEN = 2  #: no view saw it (β at most ``min_visibility``)
    UNCERTAIN = 3  #: its two best labels are too close (margin below ``min_margin``)


@dataclass(frozen=True)
class ViewLabelWeights:
    """One view's votes: the weight each label's pixels give each Gaussian.

    Attributes
    ----------
    gaussians, labels : (E,) int32
        One entry per (Gaussian, label) pair that has weight, sorted by Gaussian then
        label. Label 0 stands for the pixels in no mask.
    weights : (E,) float32
        Total blending weight ``Σ_p W_v[p, g]`` over the pixels ``p`` of that label.
    beta : (N,) float32
        Each Gaussian's total weight in this view (all labels together).
    dropped : float
        Weight lost because a Gaussian touched more than :data:`VIEW_SLOTS` labels.
    residual : float
        Weight the top-K operator rows left out (the smallest contributions).
    """

    gaussians: np.ndarray
    labels: np.ndarray
    weights: np.ndarray
    beta: np.ndarray
    dropped: float
    residual: float


@dataclass(frozen=True)
class SparseVotes:
    """Per-Gaussian votes over all views, the ``slots`` heaviest labels each.

    Attributes
    ----------
    labels : (N, S) int32
        Kept labels, heaviest first; 0 marks an empty slot.
    weights : (N, S) float32
        Their accumulated weights (0 in empty slots).
    background : (N,) float32
        Weight of pixels in no mask (label 0).
    beta : (N,) float32
        Total weight of every vote (kept, background and dropped).
    dropped : float
        Vote weight lost to full slot tables (per view and over views).
    residual : float
        Weight the top-K operator rows left out, summed over views.
    """

    labels: np.ndarray
    weights: np.ndarray
    background: np.ndarray
    beta: np.ndarray
    dropped: float = 0.0
    residual: float = 0.0

    @property
    def slots(self) -> int:
        """Labels kept per Gaussian."""
        return int(self.labels.shape[1])

    @property
    def nbytes(self) -> int:
        """Memory of the vote table."""
        return int(
            self.labels.nbytes + self.weights.nbytes + self.background.nbytes + self.beta.nbytes
        )

    def bytes_per_gaussian_per_label(self) -> float:
        """Memory per Gaussian per kept label (the issue's budget is 12 bytes)."""
        return self.nbytes / max(1, self.labels.size)

    def weight_of(self, label: int) -> np.ndarray:
        """(N,) weight of ``label`` per Gaussian (0 where it is not kept; label 0 = background)."""
        if label == 0:
            return self.background.copy()
        return np.where(self.labels == label, self.weights, 0).sum(axis=1).astype(np.float32)


@dataclass(frozen=True)
class VoteAssignment:
    """One label per Gaussian, with the reason and a confidence.

    Attributes
    ----------
    labels : (N,) int32
        The winning label, 0 unless the outcome is :attr:`VoteOutcome.ASSIGNED`.
    outcome : (N,) uint8
        A :class:`VoteOutcome` per Gaussian.
    confidence : (N,) float32
        The winner's lead as a share of ``β`` (best label over the runner-up or the
        background for assigned Gaussians; background over the best label otherwise),
        in [0, 1]; 0 for unseen Gaussians.
    """

    labels: np.ndarray
    outcome: np.ndarray
    confidence: np.ndarray

    def count(self, outcome: VoteOutcome) -> int:
        """How many Gaussians had ``outcome``."""
        return int(np.count_nonzero(self.outcome == outcome))


# ---------------------------------------------------------------------------- per view
def label_weights_in_view(
    backend: RenderBackend,
    scene: GaussianScene,
    camera: Camera,
    label_map: np.ndarray,
    *,
    top_k: int | None = 16,
    cache: OperatorCache | None = None,
) -> ViewLabelWeights:
    """Fold one view's label map through its operator rows.

    Parameters
    ----------
    backend
        Computes the operator rows (pixel → top-K Gaussians).
    scene
        The Gaussians.
    camera
        The view; rendered at the label map's size (intrinsics scaled).
    label_map : (H, W) integer array
        Label per pixel, 0 = in no mask; negative values are refused.
    top_k
        Gaussians kept per pixel (the rest of the weight is reported as ``residual``).
    cache
        On-disk cache of operator rows; None computes them afresh.

    Returns
    -------
    ViewLabelWeights
    """
    labels = check_label_map(label_map, camera)
    resolution = (labels.shape[1], labels.shape[0])
    if cache is None:
        rows = backend.operator_rows(scene, camera, resolution=resolution, top_k=top_k)
    else:
        rows = cached_operator_rows(
            backend, scene, camera, resolution=resolution, top_k=top_k, cache=cache
        )
    return fold_view(rows, labels, len(scene))


def fold_view(rows: OperatorRows, label_map: np.ndarray, num_gaussians: int) -> ViewLabelWeights:
    """:func:`label_weights_in_view` for operator rows already at hand."""
    labels = np.ascontiguousarray(label_map, dtype=np.int32).reshape(-1)
    if labels.size != rows.height * rows.width:
        raise ValueError(
            f"label map of {label_map.shape[1]}x{label_map.shape[0]} does not match the "
            f"operator rows' {rows.width}x{rows.height}"
        )
    k = rows.top_k
    ids = np.ascontiguousarray(rows.ids.reshape(-1, k))
    # numba has no float16 arrays: widen once per view.
    weights = np.ascontiguousarray(rows.weights.reshape(-1, k), dtype=np.float32)
    slot_labels = np.full((num_gaussians, VIEW_SLOTS), -1, dtype=np.int32)
    slot_weights = np.zeros((num_gaussians, VIEW_SLOTS), dtype=np.float64)
    beta = np.zeros(num_gaussians, dtype=np.float64)
    dropped = _fold_pixels(ids, weights, labels, slot_labels, slot_weights, beta)
    gaussians, entry_labels, entry_weights = _table_entries(slot_labels, slot_weights)
    return ViewLabelWeights(
        gaussians=gaussians,
        labels=entry_labels,
        weights=entry_weights,
        beta=beta.astype(np.float32),
        dropped=float(dropped),
        residual=float(rows.residual.sum(dtype=np.float64)),
    )


# ---------------------------------------------------------------------------- over views
def accumulate_votes(
    backend: RenderBackend,
    scene: GaussianScene,
    cameras: Sequence[Camera],
    label_maps: Sequence[np.ndarray],
    *,
    slots: int = 4,
    top_k: int | None = 16,
    cache: OperatorCache | None = None,
    progress: ProgressCallback | None = None,
    cancel: CancelToken | None = None,
) -> SparseVotes:
    """Sum the label votes of every view, keeping the ``slots`` heaviest labels per Gaussian.

    Parameters
    ----------
    backend, scene
        Render backend and Gaussians.
    cameras, label_maps
        One integer (H, W) label map per camera, ids consistent across views (0 = in
        no mask). A map may be smaller than its camera's image (same aspect ratio).
    slots
        Labels kept per Gaussian (memory: ``8 * slots + 8`` bytes per Gaussian).
    top_k
        Gaussians kept per pixel in the operator rows (None: every contribution).
    cache
        On-disk operator-row cache; None computes the rows afresh.
    progress, cancel
        One progress step per view; cancel between views (nothing is returned).

    Raises
    ------
    ValueError
        If the counts differ, ``slots`` or ``top_k`` is not a positive integer, or a
        label map is not a 2D array of non-negative integers (naming the view).
    """
    if len(cameras) != len(label_maps):
        raise ValueError(f"{len(cameras)} cameras but {len(label_maps)} label maps were given")
    check_operator_request(top_k, np.float16)
    table = VoteTable(len(scene), slots)
    for index, (camera, label_map) in enumerate(zip(cameras, label_maps, strict=True)):
        check_cancelled(cancel)
        view = label_weights_in_view(backend, scene, camera, label_map, top_k=top_k, cache=cache)
        table.add(view)
        report(progress, index + 1, len(cameras), f"votes from view {camera.name}")
    return table.finish()


class VoteTable:
    """The running vote table that :func:`accumulate_votes` fills one view at a time.

    Parameters
    ----------
    num_gaussians
        N.
    slots
        Labels kept per Gaussian.
    """

    def __init__(self, num_gaussians: int, slots: int = 4) -> None:
        if int(slots) != slots or slots < 1:
            raise ValueError(f"slots must be a positive integer, got {slots!r}")
        self._labels = np.zeros((num_gaussians, slots), dtype=np.int32)
        self._weights = np.zeros((num_gaussians, slots), dtype=np.float32)
        self._background = np.zeros(num_gaussians, dtype=np.float32)
        self._beta = np.zeros(num_gaussians, dtype=np.float32)
        self._dropped = 0.0
        self._residual = 0.0

    def add(self, view: ViewLabelWeights) -> None:
        """Merge one view's votes (label 0 goes to the background)."""
        if len(view.beta) != len(self._beta):
            raise ValueError(
                f"view votes cover {len(view.beta):,} Gaussians, the table {len(self._beta):,}"
            )
        self._dropped += view.dropped + _merge_view(
            view.gaussians, view.labels, view.weights, self._labels, self._weights, self._background
        )
        self._residual += view.residual
        self._beta += view.beta

    def finish(self) -> SparseVotes:
        """The votes so far, each Gaussian's labels sorted heaviest first."""
        labels, weights = self._labels.copy(), self._weights.copy()
        _sort_slots(labels, weights)
        return SparseVotes(
            labels, weights, self._background.copy(), self._beta.copy(),
            self._dropped, self._residual,
        )  # fmt: skip


# ---------------------------------------------------------------------------- decisions
def assign_labels(
    votes: SparseVotes,
    *,
    gamma: float = 0.0,
    min_visibility: float = 0.0,
    min_margin: float = 0.05,
) -> VoteAssignment:
    """Exclusive argmax over the kept labels, against the background with bias ``γ``.

    A Gaussian with ``β <= min_visibility`` is *unseen*. Otherwise its heaviest label
    ``l`` wins over the background iff ``(A_l - A_0) / (A_l + A_0) > γ`` (FlashSplat's
    normalised difference; ``γ > 0`` favours the background, ``γ < 0`` the objects);
    a winner whose lead over the runner-up label is below ``min_margin · β`` is
    *uncertain* and gets label 0.

    Parameters
    ----------
    votes
        From :func:`accumulate_votes`.
    gamma
        Background bias in [-1, 1].
    min_visibility
        β at or below which a Gaussian counts as unseen (≥ 0).
    min_margin
        Required lead of the best label over the second, as a share of β, in [0, 1].
    """
    if not -1.0 <= gamma <= 1.0:
        raise ValueError(f"gamma must lie in [-1, 1], got {gamma}")
    if not 0.0 <= min_margin <= 1.0:
        raise ValueError(f"min_margin must lie in [0, 1], got {min_margin}")
    if not np.isfinite(min_visibility) or min_visibility < 0:
        raise ValueError(f"min_visibility must be a finite number >= 0, got {min_visibility}")
    n = votes.labels.shape[0]
    best = votes.weights[:, 0].astype(np.float64)
    second = votes.weights[:, 1].astype(np.float64) if votes.slots > 1 else np.zeros(n)
    bg = votes.background.astype(np.float64)
    beta = votes.beta.astype(np.float64)
    seen = beta > min_visibility
    total = np.maximum(best + bg, np.finfo(np.float64).tiny)
    foreground = seen & (best > 0) & ((best - bg) / total > gamma)
    safe_beta = np.where(seen, beta, 1.0)
    lead = (best - second) / safe_beta
    uncertain = foreground & (lead < min_margin)
    assigned = foreground & ~uncertain

    outcome = np.full(n, VoteOutcome.BACKGROUND, dtype=np.uint8)
    outcome[~seen] = VoteOutcome.UNSEEN
    outcome[uncertain] = VoteOutcome.UNCERTAIN
    outcome[assigned] = VoteOutcome.ASSIGNED
    labels = np.where(assigned, votes.labels[:, 0], 0).astype(np.int32)
    confidence = np.where(
        foreground,
        (best - np.maximum(second, bg)) / safe_beta,
        (bg - best) / safe_beta,
    )
    confidence = np.where(seen, np.clip(confidence, 0.0, 1.0), 0.0).astype(np.float32)
    return VoteAssignment(labels=labels, outcome=outcome, confidence=confidence)


def one_vs_rest(votes: SparseVotes, label: int, *, gamma: float = 0.0) -> np.ndarray:
    """FlashSplat's binary decision for one label: foreground iff ``(A_l − A_rest) / β > γ``.

    ``A_rest = β − A_l`` is every other vote (background and other labels). Unseen
    Gaussians (β = 0) stay background. For binary masks, accumulate them as label maps
    of 0/1 and call this with ``label=1``.

    Returns
    -------
    (N,) bool
    """
    if not -1.0 <= gamma <= 1.0:
        raise ValueError(f"gamma must lie in [-1, 1], got {gamma}")
    if int(label) != label or label < 1:
        raise ValueError(f"label must be an id >= 1, got {label!r}")
    mine = votes.weight_of(int(label)).astype(np.float64)
    beta = votes.beta.astype(np.float64)
    seen = beta > 0
    score = np.zeros_like(beta)
    score[seen] = (2.0 * mine[seen] - beta[seen]) / beta[seen]
    return seen & (score > gamma)


# ---------------------------------------------------------------------------- helpers
def check_label_map(label_map: np.ndarray, camera: Camera) -> np.ndarray:
    """``label_map`` as int32 after checking it is 2D, integer and non-negative.

    Raises
    ------
    ValueError
        Naming ``camera`` for a map of the wrong kind, negative ids or ids beyond int32.
    """
    values = np.asarray(label_map)
    if values.ndim != 2 or not (np.issubdtype(values.dtype, np.integer) or values.dtype == bool):
        raise ValueError(
            f"label map for camera {camera.name!r} must be a 2D integer array, got "
            f"{values.dtype} of shape {values.shape}"
        )
    if values.size and values.min() < 0:
        raise ValueError(f"label map for camera {camera.name!r} has negative ids")
    if values.size and values.max() > np.iinfo(np.int32).max:
        raise ValueError(f"label map for camera {camera.name!r} has ids beyond int32")
    return values.astype(np.int32, copy=False)


@numba.njit(cache=True, nogil=True)
def _fold_pixels(ids, weights, pixel_labels, slot_labels, slot_weights, beta):
    dropped = 0.0
    num_slots = slot_labels.shape[1]
    for p in range(ids.shape[0]):
        label = pixel_labels[p]
        for k in range(ids.shape[1]):
            g = ids[p, k]
            if g < 0:
                break
            w = np.float64(weights[p, k])
            if w <= 0.0:
                continue
            beta[g] += w
            target = -1
            for s in range(num_slots):
                current = slot_labels[g, s]
                if current == label or current < 0:
                    target = s
                    break
            if target < 0:
                dropped += w
                continue
            slot_labels[g, target] = label
            slot_weights[g, target] += w
    return dropped


@numba.njit(cache=True, nogil=True)
def _count_entries(slot_labels):
    count = 0
    for g in range(slot_labels.shape[0]):
        for s in range(slot_labels.shape[1]):
            if slot_labels[g, s] >= 0:
                count += 1
    return count


@numba.njit(cache=True, nogil=True)
def _fill_entries(slot_labels, slot_weights, gaussians, labels, weights):
    e = 0
    for g in range(slot_labels.shape[0]):
        start = e
        for s in range(slot_labels.shape[1]):
            if slot_labels[g, s] < 0:
                break
            gaussians[e] = g
            labels[e] = slot_labels[g, s]
            weights[e] = slot_weights[g, s]
            e += 1
        # insertion sort of this Gaussian's few entries by label
        for i in range(start + 1, e):
            lab, wt = labels[i], weights[i]
            j = i - 1
            while j >= start and labels[j] > lab:
                labels[j + 1] = labels[j]
                weights[j + 1] = weights[j]
                j -= 1
            labels[j + 1] = lab
            weights[j + 1] = wt


def _table_entries(
    slot_labels: np.ndarray, slot_weights: np.ndarray
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    count = _count_entries(slot_labels)
    gaussians = np.empty(count, dtype=np.int32)
    labels = np.empty(count, dtype=np.int32)
    weights = np.empty(count, dtype=np.float32)
    _fill_entries(slot_labels, slot_weights, gaussians, labels, weights)
    return gaussians, labels, weights


@numba.njit(cache=True, nogil=True)
def _merge_view(gaussians, labels, weights, table_labels, table_weights, background):
    dropped = 0.0
    num_slots = table_labels.shape[1]
    for e in range(gaussians.shape[0]):
        g = gaussians[e]
        label = labels[e]
        w = weights[e]
        if label == 0:
            background[g] += w
            continue
        target = -1
        lightest = 0
        for s in range(num_slots):
            current = table_labels[g, s]
            if current == label or current == 0:
                target = s
                break
            if table_weights[g, s] < table_weights[g, lightest]:
                lightest = s
        if target >= 0:
            table_labels[g, target] = label
            table_weights[g, target] += w
        elif table_weights[g, lightest] < w:
            dropped += table_weights[g, lightest]
            table_labels[g, lightest] = label
            table_weights[g, lightest] = w
        else:
            dropped += w
    return dropped


@numba.njit(cache=True, nogil=True)
def _sort_slots(table_labels, table_weights):
    num_slots = table_labels.shape[1]
    for g in range(table_labels.shape[0]):
        for i in range(1, num_slots):
            lab, wt = table_labels[g, i], table_weights[g, i]
            j = i - 1
            while j >= 0 and table_weights[g, j] < wt:
                table_labels[g, j + 1] = table_labels[g, j]
                table_weights[g, j + 1] = table_weights[g, j]
                j -= 1
            table_labels[g, j + 1] = lab
            table_weights[g, j + 1] = wt
