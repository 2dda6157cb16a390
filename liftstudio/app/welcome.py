"""The page the main window shows before a scene is open: open buttons and recent files."""

from __future__ import annotations

from pathlib import Path

from PySide6.QtCore import Qt, Signal
from PySide6.QtWidgets import (
    QHBoxLayout,
    QLabel,
    QListWidget,
    QListWidgetItem,
    QPushButton,
    QVBoxLayout,
    QWidget,
)

from liftstudio.app.recent_files import RecentFiles


class WelcomePage(QWidget):
    """Open scene / open folder / open demo, and the recent files.

    Signals
    -------
    openFileRequested(), openFolderRequested(), openDemoRequested()
        A button was pressed.
    openPathRequested(object)
        A recent file was activated (its ``Path``).
    """

    openFileRequested = Signal()
    openFolderRequested = Signal()
    openDemoRequested = Signal()
    openPathRequested = Signal(object)

    def __init__(self, recent: RecentFiles, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self._recent = recent
        title = QLabel("<h1>LiftStudio</h1>")
        blurb = QLabel(
            "Segment a trained 3D Gaussian Splatting scene into instances: open the scene, "
            "lift 2D masks of its training views onto the Gaussians, look at the result.\n"
            "Drop a .ply file or a scene folder anywhere in this window."
        )
        blurb.setWordWrap(True)
        buttons = QHBoxLayout()
        for text, signal in (
            ("Open scene file…", self.openFileRequested),
            ("Open scene folder…", self.openFolderRequested),
            ("Open demo", self.openDemoRequested),
        ):
            button = QPushButton(text)
            button.clicked.connect(signal.emit)
            buttons.addWidget(button)
        buttons.addStretch(1)
        self.recent_list = QListWidget()
        self.recent_list.itemActivated.connect(self._activated)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(48, 48, 48, 48)
        layout.addWidget(title)
        layout.addWidget(blurb)
        layout.addLayout(buttons)
        layout.addSpacing(16)
        layout.addWidget(QLabel("<b>Recent scenes</b>"))
        layout.addWidget(self.recent_list, 1)
        recent.changed.connect(self.refresh)
        self.refresh()

    def refresh(self) -> None:
        """Re-read the recent files."""
        self.recent_list.clear()
        for path in self._recent.paths():
            item = QListWidgetItem(f"{path.name}    —    {path.parent}")
            item.setData(Qt.ItemDataRole.UserRole, str(path))
            item.setToolTip(str(path))
            self.recent_list.addItem(item)
        if self.recent_list.count() == 0:
            placeholder = QListWidgetItem("(nothing opened yet)")
            placeholder.setFlags(Qt.ItemFlag.NoItemFlags)
            self.recent_list.addItem(placeholder)

    def _activated(self, item: QListWidgetItem) -> None:
        path = item.data(Qt.ItemDataRole.UserRole)
        if path:
            self.openPathRequested.emit(Path(path))
