"""One PLY per instance, in one folder, with an index.

:func:`write_instance_plys` writes::

    FOLDER/<name>_<id>.ply    the Gaussians of one instance, every input column kept
                              (``instance_<id>.ply`` for an instance without a name);
                              names are made safe (:func:`safe_stem`)
    FOLDER/background.ply     with ``background=True``: the unlabeled Gaussians
    FOLDER/instances.json     the index (``"format": "liftstudio.instance-files"``)

Each file is a plain 3DGS PLY any viewer opens: a cut-out of the scene. The index
lists, per instance, its id, name, class, colour, visibility, lock, Gaussian count,
bounding box and ``file``, plus the scene's ``source``, ``classes``, ``provenance``
and the ``background`` file. Instances without Gaussians get no file. All files appear
at once (:func:`~liftstudio.export.staging.staged_folder`); other files in the folder
are left alone, and files of the same names are only replaced with ``overwrite``.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from liftstudio import __version__
from liftstudio.export.instance_table import InstanceInfo, InstanceSpec, class_list, instance_table
from liftstudio.export.labeled_ply import ply_row_bytes
from liftstudio.export.safe_paths import check_free_space, safe_stem, unique_stems
from liftstudio.export.sidecar import document_text
from liftstudio.export.staging import check_destinations, staged_folder
from liftstudio.jobs import CancelToken, ProgressCallback, report
from liftstudio.labels.label_model import checked_instance_ids
from liftstudio.scene.formats import write_ply
from liftstudio.scene.gaussians import GaussianScene

INDEX_NAME = "instances.json"
BACKGROUND_NAME = "background.ply"
INDEX_FORMAT = "liftstudio.instance-files"
INDEX_VERSION = 1


@dataclass(frozen=True)
class InstanceFiles:
    """What :func:`write_instance_plys` wrote.

    Attributes
    ----------
    folder
        The destination folder.
    files
        Instance id → its PLY.
    background
        The unlabeled Gaussians' PLY, or None.
    index
        The index JSON.
    """

    folder: Path
    files: dict[int, Path]
    background: Path | None
    index: Path

    @property
    def paths(self) -> list[Path]:
        """Every file written, the index last."""
        extra = [self.background] if self.background is not None else []
        return [*self.files.values(), *extra, self.index]


def instance_file_names(table: Iterable[InstanceInfo]) -> dict[int, str]:
    """Instance id → file name: ``<safe name>_<id>.ply``, ``instance_<id>.ply`` unnamed.

    The id keeps names unique; names that still collide once made safe (case-folded,
    cut to length) get ``-2``, ``-3``...
    """
    table = list(table)
    stems = [
        info.name if info.name == f"instance_{info.id}" else f"{safe_stem(info.name)}_{info.id}"
        for info in table
    ]
    reserved = [Path(BACKGROUND_NAME).stem, Path(INDEX_NAME).stem]
    unique = unique_stems([*reserved, *stems])[len(reserved) :]
    return {info.id: f"{stem}.ply" for info, stem in zip(table, unique, strict=True)}


def check_instance_folder(
    scene: GaussianScene,
    labels: np.ndarray,
    folder: str | Path,
    *,
    instances: Mapping[int, InstanceSpec] | None = None,
    background: bool = False,
    overwrite: bool = False,
    protected: Iterable[str | Path] = (),
) -> list[Path]:
    """The files :func:`write_instance_plys` would write, checked (nothing is written).

    Raises
    ------
    OutputFileError
        As :func:`~liftstudio.export.staging.check_destinations`.
    """
    _, names = _plan(scene, labels, instances, background)
    return check_destinations(folder, names, overwrite=overwrite, inputs=protected)


def write_instance_plys(
    scene: GaussianScene,
    labels: np.ndarray,
    folder: str | Path,
    *,
    instances: Mapping[int, InstanceSpec] | None = None,
    background: bool = False,
    overwrite: bool = False,
    protected: Iterable[str | Path] = (),
    source: str | Path | None = None,
    provenance: Mapping[str, Any] | None = None,
    options: Mapping[str, Any] | None = None,
    progress: ProgressCallback | None = None,
    cancel: CancelToken | None = None,
) -> InstanceFiles:
    """Write one PLY per instance (and the background) into ``folder`` (module docstring).

    Parameters
    ----------
    scene
        The Gaussians; each file keeps every column.
    labels : (N,) int
        Instance id per Gaussian (0 = unlabeled).
    folder
        Destination folder, created when missing.
    instances
        Id → name or ``{"name", "class", "colour", "visible", "locked"}``.
    background
        Also write the unlabeled Gaussians as ``background.ply`` (even when none).
    overwrite
        Replace files of the same names; by default any of them existing is an error.
    protected
        Files that must never be written (the export's inputs).
    source, provenance, options
        Recorded in the index, as in the labeled PLY's sidecar.
    progress
        Called after each file.
    cancel
        Checked between files; a cancelled export leaves the folder as it was.

    Returns
    -------
    InstanceFiles

    Raises
    ------
    SceneDataError
        When ``labels`` do not have one valid id per Gaussian.
    OutputFileError
        When a destination is an input, exists (without ``overwrite``), the folder
        cannot be written, or the disk is too full.
    """
    folder = Path(folder)
    labels = checked_instance_ids(labels, len(scene))
    table, names = _plan(scene, labels, instances, background)
    file_names = instance_file_names(table)
    unlabeled = int(np.count_nonzero(labels == 0))
    written = sum(info.count for info in table) + (unlabeled if background else 0)
    needed = written * ply_row_bytes(scene) + 4096 * len(names)
    check_destinations(folder, names, overwrite=overwrite, inputs=protected)
    check_free_space(folder, needed, f"{len(names) - 1} instance PLYs")
    order = np.argsort(labels, kind="stable")
    sorted_labels = labels[order]
    total = len(names)
    with staged_folder(folder, names, overwrite=overwrite, inputs=protected) as stage:
        for done, info in enumerate(table):
            if cancel is not None:
                cancel.raise_if_cancelled()
            start, end = np.searchsorted(sorted_labels, [info.id, info.id + 1])
            write_ply(scene.subset(order[start:end]), stage / file_names[info.id])
            report(progress, done + 1, total, file_names[info.id])
        if background:
            write_ply(scene.subset(order[:unlabeled]), stage / BACKGROUND_NAME)
            report(progress, total - 1, total, BACKGROUND_NAME)
        head = {
            "format": INDEX_FORMAT,
            "format_version": INDEX_VERSION,
            "liftstudio_version": __version__,
            "source": None if source is None else str(source),
            "gaussians": len(scene),
            "options": dict(options) if options is not None else None,
            "provenance": dict(provenance) if provenance is not None else None,
            "classes": class_list(table),
            "background": {"file": BACKGROUND_NAME, "count": unlabeled} if background else None,
        }
        rows = [{**info.to_json(), "file": file_names[info.id]} for info in table]
        (stage / INDEX_NAME).write_text(document_text(head, "instances", rows), encoding="utf-8")
        report(progress, total, total, INDEX_NAME)
    return InstanceFiles(
        folder=folder,
        files={i: folder / name for i, name in file_names.items()},
        background=folder / BACKGROUND_NAME if background else None,
        index=folder / INDEX_NAME,
    )


def _plan(
    scene: GaussianScene,
    labels: np.ndarray,
    instances: Mapping[int, InstanceSpec] | None,
    background: bool,
) -> tuple[list[InstanceInfo], list[str]]:
    """The instances that get a file, and every file name (the index last)."""
    labels = checked_instance_ids(labels, len(scene))
    table = [info for info in instance_table(labels, scene.means, instances) if info.count]
    names = list(instance_file_names(table).values())
    return table, [*names, *([BACKGROUND_NAME] if background else []), INDEX_NAME]
