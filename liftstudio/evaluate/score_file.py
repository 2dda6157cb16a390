"""``liftstudio eval``: score a user's per-Gaussian labels against ground truth."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from liftstudio.errors import InputFileError
from liftstudio.evaluate.metrics import gaussian_accuracy, object_miou, pq_scene
from liftstudio.render.backend import camera_at
from liftstudio.render.label_maps import render_label_maps
from liftstudio.render.registry import resolve_backend
from liftstudio.scene.discovery import open_scene
from liftstudio.scene.formats import read_gaussians

#: Views wider than this are scored at this width (the metrics are resolution-robust).
MAX_SCORE_WIDTH = 640


def read_label_column(path: Path, column: str) -> np.ndarray:
    """The integer per-Gaussian ``column`` of a Gaussian file, or ids from a ``.npy``."""
    if path.suffix.lower() == ".npy":
        try:
            labels = np.load(path, allow_pickle=False)
        except (OSError, ValueError) as exc:
            raise InputFileError(path, f"cannot be read as a .npy array ({exc})") from None
    else:
        scene = read_gaussians(path)
        if column not in scene.extras:
            available = ", ".join(scene.extras) or "none"
            raise InputFileError(
                path, f"has no {column!r} column (extra columns: {available}); pick one"
            )
        labels = scene.extras[column]
    labels = np.asarray(labels)
    if labels.ndim != 1 or not np.issubdtype(labels.dtype, np.integer):
        raise InputFileError(path, f"labels must be one integer per Gaussian, got {labels.dtype}")
    return labels.astype(np.int64)


def score_labeled_file(
    labeled: str | Path,
    *,
    scene: str | Path,
    gt: str | Path,
    column: str = "instance",
    gt_column: str = "instance",
    views: str = "test",
) -> dict:
    """Score the labels of ``labeled`` against ``gt`` with the protocols of DESIGN §6.

    Parameters
    ----------
    labeled
        Gaussian file with an integer label column (its geometry is rendered).
    scene
        Scene folder (or file) whose cameras the labels are rendered in.
    gt
        Ground truth: ``.npy`` of per-Gaussian ids, or a Gaussian file with ``gt_column``.
    column, gt_column
        Label columns.
    views
        ``"test"`` (the scene's test cameras; all cameras when it has none), ``"train"``
        or ``"all"``.

    Returns
    -------
    dict
        ``pq_scene``, ``sq``, ``rq``, ``tp``, ``fp``, ``fn``, ``miou``, ``boundary_iou``,
        ``gaussian_accuracy`` and what was scored.
    """
    labeled, gt = Path(labeled), Path(gt)
    gaussians = read_gaussians(labeled)
    predicted = read_label_column(labeled, column)
    truth = read_label_column(gt, gt_column)
    if len(truth) != len(gaussians):
        raise InputFileError(
            gt, f"has {len(truth):,} labels but {labeled.name} has {len(gaussians):,} Gaussians"
        )
    opened = open_scene(scene)
    if opened.cameras is None:
        raise InputFileError(opened.path, "has no cameras to render the labels in")
    notes = []
    chosen = {
        "test": opened.cameras.test,
        "train": opened.cameras.train,
        "all": opened.cameras.all,
    }[views]
    if not chosen:
        notes.append(f"the scene has no {views} cameras; scored on all {len(opened.cameras.all)}")
        chosen = opened.cameras.all
    cameras = [
        camera_at(c, (MAX_SCORE_WIDTH, round(c.height * MAX_SCORE_WIDTH / c.width)))
        if c.width > MAX_SCORE_WIDTH
        else c
        for c in chosen
    ]
    backend = resolve_backend("auto")
    predicted_maps = render_label_maps(backend, gaussians, cameras, predicted)
    true_maps = render_label_maps(backend, gaussians, cameras, truth)
    panoptic = pq_scene(predicted_maps, true_maps)
    objects = object_miou(predicted_maps, true_maps)
    return {
        "labeled": str(labeled),
        "gt": str(gt),
        "gaussians": len(gaussians),
        "views": len(cameras),
        "pq_scene": panoptic.pq,
        "sq": panoptic.sq,
        "rq": panoptic.rq,
        "tp": panoptic.tp,
        "fp": panoptic.fp,
        "fn": panoptic.fn,
        "miou": objects.miou,
        "boundary_iou": objects.boundary_iou,
        "gaussian_accuracy": gaussian_accuracy(predicted, truth),
        "notes": notes,
    }


def format_scores(scores: dict) -> str:
    """Text form of :func:`score_labeled_file`'s result."""
    lines = [
        f"Labels      {scores['labeled']} ({scores['gaussians']:,} Gaussians) vs {scores['gt']}",
        f"PQ^scene    {scores['pq_scene']:.3f}  (SQ {scores['sq']:.3f}, RQ {scores['rq']:.3f}; "
        f"TP {scores['tp']}, FP {scores['fp']}, FN {scores['fn']}) over {scores['views']} views",
        f"mIoU        {scores['miou']:.3f}  (boundary IoU {scores['boundary_iou']:.3f})",
        f"Gaussians   {scores['gaussian_accuracy']:.3f} accuracy after matching ids",
    ]
    lines.extend(f"Note        {note}" for note in scores["notes"])
    return "\n".join(lines)
