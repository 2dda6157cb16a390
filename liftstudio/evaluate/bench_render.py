"""``liftstudio bench render``: render, uplift and operator throughput of a backend.

Workload (render issue): the biker scene (152,746 trained Gaussians) decoded from
``biker.compressed.ply``, 24 ring cameras at 640×480. Where the file is not found, a
generated scene of the same size stands in (the report says which). Timings are
means over all views after one warm-up view; ``profile`` splits one render into its
stages so the report shows where the time goes.
"""

from __future__ import annotations

import os
import subprocess
import tempfile
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import numpy as np

from liftstudio.evaluate.python_child import python_child_command
from liftstudio.evaluate.real_data import default_real_data_dir
from liftstudio.evaluate.synthetic import random_gaussians
from liftstudio.render.registry import resolve_backend
from liftstudio.scene.camera import Camera
from liftstudio.scene.camera_rigs import ring_around
from liftstudio.scene.formats import read_gaussians
from liftstudio.scene.gaussians import GaussianScene

#: Targets from the render issue on the 2-core reference machine (ms per view, s).
TARGETS = {
    "render_ms_per_view": 400.0,
    "uplift_ms_per_view": 500.0,
    "operator_ms_per_view": 600.0,
    "startup_s_second_process": 2.0,
}
BIKER_GAUSSIANS = 152_746
_BIKER_FILE = "biker.compressed.ply"

# A child process that compiles (or loads from the numba cache) every CPU kernel.
_STARTUP_PROBE = """
import numpy as np
from liftstudio.evaluate.synthetic import random_gaussians, orbit_cameras
from liftstudio.render.registry import resolve_backend
scene = random_gaussians(200, seed=0)
camera = orbit_cameras(1, width_px=32, height_px=24)[0]
backend = resolve_backend("cpu")
backend.render(scene, camera, features=np.ones((200, 2), np.float32))
backend.uplift(scene, [camera], [np.ones((24, 32, 2), np.float32)])
backend.operator_rows(scene, camera, top_k=4)
backend.pick(scene, camera, 16.0, 12.0)
"""


def benchmark_scene(scene_path: Path | None = None) -> tuple[GaussianScene, str, tuple]:
    """The benchmark's scene, a description of it, and its up axis.

    Parameters
    ----------
    scene_path
        A Gaussian file to use; default: biker from the real-data folder, else a
        generated scene of biker's size.
    """
    if scene_path is None:
        folder = default_real_data_dir()
        if folder is not None and (folder / _BIKER_FILE).is_file():
            scene_path = folder / _BIKER_FILE
    if scene_path is not None:
        # Trained 3DGS scenes (biker included) are y-down.
        return read_gaussians(scene_path), Path(scene_path).name, (0.0, -1.0, 0.0)
    scene = random_gaussians(BIKER_GAUSSIANS, seed=0)
    return scene, f"generated ({BIKER_GAUSSIANS:,} Gaussians; biker file not found)", (0, 0, 1)


def _mean_ms(function: Callable[[Camera], object], cameras: list[Camera]) -> float:
    function(cameras[0])  # warm-up: compilation or cache load, page faults
    start = time.perf_counter()
    for camera in cameras:
        function(camera)
    return 1000.0 * (time.perf_counter() - start) / len(cameras)


def _startup_seconds(cache_dir: str) -> float:
    env = dict(os.environ, NUMBA_CACHE_DIR=cache_dir)
    start = time.perf_counter()
    subprocess.run(python_child_command(_STARTUP_PROBE), check=True, env=env)
    return time.perf_counter() - start


def run_render_benchmark(
    *,
    backend: str = "cpu",
    scene_path: Path | None = None,
    num_views: int = 24,
    width: int = 640,
    height: int = 480,
    channels: int = 16,
    top_k: int = 16,
    reference_gaussians: int | None = None,
    reference_size: tuple[int, int] = (160, 120),
    measure_startup: bool = True,
    progress: Callable[[str], None] | None = None,
) -> dict:
    """Measure a backend on the benchmark workload.

    Parameters
    ----------
    backend
        ``"cpu"`` or ``"gsplat"`` (``"auto"`` resolves to one of them).
    scene_path
        Gaussian file; default biker (see :func:`benchmark_scene`).
    num_views, width, height
        The ring rig and its image size.
    channels
        Feature channels of the uplift maps.
    top_k
        Operator rows kept per pixel.
    reference_gaussians, reference_size
        The small workload on which ``reference`` is timed against ``backend``: that
        many Gaussians of the scene (None: all of them) at that image size.
    measure_startup
        Also time fresh processes that compile (cold cache) and load (warm) the kernels.
    progress
        Called with a short message before each phase.

    Returns
    -------
    dict
        The figures listed in the render issue, plus ``profile`` and ``targets``.
    """
    say = progress or (lambda message: None)
    say("loading the scene")
    scene, description, up = benchmark_scene(scene_path)
    cameras = ring_around(scene.means, num_views, up=up, width=width, height=height)
    engine = resolve_backend(backend)
    result: dict = {
        "backend": engine.name,
        "rules": engine.rules.name,
        "scene": description,
        "gaussians": len(scene),
        "views": num_views,
        "width": width,
        "height": height,
        "threads": _thread_count(),
    }
    say(f"rendering {num_views} views")
    result["render_ms_per_view"] = _mean_ms(lambda c: engine.render(scene, c), cameras)

    say(f"uplifting {num_views} maps of {channels} channels")
    rng = np.random.default_rng(0)
    feature_map = rng.random((height, width, channels), dtype=np.float32)

    def same_map(count: int) -> Iterator[np.ndarray]:
        for _ in range(count):
            yield feature_map

    engine.uplift(scene, cameras[:1], same_map(1))  # warm-up
    start = time.perf_counter()
    engine.uplift(scene, cameras, same_map(num_views))
    result["uplift_ms_per_view"] = 1000 * (time.perf_counter() - start) / num_views
    result["uplift_channels"] = channels

    say(f"extracting operator rows (top_k={top_k})")
    result["operator_ms_per_view"] = _mean_ms(
        lambda c: engine.operator_rows(scene, c, top_k=top_k), cameras
    )
    rows = engine.operator_rows(scene, cameras[0], top_k=top_k)
    result["operator_top_k"] = top_k
    result["operator_bytes_per_pixel"] = rows.bytes_per_pixel
    result["operator_weight_dtype"] = str(rows.weights.dtype)

    say("timing picks")
    centre = (width / 2 + 0.5, height / 2 + 0.5)
    result["pick_ms"] = _mean_ms(lambda c: engine.pick(scene, c, *centre), cameras)

    if engine.name == "cpu":
        say("profiling one render")
        result["profile"] = engine.profile_render(scene, cameras[0])

    say("timing the reference backend on a small workload")
    result.update(_reference_speedup(engine, scene, up, reference_gaussians, reference_size))

    if measure_startup:
        say("timing fresh processes (cold and warm numba cache)")
        with tempfile.TemporaryDirectory(prefix="liftstudio-numba-") as cache_dir:
            result["compile_s_first_process"] = _startup_seconds(cache_dir)
            result["startup_s_second_process"] = _startup_seconds(cache_dir)
    result["targets"] = TARGETS
    return result


def _reference_speedup(engine, scene, up, num_gaussians: int | None, size: tuple[int, int]) -> dict:
    small = scene
    if num_gaussians is not None and num_gaussians < len(scene):
        rng = np.random.default_rng(1)
        small = scene.subset(np.sort(rng.choice(len(scene), size=num_gaussians, replace=False)))
    camera = ring_around(scene.means, 1, up=up, width=size[0], height=size[1])[0]
    reference = resolve_backend("reference", rules=engine.rules)
    engine.render(small, camera)
    start = time.perf_counter()
    engine.render(small, camera)
    fast = time.perf_counter() - start
    start = time.perf_counter()
    reference.render(small, camera)
    slow = time.perf_counter() - start
    return {
        "speedup_vs_reference": slow / fast,
        "reference_workload": f"{len(small):,} Gaussians of the scene, {size[0]}x{size[1]}",
        "reference_ms": 1000 * slow,
        "backend_ms_on_reference_workload": 1000 * fast,
    }


def _thread_count() -> int:
    import numba

    return int(numba.get_num_threads())


def format_render_report(result: dict) -> str:
    """Human-readable summary of :func:`run_render_benchmark`'s result."""
    lines = [
        f"backend {result['backend']} ({result['rules']} rules), {result['threads']} threads",
        f"scene {result['scene']}: {result['gaussians']:,} Gaussians, {result['views']} views "
        f"at {result['width']}x{result['height']}",
    ]
    targets = result["targets"]
    for key, label in (
        ("render_ms_per_view", "render"),
        ("uplift_ms_per_view", f"uplift (C={result['uplift_channels']})"),
        ("operator_ms_per_view", f"operator rows (top_k={result['operator_top_k']})"),
    ):
        lines.append(f"{label:<28} {result[key]:8.1f} ms/view   (target <= {targets[key]:.0f})")
    lines.append(
        f"{'operator memory':<28} {result['operator_bytes_per_pixel']:8.1f} bytes/pixel "
        f"({result['operator_weight_dtype']} weights)"
    )
    lines.append(f"{'pick':<28} {result['pick_ms']:8.1f} ms")
    lines.append(
        f"{'speedup vs reference':<28} {result['speedup_vs_reference']:8.1f}x   "
        f"({result['reference_workload']})"
    )
    if "compile_s_first_process" in result:
        lines.append(f"{'first process (compiles)':<28} {result['compile_s_first_process']:8.2f} s")
        lines.append(
            f"{'second process (cached)':<28} {result['startup_s_second_process']:8.2f} s   "
            f"(target <= {targets['startup_s_second_process']:.0f})"
        )
    if "profile" in result:
        profile = result["profile"]
        lines.append(
            "profile of one render: "
            + ", ".join(f"{k} {v:.1f}" for k, v in profile.items() if k.endswith("_ms"))
            + f"; {profile['tile_entries']:,} tile entries, "
            f"{profile['contributions_per_pixel']:.1f} contributions/pixel, "
            f"{100 * profile['covered_pixel_fraction']:.0f}% of pixels covered"
        )
    return "\n".join(lines)
