"""Keeping a scene's labels on disk: the project file, autosave and recovery.

The core (:mod:`liftstudio.labels.project`) writes and reads project files; this
object decides when. It autosaves a few seconds after edits stop being recent enough
(the :class:`~liftstudio.labels.project.Autosaver` policy, checked by a timer) and
right after each finished job; File → Save project writes the project itself and
drops the autosave. Opening a scene loads its project, or offers the autosave when it
is newer (a crash or a quit without saving).
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from PySide6.QtCore import QObject, QStandardPaths, QTimer, Signal

from liftstudio.app.document import SceneDocument
from liftstudio.errors import LiftStudioError
from liftstudio.labels import LabelModel
from liftstudio.labels.project import (
    Autosaver,
    LoadedProject,
    SceneInfo,
    discard_autosave,
    load_project,
    load_recovery,
    project_path,
    save_autosave,
    save_project,
)
from liftstudio.scene.discovery import OpenedScene

log = logging.getLogger(__name__)


@dataclass
class SavedLabels:
    """What is on disk for a scene: its project's labels and a newer autosave.

    Attributes
    ----------
    project
        Where the scene's project file is (or would be).
    scene
        The scene's identity (count and fingerprint of the means).
    labels
        The project's labels, or None without a project.
    recovered
        A newer autosave, loaded, or None.
    error
        Why the project could not be read, or None.
    settings, references
        The app settings and file references saved with the labels the document
        opened with (the project's, or the recovered autosave's once chosen).
    """

    project: Path
    scene: SceneInfo
    labels: LabelModel | None = None
    recovered: LoadedProject | None = None
    error: str | None = None
    settings: dict[str, Any] = field(default_factory=dict)
    references: dict[str, Path] = field(default_factory=dict)


def default_project_for(scene_path: Path) -> Path:
    """Beside the scene; for the built-in demo, in the user's app-data folder."""
    from liftstudio.evaluate.demo_scene import demo_dir

    if scene_path.resolve() == demo_dir().resolve():
        folder = Path(
            QStandardPaths.writableLocation(QStandardPaths.StandardLocation.AppDataLocation)
        )
        return folder / "demo.lsproj"
    return project_path(scene_path)


class ProjectKeeper(QObject):
    """Loads, autosaves and saves the projects of the documents the window shows.

    Parameters
    ----------
    locate
        Scene path → project file (default :func:`default_project_for`).
    ask_recovery
        Asked ``(autosave path) -> bool`` whether to recover a newer autosave.
    interval_s
        Autosave at most this often while editing.
    extras
        Called with the document when saving: ``(settings, references)`` to store
        with the labels (app settings as a JSON dict; name → path of files the
        project uses, such as the masks folder). None stores neither.

    Signals
    -------
    saved(object)
        A project or autosave file was written (its path).
    failed(str)
        Saving or loading failed (the message); the labels in memory are kept.
    """

    saved = Signal(object)
    failed = Signal(str)

    def __init__(
        self,
        *,
        locate: Callable[[Path], Path] = default_project_for,
        ask_recovery: Callable[[Path], bool] = lambda _path: True,
        interval_s: float = 60.0,
        extras: Callable[[SceneDocument], tuple[dict[str, Any], dict[str, Path]]] | None = None,
        parent: QObject | None = None,
    ) -> None:
        super().__init__(parent)
        self.locate = locate
        self.extras = extras
        self.ask_recovery = ask_recovery
        self.enabled = True
        self._interval = interval_s
        self._document: SceneDocument | None = None
        self._scene: SceneInfo | None = None
        self._autosaver = Autosaver(interval_s)
        self._timer = QTimer(self, interval=2000)
        self._timer.timeout.connect(self._tick)

    # ------------------------------------------------------------------ opening
    def read_saved(self, opened: OpenedScene) -> SavedLabels:
        """Read the scene's project and any newer autosave (slow: call it off the UI thread)."""
        project = self.locate(Path(opened.path))
        scene = SceneInfo.of(opened)
        saved = SavedLabels(project, scene)
        try:
            saved.recovered = load_recovery(project, scene)
            if project.is_file():
                loaded = load_project(project, scene)
                saved.labels = loaded.model
                saved.settings, saved.references = loaded.settings, loaded.references
        except LiftStudioError as exc:
            saved.error = f"{exc} (the scene opens without its saved labels)"
        return saved

    def open_document(
        self, opened: OpenedScene, saved: SavedLabels | None = None, parent: QObject | None = None
    ) -> SceneDocument:
        """A document for ``opened`` with its saved labels, or the recovered ones if wanted.

        ``saved`` is :meth:`read_saved`'s result (read here when not given).
        """
        saved = saved or self.read_saved(opened)
        if saved.error:
            self.failed.emit(saved.error)
        labels = saved.labels
        if saved.recovered is not None and self.ask_recovery(saved.recovered.path):
            labels = saved.recovered.model
            saved.settings = saved.recovered.settings
            saved.references = saved.recovered.references
        document = SceneDocument(opened, parent, labels=labels, project=saved.project)
        self.watch(document, saved.scene)
        return document

    def watch(self, document: SceneDocument | None, scene: SceneInfo | None = None) -> None:
        """Autosave ``document`` from now on (None stops)."""
        if self._document is not None:
            self._document.labelsChanged.disconnect(self._edited)
            self._document.instancesChanged.disconnect(self._edited)
        self._document = document
        self._autosaver = Autosaver(self._interval)
        if document is None:
            self._timer.stop()
            return
        self._scene = scene or SceneInfo.of(document.opened)
        document.labelsChanged.connect(self._edited)
        document.instancesChanged.connect(self._edited)
        self._timer.start()

    @property
    def dirty(self) -> bool:
        """Whether there are edits no file holds yet."""
        return self._autosaver.dirty

    # ------------------------------------------------------------------ saving
    def save(self) -> Path | None:
        """Write the project file (and drop the autosave); its path, or None on failure."""
        document = self._document
        if document is None or document.project is None:
            return None
        try:
            document.project.parent.mkdir(parents=True, exist_ok=True)
            path = save_project(
                document.project, document.labels, scene=self._scene, **self._extras(document)
            )
            discard_autosave(document.project)
        except (LiftStudioError, OSError) as exc:
            self.failed.emit(str(exc))
            return None
        self._autosaver.saved(time.monotonic())
        self.saved.emit(path)
        return path

    def autosave(self) -> Path | None:
        """Write the autosave now if there are unsaved edits."""
        document = self._document
        if not self.enabled or document is None or document.project is None:
            return None
        if not self._autosaver.dirty:
            return None
        edits = self._autosaver.edits
        try:
            document.project.parent.mkdir(parents=True, exist_ok=True)
            path = save_autosave(
                document.project, document.labels, scene=self._scene, **self._extras(document)
            )
        except (LiftStudioError, OSError) as exc:
            self.failed.emit(f"autosave failed: {exc}")
            return None
        self._autosaver.saved(time.monotonic(), edits=edits)
        self.saved.emit(path)
        return path

    def _extras(self, document: SceneDocument) -> dict[str, Any]:
        if self.extras is None:
            return {}
        settings, references = self.extras(document)
        return {"settings": settings, "references": references}

    def mark_edited(self) -> None:
        """Note a change the labels do not show (settings, references) for the autosave."""
        self._autosaver.mark_dirty()

    def _edited(self, *_args) -> None:
        self._autosaver.mark_dirty()

    def _tick(self) -> None:
        if self._autosaver.due(time.monotonic()):
            self.autosave()
