"""Pinhole cameras in the OpenCV convention (x right, y down, z forward).

Every camera reader converts to :class:`Camera`; every renderer and tool reads it.
Matrices are float64 (poses compose; precision matters), pixel centres sit at +0.5.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from pathlib import Path

import numpy as np

from liftstudio.errors import SceneDataError


@dataclass(frozen=True, eq=False)
class Camera:
    """A pinhole camera.

    Parameters
    ----------
    name
        Image name the camera belongs to (e.g. ``"DSC0001.JPG"``); masks and images
        are matched to cameras by this name.
    viewmat : (4, 4) array
        World-to-camera transform, OpenCV axes.
    K : (3, 3) array
        Intrinsics ``[[fx, 0, cx], [0, fy, cy], [0, 0, 1]]`` in pixels.
    width, height
        Image size in pixels.
    image_path
        The training image on disk, when known.
    """

    name: str
    viewmat: np.ndarray
    K: np.ndarray
    width: int
    height: int
    image_path: Path | None = field(default=None)

    def __post_init__(self) -> None:
        viewmat = np.asarray(self.viewmat, dtype=np.float64)
        K = np.asarray(self.K, dtype=np.float64)
        if viewmat.shape != (4, 4):
            raise SceneDataError(f"camera {self.name!r}: viewmat must be 4x4, got {viewmat.shape}")
        if K.shape != (3, 3):
            raise SceneDataError(f"camera {self.name!r}: K must be 3x3, got {K.shape}")
        if not (np.isfinite(viewmat).all() and np.isfinite(K).all()):
            raise SceneDataError(f"camera {self.name!r}: NaN or inf in its pose or intrinsics")
        if K[0, 0] <= 0 or K[1, 1] <= 0:
            raise SceneDataError(f"camera {self.name!r}: focal lengths must be positive")
        if int(self.width) <= 0 or int(self.height) <= 0:
            raise SceneDataError(
                f"camera {self.name!r}: image size must be positive, got {self.width}x{self.height}"
            )
        rot = viewmat[:3, :3]
        if not np.allclose(rot @ rot.T, np.eye(3), atol=1e-4) or np.linalg.det(rot) < 0:
            raise SceneDataError(f"camera {self.name!r}: viewmat rotation is not a proper rotation")
        viewmat.setflags(write=False)
        K.setflags(write=False)
        object.__setattr__(self, "viewmat", viewmat)
        object.__setattr__(self, "K", K)
        object.__setattr__(self, "width", int(self.width))
        object.__setattr__(self, "height", int(self.height))
        if self.image_path is not None:
            object.__setattr__(self, "image_path", Path(self.image_path))

    # ------------------------------------------------------------------ derived values
    @property
    def fx(self) -> float:
        """Focal length along x in pixels."""
        return float(self.K[0, 0])

    @property
    def fy(self) -> float:
        """Focal length along y in pixels."""
        return float(self.K[1, 1])

    @property
    def cx(self) -> float:
        """Principal point x in pixels."""
        return float(self.K[0, 2])

    @property
    def cy(self) -> float:
        """Principal point y in pixels."""
        return float(self.K[1, 2])

    @property
    def camtoworld(self) -> np.ndarray:
        """Camera-to-world 4x4 transform (inverse of ``viewmat``)."""
        return np.linalg.inv(self.viewmat)

    @property
    def center(self) -> np.ndarray:
        """Camera centre (3,) in world coordinates."""
        rot, t = self.viewmat[:3, :3], self.viewmat[:3, 3]
        return -rot.T @ t

    # ------------------------------------------------------------------ operations
    def scaled_to(self, width: int, height: int) -> Camera:
        """The same camera rendering ``width`` x ``height`` pixels (intrinsics scaled)."""
        sx, sy = width / self.width, height / self.height
        K = self.K.copy()
        K[0, :] *= sx
        K[1, :] *= sy
        return replace(self, K=K, width=width, height=height)

    def project(self, points: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Project world points to pixel coordinates.

        Parameters
        ----------
        points : (M, 3) array
            World coordinates.

        Returns
        -------
        uv : (M, 2) float64
            Pixel coordinates (the centre of pixel ``(i, j)`` is ``(j+0.5, i+0.5)``).
        depth : (M,) float64
            Camera-space z; points behind the camera have depth ≤ 0.
        """
        points = np.asarray(points, dtype=np.float64)
        cam = points @ self.viewmat[:3, :3].T + self.viewmat[:3, 3]
        depth = cam[:, 2]
        with np.errstate(divide="ignore", invalid="ignore"):
            uv = (cam[:, :2] / depth[:, None]) * [self.fx, self.fy] + [self.cx, self.cy]
        return uv, depth

    def in_image(self, uv: np.ndarray, depth: np.ndarray) -> np.ndarray:
        """Boolean mask of projected points in front of the camera and inside the image."""
        return (
            (depth > 0)
            & (uv[:, 0] >= 0)
            & (uv[:, 0] < self.width)
            & (uv[:, 1] >= 0)
            & (uv[:, 1] < self.height)
        )


def intrinsics(fx: float, fy: float, cx: float, cy: float) -> np.ndarray:
    """Build a 3x3 intrinsics matrix."""
    return np.array([[fx, 0.0, cx], [0.0, fy, cy], [0.0, 0.0, 1.0]])


def viewmat_from_camtoworld(camtoworld: np.ndarray) -> np.ndarray:
    """Invert a camera-to-world pose (rotation + translation) exactly into a viewmat."""
    c2w = np.asarray(camtoworld, dtype=np.float64)
    rot, t = c2w[:3, :3], c2w[:3, 3]
    viewmat = np.eye(4)
    viewmat[:3, :3] = rot.T
    viewmat[:3, 3] = -rot.T @ t
    return viewmat


#: Flips the y and z axes: converts OpenGL/Blender camera axes (x right, y up,
#: z backward) to OpenCV axes (x right, y down, z forward), and back.
OPENGL_TO_OPENCV = np.diag([1.0, -1.0, -1.0, 1.0])


@dataclass(frozen=True)
class CameraSet:
    """Cameras read from one source.

    Parameters
    ----------
    train, test
        Training and held-out cameras (``test`` may be empty).
    format
        Short name of the source format, e.g. ``"3dgs-json"``, ``"colmap"``.
    source
        The file or folder they came from.
    """

    train: list[Camera]
    test: list[Camera]
    format: str
    source: Path

    @property
    def all(self) -> list[Camera]:
        """Training cameras, then test cameras."""
        return [*self.train, *self.test]

    def by_name(self) -> dict[str, Camera]:
        """Map image name → camera, over train and test."""
        return {camera.name: camera for camera in self.all}


def look_at(eye: np.ndarray, target: np.ndarray, up: np.ndarray = (0.0, 0.0, 1.0)) -> np.ndarray:
    """World-to-camera viewmat (OpenCV axes) of a camera at ``eye`` looking at ``target``.

    ``up`` is the world direction that should appear upwards in the image (towards
    -y in OpenCV pixel coordinates); it must not be parallel to the viewing direction.
    """
    eye, target, up = (np.asarray(v, dtype=np.float64) for v in (eye, target, up))
    forward = target - eye
    forward /= np.linalg.norm(forward)
    right = np.cross(forward, up)
    norm = np.linalg.norm(right)
    if norm < 1e-9:
        raise ValueError("look_at: 'up' is parallel to the viewing direction")
    right /= norm
    down = np.cross(forward, right)
    camtoworld = np.eye(4)
    camtoworld[:3, :3] = np.stack([right, down, forward], axis=1)
    camtoworld[:3, 3] = eye
    return viewmat_from_camtoworld(camtoworld)
