"""The label model: one instance id per Gaussian, the instance table, change events.

Everything that shows or edits labels (the viewport overlay, the Instances panel, the
exporters, later the editing tools and their undo history) goes through one
:class:`LabelModel`. It never imports Qt: viewers subscribe to :class:`LabelsChanged`
events, which name the Gaussians whose id changed so that a viewer can update just
those (a lift replaces everything and says so with ``indices=None``).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass

import numpy as np

from liftstudio.labels.events import Listeners
from liftstudio.labels.palette import instance_colour

UNLABELED = 0


@dataclass(frozen=True)
class Instance:
    """One row of the instance table.

    Attributes
    ----------
    id
        Instance id (>= 1).
    name
        Display name (default ``instance_<id>``).
    colour
        ``(r, g, b)`` in 0-255 (default :func:`~liftstudio.labels.palette.instance_colour`).
    count
        Number of Gaussians carrying the id.
    """

    id: int
    name: str
    colour: tuple[int, int, int]
    count: int


@dataclass(frozen=True)
class LabelsChanged:
    """Some Gaussians' ids changed.

    Attributes
    ----------
    indices
        The Gaussians whose id may have changed, or None for "any of them".
    source
        What changed them (``"lift"``, ``"edit"``, ...), for logs and viewers.
    """

    indices: np.ndarray | None
    source: str


class LabelModel:
    """Per-Gaussian instance ids (int32, 0 = unlabeled) and the instance table.

    Parameters
    ----------
    num_gaussians
        Number of Gaussians in the scene; every Gaussian starts unlabeled.
    """

    def __init__(self, num_gaussians: int) -> None:
        if num_gaussians < 0:
            raise ValueError(f"num_gaussians must be >= 0, got {num_gaussians}")
        self._ids = np.zeros(num_gaussians, dtype=np.int32)
        self._counts = np.zeros(1, dtype=np.int64)
        self._counts[0] = num_gaussians
        self._names: dict[int, str] = {}
        self._listeners: Listeners[LabelsChanged] = Listeners()

    # ------------------------------------------------------------------ reading
    @property
    def num_gaussians(self) -> int:
        """Number of Gaussians."""
        return int(self._ids.shape[0])

    @property
    def ids(self) -> np.ndarray:
        """The ``(N,)`` int32 ids, read-only (edit through the model's methods)."""
        view = self._ids.view()
        view.flags.writeable = False
        return view

    @property
    def max_id(self) -> int:
        """The largest id in use (0 when nothing is labeled)."""
        used = np.flatnonzero(self._counts)
        return int(used[-1]) if used.size else 0

    def count(self, instance_id: int) -> int:
        """Number of Gaussians with ``instance_id``."""
        return int(self._counts[instance_id]) if 0 <= instance_id < self._counts.size else 0

    def instances(self) -> list[Instance]:
        """Every instance with at least one Gaussian, ascending by id."""
        ids = np.flatnonzero(self._counts[1:]) + 1
        return [self.instance(int(i)) for i in ids]

    def instance(self, instance_id: int) -> Instance:
        """The table row of ``instance_id`` (its count may be 0)."""
        if instance_id < 1:
            raise ValueError(f"instance ids start at 1, got {instance_id}")
        return Instance(
            id=instance_id,
            name=self._names.get(instance_id, f"instance_{instance_id}"),
            colour=instance_colour(instance_id),
            count=self.count(instance_id),
        )

    # ------------------------------------------------------------------ editing
    def replace_all(
        self, ids: np.ndarray, *, names: Mapping[int, str] | None = None, source: str = "lift"
    ) -> None:
        """Replace every id (a lifting result) and optionally name instances.

        Parameters
        ----------
        ids : (N,) integer array
            New id per Gaussian, >= 0 and within int32.
        names
            Instance id → display name for the ids that have one.
        source
            Recorded in the :class:`LabelsChanged` event.
        """
        ids = np.asarray(ids)
        if ids.shape != self._ids.shape:
            raise ValueError(
                f"labels must have shape ({self.num_gaussians},) (one per Gaussian), "
                f"got {ids.shape}"
            )
        if ids.size and not np.issubdtype(ids.dtype, np.integer):
            raise ValueError(f"labels must be integers, got dtype {ids.dtype}")
        if ids.size and (ids.min() < 0 or ids.max() > np.iinfo(np.int32).max):
            raise ValueError("labels must lie in [0, 2**31 - 1] (0 = unlabeled)")
        self._ids = ids.astype(np.int32, copy=True)
        self._counts = np.bincount(self._ids, minlength=1).astype(np.int64)
        self._names = dict(names or {})
        self._listeners.emit(LabelsChanged(None, source))

    def assign(self, indices: np.ndarray, instance_id: int, *, source: str = "edit") -> None:
        """Give the Gaussians ``indices`` the id ``instance_id`` (0 clears them)."""
        indices = np.unique(np.asarray(indices, dtype=np.int64))
        if indices.size and (indices[0] < 0 or indices[-1] >= self.num_gaussians):
            raise IndexError(f"Gaussian indices must lie in [0, {self.num_gaussians})")
        if instance_id < 0:
            raise ValueError(f"instance ids are >= 0, got {instance_id}")
        if instance_id >= self._counts.size:
            self._counts = np.pad(self._counts, (0, instance_id + 1 - self._counts.size))
        np.subtract.at(self._counts, self._ids[indices], 1)
        self._counts[instance_id] += indices.size
        self._ids[indices] = instance_id
        self._listeners.emit(LabelsChanged(indices, source))

    def rename(self, instance_id: int, name: str) -> None:
        """Set the display name of ``instance_id``."""
        self._names[int(instance_id)] = str(name)
        self._listeners.emit(LabelsChanged(np.zeros(0, dtype=np.int64), "rename"))

    def subscribe(self, callback: Callable[[LabelsChanged], None]) -> Callable[[], None]:
        """Call ``callback`` on every change; returns the function that unsubscribes."""
        return self._listeners.subscribe(callback)
