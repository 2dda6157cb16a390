"""Pieces shared by ``transforms*.json`` files (NeRF synthetic, instant-ngp, nerfstudio).

Those files hold a list of ``frames``, each with a ``file_path`` and a camera-to-world
``transform_matrix`` in OpenGL axes (x right, y up, z backward). Intrinsics sit at
the top level and may be overridden per frame: ``fl_x``/``fl_y`` (pixels) or
``camera_angle_x``/``camera_angle_y`` (radians, full field of view), ``cx``/``cy``
(default: the image centre) and ``w``/``h``.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from pathlib import Path

import numpy as np

from liftstudio.errors import InputFileError
from liftstudio.scene.camera import (
    OPENGL_TO_OPENCV,
    Camera,
    intrinsics,
    viewmat_from_camtoworld,
)
from liftstudio.scene.camera_formats._assemble import camera_from_viewmat, checked_rotation
from liftstudio.scene.camera_formats._files import (
    IMAGE_EXTENSIONS,
    find_image,
    image_size,
    normalise_relative,
)
from liftstudio.scene.camera_formats._jsonfile import Record


def frame_records(top: Record) -> list[Record]:
    """List the ``frames`` of a transforms file, each falling back to the top level.

    Parameters
    ----------
    top
        The whole file as a record.

    Returns
    -------
    list of Record
        One record per frame, named ``frame <i>``.
    """
    frames = top.items("frames", "; a transforms file lists its cameras under 'frames'")
    return [
        Record(frame, top.path, f"frame {index}", fallback=top)
        for index, frame in enumerate(frames)
    ]


def frame_name(frame: Record) -> str:
    """Return the normalised ``file_path`` (``./train/r_0`` → ``train/r_0``); names the frame."""
    name = normalise_relative(frame.text("file_path"))
    if not name:
        raise frame.fail("file_path", "is empty")
    frame.where = f"{frame.where} ({name!r})"
    return name


def frame_camtoworld_opencv(frame: Record) -> np.ndarray:
    """Read the frame's camera-to-world pose, converted from OpenGL to OpenCV axes.

    Parameters
    ----------
    frame
        The frame record; ``transform_matrix`` may be 4x4 or 3x4.

    Returns
    -------
    (4, 4) float64 array
        Camera-to-world pose with OpenCV camera axes.
    """
    matrix = frame.array("transform_matrix", [(4, 4), (3, 4)])
    camtoworld = np.eye(4)
    camtoworld[:3, :3] = checked_rotation(
        matrix[:3, :3], frame.path, f"{frame.where} transform_matrix rotation"
    )
    camtoworld[:3, 3] = matrix[:3, 3]
    return camtoworld @ OPENGL_TO_OPENCV


def _focal_from_angle(record: Record, key: str, pixels: int) -> float:
    angle = record.number(key, positive=True)
    if angle >= math.pi:
        raise record.fail(key, f"must be a field of view below pi radians, found {angle:g}")
    return 0.5 * pixels / math.tan(0.5 * angle)


def frame_intrinsics(frame: Record, size: tuple[int, int], hint: str) -> np.ndarray:
    """Work out the 3x3 intrinsics of a frame.

    Parameters
    ----------
    frame
        Frame record (falling back to the top level).
    size
        ``(width, height)`` of the frame's image.
    hint
        Appended to the error when no focal length is found.

    Returns
    -------
    (3, 3) float64 array
        ``fl_x`` (or from ``camera_angle_x``), ``fl_y`` (or from ``camera_angle_y``,
        else ``fl_x``), ``cx``/``cy`` (default: the image centre).
    """
    width, height = size
    fx = fy = None
    if frame.has("fl_x"):
        fx = frame.number("fl_x", positive=True)
    elif frame.has("camera_angle_x"):
        fx = _focal_from_angle(frame, "camera_angle_x", width)
    if frame.has("fl_y"):
        fy = frame.number("fl_y", positive=True)
    elif frame.has("camera_angle_y"):
        fy = _focal_from_angle(frame, "camera_angle_y", height)
    if fx is None and fy is None:
        raise InputFileError(
            frame.path, f"{frame.where} has no focal length: no 'fl_x' or 'camera_angle_x'{hint}"
        )
    fx = fy if fx is None else fx
    fy = fx if fy is None else fy
    cx = frame.number("cx", default=width / 2.0)
    cy = frame.number("cy", default=height / 2.0)
    return intrinsics(fx, fy, cx, cy)


class ImageSizes:
    """Image sizes of frames: ``w``/``h`` when given, else read once from the first image.

    Parameters
    ----------
    folder
        Folder ``file_path`` values are relative to.
    """

    def __init__(self, folder: Path) -> None:
        self.folder = folder
        self._from_image: tuple[int, int] | None = None

    def __call__(self, frame: Record, image: Path | None) -> tuple[int, int]:
        """``(width, height)`` of ``frame`` whose image file is ``image`` (if found)."""
        if frame.has("w") and frame.has("h"):
            return frame.size("w"), frame.size("h")
        if self._from_image is None:
            if image is None:
                raise InputFileError(
                    frame.path,
                    f"{frame.where}: no image size ('w' and 'h' fields) and no image to read it "
                    f"from (looked for {self.folder / frame.text('file_path')} with extensions "
                    f'{", ".join(IMAGE_EXTENSIONS[:3])}...); add "w" and "h" to the file or '
                    "put the images next to it",
                )
            self._from_image = image_size(image)
        return self._from_image


def read_frames(
    top: Record,
    folder: Path,
    hint: str,
    check: Callable[[Record], None] | None = None,
) -> list[Camera]:
    """Read every frame of a transforms file into a camera, in file order.

    Parameters
    ----------
    top
        The whole file as a record.
    folder
        Folder the ``file_path`` values are relative to (images are looked up there).
    hint
        Appended to the error when a frame has no focal length.
    check
        Called on each frame record before it is read (e.g. to refuse camera models).

    Returns
    -------
    list of Camera
        Cameras named by their normalised ``file_path``.
    """
    sizes = ImageSizes(folder)
    cameras = []
    for frame in frame_records(top):
        name = frame_name(frame)
        if check is not None:
            check(frame)
        camtoworld = frame_camtoworld_opencv(frame)
        image = find_image(folder, name)
        size = sizes(frame, image)
        K = frame_intrinsics(frame, size, hint)
        viewmat = viewmat_from_camtoworld(camtoworld)
        cameras.append(camera_from_viewmat(name, viewmat, K, size, image, top.path))
    return cameras
