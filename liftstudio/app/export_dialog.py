"""The dialog that exports the open scene's labels (File → Export labels…).

It fills an :class:`~liftstudio.export.export_job.ExportRequest`, the same request
``liftstudio export`` builds from its flags; the main window runs it as a job.
"""

from __future__ import annotations

from pathlib import Path

from PySide6.QtWidgets import (
    QCheckBox,
    QComboBox,
    QDialog,
    QDialogButtonBox,
    QFormLayout,
    QLineEdit,
    QVBoxLayout,
    QWidget,
)

from liftstudio.app.path_field import path_row
from liftstudio.export.export_job import ExportRequest

#: Format → what the check box says (the CLI's ``--help`` says the same in more words).
EXPORT_FORMATS = {
    "ply": "Labeled PLY + sidecar JSON (every column kept, plus instance / label)",
    "instances": "One PLY per instance (folder instances/)",
    "label-maps": "Per-view 16-bit label maps of the training cameras",
    "object-mask": "Gaussian Grouping object_mask/<image>.png (8-bit, ≤ 255 instances)",
    "saga": "SAGA boolean masks sam_masks/<image>.pt",
    "coco": "COCO JSON with RLE masks, one file per view",
}


def default_export_folder(scene_path: Path) -> Path:
    """``<scene folder>/liftstudio_export`` (beside a bare splat file).

    For the built-in demo: ``liftstudio_export/demo`` in the user's documents (the
    installed package is never written).
    """
    from PySide6.QtCore import QStandardPaths

    from liftstudio.evaluate.demo_scene import demo_dir

    if scene_path.resolve() == demo_dir().resolve():
        documents = QStandardPaths.writableLocation(
            QStandardPaths.StandardLocation.DocumentsLocation
        )
        return Path(documents) / "liftstudio_export" / "demo"
    folder = scene_path if scene_path.is_dir() else scene_path.parent
    return folder / "liftstudio_export"


class ExportDialog(QDialog):
    """Asks for an :class:`ExportRequest`; :meth:`request` reads it after ``accept``.

    Parameters
    ----------
    scene_path
        The open scene (the default folder goes beside it).
    has_cameras
        Whether the per-view formats can be offered.
    """

    def __init__(
        self, scene_path: Path, *, has_cameras: bool, parent: QWidget | None = None
    ) -> None:
        super().__init__(parent)
        self.setWindowTitle("Export labels")
        self.buttons = QDialogButtonBox(
            QDialogButtonBox.StandardButton.Ok | QDialogButtonBox.StandardButton.Cancel
        )
        self.buttons.accepted.connect(self.accept)
        self.buttons.rejected.connect(self.reject)
        self.format_boxes: dict[str, QCheckBox] = {}
        boxes = QVBoxLayout()
        for name, text in EXPORT_FORMATS.items():
            box = QCheckBox(text)
            per_view = name not in ("ply", "instances")
            box.setEnabled(has_cameras or not per_view)
            if per_view and not has_cameras:
                box.setToolTip("The scene has no training cameras")
            box.toggled.connect(self._update_ok)
            boxes.addWidget(box)
            self.format_boxes[name] = box
        self.format_boxes["ply"].setChecked(True)
        self.out_edit = QLineEdit(str(default_export_folder(scene_path)))
        self.hidden_combo = _combo(
            ("keep", "Keep hidden instances"), ("unlabel", "Export hidden instances as unlabeled"),
            ("drop", "Leave hidden instances out"),
        )  # fmt: skip
        self.unlabeled_combo = _combo(
            ("keep", "Keep unlabeled Gaussians"), ("drop", "Leave unlabeled Gaussians out")
        )
        self.confidence_box = QCheckBox("Add a confidence column to the PLY")
        self.background_box = QCheckBox("Write the unlabeled Gaussians as background.ply")
        self.overwrite_box = QCheckBox("Replace an earlier export in the folder")
        form = QFormLayout(self)
        form.addRow("Formats", boxes)
        form.addRow("Folder", path_row(self, self.out_edit, "Export folder", folder=True))
        form.addRow("Hidden", self.hidden_combo)
        form.addRow("Unlabeled", self.unlabeled_combo)
        for box in (self.confidence_box, self.background_box, self.overwrite_box):
            form.addRow("", box)
        form.addRow(self.buttons)
        self._update_ok()

    def formats(self) -> tuple[str, ...]:
        """The formats ticked, in the dialog's order."""
        return tuple(name for name, box in self.format_boxes.items() if box.isChecked())

    def request(self) -> ExportRequest:
        """The values entered, as the request ``liftstudio export`` would build.

        Raises
        ------
        liftstudio.export.export_job.ExportRequestError
            For an impossible combination (said in one line).
        """
        return ExportRequest(
            formats=self.formats(),
            out=Path(self.out_edit.text().strip()),
            hidden=self.hidden_combo.currentData(),
            unlabeled=self.unlabeled_combo.currentData(),
            confidence=self.confidence_box.isChecked(),
            background=self.background_box.isChecked(),
            overwrite=self.overwrite_box.isChecked(),
        )

    def _update_ok(self) -> None:
        ok = self.buttons.button(QDialogButtonBox.StandardButton.Ok)
        ok.setEnabled(bool(self.formats()))


def _combo(*items: tuple[str, str]) -> QComboBox:
    combo = QComboBox()
    for data, text in items:
        combo.addItem(text, data)
    return combo
