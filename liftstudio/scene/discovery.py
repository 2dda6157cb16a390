"""Open whatever a user points at: a splat file or a scene folder.

:func:`open_scene` recognises a single Gaussian file, a 3DGS output folder, a COLMAP
source folder, a nerfstudio folder and a NeRF-synthetic folder. It returns an
:class:`OpenedScene` with the Gaussians, the cameras, the training images it could
match to cameras, and plain-language notes on what it found and what is missing.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field, replace
from pathlib import Path, PurePosixPath

from liftstudio.errors import InputFileError
from liftstudio.scene.camera import Camera, CameraSet
from liftstudio.scene.camera_formats import read_cameras
from liftstudio.scene.camera_formats.colmap import DistortedCamerasError
from liftstudio.scene.camera_formats.nerfstudio import read_nerfstudio
from liftstudio.scene.formats import GAUSSIAN_SUFFIXES, gaussian_format_of
from liftstudio.scene.gaussians import GaussianScene, OnInvalid

IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg", ".tif", ".tiff", ".bmp", ".webp", ".exr")
_ITERATION = re.compile(r"iteration_(\d+)$")


def strip_image_suffix(name: str) -> str:
    """``name`` without an image suffix (``DSC0001.JPG`` → ``DSC0001``); other names as is."""
    suffix = PurePosixPath(name).suffix
    return name[: -len(suffix)] if suffix and suffix.lower() in IMAGE_SUFFIXES else name


def camera_name_keys(name: str) -> tuple[set[str], set[str], set[str]]:
    """The names a camera called ``name`` answers to, most specific first.

    Its full name; the name without its image suffix; and the last path component
    with and without the suffix.
    """
    base = name.replace("\\", "/").rsplit("/", 1)[-1]
    return {name}, {strip_image_suffix(name)}, {base, strip_image_suffix(base)}


@dataclass
class OpenedScene:
    """What :func:`open_scene` found.

    Attributes
    ----------
    path
        What the user opened.
    kind
        ``"gaussian-file"``, ``"3dgs-output"``, ``"colmap"``, ``"nerfstudio"`` or ``"nerf"``.
    gaussians
        The Gaussians, or None when the folder holds none (e.g. an untrained COLMAP
        source folder).
    gaussians_path, gaussians_format
        Where they came from and the format's label.
    cameras
        The cameras, or None.
    images
        Camera name → training image file, for the cameras whose image was found.
    notes
        What was found and what is missing, one sentence each.
    """

    path: Path
    kind: str
    gaussians: GaussianScene | None = None
    gaussians_path: Path | None = None
    gaussians_format: str | None = None
    cameras: CameraSet | None = None
    images: dict[str, Path] = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)


_NEEDS_A_FOLDER = (
    "open the scene folder (3DGS output with cameras.json, COLMAP or nerfstudio), "
    "not a bare splat file"
)


def require_gaussians(opened: OpenedScene, purpose: str) -> GaussianScene:
    """The scene's Gaussians, or an error naming the scene.

    Parameters
    ----------
    opened
        What :func:`open_scene` found.
    purpose
        Completes "holds no trained Gaussians ..." (``"to label"``).

    Raises
    ------
    InputFileError
        When the scene holds no Gaussians (an untrained source folder).
    """
    if opened.gaussians is None:
        raise InputFileError(opened.path, f"holds no trained Gaussians {purpose}")
    return opened.gaussians


def require_cameras(opened: OpenedScene, why: str, *, training: bool = True) -> list[Camera]:
    """The scene's training cameras (or all of them), or an error naming the scene.

    Parameters
    ----------
    opened
        What :func:`open_scene` found.
    why
        Why they are needed, placed after "has no training cameras: " in the error.
    training
        Require training cameras (True) or any camera (False).

    Raises
    ------
    InputFileError
        When there are none; the message says to open the scene folder.
    """
    cameras = opened.cameras
    found = [] if cameras is None else (cameras.train if training else cameras.all)
    if not found:
        kind = "training cameras" if training else "cameras"
        raise InputFileError(opened.path, f"has no {kind}: {why}; {_NEEDS_A_FOLDER}")
    return list(found)


def open_scene(path: str | Path, *, on_invalid: OnInvalid = "error") -> OpenedScene:
    """Open a Gaussian file or a scene folder.

    Parameters
    ----------
    path
        A ``.ply``/``.splat`` file, a 3DGS output folder (``point_cloud/iteration_*``),
        a COLMAP source folder (``images/``, ``sparse/0``), a nerfstudio folder
        (``transforms.json``) or a NeRF-synthetic folder (``transforms_train.json``).
    on_invalid
        What to do with Gaussians holding NaN/inf values: ``"error"`` or ``"drop"``.

    Returns
    -------
    OpenedScene

    Raises
    ------
    InputFileError
        If the path does not exist, is not recognised, or a file in it is unreadable.
    """
    path = Path(path)
    if not path.exists():
        raise InputFileError(path, "no such file or folder")
    if path.is_file():
        return _open_gaussian_file(path, on_invalid)
    if (path / "point_cloud").is_dir() or (path / "cfg_args").is_file():
        return _open_3dgs_output(path, on_invalid)
    if (path / "transforms.json").is_file():
        return _open_nerfstudio(path, on_invalid)
    if (path / "transforms_train.json").is_file():
        return _open_with_cameras(path, "nerf", on_invalid)
    if (path / "sparse").is_dir():
        return _open_with_cameras(path, "colmap", on_invalid)
    splats = _gaussian_files(path)
    if len(splats) == 1:
        return _open_gaussian_file(splats[0], on_invalid)
    raise InputFileError(
        path,
        "not a scene folder: expected a 3DGS output (point_cloud/, cameras.json), a COLMAP "
        "folder (sparse/0, images/), a nerfstudio folder (transforms.json) or one .ply/.splat file"
        + (f" (found {len(splats)} splat files; open one of them)" if splats else ""),
    )


# ---------------------------------------------------------------------- per layout
def _open_gaussian_file(path: Path, on_invalid: OnInvalid) -> OpenedScene:
    output_dir = _enclosing_3dgs_output(path)
    if output_dir is not None:
        scene = _open_3dgs_output(output_dir, on_invalid, ply=path)
        scene.path = path
        return scene
    scene = OpenedScene(path=path, kind="gaussian-file")
    _load_gaussians(scene, path, on_invalid)
    scene.notes.append(
        "no cameras: lifting masks needs the training cameras; open the scene folder "
        "(3DGS output, COLMAP or nerfstudio) instead of the bare file"
    )
    return scene


def _open_3dgs_output(
    folder: Path, on_invalid: OnInvalid, *, ply: Path | None = None
) -> OpenedScene:
    scene = OpenedScene(path=folder, kind="3dgs-output")
    ply = ply or _latest_iteration_ply(folder)
    if ply is None:
        scene.notes.append(
            "no trained Gaussians: point_cloud/iteration_*/point_cloud.ply is missing"
        )
    else:
        _load_gaussians(scene, ply, on_invalid)
    source = _source_path_from_cfg_args(folder / "cfg_args")
    if any((folder / name).is_file() for name in ("cameras.json", "train_cameras.json")):
        scene.cameras = read_cameras(folder)
    elif source is not None and (source / "sparse").is_dir():
        scene.cameras = read_cameras(source)
        scene.notes.append(f"cameras.json is missing: cameras read from the source folder {source}")
    else:
        scene.notes.append(
            "no cameras: cameras.json is missing and cfg_args names no source folder"
        )
    images_dir = None
    if source is not None:
        images_dir = source / _images_name_from_cfg_args(folder / "cfg_args")
        if not source.is_dir():
            scene.notes.append(
                f"the training source folder {source} (from cfg_args) does not exist here"
            )
    _attach_images(scene, [images_dir, folder / "images"])
    return scene


def _open_nerfstudio(folder: Path, on_invalid: OnInvalid) -> OpenedScene:
    scene = OpenedScene(path=folder, kind="nerfstudio")
    splats = [p for p in _gaussian_files(folder, recursive=True) if p.name != "sparse_pc.ply"]
    dataparser = _newest(folder.rglob("dataparser_transforms.json"))
    if splats:
        ply = _newest(splats)
        _load_gaussians(scene, ply, on_invalid)
        if len(splats) > 1:
            scene.notes.append(f"{len(splats)} splat files found; using the newest, {ply.name}")
    else:
        scene.notes.append("no trained Gaussians found (no .ply/.splat besides sparse_pc.ply)")
    scene.cameras = read_nerfstudio(folder / "transforms.json", dataparser)
    if dataparser is not None:
        scene.notes.append(f"cameras moved into the normalised frame of {dataparser}")
    elif splats:
        scene.notes.append(
            "no dataparser_transforms.json: splatfacto PLYs live in a normalised frame, so "
            "cameras may not line up with the Gaussians; copy that file from the training run"
        )
    _attach_images(scene, [folder / "images", folder])
    return scene


def _open_with_cameras(folder: Path, kind: str, on_invalid: OnInvalid) -> OpenedScene:
    scene = OpenedScene(path=folder, kind=kind)
    splats = [p for p in _gaussian_files(folder) if p.name != "points3D.ply"]
    if len(splats) == 1:
        _load_gaussians(scene, splats[0], on_invalid)
    else:
        scene.notes.append(
            "no trained Gaussians in this folder: train 3DGS on it, then open the output "
            "folder (or put the trained .ply here)"
            if not splats
            else f"{len(splats)} splat files here; open the one you want directly"
        )
    image_folders = [folder / "images", folder]
    try:
        scene.cameras = read_cameras(folder)
    except DistortedCamerasError:
        undistorted = _undistorted_copy(folder)
        if undistorted is None:
            raise
        scene.cameras = read_cameras(undistorted)
        image_folders.insert(0, undistorted / "images")
        scene.notes.append(
            f"the COLMAP cameras have lens distortion: using the undistorted copy in {undistorted}"
        )
    _attach_images(scene, image_folders)
    return scene


def _undistorted_copy(folder: Path) -> Path | None:
    """A subfolder made by ``colmap image_undistorter`` (``images/`` + ``sparse/``), if any."""
    for child in sorted(p for p in folder.iterdir() if p.is_dir()):
        if (child / "images").is_dir() and (child / "sparse").is_dir():
            return child
    return None


# ---------------------------------------------------------------------- helpers
def _load_gaussians(scene: OpenedScene, path: Path, on_invalid: OnInvalid) -> None:
    entry = gaussian_format_of(path)
    scene.gaussians = entry.read(path, on_invalid=on_invalid)
    scene.gaussians_path = path
    scene.gaussians_format = entry.label


def _attach_images(scene: OpenedScene, folders: list[Path | None]) -> None:
    if scene.cameras is None:
        return
    found: dict[str, Path] = {}
    searched = [f for f in folders if f is not None and f.is_dir()]
    lookup: dict[str, Path] = {}
    for folder in reversed(searched):  # earlier folders win
        for file in folder.iterdir():
            if file.suffix.lower() in IMAGE_SUFFIXES:
                lookup[file.name] = file
                lookup.setdefault(file.stem, file)
    for camera in scene.cameras.all:
        image = _image_of(camera, lookup)
        if image is not None:
            found[camera.name] = image
    scene.cameras = _with_image_paths(scene.cameras, found)
    scene.images = found
    total = len(scene.cameras.all)
    if not found:
        where = ", ".join(str(f) for f in folders if f is not None) or "nowhere to look"
        scene.notes.append(
            f"no training images ({where}): masks will be computed on renders of the Gaussians"
        )
    elif len(found) < total:
        missing = [c.name for c in scene.cameras.all if c.name not in found]
        scene.notes.append(
            f"{len(found)} of {total} training images found; missing e.g. {', '.join(missing[:3])}"
        )


def _image_of(camera: Camera, lookup: dict[str, Path]) -> Path | None:
    if camera.image_path is not None and camera.image_path.is_file():
        return camera.image_path
    name = Path(camera.name)
    return lookup.get(name.name) or lookup.get(name.stem if name.suffix else name.name)


def _with_image_paths(cameras: CameraSet, images: dict[str, Path]) -> CameraSet:
    def attach(camera: Camera) -> Camera:
        image = images.get(camera.name)
        return camera if image is None else replace(camera, image_path=image)

    return replace(
        cameras,
        train=[attach(c) for c in cameras.train],
        test=[attach(c) for c in cameras.test],
    )


def _latest_iteration_ply(folder: Path) -> Path | None:
    candidates = []
    for child in (folder / "point_cloud").glob("iteration_*"):
        match = _ITERATION.match(child.name)
        if match and (child / "point_cloud.ply").is_file():
            candidates.append((int(match.group(1)), child / "point_cloud.ply"))
    return max(candidates)[1] if candidates else None


def _enclosing_3dgs_output(ply: Path) -> Path | None:
    parent = ply.resolve().parent
    if _ITERATION.match(parent.name) and parent.parent.name == "point_cloud":
        return parent.parent.parent
    return None


def _cfg_value(cfg_args: Path, key: str) -> str | None:
    # cfg_args is the repr() of an argparse Namespace; read it as text, never eval it.
    try:
        text = cfg_args.read_text(encoding="utf-8", errors="replace")
    except OSError:
        return None
    match = re.search(rf"\b{key}=(['\"])(.*?)\1", text)
    return match.group(2) if match else None


def _source_path_from_cfg_args(cfg_args: Path) -> Path | None:
    value = _cfg_value(cfg_args, "source_path")
    return Path(value) if value else None


def _images_name_from_cfg_args(cfg_args: Path) -> str:
    return _cfg_value(cfg_args, "images") or "images"


def _gaussian_files(folder: Path, *, recursive: bool = False) -> list[Path]:
    pattern = folder.rglob("*") if recursive else folder.iterdir()
    return sorted(p for p in pattern if p.is_file() and p.suffix.lower() in GAUSSIAN_SUFFIXES)


def _newest(paths) -> Path | None:
    paths = list(paths)
    return max(paths, key=lambda p: p.stat().st_mtime) if paths else None
