"""Exports from the window: the same files as ``liftstudio export``, and back again."""

from __future__ import annotations

from pathlib import Path

import numpy as np
from plyfile import PlyData

from liftstudio.app.export_dialog import ExportDialog
from liftstudio.app.jobs import JobState
from liftstudio.cli import main as cli_main
from liftstudio.evaluate.demo_scene import demo_dir
from liftstudio.export.export_job import ExportRequest

WAIT_MS = 120_000


def _wait(qtbot, job):
    qtbot.waitUntil(lambda: job.state.is_final, timeout=WAIT_MS)
    assert job.state is JobState.SUCCEEDED, job.error_message


def _labeled_demo(window, open_demo, demo_truth):
    document = open_demo(window)
    document.labels.replace_all(demo_truth)
    document.labels.rename(3, "mug")
    document.labels.update_instances([3, 4], class_name="kitchen")
    document.labels.update_instance(5, visible=False)
    return document


def test_the_window_exports_what_the_cli_exports_from_the_saved_project(
    qtbot, window, open_demo, demo_truth, tmp_path, capsys
):
    _labeled_demo(window, open_demo, demo_truth)
    project = window.save_project()
    app_out, cli_out = tmp_path / "app", tmp_path / "cli"
    request = ExportRequest(("ply", "instances"), app_out, confidence=True, hidden="unlabel")
    _wait(qtbot, window.start_export(request))
    flags = ["--confidence", "--hidden", "unlabel", "--out", str(cli_out)]
    assert cli_main(["export", str(project), "--format", "ply", "--format", "instances",
                     *flags]) == 0  # fmt: skip
    capsys.readouterr()
    app_files = sorted(p.relative_to(app_out) for p in app_out.rglob("*.ply"))
    assert app_files == sorted(p.relative_to(cli_out) for p in cli_out.rglob("*.ply"))
    assert len(app_files) > 10
    for name in app_files:  # the PLYs are byte-identical; sidecars differ in provenance only
        assert (app_out / name).read_bytes() == (cli_out / name).read_bytes(), name
    rows = PlyData.read(str(app_out / "labeled.ply"))["vertex"].data
    np.testing.assert_array_equal(rows["instance"], np.where(demo_truth == 5, 0, demo_truth))


def test_opening_an_exported_ply_brings_its_instance_table_back(
    qtbot, window, open_demo, demo_truth, tmp_path
):
    document = _labeled_demo(window, open_demo, demo_truth)
    table = document.labels.instances()
    _wait(qtbot, window.start_export(ExportRequest(("ply",), tmp_path / "out.ply")))
    with qtbot.waitSignal(window.documentChanged, timeout=WAIT_MS):
        window.open_path(tmp_path / "out.ply")
    opened = window.document
    np.testing.assert_array_equal(opened.labels.ids, demo_truth)
    assert opened.labels.instances() == table  # names, classes, colours, visibility
    assert "instance" not in opened.gaussians.extras  # the label columns are labels again
    assert opened.labels.instance(3).name == "mug"


def test_the_selection_is_exported_with_every_column(qtbot, window, open_demo, tmp_path):
    document = open_demo(window)
    chosen = np.arange(100, 5000, 7)
    document.selection.replace(chosen)
    _wait(qtbot, window.start_selection_export(tmp_path / "picked.ply"))
    rows = PlyData.read(str(tmp_path / "picked.ply"))["vertex"].data
    source = PlyData.read(str(document.opened.gaussians_path))["vertex"].data
    assert rows.dtype.names == source.dtype.names
    assert rows.tobytes() == source[chosen].tobytes()


def test_the_dialog_builds_the_request_and_never_defaults_into_the_package(qtbot, window):
    dialog = ExportDialog(demo_dir(), has_cameras=True, parent=window)
    qtbot.addWidget(dialog)
    assert not Path(dialog.out_edit.text()).resolve().is_relative_to(demo_dir().resolve().parent)
    dialog.format_boxes["coco"].setChecked(True)
    dialog.hidden_combo.setCurrentIndex(dialog.hidden_combo.findData("drop"))
    dialog.out_edit.setText("/tmp/somewhere")
    request = dialog.request()
    assert request.formats == ("ply", "coco") and request.hidden == "drop"
    assert request.out == Path("/tmp/somewhere")
    dialog.format_boxes["ply"].setChecked(False)
    dialog.format_boxes["coco"].setChecked(False)
    assert not dialog.buttons.button(dialog.buttons.StandardButton.Ok).isEnabled()
    without = ExportDialog(demo_dir(), has_cameras=False, parent=window)
    qtbot.addWidget(without)
    assert not without.format_boxes["label-maps"].isEnabled()
