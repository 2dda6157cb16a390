"""The instance actions, triggered by their shortcuts, and the editable instance table."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pytest
from PySide6.QtCore import Qt
from PySide6.QtGui import QColor
from PySide6.QtWidgets import (
    QAbstractItemView,
    QApplication,
    QLineEdit,
    QMainWindow,
    QStyle,
    QStyleOptionViewItem,
)

from liftstudio.app.document import SceneDocument
from liftstudio.app.instance_actions import DEFAULT_CLASS_NAMES, InstanceActions
from liftstudio.app.panels import InstancesPanel, InstanceTableModel
from liftstudio.labels import LabelModel

CTRL = Qt.KeyboardModifier.ControlModifier
SHIFT = Qt.KeyboardModifier.ShiftModifier


@dataclass
class Studio:
    window: QMainWindow
    panel: InstancesPanel
    actions: InstanceActions
    doc: SceneDocument
    truth: np.ndarray

    @property
    def labels(self) -> LabelModel:
        return self.doc.labels

    @property
    def model(self) -> InstanceTableModel:
        return self.panel.model


@pytest.fixture
def studio(qtbot, demo_document, demo_truth):
    demo_document.labels.replace_all(demo_truth)
    window = QMainWindow()
    qtbot.addWidget(window)
    panel = InstancesPanel()
    window.setCentralWidget(panel)
    actions = InstanceActions(window, panel)
    panel.set_document(demo_document)
    actions.set_document(demo_document)
    window.resize(700, 500)
    window.show()
    qtbot.waitExposed(window)
    activate(qtbot, window)
    yield Studio(window, panel, actions, demo_document, demo_truth)
    if actions.last_error_box is not None:
        actions.last_error_box.close()


def activate(qtbot, window: QMainWindow) -> None:
    """Make ``window`` the active window: window shortcuts only work there."""
    window.activateWindow()
    qtbot.waitUntil(lambda: QApplication.activeWindow() is window)


def press(qtbot, studio: Studio, key: Qt.Key, modifiers=Qt.KeyboardModifier.NoModifier) -> None:
    """Type ``key`` into the window, then let the coalesced refreshes run."""
    qtbot.keyClick(studio.window, key, modifiers)
    qtbot.wait(1)


def state(labels: LabelModel) -> tuple[np.ndarray, list]:
    return labels.ids.copy(), labels.instances()


def assert_state(labels: LabelModel, expected: tuple[np.ndarray, list]) -> None:
    np.testing.assert_array_equal(labels.ids, expected[0])
    assert labels.instances() == expected[1]


def some_of(truth: np.ndarray, instance_id: int, every: int = 3) -> np.ndarray:
    return np.flatnonzero(truth == instance_id)[::every]


def cell(studio: Studio, instance_id: int, column: int):
    return studio.model.index(studio.model.row_of(instance_id), column)


# ---------------------------------------------------------------------------- id edits
def test_m_makes_a_new_instance_of_exactly_the_selection(qtbot, studio):
    truth = studio.truth
    picked = np.union1d(some_of(truth, 2), some_of(truth, 9, every=7))
    studio.doc.selection.replace(picked)
    press(qtbot, studio, Qt.Key.Key_M)
    new_id = int(truth.max()) + 1
    expected = truth.copy()
    expected[picked] = new_id
    np.testing.assert_array_equal(studio.labels.ids, expected)
    np.testing.assert_array_equal(studio.labels.members(new_id), picked)
    assert studio.panel.selected_ids() == [new_id]
    np.testing.assert_array_equal(studio.doc.selection.indices(), picked)
    assert studio.actions.actions["undo"].text() == f"&Undo new instance {new_id}"


def test_a_assigns_the_selection_to_the_panel_instance(qtbot, studio):
    truth = studio.truth
    studio.panel.select_ids([3])
    moved = some_of(truth, 5)
    studio.doc.selection.replace(moved)
    press(qtbot, studio, Qt.Key.Key_J)
    expected = truth.copy()
    expected[moved] = 3
    np.testing.assert_array_equal(studio.labels.ids, expected)
    assert studio.labels.count(3) == (truth == 3).sum() + moved.size
    assert studio.labels.history.undo_text == "assign to instance_3"


def test_a_without_a_panel_instance_only_hints(qtbot, studio):
    before = state(studio.labels)
    studio.doc.selection.replace(some_of(studio.truth, 5))
    press(qtbot, studio, Qt.Key.Key_J)
    assert_state(studio.labels, before)
    assert "Instances panel" in studio.actions.last_message
    assert studio.actions.last_error_box is None


@pytest.mark.parametrize("key", [Qt.Key.Key_Delete, Qt.Key.Key_Backspace])
def test_delete_and_backspace_remove_the_selection_from_its_instance(qtbot, studio, key):
    truth = studio.truth
    removed = np.union1d(some_of(truth, 4), some_of(truth, 7, every=2))
    studio.doc.selection.replace(removed)
    press(qtbot, studio, key)
    expected = truth.copy()
    expected[removed] = 0
    np.testing.assert_array_equal(studio.labels.ids, expected)


def test_ctrl_m_merges_the_panel_instances_into_the_first(qtbot, studio):
    truth = studio.truth
    counts = np.bincount(truth)
    studio.panel.select_ids([6, 2, 9])
    press(qtbot, studio, Qt.Key.Key_M, CTRL)
    assert studio.labels.count(2) == counts[2] + counts[6] + counts[9]
    assert studio.labels.count(6) == studio.labels.count(9) == 0
    ids = [instance.id for instance in studio.labels.instances()]
    assert 6 not in ids and 9 not in ids
    expected = np.where(np.isin(truth, [6, 9]), 2, truth)
    np.testing.assert_array_equal(studio.labels.ids, expected)
    assert studio.panel.selected_ids() == [2]
    press(qtbot, studio, Qt.Key.Key_Z, CTRL)  # one step
    np.testing.assert_array_equal(studio.labels.ids, truth)


def test_shift_delete_deletes_the_panel_instances_in_one_step(qtbot, studio):
    truth = studio.truth
    before = state(studio.labels)
    studio.labels.rename(8, "lamp")
    studio.panel.select_ids([8, 11])
    press(qtbot, studio, Qt.Key.Key_Delete, SHIFT)
    np.testing.assert_array_equal(studio.labels.ids, np.where(np.isin(truth, [8, 11]), 0, truth))
    assert not {8, 11} & {instance.id for instance in studio.labels.instances()}
    press(qtbot, studio, Qt.Key.Key_Z, CTRL)
    assert studio.labels.instance(8).name == "lamp"
    press(qtbot, studio, Qt.Key.Key_Z, CTRL)
    assert_state(studio.labels, before)


# ---------------------------------------------------------------------------- table edits
def test_h_hides_and_shift_h_unhides(qtbot, studio):
    studio.panel.select_ids([1, 2])
    press(qtbot, studio, Qt.Key.Key_H)
    visible = {instance.id: instance.visible for instance in studio.labels.instances()}
    assert not visible.pop(1) and not visible.pop(2)
    assert all(visible.values())
    assert cell(studio, 1, studio.model.NAME).data(Qt.ItemDataRole.ForegroundRole) is not None
    assert cell(studio, 3, studio.model.NAME).data(Qt.ItemDataRole.ForegroundRole) is None
    press(qtbot, studio, Qt.Key.Key_H, SHIFT)
    assert all(instance.visible for instance in studio.labels.instances())
    assert studio.labels.hidden_ids() == set()


def test_i_isolates_the_panel_instances(qtbot, studio):
    studio.panel.select_ids([3, 12])
    press(qtbot, studio, Qt.Key.Key_I)
    everyone = set(np.unique(studio.truth[studio.truth > 0]).tolist())
    assert studio.labels.hidden_ids() == everyone - {3, 12}
    np.testing.assert_array_equal(studio.labels.ids, studio.truth)


def test_k_locks_and_a_on_a_locked_instance_shows_an_error(qtbot, studio):
    studio.panel.select_ids([4])
    press(qtbot, studio, Qt.Key.Key_K)
    assert studio.labels.instance(4).locked
    before = state(studio.labels)
    undo_text = studio.labels.history.undo_text
    studio.doc.selection.replace(some_of(studio.truth, 5))
    press(qtbot, studio, Qt.Key.Key_J)
    box = studio.actions.last_error_box
    assert box is not None and box.isVisible()
    assert "locked" in box.text()
    assert_state(studio.labels, before)
    assert studio.labels.history.undo_text == undo_text
    box.accept()
    activate(qtbot, studio.window)
    studio.panel.select_ids([4])
    press(qtbot, studio, Qt.Key.Key_K)  # again: unlock
    assert not studio.labels.instance(4).locked


def test_shift_delete_of_a_locked_instance_changes_nothing(qtbot, studio):
    studio.labels.update_instance(7, locked=True)
    before = state(studio.labels)
    studio.panel.select_ids([6, 7])
    press(qtbot, studio, Qt.Key.Key_Delete, SHIFT)
    assert_state(studio.labels, before)
    assert "instance_7 is locked" in studio.actions.last_error_box.text()


def test_number_keys_set_the_class(qtbot, studio):
    studio.panel.select_ids([2, 3])
    press(qtbot, studio, Qt.Key.Key_3)
    assert [studio.labels.instance(i).class_name for i in (2, 3, 4)] == [
        DEFAULT_CLASS_NAMES[2],
        DEFAULT_CLASS_NAMES[2],
        None,
    ]
    assert cell(studio, 2, studio.model.CLASS).data() == "class_3"
    studio.actions.set_class_names(["chair", "table"])
    press(qtbot, studio, Qt.Key.Key_2)
    assert studio.labels.instance(3).class_name == "table"
    press(qtbot, studio, Qt.Key.Key_0)
    assert studio.labels.instance(2).class_name is None
    studio.panel.table.clearSelection()  # no panel rows: the instance under the selection
    studio.doc.selection.replace(some_of(studio.truth, 5))
    press(qtbot, studio, Qt.Key.Key_1)
    assert studio.labels.instance(5).class_name == "chair"
    assert not studio.actions.actions["class_3"].isVisible()


def test_ctrl_z_undoes_and_ctrl_shift_z_and_ctrl_y_redo(qtbot, studio):
    before = state(studio.labels)
    studio.doc.selection.replace(some_of(studio.truth, 1, every=20))
    press(qtbot, studio, Qt.Key.Key_M)
    after = state(studio.labels)
    assert not np.array_equal(after[0], before[0])
    undo, redo = studio.actions.edit_menu_actions
    assert undo.isEnabled() and not redo.isEnabled()
    press(qtbot, studio, Qt.Key.Key_Z, CTRL)
    assert_state(studio.labels, before)
    assert redo.isEnabled() and redo.text().startswith("&Redo new instance")
    press(qtbot, studio, Qt.Key.Key_Z, CTRL | SHIFT)
    assert_state(studio.labels, after)
    press(qtbot, studio, Qt.Key.Key_Z, CTRL)
    press(qtbot, studio, Qt.Key.Key_Y, CTRL)
    assert_state(studio.labels, after)


def test_history_actions_follow_edits_made_elsewhere(qtbot, studio):
    undo, redo = studio.actions.edit_menu_actions
    studio.labels.undo()  # the lift
    qtbot.waitUntil(lambda: not undo.isEnabled())
    assert redo.text() == "&Redo lift"
    with studio.labels.step("brush"):
        studio.labels.assign(some_of(studio.truth, 3), 1)
    qtbot.waitUntil(lambda: undo.text() == "&Undo brush")
    assert undo.isEnabled() and not redo.isEnabled()


def test_without_a_document_every_action_is_disabled(qtbot, studio):
    studio.actions.set_document(None)
    assert not any(action.isEnabled() for action in studio.actions.actions.values())
    before = state(studio.labels)
    studio.doc.selection.replace(some_of(studio.truth, 2))
    press(qtbot, studio, Qt.Key.Key_M)
    assert_state(studio.labels, before)
    studio.actions.set_document(studio.doc)
    assert studio.actions.actions["new_instance"].isEnabled()


def test_every_action_is_a_window_shortcut_in_the_menu_and_the_table(studio):
    listed = " / ".join(key for key, _ in studio.actions.shortcut_table())
    in_menu = set()
    for action in studio.actions.menu.actions():
        in_menu.add(action)
        if action.menu() is not None:
            in_menu.update(action.menu().actions())
    for name, action in studio.actions.actions.items():
        assert action in in_menu and action in studio.window.actions(), name
        assert action.shortcutContext() == Qt.ShortcutContext.WindowShortcut
        assert action.shortcuts(), name
        if not name.startswith("class_"):
            for key in action.shortcuts():
                assert key.toString() in listed, name
    assert ("0", "Clear the class of the selected instances") in studio.actions.shortcut_table()


# ---------------------------------------------------------------------------- the table
def test_editing_the_name_and_class_cells(qtbot, studio):
    model = studio.model
    assert model.setData(cell(studio, 3, model.NAME), "chair", Qt.ItemDataRole.EditRole)
    assert studio.labels.instance(3).name == "chair"
    assert cell(studio, 3, model.NAME).data() == "chair"
    assert studio.labels.history.undo_text == "rename 3"
    assert model.setData(cell(studio, 3, model.CLASS), " furniture ", Qt.ItemDataRole.EditRole)
    assert studio.labels.instance(3).class_name == "furniture"
    assert model.setData(cell(studio, 3, model.NAME), "", Qt.ItemDataRole.EditRole)
    assert studio.labels.instance(3).name == "instance_3"  # blank: the default name
    assert not model.setData(cell(studio, 3, model.COUNT), "7", Qt.ItemDataRole.EditRole)
    editable = Qt.ItemFlag.ItemIsEditable
    assert model.flags(cell(studio, 3, model.NAME)) & editable
    assert not model.flags(cell(studio, 3, model.ID)) & editable


def test_f2_edits_the_name_in_place(qtbot, studio):
    studio.panel.select_ids([6])
    press(qtbot, studio, Qt.Key.Key_F2)
    assert studio.panel.table.state() == QAbstractItemView.State.EditingState
    editor = QApplication.focusWidget()
    assert isinstance(editor, QLineEdit) and editor.text() == "instance_6"
    editor.selectAll()
    before = studio.labels.instances()
    qtbot.keyClicks(editor, "home")  # to the editor, not to the H and M shortcuts
    qtbot.keyClick(editor, Qt.Key.Key_Return)
    qtbot.waitUntil(lambda: studio.labels.instance(6).name == "home")  # committed queued
    assert [i.id for i in studio.labels.instances()] == [i.id for i in before]
    assert studio.labels.hidden_ids() == set()


def test_choose_colour_recolours(qtbot, studio):
    studio.panel.choose_colour(5, QColor(10, 20, 30))
    assert studio.labels.instance(5).colour == (10, 20, 30)
    swatch = cell(studio, 5, studio.model.COLOUR).data(Qt.ItemDataRole.DecorationRole)
    assert swatch.getRgb()[:3] == (10, 20, 30)
    studio.panel.choose_colour(5, (200, 100, 0))
    assert studio.labels.instance(5).colour == (200, 100, 0)
    press(qtbot, studio, Qt.Key.Key_Z, CTRL)
    assert studio.labels.instance(5).colour == (10, 20, 30)


def test_double_clicking_the_swatch_opens_a_colour_dialog(qtbot, studio):
    table = studio.panel.table
    rect = table.visualRect(cell(studio, 2, studio.model.COLOUR))
    qtbot.mouseClick(table.viewport(), Qt.MouseButton.LeftButton, pos=rect.center())
    qtbot.mouseDClick(table.viewport(), Qt.MouseButton.LeftButton, pos=rect.center())
    dialog = studio.panel.colour_dialog
    assert dialog is not None and dialog.isVisible()
    dialog.setCurrentColor(QColor(1, 2, 3))
    dialog.accept()
    assert studio.labels.instance(2).colour == (1, 2, 3)


def test_visible_and_locked_checkboxes(qtbot, studio):
    model = studio.model
    visible = cell(studio, 4, model.VISIBLE)
    assert visible.data(Qt.ItemDataRole.CheckStateRole) == Qt.CheckState.Checked
    assert model.flags(visible) & Qt.ItemFlag.ItemIsUserCheckable
    assert model.setData(visible, Qt.CheckState.Unchecked, Qt.ItemDataRole.CheckStateRole)
    assert not studio.labels.instance(4).visible
    assert visible.data(Qt.ItemDataRole.CheckStateRole) == Qt.CheckState.Unchecked
    assert visible.data(Qt.ItemDataRole.ForegroundRole) is not None  # greyed
    assert model.setData(visible, Qt.CheckState.Checked.value, Qt.ItemDataRole.CheckStateRole)
    assert studio.labels.instance(4).visible
    locked = cell(studio, 4, model.LOCKED)
    assert model.setData(locked, Qt.CheckState.Checked, Qt.ItemDataRole.CheckStateRole)
    assert studio.labels.instance(4).locked
    assert studio.labels.history.undo_text == "lock 4"


def test_clicking_the_visible_box_hides(qtbot, studio):
    table = studio.panel.table
    index = cell(studio, 3, studio.model.VISIBLE)
    table.scrollTo(index)
    option = QStyleOptionViewItem()
    option.rect = table.visualRect(index)
    option.features |= QStyleOptionViewItem.ViewItemFeature.HasCheckIndicator
    box = table.style().subElementRect(
        QStyle.SubElement.SE_ItemViewItemCheckIndicator, option, table
    )
    qtbot.mouseClick(table.viewport(), Qt.MouseButton.LeftButton, pos=box.center())
    assert not studio.labels.instance(3).visible
    assert studio.labels.hidden_ids() == {3}
