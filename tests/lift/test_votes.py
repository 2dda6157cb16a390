"""Sparse label votes: against dense uplift of one-hot maps, and on hand-made tables."""

from __future__ import annotations

import numpy as np
import pytest

from liftstudio.evaluate.mask_simulation import make_masks
from liftstudio.evaluate.metrics import gaussian_accuracy, pq_scene
from liftstudio.evaluate.scenes import make
from liftstudio.jobs import CancelToken, JobCancelled
from liftstudio.lift.registry import LiftInputs, lift_methods
from liftstudio.lift.votes import (
    SparseVotes,
    ViewLabelWeights,
    VoteOutcome,
    VoteTable,
    accumulate_votes,
    assign_labels,
    fold_view,
    label_weights_in_view,
    one_vs_rest,
)
from liftstudio.render.label_maps import render_label_maps
from liftstudio.render.registry import resolve_backend
from liftstudio.render.results import OperatorRows

SMALL = {"width": 96, "height": 72, "num_train": 6, "num_test": 2}


@pytest.fixture(scope="module")
def backend():
    return resolve_backend("cpu")


@pytest.fixture(scope="module")
def scene(backend):
    return make("tabletop", 5, num_gaussians=8_000, backend=backend, **SMALL)


def dense_votes(backend, scene, maps):
    """Brute force: uplift the one-hot maps of every label through the backend's uplift."""
    top = max(int(m.max()) for m in maps)
    onehot = [np.stack([m == label for label in range(top + 1)], axis=-1) for m in maps]
    result = backend.uplift(scene.gaussians, scene.train_cameras, onehot)
    return result.weighted_sum.astype(np.float64), result.beta.astype(np.float64)


def test_votes_match_dense_uplift_of_one_hot_maps(backend, scene):
    maps = scene.train_gt
    dense, beta = dense_votes(backend, scene, maps)
    votes = accumulate_votes(
        backend, scene.gaussians, scene.train_cameras, maps, slots=8, top_k=None
    )
    assert votes.dropped == 0.0
    assert votes.residual == pytest.approx(0.0, abs=1e-3)
    np.testing.assert_allclose(votes.beta, beta, rtol=2e-3, atol=1e-4)
    np.testing.assert_allclose(votes.background, dense[:, 0], rtol=2e-3, atol=1e-4)
    sparse = np.zeros_like(dense)
    rows = np.repeat(np.arange(len(dense))[:, None], votes.slots, axis=1)
    kept = votes.labels > 0
    np.add.at(sparse, (rows[kept], votes.labels[kept]), votes.weights[kept])
    np.testing.assert_allclose(sparse[:, 1:], dense[:, 1:], rtol=2e-3, atol=1e-4)
    # Heaviest first in every row.
    assert np.all(np.diff(votes.weights, axis=1) <= 0)


def test_view_weights_are_sorted_pairs_that_sum_to_beta(backend, scene):
    view = label_weights_in_view(
        backend, scene.gaussians, scene.train_cameras[0], scene.train_gt[0]
    )
    keys = view.gaussians.astype(np.int64) * 10_000 + view.labels
    assert np.all(np.diff(keys) > 0)  # sorted, one entry per (Gaussian, label)
    per_gaussian = np.bincount(view.gaussians, weights=view.weights, minlength=len(view.beta))
    np.testing.assert_allclose(per_gaussian, view.beta, rtol=1e-4, atol=1e-6)


def test_label_map_at_a_smaller_size_is_rendered_at_that_size(backend, scene):
    camera = scene.train_cameras[1]
    half = scene.train_gt[1][::2, ::2]
    view = label_weights_in_view(backend, scene.gaussians, camera, half)
    rows = backend.operator_rows(scene.gaussians, camera, resolution=(half.shape[1], half.shape[0]))
    assert view.beta.sum() == pytest.approx(float(rows.weights.astype(np.float64).sum()), rel=1e-3)


def synthetic_rows(entries: list[list[tuple[int, float]]]) -> OperatorRows:
    """A 1 x P operator from per-pixel (gaussian, weight) lists."""
    k = max(len(e) for e in entries)
    ids = np.full((1, len(entries), k), -1, dtype=np.int32)
    weights = np.zeros((1, len(entries), k), dtype=np.float32)
    for p, pixel in enumerate(entries):
        for j, (g, w) in enumerate(pixel):
            ids[0, p, j], weights[0, p, j] = g, w
    return OperatorRows(ids, weights, np.zeros((1, len(entries)), dtype=np.float32))


def test_full_slot_tables_keep_the_heaviest_labels_and_count_the_rest():
    # Gaussian 0 sees labels 1..6 over six views with weights 6, 1, 5, 2, 4, 3.
    table = VoteTable(num_gaussians=2, slots=3)
    for label, weight in zip(range(1, 7), [6.0, 1.0, 5.0, 2.0, 4.0, 3.0], strict=True):
        rows = synthetic_rows([[(0, weight), (1, 0.5)]])
        table.add(fold_view(rows, np.array([[label]]), 2))
    votes = table.finish()
    assert votes.labels[0].tolist() == [1, 3, 5]
    np.testing.assert_allclose(votes.weights[0], [6.0, 5.0, 4.0])
    # Gaussian 0 drops label 2 (1) for 4, label 4 (2) for 5, and the arriving 6 (3);
    # Gaussian 1 keeps its first three labels and drops the three ties of 0.5.
    assert votes.dropped == pytest.approx(1.0 + 2.0 + 3.0 + 3 * 0.5)
    np.testing.assert_allclose(votes.beta, [21.0, 3.0])
    assert votes.weights[0].sum() + votes.background[0] <= votes.beta[0]


def test_memory_is_within_twelve_bytes_per_gaussian_per_kept_label():
    table = VoteTable(num_gaussians=1000, slots=4)
    votes = table.finish()
    assert votes.bytes_per_gaussian_per_label() <= 12.0


def hand_votes(rows: list[tuple[list[int], list[float], float, float]]) -> SparseVotes:
    """Votes from (labels, weights, background, beta) per Gaussian."""
    slots = max(len(r[0]) for r in rows)
    labels = np.zeros((len(rows), slots), dtype=np.int32)
    weights = np.zeros((len(rows), slots), dtype=np.float32)
    for i, (lab, wt, _, _) in enumerate(rows):
        labels[i, : len(lab)] = lab
        weights[i, : len(wt)] = wt
    background = np.array([r[2] for r in rows], dtype=np.float32)
    beta = np.array([r[3] for r in rows], dtype=np.float32)
    return SparseVotes(labels, weights, background, beta)


def test_assignment_outcomes_on_hand_made_votes():
    votes = hand_votes(
        [
            ([3, 1], [8.0, 1.0], 1.0, 10.0),  # clear winner 3
            ([2, 4], [2.0, 1.0], 7.0, 10.0),  # background wins
            ([0, 0], [0.0, 0.0], 0.0, 0.0),  # unseen
            ([5, 6], [4.6, 4.4], 1.0, 10.0),  # 5 and 6 within 0.05 * beta: uncertain
            ([7, 0], [4.0, 0.0], 5.0, 9.0),  # background 5 > 4: background
        ]
    )
    result = assign_labels(votes, gamma=0.0, min_margin=0.05)
    assert result.labels.tolist() == [3, 0, 0, 0, 0]
    assert result.outcome.tolist() == [
        VoteOutcome.ASSIGNED,
        VoteOutcome.BACKGROUND,
        VoteOutcome.UNSEEN,
        VoteOutcome.UNCERTAIN,
        VoteOutcome.BACKGROUND,
    ]
    np.testing.assert_allclose(result.confidence, [0.7, 0.5, 0.0, 0.02, 1 / 9], atol=1e-6)
    # A negative bias favours objects: (4 - 5) / 9 = -0.11 > -0.2.
    biased = assign_labels(votes, gamma=-0.2)
    assert biased.labels[4] == 7
    # A positive bias favours the background: (8 - 1) / 9 = 0.78 < 0.8.
    assert assign_labels(votes, gamma=0.8).labels[0] == 0
    assert assign_labels(votes, min_margin=0.0).labels[3] == 5


def test_one_vs_rest_is_flashsplats_normalised_difference():
    votes = hand_votes(
        [
            ([1, 2], [6.0, 1.0], 3.0, 10.0),  # (6 - 4) / 10 = 0.2
            ([2, 1], [5.0, 4.0], 1.0, 10.0),  # (4 - 6) / 10 = -0.2
            ([0, 0], [0.0, 0.0], 0.0, 0.0),  # unseen stays background
        ]
    )
    assert one_vs_rest(votes, 1, gamma=0.0).tolist() == [True, False, False]
    assert one_vs_rest(votes, 1, gamma=0.25).tolist() == [False, False, False]
    assert one_vs_rest(votes, 1, gamma=-0.3).tolist() == [True, True, False]
    assert one_vs_rest(votes, 2).tolist() == [False, False, False]


def test_binary_masks_select_one_object(backend, scene):
    target = int(np.bincount(scene.instance_ids).argmax())  # the table: seen everywhere
    masks = [(gt == target).astype(np.uint8) for gt in scene.train_gt]
    votes = accumulate_votes(backend, scene.gaussians, scene.train_cameras, masks, slots=1)
    selected = one_vs_rest(votes, 1)
    truth = scene.instance_ids == target
    seen = votes.beta > 0.5
    agreement = np.mean(selected[seen] == truth[seen])
    assert agreement > 0.97


def test_vote_method_on_consistent_masks(backend, scene):
    masks = make_masks("clean", scene.train_gt, scene.train_images, 0)
    method = lift_methods()["vote"]
    output = method(
        LiftInputs(scene.gaussians, scene.train_cameras, masks, scene.train_images, backend, 0)
    )
    predicted = render_label_maps(backend, scene.gaussians, scene.test_cameras, output.labels)
    assert pq_scene(predicted, scene.test_gt).pq > 0.9
    seen = accumulate_votes(backend, scene.gaussians, scene.train_cameras, masks).beta > 0.5
    assert gaussian_accuracy(output.labels[seen], scene.instance_ids[seen]) > 0.95
    assert output.confidence is not None and output.confidence.shape == output.labels.shape


def test_bad_inputs_are_refused_with_the_view_named(backend, scene):
    cams = scene.train_cameras[:2]
    with pytest.raises(ValueError, match="2 cameras but 1 label maps"):
        accumulate_votes(backend, scene.gaussians, cams, scene.train_gt[:1])
    negative = scene.train_gt[0].astype(np.int32) - 1
    with pytest.raises(ValueError, match=f"camera {cams[0].name!r} has negative ids"):
        accumulate_votes(backend, scene.gaussians, cams, [negative, scene.train_gt[1]])
    floats = scene.train_gt[0].astype(np.float32)
    with pytest.raises(ValueError, match="2D integer array"):
        accumulate_votes(backend, scene.gaussians, cams, [floats, scene.train_gt[1]])
    with pytest.raises(ValueError, match="slots"):
        accumulate_votes(backend, scene.gaussians, cams, scene.train_gt[:2], slots=0)
    with pytest.raises(ValueError, match="gamma"):
        assign_labels(VoteTable(3).finish(), gamma=2.0)


def test_cancel_stops_between_views_and_progress_counts_views(backend, scene):
    token = CancelToken()
    seen: list[int] = []

    def progress(done: int, total: int, message: str) -> None:
        seen.append(done)
        if done == 2:
            token.cancel()

    with pytest.raises(JobCancelled):
        accumulate_votes(
            backend, scene.gaussians, scene.train_cameras, scene.train_gt,
            progress=progress, cancel=token,
        )  # fmt: skip
    assert seen == [1, 2]


def test_view_votes_must_cover_the_table():
    view = ViewLabelWeights(
        np.zeros(0, np.int32), np.zeros(0, np.int32), np.zeros(0, np.float32),
        np.zeros(5, np.float32), 0.0, 0.0,
    )  # fmt: skip
    with pytest.raises(ValueError, match="5 Gaussians"):
        VoteTable(4).add(view)
