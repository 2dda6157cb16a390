"""The dialog that starts mask generation for the training views of the open scene."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from PySide6.QtWidgets import (
    QComboBox,
    QDialog,
    QDialogButtonBox,
    QFormLayout,
    QLineEdit,
    QWidget,
)

from liftstudio.app.path_field import path_row
from liftstudio.sources.mask_generation import MASK_SOURCE_NAMES


@dataclass(frozen=True)
class MaskRequest:
    """What the user asked for.

    Attributes
    ----------
    source
        ``felzenszwalb``, ``slic`` or ``sam``.
    out
        Output folder of the label maps (must be empty or new).
    checkpoint
        SAM checkpoint (``sam`` only; None: the one in the settings file).
    """

    source: str
    out: Path
    checkpoint: Path | None = None


def default_masks_folder(scene_path: Path, source: str) -> Path:
    """``<scene folder>/liftstudio_masks/<source>`` (beside a bare splat file)."""
    folder = scene_path if scene_path.is_dir() else scene_path.parent
    return folder / "liftstudio_masks" / source


class MasksDialog(QDialog):
    """Asks for a :class:`MaskRequest`; ``request()`` reads it after ``accept``."""

    def __init__(self, scene_path: Path, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setWindowTitle("Generate masks of the training views")
        self._scene_path = scene_path
        self.source_combo = QComboBox()
        for name in MASK_SOURCE_NAMES:
            self.source_combo.addItem(name, name)
        self.out_edit = QLineEdit()
        self.checkpoint_edit = QLineEdit()
        self.checkpoint_edit.setPlaceholderText("from the settings file")
        form = QFormLayout(self)
        form.addRow("Source", self.source_combo)
        form.addRow("Output folder", path_row(self, self.out_edit, "Output folder", folder=True))
        form.addRow(
            "SAM checkpoint", path_row(self, self.checkpoint_edit, "SAM checkpoint", folder=False)
        )
        buttons = QDialogButtonBox(
            QDialogButtonBox.StandardButton.Ok | QDialogButtonBox.StandardButton.Cancel
        )
        buttons.accepted.connect(self.accept)
        buttons.rejected.connect(self.reject)
        form.addRow(buttons)
        self.source_combo.currentIndexChanged.connect(self._source_changed)
        self._source_changed()

    def request(self) -> MaskRequest:
        """The values entered."""
        checkpoint = self.checkpoint_edit.text().strip()
        return MaskRequest(
            source=self.source_combo.currentData(),
            out=Path(self.out_edit.text().strip()),
            checkpoint=Path(checkpoint) if checkpoint else None,
        )

    def _source_changed(self) -> None:
        source = self.source_combo.currentData()
        self.out_edit.setText(str(default_masks_folder(self._scene_path, source)))
        self.checkpoint_edit.setEnabled(source == "sam")
