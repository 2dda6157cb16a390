"""Between a :class:`LabelModel` and the instance table of the exports.

:func:`model_instances` takes the table out of a model for an export;
:func:`label_model_from_ply` builds a model from a labeled PLY read back with
:func:`~liftstudio.export.labeled_ply.read_labeled_ply`, so the app can open an
exported file with its labels, names, classes, colours, visibility and locks.
"""

from __future__ import annotations

from typing import Any

from liftstudio.export.labeled_ply import LabeledPly
from liftstudio.labels.history import History
from liftstudio.labels.label_model import LabelModel
from liftstudio.labels.palette import instance_colour

IMPORT_SOURCE = "import:labeled-ply"
"""The provenance the Gaussians of an opened labeled PLY get."""


def model_instances(model: LabelModel) -> dict[int, dict[str, Any]]:
    """Id → ``{"name", "class", "colour", "visible", "locked"}`` for every instance.

    Every instance with Gaussians or a table row is listed; deleted instances have
    neither, so they are not.
    """
    return {
        info.id: {
            "name": info.name,
            "class": info.class_name,
            "colour": info.colour,
            "visible": info.visible,
            "locked": info.locked,
        }
        for info in model.instances()
    }


def label_model_from_ply(
    labeled: LabeledPly, *, source: str = IMPORT_SOURCE, history: History | None = None
) -> LabelModel:
    """A label model holding what a labeled PLY and its sidecar say.

    Parameters
    ----------
    labeled
        From :func:`~liftstudio.export.labeled_ply.read_labeled_ply`.
    source
        Provenance of every Gaussian's id in the new model.
    history
        The model's undo history (default :class:`History`); it starts empty (opening
        a file is not an undoable step).

    Returns
    -------
    LabelModel
        Ids and confidence of the file, and a table row for each instance whose name,
        class, colour, visibility or lock differs from the defaults, or that has no
        Gaussians (so that empty rows survive the round trip).
    """
    model = LabelModel(len(labeled.labels), history=history)
    model.replace_all(labeled.labels, confidence=labeled.confidence, source=source)
    for info in labeled.instances:
        fields: dict[str, Any] = {}
        if info.name != f"instance_{info.id}" or info.count == 0:
            fields["name"] = info.name
        if info.class_name is not None:
            fields["class_name"] = info.class_name
        if tuple(info.colour) != instance_colour(info.id):
            fields["colour"] = tuple(info.colour)
        if not info.visible:
            fields["visible"] = False
        if info.locked:
            fields["locked"] = True
        if fields:
            model.update_instance(info.id, **fields)
    model.history.clear()
    return model
