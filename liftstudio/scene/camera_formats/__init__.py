"""Camera readers (and the 3DGS writer) for the formats users bring.

:func:`read_cameras` takes a file or folder, finds which format it holds and returns a
:class:`~liftstudio.scene.camera.CameraSet` in OpenCV axes. Each format lives in its
own module and exports a :class:`CameraFormat`; to add a format, write its module and
add its ``FORMAT`` to ``CAMERA_FORMATS`` below (the order is the detection order).
"""

from __future__ import annotations

from pathlib import Path

from liftstudio.errors import InputFileError
from liftstudio.scene.camera import CameraSet
from liftstudio.scene.camera_formats import colmap, gs_json, nerf, nerfstudio
from liftstudio.scene.camera_formats._base import CameraFormat
from liftstudio.scene.camera_formats.colmap import read_colmap
from liftstudio.scene.camera_formats.gs_json import read_3dgs_cameras, write_3dgs_cameras
from liftstudio.scene.camera_formats.nerf import read_nerf_synthetic
from liftstudio.scene.camera_formats.nerfstudio import (
    DataparserTransform,
    read_dataparser_transform,
    read_nerfstudio,
)

#: Known formats by name, in detection order. A folder with several (a 3DGS output
#: folder beside its COLMAP source, a nerfstudio folder with ``colmap/sparse/0``) is
#: read as the first that matches.
CAMERA_FORMATS: dict[str, CameraFormat] = {
    fmt.name: fmt for fmt in (gs_json.FORMAT, nerf.FORMAT, nerfstudio.FORMAT, colmap.FORMAT)
}

__all__ = [
    "CAMERA_FORMATS",
    "CameraFormat",
    "DataparserTransform",
    "detect_camera_format",
    "read_3dgs_cameras",
    "read_cameras",
    "read_colmap",
    "read_dataparser_transform",
    "read_nerf_synthetic",
    "read_nerfstudio",
    "write_3dgs_cameras",
]


def detect_camera_format(path: str | Path) -> tuple[CameraFormat, Path] | None:
    """Find which camera format a file or folder holds.

    Parameters
    ----------
    path
        A camera file or a folder holding one.

    Returns
    -------
    tuple of (CameraFormat, Path) or None
        The first matching format and the path its reader takes, or ``None``.
    """
    path = Path(path)
    for fmt in CAMERA_FORMATS.values():
        found = fmt.locate(path)
        if found is not None:
            return fmt, found
    return None


def read_cameras(path: str | Path, format_name: str | None = None) -> CameraSet:
    """Read cameras from a file or folder, detecting the format.

    Parameters
    ----------
    path
        A camera file (``cameras.json``, ``train_cameras.json``,
        ``transforms_train.json``, ``transforms.json``, ``cameras.bin``...) or a folder
        holding one (also ``<scene>/sparse/0`` below a scene folder).
    format_name
        A name from :data:`CAMERA_FORMATS` to skip detection and read ``path`` with
        that format's reader.

    Returns
    -------
    CameraSet
        The cameras, OpenCV axes.

    Raises
    ------
    InputFileError
        When the path does not exist, holds no known format, or the file is bad.
    ValueError
        When ``format_name`` is not a known name.

    Notes
    -----
    A ``dataparser_transforms.json`` lying beside a nerfstudio ``transforms.json`` is
    applied, moving the cameras into the normalised frame splatfacto PLYs live in (use
    :func:`read_nerfstudio` to choose explicitly).
    """
    path = Path(path)
    if format_name is not None and format_name not in CAMERA_FORMATS:
        raise ValueError(
            f"unknown camera format {format_name!r}; known: {', '.join(CAMERA_FORMATS)}"
        )
    if not path.exists():
        raise InputFileError(path, "does not exist")
    if format_name is not None:
        fmt = CAMERA_FORMATS[format_name]
        return fmt.read(fmt.locate(path) or path)
    detected = detect_camera_format(path)
    if detected is None:
        looked_for = ", ".join(name for fmt in CAMERA_FORMATS.values() for name in fmt.looks_for)
        raise InputFileError(
            path, f"no cameras found: looked for {looked_for} ({', '.join(CAMERA_FORMATS)})"
        )
    fmt, found = detected
    return fmt.read(found)
