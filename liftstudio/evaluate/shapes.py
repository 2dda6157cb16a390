"""Surface samples of simple solids, for building benchmark objects out of Gaussians.

Each sampler returns ``(points, normals)`` on the solid's surface, centred on the origin
with the solid resting on ``z = 0`` (its lowest point at 0), drawn uniformly by area.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

Sampler = Callable[[np.random.Generator, int, np.ndarray], tuple[np.ndarray, np.ndarray]]


def _unit(v: np.ndarray) -> np.ndarray:
    return v / np.linalg.norm(v, axis=-1, keepdims=True)


def sphere(rng: np.random.Generator, n: int, size: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Ellipsoid with semi-axes ``size / 2`` (approximately uniform for mild ellipsoids)."""
    normals = _unit(rng.normal(size=(n, 3)))
    points = normals * (size / 2) + [0.0, 0.0, size[2] / 2]
    return points, _unit(normals / (size / 2))


def box(rng: np.random.Generator, n: int, size: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Axis-aligned box of edge lengths ``size``."""
    sx, sy, sz = size
    areas = np.array([sy * sz, sy * sz, sx * sz, sx * sz, sx * sy, sx * sy])
    face = rng.choice(6, size=n, p=areas / areas.sum())
    points = (rng.random((n, 3)) - 0.5) * size
    axis = face // 2
    sign = np.where(face % 2 == 0, -1.0, 1.0)
    points[np.arange(n), axis] = sign * size[axis] / 2
    normals = np.zeros((n, 3))
    normals[np.arange(n), axis] = sign
    points[:, 2] += sz / 2
    return points, normals


def cylinder(rng: np.random.Generator, n: int, size: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Upright cylinder of diameter ``size[0]`` and height ``size[2]``."""
    r, h = size[0] / 2, size[2]
    side, cap = 2 * np.pi * r * h, np.pi * r * r
    part = rng.choice(3, size=n, p=np.array([side, cap, cap]) / (side + 2 * cap))
    theta = rng.uniform(0, 2 * np.pi, n)
    radial = np.stack([np.cos(theta), np.sin(theta), np.zeros(n)], axis=1)
    rho = np.where(part == 0, r, r * np.sqrt(rng.random(n)))
    z = np.where(part == 0, rng.uniform(0, h, n), np.where(part == 1, 0.0, h))
    points = radial * rho[:, None] + np.stack([np.zeros(n), np.zeros(n), z], axis=1)
    normals = np.where(part[:, None] == 0, radial, [0.0, 0.0, 1.0])
    normals[part == 1] = [0.0, 0.0, -1.0]
    return points, normals


def cone(rng: np.random.Generator, n: int, size: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Upright cone of base diameter ``size[0]`` and height ``size[2]``."""
    r, h = size[0] / 2, size[2]
    slant = np.hypot(r, h)
    side, base = np.pi * r * slant, np.pi * r * r
    on_side = rng.random(n) < side / (side + base)
    theta = rng.uniform(0, 2 * np.pi, n)
    t = np.sqrt(rng.random(n))  # uniform by area towards the base
    rho = np.where(on_side, r * t, r * np.sqrt(rng.random(n)))
    z = np.where(on_side, h * (1 - t), 0.0)
    points = np.stack([rho * np.cos(theta), rho * np.sin(theta), z], axis=1)
    side_normals = _unit(np.stack([h * np.cos(theta), h * np.sin(theta), np.full(n, r)], axis=1))
    normals = np.where(on_side[:, None], side_normals, [0.0, 0.0, -1.0])
    return points, normals


def torus(rng: np.random.Generator, n: int, size: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Flat-lying torus of outer diameter ``size[0]`` (tube radius a quarter of the radius)."""
    outer = size[0] / 2
    tube = outer * 0.3
    ring = outer - tube
    # Rejection by the area element (ring + tube·cos φ) for uniform sampling.
    theta = rng.uniform(0, 2 * np.pi, 4 * n)
    phi = rng.uniform(0, 2 * np.pi, 4 * n)
    keep = rng.random(4 * n) < (ring + tube * np.cos(phi)) / (ring + tube)
    theta, phi = theta[keep][:n], phi[keep][:n]
    radial = np.stack([np.cos(theta), np.sin(theta), np.zeros(len(theta))], axis=1)
    normals = radial * np.cos(phi)[:, None] + np.array([0.0, 0.0, 1.0]) * np.sin(phi)[:, None]
    points = radial * ring + normals * tube + [0.0, 0.0, tube]
    return points, normals


def plane(rng: np.random.Generator, n: int, size: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Flat rectangle ``size[0] × size[1]`` in ``z = 0``, facing +z."""
    points = np.zeros((n, 3))
    points[:, :2] = (rng.random((n, 2)) - 0.5) * size[:2]
    return points, np.tile([0.0, 0.0, 1.0], (n, 1))


def surface_area(kind: str, size: np.ndarray) -> float:
    """Approximate surface area of a solid, for spreading a Gaussian budget by area."""
    sx, sy, sz = size
    if kind == "box":
        return 2 * (sx * sy + sy * sz + sx * sz)
    if kind == "sphere":
        return 4 * np.pi * ((sx * sy + sy * sz + sx * sz) / 12)
    if kind == "cylinder":
        return np.pi * sx * sz + np.pi * sx * sx / 2
    if kind == "cone":
        return np.pi * sx / 2 * (np.hypot(sx / 2, sz) + sx / 2)
    if kind == "torus":
        return 4 * np.pi**2 * (sx / 2 * 0.7) * (sx / 2 * 0.3)
    if kind == "plane":
        return sx * sy
    raise ValueError(f"unknown shape {kind!r}")


SHAPES: dict[str, Sampler] = {
    "sphere": sphere,
    "box": box,
    "cylinder": cylinder,
    "cone": cone,
    "torus": torus,
}
"""The object shapes (``plane`` is used for tables, floors and walls)."""
