"""The selection tools on the Views panel's 2D view of a training camera.

The 2D view is a pyqtgraph image; :class:`ToolViewBox` hands its left-button clicks
and drags to an :class:`ImageTools` while a tool other than navigation is active (the
tool bar's tool, shared with the 3D viewport), and pans and zooms otherwise. Shapes
are drawn in the displayed image's pixels, scaled to the training camera's pixels (the
view may show a reduced image) and applied by
:meth:`~liftstudio.app.viewport.tools.SelectionTools.apply_on` through that camera, so
every tool, SAM click included, works on a training view exactly as in the viewport.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import pyqtgraph as pg
from PySide6.QtCore import QObject, QPointF, QRectF, Qt
from PySide6.QtGui import QColor, QPainterPath, QPen
from PySide6.QtWidgets import QGraphicsPathItem

from liftstudio.app.viewport.tools import SelectionTools, ToolMode, combine_mode
from liftstudio.scene.camera import Camera

#: What the 2D view shows: the training camera and the displayed image's (height, width).
ShownView = tuple[Camera, tuple[int, int]]

_POINT_TOOLS = (ToolMode.CLICK, ToolMode.SAM)
_STROKE_TOOLS = (ToolMode.BRUSH, ToolMode.SCRIBBLE)


class ToolViewBox(pg.ViewBox):
    """A ViewBox whose left clicks and drags go to :attr:`handler` when it takes them."""

    def __init__(self) -> None:
        super().__init__()
        self.handler: ImageTools | None = None

    def mouseClickEvent(self, ev) -> None:
        """Let the tool take the click, else pyqtgraph's default (menu, etc.)."""
        if self.handler is None or not self.handler.click(ev):
            super().mouseClickEvent(ev)

    def mouseDragEvent(self, ev, axis=None) -> None:
        """Let the tool take the drag, else pan."""
        if self.handler is None or not self.handler.drag(ev):
            super().mouseDragEvent(ev, axis)


class ImageTools(QObject):
    """Drives the shared :class:`SelectionTools` from mouse input on the 2D view.

    Parameters
    ----------
    view_box
        The 2D view's box (the image item sits at its origin, one unit per pixel).
    shown
        Returns the training camera shown and the displayed image's ``(height,
        width)``, or None while nothing (or a stale image) is shown.
    document
        Returns the document edited (None: no scene).
    """

    def __init__(
        self,
        view_box: ToolViewBox,
        shown: Callable[[], ShownView | None],
        document: Callable[[], object | None],
    ) -> None:
        super().__init__(view_box)
        self.view_box = view_box
        self.tools: SelectionTools | None = None
        self._shown = shown
        self._document = document
        self._points: list[QPointF] = []
        self._outline = QGraphicsPathItem()
        pen = QPen(QColor(255, 220, 60), 1.5, Qt.PenStyle.DashLine)
        pen.setCosmetic(True)
        self._outline.setPen(pen)
        self._outline.setZValue(10)
        view_box.addItem(self._outline, ignoreBounds=True)
        view_box.handler = self

    def set_tools(self, tools: SelectionTools | None) -> None:
        """Follow ``tools`` (the tool bar's); None: the view only pans and zooms."""
        self.tools = tools

    # ------------------------------------------------------------------ events
    def _active(self, button) -> bool:
        return (
            self.tools is not None
            and self.tools.mode != ToolMode.NAVIGATE
            and button == Qt.MouseButton.LeftButton
            and self._shown() is not None
            and self._document() is not None
        )

    def click(self, ev) -> bool:
        """A click: the click and SAM tools act, a brush dabs; True when taken."""
        if not self._active(ev.button()):
            return False
        ev.accept()
        mode = self.tools.mode
        if mode in _POINT_TOOLS or mode in _STROKE_TOOLS:
            self._apply(mode, [self.view_box.mapSceneToView(ev.scenePos())], ev.modifiers())
        return True

    def drag(self, ev) -> bool:
        """A drag draws the tool's shape and applies it on release; True when taken."""
        if not self._active(ev.button()):
            return False
        ev.accept()
        point = self.view_box.mapSceneToView(ev.scenePos())
        mode = self.tools.mode
        if ev.isStart():
            self._points = [self.view_box.mapSceneToView(ev.buttonDownScenePos())]
        if mode == ToolMode.RECT:
            self._points[1:] = [point]
        elif mode not in _POINT_TOOLS:
            self._points.append(point)
        self._draw_outline(mode)
        if ev.isFinish():
            points, self._points = self._points or [point], []
            self._outline.setPath(QPainterPath())
            self._apply(mode, points, ev.modifiers())
        return True

    # ------------------------------------------------------------------ applying
    def _apply(self, mode: ToolMode, points: list[QPointF], modifiers) -> None:
        shown, document = self._shown(), self._document()
        if shown is None or document is None or self.tools is None:
            return
        camera, (height, width) = shown
        scale = np.array([camera.width / width, camera.height / height])
        xy = np.array([[p.x(), p.y()] for p in points], dtype=np.float64) * scale
        self.tools.apply_on(
            document, camera, mode, xy, combine_mode(modifiers),
            brush_radius=self._brush_radius_in_image() * float(scale[0]),
        )  # fmt: skip

    def _brush_radius_in_image(self) -> float:
        """The brush radius (screen pixels) in displayed-image pixels at the current zoom."""
        assert self.tools is not None
        pixel_width = self.view_box.viewPixelSize()[0]
        return self.tools.options.brush_radius * float(pixel_width)

    def _draw_outline(self, mode: ToolMode) -> None:
        path = QPainterPath()
        points = self._points
        if mode == ToolMode.RECT and len(points) == 2:
            path.addRect(QRectF(points[0], points[1]).normalized())
        elif mode == ToolMode.LASSO and len(points) > 1:
            path.moveTo(points[0])
            for point in points[1:]:
                path.lineTo(point)
            path.closeSubpath()
        elif mode in _STROKE_TOOLS and points:
            radius = self._brush_radius_in_image()
            for point in points:
                path.addEllipse(point, radius, radius)
        self._outline.setPath(path)
