"""Uplift of 2D maps: closed forms, a brute-force operator sum, and channel independence."""

from __future__ import annotations

import numpy as np
import pytest

from liftstudio.evaluate.scenes import make
from liftstudio.lift.uplift import uplift_maps, uplift_view
from liftstudio.render.registry import resolve_backend


@pytest.fixture(scope="module")
def backend():
    return resolve_backend("cpu")


@pytest.fixture(scope="module")
def scene(backend):
    return make("tabletop", 2, num_gaussians=6_000, width=80, height=60, num_train=4, num_test=1,
                backend=backend)  # fmt: skip


def test_a_constant_map_uplifts_to_that_constant_on_every_seen_gaussian(backend, scene):
    cameras = scene.train_cameras[:1]  # one view leaves Gaussians unseen
    maps = [np.full((c.height, c.width), 0.7, np.float32) for c in cameras]
    result = uplift_maps(backend, scene.gaussians, cameras, maps)
    assert result.visible.any() and not result.visible.all()
    np.testing.assert_allclose(result.values[result.visible, 0], 0.7, rtol=1e-5)
    assert np.all(result.values[~result.visible] == 0)
    assert np.all(result.beta[~result.visible] == 0)


def test_uplift_equals_the_brute_force_operator_sum(backend, scene):
    rng = np.random.default_rng(0)
    maps = [rng.random((c.height, c.width, 3)).astype(np.float32) for c in scene.train_cameras]
    n = len(scene.gaussians)
    numerator = np.zeros((n, 3))
    beta = np.zeros(n)
    for camera, values in zip(scene.train_cameras, maps, strict=True):
        rows = backend.operator_rows(scene.gaussians, camera, top_k=None, weight_dtype=np.float32)
        numerator += rows.transpose_apply(values, n)
        beta += rows.transpose_apply(np.ones(values.shape[:2]), n)[:, 0]
    result = uplift_maps(backend, scene.gaussians, scene.train_cameras, maps)
    np.testing.assert_allclose(result.beta, beta, rtol=1e-3, atol=1e-5)
    seen = beta > 1e-3
    np.testing.assert_allclose(
        result.values[seen], numerator[seen] / beta[seen, None], rtol=1e-3, atol=1e-4
    )


def test_channels_are_averaged_independently_no_one_over_c_scaling(backend, scene):
    rng = np.random.default_rng(1)
    single = [rng.random((c.height, c.width)).astype(np.float32) for c in scene.train_cameras]
    one = uplift_maps(backend, scene.gaussians, scene.train_cameras, single)
    many = uplift_maps(
        backend,
        scene.gaussians,
        scene.train_cameras,
        [np.repeat(m[..., None], 16, axis=2) for m in single],
    )
    assert many.channels == 16
    for channel in range(16):
        np.testing.assert_allclose(many.values[:, channel], one.values[:, 0], rtol=1e-5, atol=1e-7)


def test_binary_masks_give_the_share_of_mask_weight(backend, scene):
    masks = [gt == 1 for gt in scene.train_gt]  # the table, as bool
    result = uplift_maps(backend, scene.gaussians, scene.train_cameras, masks, min_visibility=0.5)
    assert result.values.min() >= 0 and result.values.max() <= 1 + 1e-6
    table = scene.instance_ids == 1
    seen = result.visible
    assert np.mean(result.values[seen & table, 0] > 0.5) > 0.9
    assert np.mean(result.values[seen & ~table, 0] < 0.5) > 0.9
    assert np.all(result.beta[~seen] <= 0.5)


def test_a_scribble_on_a_novel_view_is_uplifted_through_that_view(backend, scene):
    camera = scene.test_cameras[0]
    scribble = np.zeros((camera.height, camera.width), bool)
    scribble[20:30, 30:50] = True
    result = uplift_view(backend, scene.gaussians, camera, scribble)
    rows = backend.operator_rows(scene.gaussians, camera, top_k=None, weight_dtype=np.float32)
    touched = np.unique(rows.ids[20:30, 30:50][rows.ids[20:30, 30:50] >= 0])
    assert set(np.flatnonzero(result.values[:, 0] > 0)) == set(touched.tolist())


def test_bad_maps_are_refused(backend, scene):
    cams = scene.train_cameras[:1]
    bad = np.zeros((cams[0].height, cams[0].width), np.float32)
    bad[0, 0] = np.nan
    with pytest.raises(ValueError, match="NaN"):
        uplift_maps(backend, scene.gaussians, cams, [bad])
    with pytest.raises(ValueError, match="min_visibility"):
        uplift_maps(backend, scene.gaussians, cams, [bad * 0], min_visibility=-1)
