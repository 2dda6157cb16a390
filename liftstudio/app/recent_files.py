"""The list of recently opened scenes, kept in the user's Qt settings."""

from __future__ import annotations

from pathlib import Path

from PySide6.QtCore import QObject, QSettings, Signal

_KEY = "recent_files"


class RecentFiles(QObject):
    """Most recent first, without duplicates, at most ``limit`` entries.

    Parameters
    ----------
    settings
        Where the list is stored (tests pass a settings file of their own).
    limit
        How many paths are kept.

    Signals
    -------
    changed()
        The list changed.
    """

    changed = Signal()

    def __init__(self, settings: QSettings, limit: int = 10, parent: QObject | None = None):
        super().__init__(parent)
        self._settings = settings
        self._limit = limit

    def paths(self) -> list[Path]:
        """The stored paths that still exist, most recent first."""
        stored = self._settings.value(_KEY, [], type=list) or []
        return [Path(p) for p in stored if Path(p).exists()]

    def add(self, path: str | Path) -> None:
        """Put ``path`` at the top of the list."""
        path = Path(path).resolve()
        kept = [p for p in self.paths() if p.resolve() != path]
        self._settings.setValue(_KEY, [str(p) for p in [path, *kept][: self._limit]])
        self._settings.sync()
        self.changed.emit()

    def clear(self) -> None:
        """Forget every path."""
        self._settings.setValue(_KEY, [])
        self._settings.sync()
        self.changed.emit()
