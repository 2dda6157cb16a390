"""NeRF synthetic (Blender) cameras: ``transforms_train.json`` / ``_test`` / ``_val``.

Each file has a ``camera_angle_x`` (horizontal field of view, radians) and ``frames``
with a ``file_path`` (often without extension, e.g. ``./train/r_0``) and a
camera-to-world ``transform_matrix`` in OpenGL axes. ``camera_angle_y``, ``fl_x``,
``fl_y``, ``cx``, ``cy``, ``w`` and ``h`` are honoured when present; without ``w``/``h``
the size is read from the first image.
"""

from __future__ import annotations

from pathlib import Path

from liftstudio.errors import InputFileError
from liftstudio.scene.camera import Camera, CameraSet
from liftstudio.scene.camera_formats._base import CameraFormat
from liftstudio.scene.camera_formats._jsonfile import Record, read_json
from liftstudio.scene.camera_formats._transforms import read_frames

FORMAT_NAME = "nerf-synthetic"
TRAIN_FILE = "transforms_train.json"
TEST_FILE = "transforms_test.json"
VAL_FILE = "transforms_val.json"

_FOCAL_HINT = "; NeRF synthetic files give 'camera_angle_x' (radians) at the top level"


def read_nerf_synthetic(path: str | Path) -> CameraSet:
    """Read NeRF synthetic cameras.

    Parameters
    ----------
    path
        A folder holding ``transforms_train.json``, or any of the
        ``transforms_{train,test,val}.json`` files (the whole set beside it is read).

    Returns
    -------
    CameraSet
        Format ``"nerf-synthetic"``: ``transforms_train.json`` as training cameras,
        ``transforms_test.json`` as test cameras (``transforms_val.json`` when there is
        no test file). Cameras are named by their normalised ``file_path``
        (``train/r_0``) so that train and test names never collide.

    Raises
    ------
    InputFileError
        When a file is missing, malformed, or lacks the focal length or image size.
    """
    path = Path(path)
    folder = path if path.is_dir() else path.parent
    train_file = folder / TRAIN_FILE
    if not train_file.is_file():
        raise InputFileError(path, f"{TRAIN_FILE} is missing from {folder}")
    test_file = folder / TEST_FILE
    if not test_file.is_file():
        test_file = folder / VAL_FILE
    train = read_transforms_file(train_file)
    test = read_transforms_file(test_file) if test_file.is_file() else []
    return CameraSet(train=train, test=test, format=FORMAT_NAME, source=path)


def read_transforms_file(path: Path) -> list[Camera]:
    """Read the cameras of one NeRF-style ``transforms*.json`` file, in file order.

    Parameters
    ----------
    path
        The JSON file; image paths are relative to its folder.

    Returns
    -------
    list of Camera
        The cameras, with OpenCV axes.

    Raises
    ------
    InputFileError
        For any problem with the file, naming the frame and field.
    """
    top = Record(read_json(path, "NeRF transforms JSON file"), path, "the top level")
    return read_frames(top, path.parent, _FOCAL_HINT)


def _locate(path: Path) -> Path | None:
    if path.is_file():
        return path if path.name in (TRAIN_FILE, TEST_FILE, VAL_FILE) else None
    return path if (path / TRAIN_FILE).is_file() else None


FORMAT = CameraFormat(
    name=FORMAT_NAME,
    looks_for=(TRAIN_FILE,),
    locate=_locate,
    read=read_nerf_synthetic,
)
