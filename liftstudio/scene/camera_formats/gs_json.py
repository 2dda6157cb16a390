"""The INRIA 3DGS ``cameras.json`` (and the split ``train_cameras.json``/``test_cameras.json``).

The file is a JSON list with one object per camera::

    {"id": 0, "img_name": "DSC07956", "width": 1297, "height": 840,
     "position": [x, y, z],             # camera centre in world coordinates
     "rotation": [[...], [...], [...]], # camera-to-world rotation, row by row
     "fx": 1159.6, "fy": 1164.7}

Axes are COLMAP's, i.e. OpenCV's. There is no principal point: 3DGS renders with the
principal point at the image centre, so ``cx = width / 2`` and ``cy = height / 2``.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Iterable
from pathlib import Path

from liftstudio.errors import InputFileError, SceneDataError
from liftstudio.fileio import atomic_output
from liftstudio.scene.camera import Camera, CameraSet, intrinsics
from liftstudio.scene.camera_formats._assemble import camera_from_camtoworld, checked_rotation
from liftstudio.scene.camera_formats._base import CameraFormat
from liftstudio.scene.camera_formats._files import find_image
from liftstudio.scene.camera_formats._jsonfile import Record, read_json

logger = logging.getLogger(__name__)

FORMAT_NAME = "3dgs-json"
SINGLE_FILE = "cameras.json"
TRAIN_FILE = "train_cameras.json"
TEST_FILE = "test_cameras.json"

_FIELDS_HINT = "; every camera needs img_name, width, height, position, rotation, fx and fy"
#: Principal points further than this (pixels) from the image centre are reported
#: when writing, because the format cannot store them.
_CENTRE_TOLERANCE = 1e-3


# ---------------------------------------------------------------------- reading
def read_3dgs_cameras(path: str | Path) -> CameraSet:
    """Read 3DGS cameras.

    Parameters
    ----------
    path
        A ``cameras.json`` file (all cameras become training cameras), a
        ``train_cameras.json``/``test_cameras.json`` file (both of the pair are read),
        or a folder holding either.

    Returns
    -------
    CameraSet
        Format ``"3dgs-json"``. Image paths are set when an ``images`` folder next to
        the JSON file holds the named images.

    Raises
    ------
    InputFileError
        When the file is not UTF-8 JSON, not a list of camera objects, lacks a field,
        or holds non-finite or invalid values.
    """
    path = Path(path)
    if path.is_dir():
        folder = path
        if (folder / TRAIN_FILE).is_file():
            train_file, test_file = folder / TRAIN_FILE, folder / TEST_FILE
        elif (folder / SINGLE_FILE).is_file():
            train_file, test_file = folder / SINGLE_FILE, None
        else:
            raise InputFileError(folder, f"no {SINGLE_FILE} or {TRAIN_FILE} in this folder")
    elif path.name in (TRAIN_FILE, TEST_FILE):
        folder = path.parent
        train_file, test_file = folder / TRAIN_FILE, folder / TEST_FILE
        if not train_file.is_file():
            raise InputFileError(path, f"{TRAIN_FILE} is missing next to it")
    else:
        folder = path.parent
        train_file, test_file = path, None

    images_dir = folder / "images"
    train = read_3dgs_camera_list(train_file, images_dir)
    test = []
    if test_file is not None and test_file.is_file():
        test = read_3dgs_camera_list(test_file, images_dir)
    return CameraSet(train=train, test=test, format=FORMAT_NAME, source=path)


def read_3dgs_camera_list(path: Path, images_dir: Path | None = None) -> list[Camera]:
    """Read the cameras of one 3DGS camera JSON file, in file order.

    Parameters
    ----------
    path
        The JSON file.
    images_dir
        Folder searched for each ``img_name`` (with common extensions) to set
        :attr:`Camera.image_path`; ``None`` leaves image paths unset.

    Returns
    -------
    list of Camera
        The cameras.

    Raises
    ------
    InputFileError
        For any problem with the file, naming the camera index and field.
    """
    data = read_json(path, "3DGS camera JSON file")
    if not isinstance(data, list):
        raise InputFileError(
            path,
            f"must be a JSON list of camera objects, found a {type(data).__name__}; "
            "is this a 3DGS cameras.json?",
        )
    if not data:
        raise InputFileError(path, "holds no cameras (an empty list)")
    search = images_dir if images_dir is not None and images_dir.is_dir() else None
    return [_camera_from_entry(entry, index, path, search) for index, entry in enumerate(data)]


def _camera_from_entry(entry: object, index: int, path: Path, images_dir: Path | None) -> Camera:
    record = Record(entry, path, f"camera {index}")
    name = record.text("img_name", _FIELDS_HINT)
    record.where = f"camera {index} ({name!r})"
    width = record.size("width", _FIELDS_HINT)
    height = record.size("height", _FIELDS_HINT)
    for key in ("position", "rotation", "fx", "fy"):
        record.raw(key, _FIELDS_HINT)
    centre = record.array("position", [(3,)])
    rotation = checked_rotation(
        record.array("rotation", [(3, 3)]), path, f"{record.where} rotation"
    )
    fx = record.number("fx", positive=True)
    fy = record.number("fy", positive=True)
    K = intrinsics(fx, fy, width / 2.0, height / 2.0)
    image_path = find_image(images_dir, name) if images_dir is not None else None
    return camera_from_camtoworld(name, rotation, centre, K, (width, height), image_path, path)


# ---------------------------------------------------------------------- writing
def write_3dgs_cameras(
    cameras: Iterable[Camera], path: str | Path, *, overwrite: bool = False
) -> Path:
    """Write cameras as a 3DGS ``cameras.json``, atomically.

    Parameters
    ----------
    cameras
        The cameras, written in this order with ``id`` 0, 1, 2...
    path
        The JSON file to write (its folder must exist). Written to a temporary file in
        the same folder first, then renamed over ``path``.
    overwrite
        Replace an existing file; by default an existing file is an error.

    Returns
    -------
    Path
        ``path``.

    Raises
    ------
    SceneDataError
        When ``cameras`` is empty.

    Notes
    -----
    The format has no principal point: readers assume the image centre. A camera
    whose principal point is elsewhere is written anyway and a warning is logged
    with the largest shift, since the off-centre part is lost.
    """
    path = Path(path)
    entries = []
    worst_shift = 0.0
    for index, camera in enumerate(cameras):
        rotation = camera.viewmat[:3, :3].T
        worst_shift = max(
            worst_shift,
            abs(camera.cx - camera.width / 2.0),
            abs(camera.cy - camera.height / 2.0),
        )
        entries.append(
            {
                "id": index,
                "img_name": camera.name,
                "width": camera.width,
                "height": camera.height,
                "position": [float(v) for v in camera.center],
                "rotation": [[float(v) for v in row] for row in rotation],
                "fy": camera.fy,
                "fx": camera.fx,
            }
        )
    if not entries:
        raise SceneDataError(f"{path}: no cameras to write")
    if worst_shift > _CENTRE_TOLERANCE:
        logger.warning(
            "%s: 3DGS cameras.json cannot store a principal point; it moves to the image "
            "centre (by up to %.3g px)",
            path,
            worst_shift,
        )
    text = "[\n" + ",\n".join(json.dumps(entry) for entry in entries) + "\n]\n"
    with atomic_output(path, overwrite=overwrite) as tmp:
        tmp.write_text(text, encoding="utf-8")
    return path


# ---------------------------------------------------------------------- registry
def _locate(path: Path) -> Path | None:
    if path.is_file():
        return path if path.name in (SINGLE_FILE, TRAIN_FILE, TEST_FILE) else None
    if (path / TRAIN_FILE).is_file() or (path / SINGLE_FILE).is_file():
        return path
    return None


FORMAT = CameraFormat(
    name=FORMAT_NAME,
    looks_for=(SINGLE_FILE, TRAIN_FILE),
    locate=_locate,
    read=read_3dgs_cameras,
)
