"""The instance-editing actions: undo/redo, new/assign/remove/merge/delete, hide, lock, class.

:class:`InstanceActions` holds one ``QAction`` per operation, each with a keyboard
shortcut that works anywhere in the window (``Qt.ShortcutContext.WindowShortcut``)
and each in the "&Instances" menu. The operations act on the document's label model:
the Gaussian selection is what moves, the rows selected in the Instances panel are the
instances acted on. Every operation is one undo step; the errors a user can cause
(a locked instance, ...) are shown in a non-blocking message box, never raised.
"""

from __future__ import annotations

import contextlib
import functools
from collections.abc import Callable, Sequence
from typing import Concatenate, ParamSpec, TypeVar

import numpy as np
from PySide6.QtCore import QObject, QTimer, Signal
from PySide6.QtGui import QAction
from PySide6.QtWidgets import QMainWindow, QMenu, QMessageBox, QWidget

from liftstudio.app.document import SceneDocument
from liftstudio.app.panels.instances_panel import InstancesPanel
from liftstudio.app.window_actions import ActionSpec, add_window_action
from liftstudio.errors import LiftStudioError
from liftstudio.labels import UNLABELED, InstanceLockedError, LabelModel

DEFAULT_CLASS_NAMES = tuple(f"class_{n}" for n in range(1, 10))
"""The class list until :meth:`InstanceActions.set_class_names` sets another."""

_MESSAGE_MS = 5000


_SPECS = (
    ActionSpec("undo", "&Undo", ("Ctrl+Z",), "Undo the last edit", "undo"),
    ActionSpec("redo", "&Redo", ("Ctrl+Shift+Z", "Ctrl+Y"), "Redo the last undone edit", "redo"),
    ActionSpec(
        "new_instance",
        "&New instance from selection",
        ("M",),
        "Make a new instance of the selected Gaussians",
        "new_instance",
    ),
    ActionSpec(
        "assign",
        "&Join selection to instance",
        ("J",),
        "Move the selected Gaussians into the instance selected in the panel",
        "assign_selection",
    ),
    ActionSpec(
        "remove",
        "R&emove selection from instance",
        ("Backspace", "Delete"),
        "Unlabel the selected Gaussians",
        "remove_selection",
    ),
    ActionSpec(
        "merge",
        "&Merge instances",
        ("Ctrl+M",),
        "Merge the instances selected in the panel into the first of them",
        "merge_selected",
    ),
    ActionSpec(
        "delete",
        "&Delete instances",
        ("Shift+Delete",),
        "Delete the instances selected in the panel (their Gaussians become unlabeled)",
        "delete_selected",
    ),
    ActionSpec(
        "rename", "Rename ins&tance", ("F2",), "Edit the name of the selected instance", "rename"
    ),
    ActionSpec("hide", "&Hide instances", ("H",), "Hide the selected instances", "hide_selected"),
    ActionSpec("unhide_all", "Unhide a&ll", ("Shift+H",), "Show every instance", "unhide_all"),
    ActionSpec(
        "isolate",
        "&Isolate instances",
        ("I",),
        "Show only the selected instances",
        "isolate_selected",
    ),
    ActionSpec(
        "lock",
        "Loc&k / unlock instances",
        ("K",),
        "Lock the selected instances against edits and re-lifts (again: unlock)",
        "toggle_lock",
    ),
)

_MENU_GROUPS = (
    ("undo", "redo"),
    ("new_instance", "assign", "remove"),
    ("merge", "delete", "rename"),
    ("hide", "unhide_all", "isolate", "lock"),
)

_P = ParamSpec("_P")
_R = TypeVar("_R")


def _guarded(
    method: Callable[Concatenate[InstanceActions, _P], _R],
) -> Callable[Concatenate[InstanceActions, _P], _R | None]:
    """Run ``method`` only with a document; show a LiftStudioError instead of raising it."""

    @functools.wraps(method)
    def run(self: InstanceActions, *args: _P.args, **kwargs: _P.kwargs) -> _R | None:
        if self.document is None:
            return None
        try:
            return method(self, *args, **kwargs)
        except LiftStudioError as error:
            self.show_error(str(error))
            return None
        finally:
            self.update_history_actions()

    return run


class InstanceActions(QObject):
    """The instance-editing actions of a window, bound to the Instances panel.

    Parameters
    ----------
    window
        The window whose shortcuts they are: every action is parented to it and added
        to it (``window.addAction``), with ``Qt.ShortcutContext.WindowShortcut``.
    panel
        The Instances panel: its selected rows are the instances acted on, and new or
        merged instances are selected in it.

    Attributes
    ----------
    actions : dict[str, QAction]
        Every action by name (``"undo"``, ``"new_instance"``, ``"class_3"``, ...).
    menu : QMenu
        The "&Instances" menu holding every action.
    edit_menu_actions : list[QAction]
        Undo and redo, for the window's Edit menu.
    last_error_box : QMessageBox or None
        The latest error shown.
    last_message : str
        The latest hint given (also shown in a ``QMainWindow``'s status bar).

    Signals
    -------
    message(str)
        A hint for the user ("Select Gaussians first", ...).
    """

    message = Signal(str)

    def __init__(self, window: QWidget, panel: InstancesPanel) -> None:
        super().__init__(window)
        self._window = window
        self._panel = panel
        self.document: SceneDocument | None = None
        self._class_names: list[str] = list(DEFAULT_CLASS_NAMES)
        self.last_error_box: QMessageBox | None = None
        self.last_message = ""
        self.actions: dict[str, QAction] = {}
        for spec in _SPECS:
            self._add_action(spec.name, spec.text, spec.keys, spec.what, getattr(self, spec.slot))
        for slot in (*range(1, 10), 0):
            self._add_action(
                f"class_{slot}", "", (str(slot),), "", functools.partial(self.set_class, slot)
            )
        self._label_class_actions()
        self.menu = self._build_menu()
        self.edit_menu_actions = [self.actions["undo"], self.actions["redo"]]
        self._history_timer = QTimer(self)
        self._history_timer.setSingleShot(True)
        self._history_timer.setInterval(0)
        self._history_timer.timeout.connect(self.update_history_actions)
        self.set_document(None)

    # ------------------------------------------------------------------ setup
    def set_document(self, doc: SceneDocument | None) -> None:
        """Act on ``doc`` (None: every action is disabled)."""
        if self.document is not None:
            with contextlib.suppress(RuntimeError):  # the old document may be gone
                self.document.labelsChanged.disconnect(self._schedule_history_update)
                self.document.instancesChanged.disconnect(self._schedule_history_update)
        self.document = doc
        if doc is not None:
            doc.labelsChanged.connect(self._schedule_history_update)
            doc.instancesChanged.connect(self._schedule_history_update)
        for action in self.actions.values():
            action.setEnabled(doc is not None)
        self.update_history_actions()

    def class_names(self) -> list[str]:
        """The class list: number key ``n`` sets the ``n``-th name."""
        return list(self._class_names)

    def set_class_names(self, names: Sequence[str]) -> None:
        """Use ``names`` (at most 9, non-empty) as the classes of keys 1-9.

        Raises
        ------
        ValueError
            When there are more than 9 names or one is blank.
        """
        names = [str(name).strip() for name in names]
        if len(names) > 9 or not all(names):
            raise ValueError(f"give at most 9 non-empty class names, got {names}")
        self._class_names = names
        self._label_class_actions()

    def shortcut_table(self) -> list[tuple[str, str]]:
        """Every shortcut as ``(key, what it does)``, for Help and the README."""
        rows = [(" / ".join(spec.keys), spec.what) for spec in _SPECS]
        rows.append(("1 … 9", "Give the selected instances the 1st … 9th class of the class list"))
        rows.append(("0", "Clear the class of the selected instances"))
        return rows

    # ------------------------------------------------------------------ history
    @_guarded
    def undo(self) -> bool:
        """Undo the newest step; False when there is none."""
        return self._labels.undo()

    @_guarded
    def redo(self) -> bool:
        """Redo the newest undone step; False when there is none."""
        return self._labels.redo()

    def update_history_actions(self) -> None:
        """Enable undo/redo and name their steps after the history."""
        self._history_timer.stop()
        history = self.document.labels.history if self.document is not None else None
        for name, text, can in (
            ("undo", "&Undo", history is not None and history.can_undo),
            ("redo", "&Redo", history is not None and history.can_redo),
        ):
            step = getattr(history, f"{name}_text") if history is not None else None
            action = self.actions[name]
            action.setEnabled(bool(can))
            action.setText(f"{text} {step.replace('&', '&&')}" if can and step else text)

    # ------------------------------------------------------------------ id edits
    @_guarded
    def new_instance(self) -> int | None:
        """Put the selected Gaussians into a new instance and select its row.

        Returns
        -------
        int or None
            The new id (None when nothing was selected or every Gaussian was locked).
        """
        indices = self._selected_gaussians()
        if indices is None:
            return None
        new_id = self._labels.new_instance(indices)
        if self._labels.count(new_id) == 0:
            self._tell("The selected Gaussians all belong to locked instances")
            return None
        self._panel.refresh()
        self._panel.select_ids([new_id])
        return new_id

    @_guarded
    def assign_selection(self) -> None:
        """Move the selected Gaussians into the (first) instance selected in the panel."""
        targets = self._panel_ids("Select the target instance in the Instances panel")
        indices = self._selected_gaussians()
        if not targets or indices is None:
            return
        target = targets[0]
        with self._labels.step(f"assign to {self._labels.instance(target).name}"):
            self._labels.assign(indices, target)

    @_guarded
    def remove_selection(self) -> None:
        """Unlabel the selected Gaussians (those of locked instances stay)."""
        indices = self._selected_gaussians()
        if indices is not None:
            with self._labels.step("remove from instance"):
                self._labels.assign(indices, UNLABELED)

    @_guarded
    def merge_selected(self) -> None:
        """Merge the instances selected in the panel into the first (lowest id) of them."""
        ids = self._panel_ids("Select the instances to merge in the Instances panel")
        if len(ids) < 2:
            if ids:
                self._tell("Select at least two instances to merge")
            return
        into = ids[0]
        with self._labels.step(f"merge {len(ids)} instances into {self._name(into)}"):
            self._labels.merge(ids[1:], into)
        self._panel.refresh()
        self._panel.select_ids([into])

    @_guarded
    def delete_selected(self) -> None:
        """Delete the instances selected in the panel; their Gaussians become unlabeled."""
        ids = self._panel_ids("Select the instances to delete in the Instances panel")
        if not ids:
            return
        check_unlocked(self._labels, ids)
        with self._labels.step(f"delete {self._names(ids)}"):
            for instance_id in ids:
                self._labels.delete_instance(instance_id)

    # ------------------------------------------------------------------ table edits
    @_guarded
    def hide_selected(self) -> None:
        """Hide the selected instances."""
        ids = self.target_ids()
        if ids:
            with self._labels.step(f"hide {self._names(ids)}"):
                self._labels.update_instances(ids, visible=False)

    @_guarded
    def unhide_all(self) -> None:
        """Show every instance."""
        with self._labels.step("unhide all"):
            self._labels.unhide_all()

    @_guarded
    def isolate_selected(self) -> None:
        """Show only the selected instances."""
        ids = self.target_ids()
        if ids:
            with self._labels.step(f"isolate {self._names(ids)}"):
                self._labels.isolate(ids)

    @_guarded
    def toggle_lock(self) -> None:
        """Lock the selected instances; when they all are locked already, unlock them."""
        ids = self.target_ids()
        if not ids:
            return
        lock = not all(self._labels.instance(i).locked for i in ids)
        with self._labels.step(f"{'lock' if lock else 'unlock'} {self._names(ids)}"):
            self._labels.update_instances(ids, locked=lock)

    @_guarded
    def set_class(self, slot: int) -> None:
        """Give the selected instances the ``slot``-th class of the list (0: no class)."""
        if slot > len(self._class_names):
            self._tell(f"The class list has no class {slot}")
            return
        class_name = self._class_names[slot - 1] if slot else None
        ids = self.target_ids()
        if ids:
            with self._labels.step(f"class {class_name or 'cleared'} for {self._names(ids)}"):
                self._labels.update_instances(ids, class_name=class_name)

    @_guarded
    def rename(self) -> None:
        """Start editing the name of the (first) selected instance in the panel."""
        ids = self.target_ids()
        if ids:
            self._panel.edit_name(ids[0])

    # ------------------------------------------------------------------ feedback
    def show_error(self, text: str) -> None:
        """Show ``text`` in a non-blocking warning box (kept as :attr:`last_error_box`)."""
        if self.last_error_box is not None:
            self.last_error_box.close()
            self.last_error_box.deleteLater()
        box = QMessageBox(
            QMessageBox.Icon.Warning,
            "LiftStudio",
            text,
            QMessageBox.StandardButton.Ok,
            self._window,
        )
        self.last_error_box = box
        box.open()

    def _tell(self, text: str) -> None:
        self.last_message = text
        if isinstance(self._window, QMainWindow):
            self._window.statusBar().showMessage(text, _MESSAGE_MS)
        self.message.emit(text)

    # ------------------------------------------------------------------ internals
    @property
    def _labels(self) -> LabelModel:
        assert self.document is not None
        return self.document.labels

    def _selected_gaussians(self) -> np.ndarray | None:
        assert self.document is not None
        indices = self.document.selection.indices()
        if indices.size == 0:
            self._tell("Select Gaussians first")
            return None
        return indices

    def _panel_ids(self, hint: str) -> list[int]:
        ids = self._panel.selected_ids()
        if not ids:
            self._tell(hint)
        return ids

    def target_ids(self) -> list[int]:
        """The instances selected in the panel, else those under the Gaussian selection.

        Empty (with a hint in the status bar) when there are none.
        """
        ids = self._panel.selected_ids()
        if ids:
            return ids
        assert self.document is not None
        under = np.unique(self._labels.ids[self.document.selection.indices()])
        ids = [int(i) for i in under if i != UNLABELED]
        if not ids:
            self._tell("Select instances in the Instances panel, or Gaussians of instances")
        return ids

    def _name(self, instance_id: int) -> str:
        return self._labels.instance(instance_id).name

    def _names(self, ids: Sequence[int]) -> str:
        return self._name(ids[0]) if len(ids) == 1 else f"{len(ids)} instances"

    def _schedule_history_update(self, _ids: object) -> None:
        self._history_timer.start()  # after the step that sent the event is recorded

    def _add_action(
        self, name: str, text: str, keys: Sequence[str], what: str, slot: Callable[[], object]
    ) -> None:
        self.actions[name] = add_window_action(self._window, text, keys, what, slot)

    def _label_class_actions(self) -> None:
        for slot in range(1, 10):
            action = self.actions[f"class_{slot}"]
            known = slot <= len(self._class_names)
            name = self._class_names[slot - 1] if known else "(none)"
            action.setText(f"&{slot}  {name.replace('&', '&&')}")
            action.setStatusTip(f"Give the selected instances the class {name}")
            action.setVisible(known)
        clear = self.actions["class_0"]
        clear.setText("&0  No class")
        clear.setStatusTip("Clear the class of the selected instances")

    def _build_menu(self) -> QMenu:
        menu = QMenu("&Instances", self._window)
        for group in _MENU_GROUPS:
            if not menu.isEmpty():
                menu.addSeparator()
            for name in group:
                menu.addAction(self.actions[name])
        menu.addSeparator()
        classes = menu.addMenu("&Class")
        for slot in (*range(1, 10), 0):
            classes.addAction(self.actions[f"class_{slot}"])
        menu.aboutToShow.connect(self.update_history_actions)
        return menu


def check_unlocked(labels: LabelModel, ids: Sequence[int]) -> None:
    """Raise :class:`InstanceLockedError` naming the locked ones among ``ids``."""
    locked = sorted(labels.locked_ids() & set(ids))
    if locked:
        names = ", ".join(labels.instance(i).name for i in locked)
        verb = "is" if len(locked) == 1 else "are"
        raise InstanceLockedError(f"{names} {verb} locked; unlock it first (K)")
