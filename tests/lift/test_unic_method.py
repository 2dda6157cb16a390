"""The ``unic`` method (UniC-Lift): codes, fragment merging, boundary pairs, end to end."""

from __future__ import annotations

from dataclasses import replace

import numpy as np
import pytest

from liftstudio.evaluate.bench_lift import score_labels
from liftstudio.evaluate.mask_simulation import make_masks
from liftstudio.evaluate.scenes import make
from liftstudio.jobs import CancelToken, JobCancelled
from liftstudio.lift.registry import LiftInputs, LiftMethod
from liftstudio.lift.training_views import TrainingSet, TrainingView
from liftstudio.lift.unic_method import (
    METHOD,
    BoundaryConfig,
    CodeMergeConfig,
    UnicMethod,
    UnicTrainingConfig,
    _ViewSampler,
    boundary_pairs,
    decode_embeddings,
    merge_fragment_codes,
    pack_bits,
)
from liftstudio.render.registry import resolve_backend

FAST = UnicTrainingConfig(steps=300, pixels_per_step=4096)


@pytest.fixture(scope="module")
def backend():
    return resolve_backend("cpu")


@pytest.fixture(scope="module")
def scene(backend):
    return make("tabletop", 0, num_gaussians=8000, num_train=12, num_test=4, width=96, height=72,
                backend=backend)  # fmt: skip


@pytest.fixture(scope="module")
def clean_inputs(scene, backend):
    masks = make_masks("clean", scene.train_gt, scene.train_images, 0)
    return LiftInputs(scene.gaussians, scene.train_cameras, masks, scene.train_images, backend, 0)


def hand_view(label_map: np.ndarray, covered: np.ndarray | None = None) -> TrainingView:
    """A view where pixel ``p`` is covered by Gaussian ``p`` alone (weight 1)."""
    height, width = label_map.shape
    flat = label_map.reshape(-1)
    keep = np.flatnonzero(np.ones(flat.size, bool) if covered is None else covered.reshape(-1))
    kept = flat[keep]
    supervised = np.flatnonzero(kept > 0)
    mask_ids, inverse = np.unique(kept[supervised], return_inverse=True)
    masks = np.full(keep.size, -1, dtype=np.int32)
    masks[supervised] = inverse
    return TrainingView(
        name="hand", height=height, width=width, pixels=keep.astype(np.int64),
        ids=keep.astype(np.int32)[:, None], weights=np.ones((keep.size, 1), np.float32),
        masks=masks, mask_ids=mask_ids.astype(np.int32), supervised=supervised.astype(np.int64),
    )  # fmt: skip


# ------------------------------------------------------------------------ decoding
def test_pack_bits_thresholds_each_channel_at_half_alpha():
    rendered = np.array(
        [
            [0.9, 0.1, 0.8, 1.0],  # alpha 1: bits 1, 0, 1
            [0.3, 0.2, 0.05, 0.4],  # alpha 0.4: 0.3 > 0.2, 0.2 is not > 0.2, 0.05 < 0.2
            [0.0, 0.0, 0.0, 1.0],
        ],
        dtype=np.float32,
    )
    np.testing.assert_array_equal(pack_bits(rendered, 3), [0b101, 0b001, 0])


def test_decode_reads_corner_embeddings_as_labels():
    # 4 x 6 pixels, one Gaussian each; left half near corner 0b0110, right near 0b1001.
    label_map = np.ones((4, 6), np.int32)
    training = TrainingSet(views=[hand_view(label_map)], visibility=np.ones(24, np.float32),
                           num_gaussians=24)  # fmt: skip
    rng = np.random.default_rng(0)
    left = np.tile(np.arange(6) < 3, 4)
    corners = np.where(left[:, None], [0, 1, 1, 0], [1, 0, 0, 1]).astype(np.float32)
    embeddings = np.abs(corners - rng.uniform(0.05, 0.3, size=corners.shape)).astype(np.float32)
    labels, confidence = decode_embeddings(training, embeddings, min_visibility=0.0)
    expected = np.where(left, 1, 2)  # code 0b0110 = 6 < 0b1001 = 9: numbered in code order
    np.testing.assert_array_equal(labels, expected)
    np.testing.assert_allclose(confidence, 1.0)


def test_merge_moves_a_fragment_to_the_nearest_frequent_code():
    dims = 4
    big_a, big_b = 0b0011, 0b1100
    labels = np.concatenate([np.full(100, big_a), np.full(100, big_b), np.full(3, 0b0111),
                             np.full(2, 0b0000), [-1, -1]]) + 1  # fmt: skip
    labels[-2:] = 0  # unlabelled Gaussians stay 0
    embeddings = np.full((len(labels), dims), 0.5, np.float32)
    # The 0b0000 fragment is 2 bits from both big codes; its mean embedding leans to 0b1100.
    embeddings[203:205] = [0.2, 0.2, 0.45, 0.45]
    merged = merge_fragment_codes(
        labels, embeddings, CodeMergeConfig(min_share=0.1, min_gaussians=10)
    )
    np.testing.assert_array_equal(merged[:100], big_a + 1)
    np.testing.assert_array_equal(merged[100:200], big_b + 1)
    np.testing.assert_array_equal(merged[200:203], big_a + 1)  # Hamming 1 from 0b0011
    np.testing.assert_array_equal(merged[203:205], big_b + 1)  # tie broken by the embedding
    np.testing.assert_array_equal(merged[205:], 0)
    # A lower bar keeps every code.
    kept = merge_fragment_codes(labels, embeddings, CodeMergeConfig(min_share=0.1, min_gaussians=2))
    np.testing.assert_array_equal(kept, labels)


# ------------------------------------------------------------------ boundary pairs
def brute_force_pairs(label_map, covered, radius):
    height, width = label_map.shape
    position = -np.ones((height, width), np.int64)
    position[covered] = np.arange(int(covered.sum()))
    pairs = []
    for y in range(height):
        for x in range(width):
            for v in range(max(0, y - radius), min(height, y + radius + 1)):
                for u in range(max(0, x - radius), min(width, x + radius + 1)):
                    a, b = label_map[y, x], label_map[v, u]
                    if covered[y, x] and covered[v, u] and a > 0 and b > 0 and a != b:
                        pairs.append((position[y, x], position[v, u]))
    return sorted(pairs)


@pytest.mark.parametrize("radius", [1, 2])
def test_boundary_pairs_match_a_brute_force_loop(radius):
    rng = np.random.default_rng(3)
    blocks = rng.integers(0, 4, size=(4, 5))
    label_map = np.kron(blocks, np.ones((3, 3), np.int64))[:11, :13]
    covered = rng.random(label_map.shape) > 0.1
    view = hand_view(label_map, covered)
    found = boundary_pairs(view.pixels, view.masks, view.height, view.width, radius)
    expected = brute_force_pairs(label_map, covered, radius)
    assert len(expected) > 20
    assert [tuple(p) for p in found] == expected


def test_boundary_pairs_of_a_single_mask_are_empty():
    view = hand_view(np.ones((5, 6), np.int32))
    assert boundary_pairs(view.pixels, view.masks, 5, 6, 2).shape == (0, 2)


def test_triplets_draw_cross_boundary_negatives_and_same_mask_positives():
    label_map = np.zeros((12, 12), np.int32)
    label_map[:, :5] = 1
    label_map[:, 5:9] = 2
    label_map[2:8, 9:] = 3  # the rest of the right strip is in no mask
    view = hand_view(label_map)
    sampler = _ViewSampler.of(view, radius=2)
    rows = sampler.draw(view, anchors=500, candidates=3, rng=np.random.default_rng(0))
    anchor, negatives, positives = rows[:, 0], rows[:, 1:4], rows[:, 4:]
    rows_of, cols_of = np.divmod(view.pixels, view.width)
    masks = view.masks
    assert (masks[anchor] >= 0).all()
    assert (masks[negatives] != masks[anchor, None]).all() and (masks[negatives] >= 0).all()
    gap = np.maximum(np.abs(rows_of[negatives] - rows_of[anchor, None]),
                     np.abs(cols_of[negatives] - cols_of[anchor, None]))  # fmt: skip
    assert gap.max() <= 2
    assert (masks[positives] == masks[anchor, None]).all()
    # Anchors are boundary pixels: within 2 columns of a mask edge.
    assert set(np.unique(cols_of[anchor])) <= {3, 4, 5, 6, 7, 8, 9, 10}


# ---------------------------------------------------------------------- validation
@pytest.mark.parametrize(
    ("make_config", "message"),
    [
        (lambda: UnicTrainingConfig(dims=0), "dims must be an integer >= 1"),
        (lambda: UnicTrainingConfig(dims=31), "dims must be at most 30"),
        (lambda: UnicTrainingConfig(steps=True), "steps must be an integer"),
        (lambda: UnicTrainingConfig(steps=2.5), "steps must be an integer"),
        (lambda: UnicTrainingConfig(temperature=0.0), "temperature must be a finite number > 0"),
        (lambda: UnicTrainingConfig(learning_rate=float("nan")), "learning_rate must be"),
        (lambda: UnicTrainingConfig(corner_weight=-1.0), "corner_weight must be"),
        (lambda: UnicTrainingConfig(corner_ramp=1.0), r"corner_ramp must lie in \[0, 1\)"),
        (lambda: UnicTrainingConfig(min_confidence=-0.1), "min_confidence must lie"),
        (lambda: BoundaryConfig(radius=0), "radius must be an integer >= 1"),
        (lambda: BoundaryConfig(anchors=-1), "anchors must be an integer >= 0"),
        (lambda: BoundaryConfig(candidates=0), "candidates must be an integer >= 1"),
        (lambda: BoundaryConfig(margin=0.0), "margin must be a finite number > 0"),
        (lambda: BoundaryConfig(start_fraction=1.5), "start_fraction must lie"),
        (lambda: CodeMergeConfig(min_share=1.0), "min_share must lie"),
        (lambda: CodeMergeConfig(min_gaussians=-1), "min_gaussians must be an integer >= 0"),
        (lambda: UnicMethod(min_visibility=-1.0), "min_visibility must be"),
    ],
)
def test_configs_reject_bad_values(make_config, message):
    with pytest.raises(ValueError, match=message):
        make_config()


def test_method_is_a_lift_method_named_unic():
    assert isinstance(METHOD, LiftMethod)
    assert METHOD.name == "unic" and METHOD.description


# ---------------------------------------------------------------------- end to end
@pytest.fixture(scope="module")
def clean_result(clean_inputs):
    return UnicMethod(training=FAST)(clean_inputs)


def test_recovers_objects_from_consistent_masks(scene, backend, clean_result):
    pq, miou, _ = score_labels(scene, clean_result.labels, backend)
    assert pq >= 0.95 and miou >= 0.95
    objects = len(np.unique(scene.instance_ids[scene.instance_ids > 0]))
    assert len(np.unique(clean_result.labels[clean_result.labels > 0])) <= objects + 1
    assert clean_result.features.shape == (len(scene.gaussians), 16)
    assert (clean_result.features >= 0).all() and (clean_result.features <= 1).all()
    assert clean_result.confidence.shape == (len(scene.gaussians),)
    assert clean_result.history.steps == FAST.steps
    assert {"centroid", "corner", "triplet", "total"} <= set(clean_result.history.losses)


def test_same_seed_gives_the_same_labels(clean_inputs):
    method = UnicMethod(training=replace(FAST, steps=60))
    first, second = method(clean_inputs), method(clean_inputs)
    np.testing.assert_array_equal(first.labels, second.labels)
    np.testing.assert_array_equal(first.features, second.features)
    other = method(replace(clean_inputs, seed=1))
    assert not np.array_equal(other.features, first.features)


def test_cancel_stops_training(clean_inputs):
    token = CancelToken()
    messages = []

    def progress(done, total, message):
        messages.append(message)
        if message.startswith("unic: step"):
            token.cancel()

    with pytest.raises(JobCancelled):
        UnicMethod(training=FAST)(clean_inputs, progress=progress, cancel=token)
    assert sum(m.startswith("unic: step") for m in messages) == 1
