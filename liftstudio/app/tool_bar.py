"""The tool bar: selection tools, depth mode, brush size, the scribble threshold."""

from __future__ import annotations

from PySide6.QtCore import Qt, Signal
from PySide6.QtGui import QAction, QActionGroup, QKeySequence
from PySide6.QtWidgets import QComboBox, QLabel, QSlider, QToolBar, QWidget

from liftstudio.app.viewport.tools import TOOL_SHORTCUTS, SelectionTools, ToolMode

_TOOL_NAMES = {
    ToolMode.NAVIGATE: "Navigate",
    ToolMode.CLICK: "Click",
    ToolMode.RECT: "Rect",
    ToolMode.LASSO: "Lasso",
    ToolMode.BRUSH: "Brush",
    ToolMode.SCRIBBLE: "Scribble",
}
_SLIDER_STEPS = 200


class ToolBar(QToolBar):
    """Tool buttons (with their shortcuts) and the tools' options.

    Signals
    -------
    thresholdChanged(float)
        The scribble threshold slider moved.
    """

    thresholdChanged = Signal(float)

    def __init__(self, tools: SelectionTools, parent: QWidget | None = None) -> None:
        super().__init__("Tools", parent)
        self.setObjectName("tool-bar")
        self.tools = tools
        self.actions_by_mode: dict[ToolMode, QAction] = {}
        group = QActionGroup(self)
        for mode, name in _TOOL_NAMES.items():
            action = QAction(name, self, checkable=True)
            action.setShortcut(QKeySequence(TOOL_SHORTCUTS[mode]))
            action.setShortcutContext(Qt.ShortcutContext.WindowShortcut)
            action.setToolTip(f"{name} ({TOOL_SHORTCUTS[mode]})")
            action.triggered.connect(lambda _checked=False, m=mode: tools.set_mode(m))
            group.addAction(action)
            self.addAction(action)
            self.actions_by_mode[mode] = action
        self.actions_by_mode[ToolMode.NAVIGATE].setChecked(True)
        tools.modeChanged.connect(lambda mode: self.actions_by_mode[mode].setChecked(True))
        self.addSeparator()
        self.depth_combo = QComboBox()
        self.depth_combo.addItem("Visible surface", "surface")
        self.depth_combo.addItem("Straight through", "through")
        self.depth_combo.setToolTip("What rect, lasso and brush select")
        self.depth_combo.currentIndexChanged.connect(self._depth_changed)
        self.addWidget(self.depth_combo)
        self.addSeparator()
        self.addWidget(QLabel(" Scribble threshold "))
        self.threshold_slider = QSlider(Qt.Orientation.Horizontal)
        self.threshold_slider.setRange(0, _SLIDER_STEPS)
        self.threshold_slider.setFixedWidth(140)
        self.threshold_slider.valueChanged.connect(self._threshold_moved)
        self.addWidget(self.threshold_slider)
        self.set_threshold_range(None)

    def set_threshold_range(self, threshold: float | None) -> None:
        """Enable the slider at ``threshold`` (scores are in [0, 1]); None disables it."""
        self.threshold_slider.blockSignals(True)
        self.threshold_slider.setEnabled(threshold is not None)
        self.threshold_slider.setValue(round((threshold or 0.0) * _SLIDER_STEPS))
        self.threshold_slider.blockSignals(False)

    def _threshold_moved(self, value: int) -> None:
        self.thresholdChanged.emit(value / _SLIDER_STEPS)

    def _depth_changed(self) -> None:
        self.tools.options.depth_mode = self.depth_combo.currentData()
