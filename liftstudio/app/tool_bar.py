"""The tool bar: selection tools, depth mode, click target, the score threshold."""

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
    ToolMode.SAM: "SAM click",
}
_TOOL_TIPS = {
    ToolMode.SAM: "SAM click (P): click an object in the Views panel's image; SAM segments "
    "it in every training view and the masks are lifted",
    ToolMode.SCRIBBLE: "Scribble (G): draw on an object; graph diffusion selects it",
}
_SLIDER_STEPS = 200


class ToolBar(QToolBar):
    """Tool buttons (with their shortcuts) and the tools' options.

    Signals
    -------
    thresholdChanged(float)
        The score threshold slider moved (scribble and SAM click results).
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
            action.setToolTip(_TOOL_TIPS.get(mode, f"{name} ({TOOL_SHORTCUTS[mode]})"))
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
        self.click_combo = QComboBox()
        self.click_combo.addItem("Click: instance", "instance")
        self.click_combo.addItem("Click: segment", "segment")
        self.click_combo.setToolTip(
            "What a click selects: the clicked Gaussian's instance, or its segment "
            "(the codebook code of a codebook lift)"
        )
        self.click_combo.currentIndexChanged.connect(self._click_target_changed)
        self.addWidget(self.click_combo)
        self.set_segments_available(False)
        self.addSeparator()
        self.addWidget(QLabel(" Threshold "))
        self.threshold_slider = QSlider(Qt.Orientation.Horizontal)
        self.threshold_slider.setRange(0, _SLIDER_STEPS)
        self.threshold_slider.setFixedWidth(140)
        self.threshold_slider.valueChanged.connect(self._threshold_moved)
        self.addWidget(self.threshold_slider)
        self.set_threshold_range(None)

    def restore_options(self, options: dict) -> None:
        """Apply saved tool options (``depth_mode``, ``brush_radius``); bad values are skipped."""
        index = self.depth_combo.findData(options.get("depth_mode"))
        if index >= 0:
            self.depth_combo.setCurrentIndex(index)
        radius = options.get("brush_radius")
        if isinstance(radius, (int, float)) and not isinstance(radius, bool) and radius > 0:
            self.tools.set_brush_radius(radius)

    def set_sam_available(self, reason: str | None) -> None:
        """Enable the SAM click tool, or disable it saying why (``reason``)."""
        action = self.actions_by_mode[ToolMode.SAM]
        action.setEnabled(reason is None)
        action.setToolTip(_TOOL_TIPS[ToolMode.SAM] if reason is None else f"SAM click: {reason}")
        if reason is not None and self.tools.mode == ToolMode.SAM:
            self.tools.set_mode(ToolMode.NAVIGATE)

    def set_segments_available(self, available: bool) -> None:
        """Offer "Click: segment" only when the document has segments."""
        item = self.click_combo.model().item(self.click_combo.findData("segment"))
        item.setEnabled(available)
        if not available:
            self.click_combo.setCurrentIndex(self.click_combo.findData("instance"))

    def set_threshold_range(self, threshold: float | None) -> None:
        """Enable the slider at ``threshold`` (scores are in [0, 1]); None disables it."""
        self.threshold_slider.blockSignals(True)
        self.threshold_slider.setEnabled(threshold is not None)
        self.threshold_slider.setValue(round((threshold or 0.0) * _SLIDER_STEPS))
        self.threshold_slider.blockSignals(False)

    def _threshold_moved(self, value: int) -> None:
        self.thresholdChanged.emit(value / _SLIDER_STEPS)

    def _click_target_changed(self) -> None:
        self.tools.options.click_target = self.click_combo.currentData()

    def _depth_changed(self) -> None:
        self.tools.options.depth_mode = self.depth_combo.currentData()
