"""Selection tools: click, rectangle, lasso, brush, scribble and SAM click.

A tool turns mouse input into Gaussian indices with the core's
:mod:`liftstudio.labels.region_select`, through the camera it was drawn on (the
viewport's current camera, or a training camera in the Views panel's 2D view), then
combines them with the selection: no modifier replaces, Shift adds, Ctrl subtracts,
Ctrl+Shift intersects. Rect, lasso and brush have a depth mode: the visible surface
only, or straight through. The click tool selects the clicked Gaussian's segment when
the document has segments (a codebook lift's codes), else its instance. The scribble
and SAM tools hand their input to whoever listens (the main window runs LUDVIG's graph
diffusion or the SAM-prompt loop as a background job).

While a tool other than navigation is active, left drags belong to the tool; right
drags still orbit and middle drags pan.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from enum import StrEnum

import numpy as np
from PySide6.QtCore import QObject, QPointF, QRectF, Qt, Signal
from PySide6.QtGui import QColor, QPainter, QPen, QPolygonF

from liftstudio.labels import region_select
from liftstudio.scene.camera import Camera


class ToolMode(StrEnum):
    """Which tool the left mouse button drives."""

    NAVIGATE = "navigate"
    CLICK = "click"
    RECT = "rect"
    LASSO = "lasso"
    BRUSH = "brush"
    SCRIBBLE = "scribble"
    SAM = "sam"


#: Tools that need a training view (the Views panel's 2D view) rather than any camera.
TRAINING_VIEW_TOOLS = frozenset({ToolMode.SAM})

TOOL_SHORTCUTS = {
    ToolMode.NAVIGATE: "Esc",
    ToolMode.CLICK: "C",
    ToolMode.RECT: "R",
    ToolMode.LASSO: "L",
    ToolMode.BRUSH: "B",
    ToolMode.SCRIBBLE: "G",
    ToolMode.SAM: "P",
}


@dataclass
class ToolOptions:
    """Settings the tools share.

    Attributes
    ----------
    depth_mode
        ``"surface"``: only Gaussians visible under the shape; ``"through"``: every
        Gaussian whose centre projects into it.
    brush_radius
        Brush and scribble radius in pixels.
    click_target
        What the click tool selects around the clicked Gaussian: ``"instance"`` or
        ``"segment"`` (the document's segments; its instance when there are none).
    """

    depth_mode: str = "surface"
    brush_radius: float = 12.0
    click_target: str = "instance"


def combine_mode(modifiers: Qt.KeyboardModifier) -> str:
    """Shift adds, Ctrl subtracts, both intersect, none replaces."""
    shift = bool(modifiers & Qt.KeyboardModifier.ShiftModifier)
    ctrl = bool(modifiers & Qt.KeyboardModifier.ControlModifier)
    if shift and ctrl:
        return "intersect"
    if shift:
        return "add"
    if ctrl:
        return "subtract"
    return "replace"


class SelectionTools(QObject):
    """The active tool and its in-progress shape, for one viewport.

    Parameters
    ----------
    viewport
        The :class:`~liftstudio.app.viewport.gl_viewport.SplatViewport` it serves.

    Signals
    -------
    modeChanged(object)
        The new :class:`ToolMode`.
    scribbled(object, object, str)
        A scribble stroke was drawn: the camera, its ``(H, W)`` bool mask and the
        combine mode of the modifiers held.
    samClicked(object, float, float, str)
        A SAM click on a training view: the camera, the ``(x, y)`` pixel position on
        it and the combine mode.
    hint(str)
        Something the user should know (e.g. the SAM tool needs a training view).
    selected(float)
        A tool changed the selection; the argument is how long it took in ms.
    """

    modeChanged = Signal(object)
    scribbled = Signal(object, object, str)
    samClicked = Signal(object, float, float, str)
    hint = Signal(str)
    selected = Signal(float)

    def __init__(self, viewport) -> None:
        super().__init__(viewport)
        self.viewport = viewport
        self.mode = ToolMode.NAVIGATE
        self.options = ToolOptions()
        self._points: list[QPointF] = []
        self._modifiers = Qt.KeyboardModifier.NoModifier
        self._hover: QPointF | None = None

    # ------------------------------------------------------------------ state
    def set_mode(self, mode: ToolMode | str) -> None:
        """Switch tools (any shape being drawn is dropped)."""
        self.mode = ToolMode(mode)
        self._points = []
        cursor = Qt.CursorShape.ArrowCursor
        if self.mode != ToolMode.NAVIGATE:
            cursor = Qt.CursorShape.CrossCursor
        self.viewport.setCursor(cursor)
        self.modeChanged.emit(self.mode)
        self.viewport.update()

    def grow_brush(self, factor: float) -> None:
        """Scale the brush radius (the ``[`` and ``]`` keys), within 1-400 px."""
        self.set_brush_radius(self.options.brush_radius * factor)

    def set_brush_radius(self, radius: float) -> None:
        """Set the brush radius in pixels, kept within 1-400 px."""
        self.options.brush_radius = float(np.clip(radius, 1, 400))
        self.viewport.update()

    @property
    def drawing(self) -> bool:
        """Whether a shape is being drawn."""
        return bool(self._points)

    # ------------------------------------------------------------------ mouse
    def press(self, position: QPointF, modifiers: Qt.KeyboardModifier) -> bool:
        """Start a shape; True when the tool took the event."""
        if self.mode == ToolMode.NAVIGATE:
            return False
        self._modifiers = modifiers
        self._points = [QPointF(position)]
        self.viewport.update()
        return True

    def move(self, position: QPointF) -> bool:
        """Extend the shape; True when the tool took the event."""
        self._hover = QPointF(position)
        if not self._points:
            if self.mode in (ToolMode.BRUSH, ToolMode.SCRIBBLE):
                self.viewport.update()  # the brush outline follows the cursor
            return False
        if self.mode == ToolMode.RECT:
            self._points[1:] = [QPointF(position)]
        elif self.mode not in (ToolMode.CLICK, ToolMode.SAM):
            self._points.append(QPointF(position))
        self.viewport.update()
        return True

    def release(self, position: QPointF) -> bool:
        """Finish the shape and apply it; True when the tool took the event."""
        if not self._points:
            return False
        if self.mode == ToolMode.RECT:
            self._points[1:] = [QPointF(position)]
        points, self._points = self._points, []
        self.viewport.update()
        self.apply_shape(self.mode, points, self._modifiers)
        return True

    # ------------------------------------------------------------------ applying
    def apply_shape(
        self, mode: ToolMode, points: list[QPointF], modifiers: Qt.KeyboardModifier
    ) -> None:
        """Turn a finished shape (viewport widget coordinates) into a selection change."""
        if self.viewport.document is None:
            return
        if mode in TRAINING_VIEW_TOOLS:
            self.hint.emit("SAM click works on training views: click in the Views panel's image")
            return
        ratio = self.viewport.devicePixelRatioF()
        xy = np.array([[p.x() * ratio, p.y() * ratio] for p in points], dtype=np.float64)
        self.apply_on(
            self.viewport.document,
            self.viewport.current_camera(),
            mode,
            xy,
            combine_mode(modifiers),
            brush_radius=self.options.brush_radius * ratio,
        )

    def apply_on(
        self,
        document,
        camera: Camera,
        mode: ToolMode,
        xy: np.ndarray,
        combine: str,
        *,
        brush_radius: float,
    ) -> None:
        """Apply a finished shape drawn on ``camera`` to ``document``'s selection.

        Parameters
        ----------
        document
            The :class:`~liftstudio.app.document.SceneDocument` edited.
        camera
            The view the shape was drawn on.
        mode
            The tool.
        xy : (P, 2) float
            The shape's points in the camera's pixels (continuous ``x, y``).
        combine
            ``"replace"``, ``"add"``, ``"subtract"`` or ``"intersect"``.
        brush_radius
            Brush and scribble radius in the camera's pixels.
        """
        start = time.perf_counter()
        if mode == ToolMode.SCRIBBLE:
            mask = region_select.brush_mask(camera.width, camera.height, xy, brush_radius)
            self.scribbled.emit(camera, mask, combine)
            return
        if mode == ToolMode.SAM:
            x, y = xy[-1]
            self.samClicked.emit(camera, float(x), float(y), combine)
            return
        chosen = self._shape_selection(document, mode, camera, xy, brush_radius)
        if chosen is None:
            return
        current = document.selection.indices()
        document.selection.replace(region_select.combine(current, chosen, combine))
        self.selected.emit(1000.0 * (time.perf_counter() - start))

    def _shape_selection(
        self, document, mode: ToolMode, camera: Camera, xy: np.ndarray, brush_radius: float
    ) -> np.ndarray | None:
        scene = document.gaussians
        if mode == ToolMode.CLICK:
            x, y = xy[-1]
            segments = document.segments if self.options.click_target == "segment" else None
            return region_select.click_select(
                scene, camera, x, y, labels=document.labels.ids, segments=segments
            )
        if mode == ToolMode.RECT:
            if len(xy) < 2:
                return None
            (x0, y0), (x1, y1) = xy[0], xy[-1]
            mask = region_select.rect_mask(camera.width, camera.height, x0, y0, x1, y1)
        elif mode == ToolMode.LASSO:
            if len(xy) < 3:
                return None
            mask = region_select.polygon_mask(camera.width, camera.height, xy)
        else:
            mask = region_select.brush_mask(camera.width, camera.height, xy, brush_radius)
        if not mask.any():
            return None
        return region_select.select_in_mask(scene, camera, mask, depth_mode=self.options.depth_mode)

    # ------------------------------------------------------------------ drawing
    def paint(self, painter: QPainter) -> None:
        """Draw the shape in progress (and the brush outline) over the frame."""
        pen = QPen(QColor(255, 220, 60), 1.5, Qt.PenStyle.DashLine)
        painter.setPen(pen)
        painter.setRenderHint(QPainter.RenderHint.Antialiasing)
        points = self._points
        if self.mode == ToolMode.RECT and len(points) == 2:
            painter.drawRect(QRectF(points[0], points[1]).normalized())
        elif self.mode == ToolMode.LASSO and len(points) > 1:
            painter.drawPolygon(QPolygonF(points))
        elif self.mode in (ToolMode.BRUSH, ToolMode.SCRIBBLE):
            radius = self.options.brush_radius
            if len(points) > 1:
                stroke = QPen(QColor(255, 220, 60, 110), 2 * radius)
                stroke.setCapStyle(Qt.PenCapStyle.RoundCap)
                stroke.setJoinStyle(Qt.PenJoinStyle.RoundJoin)
                painter.setPen(stroke)
                painter.drawPolyline(QPolygonF(points))
                painter.setPen(pen)
            centre = points[-1] if points else self._hover
            if centre is not None:
                painter.drawEllipse(centre, radius, radius)
