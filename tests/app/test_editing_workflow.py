"""Editing in the main window on the demo: split, SAM click, segments, project extras,
and the whole "open, lift, fix, name, undo, redo, quit, reopen" session of issue 9."""

from __future__ import annotations

import numpy as np
import pytest
from PySide6.QtCore import QSettings, Qt
from PySide6.QtWidgets import QApplication

from liftstudio.app.jobs import JobState
from liftstudio.app.main_window import MainWindow
from liftstudio.app.panels.instances_panel import InstanceTableModel
from liftstudio.app.viewport.settings import ViewMode, ViewportSettings
from liftstudio.app.viewport.tools import ToolMode
from liftstudio.evaluate.demo_scene import DEMO_NOISE, demo_dir
from liftstudio.render.label_maps import render_label_map
from liftstudio.render.registry import resolve_backend

WAIT_MS = 120_000

DEMO_MASKS = demo_dir() / "masks" / DEMO_NOISE


def _wait(qtbot, job):
    qtbot.waitUntil(lambda: job.state.is_final, timeout=WAIT_MS)
    assert job.state is JobState.SUCCEEDED, job.error_message


def _iou(indices: np.ndarray, target: np.ndarray) -> float:
    chosen = np.zeros(len(target), bool)
    chosen[indices] = True
    return (chosen & target).sum() / (chosen | target).sum()


def _far_apart_objects(document, truth) -> tuple[int, int]:
    """Two objects (not the table, the largest) whose centres are farthest apart."""
    ids, counts = np.unique(truth[truth > 0], return_counts=True)
    objects = [int(i) for i in ids if i != ids[np.argmax(counts)]]
    centres = {i: document.gaussians.means[truth == i].mean(0) for i in objects}
    pairs = [(a, b) for a in objects for b in objects if a < b]
    return max(pairs, key=lambda p: np.linalg.norm(centres[p[0]] - centres[p[1]]))


# ---------------------------------------------------------------------------- split
def test_split_separates_two_objects_merged_into_one_instance(qtbot, window, open_demo, demo_truth):
    document = open_demo(window)
    document.labels.replace_all(demo_truth)
    first, second = _far_apart_objects(document, demo_truth)
    document.labels.merge([second], first)
    merged = document.labels.ids.copy()
    window.instances_panel.refresh()
    window.instances_panel.select_ids([first])

    _wait(qtbot, window.split_instances())

    ids = document.labels.ids
    for instance in (first, second):
        target = demo_truth == instance
        values, counts = np.unique(ids[target], return_counts=True)
        owner = values[np.argmax(counts)]
        assert _iou(np.flatnonzero(ids == owner), target) >= 0.95, instance
    assert ids[demo_truth == first][0] != ids[demo_truth == second][0]
    others = (demo_truth != first) & (demo_truth != second)
    np.testing.assert_array_equal(ids[others], merged[others])  # nothing else moved
    qtbot.wait(20)  # the Undo action's state follows the history on the next loop turn
    qtbot.keyClick(window, Qt.Key.Key_Z, Qt.KeyboardModifier.ControlModifier)
    np.testing.assert_array_equal(document.labels.ids, merged)  # one undo step


def test_split_refuses_a_locked_instance(qtbot, window, open_demo, demo_truth):
    document = open_demo(window)
    document.labels.replace_all(demo_truth)
    first, second = _far_apart_objects(document, demo_truth)
    document.labels.merge([second], first)
    document.labels.update_instance(first, locked=True)
    before = document.labels.ids.copy()
    window.instances_panel.refresh()
    window.instances_panel.select_ids([first])
    assert window.split_instances() is None
    assert "locked" in window.instance_actions.last_error_box.text()
    np.testing.assert_array_equal(document.labels.ids, before)


# ---------------------------------------------------------------------------- SAM click
def test_sam_click_is_off_until_a_checkpoint_is_configured(qtbot, window, open_demo):
    open_demo(window)
    action = window.tool_bar.actions_by_mode[ToolMode.SAM]
    assert not action.isEnabled()
    assert "checkpoint" in action.toolTip()


def test_sam_click_on_a_training_view_selects_what_the_sam_prompt_loop_finds(
    qtbot, window, open_demo, demo_truth, tiny_sam, no_user_config, views_point
):
    """The app's SAM job is the core's loop on the clicked view and pixel.

    The tiny SAM has random weights, so what it segments is arbitrary: the check is
    that the window hands the right view, pixel, images and predictor to
    :func:`~liftstudio.lift.sam_click.sam_click_scores` and applies its result with
    the threshold slider.
    """
    from liftstudio.lift.sam_click import load_click_predictor, sam_click_scores
    from liftstudio.sources.images import scene_training_images

    no_user_config.write_text(f'[sam]\ncheckpoint = "{tiny_sam[1]}"\n')
    document = open_demo(window)
    assert window.tool_bar.actions_by_mode[ToolMode.SAM].isEnabled()
    view = 2
    window.views_panel.select_camera(view)
    qtbot.waitUntil(lambda: window.views_panel.shown_view() is not None, timeout=WAIT_MS)
    camera = document.train_cameras[view]
    predictor = load_click_predictor(tiny_sam[1], device="cpu")
    images = scene_training_images(document.opened, document.train_cameras).images
    labels = render_label_map(resolve_backend("cpu"), document.gaussians, camera, demo_truth)
    rows, cols = np.nonzero(labels > 0)
    for i in np.linspace(0, len(rows) - 1, 40).astype(int):  # where this SAM finds a mask
        point = np.array([[cols[i] + 0.5, rows[i] + 0.5]], np.float32)
        if predictor.predict(images[view], point, np.ones(1, np.int32))[0].any():
            break
    else:
        pytest.fail("the tiny SAM segments nothing on any object pixel")

    window.tool_bar.actions_by_mode[ToolMode.SAM].trigger()
    with qtbot.waitSignal(window.jobs.jobAdded, timeout=WAIT_MS) as added:
        qtbot.mouseClick(
            window.views_panel._graphics.viewport(), Qt.MouseButton.LeftButton,
            pos=views_point(window.views_panel, *point[0]),
        )  # fmt: skip
    _wait(qtbot, added.args[0])

    clicked = window.viewport.tools  # the click landed within a screen pixel of `point`
    assert clicked.mode == ToolMode.SAM
    expected = sam_click_scores(
        resolve_backend("auto"), document.gaussians, document.train_cameras, images, view,
        tuple(point[0]), predictor,
    )  # fmt: skip
    got = document.selection.indices()
    assert len(got) > 0
    # Widget rounding may move the click by under a pixel: compare with a tolerance.
    assert _iou(got, np.isin(np.arange(len(demo_truth)), expected.selection())) >= 0.9
    assert window.tool_bar.threshold_slider.isEnabled()
    window.tool_bar.threshold_slider.setValue(window.tool_bar.threshold_slider.maximum())
    assert set(document.selection.indices()) <= set(got)


# ---------------------------------------------------------------------------- project
def test_the_project_keeps_viewport_settings_tools_and_the_masks_folder(
    qtbot, window, open_demo, demo_truth
):
    document = open_demo(window)
    document.labels.replace_all(demo_truth)
    chosen = ViewportSettings(mode=ViewMode.DEPTH, label_opacity=0.25, sh_degree=1)
    window.scene_panel.set_settings(chosen)
    window.viewport.set_settings(chosen)
    window.views_panel.set_masks_folder(DEMO_MASKS)
    window.tool_bar.depth_combo.setCurrentIndex(window.tool_bar.depth_combo.findData("through"))
    window.viewport.tools.options.brush_radius = 30.0
    assert window.save_project() is not None

    window.close_scene()
    window.tool_bar.depth_combo.setCurrentIndex(window.tool_bar.depth_combo.findData("surface"))
    window.viewport.tools.options.brush_radius = 12.0
    window.scene_panel.set_settings(ViewportSettings())
    open_demo(window)
    assert window.scene_panel.settings() == chosen
    assert window.viewport.settings == chosen
    assert window.views_panel.masks_folder() == DEMO_MASKS.resolve()
    assert window.viewport.tools.options.depth_mode == "through"
    assert window.viewport.tools.options.brush_radius == 30.0


# ---------------------------------------------------------------------------- issue 9's session
def _rename(window, instance_id: int, name: str) -> None:
    model = window.instances_panel.model
    row = [i.id for i in window.document.labels.instances()].index(instance_id)
    assert model.setData(model.index(row, InstanceTableModel.NAME), name)


def test_open_lift_fix_two_instances_name_undo_redo_quit_reopen(qtbot, tmp_path, demo_truth):
    """Issue 9's "done when": every step through the window's own actions and keys."""
    settings = QSettings(str(tmp_path / "settings.ini"), QSettings.Format.IniFormat)

    def new_window() -> MainWindow:
        shown = MainWindow(settings, project_locator=lambda s: tmp_path / f"{s.name}.lsproj")
        shown.projects.ask_recovery = lambda _path: True
        qtbot.addWidget(shown)
        shown.resize(1000, 700)
        shown.show()
        qtbot.waitExposed(shown)
        shown.activateWindow()
        qtbot.waitUntil(lambda: QApplication.activeWindow() is shown)
        return shown

    window = new_window()
    with qtbot.waitSignal(window.labelsApplied, timeout=WAIT_MS):
        window.open_demo(lift=True)  # opens, then lifts the demo's masks with `vote`
    document = window.document
    lifted = document.labels.ids.copy()

    # The two objects the lift got most wrong (best IoU of any lifted instance).
    def best_iou(instance: int) -> float:
        target = demo_truth == instance
        values = np.unique(lifted[target])
        return max(_iou(np.flatnonzero(lifted == v), target) for v in values if v > 0)

    objects = [int(i) for i in np.unique(demo_truth) if i > 0]
    worst = sorted(objects, key=best_iou)[:2]
    camera_index = 0
    camera = document.train_cameras[camera_index]
    visible = render_label_map(resolve_backend("cpu"), document.gaussians, camera, demo_truth)
    names = {}
    for n, instance in enumerate(worst):
        # Fix it: scribble on it in the Views panel's image, then M (new instance).
        rows, cols = np.nonzero(visible == instance)
        if len(rows) < 30:  # not seen well enough from camera 0: use its best view
            counts = [
                (render_label_map(resolve_backend("cpu"), document.gaussians, c, demo_truth)
                 == instance).sum() for c in document.train_cameras
            ]  # fmt: skip
            camera_index = int(np.argmax(counts))
            camera = document.train_cameras[camera_index]
            visible = render_label_map(
                resolve_backend("cpu"), document.gaussians, camera, demo_truth
            )
            rows, cols = np.nonzero(visible == instance)
        mask = np.zeros(visible.shape, bool)
        row = int(np.median(rows))
        inside = cols[rows == row]
        middle = (inside.min() + inside.max()) // 2
        mask[row - 1 : row + 2, middle - 3 : middle + 4] = True
        mask &= visible == instance
        _wait(qtbot, window.start_scribble_selection(camera, mask))
        assert _iou(document.selection.indices(), demo_truth == instance) >= 0.85
        qtbot.keyClick(window, Qt.Key.Key_M)
        new_id = int(document.labels.ids[document.selection.indices()[0]])
        names[new_id] = f"fixed object {n + 1}"
        _rename(window, new_id, names[new_id])
    for new_id in names:
        target_instance = worst[list(names).index(new_id)]
        assert _iou(document.labels.members(new_id), demo_truth == target_instance) >= 0.85
        assert best_iou(target_instance) < _iou(
            document.labels.members(new_id), demo_truth == target_instance
        )

    fixed = document.labels.ids.copy()
    table = document.labels.instances()
    ctrl = Qt.KeyboardModifier.ControlModifier
    for _ in range(4):  # the two renames and the two new instances
        qtbot.wait(20)  # the Undo action's state follows the history on the next loop turn
        qtbot.keyClick(window, Qt.Key.Key_Z, ctrl)
    np.testing.assert_array_equal(document.labels.ids, lifted)
    for _ in range(4):
        qtbot.wait(20)
        qtbot.keyClick(window, Qt.Key.Key_Z, ctrl | Qt.KeyboardModifier.ShiftModifier)
    np.testing.assert_array_equal(document.labels.ids, fixed)
    assert document.labels.instances() == table

    window.close()  # quits: autosaves and stops every thread
    qtbot.waitUntil(lambda: window.jobs.running_job is None, timeout=WAIT_MS)

    reopened = new_window()
    with qtbot.waitSignal(reopened.documentChanged, timeout=WAIT_MS):
        reopened.open_demo(lift=False)
    again = reopened.document
    np.testing.assert_array_equal(again.labels.ids, fixed)
    assert again.labels.instances() == table
    for new_id, name in names.items():
        assert again.labels.instance(new_id).name == name
    qtbot.wait(20)
    qtbot.keyClick(reopened, Qt.Key.Key_Z, ctrl)  # the history came back too
    assert again.labels.instance(list(names)[-1]).name != names[list(names)[-1]]
    assert reopened.shutdown()
