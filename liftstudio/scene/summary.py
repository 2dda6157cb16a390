"""A plain-data summary of an opened scene (what ``liftstudio info`` prints)."""

from __future__ import annotations

from collections import Counter

import numpy as np

from liftstudio.scene.discovery import OpenedScene
from liftstudio.scene.gaussians import GaussianScene

_PERCENTILES = (0, 5, 50, 95, 100)


def summarize(scene: OpenedScene) -> dict:
    """Describe an opened scene as JSON-ready data.

    Returns
    -------
    dict
        ``path``, ``kind``, ``gaussians`` (count, SH degree, columns, bounding box,
        opacity and scale statistics, or None), ``cameras`` (counts, format,
        resolutions, or None), ``images`` (found / total) and ``notes``.
    """
    return {
        "path": str(scene.path),
        "kind": scene.kind,
        "gaussians": _gaussians(scene),
        "cameras": _cameras(scene),
        "images": {
            "found": len(scene.images),
            "total": len(scene.cameras.all) if scene.cameras else 0,
            "folders": sorted({str(p.parent) for p in scene.images.values()}),
        },
        "notes": list(scene.notes),
    }


def _gaussians(scene: OpenedScene) -> dict | None:
    g = scene.gaussians
    if g is None:
        return None
    summary = {
        "count": len(g),
        "file": str(scene.gaussians_path),
        "format": scene.gaussians_format,
        "sh_degree": g.sh_degree,
        "columns": list(g.columns),
        "extra_columns": list(g.extras),
    }
    if len(g) == 0:
        return summary
    low, high = g.bounding_box()
    summary["bounding_box"] = {
        "min": low.tolist(),
        "max": high.tolist(),
        "diagonal": float(np.linalg.norm(high - low)),
    }
    summary["opacity"] = _stats(g.opacities) | {
        "fraction_below_1_255": float(np.mean(g.opacities < 1 / 255))
    }
    summary["scale_max_axis"] = _stats(np.max(_scales(g), axis=1))
    return summary


def _scales(g: GaussianScene) -> np.ndarray:
    with np.errstate(over="ignore"):
        return g.scales


def _stats(values: np.ndarray) -> dict:
    points = np.percentile(values.astype(np.float64), _PERCENTILES)
    return {
        "min": float(points[0]),
        "p5": float(points[1]),
        "median": float(points[2]),
        "p95": float(points[3]),
        "max": float(points[4]),
        "mean": float(np.mean(values, dtype=np.float64)),
    }


def _cameras(scene: OpenedScene) -> dict | None:
    cams = scene.cameras
    if cams is None:
        return None
    sizes = Counter(f"{c.width}x{c.height}" for c in cams.all)
    return {
        "format": cams.format,
        "source": str(cams.source),
        "train": len(cams.train),
        "test": len(cams.test),
        "resolutions": dict(sizes.most_common()),
    }
