"""Training views: the operator rows of covered pixels, their masks, and sampling."""

from __future__ import annotations

import numpy as np
import pytest

from liftstudio.lift.training_views import (
    TrainingSetConfig,
    prepare_training_views,
    resample_label_map,
    training_resolution,
)


@pytest.fixture(scope="module")
def training(cpu_backend, small_tabletop, small_tabletop_sam_masks):
    scene = small_tabletop
    return prepare_training_views(
        cpu_backend, scene.gaussians, scene.train_cameras[:3], small_tabletop_sam_masks[:3],
        TrainingSetConfig(top_k=6),
    )  # fmt: skip


def test_rows_and_masks_match_the_operator_and_the_label_map(
    training, cpu_backend, small_tabletop, small_tabletop_sam_masks
):
    scene = small_tabletop
    for view, camera, labels in zip(
        training.views, scene.train_cameras, small_tabletop_sam_masks, strict=False
    ):
        rows = cpu_backend.operator_rows(scene.gaussians, camera, top_k=6)
        ids = rows.ids.reshape(-1, 6)
        weights = rows.weights.reshape(-1, 6).astype(np.float32)
        covered = np.flatnonzero(weights.sum(axis=1) > 0)
        np.testing.assert_array_equal(view.pixels, covered)
        np.testing.assert_array_equal(view.ids, ids[covered])
        np.testing.assert_array_equal(view.weights.astype(np.float32), weights[covered])
        flat = labels.reshape(-1)[covered]
        # Every supervised pixel is in a mask, every other covered pixel in none.
        np.testing.assert_array_equal(view.supervised, np.flatnonzero(flat > 0))
        assert np.all(view.masks[flat == 0] == -1)
        np.testing.assert_array_equal(view.mask_ids[view.masks[view.supervised]], flat[flat > 0])


def test_visibility_is_the_summed_weight_per_gaussian(training, cpu_backend, small_tabletop):
    scene = small_tabletop
    expected = np.zeros(len(scene.gaussians))
    for camera in scene.train_cameras[:3]:
        rows = cpu_backend.operator_rows(scene.gaussians, camera, top_k=6)
        for g, w in zip(rows.ids.reshape(-1), rows.weights.reshape(-1), strict=True):
            if g >= 0:
                expected[g] += float(w)
    np.testing.assert_allclose(training.visibility, expected, rtol=1e-4, atol=1e-4)


def test_sampling_draws_distinct_supervised_pixels(training):
    view = training.views[0]
    batch = view.sample(500, np.random.default_rng(0))
    assert len(np.unique(batch.pixels)) == 500
    assert np.isin(batch.pixels, view.pixels[view.supervised]).all()
    assert (batch.masks >= 0).all()
    padding = batch.weights == 0
    assert (batch.ids >= 0).all() and (batch.ids[padding] == 0).all()
    again = view.sample(500, np.random.default_rng(0))
    np.testing.assert_array_equal(batch.pixels, again.pixels)
    everything = view.sample(10**9, np.random.default_rng(1))
    assert sorted(everything.pixels) == sorted(view.pixels[view.supervised])


def test_large_views_are_trained_at_a_reduced_resolution(
    cpu_backend, small_tabletop, small_tabletop_clean_masks
):
    scene = small_tabletop
    small = prepare_training_views(
        cpu_backend, scene.gaussians, scene.train_cameras[:1], small_tabletop_clean_masks[:1],
        TrainingSetConfig(max_image_side=48),
    )  # fmt: skip
    assert (small.views[0].height, small.views[0].width) == (36, 48)


def test_resolution_and_resampling_by_pixel_centres():
    assert training_resolution(480, 640, 640) == (480, 640)
    assert training_resolution(480, 640, 320) == (240, 320)
    labels = np.arange(16).reshape(4, 4)
    # A 2x2 grid samples the source at its centres (1, 1), (1, 3), (3, 1), (3, 3).
    np.testing.assert_array_equal(resample_label_map(labels, 2, 2), [[5, 7], [13, 15]])


def test_bad_label_maps_are_refused_naming_the_camera(cpu_backend, small_tabletop):
    scene = small_tabletop
    camera = scene.train_cameras[0]
    with pytest.raises(ValueError, match="aspect ratio"):
        prepare_training_views(cpu_backend, scene.gaussians, [camera], [np.ones((10, 50), int)])
    with pytest.raises(ValueError, match="negative"):
        prepare_training_views(cpu_backend, scene.gaussians, [camera], [-np.ones((72, 96), int)])
    with pytest.raises(ValueError, match="2 cameras but 1"):
        prepare_training_views(
            cpu_backend, scene.gaussians, scene.train_cameras[:2], [np.ones((72, 96), int)]
        )
    with pytest.raises(ValueError, match="top_k"):
        TrainingSetConfig(top_k=0)
