"""The scribble tool's work: one stroke on a view → LUDVIG graph diffusion → scores.

Plain functions (no Qt): the main window runs :func:`scribble_scores` as a background
job and keeps the result, so the threshold slider can re-cut the scores at once. The
steps are those of ``liftstudio select``: the stroke is uplifted into seeds through
its view, the features are colour and position, the graph is the cached kNN graph.
"""

from __future__ import annotations

import numpy as np

from liftstudio.jobs import CancelToken, ProgressCallback, check_cancelled
from liftstudio.lift import select_command as sc
from liftstudio.lift.features import colour_position_features
from liftstudio.lift.knn_graph import cached_knn_graph
from liftstudio.lift.selection import Scribble
from liftstudio.render.registry import resolve_backend
from liftstudio.scene.camera import Camera
from liftstudio.scene.gaussians import GaussianScene

ScribbleResult = sc.ScribbleSelection

NEIGHBOURS = 16
"""kNN graph degree (the ``liftstudio select`` default)."""


def scribble_scores(
    scene: GaussianScene,
    camera: Camera,
    mask: np.ndarray,
    *,
    progress: ProgressCallback | None = None,
    cancel: CancelToken | None = None,
) -> ScribbleResult:
    """Diffuse a scribble drawn on ``camera`` over the scene's kNN graph.

    Parameters
    ----------
    scene
        The Gaussians.
    camera
        The view the stroke was drawn on (the viewport's camera).
    mask : (H, W) bool
        The stroke, at the camera's size.

    Raises
    ------
    liftstudio.errors.LiftStudioError
        When the stroke touches no Gaussian.
    """
    backend = resolve_backend("auto")
    seeds = sc.scribble_seeds(backend, scene, Scribble(camera, np.asarray(mask, bool)))
    check_cancelled(cancel)
    features = colour_position_features(scene)
    graph = cached_knn_graph(scene, NEIGHBOURS, progress=progress, cancel=cancel)
    check_cancelled(cancel)
    return sc.select_from_scribble(
        backend, scene, graph, features.values, seeds, progress=progress, cancel=cancel
    )
