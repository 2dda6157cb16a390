"""Reading per-Gaussian labels from per-pixel predictions, by votes."""

from __future__ import annotations

import numpy as np

from liftstudio.lift.label_decoding import compact_labels, decode_by_votes, render_view
from liftstudio.lift.training_views import prepare_training_views


def test_rendered_one_hot_truth_decodes_to_the_truth(
    cpu_backend, small_tabletop, small_tabletop_clean_masks
):
    scene = small_tabletop
    training = prepare_training_views(
        cpu_backend, scene.gaussians, scene.train_cameras, small_tabletop_clean_masks
    )
    truth = scene.instance_ids
    one_hot = np.eye(truth.max() + 1, dtype=np.float32)[truth]
    decoded = decode_by_votes(training, one_hot, lambda rendered: np.argmax(rendered, axis=1))
    well_seen = training.visibility > 2.0
    assert np.mean(decoded.labels[well_seen] == truth[well_seen]) > 0.97
    assert (decoded.labels[training.visibility <= 0.05] == 0).all()
    # Stray per-Gaussian values do not survive: flip 5% of the one-hot rows of seen
    # Gaussians; the rendered predictions still outvote them.
    noisy = one_hot.copy()
    rng = np.random.default_rng(0)
    flipped = rng.choice(np.flatnonzero(well_seen), size=int(0.05 * well_seen.sum()), replace=False)
    noisy[flipped] = np.roll(noisy[flipped], 1, axis=1)
    again = decode_by_votes(training, noisy, lambda rendered: np.argmax(rendered, axis=1))
    assert np.mean(again.labels[flipped] == truth[flipped]) > 0.8


def test_render_view_is_the_weighted_sum_of_the_rows(
    cpu_backend, small_tabletop, small_tabletop_clean_masks
):
    scene = small_tabletop
    training = prepare_training_views(
        cpu_backend, scene.gaussians, scene.train_cameras[:1], small_tabletop_clean_masks[:1]
    )
    view = training.views[0]
    values = np.random.default_rng(1).normal(size=(len(scene.gaussians), 2)).astype(np.float32)
    weights = view.weights.astype(np.float32) * (view.ids >= 0)
    expected = np.einsum("pk,pkc->pc", weights, values[np.maximum(view.ids, 0)])
    np.testing.assert_allclose(render_view(view, values, chunk=100), expected, rtol=1e-4,
                               atol=1e-5)  # fmt: skip


def test_compact_labels():
    np.testing.assert_array_equal(compact_labels(np.array([0, 7, 3, 7, 0])), [0, 2, 1, 2, 0])
    np.testing.assert_array_equal(compact_labels(np.array([5, 9])), [1, 2])
    assert compact_labels(np.zeros(0, int)).size == 0
