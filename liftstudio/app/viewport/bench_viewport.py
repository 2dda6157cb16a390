"""``liftstudio bench viewport``: frame rate and depth-sort time of the splat viewport.

Workload: the biker scene (152,746 trained Gaussians; a generated scene of its size
where the file is absent) and a generated scene of 1,000,000 Gaussians (SH degree 3),
each drawn at 1920×1080 (``--size``) from cameras on a ring around it, on whatever
OpenGL the machine has (the renderer string is reported; Mesa's llvmpipe is a CPU
rasterizer, so its figures say little about a GPU).

Per scene it reports:

- ``sort_ms``: median time of one back-to-front depth sort (the viewport does it on a
  worker thread while the previous order is drawn);
- ``draw_ms`` and ``fps``: median time of one frame (splat pass + composite, waited
  for with ``glFinish``), and its inverse;
- ``upload_s``: the one-time upload of the scene's textures.

The compass for a CUDA machine with headless OpenGL: 1 M Gaussians at 1920×1080 at
≥ 60 fps with the sort ≤ 15 ms.
"""

from __future__ import annotations

import math
import statistics
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np
from OpenGL import GL
from PySide6.QtGui import QGuiApplication, QOffscreenSurface, QOpenGLContext

from liftstudio.app.viewport.depth_sort import back_to_front
from liftstudio.app.viewport.gl_resources import FloatTarget
from liftstudio.app.viewport.settings import ViewMode, ViewportSettings
from liftstudio.app.viewport.splat_renderer import SplatRenderer
from liftstudio.app.viewport.view_camera import ViewCamera
from liftstudio.evaluate.bench_render import benchmark_scene
from liftstudio.evaluate.synthetic import random_gaussians
from liftstudio.render.backend import SplatArrays
from liftstudio.scene.camera import Camera
from liftstudio.scene.gaussians import GaussianScene

LARGE_GAUSSIANS = 1_000_000
TARGET_FPS = 60.0
TARGET_SORT_MS = 15.0


class NoOpenGLError(RuntimeError):
    """No OpenGL 3.3 context could be made (no display, no EGL)."""


def gl_context() -> tuple[QOpenGLContext, QOffscreenSurface]:
    """An OpenGL 3.3 core context made current on an off-screen surface."""
    from liftstudio.app.viewport.gl_viewport import gl_surface_format

    if QGuiApplication.instance() is None:
        QGuiApplication([])
    context = QOpenGLContext()
    context.setFormat(gl_surface_format())
    if not context.create():
        raise NoOpenGLError(
            "no OpenGL 3.3 context: run on a desktop, under 'xvfb-run -a' with Mesa, "
            "or with QT_QPA_PLATFORM=xcb on a machine with a GPU driver"
        )
    surface = QOffscreenSurface()
    surface.setFormat(context.format())
    surface.create()
    if not context.makeCurrent(surface):
        raise NoOpenGLError("the OpenGL context could not be made current")
    return context, surface


def ring_cameras(scene: GaussianScene, up, count: int, size: tuple[int, int]) -> list[Camera]:
    """``count`` views around the scene, each framing it, at ``size`` pixels."""
    view = ViewCamera(np.asarray(up, dtype=np.float64))
    view.reset(scene.means, aspect=size[0] / size[1])
    cameras = []
    for index in range(count):
        cameras.append(view.camera(*size, name=f"ring_{index:02d}"))
        view.orbit(size[1] * 2.0 / count, 0.0, size[1])  # 360° over the ring
    return cameras


def measure_scene(
    scene: GaussianScene,
    label: str,
    up,
    *,
    size: tuple[int, int],
    frames: int,
    budget_s: float,
) -> dict:
    """Upload, sort and draw ``scene``; the figures listed in the module docstring."""
    splats = SplatArrays.from_scene(scene)
    start = time.perf_counter()
    renderer = SplatRenderer(splats, np.zeros(len(splats), np.int32), np.zeros(len(splats), bool))
    GL.glFinish()
    upload_s = time.perf_counter() - start
    target = FloatTarget(*size)
    settings = ViewportSettings(mode=ViewMode.COLOUR)
    cameras = ring_cameras(scene, up, frames, size)
    back_to_front(splats.means[:1000], cameras[0].viewmat)  # compile outside the timing
    sort_ms, draw_ms = [], []
    began = time.perf_counter()
    for camera in cameras:
        t0 = time.perf_counter()
        order = back_to_front(splats.means, camera.viewmat)
        sort_ms.append(1000.0 * (time.perf_counter() - t0))
        renderer.set_order(order)
        GL.glFinish()
        t0 = time.perf_counter()
        renderer.draw(camera, settings, target)
        renderer.present(target, target.framebuffer, size[0], size[1], settings.background)
        GL.glFinish()
        draw_ms.append(1000.0 * (time.perf_counter() - t0))
        if len(draw_ms) >= 3 and time.perf_counter() - began > budget_s:
            break
    target.delete()
    renderer.delete()
    frame = statistics.median(draw_ms)
    return {
        "scene": label,
        "gaussians": len(splats),
        "sh_degree": renderer.scene_sh_degree,
        "size": list(size),
        "frames": len(draw_ms),
        "upload_s": round(upload_s, 3),
        "sort_ms": round(statistics.median(sort_ms), 2),
        "draw_ms": round(frame, 2),
        "fps": round(1000.0 / frame, 2) if frame > 0 else math.inf,
    }


def run_viewport_benchmark(
    *,
    scene_path: Path | None = None,
    size: tuple[int, int] = (1920, 1080),
    frames: int = 12,
    large: int = LARGE_GAUSSIANS,
    budget_s: float = 60.0,
    progress: Callable[[str], None] | None = None,
) -> dict:
    """Measure the viewport on biker and on a generated scene of ``large`` Gaussians.

    Parameters
    ----------
    scene_path
        A Gaussian file instead of biker.
    size
        Frame size in pixels.
    frames
        Camera poses per scene (fewer when a scene uses up ``budget_s``; at least 3).
    large
        Gaussians in the generated scene (0 skips it).
    budget_s
        Time allowed for one scene's frames.
    progress
        Called with a short message before each phase.

    Raises
    ------
    NoOpenGLError
        When no OpenGL context can be made.
    """
    say = progress or (lambda _message: None)
    context, _surface = gl_context()  # the surface must outlive the context's use
    renderer_name = GL.glGetString(GL.GL_RENDERER).decode(errors="replace")
    version = GL.glGetString(GL.GL_VERSION).decode(errors="replace")
    rows = []
    say("loading the biker scene")
    scene, label, up = benchmark_scene(scene_path)
    say(f"{label}: {len(scene):,} Gaussians")
    rows.append(measure_scene(scene, label, up, size=size, frames=frames, budget_s=budget_s))
    if large > 0:
        say(f"generating {large:,} Gaussians")
        big = random_gaussians(large, sh_degree=3, seed=0)
        say("drawing the generated scene")
        rows.append(
            measure_scene(
                big,
                f"generated ({large:,}, SH 3)",
                (0.0, 0.0, 1.0),
                size=size,
                frames=frames,
                budget_s=budget_s,
            )
        )
    context.doneCurrent()
    software = "llvmpipe" in renderer_name.lower() or "softpipe" in renderer_name.lower()
    return {
        "benchmark": "viewport",
        "renderer": renderer_name,
        "gl_version": version,
        "software_rasterizer": software,
        "scenes": rows,
        "targets": {
            "note": (
                "targets apply to a GPU with headless OpenGL; on a software rasterizer "
                "the figures are reported only"
            )
            if software
            else "",
            "fps_1m_1080p": TARGET_FPS,
            "sort_ms_1m": TARGET_SORT_MS,
        },
    }


def format_viewport_report(result: dict) -> str:
    """A table of :func:`run_viewport_benchmark`'s figures."""
    lines = [
        f"viewport benchmark on {result['renderer']} (OpenGL {result['gl_version']})",
        f"{'scene':<42} {'gaussians':>10} {'size':>10} {'sort ms':>8} {'frame ms':>9} "
        f"{'fps':>7} {'upload s':>9}",
    ]
    for row in result["scenes"]:
        size = "x".join(str(v) for v in row["size"])
        lines.append(
            f"{row['scene'][:42]:<42} {row['gaussians']:>10,} {size:>10} {row['sort_ms']:>8.1f} "
            f"{row['draw_ms']:>9.1f} {row['fps']:>7.2f} {row['upload_s']:>9.2f}"
        )
    if result["software_rasterizer"]:
        lines.append(
            "software OpenGL: figures reported only (targets are for a GPU: "
            f"≥ {TARGET_FPS:.0f} fps and sort ≤ {TARGET_SORT_MS:.0f} ms at 1 M, 1080p)"
        )
    return "\n".join(lines)
