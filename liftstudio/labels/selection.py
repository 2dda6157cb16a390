"""The set of selected Gaussians, with change events (Qt-free, like the label model)."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from liftstudio.labels.events import Listeners


@dataclass(frozen=True)
class SelectionChanged:
    """Some Gaussians were selected or deselected.

    Attributes
    ----------
    indices
        The Gaussians whose selection state flipped.
    """

    indices: np.ndarray


class Selection:
    """A boolean per Gaussian; tools set it, the viewport highlights it.

    Parameters
    ----------
    num_gaussians
        Number of Gaussians; nothing starts selected.
    """

    def __init__(self, num_gaussians: int) -> None:
        self._mask = np.zeros(num_gaussians, dtype=bool)
        self._listeners: Listeners[SelectionChanged] = Listeners()

    @property
    def mask(self) -> np.ndarray:
        """The ``(N,)`` boolean mask, read-only."""
        view = self._mask.view()
        view.flags.writeable = False
        return view

    def indices(self) -> np.ndarray:
        """Indices of the selected Gaussians, ascending."""
        return np.flatnonzero(self._mask)

    def replace(self, indices: np.ndarray) -> None:
        """Select exactly ``indices`` (an empty array clears the selection)."""
        wanted = np.zeros_like(self._mask)
        wanted[np.asarray(indices, dtype=np.int64)] = True
        flipped = np.flatnonzero(wanted != self._mask)
        self._mask = wanted
        if flipped.size:
            self._listeners.emit(SelectionChanged(flipped))

    def clear(self) -> None:
        """Select nothing."""
        self.replace(np.zeros(0, dtype=np.int64))

    def subscribe(self, callback: Callable[[SelectionChanged], None]) -> Callable[[], None]:
        """Call ``callback`` on every change; returns the function that unsubscribes."""
        return self._listeners.subscribe(callback)
