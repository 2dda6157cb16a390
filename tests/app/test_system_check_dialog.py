"""Help → System check: the doctor's report in a dialog, and the doctor's Qt facts.

The dialog must show exactly the core's report (``format_report(run_checks(...))``),
computed off the UI thread; the OpenGL probe must describe the context the app's own
viewport gets, and the demo project's folder must be the one Qt gives the app.
"""

from __future__ import annotations

import pytest
from PySide6.QtCore import QCoreApplication, QStandardPaths, Qt
from PySide6.QtWidgets import QApplication

from liftstudio.app.system_check_dialog import SystemCheckDialog
from liftstudio.app.viewport.gl_viewport import SplatViewport
from liftstudio.doctor import SECTIONS, format_report, run_checks
from liftstudio.doctor.gl import GlProbeRun
from liftstudio.doctor.installation import current_installation
from liftstudio.doctor.storage import app_data_folder

#: Sections whose details do not change between two runs (RAM, free disk and the
#: numba files other processes compile do).
STEADY = [section for section in SECTIONS if section not in ("Files", "Resources")]


def test_the_dialog_shows_the_core_report_and_copies_it(qtbot, no_user_config, tmp_path):
    checkpoint = tmp_path / "sam.pth"
    checkpoint.write_bytes(b"\0" * 4096)
    no_user_config.write_text(f'[sam]\ncheckpoint = "{checkpoint}"\n')
    dialog = SystemCheckDialog(sections=STEADY)
    qtbot.addWidget(dialog)
    # the constructor returned before the checks finished: they run off the UI thread
    assert dialog.is_running()
    assert dialog.text.toPlainText() == "" and not dialog.copy_button.isEnabled()
    with qtbot.waitSignal(dialog.reportReady, timeout=120_000) as ready:
        dialog.show()
    assert dialog.wait(10)

    expected = format_report(run_checks(gl_probe=True, sections=STEADY))
    assert dialog.text.toPlainText() == expected == ready.args[0]
    assert "OpenGL 3.3 core" in expected and str(checkpoint) in expected
    assert dialog.copy_button.isEnabled()
    QApplication.clipboard().clear()
    qtbot.mouseClick(dialog.copy_button, Qt.MouseButton.LeftButton)
    assert QApplication.clipboard().text() == expected


def test_run_again_runs_the_checks_again(qtbot, no_user_config):
    dialog = SystemCheckDialog(gl_probe=False, sections=["Files"])
    qtbot.addWidget(dialog)
    with qtbot.waitSignal(dialog.reportReady, timeout=60_000):
        dialog.show()
    assert "not present: no settings" in " ".join(dialog.text.toPlainText().split())
    assert dialog.summary.text().startswith("LiftStudio can run here")
    no_user_config.write_text("[dino\n")  # now broken: the new report must say so
    with qtbot.waitSignal(dialog.reportReady, timeout=60_000) as ready:
        qtbot.mouseClick(dialog.rerun_button, Qt.MouseButton.LeftButton)
    assert dialog.wait(10)
    assert "[error]" in ready.args[0] and str(no_user_config) in ready.args[0]
    assert dialog.summary.text().startswith("Something LiftStudio needs is broken")


def test_the_probe_describes_the_viewports_own_context(qtbot):
    viewport = SplatViewport()
    qtbot.addWidget(viewport)
    with qtbot.waitSignal(viewport.glInfo, timeout=30_000) as info:
        viewport.resize(200, 150)
        viewport.show()
    outcome = GlProbeRun(current_installation(), timeout=120).outcome()
    assert outcome.result is not None and outcome.result["ok"], outcome
    assert info.args[0] == f"{outcome.result['renderer']} ({outcome.result['version']})"
    viewport.shutdown()


@pytest.mark.parametrize("xdg", [False, True])
def test_the_demo_project_folder_is_qts_app_data_location(qapp, monkeypatch, tmp_path, xdg):
    if xdg:
        monkeypatch.setenv("XDG_DATA_HOME", str(tmp_path / "data"))
    else:
        monkeypatch.delenv("XDG_DATA_HOME", raising=False)
    names = QCoreApplication.organizationName(), QCoreApplication.applicationName()
    QCoreApplication.setOrganizationName("LiftStudio")  # as liftstudio.app.launch does
    QCoreApplication.setApplicationName("LiftStudio")
    try:
        qt = QStandardPaths.writableLocation(QStandardPaths.StandardLocation.AppDataLocation)
    finally:
        QCoreApplication.setOrganizationName(names[0])
        QCoreApplication.setApplicationName(names[1])
    assert str(app_data_folder()) == qt
