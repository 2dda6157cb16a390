"""Import per-view 2D masks in the formats users bring, behind one registry.

Every format holds one file per training view, named after the view's image, and is
matched to the cameras **by name** (never by order) with the rules of
:func:`~liftstudio.sources.label_files.match_files`; every import gives the same
:class:`~liftstudio.sources.label_files.MatchReport` (views without a file, files
without a view, maps read at a uniform rescale of their camera's size).

=============== ============================================= =======================
name            layout                                        ids
=============== ============================================= =======================
``object-mask`` Gaussian Grouping ``object_mask/<image>.png`` associated across views
``label-maps``  ``<image>.png`` / ``.npy`` integer label maps as given
``sam-json``    SAM ``<image>.json`` (COCO RLE, amg.py)       per view, flattened
``saga``        SAGA ``sam_masks/<image>.pt`` bool [M, H, W]  per view, flattened
``omniseg3d``   OmniSeg3D ``sam/<image>.npz``                 per view, flattened
=============== ============================================= =======================

The last three hold overlapping masks; they are flattened largest first (the smaller
mask wins where masks overlap) and each view keeps a
:class:`~liftstudio.sources.mask_formats.MaskHierarchy` (id ``k`` is mask ``k - 1`` of
the file; its parent is the smallest larger mask holding most of it).
"""

from __future__ import annotations

import dataclasses
import os
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from liftstudio.errors import InputFileError
from liftstudio.jobs import CancelToken, ProgressCallback
from liftstudio.scene.camera import Camera
from liftstudio.sources.label_files import (
    MAP_SUFFIXES,
    OBJECT_MASK_FOLDER,
    LabelMapSet,
    read_label_map,
    read_matched_files,
)
from liftstudio.sources.mask_formats import (
    MaskHierarchy,
    read_omniseg3d_npz,
    read_saga_masks,
    read_sam_json,
)

#: Subfolder of a SAGA dataset that holds the per-image mask tensors.
SAGA_FOLDER = "sam_masks"
#: Subfolder of an OmniSeg3D dataset that holds the per-image patch files.
OMNISEG3D_FOLDER = "sam"

Reader = Callable[[Path, Camera], tuple[np.ndarray, MaskHierarchy | None]]


@dataclass(frozen=True)
class MaskFormat:
    """One importable mask layout.

    Attributes
    ----------
    name
        Registry key (``"sam-json"``...).
    layout
        The layout as a user knows it, for messages.
    what
        What one file is called in messages (``"label map"``).
    suffixes
        Lower-case suffixes of its per-view files.
    subfolder
        The dataset subfolder holding the files (read when present in the folder
        given), or None.
    stacked
        Whether files hold overlapping masks (flattened, with a hierarchy).
    associated
        Whether an id means the same object in every view.
    detect
        ``detect(folder) -> bool``: whether ``folder`` looks like this layout.
    read
        ``read(path, camera) -> (label_map, hierarchy or None)`` for one file.
    size_hint
        Advice appended to a wrong-aspect-ratio error.
    """

    name: str
    layout: str
    what: str
    suffixes: tuple[str, ...]
    subfolder: str | None
    stacked: bool
    associated: bool
    detect: Callable[[Path], bool]
    read: Reader
    size_hint: str = ""


@dataclass(frozen=True)
class ImportedMasks(LabelMapSet):
    """Label maps imported from a mask folder (a :class:`LabelMapSet` and more).

    Attributes
    ----------
    format
        The registry name of the format read.
    associated
        Whether ids mean the same object across views (``object-mask``, usually
        ``label-maps``); False for per-view SAM-style masks.
    hierarchies
        Per camera, the :class:`MaskHierarchy` of its map for stacked formats, else
        None (also None for cameras without a file).
    """

    format: str
    associated: bool
    hierarchies: tuple[MaskHierarchy | None, ...]

    def hierarchy_for(self, name: str) -> MaskHierarchy | None:
        """The hierarchy of the camera named ``name`` (None when it has none).

        Raises
        ------
        KeyError
            When no camera has that name.
        """
        for camera, hierarchy in zip(self.cameras, self.hierarchies, strict=True):
            if camera.name == name:
                return hierarchy
        raise KeyError(name)


# ---------------------------------------------------------------------------- detection
def _has_files(folder: Path, suffixes: tuple[str, ...]) -> bool:
    try:
        with os.scandir(folder) as entries:
            return any(
                not e.name.startswith(".")
                and os.path.splitext(e.name)[1].lower() in suffixes
                and e.is_file()
                for e in entries
            )
    except OSError:
        return False


def _detect_object_mask(folder: Path) -> bool:
    return _has_files(folder / OBJECT_MASK_FOLDER, (".png",)) or (
        folder.name == OBJECT_MASK_FOLDER and _has_files(folder, (".png",))
    )


def _detect_label_maps(folder: Path) -> bool:
    return (
        folder.name != OBJECT_MASK_FOLDER
        and not (folder / OBJECT_MASK_FOLDER).is_dir()
        and _has_files(folder, MAP_SUFFIXES)
    )


def _detect_sam_json(folder: Path, peek: int = 3) -> bool:
    try:
        files = sorted(p for p in folder.glob("*.json") if p.is_file())
    except OSError:
        return False
    for file in files[:peek]:
        try:
            with file.open("rb") as handle:
                head = handle.read(4096)
        except OSError:
            continue
        if b'"segmentation"' in head or b'"annotations"' in head:
            return True
    return False


def _detect_in(subfolder: str, suffix: str) -> Callable[[Path], bool]:
    def detect(folder: Path) -> bool:
        return _has_files(folder / subfolder, (suffix,)) or _has_files(folder, (suffix,))

    return detect


def _read_ids(path: Path, camera: Camera) -> tuple[np.ndarray, None]:
    return read_label_map(path), None


_FORMATS: tuple[MaskFormat, ...] = (
    MaskFormat(
        name="object-mask",
        layout="Gaussian Grouping object_mask/<image>.png (uint8 ids, associated across views)",
        what="object mask",
        suffixes=(".png",),
        subfolder=OBJECT_MASK_FOLDER,
        stacked=False,
        associated=True,
        detect=_detect_object_mask,
        read=_read_ids,
    ),
    MaskFormat(
        name="label-maps",
        layout="<image>.png / <image>.npy integer label maps (uint8, uint16, int32)",
        what="label map",
        suffixes=MAP_SUFFIXES,
        subfolder=OBJECT_MASK_FOLDER,
        stacked=False,
        associated=True,
        detect=_detect_label_maps,
        read=_read_ids,
    ),
    MaskFormat(
        name="sam-json",
        layout="SAM <image>.json, a list of COCO-RLE annotations (amg.py --convert-to-rle)",
        what="SAM JSON mask file",
        suffixes=(".json",),
        subfolder=None,
        stacked=True,
        associated=False,
        detect=_detect_sam_json,
        read=read_sam_json,
    ),
    MaskFormat(
        name="saga",
        layout=f"SAGA {SAGA_FOLDER}/<image>.pt, a bool [M, H, W] tensor per view",
        what="SAGA mask tensor",
        suffixes=(".pt",),
        subfolder=SAGA_FOLDER,
        stacked=True,
        associated=False,
        detect=_detect_in(SAGA_FOLDER, ".pt"),
        read=read_saga_masks,
        size_hint=(
            "; early SAGA versions saved masks resized to 200x200: re-extract them with the "
            "current extract_segment_everything_masks.py"
        ),
    ),
    MaskFormat(
        name="omniseg3d",
        layout=f"OmniSeg3D {OMNISEG3D_FOLDER}/<image>.npz (indices + correlation, run_sam.py)",
        what="OmniSeg3D mask file",
        suffixes=(".npz",),
        subfolder=OMNISEG3D_FOLDER,
        stacked=True,
        associated=False,
        detect=_detect_in(OMNISEG3D_FOLDER, ".npz"),
        read=read_omniseg3d_npz,
    ),
)


def mask_formats() -> dict[str, MaskFormat]:
    """The importable mask formats, by name (a fresh dict each call).

    Returns
    -------
    dict[str, MaskFormat]
        ``object-mask``, ``label-maps``, ``sam-json``, ``saga``, ``omniseg3d``.
    """
    return {entry.name: entry for entry in _FORMATS}


def _known_layouts() -> str:
    return "; ".join(f"{f.name}: {f.layout}" for f in _FORMATS)


def detect_mask_format(folder: str | Path) -> str:
    """Which registered format the files in ``folder`` are.

    Parameters
    ----------
    folder
        A folder of per-view mask files, or a dataset folder holding the format's
        subfolder (``object_mask/``, ``sam_masks/``, ``sam/``).

    Returns
    -------
    str
        The format's registry name.

    Raises
    ------
    InputFileError
        When the folder is missing, when no format recognises it (listing the known
        layouts), or when several do (naming them: pass ``format`` or a subfolder).
    """
    folder = Path(folder)
    if not folder.is_dir():
        problem = "is not a folder" if folder.exists() else "no such folder"
        raise InputFileError(folder, f"{problem}; pass the folder that holds the masks")
    found = [f.name for f in _FORMATS if f.detect(folder)]
    if not found:
        raise InputFileError(
            folder, f"holds no mask files in a known layout; known layouts: {_known_layouts()}"
        )
    if len(found) > 1:
        raise InputFileError(
            folder,
            f"holds masks in more than one layout ({', '.join(found)}); pass the format "
            "(format=... / --mask-format) or the subfolder that holds the masks you mean",
        )
    return found[0]


def import_masks(
    folder: str | Path,
    cameras: Sequence[Camera],
    *,
    format: str = "auto",
    progress: ProgressCallback | None = None,
    cancel: CancelToken | None = None,
) -> ImportedMasks:
    """Import the per-view masks in ``folder``, matched to ``cameras`` by image name.

    Parameters
    ----------
    folder
        The mask folder, or a dataset folder holding the format's subfolder.
    cameras
        The cameras to match (usually the training cameras).
    format
        A name from :func:`mask_formats`, or ``"auto"`` to :func:`detect_mask_format`.
    progress, cancel
        One progress step per file read; cancelled between files.

    Returns
    -------
    ImportedMasks
        Per camera its (H, W) int32 label map (None without a file), the file, the
        per-view hierarchy for stacked formats, the format name and the match report.

    Raises
    ------
    InputFileError
        Naming the file or folder at fault: an unknown format, an unrecognised or
        empty folder, no file matching any camera, two files for one camera, an
        unreadable or malformed file, or a map with another aspect ratio than its
        camera's. Views without a file are reported, not errors.
    """
    folder = Path(folder)
    formats = mask_formats()
    name = detect_mask_format(folder) if format == "auto" else format
    if name not in formats:
        raise InputFileError(
            folder, f"unknown mask format {format!r}; choose auto or one of: {', '.join(formats)}"
        )
    spec = formats[name]
    label_set, hierarchies = read_matched_files(
        folder,
        cameras,
        spec.read,
        suffixes=spec.suffixes,
        subfolder=spec.subfolder,
        what=spec.what,
        format=name,
        size_hint=spec.size_hint,
        progress=progress,
        cancel=cancel,
    )
    report = label_set.report
    approximate = sum(1 for h in hierarchies if h is not None and not h.exact)
    if approximate:
        note = (
            f"{approximate} view(s) hold masks that overlap without nesting: their masks were "
            "rebuilt from the patch correlation approximately"
        )
        report = dataclasses.replace(report, notes=(*report.notes, note))
    return ImportedMasks(
        cameras=label_set.cameras,
        maps=label_set.maps,
        files=label_set.files,
        report=report,
        format=name,
        associated=spec.associated,
        hierarchies=tuple(hierarchies),
    )
