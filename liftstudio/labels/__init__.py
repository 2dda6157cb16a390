"""The label model: per-Gaussian instance ids, the instance table, selection, events.

Qt-free; the app observes it (DESIGN §2). Editing history arrives with the tools.
"""

from liftstudio.labels.label_model import UNLABELED, Instance, LabelModel, LabelsChanged
from liftstudio.labels.palette import UNLABELED_COLOUR, instance_colour, palette
from liftstudio.labels.selection import Selection, SelectionChanged

__all__ = [
    "UNLABELED",
    "UNLABELED_COLOUR",
    "Instance",
    "LabelModel",
    "LabelsChanged",
    "Selection",
    "SelectionChanged",
    "instance_colour",
    "palette",
]
