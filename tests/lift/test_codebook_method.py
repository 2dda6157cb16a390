"""The ``codebook`` method (Unified-Lift) and the ``contrastive`` baseline, end to end."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest

from liftstudio.evaluate.bench_lift import score_labels
from liftstudio.jobs import CancelToken, JobCancelled
from liftstudio.lift.codebook_method import CodebookMethod, nearest_code, same_code_selection
from liftstudio.lift.contrastive_method import (
    ClusteringConfig,
    ContrastiveMethod,
    cluster_centroids,
    nearest_centroid,
)
from liftstudio.lift.contrastive_training import CodebookConfig, ContrastiveConfig
from liftstudio.lift.registry import LiftInputs, lift_methods
from liftstudio.lift.training_views import prepare_training_views
from liftstudio.render.results import PickResult

SHORT = ContrastiveConfig(steps=300, pixels_per_step=4096)


def _inputs(scene, masks, backend, seed=0):
    return LiftInputs(scene.gaussians, scene.train_cameras, masks, scene.train_images, backend,
                      seed)  # fmt: skip


@pytest.fixture(scope="module")
def codebook_run(cpu_backend, small_tabletop, small_tabletop_clean_masks):
    method = CodebookMethod(training=SHORT)
    return method(_inputs(small_tabletop, small_tabletop_clean_masks, cpu_backend))


def test_codebook_is_near_perfect_on_consistent_masks(codebook_run, cpu_backend, small_tabletop):
    pq, miou, _ = score_labels(small_tabletop, codebook_run.labels, cpu_backend)
    assert pq >= 0.95 and miou >= 0.95
    assert len(np.unique(codebook_run.labels[codebook_run.labels > 0])) <= 256


def test_codebook_segments_are_the_objects_codes(codebook_run, small_tabletop):
    """Each Gaussian's own code groups the Gaussians by object (the click tool's segments)."""
    segments, truth = codebook_run.segments, small_tabletop.instance_ids
    assert segments.shape == truth.shape and segments.dtype.kind == "i"
    seen = codebook_run.labels > 0
    # Purity: the Gaussians of one code belong (almost) all to one true object.
    majority = 0
    for code in np.unique(segments[seen]):
        members = truth[seen & (segments == code)]
        majority += np.bincount(members).max()
    assert majority >= 0.9 * seen.sum()  # 0.93 after the short training
    assert len(np.unique(segments[seen])) >= 0.9 * len(np.unique(truth[seen]))


def test_codebook_logs_its_losses_and_learns(codebook_run):
    history = codebook_run.history
    assert history.steps == SHORT.steps
    # The codebook losses start after the warm-up, and the class loss falls.
    warmup = int(CodebookConfig().warmup_fraction * SHORT.steps)
    assert len(history.losses["classes"]) == SHORT.steps - warmup
    assert np.mean(history.losses["classes"][-20:]) < np.mean(history.losses["classes"][:20])
    assert np.mean(history.losses["contrastive"][-20:]) < history.losses["contrastive"][0]
    assert codebook_run.features.shape == (8_000, SHORT.dims)
    assert codebook_run.confidence.min() >= 0 and codebook_run.confidence.max() <= 1


def test_unseen_gaussians_stay_unlabeled(
    codebook_run, cpu_backend, small_tabletop, small_tabletop_clean_masks
):
    training = prepare_training_views(
        cpu_backend, small_tabletop.gaussians, small_tabletop.train_cameras,
        small_tabletop_clean_masks,
    )  # fmt: skip
    unseen = training.visibility <= 0.05
    assert unseen.any()
    assert (codebook_run.labels[unseen] == 0).all()


def test_same_seed_same_result_and_cancel(cpu_backend, small_tabletop, small_tabletop_sam_masks):
    method = CodebookMethod(training=dataclasses.replace(SHORT, steps=40),
                            codebook=CodebookConfig(warmup_fraction=0.2))  # fmt: skip
    inputs = _inputs(small_tabletop, small_tabletop_sam_masks, cpu_backend, seed=4)
    first, second = method(inputs), method(inputs)
    np.testing.assert_array_equal(first.labels, second.labels)
    np.testing.assert_array_equal(first.features, second.features)
    other = method(dataclasses.replace(inputs, seed=5))
    assert not np.array_equal(first.features, other.features)
    token = CancelToken()

    def progress(done, total, message):
        if "step" in message:
            token.cancel()

    with pytest.raises(JobCancelled):
        method(inputs, progress=progress, cancel=token)


def test_nearest_code_and_code_selection():
    codebook = np.array([[1.0, 0.0], [0.0, 1.0], [-1.0, 0.0]])
    features = np.array([[3.0, 0.1], [0.1, 0.2], [-0.5, 0.4]])
    np.testing.assert_array_equal(nearest_code(features, codebook), [0, 1, 2])
    labels = np.array([0, 2, 1, 2, 2])
    np.testing.assert_array_equal(same_code_selection(labels, 1), [0, 1, 0, 1, 1])
    np.testing.assert_array_equal(same_code_selection(labels, 0), [0, 0, 0, 0, 0])
    pick = PickResult(ids=np.array([2, 3], np.int32), weights=np.array([0.2, 0.7], np.float32),
                      depths=np.array([1.0, 2.0], np.float32))  # fmt: skip
    np.testing.assert_array_equal(same_code_selection(labels, pick), [0, 1, 0, 1, 1])
    empty = PickResult(np.zeros(0, np.int32), np.zeros(0, np.float32), np.zeros(0, np.float32))
    assert not same_code_selection(labels, empty).any()


def test_config_errors_are_clear():
    with pytest.raises(ValueError, match="steps"):
        ContrastiveConfig(steps=0)
    with pytest.raises(ValueError, match="codebook size"):
        CodebookConfig(size=1)
    with pytest.raises(ValueError, match="warmup_fraction"):
        CodebookConfig(warmup_fraction=1.0)
    with pytest.raises(ValueError, match="min_cluster_fraction"):
        ClusteringConfig(min_cluster_fraction=0.0)


def test_contrastive_baseline_is_good_on_consistent_masks(
    cpu_backend, small_tabletop, small_tabletop_clean_masks
):
    method = ContrastiveMethod(training=SHORT)
    output = method(_inputs(small_tabletop, small_tabletop_clean_masks, cpu_backend))
    pq, _, _ = score_labels(small_tabletop, output.labels, cpu_backend)
    assert pq >= 0.9
    assert output.history.steps == SHORT.steps and "classes" not in output.history.losses


def test_clustering_finds_separated_groups():
    rng = np.random.default_rng(0)
    centres = np.eye(4)
    features = np.vstack([c + 0.05 * rng.normal(size=(500, 4)) for c in centres])
    centroids = cluster_centroids(features, np.ones(len(features)),
                                  ClusteringConfig(sample_size=1000))  # fmt: skip
    assert len(centroids) == 4
    # Each true centre is nearest to exactly one centroid.
    assert sorted(nearest_centroid(centres, centroids)) == [0, 1, 2, 3]
    with pytest.raises(ValueError, match="no Gaussian is seen"):
        cluster_centroids(features, np.zeros(len(features)), ClusteringConfig())


def test_methods_are_registered():
    methods = lift_methods()
    assert {"codebook", "contrastive"} <= set(methods)


def test_code_allocation_keeps_fragments_out_and_gives_new_objects_a_free_code():
    from liftstudio.lift.contrastive_training import allocate_codes

    e = np.eye(3)
    codes = np.array([e[0], e[1], e[2], -e[0], -e[1]])
    usage = np.array([50.0, 40.0, 0.0, 5.0, 1.0])
    prototypes = np.array([
        e[0],  # mask 0: the object of code 0, matched to it
        [0.99, 0.14, 0.0],  # mask 1: a fragment of that object, matched to code 1
        [0.0, -0.6, 0.8],  # mask 2: resembles code 2, but was matched to code 3
        [0.6, 0.0, -0.8],  # mask 3: resembles no code: a new object
    ])  # fmt: skip
    matched, moved = allocate_codes(np.array([0, 1, 3, 4]), prototypes, codes, usage, 0.7)
    # Masks 1 and 2 resemble another code than theirs: left out this step, freeing
    # codes 1 and 3; mask 3 resembles no code: it takes the least-used free code (2,
    # usage 0), which must move onto its prototype.
    np.testing.assert_array_equal(matched, [0, -1, -1, 2])
    assert moved == {2: 3}
    # Matchings that already fit are kept as they are.
    fits, none = allocate_codes(np.array([0, 2]), prototypes[[0, 2]], codes, usage, 0.7)
    np.testing.assert_array_equal(fits, [0, 2])
    assert none == {}
