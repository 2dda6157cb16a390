"""Labeled Gaussians on disk: the input PLY plus an ``instance`` column, and a JSON sidecar.

:func:`write_labeled_ply` writes two files::

    labeled.ply               every column of the input scene, bit-exact, then
                              ``instance`` (int32, 0 = unlabeled) and, when given,
                              ``confidence`` (float32)
    labeled.instances.json    the sidecar (:func:`sidecar_path`)

Any tool that reads 3DGS PLYs opens the first file and ignores the extra columns;
PlayCanvas ``splat-transform`` can filter on them (``-V instance,eq,3``). The sidecar
(``"format": "liftstudio.instances"``, ``"format_version": 1``) holds::

    liftstudio_version, created (UTC, ISO 8601), ply (file name), column, confidence_column,
    gaussians, labeled, unlabeled, provenance (method, masks, seed, ... as given),
    instances: [{id, name, class (optional), colour [r, g, b] 0-255, count,
                 bbox_min [x, y, z], bbox_max [x, y, z]}, ...]   (ids >= 1, ascending)

Counts and bounding boxes (of the Gaussian centres) are computed from the labels;
names default to ``instance_<id>`` and colours to :func:`instance_colour`.
:func:`read_labeled_ply` reads both back (the sidecar is optional).
"""

from __future__ import annotations

import json
import os
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np

from liftstudio import __version__
from liftstudio.errors import InputFileError, OutputFileError, SceneDataError
from liftstudio.fileio import atomic_output
from liftstudio.labels.label_model import checked_instance_ids
from liftstudio.labels.palette import instance_colour
from liftstudio.scene.formats import read_gaussians, write_ply
from liftstudio.scene.gaussians import GaussianScene

INSTANCE_COLUMN = "instance"
CONFIDENCE_COLUMN = "confidence"
SIDECAR_SUFFIX = ".instances.json"
SIDECAR_FORMAT = "liftstudio.instances"
SIDECAR_VERSION = 1


InstanceSpec = str | Mapping[str, Any]
"""A name, or a mapping with any of ``name``, ``class``, ``colour`` ([r, g, b] 0-255)."""


@dataclass(frozen=True)
class InstanceInfo:
    """One row of the instance table.

    Attributes
    ----------
    id
        Instance id (≥ 1).
    name
        Display name (default ``instance_<id>``).
    colour
        ``(r, g, b)`` in 0-255.
    count
        Gaussians carrying this id.
    bbox_min, bbox_max
        Corners of the box around their centres; None when ``count`` is 0.
    class_name
        Class label, when known.
    """

    id: int
    name: str
    colour: tuple[int, int, int]
    count: int
    bbox_min: tuple[float, float, float] | None
    bbox_max: tuple[float, float, float] | None
    class_name: str | None = None

    def to_json(self) -> dict[str, Any]:
        """The sidecar entry of this instance."""
        entry: dict[str, Any] = {"id": self.id, "name": self.name}
        if self.class_name is not None:
            entry["class"] = self.class_name
        entry.update(
            colour=list(self.colour),
            count=self.count,
            bbox_min=None if self.bbox_min is None else list(self.bbox_min),
            bbox_max=None if self.bbox_max is None else list(self.bbox_max),
        )
        return entry


@dataclass(frozen=True)
class LabeledPly:
    """What :func:`read_labeled_ply` read.

    Attributes
    ----------
    scene
        The Gaussians with every column except the label (and confidence) columns.
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
    """

    scene: GaussianScene
    labels: np.ndarray
    confidence: np.ndarray | None
    instances: list[InstanceInfo]
    provenance: dict[str, Any] | None = None
    sidecar: Path | None = None
    notes: list[str] = field(default_factory=list)


def sidecar_path(ply_path: str | Path) -> Path:
    """The sidecar of a labeled PLY: ``labeled.ply`` → ``labeled.instances.json``."""
    ply_path = Path(ply_path)
    return ply_path.with_name(ply_path.stem + SIDECAR_SUFFIX)


def instance_table(
    labels: np.ndarray,
    means: np.ndarray,
    instances: Mapping[int, InstanceSpec] | None = None,
) -> list[InstanceInfo]:
    """Count and box every instance of ``labels``; names and colours from ``instances``.

    Parameters
    ----------
    labels : (N,) int
        Instance id per Gaussian (0 = unlabeled, left out of the table).
    means : (N, 3) float
        Gaussian centres.
    instances
        Optional id → name or ``{"name", "class", "colour"}``. Ids listed here that no
        Gaussian carries appear with count 0.

    Returns
    -------
    list of InstanceInfo
        Ascending by id.
    """
    specs = _instance_specs(instances)
    ids, counts = np.unique(labels, return_counts=True)
    order = np.argsort(labels, kind="stable")
    starts = np.concatenate([[0], np.cumsum(counts)[:-1]]).astype(np.intp)
    sorted_means = np.asarray(means)[order]
    lows = np.minimum.reduceat(sorted_means, starts, axis=0) if len(ids) else np.empty((0, 3))
    highs = np.maximum.reduceat(sorted_means, starts, axis=0) if len(ids) else np.empty((0, 3))
    boxes = {
        int(i): (int(n), _vec(lo), _vec(hi))
        for i, n, lo, hi in zip(ids, counts, lows, highs, strict=True)
        if i != 0
    }
    table = []
    for instance_id in sorted(set(boxes) | set(specs)):
        count, low, high = boxes.get(instance_id, (0, None, None))
        spec = specs.get(instance_id, {})
        table.append(
            InstanceInfo(
                id=instance_id,
                name=spec.get("name", f"instance_{instance_id}"),
                colour=spec.get("colour", instance_colour(instance_id)),
                count=count,
                bbox_min=low,
                bbox_max=high,
                class_name=spec.get("class"),
            )
        )
    return table


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
) -> Path:
    """Write ``scene`` with an ``instance`` column, and its sidecar (module docstring).

    Both files are written atomically: an error or Ctrl-C leaves no partial file. An
    ``instance`` (or ``confidence``) column the scene already has is replaced.

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
        Per-Gaussian confidence, stored as a float32 ``confidence`` column.
    instances
        Optional id → name or ``{"name", "class", "colour"}`` for the instance table.
    provenance
        JSON-able facts about how the labels were made (method, masks, seed...).
    input_path
        The file ``scene`` was read from: never overwritten, even with ``overwrite``.

    Returns
    -------
    Path
        ``path``.

    Raises
    ------
    SceneDataError
        When ``labels`` or ``confidence`` do not have one valid value per Gaussian.
    OutputFileError
        When ``path`` is not a ``.ply``, is the input file, or a file exists and
        ``overwrite`` is false.
    """
    path = Path(path)
    n = len(scene)
    labels = checked_instance_ids(labels, n)
    if confidence is not None:
        confidence = _check_confidence(confidence, n)
    table = instance_table(labels, scene.means, instances)
    sidecar = sidecar_path(path)
    check_output_path(path, overwrite=overwrite, input_path=input_path)
    extras = dict(scene.extras)
    extras[INSTANCE_COLUMN] = labels
    if confidence is not None:
        extras[CONFIDENCE_COLUMN] = confidence
    document = {
        "format": SIDECAR_FORMAT,
        "format_version": SIDECAR_VERSION,
        "liftstudio_version": __version__,
        "created": datetime.now(UTC).isoformat(timespec="seconds"),
        "ply": path.name,
        "column": INSTANCE_COLUMN,
        "confidence_column": CONFIDENCE_COLUMN if confidence is not None else None,
        "gaussians": n,
        "labeled": int(np.count_nonzero(labels)),
        "unlabeled": int(n - np.count_nonzero(labels)),
        "provenance": dict(provenance) if provenance is not None else None,
    }
    text = _sidecar_text(document, [info.to_json() for info in table])
    with atomic_output(sidecar, overwrite=overwrite) as tmp:
        tmp.write_text(text, encoding="utf-8")
        write_ply(replace(scene, extras=extras), path, overwrite=overwrite)
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

    Raises
    ------
    InputFileError
        When the file has no such column, its values are not non-negative integers,
        or the sidecar is unreadable.
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
    document = _read_sidecar(sidecar) if sidecar.is_file() else None
    notes = []
    confidence = None
    drop = {column}
    specs: dict[int, dict[str, Any]] = {}
    if document is not None:
        confidence_column = document.get("confidence_column")
        if confidence_column in scene.extras:
            confidence = np.asarray(scene.extras[confidence_column], dtype=np.float32)
            drop.add(confidence_column)
        specs = _sidecar_specs(sidecar, document)
        if document.get("gaussians") != len(scene):
            notes.append(
                f"{sidecar.name} describes {document.get('gaussians')} Gaussians but "
                f"{path.name} has {len(scene):,}; counts and boxes were recomputed"
            )
    stripped = replace(
        scene, extras={k: v for k, v in scene.extras.items() if k not in drop}
    )  # fmt: skip
    return LabeledPly(
        scene=stripped,
        labels=labels,
        confidence=confidence,
        instances=instance_table(labels, scene.means, specs),
        provenance=document.get("provenance") if document else None,
        sidecar=sidecar if document is not None else None,
        notes=notes,
    )


def check_output_path(
    path: str | Path, *, overwrite: bool = False, input_path: str | Path | None = None
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

    Raises
    ------
    OutputFileError
        When ``path`` is not a ``.ply``, is ``input_path``, its folder is missing, or it
        or its sidecar exists and ``overwrite`` is false.
    """
    path = Path(path)
    if path.suffix.lower() != ".ply":
        raise OutputFileError(path, "a labeled PLY must end in .ply")
    if input_path is not None and _same_file(path, Path(input_path)):
        raise OutputFileError(path, "is the input scene; write the labels to a new file")
    if not path.parent.is_dir():
        raise OutputFileError(path, f"folder {path.parent} does not exist")
    if not overwrite:
        for target in (path, sidecar_path(path)):
            if target.exists():
                raise OutputFileError(
                    target, "already exists; choose another name or allow overwriting"
                )


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
    if not np.isfinite(confidence).all():
        raise SceneDataError("confidence holds NaN or inf")
    return confidence


def _same_file(a: Path, b: Path) -> bool:
    if a.exists() and b.exists():
        return os.path.samefile(a, b)
    return a.resolve() == b.resolve()


def _instance_specs(instances: Mapping[int, InstanceSpec] | None) -> dict[int, dict[str, Any]]:
    specs: dict[int, dict[str, Any]] = {}
    for key, value in (instances or {}).items():
        instance_id = int(key)
        if instance_id < 1 or instance_id != key:
            raise ValueError(f"instances: ids must be integers >= 1, got {key!r}")
        raw = {"name": value} if isinstance(value, str) else dict(value)
        spec: dict[str, Any] = {}
        if raw.get("name") is not None:
            spec["name"] = str(raw["name"])
        if raw.get("class") is not None:
            spec["class"] = str(raw["class"])
        if raw.get("colour") is not None:
            colour = tuple(int(c) for c in raw["colour"])
            if len(colour) != 3 or not all(0 <= c <= 255 for c in colour):
                raise ValueError(f"instances[{key}]: colour must be 3 values in 0..255")
            spec["colour"] = colour
        specs[instance_id] = spec
    return specs


# ---------------------------------------------------------------------------- sidecar
def _read_sidecar(sidecar: Path) -> dict[str, Any]:
    try:
        document = json.loads(sidecar.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise InputFileError(sidecar, f"cannot be read as JSON ({exc})") from None
    if not isinstance(document, dict) or document.get("format") != SIDECAR_FORMAT:
        raise InputFileError(sidecar, f"is not a LiftStudio instance sidecar ({SIDECAR_FORMAT})")
    return document


def _sidecar_specs(sidecar: Path, document: dict[str, Any]) -> dict[int, dict[str, Any]]:
    entries = document.get("instances") or []
    try:
        return _instance_specs({int(entry["id"]): entry for entry in entries})
    except (TypeError, KeyError, ValueError) as exc:
        raise InputFileError(sidecar, f"has a malformed instance table ({exc})") from None


def _sidecar_text(document: dict[str, Any], instances: list[dict[str, Any]]) -> str:
    """The sidecar JSON: fields indented, one line per instance."""
    head = json.dumps(document, indent=1, default=_json_default)
    rows = ",\n  ".join(json.dumps(entry) for entry in instances)
    table = f"[\n  {rows}\n ]" if instances else "[]"
    return f'{head[:-2]},\n "instances": {table}\n}}\n'


def _json_default(value: object) -> object:
    if isinstance(value, np.generic):
        return value.item()
    if isinstance(value, np.ndarray):
        return value.tolist()
    return str(value)


def _vec(values: np.ndarray) -> tuple[float, float, float]:
    # The shortest decimal that reads back as the same float32.
    return tuple(float(str(np.float32(v))) for v in values)
