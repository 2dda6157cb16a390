"""``liftstudio bench lift-speed``: the learning-free lifting timings and memory targets.

Workloads (learning-free lifting issue):

- **uplift**: a one-channel mask (a centred disc) uplifted from 60 ring views of the
  biker scene at 640×480 (a generated scene of biker's size where the file is absent);
- **votes**: consistent label maps (six depth bands of each view's rendered depth)
  voted onto biker from the same views; the vote table's bytes per Gaussian per kept
  label and the peak memory of the whole accumulation;
- **diffusion**: a generated 1 M-Gaussian scene (clustered blobs, 32-D features that
  tell the blobs apart): kNN graph build, its cached load, the per-(graph, features)
  preparation, and one selection with LUDVIG diffusion and with label propagation.
"""

from __future__ import annotations

import tempfile
import time
import tracemalloc
from collections.abc import Callable
from pathlib import Path

import numpy as np

from liftstudio.evaluate.bench_render import benchmark_scene
from liftstudio.evaluate.synthetic import random_gaussians
from liftstudio.lift.diffusion import feature_graph
from liftstudio.lift.knn_graph import GraphCache, cached_knn_graph
from liftstudio.lift.selection import select_object
from liftstudio.lift.uplift import uplift_maps
from liftstudio.lift.votes import accumulate_votes
from liftstudio.render.registry import resolve_backend
from liftstudio.scene.camera_rigs import ring_around

#: Targets of the learning-free lifting issue on the 2-core reference machine.
TARGETS = {
    "uplift_s": 30.0,
    "graph_build_s": 20.0,
    "selection_s": 1.0,
    "votes_bytes_per_gaussian_per_label": 12.0,
}
DEPTH_BANDS = 6
FEATURE_DIMS = 32


def _timed(function: Callable[[], object]) -> tuple[object, float]:
    start = time.perf_counter()
    result = function()
    return result, time.perf_counter() - start


def run_lift_speed_benchmark(
    *,
    backend: str = "cpu",
    scene_path: Path | None = None,
    num_views: int = 60,
    width: int = 640,
    height: int = 480,
    diffusion_gaussians: int = 1_000_000,
    k: int = 16,
    progress: Callable[[str], None] | None = None,
) -> dict:
    """Measure the workloads of the module docstring; returns their figures and targets."""
    say = progress or (lambda message: None)
    engine = resolve_backend(backend)
    say("loading the scene")
    scene, description, up = benchmark_scene(scene_path)
    cameras = ring_around(scene.means, num_views, up=up, width=width, height=height)
    result: dict = {
        "backend": engine.name,
        "scene": description,
        "gaussians": len(scene),
        "views": num_views,
        "width": width,
        "height": height,
    }

    yy, xx = np.mgrid[:height, :width]
    disc = (xx - width / 2) ** 2 + (yy - height / 2) ** 2 < (0.3 * height) ** 2
    uplift_maps(engine, scene, cameras[:1], [disc])  # warm-up (kernels compiled or loaded)
    say(f"uplifting a one-channel mask from {num_views} views")
    uplifted, seconds = _timed(lambda: uplift_maps(engine, scene, cameras, [disc] * num_views))
    result["uplift_s"] = seconds
    result["uplift_visible_share"] = float(uplifted.visible.mean())

    say(f"rendering depth bands and voting them from {num_views} views")
    label_maps = [_depth_bands(engine.render(scene, c, rgb=False).depth) for c in cameras]
    tracemalloc.start()
    try:
        votes, seconds = _timed(lambda: accumulate_votes(engine, scene, cameras, label_maps))
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    result["votes_s"] = seconds
    result["votes_slots"] = votes.slots
    result["votes_table_mb"] = votes.nbytes / 1e6
    result["votes_bytes_per_gaussian_per_label"] = votes.bytes_per_gaussian_per_label()
    result["votes_peak_mb"] = peak / 1e6
    result["votes_dropped_share"] = votes.dropped / max(float(votes.beta.sum()), 1e-12)

    say(f"generating {diffusion_gaussians:,} Gaussians for diffusion")
    big = random_gaussians(diffusion_gaussians, num_blobs=24, seed=1)
    features, blob = _blob_features(big.means, seed=1)
    result["diffusion_gaussians"] = diffusion_gaussians
    result["graph_k"] = k
    with tempfile.TemporaryDirectory(prefix="liftstudio-graphs-") as folder:
        cache = GraphCache(folder)
        say("building the kNN graph")
        graph, result["graph_build_s"] = _timed(lambda: cached_knn_graph(big, k, cache=cache))
        say("loading the kNN graph from its cache")
        _, result["graph_cached_load_s"] = _timed(lambda: cached_knn_graph(big, k, cache=cache))
    say("preparing edge feature distances")
    prepared, result["feature_graph_s"] = _timed(lambda: feature_graph(graph, features))
    target = blob == blob[0]
    seeds = np.zeros(len(big), dtype=bool)
    seeds[np.flatnonzero(target)[:2000]] = True
    select_object(None, big, graph, prepared, seeds)  # warm-up
    for method, key in (("diffusion", "selection_s"), ("diffusion-lp", "selection_lp_s")):
        say(f"one selection ({method})")
        selection, result[key] = _timed(
            lambda m=method: select_object(None, big, graph, prepared, seeds, method=m)
        )
        chosen = selection.mask
        result[key.replace("_s", "_iou")] = float(
            np.count_nonzero(chosen & target) / max(np.count_nonzero(chosen | target), 1)
        )
    result["targets"] = TARGETS
    return result


def _depth_bands(depth: np.ndarray) -> np.ndarray:
    """Label map of :data:`DEPTH_BANDS` depth quantile bands (0 where nothing rendered)."""
    labels = np.zeros(depth.shape, dtype=np.int32)
    drawn = depth > 0
    if drawn.any():
        edges = np.quantile(depth[drawn], np.linspace(0, 1, DEPTH_BANDS + 1)[1:-1])
        labels[drawn] = np.searchsorted(edges, depth[drawn]) + 1
    return labels


def _blob_features(means: np.ndarray, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """32-D features per Gaussian: its blob's random code plus noise; and the blob ids."""
    rng = np.random.default_rng(seed)
    from scipy.cluster.vq import kmeans2  # blobs recovered from positions

    sample = means[rng.choice(len(means), min(len(means), 50_000), replace=False)]
    centres, _ = kmeans2(sample.astype(np.float64), 24, seed=seed, minit="++")
    blob = np.argmin(((means[:, None, :] - centres[None]) ** 2).sum(-1), axis=1)
    codes = rng.normal(size=(len(centres), FEATURE_DIMS))
    noise = 0.2 * rng.standard_normal((len(means), FEATURE_DIMS))
    return (codes[blob] + noise).astype(np.float32), blob


def format_lift_speed_report(result: dict) -> str:
    """Plain-text report of :func:`run_lift_speed_benchmark`, with targets."""
    targets = result["targets"]

    def check(value: float, key: str) -> str:
        return "meets" if value <= targets[key] else "MISSES"

    per_label = result["votes_bytes_per_gaussian_per_label"]
    lines = [
        f"scene: {result['scene']} ({result['gaussians']:,} Gaussians), {result['views']} views "
        f"at {result['width']}x{result['height']}, {result['backend']} backend",
        f"uplift, 1-channel mask: {result['uplift_s']:.1f} s "
        f"({check(result['uplift_s'], 'uplift_s')} <= {targets['uplift_s']:.0f} s); "
        f"{100 * result['uplift_visible_share']:.0f}% of Gaussians seen",
        f"votes ({DEPTH_BANDS} labels, {result['votes_slots']} slots): {result['votes_s']:.1f} s, "
        f"table {result['votes_table_mb']:.1f} MB = "
        f"{per_label:.1f} B per Gaussian per kept label "
        f"({check(per_label, 'votes_bytes_per_gaussian_per_label')} "
        f"<= {targets['votes_bytes_per_gaussian_per_label']:.0f}); "
        f"peak {result['votes_peak_mb']:.0f} MB; "
        f"{100 * result['votes_dropped_share']:.2f}% of vote weight dropped by full slots",
        f"diffusion scene: {result['diffusion_gaussians']:,} generated Gaussians, "
        f"k={result['graph_k']}",
        f"  kNN graph build: {result['graph_build_s']:.1f} s "
        f"({check(result['graph_build_s'], 'graph_build_s')} <= {targets['graph_build_s']:.0f} s); "
        f"cached load {result['graph_cached_load_s']:.2f} s",
        f"  edge feature distances (once per graph and features): "
        f"{result['feature_graph_s']:.2f} s",
        f"  one selection, diffusion: {result['selection_s']:.2f} s "
        f"({check(result['selection_s'], 'selection_s')} <= {targets['selection_s']:.0f} s), "
        f"IoU with the seeded blob {result['selection_iou']:.3f}",
        f"  one selection, label propagation: {result['selection_lp_s']:.2f} s, "
        f"IoU {result['selection_lp_iou']:.3f}",
    ]
    return "\n".join(lines)
