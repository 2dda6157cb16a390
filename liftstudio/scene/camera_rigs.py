"""Generated camera rigs for scenes that come without cameras (tests, benchmarks, demos)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import replace

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
    azimuth_offset: float = 0.0,
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
    azimuth_offset
        Azimuth of the first camera, in radians.

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
        azimuth = azimuth_offset + 2 * np.pi * i / num_cameras
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


def hemisphere_cameras(
    center: Sequence[float],
    radius: float,
    num_cameras: int,
    *,
    up: Sequence[float] = (0.0, 0.0, 1.0),
    min_elevation_degrees: float = 15.0,
    max_elevation_degrees: float = 65.0,
    width: int = 640,
    height: int = 480,
    fov_x_degrees: float = 60.0,
    prefix: str = "dome",
) -> list[Camera]:
    """Cameras spread over a band of the upper hemisphere (a Fibonacci spiral), looking in.

    Parameters
    ----------
    center, radius, num_cameras, up
        As :func:`ring_cameras`.
    min_elevation_degrees, max_elevation_degrees
        Elevation band the cameras spread over, evenly in height.
    width, height, fov_x_degrees, prefix
        As :func:`ring_cameras`.
    """
    if num_cameras < 1:
        raise ValueError(f"num_cameras must be >= 1, got {num_cameras}")
    golden = np.pi * (3.0 - np.sqrt(5.0))
    low, high = np.sin(np.radians([min_elevation_degrees, max_elevation_degrees]))
    cameras = []
    for i in range(num_cameras):
        height_fraction = (i + 0.5) / num_cameras
        elevation = np.degrees(np.arcsin(low + (high - low) * height_fraction))
        azimuth = i * golden
        camera = ring_cameras(
            center, radius, 1, up=up, elevation_degrees=elevation, width=width,
            height=height, fov_x_degrees=fov_x_degrees, prefix=prefix,
            azimuth_offset=azimuth,
        )[0]  # fmt: skip
        cameras.append(replace(camera, name=f"{prefix}_{i:03d}"))
    return cameras


def forward_cameras(
    target: Sequence[float],
    direction: Sequence[float],
    distance: float,
    num_cameras: int,
    *,
    spread: float = 0.25,
    up: Sequence[float] = (0.0, 0.0, 1.0),
    width: int = 640,
    height: int = 480,
    fov_x_degrees: float = 60.0,
    prefix: str = "front",
) -> list[Camera]:
    """Forward-facing cameras (LLFF style): on a small disc, all looking at ``target``.

    Parameters
    ----------
    target : (3,)
        Point the cameras look at.
    direction : (3,)
        From the disc's centre towards ``target``.
    distance
        Distance from the disc's centre to ``target``.
    num_cameras
        How many cameras (a Fibonacci pattern on the disc).
    spread
        Disc radius as a fraction of ``distance``.
    up, width, height, fov_x_degrees, prefix
        As :func:`ring_cameras`.
    """
    if num_cameras < 1:
        raise ValueError(f"num_cameras must be >= 1, got {num_cameras}")
    target = np.asarray(target, dtype=np.float64)
    forward = np.asarray(direction, dtype=np.float64)
    forward /= np.linalg.norm(forward)
    up = np.asarray(up, dtype=np.float64)
    right = np.cross(forward, up)
    right /= np.linalg.norm(right)
    true_up = np.cross(right, forward)
    focal = 0.5 * width / np.tan(np.radians(fov_x_degrees) / 2)
    K = intrinsics(focal, focal, width / 2, height / 2)
    golden = np.pi * (3.0 - np.sqrt(5.0))
    centre = target - distance * forward
    cameras = []
    for i in range(num_cameras):
        rho = spread * distance * np.sqrt((i + 0.5) / num_cameras)
        angle = i * golden
        eye = centre + rho * (np.cos(angle) * right + np.sin(angle) * true_up)
        cameras.append(Camera(f"{prefix}_{i:03d}", look_at(eye, target, up), K, width, height))
    return cameras
