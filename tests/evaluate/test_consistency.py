"""check_consistency: 3D labels against 2D masks on the demo scene, and heatmap_rgb."""

from __future__ import annotations

import numpy as np
import pytest

from liftstudio.evaluate.consistency import check_consistency, heatmap_rgb
from liftstudio.evaluate.demo_scene import load_demo_scene
from liftstudio.jobs import CancelToken, JobCancelled
from liftstudio.render.label_maps import render_label_maps
from liftstudio.render.registry import resolve_backend

MAX_SIDE = 160
WORKING = (120, 160)  # the demo's 320x240 views capped at MAX_SIDE, as (h, w)


@pytest.fixture(scope="module")
def demo():
    scene, sam_masks = load_demo_scene()
    backend = resolve_backend("cpu")
    every = slice(0, None, 4)  # 6 of the 24 training views
    cameras = scene.train_cameras[every]
    truth_maps = render_label_maps(
        backend, scene.gaussians, cameras, scene.instance_ids, resolution=WORKING[::-1]
    )
    return scene, backend, cameras, truth_maps, sam_masks[every]


def _check(demo, masks, labels, *, associated=True, **kwargs):
    scene, backend, cameras, _, _ = demo
    return check_consistency(
        scene.gaussians,
        cameras,
        masks,
        labels,
        backend=backend,
        associated=associated,
        max_side=MAX_SIDE,
        **kwargs,
    )


def _corrupt(demo):
    """Relabel a random half of a visible instance's Gaussians to the largest instance."""
    scene, _, _, truth_maps, _ = demo
    ids, area = np.unique(np.concatenate([m.ravel() for m in truth_maps]), return_counts=True)
    area[ids == 0] = 0
    order = np.argsort(area)[::-1]
    target, victim = int(ids[order[0]]), int(ids[order[1]])
    labels = scene.instance_ids.copy()
    members = np.flatnonzero(labels == victim)
    rng = np.random.default_rng(0)
    labels[rng.choice(members, members.size // 2, replace=False)] = target
    return labels, victim


def _permute_per_view(maps, seed=1):
    """Give every view's segments new random ids (ids no longer agree across views)."""
    rng = np.random.default_rng(seed)
    out = []
    for label_map in maps:
        ids = np.unique(label_map)
        ids = ids[ids > 0]
        lut = np.zeros(label_map.max() + 1, dtype=np.int64)
        lut[ids] = rng.choice(np.arange(1, 5000), size=ids.size, replace=False)
        out.append(lut[label_map])
    return out


def test_truth_agrees_with_its_own_maps(demo):
    scene, _, cameras, truth_maps, _ = demo
    report = _check(demo, truth_maps, scene.instance_ids)
    assert report.views == tuple(c.name for c in cameras)
    assert len(report.instances) == len(np.unique(scene.instance_ids[scene.instance_ids > 0]))
    assert all(row.score >= 0.95 for row in report.instances)
    assert all(d.shape == WORKING and d.dtype == np.float32 for d in report.disagreement)
    assert max(float(d.mean()) for d in report.disagreement) < 1e-3
    assert np.all(report.view_scores >= 0.99)
    assert report.unseen == ()


def test_full_size_masks_are_downsampled_to_max_side(demo):
    scene, backend, cameras, _, _ = demo
    full = render_label_maps(backend, scene.gaussians, cameras, scene.instance_ids)
    assert full[0].shape == (240, 320)
    report = _check(demo, full, scene.instance_ids)
    assert all(d.shape == WORKING for d in report.disagreement)
    # Rendering at half size moves boundaries by about a pixel: small objects lose some IoU.
    assert max(float(d.mean()) for d in report.disagreement) < 0.05
    assert all(row.score > 0.7 for row in report.instances)


def test_a_mask_at_a_rescaled_size_is_checked_at_its_own_size(demo):
    scene, _, _, truth_maps, _ = demo
    small = [m[::4, ::4] for m in truth_maps]  # 40x30 for 320x240 cameras
    report = _check(demo, small, scene.instance_ids)
    assert report.disagreement[0].shape == (30, 40)
    assert np.all(report.view_scores > 0.5)


def test_a_corrupted_instance_comes_first(demo):
    _, _, _, truth_maps, _ = demo
    labels, victim = _corrupt(demo)
    report = _check(demo, truth_maps, labels)
    worst = report.instances[0]
    assert worst.instance_id == victim
    assert worst.score < 0.7 and all(row.score > 0.9 for row in report.instances[1:])
    assert np.any(truth_maps[worst.worst_view] == victim)  # a view where it is visible
    assert worst.worst_iou == min(worst.view_ious.values())
    assert [row.score for row in report.instances] == sorted(r.score for r in report.instances)
    for heat, truth in zip(report.disagreement, truth_maps, strict=True):
        inside = truth == victim
        if inside.any():
            assert heat[inside].mean() > 0.3
        assert heat[~inside].mean() < 0.01
    assert str(victim) in report.summary()


def test_per_view_ids_score_like_associated_ids(demo):
    _, _, _, truth_maps, _ = demo
    labels, _ = _corrupt(demo)
    associated = _check(demo, truth_maps, labels, associated=True)
    per_view = _check(demo, _permute_per_view(truth_maps), labels, associated=False)
    assert not per_view.associated
    a = {row.instance_id: row for row in associated.instances}
    b = {row.instance_id: row for row in per_view.instances}
    assert a.keys() == b.keys()
    for instance, row in a.items():
        assert abs(row.score - b[instance].score) < 1e-6
        assert row.worst_view == b[instance].worst_view
    np.testing.assert_allclose(per_view.view_scores, associated.view_scores, atol=1e-6)
    for x, y in zip(per_view.disagreement, associated.disagreement, strict=True):
        np.testing.assert_array_equal(x, y)


def test_per_view_ids_read_as_associated_disagree(demo):
    scene, _, _, truth_maps, _ = demo
    report = _check(demo, _permute_per_view(truth_maps), scene.instance_ids, associated=True)
    assert np.mean(report.view_scores) < 0.9  # one global mapping cannot fit every view


def test_shipped_sam_like_masks(demo):
    scene, _, _, _, sam_masks = demo
    report = _check(demo, sam_masks, scene.instance_ids, associated=False)
    scores = [row.score for row in report.instances]
    assert scores and all(0.0 < s <= 1.0 for s in scores)
    assert scores == sorted(scores)
    assert np.all((report.view_scores > 0) & (report.view_scores <= 1))
    assert 0 <= report.worst_views(1)[0] < len(report.views)
    for row in report.instances:
        assert 0 <= row.worst_iou <= row.score <= 1
        assert 1 <= row.views_seen <= len(report.views) and row.pixels > 0
    assert "per-view ids" in report.summary()


def test_unlabelled_scene_has_no_rows(demo):
    scene, _, _, truth_maps, _ = demo
    report = _check(demo, truth_maps, np.zeros(len(scene.gaussians), dtype=np.int32))
    assert report.instances == []
    assert np.all(report.view_scores == 0.0)  # every mask pixel is unexplained
    assert "0 instances" in report.summary()


def test_progress_and_cancel(demo):
    scene, _, cameras, truth_maps, _ = demo
    steps = []
    _check(demo, truth_maps, scene.instance_ids, progress=lambda d, t, m: steps.append((d, t)))
    assert steps == [(v + 1, len(cameras)) for v in range(len(cameras))]

    token = CancelToken()
    seen = []

    def cancel_after_two(done, total, message):
        seen.append(done)
        if done == 2:
            token.cancel()

    with pytest.raises(JobCancelled):
        _check(demo, truth_maps, scene.instance_ids, progress=cancel_after_two, cancel=token)
    assert seen == [1, 2]


def test_wrong_mask_size_names_the_view(demo):
    scene, _, cameras, truth_maps, _ = demo
    masks = list(truth_maps)
    masks[1] = np.zeros((100, 100), dtype=np.int32)
    with pytest.raises(ValueError, match=rf"masks\[1\] \(view '{cameras[1].name}'\).*aspect"):
        _check(demo, masks, scene.instance_ids)


@pytest.mark.parametrize(
    ("change", "message"),
    [
        (lambda masks, labels: (masks[:-1], labels), "cameras but"),
        (lambda masks, labels: (masks, labels[:-1]), "labels must have shape"),
        (lambda masks, labels: (masks, labels.astype(np.float32)), "integer ids"),
        (lambda masks, labels: (masks, labels - 5), "negative"),
        (lambda masks, labels: ([m.astype(np.float32) for m in masks], labels), "integer"),
        (lambda masks, labels: ([None, *masks[1:]], labels), "is None"),
    ],
)
def test_bad_inputs_are_refused(demo, change, message):
    scene, _, _, truth_maps, _ = demo
    masks, labels = change(list(truth_maps), scene.instance_ids)
    with pytest.raises(ValueError, match=message):
        _check(demo, masks, labels)


def test_bad_max_side_is_refused(demo):
    scene, backend, cameras, truth_maps, _ = demo
    with pytest.raises(ValueError, match="max_side"):
        check_consistency(
            scene.gaussians, cameras, truth_maps, scene.instance_ids,
            backend=backend, associated=True, max_side=0,
        )  # fmt: skip


def test_heatmap_rgb():
    heat = np.array([[0.0, 1.0], [0.5, 0.25]], dtype=np.float32)
    rgb = heatmap_rgb(heat)
    assert rgb.shape == (2, 2, 3) and rgb.dtype == np.uint8
    assert rgb[0, 0].tolist() == [0, 0, 0] and rgb[0, 1].tolist() == [255, 0, 0]
    assert rgb[1, 0].tolist() == [128, 0, 0]

    image = np.full((4, 4, 3), 200, dtype=np.uint8)
    over = heatmap_rgb(heat, image, opacity=0.5)
    assert over.shape == (4, 4, 3)
    assert over[0, 0].tolist() == [200, 200, 200]  # no disagreement: the image shows
    assert over[0, 3].tolist() == [228, 100, 100]  # full disagreement at half opacity
    np.testing.assert_array_equal(heatmap_rgb(heat, image / 255.0, opacity=0.5), over)


@pytest.mark.parametrize(
    ("heat", "kwargs", "message"),
    [
        (np.zeros(3), {}, "2-D"),
        (np.full((2, 2), 1.5), {}, r"\[0, 1\]"),
        (np.full((2, 2), np.nan), {}, r"\[0, 1\]"),
        (np.zeros((2, 2)), {"opacity": 2.0}, "opacity"),
        (np.zeros((2, 2)), {"image": np.zeros((2, 2))}, "image"),
    ],
)
def test_heatmap_rgb_refuses_bad_input(heat, kwargs, message):
    with pytest.raises(ValueError, match=message):
        heatmap_rgb(heat, **kwargs)
