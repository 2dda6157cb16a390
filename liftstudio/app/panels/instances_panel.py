"""The Instances panel: the editable instance table; selecting rows selects their Gaussians."""

from __future__ import annotations

import contextlib
from collections.abc import Sequence
from typing import ClassVar

import numpy as np
from PySide6.QtCore import (
    QAbstractTableModel,
    QItemSelection,
    QItemSelectionModel,
    QModelIndex,
    QPersistentModelIndex,
    Qt,
    QTimer,
    Signal,
)
from PySide6.QtGui import QColor, QGuiApplication, QPalette
from PySide6.QtWidgets import (
    QAbstractItemView,
    QColorDialog,
    QHeaderView,
    QLabel,
    QTableView,
    QVBoxLayout,
    QWidget,
)

from liftstudio.app.document import SceneDocument
from liftstudio.labels import UNLABELED, Instance, LabelModel

_Index = QModelIndex | QPersistentModelIndex


class InstanceTableModel(QAbstractTableModel):
    """The instance table: swatch, id, name, class, count, visible and locked boxes.

    Name and class are edited in place, the swatch takes a colour through
    :meth:`setData` (``DecorationRole``) and the two boxes toggle through
    ``CheckStateRole``. Every edit goes to the label model given to :meth:`set_labels`
    as one undo step; the edited row is shown at once, the rest waits for the panel's
    refresh. Hidden instances are drawn greyed.

    Parameters
    ----------
    parent
        Qt parent.
    """

    COLUMNS = ("", "ID", "Name", "Class", "Gaussians", "Visible", "Locked")
    COLOUR, ID, NAME, CLASS, COUNT, VISIBLE, LOCKED = range(7)
    _TEXT_FIELDS: ClassVar[dict[int, str]] = {NAME: "name", CLASS: "class_name"}
    _CHECK_FIELDS: ClassVar[dict[int, str]] = {VISIBLE: "visible", LOCKED: "locked"}

    def __init__(self, parent=None) -> None:
        super().__init__(parent)
        self._instances: list[Instance] = []
        self._rows: dict[int, int] = {}
        self._labels: LabelModel | None = None

    def set_labels(self, labels: LabelModel | None) -> None:
        """Send edits to ``labels`` (None: the table is read-only)."""
        self._labels = labels

    def set_instances(self, instances: Sequence[Instance]) -> None:
        """Show ``instances``; rows are updated in place when the ids are the same."""
        instances = list(instances)
        if [i.id for i in instances] == [i.id for i in self._instances]:
            self._instances = instances
            if instances:
                last = self.index(len(instances) - 1, len(self.COLUMNS) - 1)
                self.dataChanged.emit(self.index(0, 0), last)
            return
        self.beginResetModel()
        self._instances = instances
        self._rows = {instance.id: row for row, instance in enumerate(instances)}
        self.endResetModel()

    def instance(self, row: int) -> Instance:
        """The instance shown in ``row``."""
        return self._instances[row]

    def row_of(self, instance_id: int) -> int | None:
        """The row showing ``instance_id``, or None."""
        return self._rows.get(int(instance_id))

    def rowCount(self, parent: _Index = QModelIndex()) -> int:  # noqa: B008 (Qt API)
        """Number of instances (0 under any parent: it is a flat table)."""
        return 0 if parent.isValid() else len(self._instances)

    def columnCount(self, parent: _Index = QModelIndex()) -> int:  # noqa: B008 (Qt API)
        """Number of columns."""
        return 0 if parent.isValid() else len(self.COLUMNS)

    def data(self, index: _Index, role: int = Qt.ItemDataRole.DisplayRole) -> object:
        """Text, swatch colour, check state, greying, alignment and id of one cell."""
        if not index.isValid():
            return None
        instance, column = self._instances[index.row()], index.column()
        if role == Qt.ItemDataRole.DecorationRole and column == self.COLOUR:
            return QColor(*instance.colour, 255 if instance.visible else _HIDDEN_ALPHA)
        if role == Qt.ItemDataRole.DisplayRole:
            return _cell_text(instance, column)
        if role == Qt.ItemDataRole.EditRole and column in self._TEXT_FIELDS:
            return getattr(instance, self._TEXT_FIELDS[column]) or ""
        if role == Qt.ItemDataRole.CheckStateRole and column in self._CHECK_FIELDS:
            checked = getattr(instance, self._CHECK_FIELDS[column])
            return Qt.CheckState.Checked if checked else Qt.CheckState.Unchecked
        if role == Qt.ItemDataRole.ForegroundRole and not instance.visible:
            return QGuiApplication.palette().color(
                QPalette.ColorGroup.Disabled, QPalette.ColorRole.Text
            )
        if role == Qt.ItemDataRole.UserRole:
            return instance.id
        if role == Qt.ItemDataRole.TextAlignmentRole and column in (self.ID, self.COUNT):
            return int(Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter)
        if role == Qt.ItemDataRole.ToolTipRole and column == self.COLOUR:
            return "Double-click to choose the colour"
        return None

    def setData(self, index: _Index, value: object, role: int = Qt.ItemDataRole.EditRole) -> bool:
        """Edit a name or class (``EditRole``), a box (``CheckStateRole``) or the colour.

        Returns
        -------
        bool
            Whether the edit was taken (False without labels or for a read-only cell).
        """
        if not index.isValid() or self._labels is None:
            return False
        instance, column = self._instances[index.row()], index.column()
        fields = self._edit_fields(column, value, role)
        if fields is None:
            return False
        with self._labels.step(_step_text(instance.id, fields)):
            self._labels.update_instance(instance.id, **fields)
        self._instances[index.row()] = self._labels.instance(instance.id)
        row = index.row()
        self.dataChanged.emit(self.index(row, 0), self.index(row, len(self.COLUMNS) - 1))
        return True

    def _edit_fields(self, column: int, value: object, role: int) -> dict[str, object] | None:
        if role == Qt.ItemDataRole.EditRole and column in self._TEXT_FIELDS:
            text = str(value or "").strip()
            return {self._TEXT_FIELDS[column]: text or None}
        if role == Qt.ItemDataRole.CheckStateRole and column in self._CHECK_FIELDS:
            return {self._CHECK_FIELDS[column]: _is_checked(value)}
        if role == Qt.ItemDataRole.DecorationRole and column == self.COLOUR:
            return {"colour": _rgb(value)}  # type: ignore[arg-type]
        return None

    def headerData(
        self, section: int, orientation: Qt.Orientation, role: int = Qt.ItemDataRole.DisplayRole
    ) -> object:
        """Column titles."""
        if role == Qt.ItemDataRole.DisplayRole and orientation == Qt.Orientation.Horizontal:
            return self.COLUMNS[section]
        return None

    def flags(self, index: _Index) -> Qt.ItemFlag:
        """Selectable; name and class editable, visible and locked checkable."""
        if not index.isValid():
            return Qt.ItemFlag.NoItemFlags
        flags = Qt.ItemFlag.ItemIsEnabled | Qt.ItemFlag.ItemIsSelectable
        if self._labels is None:
            return flags
        if index.column() in self._TEXT_FIELDS:
            flags |= Qt.ItemFlag.ItemIsEditable
        elif index.column() in self._CHECK_FIELDS:
            flags |= Qt.ItemFlag.ItemIsUserCheckable
        return flags


_HIDDEN_ALPHA = 70


def _is_checked(value: object) -> bool:
    if isinstance(value, Qt.CheckState):
        return value == Qt.CheckState.Checked
    if isinstance(value, bool):
        return value
    return int(value) == Qt.CheckState.Checked.value  # type: ignore[call-overload] (Qt int)


def _rgb(value: QColor | Sequence[int]) -> tuple[int, int, int]:
    if isinstance(value, QColor):
        return (value.red(), value.green(), value.blue())
    r, g, b = (int(c) for c in value)
    return (r, g, b)


def _step_text(instance_id: int, fields: dict[str, object]) -> str:
    ((field, value),) = fields.items()
    if field == "visible":
        return f"{'show' if value else 'hide'} {instance_id}"
    if field == "locked":
        return f"{'lock' if value else 'unlock'} {instance_id}"
    if field == "colour":
        return f"recolour {instance_id}"
    what = "rename" if field == "name" else "set class of"
    return f"{what} {instance_id}"


def _cell_text(instance: Instance, column: int) -> str | None:
    if column == InstanceTableModel.ID:
        return str(instance.id)
    if column == InstanceTableModel.NAME:
        return instance.name
    if column == InstanceTableModel.CLASS:
        return instance.class_name or ""
    if column == InstanceTableModel.COUNT:
        return f"{instance.count:,}"
    return None


def summary_text(doc: SceneDocument | None) -> str:
    """``"N instances, M of T Gaussians labeled"`` for ``doc`` (None: no scene)."""
    if doc is None:
        return "No scene"
    labels = doc.labels
    total = labels.num_gaussians
    labeled = total - labels.count(UNLABELED)
    count = len(labels.instances())
    noun = "instance" if count == 1 else "instances"
    return f"{count} {noun}, {labeled:,} of {total:,} Gaussians labeled"


class InstancesPanel(QWidget):
    """The instances of the document's labels; selecting rows selects their Gaussians.

    The table refreshes once per burst of ``labelsChanged`` and ``instancesChanged``
    events (a zero-delay single-shot timer coalesces them). Double-clicking a name or
    class edits it in place, double-clicking the swatch picks a colour
    (:meth:`choose_colour`), the Visible and Locked boxes toggle.

    Parameters
    ----------
    parent
        Qt parent.

    Signals
    -------
    refreshed()
        The table and the summary were rebuilt from the labels.
    """

    refreshed = Signal()

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self._doc: SceneDocument | None = None
        self._restoring = False
        self.model = InstanceTableModel(self)
        self.summary = QLabel()
        self.table = _table_view(self.model)
        self.table.selectionModel().selectionChanged.connect(self._on_rows_selected)
        self.table.doubleClicked.connect(self._on_double_clicked)
        self.colour_dialog: QColorDialog | None = None
        self._refresh_timer = QTimer(self)
        self._refresh_timer.setSingleShot(True)
        self._refresh_timer.setInterval(0)
        self._refresh_timer.timeout.connect(self.refresh)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(2, 2, 2, 2)
        layout.addWidget(self.summary)
        layout.addWidget(self.table, 1)
        self.refresh()

    def set_document(self, doc: SceneDocument | None) -> None:
        """Show the instances of ``doc`` (None: an empty table)."""
        if self._doc is not None:
            with contextlib.suppress(RuntimeError):  # the old document may be gone
                self._doc.labelsChanged.disconnect(self._schedule_refresh)
                self._doc.instancesChanged.disconnect(self._schedule_refresh)
        self._doc = doc
        self.model.set_labels(doc.labels if doc is not None else None)
        if self.colour_dialog is not None:
            self.colour_dialog.reject()
            self.colour_dialog.deleteLater()
            self.colour_dialog = None
        if doc is not None:
            doc.labelsChanged.connect(self._schedule_refresh)
            doc.instancesChanged.connect(self._schedule_refresh)
        self._refresh_timer.stop()
        self._restoring = True  # a new document starts with its own (empty) selection
        self.table.clearSelection()
        self._restoring = False
        self.refresh()

    def refresh(self) -> None:
        """Rebuild the table and the summary now, keeping the selected instances selected."""
        self._refresh_timer.stop()
        selected = self.selected_ids()
        self.model.set_instances(self._doc.labels.instances() if self._doc is not None else [])
        self.summary.setText(summary_text(self._doc))
        self._restoring = True
        try:
            self._select_rows(selected)
        finally:
            self._restoring = False
        self.refreshed.emit()

    def selected_ids(self) -> list[int]:
        """The ids of the selected rows, ascending."""
        rows = {index.row() for index in self.table.selectionModel().selectedRows()}
        return sorted(self.model.instance(row).id for row in rows)

    def select_ids(self, instance_ids: Sequence[int]) -> None:
        """Select the rows of ``instance_ids`` (and so their Gaussians)."""
        self._select_rows(instance_ids)
        rows = [self.model.row_of(int(i)) for i in instance_ids]
        shown = [row for row in rows if row is not None]
        if shown:
            self.table.scrollTo(self.model.index(min(shown), self.model.NAME))

    def edit_name(self, instance_id: int) -> bool:
        """Start editing the name cell of ``instance_id``; False when it has no row."""
        row = self.model.row_of(instance_id)
        if row is None or self._doc is None:
            return False
        index = self.model.index(row, self.model.NAME)
        self.table.scrollTo(index)
        self.table.setFocus()
        self.table.edit(index)
        return True

    def choose_colour(self, instance_id: int, colour: QColor | Sequence[int] | None = None) -> None:
        """Give ``instance_id`` the colour ``colour``; None asks for it in a colour dialog.

        Parameters
        ----------
        instance_id
            The instance to recolour; nothing happens when it has no row.
        colour
            A ``QColor`` or ``(r, g, b)`` in 0-255. None opens a window-modal
            ``QColorDialog`` without blocking (kept as :attr:`colour_dialog`); the
            colour is taken when the user accepts it.
        """
        row = self.model.row_of(instance_id)
        if row is None or self._doc is None:
            return
        index = self.model.index(row, self.model.COLOUR)
        if colour is not None:
            self.model.setData(index, colour, Qt.ItemDataRole.DecorationRole)
            return
        if self.colour_dialog is not None:
            self.colour_dialog.reject()
            self.colour_dialog.deleteLater()
        instance = self.model.instance(row)
        dialog = QColorDialog(QColor(*instance.colour), self)
        dialog.setWindowTitle(f"Colour of {instance.name}")
        dialog.colorSelected.connect(lambda chosen: self.choose_colour(instance_id, chosen))
        self.colour_dialog = dialog
        dialog.open()

    def _on_double_clicked(self, index: QModelIndex) -> None:
        if index.isValid() and index.column() == self.model.COLOUR:
            self.choose_colour(self.model.instance(index.row()).id)

    def _schedule_refresh(self, _indices: object) -> None:
        self._refresh_timer.start()

    def _select_rows(self, instance_ids: Sequence[int]) -> None:
        selection = QItemSelection()
        for instance_id in instance_ids:
            row = self.model.row_of(int(instance_id))
            if row is not None:
                last = self.model.index(row, self.model.columnCount() - 1)
                selection.select(self.model.index(row, 0), last)
        flags = QItemSelectionModel.SelectionFlag.ClearAndSelect
        self.table.selectionModel().select(selection, flags)

    def _on_rows_selected(self, *_args: object) -> None:
        if self._restoring or self._doc is None:
            return
        ids = np.asarray(self.selected_ids(), dtype=np.int64)
        gaussians = np.flatnonzero(np.isin(self._doc.labels.ids, ids)) if ids.size else ids
        self._doc.selection.replace(gaussians)


def _table_view(model: InstanceTableModel) -> QTableView:
    table = QTableView()
    table.setModel(model)
    table.setSelectionBehavior(QAbstractItemView.SelectionBehavior.SelectRows)
    table.setSelectionMode(QAbstractItemView.SelectionMode.ExtendedSelection)
    table.setEditTriggers(
        QAbstractItemView.EditTrigger.DoubleClicked | QAbstractItemView.EditTrigger.EditKeyPressed
    )
    table.verticalHeader().setVisible(False)
    header = table.horizontalHeader()
    header.setSectionResizeMode(QHeaderView.ResizeMode.ResizeToContents)
    for column in (InstanceTableModel.NAME, InstanceTableModel.CLASS):
        header.setSectionResizeMode(column, QHeaderView.ResizeMode.Stretch)
    return table
