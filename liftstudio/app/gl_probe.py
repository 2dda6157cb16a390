"""``python -m liftstudio.app.gl_probe``: which OpenGL context Qt gives the viewport here.

Asks Qt for the viewport's own format (:func:`gl_surface_format`, OpenGL 3.3 core),
makes the context current on an offscreen surface and prints one line of JSON:

``ok``
    True when a context was created and made current.
``stage``
    Where it stopped: ``import-qt``, ``import-viewport``, ``context``, ``make-current``
    or ``done``.
``error``
    Why it stopped (None when ``ok``).
``platform``, ``qt``
    Qt's platform plugin (``xcb``, ``wayland``, ``offscreen``...) and Qt's version.
``vendor``, ``renderer``, ``version``, ``glsl_version``
    The ``glGetString`` strings of the context.
``context_version``, ``profile``, ``opengl_es``
    ``[major, minor]`` and profile (``core``, ``compatibility``, ``none``) of the
    context Qt created when asked for 3.3 core (a driver may give less).

This is the only place the doctor creates an OpenGL context, and it always runs in a
process of its own (:mod:`liftstudio.doctor.gl`): a missing display makes Qt abort,
and a broken driver may crash or hang, which must not take the doctor down. In a
frozen build it is reached as ``<program> doctor --gl-probe``.
"""

from __future__ import annotations

import json
import sys
from typing import Any

_GL_VENDOR, _GL_RENDERER, _GL_VERSION, _GL_SHADING_LANGUAGE_VERSION = (
    0x1F00,
    0x1F01,
    0x1F02,
    0x8B8C,
)


def probe() -> dict[str, Any]:
    """Create the viewport's OpenGL context and describe it (see the module docstring).

    Needs a display (or Xvfb); without one Qt's default platform aborts the process.
    """
    result: dict[str, Any] = {
        "ok": False,
        "stage": "import-qt",
        "error": None,
        "platform": None,
        "qt": None,
        "requested": [3, 3],
    }
    try:
        from PySide6 import __version__ as qt_version
        from PySide6.QtGui import QGuiApplication, QOffscreenSurface, QOpenGLContext
        from PySide6.QtGui import QSurfaceFormat as Format
    except Exception as exc:  # missing wheel or missing system library
        result["error"] = f"PySide6 cannot be imported ({type(exc).__name__}: {exc})"
        return result
    result["qt"] = qt_version
    result["stage"] = "import-viewport"
    try:
        from liftstudio.app.viewport.gl_viewport import gl_surface_format
    except Exception as exc:
        result["error"] = f"the viewport cannot be imported ({type(exc).__name__}: {exc})"
        return result
    app = QGuiApplication.instance() or QGuiApplication(["liftstudio-gl-probe"])
    result["platform"] = app.platformName()
    result["stage"] = "context"
    context = QOpenGLContext()
    context.setFormat(gl_surface_format())
    if not context.create():
        result["error"] = (
            f"Qt could not create an OpenGL context on the '{app.platformName()}' platform"
        )
        return result
    result["stage"] = "make-current"
    surface = QOffscreenSurface()
    surface.setFormat(context.format())
    surface.create()
    if not context.makeCurrent(surface):
        result["error"] = "the OpenGL context could not be made current"
        return result
    functions = context.functions()
    names = {
        "vendor": _GL_VENDOR,
        "renderer": _GL_RENDERER,
        "version": _GL_VERSION,
        "glsl_version": _GL_SHADING_LANGUAGE_VERSION,
    }
    for key, enum in names.items():
        result[key] = functions.glGetString(enum)
    created = context.format()
    profiles = {
        Format.OpenGLContextProfile.CoreProfile: "core",
        Format.OpenGLContextProfile.CompatibilityProfile: "compatibility",
    }
    result["context_version"] = list(created.version())
    result["profile"] = profiles.get(created.profile(), "none")
    result["opengl_es"] = context.isOpenGLES()
    context.doneCurrent()
    result["ok"] = True
    result["stage"] = "done"
    return result


def main() -> int:
    """Print :func:`probe`'s JSON on one line; 0 when a context was made, else 1."""
    result = probe()
    sys.stdout.write(json.dumps(result) + "\n")
    sys.stdout.flush()
    return 0 if result["ok"] else 1


if __name__ == "__main__":
    sys.exit(main())
