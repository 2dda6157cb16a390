"""LUDVIG's SAM-prompt loop, driven by a ground-truth test double for SAM."""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path

import numpy as np
import pytest

from liftstudio.evaluate.scenes import make
from liftstudio.jobs import CancelToken, JobCancelled
from liftstudio.lift.sam_prompt import (
    PRESENCE_LEVEL,
    MaskPredictor,
    SamPromptConfig,
    prompt_pool,
    sam_prompt_loop,
)
from liftstudio.lift.uplift import uplift_maps
from liftstudio.render.registry import resolve_backend
from liftstudio.scene.camera import Camera


def _load_doubles():
    # Loaded by path under a unique name: works with or without tests/lift/__init__.py
    # and cannot collide with another folder's doubles.py.
    spec = importlib.util.spec_from_file_location(
        "liftstudio_tests_lift_doubles", Path(__file__).with_name("doubles.py")
    )
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # dataclasses look their module up there
    spec.loader.exec_module(module)
    return module


doubles = _load_doubles()


# ---------------------------------------------------------------------------- fixtures
@pytest.fixture(scope="module")
def backend():
    return resolve_backend("cpu")


@pytest.fixture(scope="module")
def scene(backend):
    return make("tabletop", 0, num_gaussians=12_000, num_train=6, num_test=2, width=160, height=120)


@pytest.fixture(scope="module")
def target(scene):
    """The largest object that is not the table (the instance with the most Gaussians)."""
    counts = np.bincount(scene.instance_ids)
    counts[np.argmax(counts)] = 0
    return int(np.argmax(counts))


@pytest.fixture(scope="module")
def reference(scene, target):
    """A partial, noisy reference for the target: 70% of its Gaussians, faint specks."""
    rng = np.random.default_rng(7)
    n = len(scene.instance_ids)
    obj = scene.instance_ids == target
    ref = np.where(obj & (rng.random(n) < 0.7), rng.uniform(0.5, 1.0, n), 0.0)
    speck = ~obj & (rng.random(n) < 0.05)
    ref[speck] = rng.uniform(0.0, 0.3, int(speck.sum()))
    return ref


def _away(camera: Camera) -> Camera:
    """The same camera turned 180° about its own y axis: it sees none of the scene."""
    turn = np.diag([-1.0, 1.0, -1.0, 1.0])
    return Camera("away", turn @ camera.viewmat, camera.K, camera.width, camera.height)


@pytest.fixture(scope="module")
def views(scene, backend):
    """Training views plus one that looks away from the table (black image, void GT)."""
    away = _away(scene.train_cameras[0])
    image = backend.render(scene.gaussians, away).rgb
    assert image.max() == 0.0
    cameras = [*scene.train_cameras, away]
    images = [*scene.train_images, image]
    gts = [*scene.train_gt, np.zeros_like(scene.train_gt[0])]
    return cameras, images, gts


def _run(backend, scene, views, reference, **kwargs):
    cameras, images, gts = views
    predictor = doubles.GroundTruthMaskPredictor(zip(images, gts, strict=True))
    result = sam_prompt_loop(
        backend, scene.gaussians, cameras, images, reference, predictor, **kwargs
    )
    return result, predictor


@pytest.fixture(scope="module")
def run(backend, scene, views, reference):
    return _run(backend, scene, views, reference)


def _rendered_reference(backend, scene, camera, reference, shape):
    ref = np.maximum(reference, 0) / np.max(reference)
    height, width = shape
    return backend.render(
        scene.gaussians, camera, resolution=(width, height), features=ref[:, None], rgb=False
    ).features[..., 0]


# ---------------------------------------------------------------------------- the loop
def test_double_satisfies_the_protocol():
    assert isinstance(doubles.GroundTruthMaskPredictor([]), MaskPredictor)


def test_loop_recovers_the_object(run, scene, target, backend, views):
    result, _ = run
    obj = scene.instance_ids == target
    found = result.scores >= 0.5
    w = result.beta
    weighted_iou = (w * (found & obj)).sum() / (w * (found | obj)).sum()
    assert weighted_iou > 0.95  # measured 0.996

    # Against the best any loop could do: the ground-truth masks uplifted directly.
    cameras, _, gts = views
    oracle = uplift_maps(backend, scene.gaussians, cameras, [gt == target for gt in gts])
    best = oracle.values[:, 0] >= 0.5
    vis = result.visible

    def iou(a):
        return (a & obj & vis).sum() / ((a | obj) & vis).sum()

    assert iou(found) > iou(best) - 0.03


def test_loop_beats_its_noisy_reference(run, scene, target, reference):
    result, _ = run
    obj = scene.instance_ids == target
    w = result.beta

    def weighted_iou(a):
        return (w * (a & obj)).sum() / (w * (a | obj)).sum()

    assert weighted_iou(result.scores >= 0.5) > weighted_iou(reference >= 0.5) + 0.2


def test_every_prompt_lies_in_the_pool(run, backend, scene, views, reference):
    result, predictor = run
    cameras, images, _ = views
    config = SamPromptConfig()
    by_view: dict[int, list] = {}
    for call in predictor.calls:
        by_view.setdefault(call.view, []).append(call)
    assert set(by_view) == set(np.flatnonzero(result.prompted))
    for view, calls in by_view.items():
        assert len(calls) == config.draws
        rendered = _rendered_reference(
            backend, scene, cameras[view], reference, images[view].shape[:2]
        ).astype(np.float64)
        rendered = np.maximum(rendered, 0)
        total = rendered.sum()
        for call in calls:
            assert call.points.shape == (config.points_per_draw, 2)
            assert np.all(call.labels == 1)
            # pixel centres
            np.testing.assert_allclose(call.points % 1.0, 0.5)
            rows = call.points[:, 1].astype(int)
            cols = call.points[:, 0].astype(int)
            for value in rendered[rows, cols]:
                # In the pool: the brighter pixels alone hold less than the pool's mass.
                assert value > 0
                assert rendered[rendered > value].sum() < config.pool_fraction * total * (1 + 1e-9)
        np.testing.assert_array_equal(
            result.points[view], np.stack([c.points for c in calls]).astype(np.float32)
        )


def test_view_masks_average_the_best_masks(run, views):
    result, predictor = run
    _, _, gts = views
    for view in np.flatnonzero(result.prompted):
        answers = [c.answer for c in predictor.calls if c.view == view]
        expected = np.mean([gts[view] == a if a else gts[view] < 0 for a in answers], axis=0)
        np.testing.assert_allclose(result.view_masks[view], expected, atol=1e-6)


def test_views_without_the_object_get_zero_masks(run, views, target):
    result, predictor = run
    _, _, gts = views
    assert not result.prompted[-1]  # the camera that looks away
    assert not result.view_masks[-1].any()
    assert len(result.points[-1]) == 0
    assert "skipped" in result.notes[-1]
    assert all(call.view != len(gts) - 1 for call in predictor.calls)
    for view, gt in enumerate(gts):
        if not (gt == target).any():
            assert not result.view_masks[view].any()


def test_min_presence_skips_weak_views(backend, scene, views, reference):
    cameras, images, _ = views
    shapes = [img.shape[:2] for img in images]
    coverage = [
        float(np.mean(_rendered_reference(backend, scene, c, reference, s) >= PRESENCE_LEVEL))
        for c, s in zip(cameras, shapes, strict=True)
    ]
    cutoff = float(np.median(coverage))
    result, predictor = _run(
        backend, scene, views, reference, config=SamPromptConfig(min_presence=cutoff, draws=2)
    )
    np.testing.assert_array_equal(result.prompted, np.array(coverage) >= cutoff)
    assert 0 < result.prompted.sum() < len(cameras)
    assert {c.view for c in predictor.calls} == set(np.flatnonzero(result.prompted))


def test_the_first_mask_of_each_answer_is_used(backend, scene, views, reference):
    cameras, images, _ = views
    h, w = images[0].shape[:2]
    half = np.zeros((h, w), dtype=bool)
    half[:, : w // 2] = True
    predictor = doubles.FixedMaskPredictor(np.stack([half, ~half, np.ones_like(half)]))
    result = sam_prompt_loop(
        backend, scene.gaussians, cameras, images, reference, predictor,
        config=SamPromptConfig(draws=2),
    )  # fmt: skip
    for view in np.flatnonzero(result.prompted):
        np.testing.assert_array_equal(result.view_masks[view], half.astype(np.float32))


def test_same_seed_same_result_other_seed_other_prompts(backend, scene, views, reference, run):
    first, first_pred = run
    again, again_pred = _run(backend, scene, views, reference)
    np.testing.assert_array_equal(first.scores, again.scores)
    for a, b in zip(first.view_masks, again.view_masks, strict=True):
        np.testing.assert_array_equal(a, b)
    assert [c.points.tolist() for c in first_pred.calls] == [
        c.points.tolist() for c in again_pred.calls
    ]
    other, _ = _run(backend, scene, views, reference, config=SamPromptConfig(seed=1))
    prompted = np.flatnonzero(first.prompted)
    assert any(not np.array_equal(first.points[v], other.points[v]) for v in prompted)


def test_progress_runs_over_prompts_then_uplift(backend, scene, views, reference):
    calls = []
    _run(
        backend,
        scene,
        views,
        reference,
        config=SamPromptConfig(draws=1),
        progress=lambda d, t, m: calls.append((d, t)),
    )
    total = 2 * len(views[0])
    assert {t for _, t in calls} == {total}
    done = [d for d, _ in calls]
    assert done == sorted(done) and done[-1] == total


# ---------------------------------------------------------------------------- cancel
def test_cancel_before_start_calls_nothing(backend, scene, views, reference):
    token = CancelToken()
    token.cancel()
    cameras, images, gts = views
    predictor = doubles.GroundTruthMaskPredictor(zip(images, gts, strict=True))
    with pytest.raises(JobCancelled):
        sam_prompt_loop(
            backend, scene.gaussians, cameras, images, reference, predictor, cancel=token
        )
    assert predictor.calls == []


def test_cancel_during_the_loop_stops_it(backend, scene, views, reference):
    token = CancelToken()
    cameras, images, gts = views
    predictor = doubles.GroundTruthMaskPredictor(zip(images, gts, strict=True))
    with pytest.raises(JobCancelled):
        sam_prompt_loop(
            backend, scene.gaussians, cameras, images, reference, predictor,
            config=SamPromptConfig(draws=2), progress=lambda d, t, m: token.cancel(),
            cancel=token,
        )  # fmt: skip
    assert len({c.view for c in predictor.calls}) <= 1


# ---------------------------------------------------------------------------- bad inputs
def _call(backend, scene, views, reference, *, images=None, predictor=None, config=None):
    cameras, default_images, gts = views
    images = default_images if images is None else images
    predictor = predictor or doubles.GroundTruthMaskPredictor(zip(default_images, gts, strict=True))
    return sam_prompt_loop(
        backend, scene.gaussians, cameras, images, reference, predictor, config=config
    )


def test_image_count_must_match(backend, scene, views, reference):
    with pytest.raises(ValueError, match="cameras but"):
        _call(backend, scene, views, reference, images=views[1][:-1])


def test_image_aspect_and_channels_are_checked(backend, scene, views, reference):
    images = list(views[1])
    images[2] = images[2][:, :100]
    with pytest.raises(ValueError, match="aspect ratio") as info:
        _call(backend, scene, views, reference, images=images)
    assert views[0][2].name in str(info.value)
    images = list(views[1])
    images[1] = images[1][..., :2]
    with pytest.raises(ValueError, match=r"\(H, W, 3\)"):
        _call(backend, scene, views, reference, images=images)


def test_smaller_images_of_the_right_aspect_are_accepted(backend, scene, views, reference):
    cameras, images, _ = views
    small = [img[::2, ::2] for img in images]
    result = sam_prompt_loop(
        backend, scene.gaussians, cameras, small, reference,
        doubles.FixedMaskPredictor(np.ones((1, 60, 80), dtype=bool)),
        config=SamPromptConfig(draws=1),
    )  # fmt: skip
    assert result.view_masks[0].shape == (60, 80)


@pytest.mark.parametrize(
    ("make_reference", "message"),
    [
        (lambda r: r[:-1], "one score per Gaussian"),
        (lambda r: np.where(np.arange(len(r)) == 3, np.nan, r), "NaN"),
        (lambda r: np.zeros_like(r), "no positive score"),
    ],
)
def test_bad_reference(backend, scene, views, reference, make_reference, message):
    with pytest.raises(ValueError, match=message):
        _call(backend, scene, views, make_reference(reference))


@pytest.mark.parametrize(
    ("masks", "message"),
    [
        (np.ones((1, 121, 160), dtype=bool), "shape"),
        (np.ones((0, 120, 160), dtype=bool), "shape"),
        (np.full((1, 120, 160), 3.5, dtype=np.float32), "logits"),
    ],
)
def test_bad_predictor_answers_name_the_view(backend, scene, views, reference, masks, message):
    with pytest.raises(ValueError, match=message) as info:
        _call(backend, scene, views, reference, predictor=doubles.FixedMaskPredictor(masks))
    assert "camera" in str(info.value)


@pytest.mark.parametrize(
    "kwargs",
    [
        {"pool_fraction": 0.0},
        {"pool_fraction": 1.5},
        {"points_per_draw": 0},
        {"draws": 2.5},
        {"min_presence": -0.1},
        {"seed": -1},
    ],
)
def test_config_is_validated(kwargs):
    with pytest.raises(ValueError):
        SamPromptConfig(**kwargs)


# ---------------------------------------------------------------------------- the pool
def test_prompt_pool_takes_the_brightest_pixels_up_to_the_fraction():
    rendered = np.array([[1.0, 4.0], [2.0, 3.0]])  # total 10
    np.testing.assert_array_equal(prompt_pool(rendered, 0.4), [[False, True], [False, False]])
    np.testing.assert_array_equal(prompt_pool(rendered, 0.5), [[False, True], [False, True]])
    np.testing.assert_array_equal(prompt_pool(rendered, 1.0), np.ones((2, 2), dtype=bool))


def test_prompt_pool_never_takes_empty_pixels():
    rendered = np.array([[0.0, 1.0], [0.0, 0.0]])
    np.testing.assert_array_equal(prompt_pool(rendered, 1.0), [[False, True], [False, False]])
    assert not prompt_pool(np.zeros((3, 3)), 0.4).any()
