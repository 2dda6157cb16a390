"""Write per-view label maps to a folder that ``liftstudio lift --masks`` reads back.

Layout: one ``<image name without suffix>.png`` per view (16-bit greyscale; a view
with an id above 65,535 is written as ``.npy`` int32 instead), named after the
camera's image so the maps match their cameras by name, plus a
``liftstudio_masks.json`` manifest saying what made them (source, settings, which
views were rendered rather than photographed, and the files written).

Safety: nothing is written until every check has passed; each file is written
atomically; a folder that already holds files is only written into with
``overwrite``, and then only the files of the earlier run its manifest lists are
replaced or removed; a folder that holds the scene's own training images is refused.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from pathlib import Path

import numpy as np
from PIL import Image

from liftstudio.errors import OutputFileError
from liftstudio.fileio import atomic_output, make_folder
from liftstudio.scene.discovery import strip_image_suffix

#: The manifest written next to the maps.
MANIFEST_NAME = "liftstudio_masks.json"
_UINT16_MAX = np.iinfo(np.uint16).max


def map_file_stem(camera_name: str) -> str:
    """The file name (no suffix) of a camera's label map: its image's base name, no suffix."""
    return strip_image_suffix(Path(camera_name.replace("\\", "/")).name)


def write_label_maps(
    folder: str | Path,
    camera_names: Sequence[str],
    label_maps: Sequence[np.ndarray],
    *,
    manifest: Mapping[str, object],
    overwrite: bool = False,
    protected_folders: Sequence[Path] = (),
) -> list[Path]:
    """Write one label map per camera and the manifest.

    Parameters
    ----------
    folder
        The output folder (created if missing).
    camera_names
        The camera each map belongs to (its image name).
    label_maps
        (H, W) non-negative integer maps, one per camera.
    manifest
        What made the maps (JSON-serialisable); ``files`` and ``views`` are added.
    overwrite
        Whether a folder that already holds files may be written into.
    protected_folders
        Folders never written into (the scene's image folders).

    Returns
    -------
    list of Path
        The map files written, in camera order.

    Raises
    ------
    OutputFileError
        When the folder is protected, holds files and ``overwrite`` is false, two
        cameras share a file name, or a file cannot be written.
    ValueError
        For maps that are not 2D non-negative integer arrays.
    """
    folder = Path(folder)
    if len(camera_names) != len(label_maps):
        raise ValueError(f"{len(label_maps)} label maps for {len(camera_names)} cameras")
    existing = check_output_folder(folder, overwrite=overwrite, protected_folders=protected_folders)
    names = _file_names(camera_names, label_maps)
    make_folder(folder)
    earlier = _earlier_files(folder) if existing else []
    written = []
    for name, label_map in zip(names, label_maps, strict=True):
        path = folder / name
        with atomic_output(path, overwrite=True) as tmp:
            _write_map(tmp, label_map)
        written.append(path)
    for stale in set(earlier) - set(names):
        (folder / stale).unlink(missing_ok=True)
    content = {
        **manifest,
        "views": len(names),
        "files": dict(zip(camera_names, names, strict=True)),
    }
    with atomic_output(folder / MANIFEST_NAME, overwrite=True) as tmp:
        tmp.write_text(json.dumps(content, indent=2, default=str) + "\n")
    return written


def check_output_folder(
    folder: str | Path, *, overwrite: bool = False, protected_folders: Sequence[Path] = ()
) -> list[str]:
    """Check that label maps may be written into ``folder`` (call it before a long job).

    Returns
    -------
    list of str
        The names of the files the folder already holds (empty when it is new).

    Raises
    ------
    OutputFileError
        When the folder is protected, is a file, or holds files and ``overwrite`` is
        false.
    """
    folder = Path(folder)
    for protected in protected_folders:
        if folder.resolve() == Path(protected).resolve():
            raise OutputFileError(
                folder, "holds the scene's training images; write the masks to another folder"
            )
    if folder.exists() and not folder.is_dir():
        raise OutputFileError(folder, "is a file; the masks go into a folder")
    existing = sorted(p.name for p in folder.iterdir()) if folder.is_dir() else []
    if existing and not overwrite:
        raise OutputFileError(
            folder,
            f"already holds {len(existing)} file(s) (e.g. {existing[0]}); choose an empty or "
            "new folder, or allow overwriting",
        )
    return existing


def _file_names(camera_names: Sequence[str], label_maps: Sequence[np.ndarray]) -> list[str]:
    names, owners = [], {}
    for camera, label_map in zip(camera_names, label_maps, strict=True):
        label_map = np.asarray(label_map)
        if label_map.ndim != 2 or label_map.dtype.kind not in "iu":
            raise ValueError(f"the label map of {camera!r} is not a 2D integer array")
        if label_map.size and label_map.min() < 0:
            raise ValueError(f"the label map of {camera!r} holds negative ids")
        large = label_map.size and int(label_map.max()) > _UINT16_MAX
        name = map_file_stem(camera) + (".npy" if large else ".png")
        stem = name.rsplit(".", 1)[0]
        if stem in owners:
            raise OutputFileError(
                Path(name),
                f"cameras {owners[stem]!r} and {camera!r} would share one mask file; "
                "their image names differ only in folder or suffix",
            )
        owners[stem] = camera
        names.append(name)
    return names


def _earlier_files(folder: Path) -> list[str]:
    """Map files an earlier run's manifest lists (only plain names inside ``folder``)."""
    try:
        files = json.loads((folder / MANIFEST_NAME).read_text()).get("files", {})
    except (OSError, ValueError, AttributeError):
        return []
    if not isinstance(files, dict):
        return []
    return [
        name
        for name in files.values()
        if isinstance(name, str) and name == Path(name).name and name.endswith((".png", ".npy"))
    ]


def _write_map(path: Path, label_map: np.ndarray) -> None:
    label_map = np.asarray(label_map)
    if label_map.size == 0 or int(label_map.max()) <= _UINT16_MAX:
        Image.fromarray(label_map.astype(np.uint16)).save(path, format="PNG")
    else:
        with open(path, "wb") as handle:
            np.save(handle, label_map.astype(np.int32))
