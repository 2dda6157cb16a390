"""LUDVIG uplift: any 2D maps onto the Gaussians, ``X = D⁻¹ Σ_v W_vᵀ F_v`` (DESIGN §4).

The maps may be binary masks (bool or 0/1), soft masks in [0, 1] or C-channel feature
maps. Each channel is averaged on its own with the Gaussian's blending weights, so the
result does not depend on how many channels are uplifted together (LUDVIG's CUDA
kernel accumulated the weight once per channel and scaled features by 1/C; this does
not). ``β_i = D_ii`` (the Gaussian's total blending weight over the views) comes back
too, with a visibility mask for the Gaussians no view saw.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass

import numpy as np

from liftstudio.jobs import CancelToken, ProgressCallback
from liftstudio.render.backend import RenderBackend
from liftstudio.scene.camera import Camera
from liftstudio.scene.gaussians import GaussianScene


@dataclass(frozen=True)
class UpliftedMaps:
    """Per-Gaussian values uplifted from 2D maps.

    Attributes
    ----------
    values : (N, C) float32
        ``D⁻¹ Σ_v W_vᵀ F_v``: the blending-weighted mean of the maps over every pixel
        the Gaussian contributed to; 0 for Gaussians that are not :attr:`visible`.
    beta : (N,) float32
        ``Σ_v W_vᵀ 1``: each Gaussian's total blending weight (its visibility).
    visible : (N,) bool
        ``beta > min_visibility``: Gaussians the views saw enough to trust ``values``.
    """

    values: np.ndarray
    beta: np.ndarray
    visible: np.ndarray

    @property
    def channels(self) -> int:
        """Number of uplifted channels C."""
        return int(self.values.shape[1])


def uplift_maps(
    backend: RenderBackend,
    scene: GaussianScene,
    cameras: Sequence[Camera],
    maps: Iterable[np.ndarray],
    *,
    min_visibility: float = 0.0,
    progress: ProgressCallback | None = None,
    cancel: CancelToken | None = None,
) -> UpliftedMaps:
    """Uplift one 2D map per camera onto the Gaussians.

    Parameters
    ----------
    backend
        Render backend that computes ``Σ W_vᵀ F_v`` and ``β``.
    scene
        The Gaussians (geometry frozen).
    cameras
        One camera per map: training views or any other (a scribble drawn on a novel
        view is uplifted through that view's operator in the same way).
    maps
        One (H, W) or (H, W, C) map per camera: bool, integer 0/1 or float. A map may
        be smaller than its camera's image; the view is rendered at the map's size. An
        iterator keeps only one map in memory at a time.
    min_visibility
        Gaussians whose ``β`` is at most this are reported as not visible and get 0.
    progress, cancel
        Progress callback (one step per view) and cancel token.

    Returns
    -------
    UpliftedMaps

    Raises
    ------
    ValueError
        If the counts differ, a map has the wrong shape or holds NaN/inf (naming the
        view), or ``min_visibility`` is negative.
    liftstudio.jobs.JobCancelled
        If ``cancel`` was set; nothing is returned.
    """
    if not np.isfinite(min_visibility) or min_visibility < 0:
        raise ValueError(f"min_visibility must be a finite number >= 0, got {min_visibility}")
    result = backend.uplift(scene, cameras, maps, progress=progress, cancel=cancel)
    beta = np.asarray(result.beta, dtype=np.float32)
    visible = beta > min_visibility
    values = np.zeros(result.weighted_sum.shape, dtype=np.float32)
    values[visible] = result.weighted_sum[visible] / beta[visible, None]
    return UpliftedMaps(values=values, beta=beta, visible=visible)


def uplift_view(
    backend: RenderBackend,
    scene: GaussianScene,
    camera: Camera,
    values: np.ndarray,
    *,
    min_visibility: float = 0.0,
) -> UpliftedMaps:
    """Uplift a single map drawn on one view (a scribble, a reference mask).

    The same as :func:`uplift_maps` with one camera; ``camera`` may be a training
    camera or any novel view.
    """
    return uplift_maps(backend, scene, [camera], [values], min_visibility=min_visibility)
