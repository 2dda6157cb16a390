"""The instance table every export writes: names, classes, colours, counts, boxes.

:func:`instance_table` counts and boxes the instances of a label array and merges the
user's table (names, classes, colours, visibility, locks) into :class:`InstanceInfo`
rows. :func:`class_list` and :func:`class_ids` number the classes for the ``label``
column: 1, 2, ... in the order of the sorted class names, 0 for Gaussians whose
instance has no class (and for unlabeled ones).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np

from liftstudio.labels.palette import instance_colour

InstanceSpec = str | Mapping[str, Any]
"""A name, or a mapping with any of ``name``, ``class``, ``colour`` ([r, g, b] 0-255),
``visible`` and ``locked`` (bools)."""


@dataclass(frozen=True)
class InstanceInfo:
    """One row of the instance table.

    Attributes
    ----------
    id
        Instance id (≥ 1).
    name
        Display name (default ``instance_<id>``).
    colour
        ``(r, g, b)`` in 0-255.
    count
        Gaussians carrying this id.
    bbox_min, bbox_max
        Corners of the box around their centres; None when ``count`` is 0.
    class_name
        Class label, when known.
    visible
        Shown in the app (hidden instances are exported as the user chose).
    locked
        Protected from edits in the app.
    """

    id: int
    name: str
    colour: tuple[int, int, int]
    count: int
    bbox_min: tuple[float, float, float] | None
    bbox_max: tuple[float, float, float] | None
    class_name: str | None = None
    visible: bool = True
    locked: bool = False

    def to_json(self) -> dict[str, Any]:
        """The JSON entry of this instance (keys in a fixed order)."""
        entry: dict[str, Any] = {"id": self.id, "name": self.name}
        if self.class_name is not None:
            entry["class"] = self.class_name
        entry.update(
            colour=list(self.colour),
            visible=self.visible,
            locked=self.locked,
            count=self.count,
            bbox_min=None if self.bbox_min is None else list(self.bbox_min),
            bbox_max=None if self.bbox_max is None else list(self.bbox_max),
        )
        return entry

    def spec(self) -> dict[str, Any]:
        """The user's fields of this row, as :func:`instance_table` takes them."""
        return {
            "name": self.name,
            "class": self.class_name,
            "colour": self.colour,
            "visible": self.visible,
            "locked": self.locked,
        }


def instance_table(
    labels: np.ndarray,
    means: np.ndarray,
    instances: Mapping[int, InstanceSpec] | None = None,
) -> list[InstanceInfo]:
    """Count and box every instance of ``labels``; names, colours... from ``instances``.

    Parameters
    ----------
    labels : (N,) int
        Instance id per Gaussian (0 = unlabeled, left out of the table).
    means : (N, 3) float
        Gaussian centres.
    instances
        Optional id → name or ``{"name", "class", "colour", "visible", "locked"}``. Ids
        listed here that no Gaussian carries appear with count 0.

    Returns
    -------
    list of InstanceInfo
        Ascending by id.

    Raises
    ------
    ValueError
        When an id of ``instances`` is not an integer ≥ 1 or a colour is not 3 values
        in 0..255.
    """
    specs = instance_specs(instances)
    ids, counts = np.unique(labels, return_counts=True)
    order = np.argsort(labels, kind="stable")
    starts = np.concatenate([[0], np.cumsum(counts)[:-1]]).astype(np.intp)
    sorted_means = np.asarray(means)[order]
    lows = np.minimum.reduceat(sorted_means, starts, axis=0) if len(ids) else np.empty((0, 3))
    highs = np.maximum.reduceat(sorted_means, starts, axis=0) if len(ids) else np.empty((0, 3))
    boxes = {
        int(i): (int(n), _vec(lo), _vec(hi))
        for i, n, lo, hi in zip(ids, counts, lows, highs, strict=True)
        if i != 0
    }
    table = []
    for instance_id in sorted(set(boxes) | set(specs)):
        count, low, high = boxes.get(instance_id, (0, None, None))
        spec = specs.get(instance_id, {})
        table.append(
            InstanceInfo(
                id=instance_id,
                name=spec.get("name", f"instance_{instance_id}"),
                colour=spec.get("colour", instance_colour(instance_id)),
                count=count,
                bbox_min=low,
                bbox_max=high,
                class_name=spec.get("class"),
                visible=spec.get("visible", True),
                locked=spec.get("locked", False),
            )
        )
    return table


def instance_specs(instances: Mapping[int, InstanceSpec] | None) -> dict[int, dict[str, Any]]:
    """Validated id → ``{"name", "class", "colour", "visible", "locked"}`` (given keys only).

    Raises
    ------
    ValueError
        Naming the id whose entry is malformed.
    """
    specs: dict[int, dict[str, Any]] = {}
    for key, value in (instances or {}).items():
        instance_id = int(key)
        if instance_id < 1 or instance_id != key:
            raise ValueError(f"instances: ids must be integers >= 1, got {key!r}")
        raw = {"name": value} if isinstance(value, str) else dict(value)
        spec: dict[str, Any] = {}
        if raw.get("name") is not None:
            spec["name"] = str(raw["name"])
        if raw.get("class") is not None:
            spec["class"] = str(raw["class"])
        if raw.get("colour") is not None:
            colour = tuple(int(c) for c in raw["colour"])
            if len(colour) != 3 or not all(0 <= c <= 255 for c in colour):
                raise ValueError(f"instances[{key}]: colour must be 3 values in 0..255")
            spec["colour"] = colour
        for flag in ("visible", "locked"):
            if raw.get(flag) is not None:
                if not isinstance(raw[flag], bool | np.bool_):
                    raise ValueError(f"instances[{key}]: {flag} must be true or false")
                spec[flag] = bool(raw[flag])
        specs[instance_id] = spec
    return specs


def class_list(table: list[InstanceInfo]) -> list[str]:
    """The distinct classes of ``table``, sorted; class id ``k`` is ``classes[k - 1]``."""
    return sorted({info.class_name for info in table if info.class_name is not None})


def class_ids(labels: np.ndarray, table: list[InstanceInfo], classes: list[str]) -> np.ndarray:
    """Class id per Gaussian: 1-based index into ``classes``, 0 without a class.

    Parameters
    ----------
    labels : (N,) int
        Instance ids; every non-zero id must have a row in ``table``.
    table
        From :func:`instance_table` on the same labels.
    classes
        From :func:`class_list`.

    Returns
    -------
    (N,) int32
    """
    number = {name: k for k, name in enumerate(classes, start=1)}
    ids = np.array([0, *(info.id for info in table)], dtype=np.int64)
    per_row = np.array(
        [0, *(number.get(info.class_name, 0) for info in table)], dtype=np.int32
    )  # fmt: skip
    return per_row[np.searchsorted(ids, labels)]


def _vec(values: np.ndarray) -> tuple[float, float, float]:
    # The shortest decimal that reads back as the same float32.
    return tuple(float(str(np.float32(v))) for v in values)
