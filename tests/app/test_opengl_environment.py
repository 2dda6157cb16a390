"""The test machine can create the OpenGL 3.3 core context the viewport needs (Xvfb + Mesa).

This guards the environment the GL tests of the app run in: it fails when Xvfb or
Mesa is missing rather than letting later viewport tests skip silently.
"""

from __future__ import annotations

import pytest

QtGui = pytest.importorskip("PySide6.QtGui")


def test_opengl_33_core_context(qapp):
    from PySide6.QtGui import QOffscreenSurface, QOpenGLContext, QSurfaceFormat

    wanted = QSurfaceFormat()
    wanted.setVersion(3, 3)
    wanted.setProfile(QSurfaceFormat.OpenGLContextProfile.CoreProfile)
    context = QOpenGLContext()
    context.setFormat(wanted)
    assert context.create(), "no OpenGL context: is the suite running under Xvfb with Mesa?"
    surface = QOffscreenSurface()
    surface.setFormat(context.format())
    surface.create()
    assert context.makeCurrent(surface)
    functions = context.functions()
    version = context.format().version()
    renderer = functions.glGetString(0x1F01)  # GL_RENDERER
    print(f"OpenGL {version[0]}.{version[1]} core, renderer: {renderer}")
    assert version >= (3, 3)
    context.doneCurrent()
