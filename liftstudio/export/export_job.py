"""One export job: a source, the formats asked for, where they go (``liftstudio export``).

:class:`ExportRequest` holds the choices (validated once); :func:`run_export` checks
every destination before writing anything, then writes each format. Formats:

- ``ply``: the labeled PLY and its sidecar (:mod:`~liftstudio.export.labeled_ply`);
- ``instances``: one PLY per instance (:mod:`~liftstudio.export.instance_files`);
- ``selection``: the Gaussians of an index file (:mod:`~liftstudio.export.selection_ply`);
- ``label-maps``, ``object-mask``, ``saga``, ``coco``: per-view 2D masks of the
  training cameras (:mod:`liftstudio.export.view_masks`).

Destinations (:func:`destinations`): with one format, ``out`` is the destination
itself (a ``.ply`` file for ``ply`` and ``selection``, or a folder that gets
``labeled.ply`` / ``selection.ply``; a folder for the others). With several, ``out``
is a folder holding ``labeled.ply``, ``selection.ply``, ``instances/``,
``label-maps/`` and ``coco/``. ``object-mask`` and ``saga`` always get ``out`` itself
and write their own subfolder in it (``object_mask/``, ``sam_masks/``), as the tools
that read them expect beside ``images/``.

Every destination is checked before anything is written. The 2D writer checks its
own files again before it renders, so the 2D formats are written first: a destination
it refuses stops the job before any PLY is written.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from liftstudio.errors import InputFileError, LiftStudioError, OutputFileError
from liftstudio.export.export_source import ExportSource, with_cameras
from liftstudio.export.instance_files import check_instance_folder, write_instance_plys
from liftstudio.export.labeled_ply import check_output_path, sidecar_path, write_labeled_ply
from liftstudio.export.row_choices import HIDDEN_CHOICES, UNLABELED_CHOICES, apply_row_choices
from liftstudio.export.safe_paths import (
    check_output_file,
    check_writable_folder,
    refuse_input_folder,
)
from liftstudio.export.selection_ply import read_selection, write_selection_ply
from liftstudio.fileio import make_folder
from liftstudio.jobs import CancelToken, ProgressCallback

FORMATS_3D = ("ply", "instances", "selection")
FORMATS_2D = ("label-maps", "object-mask", "saga", "coco")
EXPORT_FORMATS = (*FORMATS_3D, *FORMATS_2D)
_FILE_FORMATS = {"ply": "labeled.ply", "selection": "selection.ply"}
_OWN_SUBFOLDER = ("object-mask", "saga")


class ExportRequestError(LiftStudioError, ValueError):
    """A combination of export choices that cannot work (shown as one line)."""


@dataclass(frozen=True)
class ExportRequest:
    """What to export and how.

    Attributes
    ----------
    formats
        Some of :data:`EXPORT_FORMATS`, each once.
    out
        Where they go (module docstring).
    hidden, unlabeled
        How hidden instances and unlabeled Gaussians are exported
        (:mod:`~liftstudio.export.row_choices`).
    confidence
        Add the ``confidence`` column to the labeled PLY.
    background
        Add ``background.ply`` (the unlabeled Gaussians) to the instance files.
    overwrite
        Replace existing outputs (never an input).
    indices
        ``.npy`` of the selected Gaussians (bool mask or indices), for ``selection``.
    scene
        Scene folder with the training cameras for the 2D formats (default: the
        project's scene; needed for a labeled PLY).
    backend
        Renderer of the 2D formats.
    """

    formats: tuple[str, ...]
    out: Path
    hidden: str = "keep"
    unlabeled: str = "keep"
    confidence: bool = False
    background: bool = False
    overwrite: bool = False
    indices: Path | None = None
    scene: Path | None = None
    backend: str = "auto"

    def __post_init__(self) -> None:
        object.__setattr__(self, "formats", tuple(self.formats))
        object.__setattr__(self, "out", Path(self.out))
        problem = _request_problem(self)
        if problem:
            raise ExportRequestError(problem)

    @property
    def needs_cameras(self) -> bool:
        """Whether a 2D format was asked for."""
        return any(f in FORMATS_2D for f in self.formats)


@dataclass(frozen=True)
class ExportedFormat:
    """One format written by :func:`run_export`.

    Attributes
    ----------
    format
        The format's name.
    path
        The file (``ply``, ``selection``) or folder written.
    files
        Every file written.
    summary
        One line for the user.
    notes
        What the writer noticed, one sentence each.
    """

    format: str
    path: Path
    files: list[Path]
    summary: str
    notes: list[str] = field(default_factory=list)


def destinations(request: ExportRequest) -> dict[str, Path]:
    """Format → its file or folder (module docstring)."""
    out = request.out
    if len(request.formats) == 1:
        fmt = request.formats[0]
        if fmt in _FILE_FORMATS and out.suffix.lower() != ".ply":
            return {fmt: out / _FILE_FORMATS[fmt]}
        return {fmt: out}
    return {
        fmt: out if fmt in _OWN_SUBFOLDER else out / _FILE_FORMATS.get(fmt, fmt)
        for fmt in request.formats
    }


def run_export(
    source: ExportSource,
    request: ExportRequest,
    *,
    progress: ProgressCallback | None = None,
    cancel: CancelToken | None = None,
) -> list[ExportedFormat]:
    """Write every format of ``request`` from ``source``.

    Every destination is checked first (inputs, existing files, writable folders), so
    a bad one fails before anything is written.

    Parameters
    ----------
    source
        From :func:`~liftstudio.export.export_source.load_export_source`.
    request
        The choices.
    progress
        ``progress(done, total, message)`` during the long formats.
    cancel
        Checked between files.

    Returns
    -------
    list of ExportedFormat
        In the order of ``request.formats``.

    Raises
    ------
    InputFileError
        When the selection file is unusable or a 2D format has no cameras.
    OutputFileError
        When a destination cannot be written.
    """
    if request.needs_cameras:
        source = with_cameras(source, request.scene)
    chosen = None
    if request.indices is not None:
        chosen = read_selection(request.indices, len(source.labels))
    source = apply_row_choices(source, hidden=request.hidden, unlabeled=request.unlabeled)
    if chosen is not None and source.rows is not None:
        chosen = chosen[source.rows]
    if chosen is not None and not chosen.any():
        raise InputFileError(
            request.indices,
            "selects none of the exported Gaussians (hidden or unlabeled ones were left out)",
        )
    places = destinations(request)
    folder = request.out if request.out.suffix.lower() != ".ply" else None
    created = folder is not None and not folder.exists()
    if created:
        check_writable_folder(folder)
        make_folder(folder)
    try:
        for fmt, place in places.items():
            _check(fmt, place, source, request)
        results: dict[str, ExportedFormat] = {}
        for fmt in sorted(places, key=lambda f: f not in FORMATS_2D):
            if cancel is not None:
                cancel.raise_if_cancelled()
            place = places[fmt]
            if fmt == "ply":
                results[fmt] = _write_ply(source, request, place)
            elif fmt == "selection":
                results[fmt] = _write_selection(source, chosen, request, place)
            elif fmt == "instances":
                results[fmt] = _write_instances(source, request, place, progress, cancel)
            else:
                results[fmt] = _write_view_masks(source, request, fmt, place, progress, cancel)
        return [results[fmt] for fmt in request.formats]
    except BaseException:
        if created and not any(folder.iterdir()):
            folder.rmdir()
        raise


# ---------------------------------------------------------------------- writers
def _options(request: ExportRequest) -> dict[str, str]:
    return {"hidden": request.hidden, "unlabeled": request.unlabeled}


def _write_ply(source: ExportSource, request: ExportRequest, place: Path) -> ExportedFormat:
    notes = []
    confidence = source.confidence if request.confidence else None
    if request.confidence and confidence is None:
        confidence = np.full(len(source.labels), np.nan, dtype=np.float32)
        notes.append(f"{source.path.name} holds no confidence: the column is NaN (unknown)")
    write_labeled_ply(
        source.scene,
        source.labels,
        place,
        overwrite=request.overwrite,
        confidence=confidence,
        instances=source.instances,
        provenance=source.provenance,
        source=source.source,
        options=_options(request),
        protected=source.inputs,
    )
    sidecar = sidecar_path(place)
    labeled = int(np.count_nonzero(source.labels))
    instances = len(np.unique(source.labels[source.labels > 0]))
    summary = (
        f"ply: wrote {place} and {sidecar.name} ({len(source.labels):,} Gaussians, "
        f"{labeled:,} labeled, {instances} instances)"
    )
    return ExportedFormat("ply", place, [place, sidecar], summary, notes)


def _write_selection(
    source: ExportSource, chosen: np.ndarray | None, request: ExportRequest, place: Path
) -> ExportedFormat:
    assert chosen is not None
    write_selection_ply(
        source.scene, chosen, place, overwrite=request.overwrite, protected=source.inputs
    )
    summary = f"selection: wrote {place} ({int(np.count_nonzero(chosen)):,} Gaussians)"
    return ExportedFormat("selection", place, [place], summary)


def _write_instances(
    source: ExportSource,
    request: ExportRequest,
    place: Path,
    progress: ProgressCallback | None,
    cancel: CancelToken | None,
) -> ExportedFormat:
    written = write_instance_plys(
        source.scene,
        source.labels,
        place,
        instances=source.instances,
        background=request.background,
        overwrite=request.overwrite,
        protected=source.inputs,
        source=source.source,
        provenance=source.provenance,
        options=_options(request),
        progress=progress,
        cancel=cancel,
    )
    background = " and background.ply" if written.background is not None else ""
    summary = (
        f"instances: wrote {len(written.files)} instance PLYs{background} and "
        f"{written.index.name} to {place}"
    )
    return ExportedFormat("instances", place, written.paths, summary)


def _write_view_masks(
    source: ExportSource,
    request: ExportRequest,
    fmt: str,
    place: Path,
    progress: ProgressCallback | None,
    cancel: CancelToken | None,
) -> ExportedFormat:
    from liftstudio.export.view_masks import export_view_masks

    assert source.cameras is not None
    result = export_view_masks(
        source.scene, source.cameras, source.labels, place, fmt,
        overwrite=request.overwrite, backend=request.backend, progress=progress, cancel=cancel,
    )  # fmt: skip
    summary = f"{fmt}: wrote {len(result.files)} files for {result.views} views to {result.folder}"
    return ExportedFormat(fmt, Path(result.folder), list(result.files), summary, list(result.notes))


# ---------------------------------------------------------------------- checks
def _request_problem(request: ExportRequest) -> str | None:
    formats = request.formats
    unknown = [f for f in formats if f not in EXPORT_FORMATS]
    if not formats:
        return f"choose at least one format: {', '.join(EXPORT_FORMATS)}"
    if unknown:
        return f"unknown format {unknown[0]!r}; choose from {', '.join(EXPORT_FORMATS)}"
    if len(set(formats)) != len(formats):
        return "each format may be given once"
    if request.hidden not in HIDDEN_CHOICES:
        return f"hidden must be one of {', '.join(HIDDEN_CHOICES)}, got {request.hidden!r}"
    if request.unlabeled not in UNLABELED_CHOICES:
        return f"unlabeled must be one of {', '.join(UNLABELED_CHOICES)}"
    if ("selection" in formats) != (request.indices is not None):
        return "the selection format needs --indices FILE.npy, and --indices needs it"
    if request.background and "instances" not in formats:
        return "--background adds background.ply to the instances format; ask for it too"
    if request.confidence and "ply" not in formats:
        return "--confidence adds a column to the ply format; ask for it too"
    suffix = request.out.suffix.lower() == ".ply"
    if suffix and (len(formats) > 1 or formats[0] not in _FILE_FORMATS):
        return (
            f"--out {request.out} names a .ply file, but {', '.join(formats)} "
            "writes a folder: give a folder"
        )
    return None


def _check(fmt: str, place: Path, source: ExportSource, request: ExportRequest) -> None:
    inputs = source.inputs
    if fmt == "ply":
        check_output_path(place, overwrite=request.overwrite, protected=inputs)
    elif fmt == "selection":
        if place.suffix.lower() != ".ply":
            raise OutputFileError(place, "a selection PLY must end in .ply")
        check_output_file(place, overwrite=request.overwrite, inputs=inputs)
    elif fmt == "instances":
        check_instance_folder(
            source.scene, source.labels, place, instances=source.instances,
            background=request.background, overwrite=request.overwrite, protected=inputs,
        )  # fmt: skip
    else:  # every 2D destination is checked before any format is written
        from liftstudio.export.view_masks import check_view_masks

        if place.exists() and not place.is_dir():
            raise OutputFileError(place, "is a file, not a folder; choose a folder")
        if fmt not in _OWN_SUBFOLDER:
            refuse_input_folder(place, inputs)
        check_writable_folder(place)
        assert source.cameras is not None
        check_view_masks(source.cameras, source.labels, place, fmt, overwrite=request.overwrite)
