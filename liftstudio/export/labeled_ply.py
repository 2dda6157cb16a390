"""Labeled Gaussians on disk: the input PLY plus label columns, and a JSON sidecar.

:func:`write_labeled_ply` writes two files::

    labeled.ply               every column of the input scene, bit-exact, then
                              ``instance`` (int32, 0 = unlabeled),
                              ``label`` (int32 class id, 1-based index into the
                              sidecar's ``classes``, 0 = no class; only when some
                              instance has a class) and, when given,
                              ``confidence`` (float32, NaN = unknown)
    labeled.instances.json    the sidecar (:func:`sidecar_path`)

Any tool that reads 3DGS PLYs opens the first file and ignores the extra columns;
PlayCanvas ``splat-transform`` can filter on them (``-V instance,eq,3``). The sidecar
(``"format": "liftstudio.instances"``, ``"format_version": 2``) holds, in this order::

    liftstudio_version, ply (file name), source (the Gaussian file whose columns the
    PLY carries, or null), column ("instance"), label_column ("label" or null),
    confidence_column ("confidence" or null), gaussians, labeled, unlabeled,
    options (how hidden and unlabeled Gaussians were exported, or null),
    provenance (how the labels were made: method, masks, seed... as given),
    classes [name, ...] (class id k is classes[k - 1]),
    instances: [{id, name, class (when set), colour [r, g, b] 0-255, visible, locked,
                 count, bbox_min [x, y, z], bbox_max [x, y, z]}, ...]  (ids ≥ 1, ascending)

Counts and bounding boxes (of the Gaussian centres) are computed from the labels;
names default to ``instance_<id>`` and colours to :func:`instance_colour`. There is
no timestamp: :func:`read_labeled_ply` followed by :func:`write_labeled_ply` with what
it read gives byte-identical files (see :mod:`liftstudio.export.sidecar`).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import numpy as np

from liftstudio import __version__
from liftstudio.errors import InputFileError, OutputFileError, SceneDataError
from liftstudio.export.instance_table import (
    InstanceInfo,
    InstanceSpec,
    class_ids,
    class_list,
    instance_table,
)
from liftstudio.export.safe_paths import check_free_space, check_output_file
from liftstudio.export.sidecar import (
    SIDECAR_FORMAT,
    SIDECAR_VERSION,
    document_text,
    read_sidecar,
    sidecar_path,
    sidecar_specs,
)
from liftstudio.fileio import atomic_output
from liftstudio.labels.label_model import checked_instance_ids
from liftstudio.labels.palette import instance_colour
from liftstudio.scene.formats import read_gaussians, write_ply
from liftstudio.scene.gaussians import GaussianScene

__all__ = [
    "CONFIDENCE_COLUMN",
    "INSTANCE_COLUMN",
    "LABEL_COLUMN",
    "InstanceInfo",
    "InstanceSpec",
    "LabeledPly",
    "check_output_path",
    "instance_colour",
    "instance_table",
    "ply_row_bytes",
    "read_labeled_ply",
    "sidecar_path",
    "write_labeled_ply",
]

INSTANCE_COLUMN = "instance"
LABEL_COLUMN = "label"
CONFIDENCE_COLUMN = "confidence"


@dataclass(frozen=True)
class LabeledPly:
    """What :func:`read_labeled_ply` read.

    Attributes
    ----------
    scene
        The Gaussians with every column except the label, class and confidence columns.
    labels : (N,) int32
        Instance id per Gaussian, 0 = unlabeled.
    confidence : (N,) float32 or None
        The confidence column, when the sidecar names one.
    instances
        The instance table (ids ≥ 1), counts and boxes recomputed from ``labels``.
    provenance
        The sidecar's provenance, or None.
    sidecar
        The sidecar file, or None when there was none.
    notes
        Disagreements between the sidecar and the PLY, one sentence each.
    classes
        The class names (class id k is ``classes[k - 1]``).
    source
        The sidecar's ``source`` (the Gaussian file the columns come from), or None.
    """

    scene: GaussianScene
    labels: np.ndarray
    confidence: np.ndarray | None
    instances: list[InstanceInfo]
    provenance: dict[str, Any] | None = None
    sidecar: Path | None = None
    notes: list[str] = field(default_factory=list)
    classes: list[str] = field(default_factory=list)
    source: str | None = None


def write_labeled_ply(
    scene: GaussianScene,
    labels: np.ndarray,
    path: str | Path,
    *,
    overwrite: bool = False,
    confidence: np.ndarray | None = None,
    instances: Mapping[int, InstanceSpec] | None = None,
    provenance: Mapping[str, Any] | None = None,
    input_path: str | Path | None = None,
    source: str | Path | None = None,
    options: Mapping[str, Any] | None = None,
    protected: Iterable[str | Path] = (),
) -> Path:
    """Write ``scene`` with label columns, and its sidecar (module docstring).

    Both files are written atomically: an error or Ctrl-C leaves no partial file. An
    ``instance``, ``label`` (when classes exist) or ``confidence`` (when given) column
    the scene already has is replaced.

    Parameters
    ----------
    scene
        The Gaussians; every column is written back unchanged.
    labels : (N,) int
        Instance id per Gaussian, ≥ 0 (0 = unlabeled); stored as int32.
    path
        Destination ``.ply``; the sidecar goes beside it (:func:`sidecar_path`).
    overwrite
        Replace existing files; by default an existing PLY or sidecar is an error.
    confidence : (N,) float, optional
        Per-Gaussian confidence (NaN = unknown), stored as a float32 column.
    instances
        Optional id → name or ``{"name", "class", "colour", "visible", "locked"}``.
    provenance
        JSON-able facts about how the labels were made (method, masks, seed...).
    input_path
        The file ``scene`` was read from: never overwritten, even with ``overwrite``;
        the default ``source``.
    source
        The sidecar's ``source`` (default: ``input_path``, resolved).
    options
        JSON-able export choices recorded in the sidecar (``hidden``, ``unlabeled``).
    protected
        More files that must not be written (the project, the input's sidecar).

    Returns
    -------
    Path
        ``path``.

    Raises
    ------
    SceneDataError
        When ``labels`` or ``confidence`` do not have one valid value per Gaussian.
    OutputFileError
        When ``path`` is not a ``.ply``, is an input, its folder cannot be written,
        the disk is too full, or a file exists and ``overwrite`` is false.
    """
    path = Path(path)
    n = len(scene)
    labels = checked_instance_ids(labels, n)
    if confidence is not None:
        confidence = _check_confidence(confidence, n)
    table = instance_table(labels, scene.means, instances)
    classes = class_list(table)
    inputs = [*protected, *([input_path] if input_path is not None else [])]
    check_output_path(path, overwrite=overwrite, protected=inputs)
    extras = dict(scene.extras)
    extras[INSTANCE_COLUMN] = labels
    if classes:
        extras[LABEL_COLUMN] = class_ids(labels, table, classes)
    if confidence is not None:
        extras[CONFIDENCE_COLUMN] = confidence
    labeled = replace(scene, extras=extras)
    if source is None and input_path is not None:
        source = Path(input_path).resolve()
    head = {
        "format": SIDECAR_FORMAT,
        "format_version": SIDECAR_VERSION,
        "liftstudio_version": __version__,
        "ply": path.name,
        "source": None if source is None else str(source),
        "column": INSTANCE_COLUMN,
        "label_column": LABEL_COLUMN if classes else None,
        "confidence_column": CONFIDENCE_COLUMN if confidence is not None else None,
        "gaussians": n,
        "labeled": int(np.count_nonzero(labels)),
        "unlabeled": int(n - np.count_nonzero(labels)),
        "options": dict(options) if options is not None else None,
        "provenance": dict(provenance) if provenance is not None else None,
        "classes": classes,
    }
    text = document_text(head, "instances", [info.to_json() for info in table])
    needed = n * ply_row_bytes(labeled) + 4096 + len(text.encode("utf-8"))
    check_free_space(path.parent, needed, f"the labeled PLY {path.name}")
    with atomic_output(sidecar_path(path), overwrite=overwrite) as tmp:
        tmp.write_text(text, encoding="utf-8")
        write_ply(labeled, path, overwrite=overwrite)
    return path


def read_labeled_ply(path: str | Path, *, column: str = INSTANCE_COLUMN) -> LabeledPly:
    """Read a labeled Gaussian file and its sidecar (when there is one).

    Parameters
    ----------
    path
        A Gaussian file with an integer ``column`` (any format :func:`read_gaussians`
        reads).
    column
        The label column.

    Returns
    -------
    LabeledPly
        With the instance table (names, classes, colours, visibility, locks) of the
        sidecar; without a sidecar every instance gets the defaults.

    Raises
    ------
    InputFileError
        When the file has no such column, its values are not non-negative integers,
        or the sidecar is unreadable or from a newer LiftStudio.
    """
    path = Path(path)
    scene = read_gaussians(path)
    if column not in scene.extras:
        available = ", ".join(scene.extras) or "none"
        raise InputFileError(
            path, f"has no {column!r} column (extra columns: {available}): not a labeled PLY"
        )
    try:
        labels = checked_instance_ids(scene.extras[column], len(scene))
    except SceneDataError as exc:
        raise InputFileError(path, f"column {column!r}: {exc}") from None
    sidecar = sidecar_path(path)
    document = read_sidecar(sidecar) if sidecar.is_file() else None
    notes: list[str] = []
    confidence = None
    drop = {column}
    specs: dict[int, dict[str, Any]] = {}
    if document is not None:
        confidence_column = document.get("confidence_column")
        if confidence_column in scene.extras:
            confidence = np.asarray(scene.extras[confidence_column], dtype=np.float32)
            drop.add(confidence_column)
        specs = sidecar_specs(sidecar, document)
        if document.get("gaussians") != len(scene):
            notes.append(
                f"{sidecar.name} describes {document.get('gaussians')} Gaussians but "
                f"{path.name} has {len(scene):,}; counts and boxes were recomputed"
            )
    table = instance_table(labels, scene.means, specs)
    classes = class_list(table)
    label_column = document.get("label_column") if document is not None else None
    if label_column in scene.extras:
        drop.add(label_column)
        notes.extend(_class_column_notes(scene.extras[label_column], labels, table, classes))
    stripped = replace(
        scene, extras={k: v for k, v in scene.extras.items() if k not in drop}
    )  # fmt: skip
    return LabeledPly(
        scene=stripped,
        labels=labels,
        confidence=confidence,
        instances=table,
        provenance=document.get("provenance") if document else None,
        sidecar=sidecar if document is not None else None,
        notes=notes,
        classes=classes,
        source=document.get("source") if document else None,
    )


def check_output_path(
    path: str | Path,
    *,
    overwrite: bool = False,
    input_path: str | Path | None = None,
    protected: Iterable[str | Path] = (),
) -> None:
    """Check that a labeled PLY can be written at ``path`` (before a long job starts).

    Parameters
    ----------
    path
        Destination ``.ply``.
    overwrite
        Whether existing files may be replaced.
    input_path
        The scene file the labels belong to: never a valid destination.
    protected
        More files that are never valid destinations (for the PLY or its sidecar).

    Raises
    ------
    OutputFileError
        When ``path`` is not a ``.ply``, it or its sidecar is an input, its folder is
        missing or not writable, or it or its sidecar exists and ``overwrite`` is false.
    """
    path = Path(path)
    if path.suffix.lower() != ".ply":
        raise OutputFileError(path, "a labeled PLY must end in .ply")
    inputs = [*protected, *([input_path] if input_path is not None else [])]
    for target in (path, sidecar_path(path)):
        check_output_file(target, overwrite=overwrite, inputs=inputs)


def ply_row_bytes(scene: GaussianScene) -> int:
    """Bytes per Gaussian of ``scene`` in a binary PLY (for free-space estimates)."""
    extras = sum(min(np.asarray(c).dtype.itemsize, 8) for c in scene.extras.values())
    return 4 * len(scene.core_columns()) + extras


# ---------------------------------------------------------------------------- validation
def _check_confidence(confidence: np.ndarray, n: int) -> np.ndarray:
    confidence = np.asarray(confidence)
    if confidence.shape != (n,):
        raise SceneDataError(
            f"confidence must have shape ({n},), one per Gaussian; got {confidence.shape}"
        )
    if confidence.dtype.kind not in "fiu":
        raise SceneDataError(f"confidence must be numbers, got dtype {confidence.dtype}")
    confidence = confidence.astype(np.float32)
    if np.isinf(confidence).any():
        raise SceneDataError("confidence holds inf (NaN is allowed: unknown)")
    return confidence


def _class_column_notes(
    column: np.ndarray, labels: np.ndarray, table: list[InstanceInfo], classes: list[str]
) -> list[str]:
    """A note when the file's class column disagrees with the sidecar's classes."""
    expected = class_ids(labels, table, classes)
    differ = int(np.count_nonzero(np.asarray(column) != expected))
    if not differ:
        return []
    return [
        f"the {LABEL_COLUMN!r} column disagrees with the instances' classes for {differ:,} "
        "Gaussians (edited outside LiftStudio?); the sidecar's classes were used"
    ]
