"""The dialog that starts a lift: which masks folder, which method, how many steps."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from PySide6.QtWidgets import (
    QComboBox,
    QDialog,
    QDialogButtonBox,
    QFormLayout,
    QLineEdit,
    QSpinBox,
    QWidget,
)

from liftstudio.app.path_field import path_row
from liftstudio.lift.registry import lift_methods
from liftstudio.sources.mask_import import mask_formats


@dataclass(frozen=True)
class LiftRequest:
    """What the user asked for.

    Attributes
    ----------
    masks
        Folder of per-view masks.
    method
        Registered method name.
    mask_format
        Layout name or ``"auto"``.
    steps
        Training steps for learned methods (None: the method's default).
    """

    masks: Path
    method: str
    mask_format: str = "auto"
    steps: int | None = None


class LiftDialog(QDialog):
    """Asks for a :class:`LiftRequest`; ``request()`` reads it after ``accept``."""

    def __init__(self, parent: QWidget | None = None, *, masks: Path | None = None) -> None:
        super().__init__(parent)
        self.setWindowTitle("Lift masks onto the Gaussians")
        self.masks_edit = QLineEdit(str(masks) if masks else "")
        masks_row = path_row(self, self.masks_edit, "Masks folder", folder=True)
        self.method_combo = QComboBox()
        for name, method in lift_methods().items():
            self.method_combo.addItem(f"{name} — {method.description}", name)
        self.format_combo = QComboBox()
        self.format_combo.addItem("auto (detect)", "auto")
        for name in mask_formats():
            self.format_combo.addItem(name, name)
        self.steps_spin = QSpinBox()
        self.steps_spin.setRange(0, 100_000)
        self.steps_spin.setSpecialValueText("method default")
        self.steps_spin.setSingleStep(100)
        form = QFormLayout(self)
        form.addRow("Masks folder", masks_row)
        form.addRow("Method", self.method_combo)
        form.addRow("Mask layout", self.format_combo)
        form.addRow("Training steps", self.steps_spin)
        buttons = QDialogButtonBox(
            QDialogButtonBox.StandardButton.Ok | QDialogButtonBox.StandardButton.Cancel
        )
        buttons.accepted.connect(self.accept)
        buttons.rejected.connect(self.reject)
        form.addRow(buttons)

    def request(self) -> LiftRequest:
        """The values entered."""
        steps = self.steps_spin.value()
        return LiftRequest(
            masks=Path(self.masks_edit.text().strip()),
            method=self.method_combo.currentData(),
            mask_format=self.format_combo.currentData(),
            steps=steps if steps > 0 else None,
        )
