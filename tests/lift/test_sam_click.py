"""One click on one view → per-Gaussian scores (LUDVIG's SAM mode from a click).

SAM is played by the ground-truth test double of ``doubles.py`` (it answers with the
ground-truth instance under the points), except in the end-to-end test at the bottom,
which runs the real ``SamPromptPredictor`` around a tiny randomly initialised SAM.
"""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path

import numpy as np
import pytest
import scipy.ndimage as ndi

from liftstudio.jobs import CancelToken, JobCancelled
from liftstudio.lift.sam_click import (
    SamClickError,
    SamClickResult,
    load_click_predictor,
    sam_click_scores,
)
from liftstudio.lift.sam_prompt import MaskPredictor, SamPromptConfig
from liftstudio.lift.uplift import uplift_maps
from liftstudio.render.label_maps import render_label_maps
from liftstudio.scene.camera import Camera


def _load_by_path(name: str, path: Path):
    # By path under a unique name: works without __init__.py files and cannot collide
    # with another folder's module of the same name.
    spec = importlib.util.spec_from_file_location(name, path)
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # dataclasses look their module up there
    spec.loader.exec_module(module)
    return module


_TESTS = Path(__file__).resolve().parents[1]
doubles = _load_by_path("liftstudio_tests_lift_doubles", _TESTS / "lift" / "doubles.py")

#: Few draws keep the loop fast; the oracle answers every draw the same anyway.
FAST = SamPromptConfig(draws=3)


# ---------------------------------------------------------------------------- helpers
def _views(scene):
    return scene.train_cameras, scene.train_images, scene.train_gt


def _oracle(images, gts):
    return doubles.GroundTruthMaskPredictor(zip(images, gts, strict=True))


def _best_view(gts, instance: int) -> int:
    """The view in which ``instance`` covers the most pixels."""
    return int(np.argmax([(gt == instance).sum() for gt in gts]))


def _inner_point(gt: np.ndarray, instance: int) -> tuple[float, float]:
    """The pixel centre deepest inside ``instance`` (inside even for a torus)."""
    depth = ndi.distance_transform_edt(gt == instance)
    row, col = np.unravel_index(np.argmax(depth), depth.shape)
    return col + 0.5, row + 0.5


def _weighted_iou(selected, truth, weight) -> float:
    return float((weight * (selected & truth)).sum() / (weight * (selected | truth)).sum())


def _iou_on(selected, truth, where) -> float:
    return float((selected & truth & where).sum() / ((selected | truth) & where).sum())


def _selected(result: SamClickResult, n: int, threshold: float | None = None) -> np.ndarray:
    chosen = np.zeros(n, dtype=bool)
    chosen[result.selection(threshold)] = True
    return chosen


def _instances(scene) -> dict[str, int]:
    """The table, the instance with most Gaussians after it, and the first torus."""
    counts = np.bincount(scene.instance_ids)
    table = int(np.argmax(counts))
    counts[table] = 0
    torus = min(k for k, name in scene.class_names.items() if name == "torus")
    return {"table": table, "largest object": int(np.argmax(counts)), "torus": torus}


def _click(backend, scene, instance, *, images=None, gts=None, **kwargs):
    cameras, default_images, default_gts = _views(scene)
    images = default_images if images is None else images
    gts = default_gts if gts is None else gts
    view = _best_view(gts, instance)
    predictor = _oracle(images, gts)
    result = sam_click_scores(
        backend, scene.gaussians, cameras, images, view, _inner_point(gts[view], instance),
        predictor, config=kwargs.pop("config", FAST), **kwargs,
    )  # fmt: skip
    return result, predictor, view


@pytest.fixture(scope="module")
def clicked(cpu_backend, small_tabletop):
    """A click on the largest object (not the table): result, predictor, view, id."""
    instance = _instances(small_tabletop)["largest object"]
    result, predictor, view = _click(cpu_backend, small_tabletop, instance)
    return result, predictor, view, instance


# ---------------------------------------------------------------------------- recovery
@pytest.mark.parametrize("which", ["table", "largest object", "torus"])
def test_a_click_selects_the_object(cpu_backend, small_tabletop, which):
    scene = small_tabletop
    instance = _instances(scene)[which]
    result, _, _ = _click(cpu_backend, scene, instance)
    obj = scene.instance_ids == instance
    chosen = _selected(result, len(obj))
    prompt = result.prompt
    # Weighted by visibility: what the views show of the object is what is selected.
    assert _weighted_iou(chosen, obj, prompt.beta) >= 0.95  # measured 0.99-1.0

    # Unweighted over every Gaussian some view saw, against the best any click could
    # do: the ground-truth masks of all views uplifted directly (barely seen Gaussians
    # that are hidden behind others cap both near 0.75-0.85 on this scene).
    cameras, _, gts = _views(scene)
    best = uplift_maps(cpu_backend, scene.gaussians, cameras, [gt == instance for gt in gts])
    best_chosen = best.values[:, 0] >= result.threshold
    assert _iou_on(chosen, obj, prompt.visible) >= _iou_on(best_chosen, obj, best.visible) - 0.02
    assert _iou_on(chosen, obj, prompt.visible) >= 0.7


def test_the_clicked_mask_is_the_predictors_best_mask(clicked, small_tabletop):
    result, predictor, view, instance = clicked
    gt = small_tabletop.train_gt[view]
    np.testing.assert_array_equal(result.clicked_mask, gt == instance)
    assert result.clicked_mask.dtype == bool
    first = predictor.calls[0]
    assert first.view == view and first.answer == instance
    np.testing.assert_allclose(first.points, [_inner_point(gt, instance)])
    np.testing.assert_array_equal(first.labels, [1])


def _uplift_by_operator_rows(backend, scene, camera, mask):
    """Independent single-view uplift: sums over the view's full operator rows.

    Returns the uplifted mask (not normalised) and each Gaussian's weight β.
    """
    height, width = mask.shape
    rows = backend.operator_rows(
        scene.gaussians, camera, resolution=(width, height), top_k=None, weight_dtype=np.float32
    )
    ids = rows.ids.reshape(-1, rows.top_k)
    weights = rows.weights.reshape(-1, rows.top_k).astype(np.float64)
    inside = np.broadcast_to(mask.reshape(-1, 1), ids.shape)
    real = ids >= 0
    n = len(scene.gaussians)
    beta = np.bincount(ids[real], weights[real], minlength=n)
    hit = np.bincount(ids[real & inside], weights[real & inside], minlength=n)
    return np.divide(hit, beta, out=np.zeros(n), where=beta > 0), beta


def test_reference_is_the_clicked_mask_uplifted_through_its_view(
    clicked, cpu_backend, small_tabletop
):
    result, _, view, _ = clicked
    camera = small_tabletop.train_cameras[view]
    expected, beta = _uplift_by_operator_rows(
        cpu_backend, small_tabletop, camera, result.clicked_mask
    )
    assert result.reference.shape == expected.shape and result.reference.dtype == np.float32
    assert result.reference.max() == pytest.approx(1.0)
    np.testing.assert_allclose(result.reference, expected / expected.max(), atol=1e-4)
    # Non-zero only on Gaussians the clicked view sees, and only those under the mask.
    assert not result.reference[beta == 0].any()
    assert not result.reference[expected == 0].any()


def test_reference_is_normalised_to_a_maximum_of_one(cpu_backend, small_tabletop):
    """A one-pixel mask: no Gaussian lies wholly inside it, yet the reference peaks at 1."""
    scene = small_tabletop
    cameras, images, gts = _views(scene)
    instance = _instances(scene)["largest object"]
    view = _best_view(gts, instance)
    x, y = _inner_point(gts[view], instance)
    pixel = np.zeros(gts[view].shape, dtype=bool)
    pixel[int(y), int(x)] = True
    raw, _ = _uplift_by_operator_rows(cpu_backend, scene, cameras[view], pixel)
    assert 0 < raw.max() < 0.9  # the premise of the test
    result = sam_click_scores(
        cpu_backend, scene.gaussians, cameras, images, view, (x, y),
        doubles.FixedMaskPredictor(pixel[None]), config=SamPromptConfig(draws=1),
    )  # fmt: skip
    np.testing.assert_array_equal(result.clicked_mask, pixel)
    assert result.reference.max() == pytest.approx(1.0)
    np.testing.assert_allclose(result.reference, raw / raw.max(), atol=1e-4)


def test_scores_are_the_loops_and_lie_in_unit_range(clicked, small_tabletop):
    result, predictor, view, _ = clicked
    n = len(small_tabletop.gaussians)
    assert result.scores.shape == (n,) and result.scores.dtype == np.float32
    assert 0.0 <= result.scores.min() <= result.scores.max() <= 1.0
    np.testing.assert_array_equal(result.scores, result.prompt.scores)
    assert not result.scores[~result.prompt.visible].any()
    # one call for the click, then FAST.draws per prompted view
    assert len(predictor.calls) == 1 + FAST.draws * int(result.prompt.prompted.sum())
    assert result.prompt.prompted[view]


def test_selection_cut(clicked):
    result = clicked[0]
    assert result.threshold == 0.5
    for cut in (0.2, 0.5, 0.9, 1.0):
        chosen = result.selection(cut)
        assert chosen.dtype == np.int64
        np.testing.assert_array_equal(chosen, np.flatnonzero(result.scores >= cut))
    np.testing.assert_array_equal(result.selection(), result.selection(0.5))
    assert len(result.selection(0.9)) <= len(result.selection(0.2))
    stricter = SamClickResult(
        result.scores, result.reference, result.clicked_mask, result.prompt, threshold=0.9
    )
    np.testing.assert_array_equal(stricter.selection(), result.selection(0.9))
    for bad in (0.0, -0.1, 1.5, float("nan")):
        with pytest.raises(ValueError, match="threshold"):
            result.selection(bad)


def test_extra_and_negative_points_reach_the_predictor(cpu_backend, small_tabletop):
    scene = small_tabletop
    instance = _instances(scene)["largest object"]
    cameras, images, gts = _views(scene)
    view = _best_view(gts, instance)
    gt = gts[view]
    click = _inner_point(gt, instance)
    rows, cols = np.nonzero(gt == instance)
    extra = np.array([[cols[0] + 0.5, rows[0] + 0.5]])
    rows, cols = np.nonzero(gt != instance)
    negative = np.array([[cols[0] + 0.5, rows[0] + 0.5], [cols[-1] + 0.5, rows[-1] + 0.5]])
    predictor = _oracle(images, gts)
    result = sam_click_scores(
        cpu_backend, scene.gaussians, cameras, images, view, click, predictor,
        extra_points=extra, negative_points=negative, config=SamPromptConfig(draws=1),
    )  # fmt: skip
    first = predictor.calls[0]
    np.testing.assert_allclose(first.points, [click, *extra, *negative])
    np.testing.assert_array_equal(first.labels, [1, 1, 0, 0])
    np.testing.assert_array_equal(result.clicked_mask, gt == instance)


@pytest.mark.parametrize("size", [(48, 36), (144, 108)])
def test_other_image_sizes_take_clicks_in_their_own_pixels(cpu_backend, small_tabletop, size):
    """Images (and ground truth) rendered at another size than the cameras'."""
    scene = small_tabletop
    instance = _instances(scene)["largest object"]
    cameras = scene.train_cameras
    sized_images = [
        np.clip(cpu_backend.render(scene.gaussians, c, resolution=size).rgb, 0.0, 1.0)
        for c in cameras
    ]
    sized_gts = render_label_maps(
        cpu_backend, scene.gaussians, cameras, scene.instance_ids, resolution=size
    )
    result, _, view = _click(cpu_backend, scene, instance, images=sized_images, gts=sized_gts)
    width, height = size
    assert result.clicked_mask.shape == (height, width)
    np.testing.assert_array_equal(result.clicked_mask, sized_gts[view] == instance)
    assert all(m.shape == (height, width) for m in result.prompt.view_masks)
    obj = scene.instance_ids == instance
    assert _weighted_iou(_selected(result, len(obj)), obj, result.prompt.beta) >= 0.95


def test_progress_covers_the_click_then_the_loop(cpu_backend, small_tabletop):
    scene = small_tabletop
    calls = []
    _click(
        cpu_backend, scene, _instances(scene)["torus"], config=SamPromptConfig(draws=1),
        progress=lambda done, total, message: calls.append((done, total, message)),
    )  # fmt: skip
    total = 1 + 2 * len(scene.train_cameras)
    assert calls[0][:2] == (0, 1) and calls[1][:2] == (1, 1)
    assert "click" in calls[0][2]
    assert {t for _, t, _ in calls[2:]} == {total}
    done = [d for d, _, _ in calls[2:]]
    assert done == sorted(done) and done[0] == 2 and done[-1] == total


# ---------------------------------------------------------------------------- cancel
def test_cancelled_before_start_calls_nothing(cpu_backend, small_tabletop):
    token = CancelToken()
    token.cancel()
    cameras, images, gts = _views(small_tabletop)
    predictor = _oracle(images, gts)
    with pytest.raises(JobCancelled):
        sam_click_scores(
            cpu_backend, small_tabletop.gaussians, cameras, images, 0, (10.5, 10.5), predictor,
            cancel=token,
        )  # fmt: skip
    assert predictor.calls == []


def test_cancel_after_the_click_stops_the_loop(cpu_backend, small_tabletop):
    token = CancelToken()
    with pytest.raises(JobCancelled):
        _click(
            cpu_backend, small_tabletop, _instances(small_tabletop)["torus"],
            progress=lambda done, total, message: token.cancel() if done >= 1 else None,
            cancel=token,
        )  # fmt: skip


# ---------------------------------------------------------------------------- bad input
def _void_pixel(gt: np.ndarray) -> tuple[float, float]:
    rows, cols = np.nonzero(gt == 0)
    assert len(rows), "the test scene needs some void pixels"
    return cols[0] + 0.5, rows[0] + 0.5


def test_a_click_on_nothing_says_so(cpu_backend, small_tabletop):
    cameras, images, gts = _views(small_tabletop)
    view = 3
    x, y = _void_pixel(gts[view])
    with pytest.raises(SamClickError, match="no object under the click") as info:
        sam_click_scores(
            cpu_backend, small_tabletop.gaussians, cameras, images, view, (x, y),
            _oracle(images, gts),
        )  # fmt: skip
    message = str(info.value)
    assert f"({x:.1f}, {y:.1f})" in message
    assert cameras[view].name in message
    assert "click inside an object" in message


def _away(camera: Camera) -> Camera:
    """The same camera turned 180° about its own y axis: it sees none of the scene."""
    turn = np.diag([-1.0, 1.0, -1.0, 1.0])
    return Camera("away", turn @ camera.viewmat, camera.K, camera.width, camera.height)


def test_a_mask_over_no_gaussian_says_so(cpu_backend, small_tabletop):
    cameras, images, _ = _views(small_tabletop)
    away = _away(cameras[0])
    black = cpu_backend.render(small_tabletop.gaussians, away).rgb
    assert black.max() == 0.0
    everything = np.ones((1, *black.shape[:2]), dtype=bool)
    with pytest.raises(SamClickError, match="covers no Gaussian") as info:
        sam_click_scores(
            cpu_backend, small_tabletop.gaussians, [*cameras, away], [*images, black],
            len(cameras), (20.5, 20.5), doubles.FixedMaskPredictor(everything),
        )  # fmt: skip
    assert "away" in str(info.value)


@pytest.mark.parametrize(
    ("view", "point", "message"),
    [
        (12, (10.5, 10.5), "out of range"),
        (-1, (10.5, 10.5), "out of range"),
        (1.0, (10.5, 10.5), "integer"),
        (0, (96.5, 10.0), "outside the 96x72 image"),
        (0, (10.0, -0.5), "outside"),
        (0, (10.0, 72.01), "outside"),
        (0, (np.nan, 10.0), "NaN"),
        (0, (10.0, np.inf), "NaN or inf"),
        (0, (1.0, 2.0, 3.0), "one"),
    ],
)
def test_bad_clicks(cpu_backend, small_tabletop, view, point, message):
    cameras, images, gts = _views(small_tabletop)
    predictor = _oracle(images, gts)
    with pytest.raises(SamClickError, match=message):
        sam_click_scores(
            cpu_backend, small_tabletop.gaussians, cameras, images, view, point, predictor
        )
    assert predictor.calls == []


def test_bad_extra_points(cpu_backend, small_tabletop):
    cameras, images, gts = _views(small_tabletop)
    for kwargs, message in [
        ({"negative_points": [[5.0, 5.0], [500.0, 5.0]]}, "negative_points at \\(500.0"),
        ({"extra_points": [1.0, 2.0]}, "extra_points must be \\(P, 2\\)"),
        ({"extra_points": [[1.0, np.nan]]}, "NaN"),
    ]:
        with pytest.raises(SamClickError, match=message):
            sam_click_scores(
                cpu_backend, small_tabletop.gaussians, cameras, images, 0, (10.5, 10.5),
                _oracle(images, gts), **kwargs,
            )  # fmt: skip


def test_edges_of_the_image_are_inside(cpu_backend, small_tabletop):
    """The image covers [0, W] × [0, H]: clicks on its border are accepted."""
    cameras, images, _ = _views(small_tabletop)
    h, w = images[0].shape[:2]
    seen = []

    class Recorder:
        def predict(self, image, points, labels):
            seen.append(points.copy())
            return np.zeros((1, h, w), dtype=bool)  # then: no object

    for point in [(0.0, 0.0), (float(w), float(h))]:
        with pytest.raises(SamClickError, match="no object"):
            sam_click_scores(
                cpu_backend, small_tabletop.gaussians, cameras, images, 0, point, Recorder()
            )
    np.testing.assert_allclose(np.concatenate(seen), [[0, 0], [w, h]])


def test_bad_images_and_predictor_answers_are_refused(cpu_backend, small_tabletop):
    cameras, images, gts = _views(small_tabletop)
    with pytest.raises(ValueError, match="cameras but"):
        sam_click_scores(
            cpu_backend, small_tabletop.gaussians, cameras, images[:-1], 0, (1.5, 1.5),
            _oracle(images, gts),
        )  # fmt: skip
    wrong = doubles.FixedMaskPredictor(np.ones((1, 10, 10), dtype=bool))
    with pytest.raises(ValueError, match="shape"):
        sam_click_scores(
            cpu_backend, small_tabletop.gaussians, cameras, images, 0, (1.5, 1.5), wrong
        )
    with pytest.raises(ValueError, match="threshold"):
        sam_click_scores(
            cpu_backend, small_tabletop.gaussians, cameras, images, 0, (1.5, 1.5), wrong,
            threshold=0.0,
        )  # fmt: skip


# ---------------------------------------------------------------------------- real SAM
@pytest.fixture(scope="module")
def tiny_checkpoint(tiny_sam):
    return tiny_sam[1]


def test_end_to_end_with_a_tiny_real_sam(tiny_checkpoint, cpu_backend, small_tabletop):
    predictor = load_click_predictor(tiny_checkpoint, device="cpu")
    assert isinstance(predictor, MaskPredictor)
    scene = small_tabletop
    cameras, images = scene.train_cameras[:4], scene.train_images[:4]
    view = 1
    # Random weights segment arbitrary regions: click where this SAM finds something.
    gt = scene.train_gt[view]
    rows, cols = np.nonzero(gt > 0)
    click = None
    for i in np.linspace(0, len(rows) - 1, 25).astype(int):
        point = np.array([[cols[i] + 0.5, rows[i] + 0.5]], dtype=np.float32)
        best = predictor.predict(images[view], point, np.ones(1, dtype=np.int32))[0]
        if (best & (gt > 0)).any():
            click, expected_mask = tuple(point[0]), best
            break
    assert click is not None, "the tiny SAM found nothing on any object pixel"

    result = sam_click_scores(
        cpu_backend, scene.gaussians, cameras, images, view, click, predictor,
        config=SamPromptConfig(draws=2, min_presence=0.0),
    )  # fmt: skip
    n = len(scene.gaussians)
    np.testing.assert_array_equal(result.clicked_mask, expected_mask)
    assert result.scores.shape == (n,) and result.reference.shape == (n,)
    for values in (result.scores, result.reference):
        assert np.isfinite(values).all() and 0.0 <= values.min() <= values.max() <= 1.0
    assert result.reference.max() == pytest.approx(1.0)
    assert all(m.shape == images[0].shape[:2] for m in result.prompt.view_masks)
    assert result.prompt.prompted[view]
    assert set(result.selection(1e-6)) <= set(np.flatnonzero(result.prompt.visible))


def test_load_click_predictor_refuses_a_wrong_model_type(tiny_checkpoint):
    from liftstudio.errors import InputFileError

    with pytest.raises(InputFileError, match="not vit_b"):
        load_click_predictor(tiny_checkpoint, model_type="vit_b", device="cpu")
