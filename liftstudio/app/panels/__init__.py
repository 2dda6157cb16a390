"""Dock panels of the main window: the scene summary, the training views, the instances."""

from liftstudio.app.panels.instances_panel import InstancesPanel, InstanceTableModel
from liftstudio.app.panels.scene_panel import ScenePanel
from liftstudio.app.panels.views_panel import Overlay, ViewSource, ViewsPanel

__all__ = [
    "InstanceTableModel",
    "InstancesPanel",
    "Overlay",
    "ScenePanel",
    "ViewSource",
    "ViewsPanel",
]
