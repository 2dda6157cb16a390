"""Turn checked numbers from a camera file into :class:`Camera` objects."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from liftstudio.errors import InputFileError, SceneDataError
from liftstudio.scene.camera import Camera, viewmat_from_camtoworld

#: Largest ``|R Rᵀ - I|`` accepted for a rotation read from a file. Values printed
#: with 6-7 significant digits are off by ~1e-7; a scaled or sheared matrix is off
#: by far more. Accepted matrices are snapped to the nearest rotation.
ROTATION_TOLERANCE = 1e-3


def checked_rotation(matrix: np.ndarray, path: Path, where: str) -> np.ndarray:
    """Snap ``matrix`` to the nearest exact rotation, or raise if it is not one.

    Parameters
    ----------
    matrix : (3, 3) array
        Rotation read from a file.
    path
        The file (named in errors).
    where
        Which record and field, e.g. ``"camera 3 rotation"``.

    Returns
    -------
    (3, 3) float64 array
        A proper rotation (orthonormal, determinant +1).

    Raises
    ------
    InputFileError
        When the matrix is a reflection, scaled, sheared or degenerate.
    """
    matrix = np.asarray(matrix, dtype=np.float64)
    error = np.abs(matrix @ matrix.T - np.eye(3)).max()
    if error > ROTATION_TOLERANCE or np.linalg.det(matrix) <= 0:
        raise InputFileError(
            path,
            f"{where} is not a rotation matrix (orthonormal with determinant +1): it is "
            "scaled, sheared or mirrored",
        )
    u, _, vt = np.linalg.svd(matrix)
    return u @ vt


def camera_from_camtoworld(
    name: str,
    rotation: np.ndarray,
    centre: np.ndarray,
    K: np.ndarray,
    size: tuple[int, int],
    image_path: Path | None,
    path: Path,
) -> Camera:
    """Build a camera from a camera-to-world pose in OpenCV axes.

    Parameters
    ----------
    name
        Image name.
    rotation : (3, 3) array
        Camera-to-world rotation (columns are the camera axes in world coordinates).
    centre : (3,) array
        Camera centre in world coordinates.
    K : (3, 3) array
        Intrinsics.
    size
        ``(width, height)``.
    image_path
        The image on disk, if found.
    path
        The camera file (named in errors).

    Returns
    -------
    Camera
        The camera.

    Raises
    ------
    InputFileError
        When the numbers break the camera conventions.
    """
    camtoworld = np.eye(4)
    camtoworld[:3, :3] = rotation
    camtoworld[:3, 3] = centre
    return camera_from_viewmat(name, viewmat_from_camtoworld(camtoworld), K, size, image_path, path)


def camera_from_viewmat(
    name: str,
    viewmat: np.ndarray,
    K: np.ndarray,
    size: tuple[int, int],
    image_path: Path | None,
    path: Path,
) -> Camera:
    """Build a camera from a world-to-camera matrix, re-raising bad values as input errors.

    Parameters
    ----------
    name
        Image name.
    viewmat : (4, 4) array
        World-to-camera transform, OpenCV axes.
    K : (3, 3) array
        Intrinsics.
    size
        ``(width, height)``.
    image_path
        The image on disk, if found.
    path
        The camera file (named in errors).

    Returns
    -------
    Camera
        The camera.

    Raises
    ------
    InputFileError
        When the numbers break the camera conventions.
    """
    try:
        return Camera(name, viewmat, K, size[0], size[1], image_path)
    except SceneDataError as exc:
        raise InputFileError(path, str(exc)) from None
