"""``liftstudio bench lift``: lifting methods × benchmark scenes × mask noise, scored.

Each row runs one method on one scene with one mask source and scores it:

- ``pq_scene`` and ``miou`` on the held-out test views (the method's per-Gaussian labels
  rendered there, DESIGN §6), ``gaussian_accuracy`` against the per-Gaussian truth, and
  ``accuracy_seen``, the same over the Gaussians the training views see (a total
  blending weight of at least :data:`SEEN_MIN_WEIGHT` pixel). Generated scenes hold
  Gaussians that no training view sees except faintly through other objects (a table
  under a box): 2D masks carry no evidence about them, so both numbers are shown;
- ``seconds`` (wall time of the method) and ``peak_mb`` (peak of the memory numpy and
  Python allocate while it runs, from tracemalloc).

Two references are always available:

- ``gt``: the ground-truth labels themselves — the ceiling (below 1.0 only where
  rendering at test views loses thin objects to the 0.5 alpha rule);
- ``masks``: the simulated 2D masks scored as if they were predictions, on the
  training views they were made for, one view at a time (their ids need not agree
  across views; PQ^scene over all views would only measure that) and averaged — the
  noise level a method starts from (no per-Gaussian accuracy: masks have no Gaussians).
"""

from __future__ import annotations

import time
import tracemalloc
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass

import numpy as np

from liftstudio.evaluate.bench_select import SINGLE_OBJECT_METHODS, score_single_object_method
from liftstudio.evaluate.mask_simulation import MASK_SOURCES, make_masks
from liftstudio.evaluate.metrics import gaussian_accuracy, object_miou, pq_scene
from liftstudio.evaluate.scenes import SCENE_KINDS, BenchmarkScene, SceneUnavailable, make
from liftstudio.lift.registry import LiftInputs, lift_methods
from liftstudio.render.backend import RenderBackend
from liftstudio.render.label_maps import render_label_maps
from liftstudio.render.registry import resolve_backend

REFERENCES: tuple[str, ...] = ("gt", "masks")

#: A Gaussian counts as seen when its blending weights over all training views add up
#: to at least this (in pixels of the training images).
SEEN_MIN_WEIGHT = 0.5


@dataclass(frozen=True)
class BenchRow:
    """One scored run (the JSON row of ``bench lift``)."""

    scene: str
    noise: str
    method: str
    pq_scene: float | None
    miou: float | None
    gaussian_accuracy: float | None
    accuracy_seen: float | None
    object_iou: float | None
    seconds: float
    peak_mb: float
    note: str = ""


def available_methods() -> list[str]:
    """The references, every registered lifting method and the single-object methods."""
    return [*REFERENCES, *lift_methods(), *SINGLE_OBJECT_METHODS]


def score_labels(
    scene: BenchmarkScene, labels: np.ndarray, backend: RenderBackend
) -> tuple[float, float, float]:
    """PQ^scene and object mIoU on the test views, and per-Gaussian accuracy, of ``labels``."""
    predicted = render_label_maps(backend, scene.gaussians, scene.test_cameras, labels)
    return (
        pq_scene(predicted, scene.test_gt).pq,
        object_miou(predicted, scene.test_gt).miou,
        gaussian_accuracy(labels, scene.instance_ids),
    )


def seen_gaussians(scene: BenchmarkScene, backend: RenderBackend) -> np.ndarray:
    """(N,) bool: Gaussians whose training-view weight is at least :data:`SEEN_MIN_WEIGHT`."""
    ones = (np.ones((c.height, c.width), np.float32) for c in scene.train_cameras)
    return backend.uplift(scene.gaussians, scene.train_cameras, ones).beta >= SEEN_MIN_WEIGHT


def _measure(function: Callable[[], object]) -> tuple[object, float, float]:
    tracemalloc.start()
    start = time.perf_counter()
    try:
        result = function()
        seconds = time.perf_counter() - start
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    return result, seconds, peak / 1e6


def run_row(
    scene: BenchmarkScene,
    noise: str,
    method: str,
    masks: Sequence[np.ndarray],
    backend: RenderBackend,
    seen: np.ndarray | None = None,
) -> BenchRow:
    """Run and score one method on one scene with one set of masks.

    ``seen`` is :func:`seen_gaussians` of the scene (computed when not given).
    """
    if method == "masks":
        # Mask ids need not agree across views, so each view is scored on its own.
        pairs = list(zip(masks, scene.train_gt, strict=True))
        pq = float(np.mean([pq_scene([m], [g]).pq for m, g in pairs]))
        miou = float(np.mean([object_miou([m], [g]).miou for m, g in pairs]))
        return BenchRow(scene.kind, noise, method, pq, miou, None, None, None, 0.0, 0.0,
                        "per training view, averaged")  # fmt: skip
    if method in SINGLE_OBJECT_METHODS:
        return _single_object_row(scene, noise, method, masks, backend)
    if method == "gt":
        labels, seconds, peak = _measure(lambda: scene.instance_ids.copy())
    else:
        lifter = lift_methods()[method]
        inputs = LiftInputs(
            gaussians=scene.gaussians,
            cameras=scene.train_cameras,
            label_maps=masks,
            images=scene.train_images,
            backend=backend,
            seed=scene.seed,
        )
        output, seconds, peak = _measure(lambda: lifter(inputs))
        labels = output.labels
    pq, miou, accuracy = score_labels(scene, labels, backend)
    seen = seen_gaussians(scene, backend) if seen is None else seen
    accuracy_seen = gaussian_accuracy(labels[seen], scene.instance_ids[seen])
    return BenchRow(scene.kind, noise, method, pq, miou, accuracy, accuracy_seen, None,
                    seconds, peak)  # fmt: skip


def _single_object_row(
    scene: BenchmarkScene,
    noise: str,
    method: str,
    masks: Sequence[np.ndarray],
    backend: RenderBackend,
) -> BenchRow:
    scores, _, peak = _measure(lambda: score_single_object_method(scene, method, masks, backend))
    if not scores:
        return BenchRow(scene.kind, noise, method, None, None, None, None, None, 0.0, peak,
                        "no object is visible in a training view")  # fmt: skip
    return BenchRow(
        scene.kind, noise, method, None, None, None, None,
        float(np.mean([s.iou for s in scores])),
        float(np.mean([s.seconds for s in scores])),
        peak,
        f"{len(scores)} objects, one scribble each; seconds = one selection",
    )  # fmt: skip


def run_lift_benchmark(
    *,
    scenes: Sequence[str] = SCENE_KINDS,
    noises: Sequence[str] = ("clean", "sam-like"),
    methods: Sequence[str] | None = None,
    seed: int = 0,
    backend: str = "cpu",
    progress: Callable[[str], None] | None = None,
) -> list[BenchRow]:
    """Run every method × scene × noise combination.

    Parameters
    ----------
    scenes
        Scene kinds (:data:`~liftstudio.evaluate.scenes.SCENE_KINDS`); a kind that
        cannot be built here (composite without the real scenes) is reported and skipped.
    noises
        Mask sources (:data:`~liftstudio.evaluate.mask_simulation.MASK_SOURCES`).
    methods
        Method names (default: all of :func:`available_methods`).
    seed
        Seed of the scenes and the mask noise.
    backend
        Render backend name.
    progress
        Called with a short message before each step.
    """
    say = progress or (lambda message: None)
    known = available_methods()
    methods = list(methods or known)
    for name, valid, what in (
        *((m, known, "method") for m in methods),
        *((s, SCENE_KINDS, "scene") for s in scenes),
        *((n, MASK_SOURCES, "noise") for n in noises),
    ):
        if name not in valid:
            raise ValueError(f"unknown {what} {name!r}; choose from {', '.join(valid)}")
    engine = resolve_backend(backend)
    rows = []
    for kind in scenes:
        say(f"building the {kind} scene")
        try:
            scene = make(kind, seed, backend=engine)
        except SceneUnavailable as exc:
            say(f"skipping {kind}: {exc}")
            continue
        seen = seen_gaussians(scene, engine)
        for noise in noises:
            masks = make_masks(noise, scene.train_gt, scene.train_images, seed)
            for method in methods:
                say(f"{kind} / {noise} / {method}")
                rows.append(run_row(scene, noise, method, masks, engine, seen))
    return rows


def rows_as_dicts(rows: Sequence[BenchRow]) -> list[dict]:
    """JSON-ready rows."""
    return [asdict(row) for row in rows]


def format_lift_table(rows: Sequence[BenchRow]) -> str:
    """A markdown table of the rows."""

    def number(value: float | None) -> str:
        return "–" if value is None else f"{value:.3f}"

    lines = [
        "| scene | noise | method | PQ^scene | mIoU | Gaussian acc. | acc. seen | object IoU "
        "| seconds | peak MB |",
        "|---|---|---|---|---|---|---|---|---|---|",
    ]
    for row in rows:
        lines.append(
            f"| {row.scene} | {row.noise} | {row.method} | {number(row.pq_scene)} | "
            f"{number(row.miou)} | {number(row.gaussian_accuracy)} | {number(row.accuracy_seen)} | "
            f"{number(row.object_iou)} | {row.seconds:.2f} | "
            f"{row.peak_mb:.0f} |"
        )
    return "\n".join(lines)
