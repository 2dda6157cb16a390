"""Window-wide actions built from a short description (the Instances and Select menus)."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

from PySide6.QtCore import Qt
from PySide6.QtGui import QAction, QKeySequence
from PySide6.QtWidgets import QWidget


@dataclass(frozen=True)
class ActionSpec:
    """One action: its name, menu text, shortcuts, what it does and the method it calls."""

    name: str
    text: str
    keys: tuple[str, ...]
    what: str
    slot: str


def add_window_action(
    window: QWidget, text: str, keys: Sequence[str], what: str, slot: Callable[[], object]
) -> QAction:
    """An action of ``window`` whose shortcuts work anywhere in it, calling ``slot``."""
    action = QAction(text, window)
    action.setShortcuts([QKeySequence(key) for key in keys])
    action.setShortcutContext(Qt.ShortcutContext.WindowShortcut)
    action.setStatusTip(what)
    action.setToolTip(what)
    action.triggered.connect(lambda _checked=False: slot())
    window.addAction(action)
    return action
