"""The QA panel: how well the current labels agree with the 2D masks, worst first.

It shows a :class:`~liftstudio.evaluate.consistency.ConsistencyReport` made by a
background job (the main window runs it): a table of instances with their score,
worst view and views seen, and the disagreement heatmap of the chosen row's view over
its image. Clicking a row asks to jump there (the main window snaps the viewport to
that view and selects the instance).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pyqtgraph as pg
from PySide6.QtCore import Qt, Signal
from PySide6.QtWidgets import (
    QAbstractItemView,
    QLabel,
    QPushButton,
    QTableWidget,
    QTableWidgetItem,
    QVBoxLayout,
    QWidget,
)

from liftstudio.evaluate.consistency import ConsistencyReport, heatmap_rgb
from liftstudio.scene.camera import Camera
from liftstudio.sources.images import load_rgb

_COLUMNS = ("Instance", "Score", "Worst view", "Worst IoU", "Views")


class QaPanel(QWidget):
    """Consistency of the labels with the masks.

    Signals
    -------
    checkRequested()
        The user asked for a (new) check.
    jumpRequested(object, int)
        Show camera (a core :class:`Camera`) and select instance ``int``.
    """

    checkRequested = Signal()
    jumpRequested = Signal(object, int)

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.report: ConsistencyReport | None = None
        self._cameras: list[Camera] = []
        self._images: list[Path | None] = []
        self.check_button = QPushButton("Check labels against masks")
        self.check_button.clicked.connect(self.checkRequested.emit)
        self.summary = QLabel("Lift or load masks, then check.")
        self.summary.setWordWrap(True)
        self.table = QTableWidget(0, len(_COLUMNS))
        self.table.setHorizontalHeaderLabels(_COLUMNS)
        self.table.setEditTriggers(QAbstractItemView.EditTrigger.NoEditTriggers)
        self.table.setSelectionBehavior(QAbstractItemView.SelectionBehavior.SelectRows)
        self.table.setSelectionMode(QAbstractItemView.SelectionMode.SingleSelection)
        self.table.verticalHeader().setVisible(False)
        self.table.itemSelectionChanged.connect(self._row_chosen)
        self.heatmap = pg.ImageItem(axisOrder="row-major")
        view = pg.GraphicsLayoutWidget()
        plot = view.addViewBox(lockAspect=True, invertY=True)
        plot.addItem(self.heatmap)
        view.setMinimumHeight(140)
        layout = QVBoxLayout(self)
        layout.addWidget(self.check_button)
        layout.addWidget(self.summary)
        layout.addWidget(self.table, 2)
        layout.addWidget(view, 1)

    def set_report(
        self,
        report: ConsistencyReport | None,
        cameras: list[Camera],
        image_paths: list[Path | None] | None = None,
    ) -> None:
        """Show ``report`` (its views are ``cameras``, in order); None clears.

        ``image_paths`` are the views' training images, drawn under the heatmap.
        """
        self.report = report
        self._cameras = list(cameras)
        self._images = list(image_paths) if image_paths is not None else [None] * len(cameras)
        self.table.setRowCount(0)
        self.heatmap.clear()
        if report is None:
            self.summary.setText("Lift or load masks, then check.")
            return
        self.summary.setText(report.summary())
        self.table.setRowCount(len(report.instances))
        for row, score in enumerate(report.instances):
            values = (
                str(score.instance_id),
                f"{score.score:.3f}",
                report.views[score.worst_view],
                f"{score.worst_iou:.3f}",
                str(score.views_seen),
            )
            for column, text in enumerate(values):
                item = QTableWidgetItem(text)
                item.setData(Qt.ItemDataRole.UserRole, row)
                self.table.setItem(row, column, item)
        self.table.resizeColumnsToContents()

    def displayed_heatmap(self) -> np.ndarray | None:
        """The RGB image shown under the table (for tests)."""
        return self.heatmap.image

    def _row_chosen(self) -> None:
        rows = self.table.selectionModel().selectedRows()
        if not rows or self.report is None:
            return
        score = self.report.instances[rows[0].row()]
        view = score.worst_view
        camera = self._cameras[view]
        disagreement = self.report.disagreement[view]
        image = None
        path = self._images[view]
        if path is not None and path.is_file():
            height, width = disagreement.shape
            image = load_rgb(path, (width, height))
        self.heatmap.setImage(heatmap_rgb(disagreement, image, opacity=0.8))
        self.jumpRequested.emit(camera, score.instance_id)
