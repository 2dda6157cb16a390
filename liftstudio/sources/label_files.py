"""Read a folder of per-view 2D label maps and match them to cameras by image name.

A label map holds one integer instance id per pixel (0 = in no mask). Accepted files:

- ``.png``: 8-bit or 16-bit single-channel greyscale, or an indexed-palette PNG (the
  palette indices are the ids; the colours are ignored). RGB/RGBA PNGs are refused:
  colour-coded masks must be converted to ids first.
- ``.npy``: a 2D integer array (uint8, uint16, int32, int64, ...; bool as 0/1), ids
  from 0 to 2³¹-1.

Files are matched to cameras **by name**, never by order: ``<name>.png`` belongs to
the camera whose image is ``<name>``, ``<name>.jpg``, ``<name>.JPG``... (the camera's
name with or without its image suffix, or its image file's stem; ``<image>.jpg.png``
works too; case is ignored when that is unambiguous). A folder that holds an
``object_mask/`` subfolder (Gaussian Grouping's layout) is read from that subfolder.
The matching, listing and size checks are public (:func:`match_files`,
:func:`list_mask_files`, :func:`check_map_size`, :func:`read_matched_files`): the mask
importers of :mod:`liftstudio.sources.mask_import` reuse them.

A map may differ in size from its camera's image when it is a uniform rescale (same
aspect ratio up to a pixel of rounding): lifting then renders the view at the map's
size. Anything else — another aspect ratio, two files for one camera, a truncated
file, negative ids — is an :class:`~liftstudio.errors.InputFileError` naming the file.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TypeVar

import numpy as np
from PIL import Image

from liftstudio.errors import InputFileError
from liftstudio.fileio import read_npy
from liftstudio.jobs import CancelToken, ProgressCallback, check_cancelled, report
from liftstudio.scene.camera import Camera
from liftstudio.scene.discovery import camera_name_keys, strip_image_suffix

#: File suffixes read as label maps.
MAP_SUFFIXES = (".png", ".npy")
#: Subfolder of Gaussian Grouping's dataset layout that holds the associated masks.
OBJECT_MASK_FOLDER = "object_mask"

_MAX_ID = np.iinfo(np.int32).max
_PNG_MODES = {"L", "P", "1", "I", "I;16", "I;16L", "I;16B"}
_T = TypeVar("_T")
_FORMATS_HINT = (
    "label maps must be single-channel integer ids: an 8/16-bit greyscale PNG, an "
    "indexed-palette PNG or a 2D integer .npy"
)


@dataclass(frozen=True)
class ResizedMap:
    """A map whose size differs from its camera's image (same aspect ratio).

    Attributes
    ----------
    file
        The map file.
    camera
        The camera's name.
    map_size, camera_size
        ``(width, height)`` of the map and of the camera's image.
    """

    file: Path
    camera: str
    map_size: tuple[int, int]
    camera_size: tuple[int, int]


@dataclass(frozen=True)
class MatchReport:
    """How the files of a label-map folder matched the cameras.

    Attributes
    ----------
    folder
        The folder the maps were read from (``.../object_mask`` for that layout).
    layout
        ``"flat"`` or ``"object_mask"``.
    total_cameras
        Cameras the maps were matched against.
    matched
        Cameras that got a map.
    missing
        Names of the cameras that got no map, in camera order.
    unmatched_files
        Map files whose name matches no camera (not read).
    resized
        Maps read at a size other than their camera's (same aspect ratio).
    ignored_files
        Files that are not read (suffix other than :attr:`suffixes`).
    format
        The mask format read (``"label-maps"`` for :func:`read_label_maps`; see
        :func:`liftstudio.sources.mask_import.mask_formats`).
    suffixes
        The file suffixes that format reads.
    notes
        Format-specific remarks, one sentence each (e.g. approximations made).
    """

    folder: Path
    layout: str
    total_cameras: int
    matched: int
    missing: tuple[str, ...]
    unmatched_files: tuple[Path, ...]
    resized: tuple[ResizedMap, ...]
    ignored_files: tuple[Path, ...]
    format: str = "label-maps"
    suffixes: tuple[str, ...] = MAP_SUFFIXES
    notes: tuple[str, ...] = ()

    def lines(self, max_names: int = 5) -> list[str]:
        """The report as short lines of text, naming at most ``max_names`` items per line."""
        where = f" ({self.layout} layout)" if self.layout != "flat" else ""
        what = "label maps" if self.format == "label-maps" else f"{self.format} masks"
        lines = [
            f"{what}: {self.matched} of {self.total_cameras} cameras matched "
            f"in {self.folder}{where}"
        ]
        if self.missing:
            lines.append(
                f"  no map for {len(self.missing)} camera(s): {_some(self.missing, max_names)}"
            )
        if self.unmatched_files:
            names = [f.name for f in self.unmatched_files]
            lines.append(
                f"  {len(names)} file(s) match no camera (not used): {_some(names, max_names)}"
            )
        if self.resized:
            first = self.resized[0]
            lines.append(
                f"  {len(self.resized)} map(s) differ in size from their image (same aspect "
                f"ratio; lifted at the map's size), e.g. {first.file.name} "
                f"{_size(first.map_size)} for {_size(first.camera_size)}"
            )
        if self.ignored_files:
            names = [f.name for f in self.ignored_files]
            kinds = "/".join(self.suffixes)
            lines.append(
                f"  ignored {len(names)} file(s) that are not {kinds}: {_some(names, max_names)}"
            )
        lines.extend(f"  {note}" for note in self.notes)
        return lines


@dataclass(frozen=True)
class LabelMapSet:
    """Label maps matched to cameras.

    Attributes
    ----------
    cameras
        The cameras, in the order given.
    maps
        Per camera, its (H, W) int32 label map, or None when it has none.
    files
        Per camera, the file its map came from, or None.
    report
        What matched and what did not.
    """

    cameras: tuple[Camera, ...]
    maps: tuple[np.ndarray | None, ...]
    files: tuple[Path | None, ...]
    report: MatchReport

    def __len__(self) -> int:
        return len(self.cameras)

    def map_for(self, name: str) -> np.ndarray | None:
        """The label map of the camera named ``name`` (None when it has none).

        Raises
        ------
        KeyError
            When no camera has that name.
        """
        for camera, label_map in zip(self.cameras, self.maps, strict=True):
            if camera.name == name:
                return label_map
        raise KeyError(name)

    @property
    def matched_indices(self) -> list[int]:
        """Indices of the cameras that have a map."""
        return [i for i, label_map in enumerate(self.maps) if label_map is not None]

    @property
    def matched_cameras(self) -> list[Camera]:
        """The cameras that have a map, each scaled to its map's size (intrinsics scaled)."""
        views = []
        for i in self.matched_indices:
            camera, label_map = self.cameras[i], self.maps[i]
            height, width = label_map.shape
            same = (width, height) == (camera.width, camera.height)
            views.append(camera if same else camera.scaled_to(width, height))
        return views

    @property
    def matched_maps(self) -> list[np.ndarray]:
        """The maps of :attr:`matched_cameras`, in the same order."""
        return [self.maps[i] for i in self.matched_indices]


def read_label_maps(
    folder: str | Path,
    cameras: Sequence[Camera],
    *,
    progress: ProgressCallback | None = None,
    cancel: CancelToken | None = None,
) -> LabelMapSet:
    """Read the label maps in ``folder`` and match them to ``cameras`` by image name.

    Parameters
    ----------
    folder
        A folder of ``<image name>.png`` / ``.npy`` label maps, or a folder holding an
        ``object_mask/`` subfolder of them (Gaussian Grouping's layout).
    cameras
        The cameras to match (usually the training cameras).
    progress, cancel
        One progress step per map file read; cancelled between files.

    Returns
    -------
    LabelMapSet
        Every camera with its int32 map or None, and the match report.

    Raises
    ------
    InputFileError
        When the folder is missing or holds no label maps, no map matches any camera,
        two files name the same camera (``x.png`` and ``x.npy``), or a matched file is
        unreadable, truncated, not single-channel integer ids, holds negative ids, or
        has an aspect ratio other than its camera's.
    """
    label_set, _ = read_matched_files(
        folder,
        cameras,
        lambda path, _camera: (read_label_map(path), None),
        progress=progress,
        cancel=cancel,
    )
    return label_set


def read_matched_files(
    folder: str | Path,
    cameras: Sequence[Camera],
    read: Callable[[Path, Camera], tuple[np.ndarray, _T]],
    *,
    suffixes: tuple[str, ...] = MAP_SUFFIXES,
    subfolder: str | None = OBJECT_MASK_FOLDER,
    what: str = "label map",
    format: str = "label-maps",
    size_hint: str = "",
    progress: ProgressCallback | None = None,
    cancel: CancelToken | None = None,
) -> tuple[LabelMapSet, list[_T | None]]:
    """Match the files of a folder to cameras by name and read each matched one.

    The engine behind :func:`read_label_maps` and every mask importer: one file per
    view, named after the view's image, read into one (H, W) int32 label map (plus
    whatever else the reader returns), checked against its camera's size.

    Parameters
    ----------
    folder
        The folder of per-view files, or a folder holding ``subfolder``.
    cameras
        The cameras to match.
    read
        ``read(path, camera) -> (label_map, extra)``: the (H, W) int32 map of one file
        and any per-view extra (a mask hierarchy...); ``camera`` is the file's camera.
        It raises :class:`InputFileError` for a bad file.
    suffixes
        Lower-case file suffixes that are read; other files are reported as ignored.
    subfolder
        When ``folder`` holds a subfolder of this name, files are read from it.
    what
        The singular noun for one file in messages (``"label map"``).
    format
        The format name recorded in the report.
    size_hint
        Format-specific advice appended to the wrong-aspect-ratio error.
    progress, cancel
        One progress step per file read; cancelled between files.

    Returns
    -------
    label_set : LabelMapSet
        Every camera with its map or None, and the match report.
    extras : list
        Per camera, the reader's extra for its file, or None.

    Raises
    ------
    InputFileError
        As for :func:`read_label_maps`, and whatever ``read`` raises.
    """
    folder, layout = resolve_mask_folder(Path(folder), subfolder)
    files, ignored = list_mask_files(folder, suffixes, what)
    assignment, unmatched = match_files(files, cameras)
    if not assignment:
        raise InputFileError(folder, nothing_matched_message(files, cameras, what, suffixes[0]))
    maps: list[np.ndarray | None] = [None] * len(cameras)
    sources: list[Path | None] = [None] * len(cameras)
    extras: list[_T | None] = [None] * len(cameras)
    resized = []
    for done, (index, file) in enumerate(sorted(assignment.items()), start=1):
        check_cancelled(cancel)
        label_map, extra = read(file, cameras[index])
        rescale = check_map_size(file, label_map.shape, cameras[index], hint=size_hint)
        if rescale is not None:
            resized.append(rescale)
        maps[index], sources[index], extras[index] = label_map, file, extra
        report(progress, done, len(assignment), f"read {file.name}")
    match_report = MatchReport(
        folder=folder,
        layout=layout,
        total_cameras=len(cameras),
        matched=len(assignment),
        missing=tuple(c.name for c, m in zip(cameras, maps, strict=True) if m is None),
        unmatched_files=tuple(unmatched),
        resized=tuple(resized),
        ignored_files=tuple(ignored),
        format=format,
        suffixes=tuple(suffixes),
    )
    return LabelMapSet(tuple(cameras), tuple(maps), tuple(sources), match_report), extras


def read_label_map(path: str | Path) -> np.ndarray:
    """Read one label map file (see the module docstring for the formats).

    Parameters
    ----------
    path
        A ``.png`` or ``.npy`` file.

    Returns
    -------
    (H, W) int32
        Instance ids, 0 = in no mask.

    Raises
    ------
    InputFileError
        Naming the file: unreadable or truncated, RGB or other multi-channel images,
        float arrays, non-2D arrays, negative ids or ids beyond int32.
    """
    path = Path(path)
    suffix = path.suffix.lower()
    if suffix == ".png":
        array = _read_png(path)
    elif suffix == ".npy":
        array = _read_npy(path)
    else:
        raise InputFileError(path, f"not a label map file (expected {' or '.join(MAP_SUFFIXES)})")
    return _as_ids(path, array)


# ---------------------------------------------------------------------------- folders, names
def resolve_mask_folder(
    folder: Path, subfolder: str | None = OBJECT_MASK_FOLDER
) -> tuple[Path, str]:
    """The folder that holds the per-view files, and its layout name.

    Parameters
    ----------
    folder
        What the user gave.
    subfolder
        A subfolder name that, when present in ``folder``, holds the files instead
        (``object_mask`` for Gaussian Grouping); None to read ``folder`` itself.

    Returns
    -------
    folder : Path
        ``folder / subfolder`` when that exists, else ``folder``.
    layout : str
        ``subfolder`` when descended into, else ``"flat"``.

    Raises
    ------
    InputFileError
        When ``folder`` is missing or is not a folder.
    """
    if not folder.exists():
        raise InputFileError(folder, "no such folder")
    if not folder.is_dir():
        raise InputFileError(folder, "is not a folder; pass the folder that holds the masks")
    if subfolder is not None and (folder / subfolder).is_dir():
        return folder / subfolder, subfolder
    return folder, "flat"


def list_mask_files(
    folder: Path, suffixes: tuple[str, ...] = MAP_SUFFIXES, what: str = "label map"
) -> tuple[list[Path], list[Path]]:
    """The files of ``folder`` with one of ``suffixes``, and the other (ignored) files.

    Hidden files are skipped; both lists are sorted by name.

    Raises
    ------
    InputFileError
        When the folder cannot be listed, holds no such file (naming its subfolders),
        or two files share a stem (``x.png`` and ``x.npy``: two files for one view).
    """
    try:
        entries = sorted(p for p in folder.iterdir() if p.is_file() and not p.name.startswith("."))
        subfolders = sorted(p.name for p in folder.iterdir() if p.is_dir())
    except OSError as exc:
        raise InputFileError(folder, f"cannot be listed ({exc.strerror or exc})") from None
    files = [p for p in entries if p.suffix.lower() in suffixes]
    ignored = [p for p in entries if p.suffix.lower() not in suffixes]
    if not files:
        hint = f"; it has subfolders {', '.join(subfolders[:5])}: pass one" if subfolders else ""
        raise InputFileError(folder, f"holds no {what}s ({' or '.join(suffixes)} files){hint}")
    by_stem: dict[str, Path] = {}
    for file in files:
        if file.stem in by_stem:
            raise InputFileError(
                folder,
                f"{by_stem[file.stem].name} and {file.name} are two maps for the same view; "
                "keep one",
            )
        by_stem[file.stem] = file
    return files, ignored


def camera_keys(camera: Camera) -> set[str]:
    """The names a file stem may use for ``camera`` (image name with and without suffix)."""
    keys = set().union(*camera_name_keys(camera.name.replace("\\", "/")))
    if camera.image_path is not None:
        keys |= {camera.image_path.name, camera.image_path.stem}
    return keys


def _unambiguous(pairs: list[tuple[str, int]]) -> dict[str, int]:
    owners: dict[str, set[int]] = {}
    for key, index in pairs:
        owners.setdefault(key, set()).add(index)
    return {key: next(iter(ids)) for key, ids in owners.items() if len(ids) == 1}


def match_files(
    files: Sequence[Path], cameras: Sequence[Camera]
) -> tuple[dict[int, Path], list[Path]]:
    """Assign files to cameras by name, never by order.

    ``<stem>.<suffix>`` belongs to the camera whose image is ``<stem>`` (with or
    without its image suffix, or its image file's name or stem); ``<image>.jpg.png``
    works too. Case is ignored when that is unambiguous.

    Returns
    -------
    assignment : dict[int, Path]
        Camera index → its file.
    unmatched : list[Path]
        Files that name no camera.

    Raises
    ------
    InputFileError
        When two files claim one camera.
    """
    pairs = [(key, i) for i, camera in enumerate(cameras) for key in camera_keys(camera)]
    exact = _unambiguous(pairs)
    folded = _unambiguous([(key.casefold(), i) for key, i in pairs])
    assignment: dict[int, Path] = {}
    unmatched = []
    for file in files:
        keys = (file.stem, strip_image_suffix(file.stem))
        index = next((exact[k] for k in keys if k in exact), None)
        if index is None:
            index = next((folded[k.casefold()] for k in keys if k.casefold() in folded), None)
        if index is None:
            unmatched.append(file)
        elif index in assignment:
            raise InputFileError(
                file.parent,
                f"{assignment[index].name} and {file.name} are both maps for camera "
                f"{cameras[index].name!r}; keep one",
            )
        else:
            assignment[index] = file
    return assignment, unmatched


def nothing_matched_message(
    files: Sequence[Path],
    cameras: Sequence[Camera],
    what: str = "label map",
    suffix: str = ".png",
) -> str:
    """The problem text for a folder whose files match no camera by name."""
    file_names = ", ".join(f.name for f in files[:3])
    camera_names = ", ".join(c.name for c in cameras[:3]) or "none"
    example = strip_image_suffix(cameras[0].name) if cameras else "IMAGE"
    return (
        f"no {what} matches a camera by name (files: {file_names}...; cameras: "
        f"{camera_names}...); files must be named after the camera's image, e.g. "
        f"{example}{suffix}"
    )


# ---------------------------------------------------------------------------- file readers
def _read_png(path: Path) -> np.ndarray:
    try:
        with Image.open(path) as image:
            image.load()
            kind, mode = image.format, image.mode
            array = np.asarray(image) if mode in _PNG_MODES else None
    except (OSError, SyntaxError, ValueError, Image.DecompressionBombError) as exc:
        raise InputFileError(
            path, f"cannot be read as a PNG image ({exc}); the file may be truncated or corrupt"
        ) from None
    if kind != "PNG":
        raise InputFileError(path, f"is a {kind} file, not a PNG; {_FORMATS_HINT}")
    if array is None:
        raise InputFileError(
            path,
            f"is a {mode} image; {_FORMATS_HINT} (convert colour-coded masks to ids first)",
        )
    return array


def _read_npy(path: Path) -> np.ndarray:
    return read_npy(path, "save one (H, W) integer label map per view with numpy.save")


def _as_ids(path: Path, array: np.ndarray) -> np.ndarray:
    if array.ndim == 3 and array.shape[2] == 1:
        array = array[:, :, 0]
    if array.ndim != 2 or array.size == 0:
        raise InputFileError(
            path, f"has shape {array.shape}; a label map is a non-empty 2D (H, W) array"
        )
    if array.dtype == bool:
        array = array.astype(np.uint8)
    if array.dtype.kind not in "iu":
        raise InputFileError(path, f"holds {array.dtype} values; {_FORMATS_HINT}")
    low, high = int(array.min()), int(array.max())
    if low < 0:
        raise InputFileError(path, f"holds negative ids (min {low}); ids must be >= 0, 0 = no mask")
    if high > _MAX_ID:
        raise InputFileError(path, f"holds ids up to {high}, beyond int32 ({_MAX_ID})")
    return np.ascontiguousarray(array, dtype=np.int32)


def check_map_size(
    path: Path, shape: tuple[int, ...], camera: Camera, *, hint: str = ""
) -> ResizedMap | None:
    """Check a view's map size against its camera; a uniform rescale is accepted.

    Parameters
    ----------
    path
        The file the map came from (named in the error).
    shape
        ``(H, W)`` of the map.
    camera
        The camera it was matched to.
    hint
        Extra advice appended to the error (format-specific).

    Returns
    -------
    ResizedMap or None
        None when the sizes agree, the rescale to report otherwise.

    Raises
    ------
    InputFileError
        When the map has another aspect ratio than the camera's image.
    """
    height, width = int(shape[0]), int(shape[1])
    if (width, height) == (camera.width, camera.height):
        return None
    if not same_aspect((width, height), (camera.width, camera.height)):
        raise InputFileError(
            path,
            f"is {_size((width, height))} but camera {camera.name!r} is "
            f"{_size((camera.width, camera.height))}: another aspect ratio "
            f"({width / height:.4g} vs {camera.width / camera.height:.4g}); masks must "
            "cover the whole image at its size or a uniform rescale of it" + hint,
        )
    return ResizedMap(path, camera.name, (width, height), (camera.width, camera.height))


def same_aspect(size: tuple[int, int], reference: tuple[int, int]) -> bool:
    """Whether ``size`` is a uniform rescale of ``reference``, up to a pixel of rounding.

    Parameters
    ----------
    size, reference
        ``(width, height)`` in pixels.

    Returns
    -------
    bool
        True when one scale factor ``s`` gives both ``|w - s·W| < 1`` and ``|h - s·H| < 1``.
    """
    (w, h), (ref_w, ref_h) = size, reference
    low = max((w - 1) / ref_w, (h - 1) / ref_h)
    high = min((w + 1) / ref_w, (h + 1) / ref_h)
    return low < high


def _size(size: tuple[int, int]) -> str:
    return f"{size[0]}x{size[1]}"


def _some(names: Sequence[str], limit: int) -> str:
    shown = ", ".join(names[:limit])
    return shown + (f" (+{len(names) - limit} more)" if len(names) > limit else "")
