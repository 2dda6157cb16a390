"""The real-scene render cases shared by the backend tests and the gsplat goldens.

Three scenes from the real-data folder (``../shared/data/real``), each with a few small
cameras so that every backend renders them in well under a second:

- ``donut``: ``donut.ply`` (trained 3DGS, z-up), 2 ring cameras at 80×60;
- ``guitar``: ``guitar.compressed.ply`` (trained 3DGS, y-down), 2 ring cameras at 64×80;
- ``garden``: the Mip-NeRF 360 garden point cloud from ``garden_points_cameras.npz`` as
  small isotropic Gaussians (:func:`garden_gaussians`), seen through its own training
  cameras scaled to a sixth of their size.

:func:`golden_features` and :func:`golden_maps` give the deterministic per-Gaussian
features and per-view maps rendered and uplifted for the goldens.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import numpy as np
from scipy.spatial import cKDTree

from liftstudio.scene.camera import Camera
from liftstudio.scene.camera_rigs import ring_around
from liftstudio.scene.formats import read_gaussians
from liftstudio.scene.gaussians import GaussianScene
from liftstudio.scene.sh import SH_C0

REAL_CASE_NAMES: tuple[str, ...] = ("donut", "guitar", "garden")
"""The real-scene cases :func:`real_render_case` knows."""


def garden_gaussians(points: np.ndarray, colors: np.ndarray) -> GaussianScene:
    """Real garden points as small isotropic Gaussians.

    Each point becomes an opaque-ish (opacity ``sigmoid(2) ≈ 0.88``) sphere whose radius
    is half the distance to its nearest neighbour, clipped to ``[1e-3, p99 spacing]``,
    with its colour as the degree-0 SH coefficient.

    Parameters
    ----------
    points : (N, 3) array
        Point positions.
    colors : (N, 3) array
        Point colours in 0–255.

    Returns
    -------
    GaussianScene
        N Gaussians with SH degree 0.
    """
    spacing = cKDTree(points).query(points, k=2)[0][:, 1]
    scale = np.clip(0.5 * spacing, 1e-3, np.percentile(spacing, 99))
    n = len(points)
    return GaussianScene(
        means=points,
        raw_quats=np.tile([1.0, 0.0, 0.0, 0.0], (n, 1)),
        log_scales=np.repeat(np.log(scale)[:, None], 3, axis=1),
        logit_opacities=np.full(n, 2.0),
        sh=((colors / 255.0 - 0.5) / SH_C0)[:, None, :],
    )


def real_render_case(real_data_dir: Path, name: str) -> tuple[GaussianScene, list[Camera]]:
    """The scene and cameras of one real-scene case (see the module docstring).

    Parameters
    ----------
    real_data_dir
        The real-data folder holding ``donut.ply``, ``guitar.compressed.ply`` and
        ``garden_points_cameras.npz``.
    name
        One of :data:`REAL_CASE_NAMES`.

    Returns
    -------
    scene : GaussianScene
        The Gaussians.
    cameras : list of Camera
        The views to render (all of one size within a case).

    Raises
    ------
    ValueError
        For an unknown case name.
    """
    real_data_dir = Path(real_data_dir)
    if name == "donut":
        scene = read_gaussians(real_data_dir / "donut.ply")
        cameras = ring_around(scene.means, 2, up=(0, 0, 1), width=80, height=60, fill=1.6)
    elif name == "guitar":
        scene = read_gaussians(real_data_dir / "guitar.compressed.ply")
        cameras = ring_around(scene.means, 2, up=(0, -1, 0), width=64, height=80, fill=1.4)
    elif name == "garden":
        data = np.load(real_data_dir / "garden_points_cameras.npz")
        scene = garden_gaussians(data["means3d"], data["colors"])
        width, height = int(data["width"]), int(data["height"])
        cameras = [
            Camera(f"garden_{i}", data["viewmats"][i], data["Ks"][i], width, height).scaled_to(
                width // 6, height // 6
            )
            for i in range(len(data["viewmats"]))
        ]
    else:
        raise ValueError(
            f"unknown real render case {name!r}; choose one of {', '.join(REAL_CASE_NAMES)}"
        )
    return scene, cameras


def golden_features(num_gaussians: int, channels: int = 5, seed: int = 0) -> np.ndarray:
    """Deterministic per-Gaussian features, uniform in [0, 1).

    Parameters
    ----------
    num_gaussians
        N.
    channels
        C.
    seed
        Seed of :func:`numpy.random.default_rng`.

    Returns
    -------
    (N, C) float32
    """
    return np.random.default_rng(seed).random((num_gaussians, channels), dtype=np.float32)


def golden_maps(cameras: Sequence[Camera], channels: int = 3, seed: int = 1) -> list[np.ndarray]:
    """Deterministic per-view maps at half each camera's resolution, uniform in [0, 1).

    Parameters
    ----------
    cameras
        The views; map ``v`` has ``max(1, height // 2)`` rows and ``max(1, width // 2)``
        columns of camera ``v``.
    channels
        C.
    seed
        Seed of one :func:`numpy.random.default_rng` drawn from view after view.

    Returns
    -------
    list of (H/2, W/2, C) float32
    """
    rng = np.random.default_rng(seed)
    return [
        rng.random((max(1, camera.height // 2), max(1, camera.width // 2), channels), np.float32)
        for camera in cameras
    ]
