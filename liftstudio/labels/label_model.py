"""The label model: one instance id per Gaussian, the instance table, history, events.

Everything that shows or edits labels (the viewport overlay, the panels, the tools,
the exporters) goes through one :class:`LabelModel`. It never imports Qt: viewers
subscribe to its events. :class:`LabelsChanged` names the Gaussians whose id changed
(``None`` after a lift that may have changed any), :class:`TableChanged` the instance
rows that changed. Every edit is undoable (:mod:`liftstudio.labels.history`); edits made
inside :meth:`LabelModel.step` form one step (a brush stroke, a lift).

Each Gaussian also carries a confidence (NaN when unknown) and its provenance: which
method, prompt or hand edit set its id.

Locked instances are never changed by edits or by a new lift: their Gaussians keep
their id, nothing is added to them, and a lift's ids that collide with a locked id are
moved to fresh ids.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, replace

import numpy as np

from liftstudio.errors import LiftStudioError, SceneDataError
from liftstudio.labels.events import Listeners
from liftstudio.labels.history import GaussianDelta, History, Step, TableDelta
from liftstudio.labels.palette import instance_colour

UNLABELED = 0
_MAX_ID = int(np.iinfo(np.int32).max)


class InstanceLockedError(LiftStudioError):
    """An edit would change a locked instance."""


@dataclass(frozen=True)
class InstanceRecord:
    """The editable fields of one instance-table row."""

    name: str | None = None
    class_name: str | None = None
    colour: tuple[int, int, int] | None = None
    visible: bool = True
    locked: bool = False


@dataclass(frozen=True)
class Instance:
    """One row of the instance table as viewers see it.

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
    class_name
        Semantic class, or None.
    visible
        Drawn in the viewport.
    locked
        Protected from edits and re-lifts.
    """

    id: int
    name: str
    colour: tuple[int, int, int]
    count: int
    class_name: str | None = None
    visible: bool = True
    locked: bool = False


@dataclass(frozen=True)
class LabelsChanged:
    """Some Gaussians' ids changed.

    Attributes
    ----------
    indices
        The Gaussians whose id may have changed, or None for "any of them".
    source
        What changed them (``"lift:vote"``, ``"brush"``, ``"undo"``, ...).
    """

    indices: np.ndarray | None
    source: str


@dataclass(frozen=True)
class TableChanged:
    """Instance-table rows changed (name, class, colour, visibility, lock, existence)."""

    ids: tuple[int, ...]


class LabelModel:
    """Per-Gaussian instance ids (int32, 0 = unlabeled), the instance table and history.

    Parameters
    ----------
    num_gaussians
        Number of Gaussians; every Gaussian starts unlabeled.
    history
        The undo history (default: 500 steps within 512 MB).
    """

    def __init__(self, num_gaussians: int, *, history: History | None = None) -> None:
        if num_gaussians < 0:
            raise ValueError(f"num_gaussians must be >= 0, got {num_gaussians}")
        self._ids = np.zeros(num_gaussians, dtype=np.int32)
        self._confidence = np.full(num_gaussians, np.nan, dtype=np.float32)
        self._provenance = np.zeros(num_gaussians, dtype=np.int16)
        self._sources: list[str] = ["none"]
        self._counts = np.array([num_gaussians], dtype=np.int64)
        self._table: dict[int, InstanceRecord] = {}
        self.history = history if history is not None else History()
        self._open_step: Step | None = None
        self._labels_listeners: Listeners[LabelsChanged] = Listeners()
        self._table_listeners: Listeners[TableChanged] = Listeners()

    # ------------------------------------------------------------------ reading
    @property
    def num_gaussians(self) -> int:
        """Number of Gaussians."""
        return int(self._ids.shape[0])

    @property
    def ids(self) -> np.ndarray:
        """The ``(N,)`` int32 ids, read-only (edit through the model's methods)."""
        return _read_only(self._ids)

    @property
    def confidence(self) -> np.ndarray:
        """The ``(N,)`` float32 confidence of each id (NaN: unknown), read-only."""
        return _read_only(self._confidence)

    @property
    def provenance_codes(self) -> np.ndarray:
        """The ``(N,)`` int16 provenance codes (see :meth:`provenance_names`), read-only."""
        return _read_only(self._provenance)

    def provenance_names(self) -> list[str]:
        """Code → what set the id (``"none"``, ``"lift:vote"``, ``"brush"``, ...)."""
        return list(self._sources)

    @property
    def max_id(self) -> int:
        """The largest id in use or in the table (0 when there is none)."""
        used = np.flatnonzero(self._counts)
        largest = int(used[-1]) if used.size else 0
        return max([largest, *self._table])

    def count(self, instance_id: int) -> int:
        """Number of Gaussians with ``instance_id``."""
        return int(self._counts[instance_id]) if 0 <= instance_id < self._counts.size else 0

    def instances(self) -> list[Instance]:
        """Every instance with Gaussians or a table row, ascending by id."""
        ids = set((np.flatnonzero(self._counts[1:]) + 1).tolist()) | set(self._table)
        return [self.instance(i) for i in sorted(ids)]

    def instance(self, instance_id: int) -> Instance:
        """The table row of ``instance_id`` (its count may be 0)."""
        if instance_id < 1:
            raise ValueError(f"instance ids start at 1, got {instance_id}")
        record = self._table.get(instance_id, InstanceRecord())
        return Instance(
            id=instance_id,
            name=record.name or f"instance_{instance_id}",
            colour=record.colour or instance_colour(instance_id),
            count=self.count(instance_id),
            class_name=record.class_name,
            visible=record.visible,
            locked=record.locked,
        )

    def locked_ids(self) -> set[int]:
        """Ids of the locked instances."""
        return {i for i, r in self._table.items() if r.locked}

    def hidden_ids(self) -> set[int]:
        """Ids of the hidden instances."""
        return {i for i, r in self._table.items() if not r.visible}

    def members(self, instance_id: int) -> np.ndarray:
        """Indices of the Gaussians with ``instance_id``."""
        return np.flatnonzero(self._ids == instance_id)

    # ------------------------------------------------------------------ events
    def subscribe(self, callback: Callable[[LabelsChanged], None]) -> Callable[[], None]:
        """Call ``callback`` on every id change; returns the function that unsubscribes."""
        return self._labels_listeners.subscribe(callback)

    def subscribe_table(self, callback: Callable[[TableChanged], None]) -> Callable[[], None]:
        """Call ``callback`` on every table change; returns the function that unsubscribes."""
        return self._table_listeners.subscribe(callback)

    # ------------------------------------------------------------------ steps
    @contextmanager
    def step(self, text: str) -> Iterator[None]:
        """Make every edit inside the block one undo step (nested blocks join the outer)."""
        if self._open_step is not None:
            yield
            return
        self._open_step = Step(text)
        try:
            yield
        finally:
            step, self._open_step = self._open_step, None
            self.history.push(step)

    def _record(self, delta: GaussianDelta | TableDelta, text: str) -> None:
        if self._open_step is not None:
            self._open_step.deltas.append(delta)
        else:
            self.history.push(Step(text, [delta]))

    # ------------------------------------------------------------------ id edits
    def replace_all(
        self,
        ids: np.ndarray,
        *,
        confidence: np.ndarray | None = None,
        names: Mapping[int, str] | None = None,
        source: str = "lift",
    ) -> None:
        """Take a lifting result: new ids for every Gaussian, one undo step.

        Gaussians of locked instances keep their ids; result ids that collide with a
        locked id move to fresh ids.

        Parameters
        ----------
        ids : (N,) integer array
            New id per Gaussian, >= 0 and within int32.
        confidence : (N,) float array, optional
            Confidence of each new id (NaN when not given).
        names
            Instance id → display name for the ids that have one.
        source
            Recorded as the provenance and in the :class:`LabelsChanged` event.
        """
        new = checked_instance_ids(ids, self.num_gaussians).copy()
        conf = (
            np.full(new.shape, np.nan, np.float32)
            if confidence is None
            else _checked_confidence(confidence, new.shape)
        )
        locked = self.locked_ids()
        names = dict(names or {})
        if locked:
            keep = np.isin(self._ids, list(locked))
            clashes = sorted(set(np.unique(new[~keep]).tolist()) & locked)
            next_id = max(self.max_id, int(new.max(initial=0))) + 1
            for old_id in clashes:
                new[(new == old_id) & ~keep] = next_id
                if old_id in names:
                    names[next_id] = names.pop(old_id)
                next_id += 1
            new[keep] = self._ids[keep]
            conf[keep] = self._confidence[keep]
        with self.step(source):
            changed = np.flatnonzero(
                (new != self._ids) | ~_same_float(conf, self._confidence)
            ).astype(np.int32)
            code = self._source_code(source)
            provenance = self._provenance[changed].copy()
            provenance[:] = code
            self._apply(changed, new[changed], conf[changed], provenance, source, all_=True)
            if names:
                self._set_records(
                    {i: replace(self._record_of(i), name=n) for i, n in names.items()},
                    source,
                )

    def assign(
        self,
        indices: np.ndarray,
        instance_id: int,
        *,
        source: str = "edit",
        confidence: float = 1.0,
    ) -> np.ndarray:
        """Give the Gaussians ``indices`` the id ``instance_id`` (0 clears them).

        Gaussians of locked instances are left alone.

        Returns
        -------
        (M,) int32
            The Gaussians whose id changed.

        Raises
        ------
        InstanceLockedError
            When ``instance_id`` is locked.
        """
        indices = np.unique(np.asarray(indices, dtype=np.int64))
        if indices.size and (indices[0] < 0 or indices[-1] >= self.num_gaussians):
            raise IndexError(f"Gaussian indices must lie in [0, {self.num_gaussians})")
        if not 0 <= instance_id <= _MAX_ID:
            raise ValueError(f"instance ids are in [0, 2**31 - 1], got {instance_id}")
        locked = self.locked_ids()
        if instance_id in locked:
            raise InstanceLockedError(f"{self.instance(instance_id).name} is locked; unlock it")
        if locked and indices.size:
            indices = indices[~np.isin(self._ids[indices], list(locked))]
        changed = indices[self._ids[indices] != instance_id].astype(np.int32)
        new_ids = np.full(changed.size, instance_id, dtype=np.int32)
        conf = np.full(changed.size, confidence, dtype=np.float32)
        provenance = np.full(changed.size, self._source_code(source), dtype=np.int16)
        self._apply(changed, new_ids, conf, provenance, source)
        return changed

    def new_instance(
        self, indices: np.ndarray, *, name: str | None = None, source: str = "edit"
    ) -> int:
        """Put ``indices`` into a new instance (one undo step); returns its id."""
        new_id = self.max_id + 1
        with self.step(f"new instance {new_id}"):
            if name is not None:
                self._set_records({new_id: InstanceRecord(name=name)}, source)
            self.assign(indices, new_id, source=source)
        return new_id

    def merge(self, sources: Iterable[int], into: int) -> None:
        """Move every Gaussian of the ``sources`` instances into ``into`` (one step)."""
        sources = [int(s) for s in sources if int(s) != into]
        locked = self.locked_ids() & {*sources, into}
        if locked:
            raise InstanceLockedError(f"instances {sorted(locked)} are locked; unlock them")
        with self.step(f"merge into {into}"):
            members = np.flatnonzero(np.isin(self._ids, sources))
            self.assign(members, into, source="merge")
            self._set_records({s: None for s in sources if s in self._table}, "merge")

    def delete_instance(self, instance_id: int) -> None:
        """Unlabel the instance's Gaussians and drop its table row (one step)."""
        if instance_id in self.locked_ids():
            raise InstanceLockedError(f"{self.instance(instance_id).name} is locked; unlock it")
        with self.step(f"delete {instance_id}"):
            self.assign(self.members(instance_id), UNLABELED, source="delete")
            if instance_id in self._table:
                self._set_records({instance_id: None}, "delete")

    # ------------------------------------------------------------------ table edits
    def update_instance(self, instance_id: int, **fields) -> None:
        """Change table fields of one instance: name, class_name, colour, visible, locked."""
        self.update_instances([instance_id], **fields)

    def update_instances(self, instance_ids: Iterable[int], **fields) -> None:
        """Change the same table fields of several instances (one step)."""
        unknown = set(fields) - {"name", "class_name", "colour", "visible", "locked"}
        if unknown:
            raise TypeError(f"unknown instance fields: {sorted(unknown)}")
        if "colour" in fields and fields["colour"] is not None:
            fields["colour"] = tuple(int(c) for c in fields["colour"])
        ids = [int(i) for i in instance_ids]
        if any(i < 1 for i in ids):
            raise ValueError("instance ids start at 1")
        self._set_records({i: replace(self._record_of(i), **fields) for i in ids}, "table")

    def rename(self, instance_id: int, name: str) -> None:
        """Set the display name of ``instance_id``."""
        self.update_instance(instance_id, name=str(name))

    def isolate(self, instance_ids: Iterable[int]) -> None:
        """Show only ``instance_ids`` (every other instance is hidden)."""
        keep = {int(i) for i in instance_ids}
        everyone = {i.id for i in self.instances()}
        changes = {i: replace(self._record_of(i), visible=i in keep) for i in everyone}
        self._set_records(changes, "isolate")

    def unhide_all(self) -> None:
        """Show every instance."""
        self.update_instances(sorted(self.hidden_ids()), visible=True)

    # ------------------------------------------------------------------ undo / redo
    def undo(self) -> bool:
        """Undo the newest step; False when there is none."""
        step = self.history.pop_undo()
        if step is None:
            return False
        for delta in reversed(step.deltas):
            self._revert(delta, forward=False)
        return True

    def redo(self) -> bool:
        """Redo the newest undone step; False when there is none."""
        step = self.history.pop_redo()
        if step is None:
            return False
        for delta in step.deltas:
            self._revert(delta, forward=True)
        return True

    def _revert(self, delta: GaussianDelta | TableDelta, *, forward: bool) -> None:
        if isinstance(delta, TableDelta):
            rows = delta.after if forward else delta.before
            self._write_records(rows)
            return
        ids = delta.new_ids if forward else delta.old_ids
        conf = delta.new_confidence if forward else delta.old_confidence
        prov = delta.new_provenance if forward else delta.old_provenance
        self._write(delta.indices, ids, conf, prov, "redo" if forward else "undo")

    # ------------------------------------------------------------------ internals
    def _apply(self, indices, ids, confidence, provenance, source, *, all_=False) -> None:
        if indices.size == 0:
            return
        delta = GaussianDelta(
            indices=indices,
            old_ids=self._ids[indices].copy(),
            new_ids=ids,
            old_confidence=self._confidence[indices].copy(),
            new_confidence=confidence,
            old_provenance=self._provenance[indices].copy(),
            new_provenance=provenance,
        )
        self._record(delta, source)
        self._write(indices, ids, confidence, provenance, source, all_=all_)

    def _write(self, indices, ids, confidence, provenance, source, *, all_=False) -> None:
        top = int(max(ids.max(initial=0), self._ids[indices].max(initial=0)))
        if top >= self._counts.size:
            self._counts = np.pad(self._counts, (0, top + 1 - self._counts.size))
        size = self._counts.size
        self._counts -= np.bincount(self._ids[indices], minlength=size)
        self._counts += np.bincount(ids, minlength=size)
        self._ids[indices] = ids
        self._confidence[indices] = confidence
        self._provenance[indices] = provenance
        self._labels_listeners.emit(LabelsChanged(None if all_ else indices, source))

    def _record_of(self, instance_id: int) -> InstanceRecord:
        return self._table.get(instance_id, InstanceRecord())

    def _set_records(self, rows: Mapping[int, InstanceRecord | None], text: str) -> None:
        before = {i: self._table.get(i) for i in rows}
        after = {i: (None if r == InstanceRecord() else r) for i, r in rows.items()}
        if before == after:
            return
        self._record(TableDelta(before, after), text)
        self._write_records(after)

    def _write_records(self, rows: Mapping[int, object | None]) -> None:
        for instance_id, record in rows.items():
            if record is None:
                self._table.pop(instance_id, None)
            else:
                self._table[instance_id] = record  # type: ignore[assignment]
        self._table_listeners.emit(TableChanged(tuple(sorted(rows))))

    def _source_code(self, source: str) -> int:
        if source not in self._sources:
            if len(self._sources) >= np.iinfo(np.int16).max:
                return 0
            self._sources.append(source)
        return self._sources.index(source)


def checked_instance_ids(labels: np.ndarray, count: int) -> np.ndarray:
    """``labels`` as ``(count,)`` int32 instance ids, or an error saying what is wrong.

    Raises
    ------
    SceneDataError
        (a ``ValueError``) for another shape, a non-integer dtype, negative ids or ids
        beyond int32.
    """
    labels = np.asarray(labels)
    if labels.shape != (count,):
        raise SceneDataError(
            f"labels must have shape ({count},), one per Gaussian; got {labels.shape}"
        )
    if labels.dtype == bool or labels.dtype.kind not in "iu":
        raise SceneDataError(f"labels must be integers, got dtype {labels.dtype}")
    if count and int(labels.min()) < 0:
        raise SceneDataError(f"labels must be >= 0 (0 = unlabeled), got {int(labels.min())}")
    if count and int(labels.max()) > _MAX_ID:
        raise SceneDataError(f"labels must fit in int32, got {int(labels.max())}")
    return np.ascontiguousarray(labels, dtype=np.int32)


def _checked_confidence(confidence: np.ndarray, shape: tuple[int, ...]) -> np.ndarray:
    confidence = np.asarray(confidence, dtype=np.float32)
    if confidence.shape != shape:
        raise ValueError(f"confidence must have shape {shape}, got {confidence.shape}")
    return confidence.copy()


def _same_float(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    return (a == b) | (np.isnan(a) & np.isnan(b))


def _read_only(array: np.ndarray) -> np.ndarray:
    view = array.view()
    view.flags.writeable = False
    return view
