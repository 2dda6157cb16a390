"""Per-view 2D instance masks of the training cameras, in the layouts other tools read.

:func:`export_view_masks` renders per-Gaussian instance labels into every camera
(:func:`~liftstudio.render.label_maps.render_label_map`: each pixel gets the label
carrying the most blending weight, 0 where alpha is below 0.5 or unlabeled Gaussians
win) and writes one file per view, named after the camera's image without its suffix
(``images/DSC0001.JPG`` → ``DSC0001``), so that :mod:`liftstudio.sources.mask_import`
and the tools below match the files to their cameras again. Formats (``out`` is the
folder given):

=============== ====================================== ===================================
format          files                                  values
=============== ====================================== ===================================
``label-maps``  ``out/<image>.png`` and                16-bit PNG of instance ids (0 =
                ``out/liftstudio_masks.json``          none); a view showing an id above
                                                       65,535 is ``<image>.npy`` int32
``object-mask`` ``out/object_mask/<image>.png`` and    8-bit PNG (Gaussian Grouping);
                ``out/object_mask_ids.json``           value = instance id when every id
                                                       is ≤ 255, else ids renumbered 1..K
``saga``        ``out/sam_masks/<image>.pt`` and       SAGA's bool tensor [M, H, W], one
                ``out/sam_masks_ids.json``             mask per instance in the view
``coco``        ``out/<image>.json``                   COCO per view: compressed RLE per
                                                       instance in the view
=============== ====================================== ===================================

- ``object_mask_ids.json``: ``{"format": "liftstudio.object-mask-ids", "remapped":
  bool, "values": [{"value": v, "instance": id}, ...]}`` for every instance of the
  labels. Ids are kept as they are when they all fit in 8 bits, so the masks agree with
  the labeled PLY's ``instance`` column; otherwise they are renumbered 1..K in
  ascending order. More than 255 instances cannot be written at all (an
  :class:`~liftstudio.errors.OutputFileError` before anything is rendered).
- ``sam_masks_ids.json``: ``{"format": "liftstudio.saga-mask-ids", "views": [{"camera",
  "file", "instance_ids": [...]}, ...]}``; mask ``i`` of a file is ``instance_ids[i]``
  (ascending). SAGA's own files are ``.pt`` tensors (``torch.save``), which is what is
  written, and what SAGA and the ``saga`` importer read.
- COCO files hold ``images`` (one: id, file_name, height, width), ``annotations`` (id,
  image_id, category_id = instance_id, area, bbox ``[x, y, w, h]``, iscrowd 0,
  segmentation ``{"size": [h, w], "counts": str}``) and ``categories`` (one per
  instance in the view). Image ids are the camera's position + 1 and annotation ids
  run on across views, so the files can be merged into one dataset. The ``sam-json``
  importer reads them too (as per-view masks).

Safety: every check (format, labels, file names, destination) runs before anything is
rendered. The files are written into a hidden staging folder beside the destination
folder, which replaces it in one rename when every view is done; a cancelled or failed
export leaves nothing behind. A destination that holds files (or an id JSON that
exists) is refused unless ``overwrite`` is true, and even then only a folder that holds
nothing but mask files (``.png``, ``.npy``, ``.pt``, ``.json``; no subfolders, not the
training images) is replaced. For ``object-mask`` and ``saga`` the destination is the
subfolder, so ``out`` may be a dataset folder holding ``images/`` and more.
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import tempfile
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
from PIL import Image

from liftstudio import __version__
from liftstudio.errors import InputFileError, LiftStudioError, OutputFileError, SceneDataError
from liftstudio.fileio import make_folder
from liftstudio.jobs import CancelToken, ProgressCallback, check_cancelled, report
from liftstudio.labels.label_model import checked_instance_ids
from liftstudio.render.backend import RenderBackend
from liftstudio.render.label_maps import render_label_map
from liftstudio.render.registry import resolve_backend
from liftstudio.scene.camera import Camera
from liftstudio.scene.gaussians import GaussianScene
from liftstudio.sources.label_files import OBJECT_MASK_FOLDER, match_files
from liftstudio.sources.mask_import import SAGA_FOLDER
from liftstudio.sources.mask_writing import MANIFEST_NAME, map_file_stem, write_label_maps

#: The formats :func:`export_view_masks` writes.
VIEW_MASK_FORMATS: tuple[str, ...] = ("label-maps", "object-mask", "saga", "coco")
#: Beside ``object_mask/``: which instance each PNG value is.
OBJECT_MASK_IDS = "object_mask_ids.json"
#: Beside ``sam_masks/``: which instance each mask of each file is.
SAGA_IDS = "sam_masks_ids.json"
#: Most instances an 8-bit object mask holds (0 is "no instance").
MAX_OBJECT_MASK_IDS = 255
#: Suffixes of the files a destination may hold to be replaced with ``overwrite``.
REPLACEABLE_SUFFIXES = (".png", ".npy", ".pt", ".json")

_UINT16_MAX = int(np.iinfo(np.uint16).max)


@dataclass(frozen=True)
class ViewMaskExport:
    """What :func:`export_view_masks` wrote.

    Attributes
    ----------
    format
        The format name (one of :data:`VIEW_MASK_FORMATS`).
    folder
        The folder holding the per-view files (``out``, or ``out/object_mask`` and
        ``out/sam_masks``).
    files
        The per-view files, in camera order.
    views
        Views written (one file each).
    notes
        Remarks for the user, one sentence each (ids renumbered, ``.npy`` maps, empty
        views...).
    sidecar
        The JSON written beside the files (``liftstudio_masks.json``,
        ``object_mask_ids.json`` or ``sam_masks_ids.json``), or None (``coco``).
    instances
        Distinct instance ids visible in at least one view.
    backend
        The render backend's name.
    seconds
        Wall-clock time of the export.
    """

    format: str
    folder: Path
    files: list[Path]
    views: int
    notes: list[str] = field(default_factory=list)
    sidecar: Path | None = None
    instances: int = 0
    backend: str = ""
    seconds: float = 0.0


@dataclass(frozen=True)
class _Layout:
    subfolder: str | None
    suffix: str
    sidecar: str | None


_LAYOUTS = {
    "label-maps": _Layout(None, ".png", None),
    "object-mask": _Layout(OBJECT_MASK_FOLDER, ".png", OBJECT_MASK_IDS),
    "saga": _Layout(SAGA_FOLDER, ".pt", SAGA_IDS),
    "coco": _Layout(None, ".json", None),
}


def export_view_masks(
    scene: GaussianScene,
    cameras: Sequence[Camera],
    labels: np.ndarray,
    out: str | Path,
    fmt: str,
    *,
    overwrite: bool = False,
    backend: str | RenderBackend = "auto",
    progress: ProgressCallback | None = None,
    cancel: CancelToken | None = None,
) -> ViewMaskExport:
    """Render ``labels`` into every camera and write one mask file per view.

    Parameters
    ----------
    scene
        The Gaussians.
    cameras
        The views (usually the training cameras); each file is named after its
        camera's image (see the module docstring for the layouts).
    labels : (N,) int
        Instance id per Gaussian, 0 = unlabeled, at most 2³¹ - 1.
    out
        The output folder (created when missing). For ``object-mask`` and ``saga`` it
        may be a dataset folder: only ``object_mask/`` / ``sam_masks/`` and the id
        JSON beside it are written.
    fmt
        ``"label-maps"``, ``"object-mask"``, ``"saga"`` or ``"coco"``.
    overwrite
        Whether a destination that already holds files may be replaced (only when it
        holds nothing but mask files).
    backend
        A render backend name for :func:`~liftstudio.render.registry.resolve_backend`
        (``"auto"``, ``"cpu"``, ``"gsplat"``...) or a backend.
    progress
        ``progress(done, total, message)`` after each view.
    cancel
        Checked before each view and before the files are moved into place; a
        cancelled export leaves nothing behind.

    Returns
    -------
    ViewMaskExport
        The folder, the files, the view count and notes.

    Raises
    ------
    LiftStudioError
        For an unknown ``fmt``.
    SceneDataError
        For no cameras, or labels of the wrong shape or type, negative or beyond int32.
    OutputFileError
        Naming the path at fault, before anything is written: the destination holds
        files and ``overwrite`` is false (or it holds other things than mask files, or
        the training images); two cameras would share a file name; ``object-mask``
        with more than 255 instances; the folder cannot be written.
    liftstudio.jobs.JobCancelled
        When ``cancel`` was set (nothing is left behind).
    """
    start = time.perf_counter()
    cameras = list(cameras)
    labels = checked_instance_ids(labels, len(scene))
    target, sidecar, stems = check_view_masks(cameras, labels, out, fmt, overwrite=overwrite)
    ids = np.unique(labels[labels > 0])
    writer: _Writer
    if fmt == "label-maps":
        writer = _LabelMapWriter(ids)
    elif fmt == "object-mask":
        writer = _ObjectMaskWriter(ids, object_mask_values(ids, target))
    elif fmt == "saga":
        writer = _SagaWriter()
    else:
        writer = _CocoWriter()
    renderer = resolve_backend(backend) if isinstance(backend, str) else backend
    visible: set[int] = set()
    empty = 0
    with _staged_folder(target, overwrite=overwrite, cameras=cameras, sidecar=sidecar) as stage:
        for index, (camera, stem) in enumerate(zip(cameras, stems, strict=True)):
            check_cancelled(cancel)
            label_map = render_label_map(renderer, scene, camera, labels)
            present = np.unique(label_map)
            present = present[present > 0]
            visible.update(int(i) for i in present)
            empty += int(present.size == 0)
            writer.add(stage.folder, index, camera, stem, label_map, present)
            report(progress, index + 1, len(cameras), f"rendered {camera.name}")
        check_cancelled(cancel)
        names = writer.finish(stage.folder)
        stage.sidecar_text = writer.sidecar_text()
    notes = [*writer.notes()]
    if empty:
        notes.append(
            f"{empty} of {len(cameras)} view(s) show no labeled instance: their masks are empty"
        )
    hidden = len(ids) - len(visible)
    if hidden > 0:
        notes.append(f"{hidden} instance(s) of the labels are visible in no view")
    written_sidecar = sidecar if sidecar is not None else writer.inner_sidecar(target)
    return ViewMaskExport(
        format=fmt,
        folder=target,
        files=[target / name for name in names],
        views=len(cameras),
        notes=notes,
        sidecar=written_sidecar,
        instances=len(visible),
        backend=str(getattr(renderer, "name", type(renderer).__name__)),
        seconds=time.perf_counter() - start,
    )


# ---------------------------------------------------------------------------- checks
def file_stems(cameras: Sequence[Camera], folder: Path, suffix: str = ".png") -> list[str]:
    """The file stem of each camera's mask, checked to match it back by name.

    The stem is the camera image's base name without its suffix
    (:func:`~liftstudio.sources.mask_writing.map_file_stem`); every name is run
    through the importers' own matching (:func:`~liftstudio.sources.label_files.match_files`)
    to make sure it finds its camera, and only its camera, again.

    Parameters
    ----------
    cameras
        The views.
    folder
        The destination (named in errors).
    suffix
        The files' suffix (named in errors).

    Returns
    -------
    list of str
        One stem per camera.

    Raises
    ------
    OutputFileError
        When two cameras would share a file (names that differ only in folder,
        suffix or case) or a name would not match its camera again.
    """
    stems = [map_file_stem(camera.name) for camera in cameras]
    owners: dict[str, str] = {}
    for camera, stem in zip(cameras, stems, strict=True):
        key = stem.casefold()
        if not stem or stem in (".", ".."):
            raise OutputFileError(
                folder, f"camera {camera.name!r} gives no usable file name for its mask"
            )
        if key in owners:
            raise OutputFileError(
                folder / f"{stem}{suffix}",
                f"cameras {owners[key]!r} and {camera.name!r} would share this mask file; "
                "their image names differ only in folder, suffix or case",
            )
        owners[key] = camera.name
    files = [Path(f"{stem}{suffix}") for stem in stems]
    try:
        assignment, _ = match_files(files, cameras)
    except InputFileError as exc:
        raise OutputFileError(
            folder, f"the mask file names would be ambiguous: {exc.problem}"
        ) from None
    for index, file in enumerate(files):
        if assignment.get(index) != file:
            raise OutputFileError(
                folder / file,
                f"would not be matched to camera {cameras[index].name!r} when read back "
                "(its image name is ambiguous with another camera's)",
            )
    return stems


def check_view_masks(
    cameras: Sequence[Camera],
    labels: np.ndarray,
    out: str | Path,
    fmt: str,
    *,
    overwrite: bool = False,
) -> tuple[Path, Path | None, list[str]]:
    """Everything :func:`export_view_masks` checks before rendering, without writing.

    Callers exporting several formats check them all first, so that a refusal of the
    last one leaves nothing written by the first.

    Returns
    -------
    tuple
        The folder of the per-view files, the id JSON beside it (or None) and the file
        name of each camera's view.

    Raises
    ------
    LiftStudioError, SceneDataError, OutputFileError
        As :func:`export_view_masks`.
    """
    if fmt not in _LAYOUTS:
        raise LiftStudioError(
            f"unknown view mask format {fmt!r}; choose one of {', '.join(VIEW_MASK_FORMATS)}"
        )
    cameras = list(cameras)
    if not cameras:
        raise SceneDataError(
            "no cameras: per-view masks are written for the training cameras; open the "
            "scene folder that holds them"
        )
    layout = _LAYOUTS[fmt]
    out = Path(out)
    target = out / layout.subfolder if layout.subfolder else out
    sidecar = out / layout.sidecar if layout.sidecar else None
    stems = file_stems(cameras, target, layout.suffix)
    check_destination(target, cameras, overwrite=overwrite, sidecar=sidecar)
    if fmt == "object-mask":
        object_mask_values(np.unique(labels[labels > 0]), target)
    return target, sidecar, stems


def check_destination(
    folder: str | Path,
    cameras: Sequence[Camera] = (),
    *,
    overwrite: bool = False,
    sidecar: str | Path | None = None,
) -> None:
    """Check that per-view masks may be written into ``folder`` (and ``sidecar``).

    Parameters
    ----------
    folder
        The folder that will hold the per-view files (missing or empty is fine).
    cameras
        Their training images are never replaced.
    overwrite
        Whether a folder that holds files may be replaced.
    sidecar
        The id JSON written beside ``folder``, or None.

    Raises
    ------
    OutputFileError
        When ``folder`` is a file; holds files (or ``sidecar`` exists) and
        ``overwrite`` is false; holds subfolders, files other than mask files, or the
        cameras' training images (refused even with ``overwrite``).
    """
    folder = Path(folder)
    if folder.exists() and not folder.is_dir():
        raise OutputFileError(folder, "is a file; the masks go into a folder")
    sidecar = Path(sidecar) if sidecar is not None else None
    if sidecar is not None and sidecar.is_dir():
        raise OutputFileError(sidecar, "is a folder; move it away or choose another folder")
    entries = sorted(folder.iterdir(), key=lambda p: p.name) if folder.is_dir() else []
    images = _image_inside(folder, cameras)
    if images is not None:
        raise OutputFileError(
            folder,
            f"holds the scene's training images (e.g. {images.name}); write the masks to "
            "another folder",
        )
    if not overwrite:
        if entries:
            raise OutputFileError(
                folder,
                f"already holds {len(entries)} file(s) (e.g. {entries[0].name}); choose an "
                "empty or new folder, or allow overwriting",
            )
        if sidecar is not None and sidecar.exists():
            raise OutputFileError(
                sidecar, "already exists; choose another folder or allow overwriting"
            )
        return
    for entry in entries:
        if entry.name.startswith("."):
            continue
        if entry.is_dir():
            raise OutputFileError(
                folder,
                f"holds the folder {entry.name}/; overwriting replaces the whole mask folder, "
                "so only a folder of mask files is replaced: choose another folder",
            )
        if entry.suffix.lower() not in REPLACEABLE_SUFFIXES:
            raise OutputFileError(
                folder,
                f"holds {entry.name}, which is not a mask file; overwriting replaces the "
                "whole mask folder, so only a folder of mask files "
                f"({', '.join(REPLACEABLE_SUFFIXES)}) is replaced: move it away or choose "
                "another folder",
            )


def object_mask_values(ids: np.ndarray, folder: Path) -> np.ndarray:
    """The 8-bit value of each instance id in Gaussian Grouping's object masks.

    Parameters
    ----------
    ids : (K,) int
        The instance ids, ascending, all ≥ 1.
    folder
        The ``object_mask`` folder (named in the error).

    Returns
    -------
    (K,) uint8
        ``ids`` themselves when they are all ≤ 255, else ``1..K``.

    Raises
    ------
    OutputFileError
        When there are more than 255 ids.
    """
    ids = np.asarray(ids, dtype=np.int64)
    if len(ids) > MAX_OBJECT_MASK_IDS:
        raise OutputFileError(
            folder,
            f"cannot hold {len(ids)} instances: Gaussian Grouping's object masks are 8-bit "
            f"PNGs with at most {MAX_OBJECT_MASK_IDS} instance ids (0 is none); export "
            "label-maps (16-bit) instead, or merge instances",
        )
    if len(ids) and int(ids[-1]) > MAX_OBJECT_MASK_IDS:
        return np.arange(1, len(ids) + 1, dtype=np.uint8)
    return ids.astype(np.uint8)


def _image_inside(folder: Path, cameras: Sequence[Camera]) -> Path | None:
    """A camera's training image inside ``folder`` (at any depth), or None."""
    try:
        root = folder.resolve()
    except OSError:
        return None
    for camera in cameras:
        if camera.image_path is None:
            continue
        with contextlib.suppress(OSError):
            image = camera.image_path.resolve()
            if root in image.parents:
                return camera.image_path
    return None


# ---------------------------------------------------------------------------- staging
@dataclass
class _Stage:
    folder: Path
    sidecar_text: str | None = None


@contextlib.contextmanager
def _staged_folder(
    target: Path, *, overwrite: bool, cameras: Sequence[Camera], sidecar: Path | None
) -> Iterator[_Stage]:
    """A hidden folder beside ``target`` that replaces it when the block succeeds.

    The sidecar text the block leaves in the stage is written to ``sidecar`` after the
    swap. Whatever happens in the block, nothing is left behind: the stage is removed
    and so are the folders created for it.
    """
    place = target.resolve() if target.is_symlink() else target
    parent = place.parent
    created = [p for p in (parent, *parent.parents) if not p.exists()]
    make_folder(parent)
    stage_path: Path | None = None
    sidecar_tmp: Path | None = None
    done = False
    try:
        try:
            stage_path = Path(
                tempfile.mkdtemp(prefix=f".{place.name}.", suffix=".part", dir=parent)
            )
        except OSError as exc:
            raise OutputFileError(
                place, f"cannot create a staging folder beside it ({exc.strerror or exc})"
            ) from None
        stage = _Stage(stage_path)
        yield stage
        check_destination(target, cameras, overwrite=overwrite, sidecar=sidecar)
        if sidecar is not None and stage.sidecar_text is not None:
            sidecar_tmp = _temporary_file(sidecar, stage.sidecar_text)
        _swap(stage_path, place)
        stage_path = None
        if sidecar_tmp is not None and sidecar is not None:
            try:
                os.replace(sidecar_tmp, sidecar)
            except OSError as exc:
                raise OutputFileError(sidecar, f"writing failed ({exc.strerror or exc})") from exc
            sidecar_tmp = None
        done = True
    finally:
        if stage_path is not None:
            shutil.rmtree(stage_path, ignore_errors=True)
        if sidecar_tmp is not None:
            sidecar_tmp.unlink(missing_ok=True)
        if not done:
            for folder in created:  # deepest first
                with contextlib.suppress(OSError):
                    folder.rmdir()


def _temporary_file(path: Path, text: str) -> Path:
    """``text`` in a hidden temporary file beside ``path`` (moved into place later)."""
    try:
        handle, name = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".part", dir=path.parent)
        with os.fdopen(handle, "w", encoding="utf-8") as stream:
            stream.write(text)
        mask = os.umask(0)
        os.umask(mask)
        os.chmod(name, 0o666 & ~mask)
    except OSError as exc:
        raise OutputFileError(path, f"writing failed ({exc.strerror or exc})") from exc
    return Path(name)


def _swap(stage: Path, target: Path) -> None:
    """Put the folder ``stage`` at ``target``, replacing a folder there (two renames)."""
    if not target.exists():
        try:
            os.rename(stage, target)
        except OSError as exc:
            raise OutputFileError(target, f"moving into place failed ({exc})") from exc
        return
    backup = Path(tempfile.mkdtemp(prefix=f".{target.name}.", suffix=".old", dir=target.parent))
    backup.rmdir()
    try:
        os.rename(target, backup)
    except OSError as exc:
        raise OutputFileError(target, f"cannot be replaced ({exc.strerror or exc})") from exc
    try:
        os.rename(stage, target)
    except OSError as exc:
        os.rename(backup, target)
        raise OutputFileError(target, f"moving into place failed ({exc})") from exc
    shutil.rmtree(backup, ignore_errors=True)


# ---------------------------------------------------------------------------- writers
class _Writer:
    """One format's per-view files (written into the staging folder)."""

    def __init__(self) -> None:
        self.names: list[str] = []

    def add(
        self,
        folder: Path,
        index: int,
        camera: Camera,
        stem: str,
        label_map: np.ndarray,
        present: np.ndarray,
    ) -> None:
        """Write (or keep) the view ``index``; ``present`` are its ids > 0, ascending."""
        raise NotImplementedError

    def finish(self, folder: Path) -> list[str]:
        """Write what is left; the per-view file names, in camera order."""
        return list(self.names)

    def sidecar_text(self) -> str | None:
        """The JSON that goes beside the folder, or None."""
        return None

    def inner_sidecar(self, folder: Path) -> Path | None:
        """The JSON written inside the folder, or None."""
        return None

    def notes(self) -> list[str]:
        """Format-specific remarks."""
        return []


def _header(kind: str) -> dict[str, Any]:
    return {"format": kind, "format_version": 1, "made_by": f"liftstudio {__version__}"}


class _LabelMapWriter(_Writer):
    """``label-maps``: kept in memory (compact), written by ``write_label_maps``."""

    def __init__(self, ids: np.ndarray) -> None:
        super().__init__()
        large = len(ids) > 0 and int(ids[-1]) > _UINT16_MAX
        self._dtype = np.int32 if large else np.uint16
        self._ids = len(ids)
        self._cameras: list[str] = []
        self._maps: list[np.ndarray] = []
        self._large = 0

    def add(
        self,
        folder: Path,
        index: int,
        camera: Camera,
        stem: str,
        label_map: np.ndarray,
        present: np.ndarray,
    ) -> None:
        self._cameras.append(camera.name)
        self._maps.append(label_map.astype(self._dtype))
        self._large += int(present.size > 0 and int(present[-1]) > _UINT16_MAX)

    def finish(self, folder: Path) -> list[str]:
        manifest = {
            "made_by": f"liftstudio {__version__}",
            "command": "liftstudio export",
            "source": "instance labels rendered into the training cameras",
            "format": "label-maps",
            "instances": self._ids,
        }
        files = write_label_maps(folder, self._cameras, self._maps, manifest=manifest)
        self._maps.clear()
        return [file.name for file in files]

    def inner_sidecar(self, folder: Path) -> Path | None:
        return folder / MANIFEST_NAME

    def notes(self) -> list[str]:
        if not self._large:
            return []
        return [
            f"{self._large} view(s) show instance ids above {_UINT16_MAX:,}: written as .npy "
            f"int32 label maps (a 16-bit PNG holds ids up to {_UINT16_MAX:,})"
        ]


class _ObjectMaskWriter(_Writer):
    """``object-mask``: 8-bit PNGs in ``object_mask/``, values per :func:`object_mask_values`."""

    def __init__(self, ids: np.ndarray, values: np.ndarray) -> None:
        super().__init__()
        self._ids = np.asarray(ids, dtype=np.int64)
        self._values = np.asarray(values, dtype=np.uint8)
        self._remapped = not np.array_equal(self._ids, self._values)

    def add(
        self,
        folder: Path,
        index: int,
        camera: Camera,
        stem: str,
        label_map: np.ndarray,
        present: np.ndarray,
    ) -> None:
        out = np.zeros(label_map.shape, dtype=np.uint8)
        inside = label_map > 0
        out[inside] = self._values[np.searchsorted(self._ids, label_map[inside])]
        name = f"{stem}.png"
        Image.fromarray(out, mode="L").save(folder / name, format="PNG")
        self.names.append(name)

    def sidecar_text(self) -> str | None:
        content = {
            **_header("liftstudio.object-mask-ids"),
            "folder": OBJECT_MASK_FOLDER,
            "remapped": self._remapped,
            "values": [
                {"value": int(v), "instance": int(i)}
                for v, i in zip(self._values, self._ids, strict=True)
            ],
        }
        return json.dumps(content, indent=2) + "\n"

    def notes(self) -> list[str]:
        if not self._remapped:
            return []
        return [
            f"instance ids go up to {int(self._ids[-1])}, beyond the {MAX_OBJECT_MASK_IDS} of "
            f"an 8-bit object mask: the masks hold values 1..{len(self._ids)} instead; "
            f"{OBJECT_MASK_IDS} says which instance each value is"
        ]


class _SagaWriter(_Writer):
    """``saga``: one bool tensor [M, H, W] per view in ``sam_masks/``."""

    def __init__(self) -> None:
        super().__init__()
        self._views: list[dict[str, Any]] = []

    def add(
        self,
        folder: Path,
        index: int,
        camera: Camera,
        stem: str,
        label_map: np.ndarray,
        present: np.ndarray,
    ) -> None:
        import torch

        masks = label_map[None, :, :] == present[:, None, None]
        name = f"{stem}.pt"
        torch.save(torch.from_numpy(np.ascontiguousarray(masks)), folder / name)
        self.names.append(name)
        self._views.append(
            {"camera": camera.name, "file": name, "instance_ids": [int(i) for i in present]}
        )

    def sidecar_text(self) -> str | None:
        content = {
            **_header("liftstudio.saga-mask-ids"),
            "folder": SAGA_FOLDER,
            "views": self._views,
        }
        return json.dumps(content, indent=1) + "\n"


class _CocoWriter(_Writer):
    """``coco``: one COCO JSON per view, compressed RLE per instance."""

    def __init__(self) -> None:
        super().__init__()
        try:
            from pycocotools import mask as mask_utils
        except ImportError:
            raise LiftStudioError(
                "the coco export needs pycocotools; install it: pip install pycocotools"
            ) from None
        self._rle = mask_utils
        self._annotations = 0

    def add(
        self,
        folder: Path,
        index: int,
        camera: Camera,
        stem: str,
        label_map: np.ndarray,
        present: np.ndarray,
    ) -> None:
        height, width = (int(n) for n in label_map.shape)
        image_id = index + 1
        annotations = []
        for instance in (int(i) for i in present):
            rle = self._rle.encode(np.asfortranarray(label_map == instance, dtype=np.uint8))
            x, y, w, h = (round(float(v)) for v in self._rle.toBbox(rle))
            self._annotations += 1
            annotations.append(
                {
                    "id": self._annotations,
                    "image_id": image_id,
                    "category_id": instance,
                    "instance_id": instance,
                    "area": int(self._rle.area(rle)),
                    "bbox": [x, y, w, h],
                    "iscrowd": 0,
                    "segmentation": {"size": [height, width], "counts": rle["counts"].decode()},
                }
            )
        content = {
            "images": [
                {"id": image_id, "file_name": camera.name, "height": height, "width": width}
            ],
            "annotations": annotations,
            "categories": [
                {"id": int(i), "name": f"instance_{int(i)}", "supercategory": "instance"}
                for i in present
            ],
            "info": {
                "description": "instance masks rendered from labeled Gaussians",
                "contributor": f"liftstudio {__version__}",
            },
        }
        name = f"{stem}.json"
        (folder / name).write_text(json.dumps(content) + "\n", encoding="utf-8")
        self.names.append(name)
