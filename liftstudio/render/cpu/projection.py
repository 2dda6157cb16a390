"""Projecting 3D Gaussians to 2D ellipses (EWA splatting), in numba.

For each Gaussian this computes its centre in pixels, the inverse 2D covariance
(the *conic*), its camera depth, the largest Mahalanobis distance² at which it can
still contribute under the :class:`~liftstudio.render.rules.RasterRules`, and the
pixel box that bounds that ellipse. Culled Gaussians get an empty box.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numba
import numpy as np

from liftstudio.render.rules import RasterRules
from liftstudio.scene.camera import Camera


@dataclass(frozen=True)
class Projected:
    """Per-Gaussian 2D footprint in one view (float64 unless stated).

    Float64 keeps the CPU backend's decisions at the rule's thresholds (the 3σ edge,
    ``min_alpha``, the transmittance stop, depth ties) the same as the reference's:
    at float32, a Gaussian with ``q`` within 1e-6 of 9 flips, and its ~1% alpha with it.

    Attributes
    ----------
    mean2d : (N, 2)
        Centre in pixels.
    conic : (N, 3)
        ``(A, B, C)`` of ``Σ2D⁻¹ = [[A, B], [B, C]]``.
    cov2d : (N, 3)
        ``(a, b, c)`` of the dilated ``Σ2D = [[a, b], [b, c]]``.
    depth : (N,)
        Camera-space z of the centre.
    qmax : (N,)
        Largest ``dᵀ Σ2D⁻¹ d`` that still contributes (footprint and ``min_alpha``).
    box : (N, 4) int32
        Pixel index box ``x0, x1, y0, y1`` (half-open) of the footprint, clipped to
        the image; empty (``x0 >= x1``) for culled Gaussians.
    """

    mean2d: np.ndarray
    conic: np.ndarray
    cov2d: np.ndarray
    depth: np.ndarray
    qmax: np.ndarray
    box: np.ndarray

    @property
    def visible(self) -> np.ndarray:
        """Boolean (N,) mask of Gaussians whose footprint touches the image."""
        return (self.box[:, 0] < self.box[:, 1]) & (self.box[:, 2] < self.box[:, 3])


@numba.njit(parallel=True, cache=True, nogil=True)
def _project_kernel(
    means, quats, scales, opacities, viewmat, K, width, height, dilation, footprint_sigmas,
    min_alpha, near, far, clamp_margin, mean2d, conic, cov2d, depth, qmax, box,
):  # fmt: skip
    n = means.shape[0]
    fx, fy, cx, cy = K[0, 0], K[1, 1], K[0, 2], K[1, 2]
    lim_x_pos = (width - cx) / fx + clamp_margin * width / fx
    lim_x_neg = cx / fx + clamp_margin * width / fx
    lim_y_pos = (height - cy) / fy + clamp_margin * height / fy
    lim_y_neg = cy / fy + clamp_margin * height / fy
    footprint_q = footprint_sigmas * footprint_sigmas
    for i in numba.prange(n):
        box[i, 0] = 0
        box[i, 1] = 0
        box[i, 2] = 0
        box[i, 3] = 0
        mx, my, mz = float(means[i, 0]), float(means[i, 1]), float(means[i, 2])
        tx = viewmat[0, 0] * mx + viewmat[0, 1] * my + viewmat[0, 2] * mz + viewmat[0, 3]
        ty = viewmat[1, 0] * mx + viewmat[1, 1] * my + viewmat[1, 2] * mz + viewmat[1, 3]
        tz = viewmat[2, 0] * mx + viewmat[2, 1] * my + viewmat[2, 2] * mz + viewmat[2, 3]
        depth[i] = tz
        opacity = float(opacities[i])
        if not (near < tz < far) or opacity <= 0.0 or opacity < min_alpha:
            continue
        # 3D covariance  Σ = R S² Rᵀ  from the unit quaternion (w, x, y, z).
        w, x, y, z = float(quats[i, 0]), float(quats[i, 1]), float(quats[i, 2]), float(quats[i, 3])
        r00 = 1 - 2 * (y * y + z * z)
        r01 = 2 * (x * y - w * z)
        r02 = 2 * (x * z + w * y)
        r10 = 2 * (x * y + w * z)
        r11 = 1 - 2 * (x * x + z * z)
        r12 = 2 * (y * z - w * x)
        r20 = 2 * (x * z - w * y)
        r21 = 2 * (y * z + w * x)
        r22 = 1 - 2 * (x * x + y * y)
        s0, s1, s2 = float(scales[i, 0]), float(scales[i, 1]), float(scales[i, 2])
        # M = R S; Σ = M Mᵀ
        m00, m01, m02 = r00 * s0, r01 * s1, r02 * s2
        m10, m11, m12 = r10 * s0, r11 * s1, r12 * s2
        m20, m21, m22 = r20 * s0, r21 * s1, r22 * s2
        # Jacobian of the perspective projection at the clamped position.
        inv_z = 1.0 / tz
        u = min(lim_x_pos, max(-lim_x_neg, tx * inv_z))
        v = min(lim_y_pos, max(-lim_y_neg, ty * inv_z))
        j00, j02 = fx * inv_z, -fx * u * inv_z
        j11, j12 = fy * inv_z, -fy * v * inv_z
        # T = J Rv (2x3); P = T M (2x3); Σ2D = P Pᵀ
        t00 = j00 * viewmat[0, 0] + j02 * viewmat[2, 0]
        t01 = j00 * viewmat[0, 1] + j02 * viewmat[2, 1]
        t02 = j00 * viewmat[0, 2] + j02 * viewmat[2, 2]
        t10 = j11 * viewmat[1, 0] + j12 * viewmat[2, 0]
        t11 = j11 * viewmat[1, 1] + j12 * viewmat[2, 1]
        t12 = j11 * viewmat[1, 2] + j12 * viewmat[2, 2]
        p00 = t00 * m00 + t01 * m10 + t02 * m20
        p01 = t00 * m01 + t01 * m11 + t02 * m21
        p02 = t00 * m02 + t01 * m12 + t02 * m22
        p10 = t10 * m00 + t11 * m10 + t12 * m20
        p11 = t10 * m01 + t11 * m11 + t12 * m21
        p12 = t10 * m02 + t11 * m12 + t12 * m22
        a = p00 * p00 + p01 * p01 + p02 * p02 + dilation
        b = p00 * p10 + p01 * p11 + p02 * p12
        c = p10 * p10 + p11 * p11 + p12 * p12 + dilation
        det = a * c - b * b
        if det <= 0.0:
            continue
        q_limit = footprint_q
        if min_alpha > 0.0:
            q_limit = min(footprint_q, 2.0 * math.log(opacity / min_alpha))
        if q_limit <= 0.0:
            continue
        px = fx * tx * inv_z + cx
        py = fy * ty * inv_z + cy
        mean2d[i, 0] = px
        mean2d[i, 1] = py
        conic[i, 0] = c / det
        conic[i, 1] = -b / det
        conic[i, 2] = a / det
        cov2d[i, 0] = a
        cov2d[i, 1] = b
        cov2d[i, 2] = c
        qmax[i] = q_limit
        # The ellipse dᵀΣ⁻¹d <= q reaches ±sqrt(q·a) in x and ±sqrt(q·c) in y; a
        # pixel (j) is inside the box when its centre j + 0.5 is.
        ex = math.sqrt(q_limit * a)
        ey = math.sqrt(q_limit * c)
        x0 = max(0, math.ceil(px - ex - 0.5))
        x1 = min(width, math.floor(px + ex - 0.5) + 1)
        y0 = max(0, math.ceil(py - ey - 0.5))
        y1 = min(height, math.floor(py + ey - 0.5) + 1)
        if x0 < x1 and y0 < y1:
            box[i, 0] = x0
            box[i, 1] = x1
            box[i, 2] = y0
            box[i, 3] = y1


def project(
    means: np.ndarray,
    quats: np.ndarray,
    scales: np.ndarray,
    opacities: np.ndarray,
    camera: Camera,
    rules: RasterRules,
) -> Projected:
    """Project Gaussians into ``camera`` (float64).

    Parameters
    ----------
    means, quats, scales, opacities
        Activated float32 arrays (quaternions normalised, w first).
    camera
        The view, at the resolution to render.
    rules
        Dilation, footprint, ``min_alpha``, near/far planes and Jacobian clamp.

    Returns
    -------
    Projected
    """
    n = means.shape[0]
    mean2d = np.zeros((n, 2), dtype=np.float64)
    conic = np.zeros((n, 3), dtype=np.float64)
    cov2d = np.zeros((n, 3), dtype=np.float64)
    depth = np.zeros(n, dtype=np.float64)
    qmax = np.zeros(n, dtype=np.float64)
    box = np.zeros((n, 4), dtype=np.int32)
    _project_kernel(
        means, quats, scales, opacities, np.ascontiguousarray(camera.viewmat),
        np.ascontiguousarray(camera.K), camera.width, camera.height,
        float(rules.cov2d_dilation), float(rules.footprint_sigmas), float(rules.min_alpha),
        float(rules.near_plane), float(rules.far_plane), float(rules.clamp_margin),
        mean2d, conic, cov2d, depth, qmax, box,
    )  # fmt: skip
    return Projected(mean2d, conic, cov2d, depth, qmax, box)
