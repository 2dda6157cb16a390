"""Rendering per-Gaussian integer labels into per-view label maps.

A label map is the argmax over labels of the rendered one-hot labels: each pixel gets
the label whose Gaussians carry the most blending weight there, and ``void`` where the
accumulated alpha is below ``min_alpha``. Ground-truth maps of the benchmark scenes
and predictions scored by the metrics are both made this way.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from liftstudio.render.backend import RenderBackend, Resolution
from liftstudio.scene.camera import Camera
from liftstudio.scene.gaussians import GaussianScene

#: Labels rendered per pass (channels of one feature render).
LABELS_PER_PASS = 64


def render_label_map(
    backend: RenderBackend,
    scene: GaussianScene,
    camera: Camera,
    labels: np.ndarray,
    *,
    resolution: Resolution | None = None,
    min_alpha: float = 0.5,
    void: int = 0,
) -> np.ndarray:
    """Render per-Gaussian ``labels`` into one view.

    Parameters
    ----------
    backend
        The render backend.
    scene
        The Gaussians.
    camera
        The view.
    labels : (N,) int
        A label per Gaussian (any integers; 0 is an ordinary label here).
    resolution
        ``(width, height)``; default the camera's size.
    min_alpha
        Pixels with less accumulated alpha get ``void``.
    void
        Value of void pixels.

    Returns
    -------
    (H, W) int32
    """
    labels = np.asarray(labels)
    if labels.shape != (len(scene),):
        raise ValueError(f"labels must have shape ({len(scene)},), got {labels.shape}")
    values, index = np.unique(labels, return_inverse=True)
    best_weight = None
    best_label = None
    alpha = None
    for start in range(0, len(values), LABELS_PER_PASS):
        stop = min(start + LABELS_PER_PASS, len(values))
        one_hot = np.zeros((len(scene), stop - start), dtype=np.float32)
        in_pass = (index >= start) & (index < stop)
        one_hot[np.flatnonzero(in_pass), index[in_pass] - start] = 1.0
        result = backend.render(scene, camera, resolution=resolution, features=one_hot, rgb=False)
        weights = result.features
        local = np.argmax(weights, axis=-1)
        local_weight = np.take_along_axis(weights, local[..., None], axis=-1)[..., 0]
        if best_weight is None:
            best_weight, best_label, alpha = local_weight, local + start, result.alpha
        else:
            better = local_weight > best_weight
            best_weight = np.where(better, local_weight, best_weight)
            best_label = np.where(better, local + start, best_label)
    if best_label is None:  # an empty scene
        shape = camera.height, camera.width
        if resolution is not None:
            shape = resolution[1], resolution[0]
        return np.full(shape, void, dtype=np.int32)
    out = values[best_label].astype(np.int32)
    out[alpha < min_alpha] = void
    return out


def render_label_maps(
    backend: RenderBackend,
    scene: GaussianScene,
    cameras: Sequence[Camera],
    labels: np.ndarray,
    *,
    resolution: Resolution | None = None,
    min_alpha: float = 0.5,
    void: int = 0,
) -> list[np.ndarray]:
    """:func:`render_label_map` for every camera."""
    return [
        render_label_map(
            backend, scene, camera, labels, resolution=resolution, min_alpha=min_alpha, void=void
        )
        for camera in cameras
    ]
