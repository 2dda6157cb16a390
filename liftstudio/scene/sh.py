"""Real spherical harmonics in the basis of the INRIA 3DGS rasterizer.

The constants and sign conventions follow the INRIA ``eval_sh`` so that colours
agree with every 3DGS renderer. Degree 0 to 3 are supported: ``K = (degree+1)²``
coefficients per colour channel.
"""

from __future__ import annotations

import numpy as np

SH_C0 = 0.28209479177387814
SH_C1 = 0.4886025119029199
SH_C2 = (
    1.0925484305920792,
    -1.0925484305920792,
    0.31539156525252005,
    -1.0925484305920792,
    0.5462742152960396,
)
SH_C3 = (
    -0.5900435899266435,
    2.890611442640554,
    -0.4570457994644658,
    0.3731763325901154,
    -0.4570457994644658,
    1.445305721320277,
    -0.5900435899266435,
)

MAX_SH_DEGREE = 3


def num_sh_coeffs(degree: int) -> int:
    """Return the number of SH coefficients per channel for a degree (1, 4, 9 or 16)."""
    if not 0 <= degree <= MAX_SH_DEGREE:
        raise ValueError(f"SH degree must be 0..{MAX_SH_DEGREE}, got {degree}")
    return (degree + 1) ** 2


def sh_degree_from_coeffs(num_coeffs: int) -> int:
    """Return the SH degree whose coefficient count per channel is ``num_coeffs``.

    Raises
    ------
    ValueError
        If ``num_coeffs`` is not 1, 4, 9 or 16.
    """
    degree = round(np.sqrt(num_coeffs)) - 1
    if degree < 0 or degree > MAX_SH_DEGREE or (degree + 1) ** 2 != num_coeffs:
        raise ValueError(
            f"{num_coeffs} SH coefficients per channel is not a degree 0-3 layout "
            "(expected 1, 4, 9 or 16)"
        )
    return degree


def sh_basis(dirs: np.ndarray, degree: int) -> np.ndarray:
    """Evaluate the SH basis functions at unit directions.

    Parameters
    ----------
    dirs : (M, 3) array
        Unit direction vectors (from the camera centre towards the Gaussian).
    degree
        SH degree, 0 to 3.

    Returns
    -------
    (M, K) float64 array
        Basis values; ``colour = 0.5 + basis @ sh`` per channel.
    """
    dirs = np.asarray(dirs, dtype=np.float64)
    x, y, z = dirs[:, 0], dirs[:, 1], dirs[:, 2]
    out = np.empty((dirs.shape[0], num_sh_coeffs(degree)), dtype=np.float64)
    out[:, 0] = SH_C0
    if degree >= 1:
        out[:, 1] = -SH_C1 * y
        out[:, 2] = SH_C1 * z
        out[:, 3] = -SH_C1 * x
    if degree >= 2:
        xx, yy, zz = x * x, y * y, z * z
        out[:, 4] = SH_C2[0] * x * y
        out[:, 5] = SH_C2[1] * y * z
        out[:, 6] = SH_C2[2] * (2.0 * zz - xx - yy)
        out[:, 7] = SH_C2[3] * x * z
        out[:, 8] = SH_C2[4] * (xx - yy)
    if degree >= 3:
        out[:, 9] = SH_C3[0] * y * (3.0 * xx - yy)
        out[:, 10] = SH_C3[1] * x * y * z
        out[:, 11] = SH_C3[2] * y * (4.0 * zz - xx - yy)
        out[:, 12] = SH_C3[3] * z * (2.0 * zz - 3.0 * xx - 3.0 * yy)
        out[:, 13] = SH_C3[4] * x * (4.0 * zz - xx - yy)
        out[:, 14] = SH_C3[5] * z * (xx - yy)
        out[:, 15] = SH_C3[6] * x * (xx - 3.0 * yy)
    return out


def sh_to_rgb(sh: np.ndarray, dirs: np.ndarray) -> np.ndarray:
    """Evaluate view-dependent colour (before clamping) of each Gaussian.

    Parameters
    ----------
    sh : (N, K, 3) array
        SH coefficients.
    dirs : (N, 3) array
        Unit viewing direction per Gaussian.

    Returns
    -------
    (N, 3) float64 array
        ``0.5 + Σ_k basis_k(dir) · sh_k``; renderers clamp at 0.
    """
    degree = sh_degree_from_coeffs(sh.shape[1])
    basis = sh_basis(dirs, degree)
    return 0.5 + np.einsum("nk,nkc->nc", basis, sh.astype(np.float64))


def sh_rotation_matrices(rotation: np.ndarray, degree: int) -> list[np.ndarray]:
    """Return per-band matrices that rotate SH coefficients with the scene.

    After the scene is rotated by ``rotation``, a Gaussian's colour seen along
    direction ``d`` must equal its old colour seen along ``rotationᵀ d``. Band ``l``
    of the coefficients maps as ``sh_l' = M_l @ sh_l``. Each ``M_l`` is found by
    least squares on sample directions; the fit is exact because every band is
    closed under rotation.

    Parameters
    ----------
    rotation : (3, 3) array
        A proper rotation matrix.
    degree
        Highest SH degree needed.

    Returns
    -------
    list of arrays
        ``M_1 .. M_degree``, shapes (3,3), (5,5), (7,7); empty for degree 0.
    """
    rotation = np.asarray(rotation, dtype=np.float64)
    rng = np.random.default_rng(0)
    dirs = rng.normal(size=(64, 3))
    dirs /= np.linalg.norm(dirs, axis=1, keepdims=True)
    basis = sh_basis(dirs, degree)
    basis_rotated = sh_basis(dirs @ rotation, degree)  # rows: basis(Rᵀ d)
    matrices = []
    for band in range(1, degree + 1):
        cols = slice(band * band, (band + 1) * (band + 1))
        # basis(Rᵀd) @ sh == basis(d) @ sh'  ⇒  sh' = A @ sh with basis(d) @ A = basis(Rᵀd)
        solution, *_ = np.linalg.lstsq(basis[:, cols], basis_rotated[:, cols], rcond=None)
        matrices.append(solution)
    return matrices
