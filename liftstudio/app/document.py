"""The opened scene as the app sees it: the core objects plus Qt signals.

A :class:`SceneDocument` owns the :class:`~liftstudio.scene.discovery.OpenedScene`,
its :class:`~liftstudio.labels.LabelModel` and :class:`~liftstudio.labels.Selection`,
and forwards their (Qt-free) events as Qt signals, so that panels and the viewport
connect to one object. Every view observes; edits go through the label model.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
from PySide6.QtCore import QObject, Signal

from liftstudio.labels import (
    LabelModel,
    LabelsChanged,
    Selection,
    SelectionChanged,
    TableChanged,
)
from liftstudio.scene.camera import Camera
from liftstudio.scene.discovery import OpenedScene
from liftstudio.scene.gaussians import GaussianScene


class SceneDocument(QObject):
    """One opened scene with its labels and selection.

    Signals
    -------
    labelsChanged(object)
        The changed Gaussians' indices (``np.ndarray``), or None for all of them.
    selectionChanged(object)
        The indices whose selection flipped.
    instancesChanged(object)
        The ids of instance-table rows that changed (name, class, colour, visibility,
        lock, existence).
    """

    labelsChanged = Signal(object)
    selectionChanged = Signal(object)
    instancesChanged = Signal(object)

    def __init__(
        self,
        opened: OpenedScene,
        parent: QObject | None = None,
        *,
        labels: LabelModel | None = None,
        project: Path | None = None,
    ) -> None:
        super().__init__(parent)
        if opened.gaussians is None:
            raise ValueError(f"{opened.path} holds no Gaussians to show")
        if labels is not None and labels.num_gaussians != len(opened.gaussians):
            raise ValueError("the labels belong to a scene with another number of Gaussians")
        self.opened = opened
        self.project = project
        """The project file that keeps this scene's labels (None: not saved)."""
        self.labels = labels if labels is not None else LabelModel(len(opened.gaussians))
        self.selection = Selection(len(opened.gaussians))
        self.segments: np.ndarray | None = None
        """(N,) ints grouping the Gaussians (a codebook lift's codes), or None."""
        self._unsubscribe = [
            self.labels.subscribe(self._forward_labels),
            self.selection.subscribe(self._forward_selection),
            self.labels.subscribe_table(self._forward_table),
        ]

    @property
    def gaussians(self) -> GaussianScene:
        """The scene's Gaussians."""
        assert self.opened.gaussians is not None
        return self.opened.gaussians

    @property
    def path(self) -> Path:
        """What the user opened."""
        return self.opened.path

    @property
    def title(self) -> str:
        """A short name for window titles and lists."""
        return self.opened.path.name or str(self.opened.path)

    @property
    def train_cameras(self) -> list[Camera]:
        """The training cameras (empty for a bare splat file)."""
        return list(self.opened.cameras.train) if self.opened.cameras is not None else []

    @property
    def test_cameras(self) -> list[Camera]:
        """The held-out test cameras (often empty)."""
        return list(self.opened.cameras.test) if self.opened.cameras is not None else []

    def image_path(self, camera: Camera) -> Path | None:
        """The training image of ``camera`` on disk, when it was found."""
        return camera.image_path or self.opened.images.get(camera.name)

    def close(self) -> None:
        """Stop forwarding the model's events (the document is being replaced)."""
        for unsubscribe in self._unsubscribe:
            unsubscribe()
        self._unsubscribe = []

    def _forward_labels(self, event: LabelsChanged) -> None:
        self.labelsChanged.emit(event.indices)

    def _forward_table(self, event: TableChanged) -> None:
        self.instancesChanged.emit(event.ids)

    def _forward_selection(self, event: SelectionChanged) -> None:
        self.selectionChanged.emit(np.asarray(event.indices))
