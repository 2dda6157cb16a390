"""Fixtures of the app tests: the demo scene as a document, a viewport of a given size.

The app tests run under Xvfb with Mesa (pytest-xvfb starts it); Qt's offscreen
platform cannot create OpenGL contexts.
"""

from __future__ import annotations

import threading

import numpy as np
import pytest

pytest.importorskip("PySide6.QtOpenGLWidgets")

from PySide6.QtGui import QSurfaceFormat

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
