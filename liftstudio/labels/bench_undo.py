"""Timing undo and redo of one large edit (``liftstudio bench edit``)."""

from __future__ import annotations

import statistics
import time

import numpy as np

from liftstudio.labels.label_model import LabelModel


def run_undo_benchmark(
    *, num_gaussians: int = 1_000_000, edited: int = 500_000, repeats: int = 5, seed: int = 0
) -> dict:
    """Time undo and redo of one edit of ``edited`` random Gaussians (median of ``repeats``).

    Returns
    -------
    dict
        ``assign_ms``, ``undo_ms``, ``redo_ms`` and the history's ``history_mb``.
    """
    if not 0 < edited <= num_gaussians:
        raise ValueError(f"edited must be in (0, num_gaussians], got {edited}")
    rng = np.random.default_rng(seed)
    model = LabelModel(num_gaussians)
    model.replace_all(rng.integers(0, 200, num_gaussians))
    chosen = rng.choice(num_gaussians, edited, replace=False)
    start = time.perf_counter()
    model.assign(chosen, 1000, source="bench")
    assign_ms = 1000 * (time.perf_counter() - start)
    undo, redo = [], []
    for _ in range(repeats):
        start = time.perf_counter()
        model.undo()
        undo.append(1000 * (time.perf_counter() - start))
        start = time.perf_counter()
        model.redo()
        redo.append(1000 * (time.perf_counter() - start))
    return {
        "gaussians": num_gaussians,
        "edited": edited,
        "assign_ms": round(assign_ms, 2),
        "undo_ms": round(statistics.median(undo), 2),
        "redo_ms": round(statistics.median(redo), 2),
        "history_mb": round(model.history.nbytes / 1e6, 2),
    }
