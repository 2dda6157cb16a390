"""Timing the viewport's selection tools (:mod:`liftstudio.labels.region_select`).

On a generated scene (default one million Gaussians) seen by one orbit camera at
1280×720, this times what one user action costs, median of a few repeats after a
warm-up (numba kernels compiled, caches hot):

- a click with instance labels (``click_select``: one pick plus the label lookup);
- a lasso in ``"through"`` mode (rasterising the polygon plus projecting every centre);
- a brush stroke in ``"surface"`` mode (rasterising the stroke plus the operator rows
  of the stroke's bounding box), and the same stroke rendering the whole view.
"""

from __future__ import annotations

import statistics
import time
from collections.abc import Callable

import numpy as np

from liftstudio.evaluate.synthetic import orbit_cameras, random_gaussians
from liftstudio.labels.region_select import (
    brush_mask,
    click_select,
    polygon_mask,
    select_in_mask,
)
from liftstudio.render.registry import resolve_backend
from liftstudio.scene.camera import Camera
from liftstudio.scene.gaussians import GaussianScene

LASSO_VERTICES = 200
BRUSH_POINTS = 60
BRUSH_RADIUS_PX = 24.0
LABEL_GRID = 8
"""The benchmark's instances are the cells of an 8×8×8 grid over the scene's bounds."""


def run_select_tools_benchmark(
    num_gaussians: int = 1_000_000,
    *,
    width: int = 1280,
    height: int = 720,
    repeats: int = 5,
    backend: str = "auto",
    seed: int = 0,
    progress: Callable[[str], None] | None = None,
) -> dict:
    """Time click, lasso and brush selection on a generated scene.

    Parameters
    ----------
    num_gaussians
        Size of the generated scene (:func:`~liftstudio.evaluate.synthetic.random_gaussians`).
    width, height
        Viewport size in pixels.
    repeats
        Timed runs per tool (after one warm-up run); the median is reported.
    backend
        Render backend name (see :func:`~liftstudio.render.registry.resolve_backend`).
    seed
        Scene seed.
    progress
        Called with a short message before each phase.

    Returns
    -------
    dict
        ``gaussians``, ``width``, ``height``, ``backend``, ``repeats``, and per tool
        (``click``, ``lasso_through``, ``brush_surface``, ``brush_surface_full_view``) a
        dict with ``median_ms``, ``min_ms`` and ``selected`` (Gaussians selected);
        the lasso and brush entries also give ``mask_ms`` (rasterising the shape) and
        ``mask_pixels``.
    """
    say = progress or (lambda message: None)
    say(f"generating {num_gaussians:,} Gaussians")
    scene = random_gaussians(num_gaussians, seed=seed)
    camera = orbit_cameras(1, width_px=width, height_px=height)[0]
    labels = grid_labels(scene.means, LABEL_GRID)
    renderer = resolve_backend(backend)
    click_x, click_y = _click_position(scene, camera)
    lasso = _lasso(camera)
    stroke = _stroke(camera)
    results: dict = {
        "gaussians": num_gaussians,
        "width": width,
        "height": height,
        "backend": renderer.name,
        "repeats": repeats,
    }
    say("timing a click with labels")
    results["click"] = _timed(
        lambda: click_select(scene, camera, click_x, click_y, labels=labels, backend=renderer),
        repeats,
    )
    say("timing a lasso (through)")
    results["lasso_through"] = _timed_mask(
        lambda: polygon_mask(width, height, lasso),
        lambda mask: select_in_mask(scene, camera, mask, depth_mode="through"),
        repeats,
    )
    say("timing a brush stroke (surface)")
    results["brush_surface"] = _timed_mask(
        lambda: brush_mask(width, height, stroke, BRUSH_RADIUS_PX),
        lambda mask: select_in_mask(
            scene, camera, mask, depth_mode="surface", backend=renderer, crop=True
        ),
        repeats,
    )
    say("timing a brush stroke (surface, whole view rendered)")
    results["brush_surface_full_view"] = _timed_mask(
        lambda: brush_mask(width, height, stroke, BRUSH_RADIUS_PX),
        lambda mask: select_in_mask(
            scene, camera, mask, depth_mode="surface", backend=renderer, crop=False
        ),
        repeats,
    )
    return results


def format_select_tools_report(result: dict) -> str:
    """Human-readable lines for :func:`run_select_tools_benchmark`'s result."""
    lines = [
        f"Selection tools, {result['gaussians']:,} Gaussians, {result['width']}x"
        f"{result['height']} view, backend {result['backend']}, "
        f"median of {result['repeats']} runs",
    ]
    names = {
        "click": "click (with labels)",
        "lasso_through": "lasso, through",
        "brush_surface": "brush, surface (box)",
        "brush_surface_full_view": "brush, surface (whole view)",
    }
    for key, title in names.items():
        entry = result[key]
        line = (
            f"  {title:<28} {entry['median_ms']:8.1f} ms  (min {entry['min_ms']:.1f})  "
            f"{entry['selected']:,} selected"
        )
        if "mask_ms" in entry:
            line += f"; mask {entry['mask_ms']:.1f} ms, {entry['mask_pixels']:,} px"
        lines.append(line)
    return "\n".join(lines)


# ---------------------------------------------------------------------------- inputs
def grid_labels(means: np.ndarray, cells: int) -> np.ndarray:
    """Instance ids 1.. for the cells of a ``cells``³ grid over the points' bounds."""
    means = np.asarray(means, dtype=np.float64)
    lo, hi = means.min(axis=0), means.max(axis=0)
    span = np.where(hi > lo, hi - lo, 1.0)
    index = np.clip(((means - lo) / span * cells).astype(np.int64), 0, cells - 1)
    flat = (index[:, 0] * cells + index[:, 1]) * cells + index[:, 2]
    return (np.unique(flat, return_inverse=True)[1] + 1).astype(np.int32)


def _click_position(scene: GaussianScene, camera: Camera) -> tuple[float, float]:
    """The projected centre of the nearest Gaussian in the middle half of the image."""
    uv, depth = camera.project(scene.means)
    middle = (
        (depth > 0)
        & (np.abs(uv[:, 0] - camera.width / 2) < camera.width / 4)
        & (np.abs(uv[:, 1] - camera.height / 2) < camera.height / 4)
    )
    candidates = np.flatnonzero(middle)
    if candidates.size == 0:
        return camera.width / 2, camera.height / 2
    nearest = candidates[np.argmin(depth[candidates])]
    return float(uv[nearest, 0]), float(uv[nearest, 1])


def _lasso(camera: Camera) -> np.ndarray:
    """A wobbly closed loop around the image centre, a quarter of the height in radius."""
    angle = np.linspace(0.0, 2 * np.pi, LASSO_VERTICES, endpoint=False)
    radius = 0.25 * camera.height * (1.0 + 0.15 * np.sin(5 * angle))
    return np.stack(
        [camera.width / 2 + radius * np.cos(angle), camera.height / 2 + radius * np.sin(angle)],
        axis=1,
    )


def _stroke(camera: Camera) -> np.ndarray:
    """A wavy stroke across the middle third of the image."""
    x = np.linspace(camera.width / 3, 2 * camera.width / 3, BRUSH_POINTS)
    y = camera.height / 2 + 0.1 * camera.height * np.sin(np.linspace(0.0, 3 * np.pi, BRUSH_POINTS))
    return np.stack([x, y], axis=1)


# ---------------------------------------------------------------------------- timing
def _timed(action: Callable[[], np.ndarray], repeats: int) -> dict:
    """Median and best time of ``action`` (after a warm-up run) and its result's length."""
    result = action()  # warm-up
    times = []
    for _ in range(max(1, repeats)):
        start = time.perf_counter()
        result = action()
        times.append(1000 * (time.perf_counter() - start))
    return {"median_ms": statistics.median(times), "min_ms": min(times), "selected": len(result)}


def _timed_mask(
    make_mask: Callable[[], np.ndarray],
    select: Callable[[np.ndarray], np.ndarray],
    repeats: int,
) -> dict:
    """Time ``select(make_mask())`` as a whole, and the mask alone."""
    mask_timing = _timed(make_mask, repeats)
    entry = _timed(lambda: select(make_mask()), repeats)
    entry["mask_ms"] = mask_timing["median_ms"]
    entry["mask_pixels"] = int(make_mask().sum())
    return entry
