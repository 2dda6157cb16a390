"""A line edit with a Browse… button for a file or folder path (dialog forms)."""

from __future__ import annotations

from PySide6.QtWidgets import QFileDialog, QHBoxLayout, QLineEdit, QPushButton, QWidget


def path_row(parent: QWidget, edit: QLineEdit, title: str, *, folder: bool) -> QHBoxLayout:
    """``edit`` and a Browse… button that fills it from a file or folder dialog."""
    button = QPushButton("Browse…")

    def browse() -> None:
        if folder:
            chosen = QFileDialog.getExistingDirectory(parent, title, edit.text())
        else:
            chosen, _ = QFileDialog.getOpenFileName(parent, title, edit.text())
        if chosen:
            edit.setText(chosen)

    button.clicked.connect(browse)
    row = QHBoxLayout()
    row.addWidget(edit, 1)
    row.addWidget(button)
    return row
