"""The Instances panel: the instance table; selecting rows selects their Gaussians."""

from __future__ import annotations

import contextlib
from collections.abc import Sequence

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
from PySide6.QtGui import QColor
from PySide6.QtWidgets import (
    QAbstractItemView,
    QHeaderView,
    QLabel,
    QTableView,
    QVBoxLayout,
    QWidget,
)

from liftstudio.app.document import SceneDocument
from liftstudio.labels import UNLABELED, Instance

_Index = QModelIndex | QPersistentModelIndex


class InstanceTableModel(QAbstractTableModel):
    """The instance table (read-only): colour swatch, id, name, Gaussian count.

    Parameters
    ----------
    parent
        Qt parent.
    """

    COLUMNS = ("", "ID", "Name", "Gaussians")
    COLOUR, ID, NAME, COUNT = range(4)

    def __init__(self, parent=None) -> None:
        super().__init__(parent)
        self._instances: list[Instance] = []
        self._rows: dict[int, int] = {}

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
        """Text, swatch colour, alignment and sort key of one cell."""
        if not index.isValid():
            return None
        instance, column = self._instances[index.row()], index.column()
        if role == Qt.ItemDataRole.DecorationRole and column == self.COLOUR:
            return QColor(*instance.colour)
        if role == Qt.ItemDataRole.DisplayRole:
            return _cell_text(instance, column)
        if role == Qt.ItemDataRole.UserRole:
            return instance.id
        if role == Qt.ItemDataRole.TextAlignmentRole and column in (self.ID, self.COUNT):
            return int(Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter)
        return None

    def headerData(
        self, section: int, orientation: Qt.Orientation, role: int = Qt.ItemDataRole.DisplayRole
    ) -> object:
        """Column titles."""
        if role == Qt.ItemDataRole.DisplayRole and orientation == Qt.Orientation.Horizontal:
            return self.COLUMNS[section]
        return None

    def flags(self, index: _Index) -> Qt.ItemFlag:
        """Selectable, not editable (editing comes with the tools)."""
        if not index.isValid():
            return Qt.ItemFlag.NoItemFlags
        return Qt.ItemFlag.ItemIsEnabled | Qt.ItemFlag.ItemIsSelectable


def _cell_text(instance: Instance, column: int) -> str | None:
    if column == InstanceTableModel.ID:
        return str(instance.id)
    if column == InstanceTableModel.NAME:
        return instance.name
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

    The table refreshes once per burst of ``labelsChanged`` events (a zero-delay
    single-shot timer coalesces them).

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
    table.setEditTriggers(QAbstractItemView.EditTrigger.NoEditTriggers)
    table.verticalHeader().setVisible(False)
    header = table.horizontalHeader()
    header.setSectionResizeMode(InstanceTableModel.NAME, QHeaderView.ResizeMode.Stretch)
    for column in (InstanceTableModel.COLOUR, InstanceTableModel.ID, InstanceTableModel.COUNT):
        header.setSectionResizeMode(column, QHeaderView.ResizeMode.ResizeToContents)
    return table
