"""Starting the app: ``liftstudio [PATH] [--demo] [--screenshot PNG]``.

With ``--screenshot`` the app opens what it was asked to, waits until the scene is
shown with a depth order sorted for the current view (and, with ``--demo``, until the
demo's lift has been applied), saves a PNG of the whole window and exits. The README
images and the smoke tests are made this way.
"""

from __future__ import annotations

import sys
import tempfile
import time
from pathlib import Path

from PySide6.QtCore import QObject, QTimer
from PySide6.QtGui import QSurfaceFormat
from PySide6.QtWidgets import QApplication

from liftstudio.app.jobs import JobState
from liftstudio.app.main_window import MainWindow
from liftstudio.app.viewport.gl_viewport import gl_surface_format
from liftstudio.errors import OutputFileError
from liftstudio.fileio import atomic_output

EXIT_OK = 0
EXIT_FAILED = 2


def application() -> QApplication:
    """The process's QApplication, created with the OpenGL format the viewport needs."""
    existing = QApplication.instance()
    if existing is not None:
        return existing  # type: ignore[return-value]
    QSurfaceFormat.setDefaultFormat(gl_surface_format())
    app = QApplication(sys.argv[:1])
    app.setApplicationName("LiftStudio")
    app.setOrganizationName("LiftStudio")
    return app


class ScreenshotWhenReady(QObject):
    """Saves a PNG of ``window`` once it shows what was asked for, then ends the app.

    Parameters
    ----------
    window
        The main window.
    path
        Where the PNG goes (replaced if it exists).
    expect_scene
        Wait for a scene to be open.
    expect_labels
        Wait for a lift's labels to be applied.
    timeout_s
        Give up (exit status 2) after this long.
    """

    def __init__(
        self,
        window: MainWindow,
        path: Path,
        *,
        expect_scene: bool,
        expect_labels: bool,
        timeout_s: float = 900.0,
    ) -> None:
        super().__init__(window)
        self.window = window
        self.path = Path(path)
        self.expect_scene = expect_scene
        self.expect_labels = expect_labels
        self.labels_applied = False
        self.exit_code: int | None = None
        self.message = ""
        self._deadline = time.monotonic() + timeout_s
        self._fresh_frames = 0
        window.labelsApplied.connect(self._labels_applied)
        window.viewport.frameRendered.connect(self._frame)
        self._timer = QTimer(self, interval=100)
        self._timer.timeout.connect(self._check)
        self._timer.start()

    def _labels_applied(self, _output) -> None:
        self.labels_applied = True

    def _frame(self, current: bool) -> None:
        self._fresh_frames = self._fresh_frames + 1 if current else 0

    def _check(self) -> None:
        jobs = self.window.jobs.jobs
        failed = [job for job in jobs if job.state == JobState.FAILED]
        if failed:
            return self._finish(EXIT_FAILED, f"error: {failed[0].name}: {failed[0].error_message}")
        if time.monotonic() > self._deadline:
            return self._finish(EXIT_FAILED, "error: timed out waiting for the first full frame")
        busy = any(job.state in (JobState.QUEUED, JobState.RUNNING) for job in jobs)
        if busy or (self.expect_scene and self.window.document is None):
            return None
        if self.expect_labels and not self.labels_applied:
            return None
        viewport = self.window.viewport
        if self.window.document is not None and not viewport.is_frame_current():
            viewport.update()
            return None
        if self.window.document is not None and self._fresh_frames == 0:
            viewport.update()
            return None
        try:
            with atomic_output(self.path, overwrite=True) as tmp:
                if not self.window.grab().save(str(tmp), "PNG"):
                    raise OutputFileError(self.path, "could not be written as PNG")
        except OutputFileError as exc:
            return self._finish(EXIT_FAILED, f"error: {exc}")
        return self._finish(EXIT_OK, f"saved {self.path}")

    def _finish(self, code: int, message: str) -> None:
        self._timer.stop()
        self.exit_code = code
        self.message = message
        print(message, file=sys.stderr if code else sys.stdout, flush=True)
        QApplication.instance().exit(code)


def run_app(
    path: str | Path | None = None,
    *,
    demo: bool = False,
    screenshot: str | Path | None = None,
    size: tuple[int, int] = (1280, 800),
) -> int:
    """Open the main window (on ``path`` or the demo) and run until it closes.

    Returns
    -------
    int
        The exit status (0, or 2 when a ``--screenshot`` run could not finish).
    """
    if screenshot is not None:
        folder = Path(screenshot).resolve().parent
        if not folder.is_dir():
            print(f"error: {screenshot}: folder {folder} does not exist", file=sys.stderr)
            return EXIT_FAILED
    app = application()
    scratch = None
    if screenshot is not None:  # a screenshot run leaves no project files behind
        scratch = tempfile.TemporaryDirectory(prefix="liftstudio-screenshot-")
        window = MainWindow(project_locator=lambda _scene: Path(scratch.name) / "x.lsproj")
        window.projects.enabled = False
    else:
        window = MainWindow()
    window.resize(*size)
    window.show()
    if demo:
        window.open_demo()
    elif path is not None:
        window.open_path(Path(path))
    if screenshot is not None:
        ScreenshotWhenReady(
            window, Path(screenshot), expect_scene=demo or path is not None, expect_labels=demo
        )
    code = app.exec()
    window.shutdown()
    window.deleteLater()
    if scratch is not None:
        scratch.cleanup()
    return int(code)
