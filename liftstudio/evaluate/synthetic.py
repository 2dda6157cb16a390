"""Small generated scenes: random Gaussians in coloured blobs and orbiting cameras.

These feed the I/O benchmark, the tests and ``liftstudio generate``. They are not
trained scenes; the benchmark scenes with ground truth come from
``liftstudio.evaluate.scenes``.
"""

from __future__ import annotations

import numpy as np

from liftstudio.scene.camera import Camera, intrinsics, look_at
from liftstudio.scene.gaussians import GaussianScene
from liftstudio.scene.sh import SH_C0, num_sh_coeffs


def random_gaussians(
    num_gaussians: int,
    *,
    sh_degree: int = 0,
    num_blobs: int = 6,
    seed: int = 0,
    extras: dict[str, np.dtype] | None = None,
) -> GaussianScene:
    """Gaussians scattered in ``num_blobs`` coloured blobs around the origin.

    Parameters
    ----------
    num_gaussians
        N.
    sh_degree
        0 to 3; higher bands get small random coefficients.
    num_blobs
        Number of clusters, each with its own colour.
    seed
        Random seed; the same seed gives the same scene.
    extras
        Extra per-Gaussian columns to add (name → dtype), filled with random values.

    Returns
    -------
    GaussianScene
    """
    rng = np.random.default_rng(seed)
    centres = rng.uniform(-1.0, 1.0, size=(num_blobs, 3))
    colours = rng.uniform(0.1, 0.9, size=(num_blobs, 3))
    blob = rng.integers(0, num_blobs, size=num_gaussians)
    means = centres[blob] + rng.normal(scale=0.15, size=(num_gaussians, 3))
    sh = np.zeros((num_gaussians, num_sh_coeffs(sh_degree), 3), dtype=np.float32)
    sh[:, 0] = (colours[blob] - 0.5) / SH_C0 + rng.normal(scale=0.05, size=(num_gaussians, 3))
    sh[:, 1:] = rng.normal(scale=0.05, size=sh[:, 1:].shape)
    columns = {}
    for name, dtype in (extras or {}).items():
        dtype = np.dtype(dtype)
        if dtype.kind == "f":
            columns[name] = rng.normal(size=num_gaussians).astype(dtype)
        else:
            info = np.iinfo(dtype)
            columns[name] = rng.integers(info.min, info.max, size=num_gaussians, dtype=dtype)
    return GaussianScene(
        means=means,
        raw_quats=rng.normal(size=(num_gaussians, 4)) + [2.0, 0.0, 0.0, 0.0],
        log_scales=rng.normal(loc=np.log(0.02), scale=0.4, size=(num_gaussians, 3)),
        logit_opacities=rng.normal(loc=1.0, scale=1.5, size=num_gaussians),
        sh=sh,
        extras=columns,
    )


def orbit_cameras(
    num_cameras: int,
    *,
    radius: float = 4.0,
    height: float = 1.5,
    width_px: int = 640,
    height_px: int = 480,
    fov_x_degrees: float = 60.0,
    prefix: str = "view",
) -> list[Camera]:
    """Cameras on a circle around the origin, all looking at it (z up).

    Parameters
    ----------
    num_cameras
        How many cameras, evenly spaced in azimuth.
    radius, height
        Circle radius and height above the origin.
    width_px, height_px
        Image size.
    fov_x_degrees
        Horizontal field of view.
    prefix
        Image names are ``f"{prefix}_{i:03d}.png"``.
    """
    focal = 0.5 * width_px / np.tan(np.radians(fov_x_degrees) / 2)
    K = intrinsics(focal, focal, width_px / 2, height_px / 2)
    cameras = []
    for i in range(num_cameras):
        angle = 2 * np.pi * i / num_cameras
        eye = np.array([radius * np.cos(angle), radius * np.sin(angle), height])
        cameras.append(
            Camera(f"{prefix}_{i:03d}.png", look_at(eye, np.zeros(3)), K, width_px, height_px)
        )
    return cameras
