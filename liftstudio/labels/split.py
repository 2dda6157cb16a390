"""Split an instance into its spatially connected parts.

A lift or a brush stroke often leaves an instance in several pieces: the chair plus a
few floaters on the far wall, or two chairs that received the same id. :func:`split_instance`
keeps the largest connected part under the instance's id and moves every other part
into a new instance, in one undo step. :func:`connected_parts` is the geometric part,
usable on its own (e.g. to preview the parts before splitting).

Connectivity is that of a gap-limited k-nearest-neighbour graph of the Gaussian centres
(see :func:`connected_parts` for the exact definition). It is computed among the
instance's own Gaussians only: other instances and unlabeled Gaussians never bridge two
parts.
"""

from __future__ import annotations

import math
import re

import numpy as np
from scipy import sparse
from scipy.sparse.csgraph import connected_components
from scipy.spatial import cKDTree

from liftstudio.labels.label_model import InstanceLockedError, LabelModel

SPLIT_SOURCE = "split"
"""Provenance and undo-step text of the edits made by :func:`split_instance`."""

_COPY_SUFFIX = re.compile(r" \((\d+)\)$")


def connected_parts(
    means: np.ndarray,
    indices: np.ndarray,
    *,
    neighbours: int = 8,
    gap: float | None = None,
    gap_factor: float = 4.0,
) -> list[np.ndarray]:
    """The Gaussians ``indices`` split into spatially connected parts.

    Definition. Let ``P`` be the set of *distinct* positions among ``means[indices]``
    (Gaussians at exactly the same position are one node and always share a part).

    1. Each position of ``P`` is linked to its ``min(neighbours, |P| - 1)`` nearest
       other positions of ``P`` (Euclidean, :class:`scipy.spatial.cKDTree`); the links
       are undirected, so ``p`` and ``q`` are linked when either is among the other's
       nearest.
    2. Links longer than ``gap`` are dropped (a link of length exactly ``gap`` stays).
       By default ``gap = gap_factor × median_p d(p)``, where ``d(p)`` is the distance
       from ``p`` to its nearest other position of ``P``.
    3. The parts are the connected components of the remaining graph
       (:func:`scipy.sparse.csgraph.connected_components`), mapped back to the
       Gaussians.

    Only the Gaussians of ``indices`` take part: points outside the set never connect
    two parts. When no two Gaussians share a position this is exactly the symmetric kNN
    graph of the points themselves.

    Parameters
    ----------
    means : (N, 3) array
        Positions of every Gaussian of the scene.
    indices : (M,) int array
        The Gaussians to split (repeats are ignored).
    neighbours
        ``k`` of the kNN graph, >= 1.
    gap
        Longest link kept, in world units (>= 0); None derives it from ``gap_factor``.
    gap_factor
        Multiple of the median nearest-neighbour distance used when ``gap`` is None,
        >= 0.

    Returns
    -------
    list of (K,) int64
        The parts as sorted scene indices, largest first (equal sizes: the part holding
        the smallest index first). Empty for empty ``indices``; one part for one
        distinct position.

    Raises
    ------
    ValueError
        For ``means`` not of shape (N, 3), indices that are not integers or lie outside
        ``[0, N)``, non-finite positions among ``means[indices]``, or a bad
        ``neighbours``, ``gap`` or ``gap_factor``.
    """
    means = np.asarray(means)
    if means.ndim != 2 or means.shape[1] != 3:
        raise ValueError(f"means must be an (N, 3) array of positions, got shape {means.shape}")
    indices = _check_indices(indices, means.shape[0])
    k = _check_neighbours(neighbours)
    gap = _check_gap(gap, gap_factor)
    if indices.size == 0:
        return []
    points = np.asarray(means[indices], dtype=np.float64)
    bad = ~np.isfinite(points).all(axis=1)
    if bad.any():
        raise ValueError(
            f"means must be finite: {int(bad.sum())} of the {indices.size} Gaussians to "
            f"split have NaN or infinite positions (first: Gaussian {int(indices[bad][0])})"
        )
    return _parts_from_labels(indices, _component_labels(points, k, gap, gap_factor))


def split_instance(
    model: LabelModel,
    instance_id: int,
    means: np.ndarray,
    *,
    min_size: int = 1,
    neighbours: int = 8,
    gap: float | None = None,
    gap_factor: float = 4.0,
) -> list[int]:
    """Split an instance into its connected parts, in one undo step.

    The parts are those of :func:`connected_parts` on the instance's Gaussians. The
    largest part keeps ``instance_id``; every other part of at least ``min_size``
    Gaussians becomes a new instance named after the original (``"chair"`` gives
    ``"chair (2)"``, ``"chair (3)"``, ..., skipping names already in use; a ``" (n)"`` suffix of
    the original is dropped first, so splitting ``"chair (2)"`` continues the
    numbering), with the original's class and visibility and its own palette colour.
    Smaller parts stay in the original instance. The moved Gaussians get the
    provenance ``"split"`` and confidence 1, as any hand edit.

    Parameters
    ----------
    model
        The label model to edit.
    instance_id
        The instance to split (>= 1, with Gaussians or a table row).
    means : (N, 3) array
        Positions of every Gaussian, ``N == model.num_gaussians``.
    min_size
        Smallest part, in Gaussians, that becomes its own instance (>= 1).
    neighbours, gap, gap_factor
        As for :func:`connected_parts`.

    Returns
    -------
    list of int
        The ids of the new instances, in the order of their parts (largest first);
        empty when the instance is already connected (nothing is recorded then).

    Raises
    ------
    InstanceLockedError
        When the instance is locked (nothing changes).
    ValueError
        For ``instance_id`` 0 or below, an id with neither Gaussians nor a table row,
        ``means`` of the wrong shape or non-finite member positions, or bad parameters.
    """
    instance_id = int(instance_id)
    if instance_id < 1:
        raise ValueError(
            f"instance ids start at 1 (0 means unlabeled and cannot be split), got {instance_id}"
        )
    if isinstance(min_size, bool) or int(min_size) != min_size or min_size < 1:
        raise ValueError(f"min_size must be an integer >= 1, got {min_size!r}")
    means = np.asarray(means)
    if means.shape != (model.num_gaussians, 3):
        raise ValueError(
            f"means must have shape ({model.num_gaussians}, 3), one position per Gaussian "
            f"of the model; got {means.shape}"
        )
    _checked_target(model, instance_id)
    parts = connected_parts(
        means,
        model.members(instance_id),
        neighbours=neighbours,
        gap=gap,
        gap_factor=gap_factor,
    )
    return apply_split(model, instance_id, parts, min_size=min_size)


def apply_split(
    model: LabelModel, instance_id: int, parts: list[np.ndarray], *, min_size: int = 1
) -> list[int]:
    """Make new instances of ``parts[1:]`` (the second half of :func:`split_instance`).

    For callers that compute the parts elsewhere (the app, on a worker thread): the
    parts must still partition the instance's Gaussians, else nothing changes.

    Parameters
    ----------
    model, instance_id, min_size
        As for :func:`split_instance`.
    parts
        :func:`connected_parts` of the instance's members, largest first.

    Returns
    -------
    list of int
        The ids of the new instances (empty: nothing to split).

    Raises
    ------
    InstanceLockedError
        When the instance is locked.
    ValueError
        When the parts no longer cover the instance's Gaussians exactly (it was edited
        since they were computed), or for an unknown id or a bad ``min_size``.
    """
    original = _checked_target(model, int(instance_id))
    if isinstance(min_size, bool) or int(min_size) != min_size or min_size < 1:
        raise ValueError(f"min_size must be an integer >= 1, got {min_size!r}")
    members = model.members(instance_id)
    covered = np.sort(np.concatenate(parts)) if parts else np.zeros(0, np.int64)
    if not np.array_equal(covered, members):
        raise ValueError(f"{original.name} changed since its parts were computed; split it again")
    moved = [part for part in parts[1:] if part.size >= min_size]
    if not moved:
        return []
    taken = {i.name for i in model.instances()}
    names = _copy_names(original.name, taken, len(moved))
    new_ids: list[int] = []
    with model.step(SPLIT_SOURCE):
        for part, name in zip(moved, names, strict=True):
            new_id = model.new_instance(part, name=name, source=SPLIT_SOURCE)
            model.update_instance(new_id, class_name=original.class_name, visible=original.visible)
            new_ids.append(new_id)
    return new_ids


def _checked_target(model: LabelModel, instance_id: int):
    """The instance record of ``instance_id``, checked to exist and be unlocked."""
    instances = {i.id: i for i in model.instances()}
    if instance_id not in instances:
        raise ValueError(f"there is no instance {instance_id}")
    original = instances[instance_id]
    if original.locked:
        raise InstanceLockedError(f"{original.name} is locked; unlock it")
    return original


# ---------------------------------------------------------------------------- internals
def _component_labels(
    points: np.ndarray, neighbours: int, gap: float | None, gap_factor: float
) -> np.ndarray:
    """Component label of each point; points at one position share a node."""
    if points.shape[0] == 1:
        return np.zeros(1, dtype=np.int64)
    order, neighbour_ids, distances = _nearest(points, neighbours)
    if distances[:, 0].min() == 0:  # some positions repeat: one node per position
        node_of_point, positions = _distinct_positions(points)
        if positions.shape[0] < points.shape[0]:
            if positions.shape[0] == 1:
                return np.zeros(points.shape[0], dtype=np.int64)
            order, neighbour_ids, distances = _nearest(positions, neighbours)
            labels = _graph_components(order, neighbour_ids, distances, gap, gap_factor)
            return labels[node_of_point]
    return _graph_components(order, neighbour_ids, distances, gap, gap_factor)


def _nearest(positions: np.ndarray, neighbours: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The ``min(neighbours, m - 1)`` nearest other positions of each of ``m >= 2``.

    Returns ``(order, neighbour_ids, distances)``: row ``r`` of the (m, k) arrays lists
    the neighbours of position ``order[r]``, nearest first. The queries run in the
    kd-tree's leaf order (neighbouring queries walk the same nodes: several times
    faster on large sets than a random order).
    """
    m = positions.shape[0]
    k = min(neighbours, m - 1)
    tree = cKDTree(positions)
    order = tree.indices
    distances, neighbour_ids = tree.query(positions[order], k=k + 1, workers=-1)
    # Drop each position itself from its list (it is normally first, but a tie at
    # distance 0 may reorder it; when it is missing, the farthest of the k + 1 goes).
    is_self = neighbour_ids == order[:, None]
    is_self[~is_self.any(axis=1), -1] = True
    keep = ~is_self
    return order, neighbour_ids[keep].reshape(m, k), distances[keep].reshape(m, k)


def _graph_components(
    order: np.ndarray,
    neighbour_ids: np.ndarray,
    distances: np.ndarray,
    gap: float | None,
    gap_factor: float,
) -> np.ndarray:
    """Connected-component label of each position under the gap-limited kNN graph."""
    m = neighbour_ids.shape[0]
    if gap is None:
        gap = gap_factor * float(np.median(distances[:, 0]))
    # Nodes are numbered in query order (row r is position order[r]): the rows are then
    # already sorted, so the CSR arrays are written directly, and neighbours lie close.
    rank = np.empty(m, dtype=np.int32)
    rank[order] = np.arange(m, dtype=np.int32)
    linked = distances <= gap
    indptr = np.zeros(m + 1, dtype=np.int64)
    np.cumsum(np.count_nonzero(linked, axis=1), out=indptr[1:])
    targets = rank[neighbour_ids[linked]]
    graph = sparse.csr_array((np.ones(targets.size, dtype=np.int8), targets, indptr), shape=(m, m))
    _, ranked_labels = connected_components(graph, directed=False)
    labels = np.empty(m, dtype=np.int64)
    labels[order] = ranked_labels
    return labels


def _distinct_positions(points: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """``(node_of_point, positions)``: each point's distinct-position index, and those."""
    n = points.shape[0]
    order = np.lexsort(points.T[::-1])
    ordered = points[order]
    starts = np.ones(n, dtype=bool)
    starts[1:] = np.any(ordered[1:] != ordered[:-1], axis=1)
    node_of_point = np.empty(n, dtype=np.int64)
    node_of_point[order] = np.cumsum(starts) - 1
    return node_of_point, ordered[starts]


def _parts_from_labels(indices: np.ndarray, labels: np.ndarray) -> list[np.ndarray]:
    """Group the sorted ``indices`` by label: largest group first, ties by first index."""
    order = np.argsort(labels, kind="stable")  # each group stays sorted by index
    sizes = np.bincount(labels)
    present = np.flatnonzero(sizes)
    groups = np.split(indices[order], np.cumsum(sizes[present])[:-1])
    firsts = np.array([g[0] for g in groups], dtype=np.int64)
    rank = np.lexsort((firsts, -sizes[present]))
    return [groups[r] for r in rank]


def _copy_names(name: str, taken: set[str], count: int) -> list[str]:
    """``count`` names ``"<base> (n)"``, n >= 2, not in ``taken``."""
    base = _COPY_SUFFIX.sub("", name)
    names: list[str] = []
    n = 2
    while len(names) < count:
        candidate = f"{base} ({n})"
        if candidate not in taken:
            names.append(candidate)
        n += 1
    return names


def _check_indices(indices: np.ndarray, n: int) -> np.ndarray:
    indices = np.asarray(indices)
    if indices.size == 0:
        return np.zeros(0, dtype=np.int64)
    if indices.ndim != 1 or indices.dtype == bool or not np.issubdtype(indices.dtype, np.integer):
        raise ValueError(
            f"indices must be a 1-D integer array, got shape {indices.shape} dtype {indices.dtype}"
        )
    indices = np.unique(indices.astype(np.int64, copy=False))
    if indices[0] < 0 or indices[-1] >= n:
        raise ValueError(f"indices must lie in [0, {n})")
    return indices


def _check_neighbours(neighbours: int) -> int:
    if isinstance(neighbours, bool) or int(neighbours) != neighbours or neighbours < 1:
        raise ValueError(f"neighbours must be an integer >= 1, got {neighbours!r}")
    return int(neighbours)


def _check_gap(gap: float | None, gap_factor: float) -> float | None:
    factor = float(gap_factor)
    if not (math.isfinite(factor) and factor >= 0):
        raise ValueError(f"gap_factor must be a finite number >= 0, got {gap_factor!r}")
    if gap is None:
        return None
    gap = float(gap)
    if not (math.isfinite(gap) and gap >= 0):
        raise ValueError(f"gap must be a finite distance >= 0 or None, got {gap!r}")
    return gap
