"""Benchmark scenes: their ground truth agrees with an independent rendering of it."""

from __future__ import annotations

import numpy as np
import pytest

from liftstudio.evaluate.scenes import SceneUnavailable, make
from liftstudio.render.cpu import CpuBackend
from liftstudio.render.label_maps import render_label_map
from liftstudio.scene.camera_rigs import forward_cameras, hemisphere_cameras

SMALL = {"width": 96, "height": 72, "num_train": 6, "num_test": 2}


@pytest.fixture(scope="module")
def tabletop():
    return make("tabletop", 3, num_gaussians=12_000, **SMALL)


def _brute_force_label(backend, scene, camera, labels, row, col):
    """The label with the most blending weight at one pixel, from its full operator row."""
    picked = backend.pick(scene, camera, col + 0.5, row + 0.5)
    if picked.weights.sum() < 0.5:
        return 0
    totals: dict[int, float] = {}
    for gaussian, weight in zip(picked.ids, picked.weights, strict=True):
        totals[int(labels[gaussian])] = totals.get(int(labels[gaussian]), 0.0) + float(weight)
    return max(totals, key=totals.get)


def test_tabletop_contents(tabletop):
    ids = np.unique(tabletop.instance_ids)
    assert ids.min() == 1 and list(ids) == sorted(tabletop.class_names)
    assert tabletop.class_names[1] == "table"
    assert 8 <= tabletop.num_instances - 1 <= 20
    assert len(tabletop.train_cameras) == 6 and len(tabletop.test_cameras) == 2
    assert {c.name for c in tabletop.train_cameras}.isdisjoint(
        c.name for c in tabletop.test_cameras
    )
    image = tabletop.train_images[0]
    assert image.shape == (72, 96, 3) and image.dtype == np.float32
    assert image.min() >= 0.0 and image.max() <= 1.0


def test_ground_truth_maps_match_brute_force(tabletop):
    backend = CpuBackend()
    rng = np.random.default_rng(0)
    for camera, gt in zip(tabletop.train_cameras[:2], tabletop.train_gt[:2], strict=True):
        alpha = backend.render(tabletop.gaussians, camera, rgb=False).alpha
        np.testing.assert_array_equal(gt == 0, alpha < 0.5)
        for row, col in zip(rng.integers(0, 72, 40), rng.integers(0, 96, 40), strict=True):
            expected = _brute_force_label(
                backend, tabletop.gaussians, camera, tabletop.instance_ids, row, col
            )
            assert gt[row, col] == expected, (row, col)


def test_tabletop_has_touching_and_same_coloured_objects(tabletop):
    # Touching: two different objects (not the table) side by side in some view.
    touching = False
    for gt in tabletop.train_gt:
        left, right = gt[:, :-1], gt[:, 1:]
        pairs = (left != right) & (left > 1) & (right > 1)
        touching |= bool(pairs.any())
    assert touching
    colours = np.array(
        [
            tabletop.gaussians.base_colors[tabletop.instance_ids == i].mean(axis=0)
            for i in range(2, tabletop.num_instances + 1)
        ]
    )
    distances = np.linalg.norm(colours[:, None] - colours[None], axis=-1)
    np.fill_diagonal(distances, np.inf)
    assert distances.min() < 0.03  # at least two objects share a colour


def test_same_seed_same_scene_other_seed_other_scene(tabletop):
    again = make("tabletop", 3, num_gaussians=12_000, **SMALL)
    assert again.gaussians.content_hash() == tabletop.gaussians.content_hash()
    np.testing.assert_array_equal(again.train_gt[0], tabletop.train_gt[0])
    other = make("tabletop", 4, num_gaussians=12_000, **SMALL)
    assert other.gaussians.content_hash() != tabletop.gaussians.content_hash()


def test_room_and_cluttered():
    room = make("room", 1, num_gaussians=20_000, **SMALL)
    names = list(room.class_names.values())
    assert names.count("floor") == 1 and names.count("wall") == 4
    assert 30 <= len(names) - 5 <= 60
    # Cameras stand inside the room: nearly every pixel sees something.
    assert np.mean([(gt > 0).mean() for gt in room.train_gt]) > 0.9
    cluttered = make("cluttered", 1, num_gaussians=30_000, **SMALL)
    assert cluttered.num_instances - 1 >= 200
    visible = np.unique(np.concatenate([gt.ravel() for gt in cluttered.train_gt]))
    assert len(visible) > 150


def test_composite_uses_the_real_objects(real_data):
    scene = make("composite", 0, num_gaussians=10_000, real_data_dir=real_data, **SMALL)
    counts = {name: int((scene.instance_ids == i).sum()) for i, name in scene.class_names.items()}
    assert counts["guitar"] == 90_854 and counts["biker"] == 152_746
    assert counts["donut"] == 45_624
    seen = {scene.class_names[i] for gt in scene.train_gt for i in np.unique(gt) if i > 0}
    assert {"guitar", "biker", "donut", "table"} <= seen


def test_composite_without_real_data_says_why(tmp_path):
    with pytest.raises(SceneUnavailable, match="real trained scenes"):
        make("composite", 0, real_data_dir=tmp_path, **SMALL)
    with pytest.raises(ValueError, match="unknown scene kind"):
        make("garden", 0)


def test_rigs_look_at_their_target():
    target = np.array([0.3, -0.2, 0.5])
    for cameras in (
        hemisphere_cameras(target, 3.0, 7, width=64, height=48),
        forward_cameras(target, (0.0, 1.0, -0.3), 4.0, 5, width=64, height=48),
    ):
        for camera in cameras:
            uv, depth = camera.project(target[None])
            np.testing.assert_allclose(uv[0], [32.0, 24.0], atol=1e-6)
            assert depth[0] > 0


def test_label_maps_with_many_labels_take_several_passes():
    """More labels than one feature pass holds: the argmax spans the passes."""
    scene = make("cluttered", 2, num_gaussians=20_000, **SMALL)
    backend = CpuBackend()
    camera = scene.train_cameras[0]
    gt = render_label_map(backend, scene.gaussians, camera, scene.instance_ids)
    assert len(np.unique(gt)) > 64
    rng = np.random.default_rng(1)
    for row, col in zip(rng.integers(0, 72, 40), rng.integers(0, 96, 40), strict=True):
        expected = _brute_force_label(
            backend, scene.gaussians, camera, scene.instance_ids, row, col
        )
        assert gt[row, col] == expected
