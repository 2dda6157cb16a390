"""Help → System check: the ``liftstudio doctor`` report in a dialog, with a Copy button.

The checks (:func:`liftstudio.doctor.run_checks`) take seconds: they import torch and
run the OpenGL probe in a process of its own. They run on a daemon thread; a
:class:`QTimer` on the UI thread polls for the result, so the window never waits for
them, and closing the dialog (or the app) never waits for them either. The text shown
is exactly :func:`liftstudio.doctor.format_report` of the items.
"""

from __future__ import annotations

import threading
import traceback
from collections.abc import Collection
from concurrent.futures import Future

from PySide6.QtCore import QTimer, Signal
from PySide6.QtGui import QFontDatabase, QGuiApplication, QShowEvent
from PySide6.QtWidgets import (
    QDialog,
    QDialogButtonBox,
    QLabel,
    QPlainTextEdit,
    QPushButton,
    QVBoxLayout,
    QWidget,
)

from liftstudio.doctor import CheckItem, counts, exit_status, format_report, run_checks

#: How often the UI thread looks for the finished report, in milliseconds.
POLL_MS = 50


class SystemCheckDialog(QDialog):
    """Runs the doctor's checks in the background and shows its report.

    Parameters
    ----------
    parent
        The Qt parent (the main window).
    gl_probe, sections
        Passed to :func:`liftstudio.doctor.run_checks`.

    Attributes
    ----------
    text : QPlainTextEdit
        The report (read-only, monospaced, not wrapped).
    copy_button, rerun_button : QPushButton
        Copy the report to the clipboard; run the checks again.
    items : list of CheckItem or None
        The last report's items, None while the checks run.

    Signals
    -------
    reportReady(str)
        The report text, once the checks have finished.
    """

    reportReady = Signal(str)

    def __init__(
        self,
        parent: QWidget | None = None,
        *,
        gl_probe: bool = True,
        sections: Collection[str] | None = None,
    ) -> None:
        super().__init__(parent)
        self.setWindowTitle("System check")
        self.resize(900, 640)
        self._options = {"gl_probe": gl_probe, "sections": sections}
        self._future: Future[list[CheckItem]] | None = None
        self._thread: threading.Thread | None = None
        self.items: list[CheckItem] | None = None

        self.summary = QLabel(self)
        self.text = QPlainTextEdit(self)
        self.text.setReadOnly(True)
        self.text.setLineWrapMode(QPlainTextEdit.LineWrapMode.NoWrap)
        self.text.setFont(QFontDatabase.systemFont(QFontDatabase.SystemFont.FixedFont))
        buttons = QDialogButtonBox(QDialogButtonBox.StandardButton.Close, self)
        self.copy_button = QPushButton("Copy", self)
        self.copy_button.setToolTip("Copy the report to the clipboard")
        self.rerun_button = QPushButton("Run again", self)
        buttons.addButton(self.copy_button, QDialogButtonBox.ButtonRole.ActionRole)
        buttons.addButton(self.rerun_button, QDialogButtonBox.ButtonRole.ActionRole)
        buttons.rejected.connect(self.reject)
        self.copy_button.clicked.connect(self.copy_report)
        self.rerun_button.clicked.connect(self.start)

        layout = QVBoxLayout(self)
        layout.addWidget(self.summary)
        layout.addWidget(self.text, 1)
        layout.addWidget(buttons)

        self._poll = QTimer(self, interval=POLL_MS)
        self._poll.timeout.connect(self._check_done)
        self.start()

    # ------------------------------------------------------------------ running
    def is_running(self) -> bool:
        """Whether the checks are still running."""
        return self._future is not None and not self._future.done()

    def start(self) -> None:
        """Run the checks (again) in the background; does nothing while they run."""
        if self.is_running():
            return
        self.items = None
        self.text.setPlainText("")
        self.summary.setText("Checking this installation (OpenGL, CUDA, SAM, DINOv2, caches)...")
        self.copy_button.setEnabled(False)
        self.rerun_button.setEnabled(False)
        future: Future[list[CheckItem]] = Future()
        options = dict(self._options)

        def work() -> None:
            try:
                future.set_result(run_checks(**options))
            except BaseException as exc:  # reported in the dialog, never raised in a thread
                future.set_exception(exc)

        self._future = future
        self._thread = threading.Thread(target=work, name="system-check", daemon=True)
        self._thread.start()
        self._poll.start()

    def wait(self, timeout: float | None = None) -> bool:
        """Block until the background thread ends (for tests and shutdown); True if it did."""
        if self._thread is None:
            return True
        self._thread.join(timeout)
        return not self._thread.is_alive()

    def _check_done(self) -> None:
        future = self._future
        if future is None or not future.done():
            return
        self._poll.stop()
        self.rerun_button.setEnabled(True)
        error = future.exception()
        if error is not None:
            details = "".join(traceback.format_exception(error))
            self.summary.setText("The system check failed:")
            self.text.setPlainText(details)
            self.copy_button.setEnabled(True)
            return
        items = future.result()
        self.items = items
        report = format_report(items)
        tally = counts(items)
        broken = exit_status(items) != 0
        verdict = "Something LiftStudio needs is broken" if broken else "LiftStudio can run here"
        self.summary.setText(
            f"{verdict}: {tally['ok']} ok, {tally['missing']} missing (optional), "
            f"{tally['warning']} warning(s), {tally['error']} error(s). "
            'See "What to do" at the end.'
        )
        self.text.setPlainText(report)
        self.copy_button.setEnabled(True)
        self.reportReady.emit(report)

    # ------------------------------------------------------------------ actions
    def report_text(self) -> str:
        """The report shown, or "" while the checks run."""
        return format_report(self.items) if self.items is not None else ""

    def copy_report(self) -> None:
        """Put the text shown on the clipboard."""
        QGuiApplication.clipboard().setText(self.text.toPlainText())

    def showEvent(self, event: QShowEvent) -> None:
        """Resume polling when shown again after closing while the checks ran."""
        super().showEvent(event)
        if self._future is not None and self.items is None:
            self._poll.start()

    def done(self, result: int) -> None:
        """Close without waiting for checks still running (their thread is a daemon)."""
        self._poll.stop()
        super().done(result)
