"""``liftstudio bench learned``: end-to-end time and memory of a learned lifting method.

The learned-lifting issue's workload: the ``room`` benchmark scene at ~200k Gaussians
with 60 training views and SAM-like masks, lifted by one method end to end (operator
rows, training, read-out: everything the user waits for). Reported: wall time of each
phase as the method's progress reports them, training steps per second, the peak
resident memory of the process while the method runs (sampled from ``/proc``; torch's
allocations are invisible to tracemalloc) and its growth over the memory held before,
and PQ^scene on held-out views as a sanity check.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from pathlib import Path

from liftstudio.evaluate.bench_lift import score_labels
from liftstudio.evaluate.mask_simulation import make_masks
from liftstudio.evaluate.scenes import make
from liftstudio.lift.registry import LiftInputs, lift_methods
from liftstudio.render.registry import resolve_backend

#: Targets of the learned-lifting issue for ``codebook`` on the 2-core reference machine.
TARGETS = {"total_s": 180.0, "peak_rss_gb": 6.0}


class PeakResidentMemory:
    """Samples the process's resident set size in a thread; use as a context manager.

    Attributes
    ----------
    before, peak : int
        Bytes resident when entered, and the most seen until exit (0 where
        ``/proc/self/status`` does not exist).
    """

    def __init__(self, interval_s: float = 0.02) -> None:
        self.interval_s = interval_s
        self.before = 0
        self.peak = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._sample, daemon=True)

    @staticmethod
    def resident_bytes() -> int:
        """The current resident set size in bytes (0 where unknown)."""
        status = Path("/proc/self/status")
        if not status.exists():
            return 0
        for line in status.read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) * 1024
        return 0

    def _sample(self) -> None:
        while not self._stop.wait(self.interval_s):
            self.peak = max(self.peak, self.resident_bytes())

    def __enter__(self) -> PeakResidentMemory:
        self.before = self.peak = self.resident_bytes()
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()
        self.peak = max(self.peak, self.resident_bytes())


def run_learned_benchmark(
    *,
    method: str = "codebook",
    num_gaussians: int = 200_000,
    num_views: int = 60,
    width: int = 320,
    height: int = 240,
    noise: str = "sam-like",
    seed: int = 0,
    backend: str = "cpu",
    progress: Callable[[str], None] | None = None,
) -> dict:
    """Run ``method`` on the room scene once and return its figures (see the module docstring)."""
    say = progress or (lambda message: None)
    methods = lift_methods()
    if method not in methods:
        raise ValueError(f"unknown method {method!r}; choose from {', '.join(methods)}")
    engine = resolve_backend(backend)
    say(f"building the room scene ({num_gaussians:,} Gaussians, {num_views} views)")
    scene = make("room", seed, num_gaussians=num_gaussians, num_train=num_views, num_test=8,
                 width=width, height=height, backend=engine)  # fmt: skip
    masks = make_masks(noise, scene.train_gt, scene.train_images, seed)
    inputs = LiftInputs(scene.gaussians, scene.train_cameras, masks, scene.train_images,
                        engine, seed)  # fmt: skip
    phases: dict[str, float] = {}
    start = time.perf_counter()
    # Time before the method's first progress report (imports, kernel compilation on a
    # fresh machine) is its own phase, so the phases always add up to the total.
    current = ["setup", start]

    def on_progress(done: int, total: int, message: str) -> None:
        phase = "training" if "step" in message else _phase(message)
        if phase != current[0]:
            now = time.perf_counter()
            phases[current[0]] = phases.get(current[0], 0.0) + now - current[1]
            current[0], current[1] = phase, now
            say(phase)

    say(f"running {method}")
    with PeakResidentMemory() as memory:
        output = methods[method](inputs, progress=on_progress)
    end = time.perf_counter()
    phases[current[0]] = phases.get(current[0], 0.0) + end - current[1]
    history = output.history
    pq, miou, _ = score_labels(scene, output.labels, engine)
    return {
        "method": method,
        "scene": "room",
        "gaussians": len(scene.gaussians),
        "views": num_views,
        "width": width,
        "height": height,
        "noise": noise,
        "total_s": end - start,
        "phases_s": phases,
        "steps": history.steps if history else None,
        "steps_per_s": history.steps_per_second if history else None,
        "peak_rss_gb": memory.peak / 1e9,
        "rss_growth_gb": (memory.peak - memory.before) / 1e9,
        "pq_scene": pq,
        "miou": miou,
        "targets": TARGETS if method == "codebook" else {},
    }


def _phase(message: str) -> str:
    """The phase a progress message belongs to: its text before any view name or detail."""
    for cut in (" of view", " from view", " (", ":"):
        message = message.split(cut)[0]
    return message


def format_learned_report(result: dict) -> str:
    """Plain-text report of :func:`run_learned_benchmark`."""
    targets = result["targets"]

    def check(key: str) -> str:
        if key not in targets:
            return ""
        verdict = "meets" if result[key] <= targets[key] else "MISSES"
        return f" ({verdict} <= {targets[key]:g})"

    phases = ", ".join(f"{name} {seconds:.1f} s" for name, seconds in result["phases_s"].items())
    lines = [
        f"{result['method']} on room: {result['gaussians']:,} Gaussians, {result['views']} views "
        f"at {result['width']}x{result['height']}, {result['noise']} masks",
        f"end to end: {result['total_s']:.1f} s{check('total_s')}",
        f"  phases: {phases}",
        f"peak resident memory: {result['peak_rss_gb']:.2f} GB{check('peak_rss_gb')}, "
        f"growth while lifting {result['rss_growth_gb']:.2f} GB",
        f"PQ^scene {result['pq_scene']:.3f}, mIoU {result['miou']:.3f} (held-out views)",
    ]
    if result["steps"]:
        lines.insert(3, f"  training: {result['steps']} steps, {result['steps_per_s']:.1f} steps/s")
    return "\n".join(lines)
