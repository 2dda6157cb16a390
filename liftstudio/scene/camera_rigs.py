"""Generated camera rigs for scenes that come without cameras (tests, benchmarks, demos)."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from liftstudio.scene.camera import Camera, intrinsics, look_at


def ring_cameras(
    center: Sequence[float],
    radius: float,
    num_cameras: int,
    *,
    up: Sequence[float] = (0.0, 0.0, 1.0),
    elevation_degrees: float = 20.0,
    width: int = 640,
    height: int = 480,
    fov_x_degrees: float = 60.0,
    prefix: str = "ring",
) -> list[Camera]:
    """Cameras evenly spaced on a circle around ``center``, all looking at it.

    Parameters
    ----------
    center : (3,)
        The point every camera looks at.
    radius
        Distance from each camera to ``center``.
    num_cameras
        How many cameras.
    up : (3,)
        World up direction; the circle lies in a plane perpendicular to it.
    elevation_degrees
        Angle of the cameras above that plane.
    width, height, fov_x_degrees
        Image size in pixels and horizontal field of view.
    prefix
        Camera names are ``f"{prefix}_{i:03d}"``.

    Returns
    -------
    list of Camera
    """
    if num_cameras < 1:
        raise ValueError(f"num_cameras must be >= 1, got {num_cameras}")
    if radius <= 0:
        raise ValueError(f"radius must be positive, got {radius}")
    center = np.asarray(center, dtype=np.float64)
    up = np.asarray(up, dtype=np.float64)
    up = up / np.linalg.norm(up)
    # Two unit vectors spanning the plane perpendicular to ``up``.
    helper = np.eye(3)[np.argmin(np.abs(up))]
    axis_a = np.cross(up, helper)
    axis_a /= np.linalg.norm(axis_a)
    axis_b = np.cross(up, axis_a)
    focal = 0.5 * width / np.tan(np.radians(fov_x_degrees) / 2)
    K = intrinsics(focal, focal, width / 2, height / 2)
    elevation = np.radians(elevation_degrees)
    cameras = []
    for i in range(num_cameras):
        azimuth = 2 * np.pi * i / num_cameras
        direction = (
            np.cos(elevation) * (np.cos(azimuth) * axis_a + np.sin(azimuth) * axis_b)
            + np.sin(elevation) * up
        )
        eye = center + radius * direction
        cameras.append(Camera(f"{prefix}_{i:03d}", look_at(eye, center, up), K, width, height))
    return cameras


def ring_around(
    means: np.ndarray,
    num_cameras: int,
    *,
    up: Sequence[float] = (0.0, 0.0, 1.0),
    fill: float = 0.8,
    **kwargs,
) -> list[Camera]:
    """A :func:`ring_cameras` rig framing a point set (robust to outliers).

    The centre is the middle of the 2–98 percentile box of ``means``; the radius makes
    that box span about ``fill`` of the horizontal field of view.

    Parameters
    ----------
    means : (N, 3)
        Gaussian centres (or any points).
    num_cameras
        How many cameras.
    up
        World up direction (trained 3DGS scenes are often y-down: pass ``(0, -1, 0)``).
    fill
        Fraction of the image width the scene should cover.
    **kwargs
        Passed on to :func:`ring_cameras`.
    """
    means = np.asarray(means, dtype=np.float64)
    low, high = np.percentile(means, [2, 98], axis=0)
    center = 0.5 * (low + high)
    half_extent = 0.5 * float(np.linalg.norm(high - low))
    fov_x = np.radians(kwargs.get("fov_x_degrees", 60.0))
    radius = half_extent / (fill * np.tan(fov_x / 2)) + half_extent
    return ring_cameras(center, radius, num_cameras, up=up, **kwargs)
