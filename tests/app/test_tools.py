"""Selection tools driven by mouse events on the viewport, checked against ground truth."""

from __future__ import annotations

import numpy as np
import pytest
from PySide6.QtCore import QPoint, Qt
from skimage.measure import points_in_poly

from liftstudio.app.viewport.gl_viewport import SplatViewport
from liftstudio.app.viewport.settings import ViewMode, ViewportSettings
from liftstudio.app.viewport.tools import ToolMode
from liftstudio.render.label_maps import render_label_map
from liftstudio.render.registry import resolve_backend


@pytest.fixture
def viewport(qtbot, demo_document, demo_truth):
    camera = demo_document.train_cameras[0]
    view = SplatViewport()
    qtbot.addWidget(view)
    view.set_settings(ViewportSettings(mode=ViewMode.LABELS))
    view.resize(camera.width, camera.height)
    view.show()
    qtbot.waitExposed(view)
    view.set_document(demo_document)
    view.snap_to_camera(camera)
    demo_document.labels.replace_all(demo_truth)
    yield view
    view.shutdown()


def _projected(viewport, means):
    camera = viewport.current_camera()
    cam = (np.asarray(camera.viewmat)[:3, :3] @ means.T).T + camera.viewmat[:3, 3]
    xy = cam[:, :2] / cam[:, 2:3] * np.diag(camera.K)[:2] + camera.K[:2, 2]
    return xy, cam[:, 2]


def _object_pixel(viewport, document, truth, instance):
    """A pixel deep inside the instance's visible region (independent label render)."""
    camera = viewport.current_camera()
    labels = render_label_map(resolve_backend("cpu"), document.gaussians, camera, truth)
    rows, cols = np.nonzero(labels == instance)
    centre = np.array([rows.mean(), cols.mean()])
    best = np.argmin(((np.stack([rows, cols], 1) - centre) ** 2).sum(1))
    return int(cols[best]), int(rows[best])


def _largest_visible_instances(viewport, document, truth, count=3):
    camera = viewport.current_camera()
    labels = render_label_map(resolve_backend("cpu"), document.gaussians, camera, truth)
    ids, areas = np.unique(labels[labels > 0], return_counts=True)
    return [int(i) for i in ids[np.argsort(-areas)]][1 : count + 1]  # skip the table


def test_click_selects_the_instance_under_the_cursor(qtbot, viewport, demo_document, demo_truth):
    viewport.tools.set_mode(ToolMode.CLICK)
    for instance in _largest_visible_instances(viewport, demo_document, demo_truth):
        x, y = _object_pixel(viewport, demo_document, demo_truth, instance)
        qtbot.mouseClick(viewport, Qt.MouseButton.LeftButton, pos=QPoint(x, y))
        chosen = np.zeros(len(demo_truth), bool)
        chosen[demo_document.selection.indices()] = True
        target = demo_truth == instance
        assert chosen[target].mean() >= 0.9
        assert chosen[~target].sum() < 0.05 * target.sum()


def test_rect_through_selects_every_centre_inside_and_modifiers_combine(
    qtbot, viewport, demo_document
):
    viewport.tools.options.depth_mode = "through"
    viewport.tools.set_mode(ToolMode.RECT)
    qtbot.mousePress(viewport, Qt.MouseButton.LeftButton, pos=QPoint(60, 50))
    qtbot.mouseMove(viewport, QPoint(200, 170))
    qtbot.mouseRelease(viewport, Qt.MouseButton.LeftButton, pos=QPoint(200, 170))
    xy, depth = _projected(viewport, demo_document.gaussians.means.astype(np.float64))
    inside = (xy[:, 0] >= 60) & (xy[:, 0] <= 200) & (xy[:, 1] >= 50) & (xy[:, 1] <= 170)
    expected = np.flatnonzero(inside & (depth > 0))
    got = demo_document.selection.indices()
    # Centres on the rectangle's edge may fall either way (pixel-centre rule).
    assert len(np.setxor1d(got, expected)) <= 0.01 * len(expected)

    # Ctrl subtracts a second rectangle, Shift adds it back.
    qtbot.mousePress(viewport, Qt.MouseButton.LeftButton, Qt.KeyboardModifier.ControlModifier,
                     QPoint(60, 50))  # fmt: skip
    qtbot.mouseMove(viewport, QPoint(120, 170))
    qtbot.mouseRelease(viewport, Qt.MouseButton.LeftButton, Qt.KeyboardModifier.ControlModifier,
                       QPoint(120, 170))  # fmt: skip
    left = (xy[:, 0] >= 60) & (xy[:, 0] <= 120) & (xy[:, 1] >= 50) & (xy[:, 1] <= 170)
    after = demo_document.selection.indices()
    assert len(np.intersect1d(after, np.flatnonzero(left & (xy[:, 0] < 119)))) == 0
    assert len(after) < len(got)
    qtbot.mousePress(viewport, Qt.MouseButton.LeftButton, Qt.KeyboardModifier.ShiftModifier,
                     QPoint(60, 50))  # fmt: skip
    qtbot.mouseMove(viewport, QPoint(120, 170))
    qtbot.mouseRelease(viewport, Qt.MouseButton.LeftButton, Qt.KeyboardModifier.ShiftModifier,
                       QPoint(120, 170))  # fmt: skip
    np.testing.assert_array_equal(demo_document.selection.indices(), got)


def test_lasso_through_matches_point_in_polygon(qtbot, viewport, demo_document):
    viewport.tools.options.depth_mode = "through"
    viewport.tools.set_mode(ToolMode.LASSO)
    polygon = [(50, 60), (250, 40), (280, 200), (120, 210)]
    qtbot.mousePress(viewport, Qt.MouseButton.LeftButton, pos=QPoint(*polygon[0]))
    for point in polygon[1:]:
        qtbot.mouseMove(viewport, QPoint(*point))
    qtbot.mouseRelease(viewport, Qt.MouseButton.LeftButton, pos=QPoint(*polygon[-1]))
    xy, depth = _projected(viewport, demo_document.gaussians.means.astype(np.float64))
    expected = np.flatnonzero(points_in_poly(xy, np.array(polygon, float)) & (depth > 0))
    got = demo_document.selection.indices()
    assert len(np.setxor1d(got, expected)) <= 0.01 * len(expected)


def test_surface_brush_stays_on_the_visible_object(qtbot, viewport, demo_document, demo_truth):
    instance = _largest_visible_instances(viewport, demo_document, demo_truth, 1)[0]
    x, y = _object_pixel(viewport, demo_document, demo_truth, instance)
    viewport.tools.options.brush_radius = 4
    viewport.tools.set_mode(ToolMode.BRUSH)
    qtbot.mousePress(viewport, Qt.MouseButton.LeftButton, pos=QPoint(x - 3, y))
    qtbot.mouseMove(viewport, QPoint(x + 3, y))
    qtbot.mouseRelease(viewport, Qt.MouseButton.LeftButton, pos=QPoint(x + 3, y))
    got = demo_document.selection.indices()
    assert len(got) > 0
    assert (demo_truth[got] == instance).mean() > 0.8


def test_scribble_hands_its_stroke_to_listeners(qtbot, viewport):
    viewport.tools.options.brush_radius = 5
    viewport.tools.set_mode(ToolMode.SCRIBBLE)
    with qtbot.waitSignal(viewport.tools.scribbled) as blocker:
        qtbot.mousePress(viewport, Qt.MouseButton.LeftButton, pos=QPoint(100, 100))
        qtbot.mouseMove(viewport, QPoint(160, 100))
        qtbot.mouseRelease(viewport, Qt.MouseButton.LeftButton, pos=QPoint(160, 100))
    camera, mask, combine = blocker.args
    assert combine == "replace"
    assert mask.shape == (camera.height, camera.width)
    rows, cols = np.nonzero(mask)
    assert rows.min() >= 94 and rows.max() <= 105 and cols.min() >= 94 and cols.max() <= 165
    assert mask[100, 100:160].all()


def test_brackets_size_the_brush_and_escape_returns_to_navigation(qtbot, viewport):
    viewport.tools.set_mode(ToolMode.BRUSH)
    radius = viewport.tools.options.brush_radius
    viewport.setFocus()
    qtbot.keyClick(viewport, Qt.Key.Key_BracketRight)
    assert viewport.tools.options.brush_radius > radius
    qtbot.keyClick(viewport, Qt.Key.Key_Escape)
    assert viewport.tools.mode == ToolMode.NAVIGATE


def test_sam_click_in_the_viewport_asks_for_a_training_view(qtbot, viewport, demo_document):
    viewport.tools.set_mode(ToolMode.SAM)
    with (
        qtbot.assertNotEmitted(viewport.tools.samClicked),
        qtbot.waitSignal(viewport.tools.hint) as blocker,
    ):
        qtbot.mouseClick(viewport, Qt.MouseButton.LeftButton, pos=QPoint(100, 100))
    assert "Views panel" in blocker.args[0]
    assert len(demo_document.selection.indices()) == 0


def test_click_selects_the_clicked_gaussians_segment_when_asked(
    qtbot, viewport, demo_document, demo_truth
):
    # Segments finer than the instances: each object cut in two halves along x.
    means = demo_document.gaussians.means
    halves = np.zeros(len(demo_truth), np.int64)
    for instance in np.unique(demo_truth):
        members = demo_truth == instance
        halves[members] = means[members, 0] > np.median(means[members, 0])
    demo_document.segments = 2 * demo_truth.astype(np.int64) + halves
    viewport.tools.options.click_target = "segment"
    viewport.tools.set_mode(ToolMode.CLICK)
    instance = _largest_visible_instances(viewport, demo_document, demo_truth)[0]
    x, y = _object_pixel(viewport, demo_document, demo_truth, instance)
    qtbot.mouseClick(viewport, Qt.MouseButton.LeftButton, pos=QPoint(x, y))
    got = demo_document.selection.indices()
    segment = np.unique(demo_document.segments[got])
    assert len(segment) == 1 and segment[0] // 2 == instance  # one half of the object
    np.testing.assert_array_equal(got, np.flatnonzero(demo_document.segments == segment[0]))
    viewport.tools.options.click_target = "instance"  # back to the instance
    qtbot.mouseClick(viewport, Qt.MouseButton.LeftButton, pos=QPoint(x, y))
    assert (demo_truth[demo_document.selection.indices()] == instance).mean() > 0.95
