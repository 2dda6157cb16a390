"""nerfstudio ``transforms.json`` and ``dataparser_transforms.json``.

``transforms.json`` keeps intrinsics (``fl_x``, ``fl_y``, ``cx``, ``cy``, ``w``, ``h``,
distortion ``k1..k4``, ``p1``, ``p2``) at the top level or per frame, an optional
``camera_model``, and frames whose ``transform_matrix`` is camera-to-world in OpenGL
axes. Only pinhole cameras are accepted (``PINHOLE``, ``SIMPLE_PINHOLE``, or
``OPENCV`` with all distortion coefficients zero).

Before training, nerfstudio re-orients, centres and scales the poses, and saves what it
did to ``dataparser_transforms.json`` in the output folder::

    {"transform": [[...4 numbers], [...], [...]], "scale": s}

Gaussians trained by splatfacto (and PLYs exported from them) live in that normalised
frame: ``p_norm = s * (T[:3, :3] @ p + T[:3, 3])``. Applying the same map to the
cameras lines them up with such a PLY.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from liftstudio.errors import InputFileError
from liftstudio.scene.camera import Camera, CameraSet
from liftstudio.scene.camera_formats._assemble import checked_rotation
from liftstudio.scene.camera_formats._base import CameraFormat
from liftstudio.scene.camera_formats._files import normalise_relative
from liftstudio.scene.camera_formats._jsonfile import Record, read_json
from liftstudio.scene.camera_formats._transforms import read_frames

logger = logging.getLogger(__name__)

FORMAT_NAME = "nerfstudio"
TRANSFORMS_FILE = "transforms.json"
DATAPARSER_FILE = "dataparser_transforms.json"

PINHOLE_MODELS = ("PINHOLE", "SIMPLE_PINHOLE", "OPENCV")
DISTORTION_KEYS = ("k1", "k2", "k3", "k4", "p1", "p2")

_FOCAL_HINT = "; nerfstudio files give 'fl_x' and 'fl_y' at the top level or in each frame"


@dataclass(frozen=True)
class DataparserTransform:
    """The map from a nerfstudio data frame into its normalised training frame.

    Parameters
    ----------
    transform : (3, 4) array
        ``[T3 | t]``, with ``T3`` a rotation.
    scale
        Uniform scale ``s`` applied after the transform.
    """

    transform: np.ndarray
    scale: float

    def apply_to_points(self, points: np.ndarray) -> np.ndarray:
        """Map world points into the normalised frame.

        Parameters
        ----------
        points : (M, 3) array
            Points in the ``transforms.json`` frame.

        Returns
        -------
        (M, 3) float64 array
            ``s * (T3 @ p + t)`` for each point.
        """
        points = np.asarray(points, dtype=np.float64)
        return self.scale * (points @ self.transform[:3, :3].T + self.transform[:3, 3])

    def apply_to_camera(self, camera: Camera) -> Camera:
        """Pose the camera in the normalised frame (intrinsics unchanged).

        Parameters
        ----------
        camera
            A camera in the ``transforms.json`` frame.

        Returns
        -------
        Camera
            Camera-to-world rotation ``T3 @ R`` and centre ``s * (T3 @ c + t)``.
        """
        rotation = self.transform[:3, :3] @ camera.viewmat[:3, :3].T
        centre = self.apply_to_points(camera.center[None])[0]
        viewmat = np.eye(4)
        viewmat[:3, :3] = rotation.T
        viewmat[:3, 3] = -rotation.T @ centre
        return Camera(
            camera.name, viewmat, camera.K, camera.width, camera.height, camera.image_path
        )


def read_dataparser_transform(path: str | Path) -> DataparserTransform:
    """Read a nerfstudio ``dataparser_transforms.json``.

    Parameters
    ----------
    path
        The JSON file (found in nerfstudio's output folder, beside ``config.yml``).

    Returns
    -------
    DataparserTransform
        The transform and scale.

    Raises
    ------
    InputFileError
        When the file is malformed, the transform is not 3x4 (or 4x4) with a rotation
        part, or the scale is not a positive number.
    """
    path = Path(path)
    record = Record(read_json(path, "nerfstudio dataparser_transforms.json"), path, "the file")
    matrix = record.array("transform", [(3, 4), (4, 4)])
    transform = matrix[:3].copy()
    transform[:, :3] = checked_rotation(matrix[:3, :3], path, "the 'transform' rotation part")
    scale = record.number("scale", positive=True)
    return DataparserTransform(transform=transform, scale=scale)


def read_nerfstudio(path: str | Path, dataparser_path: str | Path | None = None) -> CameraSet:
    """Read nerfstudio cameras, optionally moved into the normalised training frame.

    Parameters
    ----------
    path
        ``transforms.json`` or the folder holding it; image paths are relative to it.
    dataparser_path
        ``dataparser_transforms.json`` of the training run. When given, the cameras are
        mapped into the normalised frame that splatfacto/gsplat Gaussians live in.

    Returns
    -------
    CameraSet
        Format ``"nerfstudio"``. Frames listed in ``test_filenames`` (or, without it,
        ``val_filenames``) are test cameras; all others are training cameras. Cameras
        are named by their normalised ``file_path``.

    Raises
    ------
    InputFileError
        When a file is malformed, intrinsics are missing, or a camera is not pinhole.
    """
    path = Path(path)
    transforms_file = path / TRANSFORMS_FILE if path.is_dir() else path
    top = Record(
        read_json(transforms_file, "nerfstudio transforms.json"), transforms_file, "the top level"
    )
    cameras = read_frames(top, transforms_file.parent, _FOCAL_HINT, check=_check_pinhole)
    if dataparser_path is not None:
        dataparser = read_dataparser_transform(dataparser_path)
        cameras = [dataparser.apply_to_camera(camera) for camera in cameras]
    test_names = _test_names(top)
    train = [camera for camera in cameras if camera.name not in test_names]
    test = [camera for camera in cameras if camera.name in test_names]
    return CameraSet(train=train, test=test, format=FORMAT_NAME, source=path)


def _check_pinhole(frame: Record) -> None:
    model = frame.text("camera_model") if frame.has("camera_model") else "OPENCV"
    fix = (
        "; LiftStudio needs undistorted pinhole cameras: undistort the images first (for "
        "example with `colmap image_undistorter`) and process the undistorted data"
    )
    if model not in PINHOLE_MODELS:
        raise InputFileError(
            frame.path,
            f"{frame.where}: camera_model {model} is not a pinhole camera{fix}",
        )
    distortion = {key: frame.number(key, default=0.0) for key in DISTORTION_KEYS}
    nonzero = {key: value for key, value in distortion.items() if value != 0.0}
    if nonzero:
        listed = ", ".join(f"{key}={value:g}" for key, value in nonzero.items())
        raise InputFileError(
            frame.path,
            f"{frame.where}: camera_model {model} with non-zero distortion ({listed}){fix}",
        )


def _test_names(top: Record) -> set[str]:
    for key in ("test_filenames", "val_filenames"):
        if top.has(key):
            names = top.raw(key)
            if not isinstance(names, list) or not all(isinstance(n, str) for n in names):
                raise top.fail(key, "must be a list of file paths")
            return {normalise_relative(name) for name in names}
    return set()


def _read_found(path: Path) -> CameraSet:
    """Read a located ``transforms.json``, applying a ``dataparser_transforms.json`` beside it."""
    dataparser = path.parent / DATAPARSER_FILE
    if not dataparser.is_file():
        return read_nerfstudio(path)
    logger.info("%s: moving the cameras into the normalised frame of %s", path, dataparser)
    return read_nerfstudio(path, dataparser)


def _locate(path: Path) -> Path | None:
    if path.is_file():
        return path if path.name == TRANSFORMS_FILE else None
    candidate = path / TRANSFORMS_FILE
    return candidate if candidate.is_file() else None


FORMAT = CameraFormat(
    name=FORMAT_NAME,
    looks_for=(TRANSFORMS_FILE,),
    locate=_locate,
    read=_read_found,
)
