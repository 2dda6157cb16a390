"""Overlapping binary masks of one view, and how they become one label map.

Automatic mask generators (SAM, and the files SAGA and OmniSeg3D keep) give each view
a *stack* of binary masks that may overlap: a whole chair and its seat, say. Lifting
methods take one integer id per pixel, so a stack is *flattened* by painting the
masks from the largest to the smallest: where masks overlap the smaller (more
specific) one wins, and the larger one keeps the pixels nothing smaller covers.

The nesting that flattening hides is kept as a hierarchy: each mask's *parent* is the
smallest larger mask that contains (nearly) all of it, for the methods and tools that
want the whole chair when the seat is clicked.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import scipy.sparse as sp


@dataclass(frozen=True)
class MaskStack:
    """The binary masks of one view.

    Attributes
    ----------
    masks : (M, H, W) bool
        One mask per row; masks may overlap. ``M`` may be 0.
    scores : (M,) float32 or None
        A quality score per mask when the source has one (SAM's predicted IoU).
    """

    masks: np.ndarray
    scores: np.ndarray | None = None

    def __post_init__(self) -> None:
        masks = np.asarray(self.masks)
        if masks.ndim != 3:
            raise ValueError(f"a mask stack is (M, H, W); got shape {masks.shape}")
        if masks.dtype != bool:
            raise ValueError(f"a mask stack holds bool masks; got {masks.dtype}")
        object.__setattr__(self, "masks", masks)
        if self.scores is not None:
            scores = np.asarray(self.scores, dtype=np.float32).reshape(-1)
            if len(scores) != len(masks):
                raise ValueError(f"{len(scores)} scores for {len(masks)} masks")
            object.__setattr__(self, "scores", scores)

    def __len__(self) -> int:
        return len(self.masks)

    @property
    def shape(self) -> tuple[int, int]:
        """``(H, W)`` of the view."""
        return self.masks.shape[1], self.masks.shape[2]

    @property
    def areas(self) -> np.ndarray:
        """(M,) int64 pixel count of each mask."""
        count, height, width = self.masks.shape  # explicit: reshape(0, -1) fails
        return self.masks.reshape(count, height * width).sum(axis=1, dtype=np.int64)


@dataclass(frozen=True)
class FlatMasks:
    """A mask stack flattened into one label map, with the hierarchy it hides.

    Attributes
    ----------
    label_map : (H, W) int32
        ``i + 1`` where mask ``i`` of the stack is the smallest mask covering the
        pixel, 0 where no mask does. A mask wholly covered by smaller ones has no
        pixel left.
    parents : (M,) int32
        Per mask, the index of its parent (the smallest larger mask containing at
        least ``min_containment`` of it), -1 for a root.
    """

    label_map: np.ndarray
    parents: np.ndarray

    def visible_ids(self) -> np.ndarray:
        """Sorted ids (``mask index + 1``) that still own pixels in :attr:`label_map`."""
        ids = np.unique(self.label_map)
        return ids[ids > 0]


def flatten_masks(stack: MaskStack, *, min_containment: float = 0.9) -> FlatMasks:
    """Paint the masks largest first, so smaller masks win where they overlap.

    Parameters
    ----------
    stack
        The view's masks.
    min_containment
        The fraction of a mask that must lie inside a larger mask for that mask to be
        its parent (in (0, 1]).

    Returns
    -------
    FlatMasks
        The label map (mask ``i`` has id ``i + 1``) and each mask's parent. Ties in
        area are painted in stack order, so the later mask wins.
    """
    if not 0.0 < min_containment <= 1.0:
        raise ValueError(f"min_containment must be in (0, 1], got {min_containment}")
    label_map = paint_larger_first(stack.masks)
    return FlatMasks(label_map=label_map, parents=mask_parents(stack, min_containment))


def paint_larger_first(masks: np.ndarray) -> np.ndarray:
    """Paint (M, H, W) bool masks from the largest to the smallest; mask ``i`` gets id ``i + 1``.

    Ties in area are painted in stack order, so the later mask wins; 0 where no mask is.
    """
    count, height, width = masks.shape
    areas = masks.reshape(count, height * width).sum(axis=1, dtype=np.int64)
    label_map = np.zeros((height, width), dtype=np.int32)
    for index in np.argsort(-areas, kind="stable"):
        label_map[masks[index]] = index + 1
    return label_map


def mask_parents(stack: MaskStack, min_containment: float = 0.9) -> np.ndarray:
    """Each mask's parent: the smallest strictly larger mask holding most of it.

    Parameters
    ----------
    stack
        The view's masks.
    min_containment
        Fraction of the child's pixels that must lie inside the parent.

    Returns
    -------
    (M,) int32
        Parent index per mask, -1 where none qualifies. Among equal-area candidates
        the one earliest in the stack is taken.
    """
    count = len(stack)
    parents = np.full(count, -1, dtype=np.int32)
    if count < 2:
        return parents
    # int64 counts: float32 stops counting exactly past 2**24 pixels (a 17 MP image)
    flat = sp.csr_matrix(stack.masks.reshape(count, -1), dtype=np.int64)
    overlap = (flat @ flat.T).toarray()
    areas = stack.areas.astype(np.float64)
    for child in range(count):
        if areas[child] == 0:
            continue
        candidates = np.flatnonzero(
            (areas > areas[child]) & (overlap[child] >= min_containment * areas[child])
        )
        if len(candidates):
            parents[child] = candidates[np.argmin(areas[candidates], axis=0)]
    return parents
