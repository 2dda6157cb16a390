"""The selection tools on the Views panel's 2D view, driven by real mouse events.

The 2D view shows a training camera (possibly shrunk); a shape drawn on it must select
through that camera exactly as the same shape drawn in the camera's pixels would.
Expectations are computed independently: ground-truth label renders and centre
projection.
"""

from __future__ import annotations

import numpy as np
import pytest
from PySide6.QtCore import Qt

from liftstudio.app.panels import ViewsPanel, views_panel
from liftstudio.app.viewport.gl_viewport import SplatViewport
from liftstudio.app.viewport.tools import ToolMode
from liftstudio.render.label_maps import render_label_map
from liftstudio.render.registry import resolve_backend

WAIT_MS = 15_000
VIEW = 3


@pytest.fixture(params=["full size", "shrunk"])
def panel(request, qtbot, monkeypatch, demo_document, demo_truth):
    """The Views panel on a demo view, shown at its size or shrunk to 200 px wide."""
    if request.param == "shrunk":  # the view shows images capped to 200 px: 320 → 200
        monkeypatch.setattr(views_panel, "IMAGE_CAP", 200)
        monkeypatch.setattr(views_panel, "RENDER_CAP", 200)
    demo_document.labels.replace_all(demo_truth)
    viewport = SplatViewport()
    qtbot.addWidget(viewport)
    viewport.set_document(demo_document)
    views = ViewsPanel()
    qtbot.addWidget(views)
    views.resize(700, 700)
    views.show()
    qtbot.waitExposed(views)
    views.set_document(demo_document)
    views.set_tools(viewport.tools)
    views.select_camera(VIEW)
    qtbot.waitUntil(lambda: views.shown_view() is not None, timeout=WAIT_MS)
    qtbot.wait(50)  # let the view box take its range
    shown_width = views.shown_view()[1][1]
    assert shown_width == (200 if request.param == "shrunk" else 320)
    yield views, viewport.tools
    views.shutdown()
    viewport.shutdown()


def _drag(qtbot, views, points, modifier=Qt.KeyboardModifier.NoModifier):
    widget = views._graphics.viewport()
    qtbot.mousePress(widget, Qt.MouseButton.LeftButton, modifier, points[0])
    for point in points[1:]:
        qtbot.mouseMove(widget, point)
        qtbot.wait(5)
    qtbot.mouseRelease(widget, Qt.MouseButton.LeftButton, modifier, points[-1])


def test_click_on_the_2d_view_selects_the_instance_there(
    qtbot, panel, demo_document, demo_truth, views_point
):
    views, tools = panel
    tools.set_mode(ToolMode.CLICK)
    camera = demo_document.train_cameras[VIEW]
    labels = render_label_map(resolve_backend("cpu"), demo_document.gaussians, camera, demo_truth)
    ids, areas = np.unique(labels[labels > 0], return_counts=True)
    for instance in ids[np.argsort(-areas)][1:4]:  # skip the table
        rows, cols = np.nonzero(labels == instance)
        centre = np.array([rows.mean(), cols.mean()])
        best = np.argmin(((np.stack([rows, cols], 1) - centre) ** 2).sum(1))
        point = views_point(views, cols[best] + 0.5, rows[best] + 0.5)
        qtbot.mouseClick(views._graphics.viewport(), Qt.MouseButton.LeftButton, pos=point)
        chosen = np.zeros(len(demo_truth), bool)
        chosen[demo_document.selection.indices()] = True
        target = demo_truth == instance
        assert chosen[target].mean() >= 0.9, instance
        assert chosen[~target].sum() < 0.05 * target.sum()


def test_rect_on_the_2d_view_selects_through_its_training_camera(
    qtbot, panel, demo_document, views_point
):
    views, tools = panel
    tools.options.depth_mode = "through"
    tools.set_mode(ToolMode.RECT)
    camera = demo_document.train_cameras[VIEW]
    x0, y0, x1, y1 = (
        0.2 * camera.width,
        0.25 * camera.height,
        0.7 * camera.width,
        0.8 * camera.height,
    )
    corners = [views_point(views, x0, y0), views_point(views, (x0 + x1) / 2, (y0 + y1) / 2)]
    corners.append(views_point(views, x1, y1))
    _drag(qtbot, views, corners)
    # Independent expectation: centres projected by the camera's pinhole model.
    means = demo_document.gaussians.means.astype(np.float64)
    cam = means @ np.asarray(camera.viewmat)[:3, :3].T + np.asarray(camera.viewmat)[:3, 3]
    xy = cam[:, :2] / cam[:, 2:3] * np.diag(camera.K)[:2] + camera.K[:2, 2]
    inside = (xy[:, 0] >= x0) & (xy[:, 0] <= x1) & (xy[:, 1] >= y0) & (xy[:, 1] <= y1)
    expected = set(np.flatnonzero(inside & (cam[:, 2] > 0)))
    got = set(demo_document.selection.indices())
    assert len(expected) > 200
    # The widget → image mapping rounds to screen pixels: allow the edges to differ.
    assert len(got ^ expected) <= 0.03 * len(expected)


def test_ctrl_brush_on_the_2d_view_subtracts(qtbot, panel, demo_document, demo_truth, views_point):
    views, tools = panel
    demo_document.selection.replace(np.arange(len(demo_truth)))
    tools.options.depth_mode = "through"
    tools.options.brush_radius = 25
    tools.set_mode(ToolMode.BRUSH)
    camera = demo_document.train_cameras[VIEW]
    y = camera.height / 2
    stroke = [views_point(views, x, y) for x in np.linspace(0.3, 0.7, 6) * camera.width]
    _drag(qtbot, views, stroke, Qt.KeyboardModifier.ControlModifier)
    remaining = len(demo_document.selection.indices())
    assert 0 < remaining < len(demo_truth)


def test_sam_click_on_the_2d_view_names_the_training_camera_and_pixel(
    qtbot, panel, demo_document, views_point
):
    views, tools = panel
    tools.set_mode(ToolMode.SAM)
    camera = demo_document.train_cameras[VIEW]
    target = (0.4 * camera.width, 0.6 * camera.height)
    with qtbot.waitSignal(tools.samClicked) as blocker:
        qtbot.mouseClick(
            views._graphics.viewport(), Qt.MouseButton.LeftButton,
            Qt.KeyboardModifier.ShiftModifier, views_point(views, *target),
        )  # fmt: skip
    clicked, x, y, combine = blocker.args
    assert clicked is camera and combine == "add"
    pixel = camera.width / views.shown_view()[1][1] * views.image_tools.view_box.viewPixelSize()[0]
    assert abs(x - target[0]) <= 2 * pixel + 1 and abs(y - target[1]) <= 2 * pixel + 1


def test_without_a_tool_the_2d_view_pans_and_selects_nothing(
    qtbot, panel, demo_document, views_point
):
    views, tools = panel
    tools.set_mode(ToolMode.NAVIGATE)
    box = views.image_tools.view_box
    before = np.array(box.viewRange())
    camera = demo_document.train_cameras[VIEW]
    points = [views_point(views, f * camera.width, camera.height / 2) for f in (0.3, 0.4, 0.5)]
    _drag(qtbot, views, points)
    assert not np.allclose(np.array(box.viewRange()), before)
    assert len(demo_document.selection.indices()) == 0
