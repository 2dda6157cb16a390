"""Undo/redo of label edits, stored as index deltas (never full copies of the labels).

A :class:`Step` is what one user action changed: for the Gaussians it touched, their
ids, confidences and provenance codes before and after (:class:`GaussianDelta`), and
for instance-table rows their values before and after (:class:`TableDelta`). A brush
stroke or a lift is one step however many Gaussians it changed. :class:`History` keeps
at least ``max_steps`` steps while their arrays fit in ``max_bytes``; the oldest go
first.
"""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass, field

import numpy as np


@dataclass(frozen=True)
class GaussianDelta:
    """Per-Gaussian values of ``indices`` before and after an edit.

    Attributes
    ----------
    indices : (M,) int32
    old_ids, new_ids : (M,) int32
    old_confidence, new_confidence : (M,) float32
    old_provenance, new_provenance : (M,) int16
    """

    indices: np.ndarray
    old_ids: np.ndarray
    new_ids: np.ndarray
    old_confidence: np.ndarray
    new_confidence: np.ndarray
    old_provenance: np.ndarray
    new_provenance: np.ndarray

    @property
    def nbytes(self) -> int:
        """Memory held by the arrays."""
        return sum(int(a.nbytes) for a in vars(self).values())


@dataclass(frozen=True)
class TableDelta:
    """Instance-table rows before and after an edit (None: the row did not exist)."""

    before: dict[int, object | None]
    after: dict[int, object | None]

    @property
    def nbytes(self) -> int:
        """A rough size (rows are small)."""
        return 256 * (len(self.before) + len(self.after))


@dataclass
class Step:
    """One undoable action.

    Attributes
    ----------
    text
        What it was (``"brush"``, ``"lift (vote)"``), for the Edit menu.
    deltas
        The changes in the order they were made (undone in reverse).
    """

    text: str
    deltas: list[GaussianDelta | TableDelta] = field(default_factory=list)

    @property
    def nbytes(self) -> int:
        """Memory held by the deltas."""
        return sum(d.nbytes for d in self.deltas)


class History:
    """Undo and redo stacks with a step and memory budget.

    Parameters
    ----------
    max_steps
        Most steps kept on the undo stack.
    max_bytes
        Most bytes the undo stack's deltas may hold; the oldest steps are dropped
        first, but the newest step is always kept.
    """

    def __init__(self, max_steps: int = 500, max_bytes: int = 512 * 2**20) -> None:
        if max_steps < 1 or max_bytes < 1:
            raise ValueError("max_steps and max_bytes must be positive")
        self.max_steps = max_steps
        self.max_bytes = max_bytes
        self._undo: deque[Step] = deque()
        self._redo: list[Step] = []
        self._bytes = 0

    @property
    def can_undo(self) -> bool:
        """Whether there is a step to undo."""
        return bool(self._undo)

    @property
    def can_redo(self) -> bool:
        """Whether there is a step to redo."""
        return bool(self._redo)

    @property
    def undo_text(self) -> str | None:
        """The text of the step :meth:`pop_undo` would return."""
        return self._undo[-1].text if self._undo else None

    @property
    def redo_text(self) -> str | None:
        """The text of the step :meth:`pop_redo` would return."""
        return self._redo[-1].text if self._redo else None

    @property
    def nbytes(self) -> int:
        """Memory held by the undo stack."""
        return self._bytes

    def __len__(self) -> int:
        return len(self._undo)

    def push(self, step: Step) -> None:
        """Record a new step; the redo stack is cleared."""
        if not step.deltas:
            return
        self._undo.append(step)
        self._bytes += step.nbytes
        self._redo.clear()
        while len(self._undo) > 1 and (
            len(self._undo) > self.max_steps or self._bytes > self.max_bytes
        ):
            self._bytes -= self._undo.popleft().nbytes

    def pop_undo(self) -> Step | None:
        """Take the newest step off the undo stack (it moves to the redo stack)."""
        if not self._undo:
            return None
        step = self._undo.pop()
        self._bytes -= step.nbytes
        self._redo.append(step)
        return step

    def pop_redo(self) -> Step | None:
        """Take the newest undone step back (it returns to the undo stack)."""
        if not self._redo:
            return None
        step = self._redo.pop()
        self._undo.append(step)
        self._bytes += step.nbytes
        return step

    def clear(self) -> None:
        """Forget everything."""
        self._undo.clear()
        self._redo.clear()
        self._bytes = 0
