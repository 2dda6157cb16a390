"""COLMAP sparse models (``sparse/0``, binary or text), read through pycolmap.

COLMAP stores world-to-camera poses in OpenCV axes, so poses need no conversion.
Only pinhole projections are usable: ``PINHOLE``, ``SIMPLE_PINHOLE``, and the
distorted perspective models when every distortion parameter is exactly zero.
Anything else has to be undistorted first (``colmap image_undistorter``; the layout
3DGS's ``convert.py`` produces already is).
"""

from __future__ import annotations

import os
import shutil
import struct
import tempfile
from pathlib import Path
from typing import Any

import numpy as np

from liftstudio.errors import InputFileError
from liftstudio.scene.camera import Camera, CameraSet, intrinsics
from liftstudio.scene.camera_formats._assemble import camera_from_viewmat
from liftstudio.scene.camera_formats._base import CameraFormat

FORMAT_NAME = "colmap"

PINHOLE_MODELS = ("SIMPLE_PINHOLE", "PINHOLE")
#: Perspective models that reduce to a pinhole when their distortion is zero.
ZERO_DISTORTION_MODELS = (
    "SIMPLE_RADIAL",
    "RADIAL",
    "OPENCV",
    "FULL_OPENCV",
    "FOV",
    "SIMPLE_DIVISION",
    "DIVISION",
)
_EXTENSIONS = {"binary": ".bin", "text": ".txt"}
_MODEL_FILES = ("cameras", "images", "points3D", "rigs", "frames")


def read_colmap(model_dir: str | Path, images_dir: str | Path | None = None) -> CameraSet:
    """Read the registered cameras of a COLMAP sparse model.

    Parameters
    ----------
    model_dir
        The model folder (e.g. ``scene/sparse/0``) holding ``cameras.bin`` and
        ``images.bin`` (or the ``.txt`` versions). ``points3D`` is not needed.
    images_dir
        The training images folder. When given, each camera whose image exists there
        gets :attr:`Camera.image_path` set.

    Returns
    -------
    CameraSet
        Format ``"colmap"``; every registered image is a training camera, sorted by
        image name; there are no test cameras.

    Raises
    ------
    InputFileError
        When a model file is missing or unreadable, the model has no registered images,
        or a camera is not an (undistorted) pinhole.
    """
    model_dir = Path(model_dir)
    kind, cameras_file, _ = locate_model_files(model_dir)
    reconstruction = _load(model_dir, kind)
    images = sorted(
        (image for image in reconstruction.images.values() if image.has_pose),
        key=lambda image: image.name,
    )
    if not images:
        raise InputFileError(model_dir, "the COLMAP model has no registered images")
    folder = Path(images_dir) if images_dir is not None else None
    intrinsics_by_id: dict[int, tuple[np.ndarray, tuple[int, int]]] = {}
    cameras: list[Camera] = []
    for image in images:
        if image.camera_id not in intrinsics_by_id:
            intrinsics_by_id[image.camera_id] = _pinhole(
                reconstruction.cameras[image.camera_id], cameras_file, model_dir
            )
        K, size = intrinsics_by_id[image.camera_id]
        viewmat = np.eye(4)
        viewmat[:3, :] = np.asarray(image.cam_from_world().matrix(), dtype=np.float64)
        image_path = None
        if folder is not None and (folder / image.name).is_file():
            image_path = folder / image.name
        cameras.append(camera_from_viewmat(image.name, viewmat, K, size, image_path, cameras_file))
    return CameraSet(train=cameras, test=[], format=FORMAT_NAME, source=model_dir)


def locate_model_files(model_dir: Path) -> tuple[str, Path, Path]:
    """Find the cameras and images files of a COLMAP model folder.

    Parameters
    ----------
    model_dir
        The model folder.

    Returns
    -------
    kind : str
        ``"binary"`` or ``"text"``.
    cameras_file, images_file : Path
        The two files.

    Raises
    ------
    InputFileError
        Naming the missing file when the folder lacks one of them.
    """
    if not model_dir.is_dir():
        raise InputFileError(model_dir, "not a folder (expected a COLMAP model such as sparse/0)")
    for kind, ext in _EXTENSIONS.items():
        cameras_file, images_file = model_dir / f"cameras{ext}", model_dir / f"images{ext}"
        if cameras_file.is_file() and images_file.is_file():
            return kind, cameras_file, images_file
    for ext in _EXTENSIONS.values():
        if (model_dir / f"cameras{ext}").is_file():
            other = ".txt" if ext == ".bin" else ".bin"
            mixed = (
                f" (there is an images{other}, but cameras and images must be both binary "
                "or both text; convert with `colmap model_converter`)"
                if (model_dir / f"images{other}").is_file()
                else ""
            )
            raise InputFileError(
                model_dir,
                f"images{ext} is missing{mixed}; a COLMAP model folder holds cameras{ext}, "
                f"images{ext} and points3D{ext}",
            )
    raise InputFileError(
        model_dir,
        "cameras.bin (or cameras.txt) is missing; a COLMAP model folder holds cameras, "
        "images and points3D files (.bin or .txt)",
    )


def _load(model_dir: Path, kind: str) -> Any:
    """Read the model with pycolmap, supplying an empty points3D file when there is none."""
    import pycolmap

    ext = _EXTENSIONS[kind]
    if (model_dir / f"points3D{ext}").is_file():
        return _reconstruction(pycolmap, model_dir, model_dir)
    with tempfile.TemporaryDirectory(prefix="liftstudio-colmap-") as tmp:
        for stem in _MODEL_FILES:
            source = model_dir / f"{stem}{ext}"
            if source.is_file():
                _link_or_copy(source, Path(tmp) / source.name)
        empty = struct.pack("<Q", 0) if kind == "binary" else b""
        (Path(tmp) / f"points3D{ext}").write_bytes(empty)
        return _reconstruction(pycolmap, Path(tmp), model_dir)


def _reconstruction(pycolmap: Any, folder: Path, model_dir: Path) -> Any:
    try:
        return pycolmap.Reconstruction(str(folder))
    except Exception as exc:  # pycolmap raises ValueError/IndexError/RuntimeError alike
        detail = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise InputFileError(
            model_dir, f"COLMAP cannot read this model (corrupt or truncated?): {detail[:200]}"
        ) from None


def _link_or_copy(source: Path, target: Path) -> None:
    try:
        os.symlink(source.resolve(), target)
    except OSError:
        shutil.copyfile(source, target)


class DistortedCamerasError(InputFileError):
    """COLMAP cameras with lens distortion (or a non-pinhole model) that need undistorting."""


def _pinhole(
    camera: Any, cameras_file: Path, model_dir: Path
) -> tuple[np.ndarray, tuple[int, int]]:
    """Intrinsics and size of a pycolmap camera, refusing non-pinhole projections."""
    model = camera.model.name
    fix = (
        "LiftStudio needs undistorted pinhole cameras: run `colmap image_undistorter "
        f"--image_path IMAGES --input_path {model_dir} --output_path OUT` and open OUT "
        "(the layout 3DGS's convert.py makes is already undistorted)"
    )
    if model not in PINHOLE_MODELS:
        if model not in ZERO_DISTORTION_MODELS:
            raise DistortedCamerasError(
                cameras_file,
                f"camera {camera.camera_id} uses the {model} model, which is not a pinhole "
                f"projection; {fix}",
            )
        names = [name.strip() for name in camera.params_info.split(",")]
        params = np.asarray(camera.params, dtype=np.float64)
        extra = list(camera.extra_params_idxs())
        nonzero = [
            (names[i] if i < len(names) else f"p{i}", params[i]) for i in extra if params[i] != 0
        ]
        if nonzero:
            listed = ", ".join(f"{name}={value:g}" for name, value in nonzero)
            raise DistortedCamerasError(
                cameras_file,
                f"camera {camera.camera_id} uses the distorted {model} model with non-zero "
                f"distortion ({listed}); {fix}",
            )
    K = intrinsics(
        float(camera.focal_length_x),
        float(camera.focal_length_y),
        float(camera.principal_point_x),
        float(camera.principal_point_y),
    )
    return K, (int(camera.width), int(camera.height))


def default_images_dir(model_dir: Path) -> Path | None:
    """Guess the ``images`` folder of a COLMAP scene from its model folder.

    Parameters
    ----------
    model_dir
        The model folder, usually ``<scene>/sparse/0``.

    Returns
    -------
    Path or None
        The first existing ``images`` folder in the model folder or up to two levels
        above it (``<scene>/images``), else ``None``.
    """
    for base in (model_dir, model_dir.parent, model_dir.parent.parent):
        candidate = base / "images"
        if candidate.is_dir():
            return candidate
    return None


def _has_model_file(folder: Path) -> bool:
    return any(
        (folder / f"{stem}{ext}").is_file()
        for stem in ("cameras", "images")
        for ext in (".bin", ".txt")
    )


def _locate(path: Path) -> Path | None:
    if path.is_file():
        stem_ok = path.stem in _MODEL_FILES and path.suffix in _EXTENSIONS.values()
        return path.parent if stem_ok else None
    for candidate in (path, path / "sparse" / "0", path / "sparse"):
        if candidate.is_dir() and _has_model_file(candidate):
            return candidate
    return None


def _read_found(path: Path) -> CameraSet:
    """Read a located model folder, with images from the scene's ``images`` folder."""
    return read_colmap(path, default_images_dir(path))


FORMAT = CameraFormat(
    name=FORMAT_NAME,
    looks_for=("sparse/0/cameras.bin", "cameras.bin", "cameras.txt"),
    locate=_locate,
    read=_read_found,
)
