"""Matching a view's mask ids to global identities (area-aware Hungarian, DESIGN §5).

Mask ids of one view say nothing about the ids of another. Methods that predict global
identities (a codebook entry, a decoder's output class) match each view's masks to
identities every step: the cost of giving mask ``l`` identity ``k`` is minus the summed
probability its pixels put on ``k``. Unified-Lift's *area-aware* mapping sums over the
pixels where Panoptic Lifting averaged, so large masks dominate the matching and small
ones cannot steal an identity from them.
"""

from __future__ import annotations

import numpy as np
import torch
from scipy.optimize import linear_sum_assignment


def assignment_cost(
    probabilities: np.ndarray | torch.Tensor,
    pixel_mask: np.ndarray | torch.Tensor,
    num_masks: int,
    *,
    area_aware: bool = True,
) -> np.ndarray:
    """(M, L) cost ``cost[l, k] = −Σ_{p ∈ mask l} probabilities[p, k]`` (or the mean).

    Parameters
    ----------
    probabilities : (P, L) array or tensor
        Each pixel's distribution over the L identities.
    pixel_mask : (P,) integer array or tensor
        Mask index ``0..M-1`` per pixel; negative entries are left out.
    num_masks
        M.
    area_aware
        Sum over a mask's pixels (Unified-Lift) instead of averaging (Panoptic Lifting).

    Returns
    -------
    (M, L) float64 array
    """
    probabilities = torch.as_tensor(probabilities).detach()
    pixel_mask = torch.as_tensor(pixel_mask).detach().to(torch.int64)
    inside = pixel_mask >= 0
    index = pixel_mask[inside]
    sums = probabilities.new_zeros((num_masks, probabilities.shape[1]))
    sums = sums.index_add(0, index, probabilities[inside])
    cost = -sums.cpu().numpy().astype(np.float64)
    if not area_aware:
        counts = np.bincount(index.cpu().numpy(), minlength=num_masks)
        cost /= np.maximum(counts, 1)[:, None]
    return cost


def match_masks_to_identities(cost: np.ndarray) -> np.ndarray:
    """(M,) int64: the identity each mask is given by a minimum-cost one-to-one matching.

    With more masks than identities, the masks left without one get -1.
    """
    cost = np.asarray(cost, dtype=np.float64)
    if cost.size == 0:
        return np.full(cost.shape[0], -1, dtype=np.int64)
    rows, cols = linear_sum_assignment(cost)
    matched = np.full(cost.shape[0], -1, dtype=np.int64)
    matched[rows] = cols
    return matched
