"""The Scene panel: what was opened, and how the viewport draws it."""

from __future__ import annotations

from dataclasses import replace

from PySide6.QtCore import QSignalBlocker, Qt, Signal
from PySide6.QtGui import QColor
from PySide6.QtWidgets import (
    QCheckBox,
    QColorDialog,
    QComboBox,
    QDoubleSpinBox,
    QFormLayout,
    QGroupBox,
    QLabel,
    QPushButton,
    QSlider,
    QSpinBox,
    QVBoxLayout,
    QWidget,
)

from liftstudio.app.document import SceneDocument
from liftstudio.app.viewport.settings import ViewMode, ViewportSettings

#: The rows of the scene summary, top to bottom.
INFO_FIELDS = (
    "Path",
    "Kind",
    "Format",
    "Gaussians",
    "SH degree",
    "Train cameras",
    "Test cameras",
    "Images found",
    "Notes",
)
_MODES = (("Colour", ViewMode.COLOUR), ("Labels", ViewMode.LABELS), ("Depth", ViewMode.DEPTH))
_MAX_SH_DEGREE = 3


def scene_info(doc: SceneDocument | None) -> dict[str, str]:
    """The scene summary shown by :class:`ScenePanel`, one text per :data:`INFO_FIELDS`.

    Parameters
    ----------
    doc
        The opened scene, or None (every field reads "—").
    """
    if doc is None:
        return dict.fromkeys(INFO_FIELDS, "—")
    opened = doc.opened
    cameras = doc.train_cameras + doc.test_cameras
    found = sum(doc.image_path(camera) is not None for camera in cameras)
    return {
        "Path": str(opened.path),
        "Kind": opened.kind,
        "Format": opened.gaussians_format or "—",
        "Gaussians": f"{len(doc.gaussians):,}",
        "SH degree": str(doc.gaussians.sh_degree),
        "Train cameras": str(len(doc.train_cameras)),
        "Test cameras": str(len(doc.test_cameras)),
        "Images found": f"{found} of {len(cameras)} cameras",
        "Notes": "\n".join(opened.notes) or "—",
    }


class ColourButton(QPushButton):
    """A button showing a colour; clicking it opens a colour dialog.

    Signals
    -------
    colourChanged(QColor)
        The user picked another colour.
    """

    colourChanged = Signal(QColor)

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self._colour = QColor(0, 0, 0)
        self.clicked.connect(self._pick)
        self.set_colour(self._colour)

    def colour(self) -> QColor:
        """The colour shown."""
        return QColor(self._colour)

    def set_colour(self, colour: QColor) -> None:
        """Show ``colour`` (does not emit :attr:`colourChanged`)."""
        self._colour = QColor(colour)
        text = "#000000" if colour.lightness() > 127 else "#ffffff"
        self.setText(colour.name())
        self.setStyleSheet(f"background-color: {colour.name()}; color: {text};")

    def _pick(self) -> None:
        colour = QColorDialog.getColor(self._colour, self, "Background colour")
        if colour.isValid() and colour != self._colour:
            self.set_colour(colour)
            self.colourChanged.emit(colour)


class ScenePanel(QWidget):
    """The opened scene's summary and the viewport's render settings.

    Parameters
    ----------
    parent
        Qt parent.

    Signals
    -------
    settingsChanged(object)
        The new :class:`~liftstudio.app.viewport.settings.ViewportSettings` after the
        user changed a control.
    """

    settingsChanged = Signal(object)

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self._doc: SceneDocument | None = None
        self._settings = ViewportSettings()
        self._info_labels = {field: _info_label() for field in INFO_FIELDS}
        self._build_controls()
        layout = QVBoxLayout(self)
        layout.addWidget(self._info_group())
        layout.addWidget(self._settings_group())
        layout.addStretch(1)
        self._connect_controls()
        self.set_document(None)
        self.set_settings(self._settings)

    # ------------------------------------------------------------------ public API
    def set_document(self, doc: SceneDocument | None) -> None:
        """Summarise ``doc`` (None: nothing opened) and cap the SH degree control."""
        self._doc = doc
        for field, text in scene_info(doc).items():
            self._info_labels[field].setText(text)
        self._info_labels["Path"].setToolTip(str(doc.path) if doc is not None else "")
        with QSignalBlocker(self.sh_spin):
            self.sh_spin.setMaximum(doc.gaussians.sh_degree if doc is not None else _MAX_SH_DEGREE)
            self.sh_spin.setValue(self._settings.sh_degree)

    def info(self) -> dict[str, str]:
        """The summary texts as shown, by field name (:data:`INFO_FIELDS`)."""
        return {field: label.text() for field, label in self._info_labels.items()}

    def settings(self) -> ViewportSettings:
        """The render settings the controls show."""
        return self._settings

    def set_settings(self, settings: ViewportSettings) -> None:
        """Show ``settings`` in the controls (does not emit :attr:`settingsChanged`)."""
        self._settings = settings
        controls = (
            self.mode_combo,
            self.opacity_slider,
            self.highlight_check,
            self.sh_spin,
            self.point_check,
            self.point_size_spin,
        )
        blockers = [QSignalBlocker(control) for control in controls]
        self.mode_combo.setCurrentIndex(self.mode_combo.findData(settings.mode.value))
        self.opacity_slider.setValue(round(settings.label_opacity * 100))
        self.highlight_check.setChecked(settings.highlight_selection)
        self.background_button.set_colour(QColor.fromRgbF(*settings.background))
        self.sh_spin.setValue(settings.sh_degree)
        self.point_check.setChecked(settings.point_mode)
        self.point_size_spin.setValue(settings.point_size)
        self.point_size_spin.setEnabled(settings.point_mode)
        del blockers

    # ------------------------------------------------------------------ building
    def _build_controls(self) -> None:
        self.mode_combo = QComboBox()
        for text, mode in _MODES:
            self.mode_combo.addItem(text, mode.value)
        self.opacity_slider = QSlider(Qt.Orientation.Horizontal)
        self.opacity_slider.setRange(0, 100)
        self.opacity_slider.setToolTip("How strongly instance colours cover the scene colour")
        self.highlight_check = QCheckBox("Highlight selection")
        self.background_button = ColourButton()
        self.sh_spin = QSpinBox()
        self.sh_spin.setRange(0, _MAX_SH_DEGREE)
        self.sh_spin.setToolTip("Highest spherical-harmonics degree used for colour")
        self.point_check = QCheckBox("Draw points")
        self.point_check.setToolTip("One fixed-size point per Gaussian (very large scenes)")
        self.point_size_spin = QDoubleSpinBox()
        self.point_size_spin.setRange(0.5, 64.0)
        self.point_size_spin.setSingleStep(0.5)
        self.point_size_spin.setSuffix(" px")

    def _info_group(self) -> QGroupBox:
        group = QGroupBox("Scene")
        form = QFormLayout(group)
        for field, label in self._info_labels.items():
            form.addRow(f"{field}:", label)
        return group

    def _settings_group(self) -> QGroupBox:
        group = QGroupBox("Display")
        form = QFormLayout(group)
        form.addRow("Mode:", self.mode_combo)
        form.addRow("Label opacity:", self.opacity_slider)
        form.addRow("", self.highlight_check)
        form.addRow("Background:", self.background_button)
        form.addRow("SH degree:", self.sh_spin)
        form.addRow("", self.point_check)
        form.addRow("Point size:", self.point_size_spin)
        return group

    def _connect_controls(self) -> None:
        self.mode_combo.currentIndexChanged.connect(
            lambda _: self._update(mode=ViewMode(self.mode_combo.currentData()))
        )
        self.opacity_slider.valueChanged.connect(lambda v: self._update(label_opacity=v / 100))
        self.highlight_check.toggled.connect(lambda on: self._update(highlight_selection=on))
        self.background_button.colourChanged.connect(
            lambda c: self._update(background=(c.redF(), c.greenF(), c.blueF()))
        )
        self.sh_spin.valueChanged.connect(lambda v: self._update(sh_degree=v))
        self.point_check.toggled.connect(self._on_point_mode)
        self.point_size_spin.valueChanged.connect(lambda v: self._update(point_size=v))

    def _on_point_mode(self, on: bool) -> None:
        self.point_size_spin.setEnabled(on)
        self._update(point_mode=on)

    def _update(self, **changes: object) -> None:
        self._settings = replace(self._settings, **changes)
        self.settingsChanged.emit(self._settings)


def _info_label() -> QLabel:
    label = QLabel()
    label.setWordWrap(True)
    label.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
    return label
