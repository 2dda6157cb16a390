"""The main window: welcome page or viewport in the middle, dock panels around it.

Everything slow (opening a scene, lifting) runs as a background job; the window only
starts jobs and applies their results. A cancelled or failed lift leaves the labels as
they were; a failed job shows its error in a dialog and in the Jobs panel's log.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass, replace
from pathlib import Path

import numpy as np
from PySide6.QtCore import QSettings, Qt, Signal
from PySide6.QtGui import QAction, QDragEnterEvent, QDropEvent, QKeySequence
from PySide6.QtWidgets import (
    QDockWidget,
    QFileDialog,
    QLabel,
    QMainWindow,
    QMessageBox,
    QStackedWidget,
    QWidget,
)

from liftstudio import __version__
from liftstudio.app.document import SceneDocument
from liftstudio.app.instance_actions import InstanceActions, check_unlocked
from liftstudio.app.jobs import Job, JobQueue, JobsPanel, show_job_error
from liftstudio.app.lift_dialog import LiftDialog, LiftRequest
from liftstudio.app.masks_dialog import MaskRequest, MasksDialog
from liftstudio.app.panels import InstancesPanel, ScenePanel, ViewsPanel
from liftstudio.app.panels.qa_panel import QaPanel
from liftstudio.app.project_keeper import ProjectKeeper, default_project_for
from liftstudio.app.recent_files import RecentFiles
from liftstudio.app.scribble import ScribbleResult, scribble_scores
from liftstudio.app.selection_actions import SelectionActions
from liftstudio.app.tool_bar import ToolBar
from liftstudio.app.viewport.gl_viewport import SplatViewport
from liftstudio.app.welcome import WelcomePage
from liftstudio.errors import LiftStudioError
from liftstudio.jobs import CancelToken, ProgressCallback, check_cancelled
from liftstudio.labels import region_select
from liftstudio.scene.camera import Camera
from liftstudio.scene.discovery import open_scene

log = logging.getLogger(__name__)

VIEWPORT_SHORTCUTS = (
    ("Left drag", "Orbit (with a tool: draw its shape; right drag orbits)"),
    ("Right / middle drag, Shift+left", "Pan"),
    ("Wheel", "Zoom"),
    ("Double-click", "Orbit about the point under the cursor"),
    ("W A S D, Q E", "Fly (Shift: faster)"),
    ("F / Shift+F", "Frame the selection / reset the view"),
    ("Esc, C, R, L, B, G, P", "Navigate, Click, Rect, Lasso, Brush, Scribble, SAM click tools"),
    ("Tools in the Views panel", "Every tool also works on the training view shown there"),
    ("Shift / Ctrl / Ctrl+Shift", "With a tool: add / subtract / intersect"),
    ("[ ]", "Brush size"),
    ("Ctrl+O, Ctrl+S, Ctrl+L, Ctrl+E", "Open, save project, lift masks, export labels"),
)


def shortcut_rows(window: MainWindow) -> list[tuple[str, str]]:
    """Every shortcut of the window, viewport first (Help and the README show them)."""
    return [
        *VIEWPORT_SHORTCUTS,
        *window.instance_actions.shortcut_table(),
        *window.selection_actions.shortcut_table(),
    ]


SPLIT_MIN_SIZE = 50
"""Parts of fewer Gaussians stay in their instance when splitting (floaters)."""

POINT_MODE_ABOVE = 3_000_000
"""Scenes with more Gaussians open in point mode (the Scene panel switches it off)."""

SCENE_FILE_FILTER = "Gaussian splats (*.ply *.splat *.compressed.ply);;All files (*)"


@dataclass(frozen=True)
class ScoredSelection:
    """A scribble's or SAM click's scores, kept so the threshold slider can re-cut them.

    Attributes
    ----------
    cut
        Threshold → the sorted indices of the Gaussians scoring at least that.
    base
        The selection when the tool was used.
    combine
        How the cut joins ``base`` (the modifiers held: replace, add, ...).
    threshold
        The cut first applied.
    """

    cut: Callable[[float], np.ndarray]
    base: np.ndarray
    combine: str
    threshold: float

    def indices(self, threshold: float) -> np.ndarray:
        """The selection at ``threshold``."""
        return region_select.combine(self.base, self.cut(threshold), self.combine)


class MainWindow(QMainWindow):
    """LiftStudio's main window.

    Parameters
    ----------
    settings
        Where recent files and the window layout are kept (default: the user's).

    Signals
    -------
    documentChanged(object)
        A scene was opened (the new :class:`SceneDocument`) or closed (None).
    labelsApplied(object)
        A finished lift's labels are now in the document (the job's result).
    """

    documentChanged = Signal(object)
    labelsApplied = Signal(object)

    def __init__(
        self,
        settings: QSettings | None = None,
        parent: QWidget | None = None,
        *,
        project_locator=None,
    ) -> None:
        super().__init__(parent)
        self.setWindowTitle("LiftStudio")
        self.resize(1280, 800)
        self.setAcceptDrops(True)
        self.settings = settings or QSettings("LiftStudio", "LiftStudio")
        self.recent = RecentFiles(self.settings, parent=self)
        self.document: SceneDocument | None = None
        self._last_masks: Path | None = None
        self.jobs = JobQueue(self)
        self.projects = ProjectKeeper(
            locate=project_locator or default_project_for,
            ask_recovery=self._ask_recovery,
            extras=self._project_extras,
            parent=self,
        )
        self.projects.failed.connect(lambda message: self.statusBar().showMessage(message, 15_000))
        self.projects.saved.connect(
            lambda path: self.statusBar().showMessage(f"saved {path}", 5000)
        )
        self.viewport = SplatViewport()
        self.welcome = WelcomePage(self.recent)
        self.centre = QStackedWidget()
        self.centre.addWidget(self.welcome)
        self.centre.addWidget(self.viewport)
        self.setCentralWidget(self.centre)
        self.scene_panel = ScenePanel()
        self.views_panel = ViewsPanel()
        self.instances_panel = InstancesPanel()
        self.jobs_panel = JobsPanel(self.jobs)
        self.qa_panel = QaPanel()
        self.docks = {
            "Scene": self._dock("Scene", self.scene_panel, Qt.DockWidgetArea.LeftDockWidgetArea),
            "Instances": self._dock(
                "Instances", self.instances_panel, Qt.DockWidgetArea.LeftDockWidgetArea
            ),
            "Views": self._dock("Views", self.views_panel, Qt.DockWidgetArea.RightDockWidgetArea),
            "Jobs": self._dock("Jobs", self.jobs_panel, Qt.DockWidgetArea.BottomDockWidgetArea),
            "QA": self._dock("QA", self.qa_panel, Qt.DockWidgetArea.RightDockWidgetArea),
        }
        self.tabifyDockWidget(self.docks["Views"], self.docks["QA"])
        self.docks["Views"].raise_()
        self.tool_bar = ToolBar(self.viewport.tools, self)
        self.addToolBar(self.tool_bar)
        self._scored: ScoredSelection | None = None
        self._sam_predictor: tuple[tuple, object] | None = None
        self.tabifyDockWidget(self.docks["Scene"], self.docks["Instances"])
        self.docks["Instances"].raise_()
        self.resizeDocks(
            [self.docks["Scene"], self.docks["Views"]], [270, 330], Qt.Orientation.Horizontal
        )
        self.resizeDocks([self.docks["Jobs"]], [120], Qt.Orientation.Vertical)
        self._status_scene = QLabel()
        self._status_gl = QLabel()
        self.statusBar().addWidget(self._status_scene, 1)
        self.statusBar().addPermanentWidget(self._status_gl)
        self.instance_actions = InstanceActions(self, self.instances_panel)
        self.selection_actions = SelectionActions(self, self.jobs)
        self._build_menus()
        self._connect()
        self._set_document(None)

    # ------------------------------------------------------------------ layout
    def _dock(self, title: str, widget: QWidget, area: Qt.DockWidgetArea) -> QDockWidget:
        dock = QDockWidget(title, self)
        dock.setObjectName(f"dock-{title.lower()}")
        dock.setWidget(widget)
        self.addDockWidget(area, dock)
        return dock

    def _build_menus(self) -> None:
        file_menu = self.menuBar().addMenu("&File")
        self._action(
            file_menu, "&Open scene file…", self.choose_file, QKeySequence.StandardKey.Open
        )
        self._action(file_menu, "Open scene &folder…", self.choose_folder, "Ctrl+Shift+O")
        self._action(file_menu, "Open &demo", self.open_demo)
        self.recent_menu = file_menu.addMenu("&Recent scenes")
        self.recent.changed.connect(self._fill_recent_menu)
        self._fill_recent_menu()
        file_menu.addSeparator()
        self.save_action = self._action(
            file_menu, "&Save project", self.save_project, QKeySequence.StandardKey.Save
        )
        self.export_action = self._action(
            file_menu, "&Export labels…", self.choose_export, "Ctrl+E"
        )
        self.export_selection_action = self._action(
            file_menu, "Export se&lection as PLY…", self.choose_selection_export
        )
        self.close_action = self._action(file_menu, "&Close scene", self.close_scene, "Ctrl+W")
        self._action(file_menu, "&Quit", self.close, QKeySequence.StandardKey.Quit)
        edit_menu = self.menuBar().addMenu("&Edit")
        for action in self.instance_actions.edit_menu_actions:
            edit_menu.addAction(action)
        instances_menu = self.instance_actions.menu
        instances_menu.addSeparator()
        self.split_action = self._action(
            instances_menu, "S&plit into connected parts", self.split_instances
        )
        self.split_action.setStatusTip(
            "Each spatially separate part of the selected instances becomes its own instance"
        )
        self.menuBar().addMenu(instances_menu)
        self.menuBar().addMenu(self.selection_actions.menu)
        lift_menu = self.menuBar().addMenu("&Lift")
        self.lift_action = self._action(lift_menu, "&Lift masks…", self.choose_lift, "Ctrl+L")
        self.masks_action = self._action(lift_menu, "&Generate masks…", self.choose_masks)
        view_menu = self.menuBar().addMenu("&View")
        self._action(view_menu, "&Frame selection", self.viewport.frame_selection, "F")
        self._action(view_menu, "&Reset view", self.viewport.reset_view, "Shift+F")
        view_menu.addSeparator()
        for dock in self.docks.values():
            view_menu.addAction(dock.toggleViewAction())
        help_menu = self.menuBar().addMenu("&Help")
        self._action(help_menu, "&Controls and shortcuts", self.show_controls)
        self._action(help_menu, "&About LiftStudio", self.show_about)

    def _action(self, menu, text: str, slot, shortcut=None) -> QAction:
        action = QAction(text, self)
        if shortcut is not None:
            action.setShortcut(QKeySequence(shortcut))
            action.setShortcutContext(Qt.ShortcutContext.WindowShortcut)
        action.triggered.connect(lambda _checked=False: slot())
        menu.addAction(action)
        return action

    def _fill_recent_menu(self) -> None:
        self.recent_menu.clear()
        paths = self.recent.paths()
        for path in paths:
            action = self.recent_menu.addAction(str(path))
            action.triggered.connect(lambda _checked=False, p=path: self.open_path(p))
        if not paths:
            self.recent_menu.addAction("(none)").setEnabled(False)
        else:
            self.recent_menu.addSeparator()
            self.recent_menu.addAction("Clear list").triggered.connect(self.recent.clear)

    def _connect(self) -> None:
        self.welcome.openFileRequested.connect(self.choose_file)
        self.welcome.openFolderRequested.connect(self.choose_folder)
        self.welcome.openDemoRequested.connect(self.open_demo)
        self.welcome.openPathRequested.connect(self.open_path)
        self.scene_panel.settingsChanged.connect(self.viewport.set_settings)
        self.scene_panel.settingsChanged.connect(self.projects.mark_edited)
        self.views_panel.snapRequested.connect(self.snap_to_training_camera)
        self.viewport.glInfo.connect(self._status_gl.setText)
        self.jobs.jobAdded.connect(self._watch_job)
        self.views_panel.set_tools(self.viewport.tools)
        self.viewport.tools.scribbled.connect(self.start_scribble_selection)
        self.viewport.tools.samClicked.connect(self.start_sam_click)
        self.viewport.tools.hint.connect(lambda text: self.statusBar().showMessage(text, 8000))
        self.tool_bar.thresholdChanged.connect(self._rethreshold)
        self.qa_panel.checkRequested.connect(self.start_consistency_check)
        self.qa_panel.jumpRequested.connect(self._jump_to)

    # ------------------------------------------------------------------ opening
    def choose_file(self) -> None:
        """Ask for a splat file and open it."""
        path, _ = QFileDialog.getOpenFileName(self, "Open scene file", "", SCENE_FILE_FILTER)
        if path:
            self.open_path(Path(path))

    def choose_folder(self) -> None:
        """Ask for a scene folder (3DGS output, COLMAP, nerfstudio) and open it."""
        path = QFileDialog.getExistingDirectory(self, "Open scene folder")
        if path:
            self.open_path(Path(path))

    def open_demo(self, *, lift: bool = True) -> Job:
        """Open the built-in demo scene and, with ``lift``, lift its masks right away."""
        from liftstudio.evaluate.demo_scene import DEMO_NOISE, demo_dir

        folder = demo_dir()
        masks = folder / "masks" / DEMO_NOISE
        then = (lambda: self.start_lift(LiftRequest(masks, "vote"))) if lift else None
        return self.open_path(folder, then=then, remember=False)

    def open_path(self, path: str | Path, *, then=None, remember: bool = True) -> Job:
        """Open a scene in the background; the current one stays until it has loaded.

        Parameters
        ----------
        path
            A splat file or a scene folder.
        then
            Called (without arguments) once the scene is shown.
        remember
            Add it to the recent files.
        """
        path = Path(path)

        def load(progress: ProgressCallback, cancel: CancelToken):
            progress(0, 2, f"reading {path}")
            opened = open_scene(path)
            if opened.gaussians is None:
                from liftstudio.errors import InputFileError

                raise InputFileError(path, "holds no trained Gaussians (only cameras or images)")
            progress(1, 2, f"{len(opened.gaussians):,} Gaussians; reading saved labels")
            opened, imported = _labels_in_file(opened)
            saved = self.projects.read_saved(opened)
            if imported is not None and saved.labels is None and saved.recovered is None:
                saved.labels = imported  # a labeled PLY without a project: its own labels
            progress(2, 2, "done")
            return opened, saved

        def show(result) -> None:
            opened, saved = result
            self._set_document(self.projects.open_document(opened, saved, self))
            self._restore_project_extras(saved.settings, saved.references)
            if remember:
                self.recent.add(path)
            if then is not None:
                then()

        return self.jobs.submit(f"Open {path.name}", load, on_success=show)

    def close_scene(self) -> None:
        """Close the open scene (back to the welcome page); unsaved edits are autosaved."""
        self.projects.autosave()
        self._set_document(None)

    def save_project(self) -> Path | None:
        """Write the open scene's project file (labels, instances, history)."""
        return self.projects.save()

    def _project_extras(self, document: SceneDocument) -> tuple[dict, dict[str, Path]]:
        """What a project keeps besides the labels: view settings and the masks used."""
        options = self.viewport.tools.options
        settings = {
            "viewport": self.scene_panel.settings().to_json(),
            "tools": {"depth_mode": options.depth_mode, "brush_radius": options.brush_radius},
        }
        masks = self._last_masks or self.views_panel.masks_folder()
        return settings, ({"masks": masks} if masks is not None else {})

    def _restore_project_extras(self, settings: dict, references: dict[str, Path]) -> None:
        """Apply what :meth:`_project_extras` saved (missing or odd values are skipped)."""
        from liftstudio.app.viewport.settings import ViewportSettings

        if "viewport" in settings:
            viewport = ViewportSettings.from_json(settings["viewport"])
            self.scene_panel.set_settings(viewport)
            self.viewport.set_settings(viewport)
        tools = settings.get("tools")
        if isinstance(tools, dict):
            self.tool_bar.restore_options(tools)
        masks = references.get("masks")
        if masks is not None and Path(masks).is_dir():
            try:
                self.views_panel.set_masks_folder(masks)
            except LiftStudioError as exc:
                log.info("saved masks folder not used: %s", exc)
            else:
                self._last_masks = Path(masks)
        elif masks is not None:
            self.statusBar().showMessage(f"the project's masks folder {masks} is gone", 10_000)

    def _ask_recovery(self, autosave: Path) -> bool:
        answer = QMessageBox.question(
            self, "Recover unsaved labels?",
            f"{autosave.name} holds edits newer than the saved project (LiftStudio was "
            "closed or stopped before saving). Recover them?",
        )  # fmt: skip
        return answer == QMessageBox.StandardButton.Yes

    def _set_document(self, document: SceneDocument | None) -> None:
        old = self.document
        self.document = document
        self.viewport.set_document(document)
        self.scene_panel.set_document(document)
        self.views_panel.set_document(document)
        if document is not None and document.train_cameras:
            self.views_panel.select_camera(0)
        self.instances_panel.set_document(document)
        self.instance_actions.set_document(document)
        self.selection_actions.set_document(document)
        self.centre.setCurrentWidget(self.viewport if document else self.welcome)
        if document is not None and len(document.gaussians) > POINT_MODE_ABOVE:
            points = replace(self.scene_panel.settings(), point_mode=True)
            self.scene_panel.set_settings(points)
            self.viewport.set_settings(points)
        self.close_action.setEnabled(document is not None)
        self.save_action.setEnabled(document is not None)
        self.split_action.setEnabled(document is not None)
        self.export_action.setEnabled(document is not None)
        self.export_selection_action.setEnabled(document is not None)
        if document is None:
            self.projects.watch(None)
        self.lift_action.setEnabled(document is not None)
        self.masks_action.setEnabled(document is not None and bool(document.train_cameras))
        self._last_masks = None
        self._scored = None
        self.tool_bar.set_threshold_range(None)
        self.tool_bar.set_segments_available(False)
        self.tool_bar.set_sam_available(sam_click_unavailable())
        self.qa_panel.set_report(None, [])
        if document is None:
            self.setWindowTitle("LiftStudio")
            self._status_scene.setText("No scene open")
        else:
            self.setWindowTitle(f"{document.title} — LiftStudio")
            self._status_scene.setText(
                f"{document.path}: {len(document.gaussians):,} Gaussians, "
                f"{len(document.train_cameras)} training cameras"
            )
        if old is not None:
            old.close()
            old.deleteLater()
        self.documentChanged.emit(document)

    def snap_to_training_camera(self, index: int) -> None:
        """Look through training camera ``index``."""
        if self.document is not None and 0 <= index < len(self.document.train_cameras):
            self.viewport.snap_to_camera(self.document.train_cameras[index])

    # ------------------------------------------------------------------ lifting
    def choose_lift(self) -> None:
        """Ask which masks and method to lift with, then start the job."""
        if self.document is None:
            return
        masks = self._last_masks
        if masks is None and self.document.path.is_dir():
            masks = self.document.path / "masks"
        dialog = LiftDialog(self, masks=masks if masks and masks.is_dir() else None)
        if dialog.exec() == LiftDialog.DialogCode.Accepted:
            self.start_lift(dialog.request())

    def start_lift(self, request: LiftRequest) -> Job:
        """Lift ``request.masks`` onto the open scene in the background.

        The labels are replaced only when the job succeeds and the same scene is still
        open; cancelling or failing leaves them untouched.
        """
        from liftstudio.lift.scene_lift import configured_method, prepare_lift

        document = self.document
        if document is None:
            raise RuntimeError("open a scene before lifting")
        opened = document.opened

        def lift(progress: ProgressCallback, cancel: CancelToken):
            method = configured_method(request.method, steps=request.steps)
            prepared = prepare_lift(
                opened, request.masks, method_name=request.method,
                mask_format=request.mask_format, progress=progress,
            )  # fmt: skip
            for note in prepared.notes:
                progress(0, 1, note.strip())
            return method(prepared.inputs, progress=progress, cancel=cancel)

        def apply(output) -> None:
            if self.document is not document:
                log.info("lift finished after its scene was closed; result dropped")
                return
            document.labels.replace_all(
                output.labels, confidence=output.confidence, source=f"lift:{request.method}"
            )
            document.segments = output.segments
            self.tool_bar.set_segments_available(output.segments is not None)
            self.views_panel.set_masks_folder(request.masks)
            self.projects.autosave()
            self.labelsApplied.emit(output)

        return self.jobs.submit(f"Lift ({request.method}) {request.masks.name}", lift,
                                on_success=apply)  # fmt: skip

    def choose_masks(self) -> None:
        """Ask which segmenter to run on the training views, then start the job."""
        if self.document is None:
            return
        dialog = MasksDialog(self.document.path, self)
        if dialog.exec() == MasksDialog.DialogCode.Accepted:
            self.start_mask_generation(dialog.request())

    def start_mask_generation(self, request: MaskRequest) -> Job:
        """Segment every training view in the background and write label maps.

        Nothing is written before every view is done; the folder then becomes the
        Views panel's mask overlay and the Lift dialog's default.
        """
        from liftstudio.sources.scene_masks import scene_masks
        from liftstudio.sources.source_cache import MaskCache
        from liftstudio.user_config import load_user_config

        document = self.document
        if document is None:
            raise RuntimeError("open a scene before generating masks")
        opened = document.opened

        def generate(progress: ProgressCallback, cancel: CancelToken):
            checkpoint = request.checkpoint
            if request.source == "sam" and checkpoint is None:
                checkpoint = load_user_config().sam_checkpoint
            return scene_masks(
                opened, request.source, request.out, checkpoint=checkpoint,
                cache=MaskCache(), progress=progress, cancel=cancel,
            )  # fmt: skip

        def done(result) -> None:
            if self.document is not document:
                return
            self._last_masks = result.folder
            self.views_panel.set_masks_folder(result.folder)
            self.projects.mark_edited()
            for note in result.notes:
                log.info("masks: %s", note)
            self.statusBar().showMessage(
                f"{result.views} views segmented ({result.masks_per_view:.1f} masks per view) "
                f"into {result.folder}; Lift → Lift masks… uses them",
                15_000,
            )

        return self.jobs.submit(f"Masks ({request.source})", generate, on_success=done)

    # ------------------------------------------------------------------ scored tools
    def start_scribble_selection(
        self, camera: Camera, mask: np.ndarray, combine: str = "replace"
    ) -> Job | None:
        """Select the object under a scribble by graph diffusion, in the background.

        The result joins the selection as the modifiers said (``combine``); the tool
        bar's threshold slider then re-cuts the diffusion scores without running it
        again.
        """
        document = self.document
        if document is None or not mask.any():
            return None
        gaussians = document.gaussians

        def diffuse(progress: ProgressCallback, cancel: CancelToken):
            return scribble_scores(gaussians, camera, mask, progress=progress, cancel=cancel)

        def show(result: ScribbleResult) -> None:
            def cut(threshold: float) -> np.ndarray:
                return np.flatnonzero(result.selection.with_threshold(threshold).mask)

            self._apply_scored(document, cut, combine, result.selection.threshold)

        return self.jobs.submit("Scribble selection", diffuse, on_success=show)

    def start_sam_click(
        self, camera: Camera, x: float, y: float, combine: str = "replace"
    ) -> Job | None:
        """Segment the object at ``(x, y)`` of a training view with SAM, in every view.

        SAM segments the clicked view; that mask is lifted, rendered into every
        training view to prompt SAM there (LUDVIG's SAM mode), and the averaged masks
        are lifted into per-Gaussian scores, cut by the threshold slider.
        """
        from liftstudio.lift.sam_click import load_click_predictor, sam_click_scores
        from liftstudio.render.registry import resolve_backend
        from liftstudio.sources.images import scene_training_images
        from liftstudio.user_config import load_user_config

        document = self.document
        if document is None:
            return None
        cameras = document.train_cameras
        view = _camera_index(cameras, camera)
        if view is None:
            self.statusBar().showMessage("SAM click works on training views only", 8000)
            return None
        reason = sam_click_unavailable()
        if reason is not None:
            QMessageBox.information(self, "SAM click", reason)
            return None
        config = load_user_config()
        key = (config.sam_checkpoint, config.sam_model_type)
        cached = (
            self._sam_predictor[1]
            if self._sam_predictor and self._sam_predictor[0] == key
            else None
        )
        opened, gaussians = document.opened, document.gaussians

        def segment(progress: ProgressCallback, cancel: CancelToken):
            predictor = cached
            if predictor is None:
                progress(0, 1, f"loading SAM from {config.sam_checkpoint}")
                predictor = load_click_predictor(config.sam_checkpoint, config.sam_model_type)
            images = scene_training_images(opened, cameras).images
            result = sam_click_scores(
                resolve_backend("auto"), gaussians, cameras, images, view, (x, y), predictor,
                progress=progress, cancel=cancel,
            )  # fmt: skip
            return result, predictor

        def show(outcome) -> None:
            result, predictor = outcome
            self._sam_predictor = (key, predictor)
            self._apply_scored(document, result.selection, combine, result.threshold)

        return self.jobs.submit(f"SAM click on {camera.name}", segment, on_success=show)

    def _apply_scored(
        self, document: SceneDocument, cut: Callable[[float], np.ndarray], combine: str,
        threshold: float,
    ) -> None:  # fmt: skip
        if self.document is not document:
            return
        base = document.selection.indices()
        self._scored = ScoredSelection(cut, base, combine, threshold)
        self.tool_bar.set_threshold_range(threshold)
        document.selection.replace(self._scored.indices(threshold))

    def _rethreshold(self, threshold: float) -> None:
        if self._scored is None or self.document is None:
            return
        self.document.selection.replace(self._scored.indices(threshold))

    # ------------------------------------------------------------------ export
    def choose_export(self) -> None:
        """Ask which formats to export where, then start the job."""
        from liftstudio.app.export_dialog import ExportDialog

        if self.document is None:
            return
        dialog = ExportDialog(
            self.document.path, has_cameras=bool(self.document.train_cameras), parent=self
        )
        if dialog.exec() != ExportDialog.DialogCode.Accepted:
            return
        try:
            request = dialog.request()
        except LiftStudioError as exc:
            self.instance_actions.show_error(str(exc))
            return
        self.start_export(request)

    def start_export(self, request) -> Job | None:
        """Export the labels as they are now (a copy: edits while it runs do not count).

        ``request`` is an :class:`~liftstudio.export.export_job.ExportRequest`, as
        ``liftstudio export`` builds; the same checks run first (inputs are never
        written, existing exports are kept unless asked, free space).
        """
        from liftstudio.export.export_job import run_export

        document = self.document
        if document is None:
            return None
        source = _export_source(document)

        def export(progress: ProgressCallback, cancel: CancelToken):
            return run_export(source, request, progress=progress, cancel=cancel)

        def done(results) -> None:
            lines = [result.summary for result in results]
            for result in results:
                for note in result.notes:
                    log.info("export: %s", note)
            self.statusBar().showMessage("; ".join(lines), 15_000)

        return self.jobs.submit(f"Export to {request.out.name}", export, on_success=done)

    def choose_selection_export(self) -> None:
        """Ask for a file and write the selected Gaussians to it as a PLY."""
        if self.document is None:
            return
        if not len(self.document.selection.indices()):
            self.statusBar().showMessage("Select Gaussians first", 5000)
            return
        path, _ = QFileDialog.getSaveFileName(self, "Export selection as PLY", "", "PLY (*.ply)")
        if path:
            self.start_selection_export(Path(path))

    def start_selection_export(self, path: Path, *, overwrite: bool = False) -> Job | None:
        """Write the selected Gaussians (every column of the scene) to ``path``."""
        from liftstudio.export.selection_ply import write_selection_ply

        document = self.document
        if document is None:
            return None
        chosen = document.selection.indices()
        source = _export_source(document)

        def export(progress: ProgressCallback, cancel: CancelToken):
            return write_selection_ply(
                source.scene, chosen, path, overwrite=overwrite, protected=source.inputs
            )

        def done(written) -> None:
            self.statusBar().showMessage(f"wrote {len(chosen):,} Gaussians to {written}", 10_000)

        return self.jobs.submit(f"Export selection to {path.name}", export, on_success=done)

    # ------------------------------------------------------------------ split
    def split_instances(self, *, min_size: int = SPLIT_MIN_SIZE) -> Job | None:
        """Split the selected instances into their connected parts, in the background.

        The parts (a kNN graph of each instance's centres, cut at long gaps) are found
        on a worker thread; the new instances are made in one undo step per instance
        when the job ends. Parts smaller than ``min_size`` Gaussians stay where they
        are (floaters do not become instances).
        """
        from liftstudio.labels.split import apply_split, connected_parts

        document = self.document
        if document is None:
            return None
        ids = self.instance_actions.target_ids()
        try:
            check_unlocked(document.labels, ids)
        except LiftStudioError as exc:
            self.instance_actions.show_error(str(exc))
            return None
        if not ids:
            return None
        members = {i: document.labels.members(i) for i in ids}
        means = document.gaussians.means

        def find_parts(progress: ProgressCallback, cancel: CancelToken):
            parts = {}
            for done, (instance_id, indices) in enumerate(members.items()):
                progress(done, len(members), f"finding the parts of instance {instance_id}")
                parts[instance_id] = connected_parts(means, indices)
                check_cancelled(cancel)
            return parts

        def apply(parts) -> None:
            if self.document is not document:
                return
            made: list[int] = []
            try:
                for instance_id, found in parts.items():
                    made += apply_split(document.labels, instance_id, found, min_size=min_size)
            except (LiftStudioError, ValueError) as exc:
                self.instance_actions.show_error(str(exc))
            self.statusBar().showMessage(
                f"split into {len(made)} new instance(s)" if made else "already in one piece",
                8000,
            )

        return self.jobs.submit("Split into connected parts", find_parts, on_success=apply)

    # ------------------------------------------------------------------ QA
    def start_consistency_check(self) -> Job | None:
        """Compare the labels with the masks of the last lift (or the Views overlay)."""
        from liftstudio.evaluate.consistency import check_consistency
        from liftstudio.render.registry import resolve_backend
        from liftstudio.sources.mask_import import import_masks

        document = self.document
        folder = self._last_masks or self.views_panel.masks_folder()
        if document is None or folder is None:
            QMessageBox.information(
                self, "Check labels", "Lift or generate masks first: the check compares the "
                "labels with the masks of the last lift.",
            )  # fmt: skip
            return None
        labels = document.labels.ids.copy()
        gaussians, cameras = document.gaussians, document.train_cameras

        def check(progress: ProgressCallback, cancel: CancelToken):
            masks = import_masks(folder, cameras)
            report = check_consistency(
                gaussians, masks.matched_cameras, masks.matched_maps, labels,
                backend=resolve_backend("cpu"), associated=masks.associated,
                progress=progress, cancel=cancel,
            )  # fmt: skip
            return report, masks.matched_cameras

        def show(result) -> None:
            if self.document is not document:
                return
            report, matched = result
            images = [document.image_path(c) for c in matched]
            self.qa_panel.set_report(report, matched, images)
            self.docks["QA"].raise_()

        return self.jobs.submit("Check labels against masks", check, on_success=show)

    def _jump_to(self, camera: Camera, instance_id: int) -> None:
        if self.document is None:
            return
        self.viewport.snap_to_camera(camera)
        self.document.selection.replace(self.document.labels.members(instance_id))
        names = [c.name for c in self.document.train_cameras]
        if camera.name in names:
            self.views_panel.select_camera(names.index(camera.name))

    def _watch_job(self, job: Job) -> None:
        job.failed.connect(lambda _message, _details, j=job: self._job_failed(j))

    def _job_failed(self, job: Job) -> None:
        self.docks["Jobs"].show()
        self._error_box = show_job_error(self, job)

    # ------------------------------------------------------------------ misc
    def show_controls(self) -> None:
        """The viewport controls and every keyboard shortcut."""
        rows = "".join(f"<tr><td><b>{key}</b></td><td>{what}</td></tr>" for key, what in
                       shortcut_rows(self))  # fmt: skip
        box = QMessageBox(self)
        box.setWindowTitle("Controls and shortcuts")
        box.setTextFormat(Qt.TextFormat.RichText)
        box.setText(f"<table>{rows}</table>")
        box.open()
        self._controls_box = box

    def show_about(self) -> None:
        """Version and what the viewport runs on."""
        QMessageBox.about(
            self,
            "About LiftStudio",
            f"LiftStudio {__version__}\nOpenGL: {self.viewport.gl_description or 'not started'}",
        )

    # ------------------------------------------------------------------ drag and drop
    def dragEnterEvent(self, event: QDragEnterEvent) -> None:
        """Accept dragged local files and folders."""
        if any(url.isLocalFile() for url in event.mimeData().urls()):
            event.acceptProposedAction()

    def dropEvent(self, event: QDropEvent) -> None:
        """Open the first dropped file or folder."""
        for url in event.mimeData().urls():
            if url.isLocalFile():
                self.open_path(Path(url.toLocalFile()))
                event.acceptProposedAction()
                return

    # ------------------------------------------------------------------ closing
    def shutdown(self) -> bool:
        """Cancel jobs, autosave edits and stop every background thread.

        Returns True when every thread has ended.
        """
        ended = self.jobs.shutdown()
        self.projects.autosave()
        self.projects.watch(None)
        self.views_panel.shutdown()
        self.viewport.shutdown()
        return ended

    def closeEvent(self, event) -> None:
        """Stop background work before the window goes."""
        self.shutdown()
        super().closeEvent(event)


def sam_click_unavailable() -> str | None:
    """Why the SAM click tool cannot run here (None: it can)."""
    from liftstudio.sources.sam import sam_available
    from liftstudio.user_config import config_path, load_user_config

    try:
        checkpoint = load_user_config().sam_checkpoint
    except LiftStudioError as exc:
        return str(exc)
    if checkpoint is None:
        return f"set [sam] checkpoint in {config_path()} to a SAM checkpoint file"
    return sam_available()


def _camera_index(cameras: list[Camera], camera: Camera) -> int | None:
    """Where ``camera`` is among ``cameras`` (the same object, else the same name)."""
    for index, candidate in enumerate(cameras):
        if candidate is camera:
            return index
    names = [c.name for c in cameras]
    return names.index(camera.name) if names.count(camera.name) == 1 else None


def _labels_in_file(opened):
    """A labeled PLY's own labels (and its Gaussians without the label columns).

    Returns ``(opened, model)``: ``model`` is None for a scene without an ``instance``
    column; otherwise the sidecar's instance table (names, classes, colours...) is in
    it and ``opened`` holds the Gaussians without the label columns, exactly as they
    were before the labels were exported.
    """
    from liftstudio.export.label_table import label_model_from_ply
    from liftstudio.export.labeled_ply import INSTANCE_COLUMN, read_labeled_ply

    path = opened.gaussians_path
    if path is None or INSTANCE_COLUMN not in opened.gaussians.extras:
        return opened, None
    labeled = read_labeled_ply(path)
    for note in labeled.notes:
        log.info("%s: %s", path.name, note)
    return replace(opened, gaussians=labeled.scene), label_model_from_ply(labeled)


def _export_source(document: SceneDocument):
    """The document's labels as they are now, as an export source.

    The project's files (project, backup, autosave) and the scene's are inputs that no
    export may write.
    """
    from liftstudio.export.export_source import model_source
    from liftstudio.labels.project import autosave_path, backup_path

    project = document.project
    inputs = () if project is None else (project, backup_path(project), autosave_path(project))
    return model_source(document.opened, document.labels, path=project, inputs=inputs)
