"""Which Gaussians an export holds: hidden instances and unlabeled Gaussians as chosen.

``hidden``:

- ``"keep"`` (default): hidden instances are exported like the others; the sidecar
  marks them ``"visible": false``;
- ``"drop"``: their Gaussians are left out of every file;
- ``"unlabel"``: their Gaussians stay, with id 0 (unlabeled), and their rows leave the
  instance table.

``unlabeled`` (applied after ``hidden``):

- ``"keep"`` (default): Gaussians with id 0 stay in the files;
- ``"drop"``: they are left out.

Deleted instances need no choice: deleting unlabels their Gaussians (id 0).
"""

from __future__ import annotations

from dataclasses import replace

import numpy as np

from liftstudio.export.export_source import ExportSource

HIDDEN_CHOICES = ("keep", "drop", "unlabel")
UNLABELED_CHOICES = ("keep", "drop")


def apply_row_choices(
    source: ExportSource, *, hidden: str = "keep", unlabeled: str = "keep"
) -> ExportSource:
    """``source`` with hidden instances and unlabeled Gaussians handled as chosen.

    Parameters
    ----------
    source
        What to export.
    hidden
        One of :data:`HIDDEN_CHOICES` (module docstring).
    unlabeled
        One of :data:`UNLABELED_CHOICES`.

    Returns
    -------
    ExportSource
        The same object when nothing changes; otherwise a copy whose ``rows`` gives
        the original row of each Gaussian kept.

    Raises
    ------
    ValueError
        For a choice that is not one of the above.
    """
    if hidden not in HIDDEN_CHOICES:
        raise ValueError(f"hidden must be one of {', '.join(HIDDEN_CHOICES)}; got {hidden!r}")
    if unlabeled not in UNLABELED_CHOICES:
        raise ValueError(
            f"unlabeled must be one of {', '.join(UNLABELED_CHOICES)}; got {unlabeled!r}"
        )
    hidden_ids = sorted(source.hidden_ids)
    labels, confidence = source.labels, source.confidence
    instances = source.instances
    keep = np.ones(len(labels), dtype=bool)
    if hidden != "keep" and hidden_ids:
        in_hidden = np.isin(labels, hidden_ids)
        instances = {i: s for i, s in instances.items() if i not in set(hidden_ids)}
        if hidden == "drop":
            keep &= ~in_hidden
        else:
            labels = np.where(in_hidden, 0, labels).astype(np.int32)
            if confidence is not None:
                confidence = np.where(in_hidden, np.float32(np.nan), confidence)
    if unlabeled == "drop":
        keep &= labels != 0
    if keep.all() and labels is source.labels and instances is source.instances:
        return source
    if keep.all():
        return replace(source, labels=labels, confidence=confidence, instances=instances)
    rows = np.flatnonzero(keep)
    original = rows if source.rows is None else source.rows[rows]
    return replace(
        source,
        scene=source.scene.subset(rows),
        labels=labels[rows],
        confidence=None if confidence is None else confidence[rows],
        instances=instances,
        rows=original,
    )
