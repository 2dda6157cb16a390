"""The main window on the demo scene: opening, background lifts, cancel, errors, screenshot."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
from PIL import Image
from PySide6.QtCore import QMimeData, QPointF, QSettings, Qt, QTimer, QUrl
from PySide6.QtGui import QAction, QDropEvent

from liftstudio.app.jobs import JobState
from liftstudio.app.lift_dialog import LiftRequest
from liftstudio.cli import main as cli_main
from liftstudio.evaluate.demo_scene import DEMO_NOISE, demo_dir

DEMO_MASKS = demo_dir() / "masks" / DEMO_NOISE
WAIT_MS = 120_000


def test_the_window_opens_on_the_welcome_page_then_shows_the_demo(qtbot, window, open_demo):
    assert window.centre.currentWidget() is window.welcome
    assert not window.lift_action.isEnabled()
    document = open_demo(window)
    assert document is not None and len(document.gaussians) == 49_998
    assert window.centre.currentWidget() is window.viewport
    assert "demo" in window.windowTitle()
    qtbot.waitUntil(window.viewport.is_frame_current, timeout=WAIT_MS)
    assert window.instances_panel.model.rowCount() == 0  # nothing lifted yet
    assert window.recent.paths() == []  # the demo is not a recent file


def test_a_lift_runs_in_the_background_and_the_ui_stays_responsive(qtbot, window, open_demo):
    document = open_demo(window)
    # Warm up (numba may compile its kernels on a fresh machine), then measure.
    with qtbot.waitSignal(window.labelsApplied, timeout=WAIT_MS):
        window.start_lift(LiftRequest(DEMO_MASKS, "vote"))
    document.labels.replace_all(np.zeros(len(document.gaussians), np.int32))
    uploads = window.viewport.upload_bytes("labels")

    # Ticks of a 10 ms UI timer while the lift runs in its thread. Applying the result
    # afterwards draws a frame, which on a software rasterizer takes ~150 ms by itself.
    ticks: list[float] = []
    timer = QTimer(interval=10)

    def tick():
        running = window.jobs.running_job
        if running is not None and running.state is JobState.RUNNING:
            ticks.append(time.perf_counter())

    timer.timeout.connect(tick)
    timer.start()
    with qtbot.waitSignal(window.labelsApplied, timeout=WAIT_MS):
        job = window.start_lift(LiftRequest(DEMO_MASKS, "vote"))
    timer.stop()
    assert job.state is JobState.SUCCEEDED
    assert ticks[-1] - ticks[0] > 0.5  # long enough to measure anything
    gaps = np.diff(ticks)
    assert len(gaps) > 20 and gaps.max() < 0.100, f"UI stalled {1000 * gaps.max():.0f} ms"

    labels = document.labels.ids
    assert len(np.unique(labels[labels > 0])) >= 10
    qtbot.waitUntil(window.viewport.is_frame_current, timeout=WAIT_MS)
    assert window.viewport.upload_bytes("labels") > uploads  # the overlay got the new ids
    qtbot.waitUntil(lambda: window.instances_panel.model.rowCount() >= 10, timeout=WAIT_MS)


def test_cancelling_a_learned_lift_keeps_the_previous_labels(qtbot, window, demo_truth, open_demo):
    document = open_demo(window)
    document.labels.replace_all(demo_truth)
    job = window.start_lift(LiftRequest(DEMO_MASKS, "codebook", steps=20_000))
    qtbot.waitUntil(lambda: len(job.losses) > 0, timeout=WAIT_MS)  # training, loss reported
    row = window.jobs_panel.row(job)
    qtbot.mouseClick(row.cancel_button, Qt.MouseButton.LeftButton)
    qtbot.waitUntil(lambda: job.state.is_final, timeout=WAIT_MS)
    assert job.state is JobState.CANCELLED
    np.testing.assert_array_equal(document.labels.ids, demo_truth)


def test_a_failing_lift_shows_an_error_and_changes_nothing(
    qtbot, window, tmp_path, demo_truth, open_demo
):
    document = open_demo(window)
    document.labels.replace_all(demo_truth)
    missing = tmp_path / "no-such-masks"
    job = window.start_lift(LiftRequest(missing, "vote"))
    qtbot.waitUntil(lambda: job.state.is_final, timeout=WAIT_MS)
    assert job.state is JobState.FAILED and str(missing) in job.error_message
    qtbot.waitUntil(lambda: getattr(window, "_error_box", None) is not None, timeout=5000)
    box = window._error_box
    assert box.isVisible() and str(missing) in box.text()
    box.close()
    np.testing.assert_array_equal(document.labels.ids, demo_truth)


def test_a_corrupt_file_is_reported_and_the_open_scene_stays(qtbot, window, tmp_path, open_demo):
    document = open_demo(window)
    broken = tmp_path / "broken.ply"
    data = (demo_dir() / "point_cloud" / "iteration_30000" / "point_cloud.ply").read_bytes()
    broken.write_bytes(data[: len(data) // 3])
    job = window.open_path(broken)
    qtbot.waitUntil(lambda: job.state.is_final, timeout=WAIT_MS)
    assert job.state is JobState.FAILED and "broken.ply" in job.error_message
    assert window.document is document
    window._error_box.close()


def test_dropping_a_file_opens_it_and_remembers_it(qtbot, window):
    ply = demo_dir() / "point_cloud" / "iteration_30000" / "point_cloud.ply"
    mime = QMimeData()
    mime.setUrls([QUrl.fromLocalFile(str(ply))])
    event = QDropEvent(QPointF(50, 50), Qt.DropAction.CopyAction, mime,
                       Qt.MouseButton.NoButton, Qt.KeyboardModifier.NoModifier)  # fmt: skip
    with qtbot.waitSignal(window.documentChanged, timeout=WAIT_MS):
        window.dropEvent(event)
    assert window.document.path == ply
    assert window.recent.paths() == [ply.resolve()]
    assert window.welcome.recent_list.item(0).data(Qt.ItemDataRole.UserRole) == str(ply.resolve())


def test_snap_from_the_views_panel_moves_the_viewport(qtbot, window, open_demo):
    document = open_demo(window)
    window.views_panel.snapRequested.emit(5)
    np.testing.assert_allclose(
        window.viewport.current_camera().viewmat, document.train_cameras[5].viewmat, atol=1e-9
    )


def test_screenshot_of_the_demo_with_its_labels(tmp_path):
    out = tmp_path / "demo.png"
    done = subprocess.run(
        [sys.executable, "-m", "liftstudio", "--demo", "--screenshot", str(out),
         "--size", "1100x760"],
        capture_output=True, text=True, timeout=600, env=dict(os.environ),
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    image = np.asarray(Image.open(out).convert("RGB"))
    assert image.shape[:2] == (760, 1100)
    # The viewport shows the labelled scene: many distinct saturated colours.
    saturated = image[(image.max(axis=2).astype(int) - image.min(axis=2)) > 80]
    assert len(np.unique(saturated // 32, axis=0)) > 10


def test_the_command_line_routes_to_the_app_or_a_command(capsys, tmp_path):
    assert cli_main([str(tmp_path / "missing.ply")]) == 2
    assert "no such file" in capsys.readouterr().err
    assert cli_main(["--demo", str(tmp_path)]) == 2
    with pytest.raises(SystemExit) as exit_info:
        cli_main(["info", "--help"])
    assert exit_info.value.code == 0


def test_a_screenshot_into_a_missing_folder_is_refused(capsys, tmp_path):
    assert cli_main(["--demo", "--screenshot", str(tmp_path / "nope" / "x.png")]) == 2
    assert "does not exist" in capsys.readouterr().err
    assert not (tmp_path / "nope").exists()


def test_recent_files_keep_the_newest_first_without_duplicates(qapp, tmp_path):
    from liftstudio.app.recent_files import RecentFiles

    recent = RecentFiles(QSettings(str(tmp_path / "r.ini"), QSettings.Format.IniFormat), limit=3)
    paths = []
    for name in "abcd":
        path = tmp_path / f"{name}.ply"
        path.write_bytes(b"")
        paths.append(path)
        recent.add(path)
    recent.add(paths[1])
    assert recent.paths() == [paths[1], paths[3], paths[2]]
    paths[3].unlink()
    assert recent.paths() == [paths[1], paths[2]]


def test_masks_are_generated_in_the_background_and_offered_for_lifting(
    qtbot, window, tmp_path, open_demo
):
    from liftstudio.app.masks_dialog import MaskRequest

    document = open_demo(window)
    out = tmp_path / "felzenszwalb"
    job = window.start_mask_generation(MaskRequest("felzenszwalb", out))
    qtbot.waitUntil(lambda: job.state.is_final, timeout=WAIT_MS)
    assert job.state is JobState.SUCCEEDED, job.error_message
    written = sorted(p.stem for p in out.glob("*.png"))
    assert written == sorted(Path(c.name).stem for c in document.train_cameras)
    assert window.views_panel.masks_folder() == out
    assert window._last_masks == out
    # A second run into the same folder is refused and leaves the files alone.
    before = {p: p.stat().st_mtime_ns for p in out.iterdir()}
    again = window.start_mask_generation(MaskRequest("felzenszwalb", out))
    qtbot.waitUntil(lambda: again.state.is_final, timeout=WAIT_MS)
    assert again.state is JobState.FAILED
    assert {p: p.stat().st_mtime_ns for p in out.iterdir()} == before
    window._error_box.close()


def test_very_large_scenes_open_in_point_mode(qtbot, window, monkeypatch, open_demo):
    from liftstudio.app import main_window

    monkeypatch.setattr(main_window, "POINT_MODE_ABOVE", 10_000)  # the demo has 49,998
    open_demo(window)
    assert window.viewport.settings.point_mode
    assert window.scene_panel.settings().point_mode


def _object_stroke(document, truth, camera, instance):
    """A short horizontal stroke through the middle of the instance in ``camera``."""
    from liftstudio.render.label_maps import render_label_map
    from liftstudio.render.registry import resolve_backend

    labels = render_label_map(resolve_backend("cpu"), document.gaussians, camera, truth)
    rows, cols = np.nonzero(labels == instance)
    row = int(np.median(rows))
    inside = cols[rows == row]
    mask = np.zeros_like(labels, dtype=bool)
    middle = (inside.min() + inside.max()) // 2
    window = (slice(row - 1, row + 2), slice(middle - 3, middle + 4))
    mask[window] = labels[window] == instance
    return mask


def test_a_scribble_selects_its_object_and_the_slider_recuts(qtbot, window, demo_truth, open_demo):
    document = open_demo(window)
    camera = document.train_cameras[0]
    instance = 7
    mask = _object_stroke(document, demo_truth, camera, instance)
    job = window.start_scribble_selection(camera, mask)
    qtbot.waitUntil(lambda: job.state.is_final, timeout=WAIT_MS)
    assert job.state is JobState.SUCCEEDED, job.error_message
    chosen = np.zeros(len(demo_truth), bool)
    chosen[document.selection.indices()] = True
    target = demo_truth == instance
    iou = (chosen & target).sum() / (chosen | target).sum()
    assert iou >= 0.9, iou
    slider = window.tool_bar.threshold_slider
    assert slider.isEnabled()
    before = len(document.selection.indices())
    slider.setValue(slider.maximum() - 1)  # a high threshold keeps fewer Gaussians
    assert len(document.selection.indices()) < before


def test_the_consistency_check_ranks_instances_and_jumps_to_them(qtbot, window, open_demo):
    document = open_demo(window)
    with qtbot.waitSignal(window.labelsApplied, timeout=WAIT_MS):
        window.start_lift(LiftRequest(DEMO_MASKS, "vote"))
    job = window.start_consistency_check()
    qtbot.waitUntil(lambda: job.state.is_final, timeout=WAIT_MS)
    assert job.state is JobState.SUCCEEDED, job.error_message
    panel = window.qa_panel
    report = panel.report
    scores = [row.score for row in report.instances]
    assert panel.table.rowCount() == len(scores) > 5 and scores == sorted(scores)
    panel.table.selectRow(0)
    worst = report.instances[0]
    camera = document.train_cameras[[c.name for c in document.train_cameras].index(
        report.views[worst.worst_view])]  # fmt: skip
    np.testing.assert_allclose(window.viewport.current_camera().viewmat, camera.viewmat,
                               atol=1e-9)  # fmt: skip
    np.testing.assert_array_equal(
        document.selection.indices(), np.flatnonzero(document.labels.ids == worst.instance_id)
    )
    assert panel.displayed_heatmap() is not None


def test_edits_are_autosaved_recovered_and_saved(qtbot, window, demo_truth, open_demo):
    document = open_demo(window)
    project = document.project
    document.labels.replace_all(demo_truth, source="lift:test")
    document.labels.rename(3, "mug")
    document.labels.assign(np.arange(100), 9, source="brush")
    assert window.projects.dirty
    window.close_scene()  # autosaves: nothing is lost without an explicit save
    assert project.with_name(project.name + ".autosave").is_file()
    assert not project.exists()

    reopened = open_demo(window)  # the newer autosave is recovered
    expected = demo_truth.copy()
    expected[:100] = 9
    np.testing.assert_array_equal(reopened.labels.ids, expected)
    assert reopened.labels.instance(3).name == "mug"
    assert reopened.labels.undo()  # the history came back too
    np.testing.assert_array_equal(reopened.labels.ids, demo_truth)
    reopened.labels.redo()

    assert window.save_project() == project
    assert project.is_file() and not project.with_name(project.name + ".autosave").exists()
    window.close_scene()
    again = open_demo(window)
    np.testing.assert_array_equal(again.labels.ids, expected)


def test_help_lists_every_shortcut_of_the_window(qtbot, window):
    from liftstudio.app.main_window import shortcut_rows

    keys = " ".join(key for key, _ in shortcut_rows(window))
    for action in window.findChildren(QAction):
        for sequence in action.shortcuts():
            text = sequence.toString()
            if text and len(text) <= 2:  # single keys: tools and instance operations
                listed = "1 … 9" in keys if text in "123456789" else text in keys
                assert listed, f"{action.text()} ({text}) is missing from Help"
    window.show_controls()
    assert "Ctrl+Z" in window._controls_box.text()
    window._controls_box.close()


def test_the_readme_lists_the_shortcuts_help_shows(window):
    from liftstudio.app.main_window import shortcut_rows

    readme = (Path(__file__).resolve().parents[2] / "README.md").read_text(encoding="utf-8")
    table = readme.split("| key | what |\n|---|---|\n", 1)[1].split("\n\n", 1)[0]
    expected = "\n".join(f"| {key} | {what} |" for key, what in shortcut_rows(window))
    assert table.strip() == expected, "update the README's shortcut table from Help"
