"""The selection actions: select all/none/invert, grow/shrink, select by opacity or size.

:class:`SelectionActions` holds one ``QAction`` per operation, each with a keyboard
shortcut that works anywhere in the window (``Qt.ShortcutContext.WindowShortcut``)
and each in the "&Select" menu. They act on the document's
:class:`~liftstudio.labels.Selection` only (the selection is not part of the label
history, so none of them is an undo step).

Grow and shrink take one step over the kNN graph of the Gaussian centres
(:data:`~liftstudio.app.scribble.NEIGHBOURS` neighbours, the scribble tool's graph).
The graph is built by :func:`~liftstudio.lift.knn_graph.cached_knn_graph` in a
background job the first time it is needed, and kept for the document; presses made
while that job runs are queued and applied, in order, to the selection of the moment
the graph arrives (if the same document is still open). There is never more than one
graph job: presses made while one runs only join the queue.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Sequence
from typing import Literal

import numpy as np
from PySide6.QtCore import QObject, Qt, Signal
from PySide6.QtGui import QAction
from PySide6.QtWidgets import QMainWindow, QMenu, QWidget

from liftstudio.app.document import SceneDocument
from liftstudio.app.jobs import Job, JobQueue
from liftstudio.app.range_select_dialog import RangeSelectDialog
from liftstudio.app.scribble import NEIGHBOURS
from liftstudio.app.window_actions import ActionSpec, add_window_action
from liftstudio.jobs import CancelToken, ProgressCallback
from liftstudio.labels import region_select
from liftstudio.lift.knn_graph import KnnGraph, cached_knn_graph

Morphology = Literal["grow", "shrink"]

_MESSAGE_MS = 5000


_SPECS = (
    ActionSpec("select_all", "Select &all", ("Ctrl+A",), "Select every Gaussian", "select_all"),
    ActionSpec(
        "select_none", "Select &none", ("Ctrl+Shift+A",), "Deselect every Gaussian", "select_none"
    ),
    ActionSpec(
        "invert",
        "&Invert selection",
        ("Ctrl+I",),
        "Select exactly the Gaussians that are not selected",
        "invert",
    ),
    ActionSpec(
        "grow",
        "&Grow selection",
        ("Ctrl+=", "Ctrl++"),
        "Add the nearest neighbours of the selected Gaussians (one kNN-graph step)",
        "grow",
    ),
    ActionSpec(
        "shrink",
        "S&hrink selection",
        ("Ctrl+-",),
        "Deselect the selected Gaussians that have an unselected neighbour (one kNN-graph step)",
        "shrink",
    ),
    ActionSpec(
        "by_range",
        "Select by &opacity or size…",
        (),
        "Select the Gaussians whose opacity or size lies in a range of a histogram",
        "open_range_dialog",
    ),
)

_MENU_GROUPS = (("select_all", "select_none", "invert"), ("grow", "shrink"), ("by_range",))


class SelectionActions(QObject):
    """The selection actions of a window.

    Parameters
    ----------
    window
        The window whose shortcuts they are: every action is parented to it and added
        to it (``window.addAction``), with ``Qt.ShortcutContext.WindowShortcut``; the
        range dialog is its child.
    jobs
        The queue the kNN graph is built in.

    Attributes
    ----------
    actions : dict[str, QAction]
        Every action by name: ``"select_all"``, ``"select_none"``, ``"invert"``,
        ``"grow"``, ``"shrink"``, ``"by_range"``.
    menu : QMenu
        The "&Select" menu holding every action.
    document : SceneDocument or None
        The scene acted on.
    range_dialog : RangeSelectDialog or None
        The open "Select by opacity or size" dialog.
    last_message : str
        The latest hint given (also shown in a ``QMainWindow``'s status bar).

    Signals
    -------
    message(str)
        A hint for the user ("Select Gaussians first", ...).
    graphReady(object)
        The document's kNN graph (a :class:`~liftstudio.lift.knn_graph.KnnGraph`) was
        built or read from the cache; queued grows and shrinks have been applied.
    """

    message = Signal(str)
    graphReady = Signal(object)

    def __init__(self, window: QWidget, jobs: JobQueue) -> None:
        super().__init__(window)
        self._window = window
        self._jobs = jobs
        self.document: SceneDocument | None = None
        self.range_dialog: RangeSelectDialog | None = None
        self.last_message = ""
        self._graph: KnnGraph | None = None
        self._graph_job: Job | None = None
        self._pending: list[Morphology] = []
        self.actions: dict[str, QAction] = {}
        for spec in _SPECS:
            self._add_action(spec.name, spec.text, spec.keys, spec.what, getattr(self, spec.slot))
        self.menu = self._build_menu()
        self.set_document(None)

    # ------------------------------------------------------------------ setup
    def set_document(self, doc: SceneDocument | None) -> None:
        """Act on ``doc`` (None: every action is disabled).

        The previous document's graph is dropped, its queued grows and shrinks are
        forgotten, a graph job still running for it is cancelled, and an open range
        dialog is cancelled (restoring that document's selection).
        """
        if doc is self.document:
            return
        if self.range_dialog is not None:
            dialog, self.range_dialog = self.range_dialog, None
            with contextlib.suppress(RuntimeError):  # already deleted with its window
                dialog.reject()
                dialog.deleteLater()
        if self._graph_job is not None:
            self._graph_job.cancel()  # its result is ignored; it is forgotten when it ends
        self.document = doc
        self._graph = None
        self._pending = []
        for action in self.actions.values():
            action.setEnabled(doc is not None)

    def shortcut_table(self) -> list[tuple[str, str]]:
        """Every shortcut as ``(key, what it does)``, for Help and the README."""
        return [(" / ".join(spec.keys), spec.what) for spec in _SPECS if spec.keys]

    @property
    def graph(self) -> KnnGraph | None:
        """The document's kNN graph, once built (None before the first grow or shrink)."""
        return self._graph

    @property
    def graph_job(self) -> Job | None:
        """The job building the graph, while it runs."""
        return self._graph_job

    @property
    def pending(self) -> list[Morphology]:
        """Grows and shrinks waiting for the graph, in order."""
        return list(self._pending)

    # ------------------------------------------------------------------ all / none / invert
    def select_all(self) -> None:
        """Select every Gaussian."""
        if self.document is not None:
            self.document.selection.replace(np.arange(len(self.document.gaussians)))

    def select_none(self) -> None:
        """Deselect every Gaussian."""
        if self.document is not None:
            self.document.selection.clear()

    def invert(self) -> None:
        """Select exactly the Gaussians that were not selected."""
        if self.document is not None:
            self.document.selection.replace(np.flatnonzero(~self.document.selection.mask))

    # ------------------------------------------------------------------ grow / shrink
    def grow(self) -> Job | None:
        """Add the kNN-graph neighbours of the selected Gaussians (one step).

        Returns
        -------
        Job or None
            The job building the graph when it is not ready (the grow waits for it);
            None when the grow was applied at once or there was nothing to grow.
        """
        return self._morph("grow")

    def shrink(self) -> Job | None:
        """Deselect the selected Gaussians with an unselected kNN-graph neighbour (one step).

        Returns
        -------
        Job or None
            As for :meth:`grow`.
        """
        return self._morph("shrink")

    def _morph(self, operation: Morphology) -> Job | None:
        document = self.document
        if document is None:
            return None
        if self._graph is not None:
            self._apply(operation)
            return None
        if not self._pending and document.selection.indices().size == 0:
            self._tell("Select Gaussians first")
            return None
        self._pending.append(operation)
        return self._ensure_graph_job()

    def _apply(self, operation: Morphology) -> None:
        assert self.document is not None and self._graph is not None
        selection = self.document.selection
        if selection.indices().size == 0:
            self._tell("Select Gaussians first")
            return
        step = region_select.grow if operation == "grow" else region_select.shrink
        selection.replace(step(selection.mask, self._graph))

    def _ensure_graph_job(self) -> Job | None:
        """Start the graph job unless one runs (then the queue waits for its end)."""
        if self._graph_job is not None:
            return self._graph_job
        document = self.document
        if document is None:
            return None
        gaussians = document.gaussians

        def build(progress: ProgressCallback, cancel: CancelToken) -> KnnGraph:
            return cached_knn_graph(gaussians, NEIGHBOURS, progress=progress, cancel=cancel)

        def built(graph: KnnGraph) -> None:
            if self.document is not document:
                return  # another scene is open now
            self._graph = graph
            pending, self._pending = self._pending, []
            for operation in pending:
                self._apply(operation)
            self.graphReady.emit(graph)

        try:
            job = self._jobs.submit(
                f"Neighbour graph ({NEIGHBOURS} nearest)", build, on_success=built
            )
        except RuntimeError as error:  # the queue was shut down (the app is closing)
            self._pending = []
            self._tell(str(error))
            return None
        self._tell("Building the neighbour graph for grow/shrink…")
        self._graph_job = job
        job.finished.connect(lambda: self._graph_job_ended(job, document))
        return job

    def _graph_job_ended(self, job: Job, document: SceneDocument) -> None:
        """Forget the ended job; start one for a scene opened while it ran, if needed."""
        if job is not self._graph_job:
            return
        self._graph_job = None
        if self._graph is not None or not self._pending:
            return
        if document is self.document:
            self._pending = []  # failed or cancelled: the queued steps are dropped
        else:
            self._ensure_graph_job()  # presses made on the new scene while it ended

    # ------------------------------------------------------------------ range dialog
    def open_range_dialog(self) -> RangeSelectDialog | None:
        """Show the "Select by opacity or size" dialog (raise it when already open)."""
        if self.document is None:
            return None
        if self.range_dialog is not None:
            self.range_dialog.raise_()
            self.range_dialog.activateWindow()
            return self.range_dialog
        dialog = RangeSelectDialog(self.document, self._window)
        dialog.setAttribute(Qt.WidgetAttribute.WA_DeleteOnClose)
        dialog.finished.connect(lambda _result: self._range_dialog_closed(dialog))
        self.range_dialog = dialog
        dialog.show()
        return dialog

    def _range_dialog_closed(self, dialog: RangeSelectDialog) -> None:
        if self.range_dialog is dialog:
            self.range_dialog = None

    # ------------------------------------------------------------------ internals
    def _tell(self, text: str) -> None:
        self.last_message = text
        if isinstance(self._window, QMainWindow):
            self._window.statusBar().showMessage(text, _MESSAGE_MS)
        self.message.emit(text)

    def _add_action(
        self, name: str, text: str, keys: Sequence[str], what: str, slot: Callable[[], object]
    ) -> None:
        self.actions[name] = add_window_action(self._window, text, keys, what, slot)

    def _build_menu(self) -> QMenu:
        menu = QMenu("&Select", self._window)
        for group in _MENU_GROUPS:
            if not menu.isEmpty():
                menu.addSeparator()
            for name in group:
                menu.addAction(self.actions[name])
        return menu
