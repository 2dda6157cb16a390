"""``liftstudio bench io``: load and save time and peak memory for a large PLY.

Timings are the best of a few repeats (the file is in the page cache after the
first write, as it is when a user reopens a scene). Peak memory is measured twice:
``heap`` is the peak of Python-tracked allocations (numpy reports to tracemalloc)
while loading, and ``rss`` is the growth of the resident set of a fresh child
process that only loads the file (it includes the file pages read through mmap).
"""

from __future__ import annotations

import json
import subprocess
import tempfile
import time
import tracemalloc
from collections.abc import Callable
from pathlib import Path

from liftstudio.evaluate.python_child import python_child_command
from liftstudio.evaluate.synthetic import random_gaussians
from liftstudio.scene.formats.ply import read_ply, write_ply

#: Targets from the foundation issue, on the 2-core reference machine.
TARGETS = {"load_s": 1.5, "save_s": 2.0, "peak_over_file": 2.5}

# VmHWM (peak resident set) belongs to the address space, which exec() replaces, so
# unlike ru_maxrss it does not inherit the benchmark process's own peak.
_CHILD = """
import sys
from liftstudio.scene.formats.ply import read_ply
def status(key):
    for line in open("/proc/self/status"):
        if line.startswith(key + ":"):
            return int(line.split()[1]) * 1024
before = status("VmRSS")
scene = read_ply(sys.argv[1])
print(status("VmHWM") - before)
"""


def run_io_benchmark(
    num_gaussians: int = 1_000_000,
    *,
    sh_degree: int = 3,
    repeats: int = 3,
    progress: Callable[[str], None] | None = None,
) -> dict:
    """Measure PLY save and load of a generated scene.

    Parameters
    ----------
    num_gaussians
        Size of the generated scene.
    sh_degree
        SH degree of the generated scene (3 is the largest file per Gaussian).
    repeats
        Timing repeats; the best is reported.
    progress
        Called with a short message before each phase.

    Returns
    -------
    dict
        ``gaussians``, ``file_bytes``, ``save_s``, ``load_s``, ``peak_heap_bytes``,
        ``peak_rss_bytes``, ``save_extra_heap_bytes``, their ratios to the file size,
        and ``targets``.
    """
    say = progress or (lambda message: None)
    say(f"generating {num_gaussians:,} Gaussians (SH degree {sh_degree})")
    with tempfile.TemporaryDirectory(prefix="liftstudio-bench-") as tmp:
        path = Path(tmp) / "bench.ply"
        scene = random_gaussians(num_gaussians, sh_degree=sh_degree)
        say("saving")
        save_s = _best_time(lambda: write_ply(scene, path, overwrite=True), repeats)
        say("measuring peak memory while saving")
        save_heap = _peak_heap(lambda: write_ply(scene, path, overwrite=True))
        scene = None  # free it before measuring the load
        say("loading")
        load_s = _best_time(lambda: read_ply(path), repeats)
        say("measuring peak memory while loading")
        peak_heap = _peak_heap(lambda: read_ply(path))
        peak_rss = _child_peak_rss(path)
        file_bytes = path.stat().st_size
    return {
        "gaussians": num_gaussians,
        "sh_degree": sh_degree,
        "file_bytes": file_bytes,
        "save_s": save_s,
        "load_s": load_s,
        "peak_heap_bytes": peak_heap,
        "peak_heap_over_file": peak_heap / file_bytes,
        "peak_rss_bytes": peak_rss,
        "save_extra_heap_bytes": save_heap,
        "save_extra_heap_over_file": save_heap / file_bytes,
        "peak_rss_over_file": peak_rss / file_bytes,
        "targets": TARGETS,
    }


def format_io_report(result: dict) -> str:
    """Human-readable lines for :func:`run_io_benchmark`'s result."""
    mb = 1 / 1e6
    t = result["targets"]

    def verdict(ok: bool) -> str:
        return "ok" if ok else "OVER TARGET"

    return "\n".join(
        [
            f"PLY I/O, {result['gaussians']:,} Gaussians, SH degree {result['sh_degree']}, "
            f"file {result['file_bytes'] * mb:,.0f} MB",
            f"  save  {result['save_s']:6.3f} s   (target ≤ {t['save_s']} s: "
            f"{verdict(result['save_s'] <= t['save_s'])})",
            f"  load  {result['load_s']:6.3f} s   (target ≤ {t['load_s']} s: "
            f"{verdict(result['load_s'] <= t['load_s'])})",
            f"  peak memory while loading: heap {result['peak_heap_bytes'] * mb:,.0f} MB "
            f"({result['peak_heap_over_file']:.2f}x file), "
            f"process RSS growth {result['peak_rss_bytes'] * mb:,.0f} MB "
            f"({result['peak_rss_over_file']:.2f}x file); target ≤ {t['peak_over_file']}x: "
            + verdict(
                max(result["peak_heap_over_file"], result["peak_rss_over_file"])
                <= t["peak_over_file"]
            ),
            f"  memory allocated while saving, beyond the scene itself: "
            f"{result['save_extra_heap_bytes'] * mb:,.0f} MB "
            f"({result['save_extra_heap_over_file']:.2f}x file)",
        ]
    )


def _peak_heap(action: Callable[[], object]) -> int:
    """Peak bytes allocated (numpy included) while ``action`` runs, beyond what was held."""
    tracemalloc.start()
    try:
        action()
        return tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()


def _best_time(action: Callable[[], object], repeats: int) -> float:
    best = float("inf")
    for _ in range(max(1, repeats)):
        start = time.perf_counter()
        action()
        best = min(best, time.perf_counter() - start)
    return best


def _child_peak_rss(path: Path) -> int:
    done = subprocess.run(
        python_child_command(_CHILD, str(path)), capture_output=True, text=True, check=True
    )
    return int(json.loads(done.stdout.strip().splitlines()[-1]))
