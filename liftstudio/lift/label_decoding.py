"""Per-Gaussian labels from what a learned method predicts per pixel.

A learned method is trained on rendered quantities: a pixel's feature is the blend of
the features of the Gaussians behind it. A single Gaussian's own feature is therefore
only loosely constrained (one that carries little weight anywhere can point anywhere),
and reading labels off it directly leaves specks of stray labels on objects.
:func:`decode_by_votes` reads the labels where they were trained instead: every covered
pixel of every training view gets the label the method predicts from its rendered
quantity, and those label maps, consistent across views by construction, are lifted
onto the Gaussians with the sparse votes of :mod:`~liftstudio.lift.votes` (FlashSplat).
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import torch

from liftstudio.jobs import CancelToken, ProgressCallback, check_cancelled, report
from liftstudio.lift.feature_training import render_pixels
from liftstudio.lift.training_views import TrainingSet, TrainingView
from liftstudio.lift.votes import VoteAssignment, VoteTable, assign_labels, fold_view
from liftstudio.render.results import OperatorRows

#: Pixels with less total weight (alpha) than this vote for "no label", as the rule that
#: renders label maps (argmax where alpha >= 0.5) would leave them void.
MIN_ALPHA = 0.5

PixelPredictor = Callable[[np.ndarray], np.ndarray]
"""``predict(rendered (P, C)) -> (P,) int labels >= 1`` for pixels of rendered values."""


def render_view(view: TrainingView, values: np.ndarray, chunk: int = 65_536) -> np.ndarray:
    """(P, C) float32: per-Gaussian ``values`` (N, C) rendered at every kept pixel of ``view``."""
    table = torch.from_numpy(np.ascontiguousarray(values, dtype=np.float32))
    out = np.empty((view.num_pixels, values.shape[1]), dtype=np.float32)
    with torch.no_grad():
        for start in range(0, view.num_pixels, chunk):
            batch = view.batch(np.arange(start, min(start + chunk, view.num_pixels)))
            rendered = render_pixels(
                table, torch.from_numpy(batch.ids), torch.from_numpy(batch.weights)
            )
            out[start : start + len(batch)] = rendered.numpy()
    return out


def view_alpha(view: TrainingView) -> np.ndarray:
    """(P,) float32: total blending weight of each kept pixel (top-K rows)."""
    return view.weights.astype(np.float32).sum(axis=1)


def decode_by_votes(
    training: TrainingSet,
    values: np.ndarray,
    predict: PixelPredictor,
    *,
    min_visibility: float = 0.05,
    min_margin: float = 0.0,
    progress: ProgressCallback | None = None,
    cancel: CancelToken | None = None,
) -> VoteAssignment:
    """Render ``values`` into every training view, label its pixels, vote the labels back.

    Parameters
    ----------
    training
        The views (with all covered pixels).
    values : (N, C)
        Per-Gaussian quantities the method renders (features, embeddings, probabilities).
    predict
        Labels (>= 1) of pixels from their rendered values.
    min_visibility
        Gaussians with at most this total weight stay unlabeled (unseen).
    min_margin
        Lead the winning label needs over the runner-up, as a share of visibility.
    progress, cancel
        One progress step per view; cancel checked between views.

    Returns
    -------
    VoteAssignment
        Labels as predicted (not renumbered) and their confidence.
    """
    table = VoteTable(training.num_gaussians, slots=4)
    for index, view in enumerate(training.views):
        check_cancelled(cancel)
        report(progress, index + 1, len(training.views), f"labels of view {view.name}")
        if view.num_pixels == 0:
            continue
        labels = np.asarray(predict(render_view(view, values)), dtype=np.int32)
        labels[view_alpha(view) < MIN_ALPHA] = 0
        rows = OperatorRows(
            ids=view.ids[:, None, :],
            weights=view.weights[:, None, :],
            residual=np.zeros((view.num_pixels, 1), dtype=np.float32),
        )
        table.add(fold_view(rows, labels[:, None], training.num_gaussians))
    return assign_labels(table.finish(), min_visibility=min_visibility, min_margin=min_margin)


def compact_labels(labels: np.ndarray) -> np.ndarray:
    """(N,) int32: the non-zero labels renumbered ``1..M`` in increasing order, 0 kept."""
    if labels.size == 0:
        return np.zeros(0, dtype=np.int32)
    values, inverse = np.unique(labels, return_inverse=True)
    ranks = np.arange(len(values), dtype=np.int32) + (0 if values[0] == 0 else 1)
    return ranks[inverse.reshape(-1)]
