"""The label model: per-Gaussian instance ids, the instance table, selection, events.

Qt-free; the app observes it (DESIGN §2). Every edit is undoable.
"""

from liftstudio.labels.history import History, Step
from liftstudio.labels.label_model import (
    UNLABELED,
    Instance,
    InstanceLockedError,
    InstanceRecord,
    LabelModel,
    LabelsChanged,
    TableChanged,
)
from liftstudio.labels.palette import UNLABELED_COLOUR, instance_colour, palette
from liftstudio.labels.selection import Selection, SelectionChanged

__all__ = [
    "UNLABELED",
    "UNLABELED_COLOUR",
    "History",
    "Instance",
    "InstanceLockedError",
    "InstanceRecord",
    "LabelModel",
    "LabelsChanged",
    "Selection",
    "SelectionChanged",
    "Step",
    "TableChanged",
    "instance_colour",
    "palette",
]
