"""Quaternions (w, x, y, z) and rotation matrices, vectorised over Gaussians."""

from __future__ import annotations

import numpy as np


def normalize_quats(quats: np.ndarray) -> np.ndarray:
    """Return unit quaternions; ``quats`` is (N, 4) in w, x, y, z order."""
    norms = np.linalg.norm(quats, axis=-1, keepdims=True)
    return quats / norms


def quat_multiply(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Hamilton product ``a ⊗ b`` of (…, 4) w-first quaternions (broadcasts)."""
    aw, ax, ay, az = np.moveaxis(a, -1, 0)
    bw, bx, by, bz = np.moveaxis(b, -1, 0)
    return np.stack(
        [
            aw * bw - ax * bx - ay * by - az * bz,
            aw * bx + ax * bw + ay * bz - az * by,
            aw * by - ax * bz + ay * bw + az * bx,
            aw * bz + ax * by - ay * bx + az * bw,
        ],
        axis=-1,
    )


def quats_to_matrices(quats: np.ndarray) -> np.ndarray:
    """Rotation matrices (…, 3, 3) of (…, 4) w-first quaternions (normalised first)."""
    q = normalize_quats(np.asarray(quats, dtype=np.float64))
    w, x, y, z = np.moveaxis(q, -1, 0)
    return np.stack(
        [
            np.stack([1 - 2 * (y * y + z * z), 2 * (x * y - w * z), 2 * (x * z + w * y)], -1),
            np.stack([2 * (x * y + w * z), 1 - 2 * (x * x + z * z), 2 * (y * z - w * x)], -1),
            np.stack([2 * (x * z - w * y), 2 * (y * z + w * x), 1 - 2 * (x * x + y * y)], -1),
        ],
        axis=-2,
    )


def matrix_to_quat(matrix: np.ndarray) -> np.ndarray:
    """Unit w-first quaternion (w ≥ 0) of one proper 3x3 rotation matrix."""
    m = np.asarray(matrix, dtype=np.float64)
    trace = np.trace(m)
    if trace > 0:
        s = 2.0 * np.sqrt(trace + 1.0)
        q = [0.25 * s, (m[2, 1] - m[1, 2]) / s, (m[0, 2] - m[2, 0]) / s, (m[1, 0] - m[0, 1]) / s]
    elif m[0, 0] > m[1, 1] and m[0, 0] > m[2, 2]:
        s = 2.0 * np.sqrt(1.0 + m[0, 0] - m[1, 1] - m[2, 2])
        q = [(m[2, 1] - m[1, 2]) / s, 0.25 * s, (m[0, 1] + m[1, 0]) / s, (m[0, 2] + m[2, 0]) / s]
    elif m[1, 1] > m[2, 2]:
        s = 2.0 * np.sqrt(1.0 + m[1, 1] - m[0, 0] - m[2, 2])
        q = [(m[0, 2] - m[2, 0]) / s, (m[0, 1] + m[1, 0]) / s, 0.25 * s, (m[1, 2] + m[2, 1]) / s]
    else:
        s = 2.0 * np.sqrt(1.0 + m[2, 2] - m[0, 0] - m[1, 1])
        q = [(m[1, 0] - m[0, 1]) / s, (m[0, 2] + m[2, 0]) / s, (m[1, 2] + m[2, 1]) / s, 0.25 * s]
    q = np.asarray(q)
    q /= np.linalg.norm(q)
    return q if q[0] >= 0 else -q


def is_rotation_matrix(matrix: np.ndarray, atol: float = 1e-5) -> bool:
    """Whether ``matrix`` is a proper rotation (orthonormal, determinant +1)."""
    m = np.asarray(matrix, dtype=np.float64)
    return (
        m.shape == (3, 3)
        and np.allclose(m @ m.T, np.eye(3), atol=atol)
        and np.isclose(np.linalg.det(m), 1.0, atol=atol)
    )
