"""What to export, read from a project (``.lsproj``) or from a labeled PLY.

:func:`load_export_source` gives one :class:`ExportSource` either way: the Gaussians
(every column of the scene file, bit-exact), the instance id and confidence of each,
the instance table (names, classes, colours, visibility, locks), how the labels were
made, and the files that must never be written (the scene, the project, the labeled
PLY and its sidecar, and once cameras are attached, their images and camera file).

A project is read as saved (an unsaved autosave is not used) and only on the scene
it was saved for: the scene it names is opened and its Gaussians must be the ones the
project labels. A labeled PLY has no cameras of its own; :func:`with_cameras` takes
them from a scene folder for the per-view exports.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import numpy as np

from liftstudio.errors import InputFileError
from liftstudio.export.label_table import model_instances
from liftstudio.export.labeled_ply import read_labeled_ply
from liftstudio.export.sidecar import sidecar_path
from liftstudio.labels.history import History
from liftstudio.labels.label_model import LabelModel
from liftstudio.labels.project import (
    PROJECT_SUFFIX,
    SceneInfo,
    autosave_path,
    backup_path,
    load_project,
)
from liftstudio.scene.camera import Camera, CameraSet
from liftstudio.scene.discovery import OpenedScene, open_scene, require_cameras, require_gaussians
from liftstudio.scene.gaussians import GaussianScene


@dataclass(frozen=True)
class ExportSource:
    """Labeled Gaussians ready to export.

    Attributes
    ----------
    path
        What was opened: the project or the labeled PLY.
    kind
        ``"project"`` or ``"labeled-ply"``.
    scene
        The Gaussians, every column of their file except label columns.
    labels : (N,) int32
        Instance id per Gaussian (0 = unlabeled).
    confidence : (N,) float32 or None
        Confidence of each id (NaN = unknown); None when the source has none.
    instances
        Id → ``{"name", "class", "colour", "visible", "locked"}``.
    provenance
        How the labels were made (JSON-able), or None.
    source
        The Gaussian file the columns come from (recorded in sidecars), or None.
    inputs
        Files an export must never write.
    scene_path
        The scene (folder or file) a project was saved for; None for a labeled PLY.
    cameras
        Training cameras, when known (a project's scene has them; see
        :func:`with_cameras`).
    rows : (N,) int64 or None
        Row of each Gaussian in the file it came from, once some were left out
        (:func:`~liftstudio.export.row_choices.apply_row_choices`); None = all, in order.
    notes
        What the reader noticed, one sentence each.
    """

    path: Path
    kind: str
    scene: GaussianScene
    labels: np.ndarray
    confidence: np.ndarray | None
    instances: dict[int, dict[str, Any]]
    provenance: dict[str, Any] | None
    source: str | None
    inputs: tuple[Path, ...]
    scene_path: Path | None = None
    cameras: list[Camera] | None = None
    rows: np.ndarray | None = None
    notes: list[str] = field(default_factory=list)

    @property
    def hidden_ids(self) -> set[int]:
        """Ids of the instances hidden in the app."""
        return {i for i, spec in self.instances.items() if spec.get("visible") is False}


def load_export_source(path: str | Path) -> ExportSource:
    """Read a project (``*.lsproj``) or a labeled PLY (with its sidecar, if any).

    Raises
    ------
    InputFileError
        Naming the file when it is missing, of another kind, unreadable, or a project
        whose scene is missing or holds other Gaussians.
    """
    path = Path(path)
    if not path.exists():
        raise InputFileError(path, "no such file; pass a project (.lsproj) or a labeled PLY")
    if path.is_dir():
        raise InputFileError(
            path, "is a folder; pass its project (liftstudio.lsproj) or a labeled PLY"
        )
    if path.name.endswith(PROJECT_SUFFIX):
        return _project_source(path)
    return _labeled_ply_source(path)


def with_cameras(source: ExportSource, scene: str | Path | None = None) -> ExportSource:
    """``source`` with its training cameras, for the per-view exports.

    Parameters
    ----------
    source
        From :func:`load_export_source`.
    scene
        A scene folder to take the cameras from; default: the project's own scene.

    Raises
    ------
    InputFileError
        When there is no scene to take cameras from (a labeled PLY without ``scene``)
        or it has no training cameras.
    """
    if scene is None and source.cameras is not None:
        return source
    where = scene if scene is not None else source.scene_path
    if where is None:
        raise InputFileError(
            source.path,
            "a labeled PLY holds no cameras: pass the scene folder it was made from "
            "(--scene DIR) for the per-view exports",
        )
    opened = open_scene(where)
    cameras = require_cameras(opened, "the per-view exports render the labels in them")
    notes = list(source.notes)
    total = len(source.rows) if source.rows is not None else len(source.scene)
    if source.rows is None and opened.gaussians is not None and len(opened.gaussians) != total:
        notes.append(
            f"{opened.path} holds {len(opened.gaussians):,} Gaussians, {source.path.name} "
            f"{total:,}: check that the cameras belong to these labels"
        )
    inputs = (*source.inputs, *_scene_inputs(opened))
    return replace(source, cameras=cameras, inputs=inputs, notes=notes)


def _project_source(path: Path) -> ExportSource:
    # Read once to learn the scene, then again against it: load_project checks that
    # the scene's Gaussians are the ones the project labels.
    saved = load_project(path, history=History(max_steps=1, max_bytes=1))
    if not saved.scene_path.exists():
        raise InputFileError(
            path,
            f"its scene {saved.scene_path} is missing (moved or deleted?); put the scene "
            "back beside the project",
        )
    try:
        opened = open_scene(saved.scene_path)
    except InputFileError as exc:
        raise InputFileError(
            path, f"its scene cannot be opened ({exc}); was the project moved without it?"
        ) from None
    require_gaussians(opened, "to export")
    loaded = load_project(path, SceneInfo.of(opened), history=History(max_steps=1, max_bytes=1))
    inputs = (path, backup_path(path), autosave_path(path))
    extra = {"project": str(path.resolve()), "saved": loaded.saved_at.isoformat()}
    return model_source(opened, loaded.model, path=path, inputs=inputs, provenance=extra)


def model_source(
    opened: OpenedScene,
    model: LabelModel,
    *,
    path: Path | None = None,
    inputs: tuple[Path, ...] = (),
    provenance: dict[str, Any] | None = None,
) -> ExportSource:
    """Labels held in memory (the app's document) as an export source.

    Parameters
    ----------
    opened
        The scene the labels belong to (its files become inputs never written).
    model
        The labels; copied, so edits after this call do not reach the export.
    path
        The project the labels are kept in, when there is one (else the scene).
    inputs
        More files an export must never write.
    provenance
        Entries added to the provenance (the project and when it was saved).
    """
    gaussians = require_gaussians(opened, "to export")
    names = model.provenance_names()
    labeled = model.ids > 0
    counts = np.bincount(model.provenance_codes[labeled], minlength=len(names))
    made = {
        **(provenance or {}),
        "labeled_by": {names[i]: int(c) for i, c in enumerate(counts) if c},
    }
    confidence = np.array(model.confidence, dtype=np.float32)
    return ExportSource(
        path=path if path is not None else opened.path,
        kind="project",
        scene=gaussians,
        labels=np.array(model.ids, dtype=np.int32),
        confidence=None if np.isnan(confidence).all() else confidence,
        instances=model_instances(model),
        provenance=made,
        source=str(opened.gaussians_path.resolve()) if opened.gaussians_path else None,
        inputs=(*inputs, *_scene_inputs(opened)),
        scene_path=opened.path,
        cameras=list(opened.cameras.train) if _has_training(opened.cameras) else None,
    )


def _labeled_ply_source(path: Path) -> ExportSource:
    labeled = read_labeled_ply(path)
    return ExportSource(
        path=path,
        kind="labeled-ply",
        scene=labeled.scene,
        labels=labeled.labels,
        confidence=labeled.confidence,
        instances={info.id: info.spec() for info in labeled.instances},
        provenance=labeled.provenance,
        # The columns other than the labels are the original file's, bit-exact.
        source=labeled.source if labeled.source is not None else str(path.resolve()),
        inputs=(path, sidecar_path(path)),
        notes=list(labeled.notes),
    )


def _scene_inputs(opened: OpenedScene) -> tuple[Path, ...]:
    """The scene's Gaussian file, camera file and training images."""
    files = [opened.gaussians_path] if opened.gaussians_path is not None else []
    if opened.cameras is not None:
        files.append(opened.cameras.source)
        files.extend(c.image_path for c in opened.cameras.all if c.image_path is not None)
    files.extend(opened.images.values())
    return tuple(files)


def _has_training(cameras: CameraSet | None) -> bool:
    return cameras is not None and bool(cameras.train)
