"""Fixtures of the app tests: the demo scene as a document, a viewport of a given size.

The app tests run under Xvfb with Mesa (pytest-xvfb starts it); Qt's offscreen
platform cannot create OpenGL contexts.
"""

from __future__ import annotations

import gc
import threading
import warnings

import numpy as np
import pytest

pytest.importorskip("PySide6.QtOpenGLWidgets")

from PySide6.QtCore import QSettings, QThread
from PySide6.QtGui import QSurfaceFormat

from liftstudio.app.main_window import MainWindow
from liftstudio.app.viewport.gl_viewport import gl_surface_format
from liftstudio.evaluate.demo_scene import demo_dir
from liftstudio.scene.discovery import open_scene

QSurfaceFormat.setDefaultFormat(gl_surface_format())


@pytest.fixture(scope="session")
def demo_opened():
    """The demo scene, opened once per session."""
    return open_scene(demo_dir())


@pytest.fixture(scope="session")
def demo_truth() -> np.ndarray:
    """Ground-truth instance id of every demo Gaussian."""
    return np.load(demo_dir() / "ground_truth" / "instances.npy").astype(np.int32)


@pytest.fixture
def demo_document(qapp, demo_opened):
    from liftstudio.app.document import SceneDocument

    document = SceneDocument(demo_opened)
    yield document
    document.close()


@pytest.fixture
def no_leaked_threads():
    """Fails the test when it leaves Python threads running."""
    before = {t.ident for t in threading.enumerate()}
    yield
    leaked = [t for t in threading.enumerate() if t.ident not in before and t.is_alive()]
    assert not leaked, f"threads left running: {[t.name for t in leaked]}"


WAIT_MS = 120_000
"""Longest wait for a job of the main-window tests (a cold numba cache compiles)."""


def qthreads_running() -> list[QThread]:
    gc.collect()
    with warnings.catch_warnings():  # walking every object touches deprecated torch names
        warnings.simplefilter("ignore")
        return [o for o in gc.get_objects() if isinstance(o, QThread) and o.isRunning()]


@pytest.fixture
def window(qtbot, tmp_path, no_leaked_threads):
    """A shown main window with its own settings and project folder (recovery accepted)."""
    settings = QSettings(str(tmp_path / "settings.ini"), QSettings.Format.IniFormat)
    projects = tmp_path / "projects"
    window = MainWindow(settings, project_locator=lambda scene: projects / f"{scene.name}.lsproj")
    window.projects.ask_recovery = lambda _autosave: True
    qtbot.addWidget(window)
    window.resize(1000, 700)
    window.show()
    qtbot.waitExposed(window)
    activate(qtbot, window)
    yield window
    assert window.shutdown()
    assert window.jobs.running_job is None
    assert qthreads_running() == []


def activate(qtbot, window) -> None:
    """Make ``window`` the active window: window shortcuts only work there."""
    from PySide6.QtWidgets import QApplication

    window.activateWindow()
    qtbot.waitUntil(lambda: QApplication.activeWindow() is window)


def _open_demo_in(qtbot, window):
    """Open the demo (no lift) in ``window`` and return its document."""
    with qtbot.waitSignal(window.documentChanged, timeout=WAIT_MS):
        window.open_demo(lift=False)
    return window.document


@pytest.fixture
def open_demo(qtbot):
    """``open_demo(window)``: opens the demo (no lift) in a main window, returns its document."""
    return lambda window: _open_demo_in(qtbot, window)


def _views_widget_point(views, x_camera: float, y_camera: float):
    """Where camera pixel position (x, y) lies on the Views panel's 2D view widget."""
    from PySide6.QtCore import QPointF

    camera, (height, width) = views.shown_view()
    x, y = x_camera * width / camera.width, y_camera * height / camera.height
    scene_point = views.image_tools.view_box.mapViewToScene(QPointF(x, y))
    return views._graphics.mapFromScene(scene_point)


@pytest.fixture
def views_point():
    """``views_point(views_panel, x, y)``: the 2D view's widget point of a camera pixel."""
    return _views_widget_point
