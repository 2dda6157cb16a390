"""The 3D viewport: a ``QOpenGLWidget`` that draws the scene's Gaussians as splats.

Data changes only set dirty flags and call ``update()``; uploads happen in
``paintGL`` (pyqtgraph's habit), and only of what changed: a label edit re-sends the
texture rows of the edited Gaussians, never the geometry. The back-to-front order
comes from a :class:`~liftstudio.app.viewport.depth_sort.DepthSorter` thread; while
the camera moves, frames are drawn with the last order until the new one arrives.

Controls: left drag orbits, right or middle drag (or Shift+left) pans, the wheel zooms,
a double-click sets the orbit centre to the surface under the cursor; W/A/S/D fly,
Q/E go down/up, Shift moves faster; F frames the selection (or the scene),
Shift+F resets the view. With a selection tool active (:mod:`.tools`), left drags
draw its shape, right drags orbit and middle drags pan; ``[`` and ``]`` size the brush.
"""

from __future__ import annotations

import numpy as np
from OpenGL import GL
from PySide6.QtCore import QElapsedTimer, QPointF, Qt, QTimer, Signal
from PySide6.QtGui import QKeyEvent, QMouseEvent, QPainter, QSurfaceFormat, QWheelEvent
from PySide6.QtOpenGLWidgets import QOpenGLWidget
from PySide6.QtWidgets import QWidget

from liftstudio.app.document import SceneDocument
from liftstudio.app.viewport.depth_sort import DepthSorter, SortResult, back_to_front
from liftstudio.app.viewport.gl_resources import FloatTarget
from liftstudio.app.viewport.settings import ViewportSettings
from liftstudio.app.viewport.splat_renderer import SplatRenderer
from liftstudio.app.viewport.tools import SelectionTools, ToolMode
from liftstudio.app.viewport.view_camera import ViewCamera, up_from_cameras
from liftstudio.labels import LabelModel, palette
from liftstudio.render.backend import SplatArrays
from liftstudio.render.registry import resolve_backend
from liftstudio.render.rules import INRIA_RULES
from liftstudio.scene.camera import Camera

_FLY_KEYS = {
    Qt.Key.Key_W: (0.0, 0.0, 1.0),
    Qt.Key.Key_S: (0.0, 0.0, -1.0),
    Qt.Key.Key_A: (-1.0, 0.0, 0.0),
    Qt.Key.Key_D: (1.0, 0.0, 0.0),
    Qt.Key.Key_E: (0.0, 1.0, 0.0),
    Qt.Key.Key_Q: (0.0, -1.0, 0.0),
}


def gl_surface_format() -> QSurfaceFormat:
    """The OpenGL 3.3 core format the viewport needs (set as default before the app starts)."""
    surface = QSurfaceFormat()
    surface.setVersion(3, 3)
    surface.setProfile(QSurfaceFormat.OpenGLContextProfile.CoreProfile)
    surface.setDepthBufferSize(0)
    surface.setAlphaBufferSize(0)
    return surface


class SplatViewport(QOpenGLWidget):
    """Draws a :class:`SceneDocument`'s Gaussians; see the module docstring for controls.

    Signals
    -------
    frameRendered(bool)
        After every paint; True when the frame used a depth order sorted for the
        current camera and every pending upload (a "full" frame).
    cameraChanged()
        The view moved.
    glInfo(str)
        Renderer and version of the OpenGL context, once it exists.
    """

    frameRendered = Signal(bool)
    cameraChanged = Signal()
    glInfo = Signal(str)
    _sortDelivered = Signal(object)

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setFormat(gl_surface_format())
        self.setFocusPolicy(Qt.FocusPolicy.StrongFocus)
        self.setMinimumSize(160, 120)
        self.settings = ViewportSettings()
        self.view = ViewCamera()
        self.document: SceneDocument | None = None
        self.last_sort_ms = float("nan")
        self.gl_description = ""
        self._splats: SplatArrays | None = None
        self._renderer: SplatRenderer | None = None
        self._target: FloatTarget | None = None
        self._sorter: DepthSorter | None = None
        self._pending_order: SortResult | None = None
        self._order_viewmat: np.ndarray | None = None
        self._labels_dirty: list[np.ndarray | None] = []
        self._selection_dirty: list[np.ndarray] = []
        self._rebuild = False
        self._colours_dirty = True
        self._colours_for = 0
        self._discarded: list[SplatRenderer] = []
        self._depth_shading = (0.0, 1.0)
        self._drag_start: QPointF | None = None
        self._drag_button = Qt.MouseButton.NoButton
        self._keys: set[int] = set()
        self._fly_timer = QTimer(self, interval=16)
        self._fly_timer.timeout.connect(self._fly_step)
        self._fly_clock = QElapsedTimer()
        self._sortDelivered.connect(self._take_sort)
        self.tools = SelectionTools(self)
        self.tools.modeChanged.connect(self._tool_changed)

    # ------------------------------------------------------------------ document
    def set_document(self, document: SceneDocument | None) -> None:
        """Show ``document`` (None shows nothing), seen along its first training camera."""
        if self.document is not None:
            self.document.labelsChanged.disconnect(self._labels_changed)
            self.document.selectionChanged.disconnect(self._selection_changed)
            self.document.instancesChanged.disconnect(self._instances_changed)
        self._stop_sorter()
        if self._renderer is not None:
            self._discarded.append(self._renderer)
            self._renderer = None
        self.document = document
        self._pending_order = None
        self._order_viewmat = None
        self._labels_dirty, self._selection_dirty = [], []
        if document is None:
            self._splats = None
            self.update()
            return
        self._splats = SplatArrays.from_scene(document.gaussians)
        self._rebuild = True
        document.labelsChanged.connect(self._labels_changed)
        document.selectionChanged.connect(self._selection_changed)
        document.instancesChanged.connect(self._instances_changed)
        rules = INRIA_RULES
        self._sorter = DepthSorter(
            self._splats.means, self._sortDelivered.emit, near=rules.near_plane, far=rules.far_plane
        )
        up = up_from_cameras(document.train_cameras)
        self.view = ViewCamera(up if up is not None else (0.0, -1.0, 0.0))
        if document.train_cameras:  # the first camera's direction and lens, whole scene in view
            self.view.snap_to(document.train_cameras[0])
            self.view.frame(self._splats.means, aspect=self._aspect())
            self._camera_moved()
        else:
            self.reset_view()

    def set_settings(self, settings: ViewportSettings) -> None:
        """Change what is drawn and how."""
        self.settings = settings
        self.update()

    # ------------------------------------------------------------------ camera
    def current_camera(self) -> Camera:
        """The view as a core camera at the widget's pixel size (for render, pick, tools)."""
        ratio = self.devicePixelRatioF()
        width = max(1, round(self.width() * ratio))
        height = max(1, round(self.height() * ratio))
        return self.view.camera(width, height)

    def snap_to_camera(self, camera: Camera) -> None:
        """Look through a training camera (its pose and field of view)."""
        depth = self._median_depth(camera)
        self.view.snap_to(camera, orbit_depth=depth)
        self._camera_moved()

    def frame_selection(self) -> None:
        """Frame the selected Gaussians (all of them when nothing is selected)."""
        if self._splats is None or self.document is None:
            return
        chosen = self.document.selection.indices()
        means = self._splats.means[chosen] if chosen.size else self._splats.means
        self.view.frame(means, aspect=self._aspect())
        self._camera_moved()

    def reset_view(self) -> None:
        """The default view of the whole scene."""
        if self._splats is None:
            return
        self.view.reset(self._splats.means, aspect=self._aspect())
        self._camera_moved()

    def _aspect(self) -> float:
        return max(self.width(), 1) / max(self.height(), 1)

    def is_frame_current(self) -> bool:
        """Whether the last drawn order was sorted for the current camera and nothing waits."""
        return (
            self._order_viewmat is not None
            and self._pending_order is None
            and np.allclose(self._order_viewmat, self.view.viewmat())
            and not self._labels_dirty
            and not self._selection_dirty
            and not self._rebuild
            and not self._colours_dirty
        )

    def upload_bytes(self, kind: str) -> int:
        """Bytes of ``kind`` (geometry, covariance, sh, labels, selection, order) sent so far."""
        return self._renderer.stats.total(kind) if self._renderer is not None else 0

    def _median_depth(self, camera: Camera) -> float | None:
        if self._splats is None:
            return None
        viewmat = np.asarray(camera.viewmat)
        depth = self._splats.means @ viewmat[2, :3] + viewmat[2, 3]
        ahead = depth[depth > 0]
        return float(np.median(ahead)) if ahead.size else None

    def _camera_moved(self) -> None:
        if self._sorter is not None:
            self._sorter.request(self.view.viewmat())
        self.cameraChanged.emit()
        self.update()

    # ------------------------------------------------------------------ data events
    def _labels_changed(self, indices: np.ndarray | None) -> None:
        self._labels_dirty.append(indices)
        self.update()

    def _instances_changed(self, _ids) -> None:
        self._colours_dirty = True
        self.update()

    def _selection_changed(self, indices: np.ndarray) -> None:
        self._selection_dirty.append(indices)
        self.update()

    def _take_sort(self, result: SortResult) -> None:
        self._pending_order = result
        self.last_sort_ms = result.milliseconds
        self.update()

    # ------------------------------------------------------------------ GL
    def initializeGL(self) -> None:
        """Report the context; GPU data is created on the first paint."""
        renderer = GL.glGetString(GL.GL_RENDERER)
        version = GL.glGetString(GL.GL_VERSION)
        self.gl_description = f"{_text(renderer)} ({_text(version)})"
        self.glInfo.emit(self.gl_description)
        ctx = self.context()
        ctx.aboutToBeDestroyed.connect(self._free_gl)

    def paintGL(self) -> None:
        """Upload what changed, draw the splats, composite over the background."""
        self._free_discarded()
        background = self.settings.background
        if self._splats is None or self.document is None:
            GL.glClearColor(*background, 1.0)
            GL.glClear(GL.GL_COLOR_BUFFER_BIT)
            self.frameRendered.emit(False)
            return
        self._upload_changes()
        camera = self.current_camera()
        target = self._target_for(camera.width, camera.height)
        assert self._renderer is not None
        self._renderer.draw(camera, self.settings, target, depth_shading=self._depth_shading)
        self._renderer.present(
            target, self.defaultFramebufferObject(), camera.width, camera.height, background
        )
        if self.tools.mode != ToolMode.NAVIGATE:
            painter = QPainter(self)
            self.tools.paint(painter)
            painter.end()
        self.frameRendered.emit(self.is_frame_current())

    def render_image(self, camera: Camera) -> np.ndarray:
        """Draw ``camera`` off-screen at its own size; ``(H, W, 3)`` float32 in [0, 1].

        The same passes as the widget's frames, with a depth order computed here.
        """
        self.makeCurrent()
        try:
            self._upload_changes()
            if self._renderer is None or self._splats is None:
                raise RuntimeError("no scene is open in the viewport")
            order = back_to_front(self._splats.means, camera.viewmat, near=INRIA_RULES.near_plane)
            self._renderer.set_order(order)
            target = FloatTarget(camera.width, camera.height)
            try:
                self._renderer.draw(camera, self.settings, target)
                image = target.read()
            finally:
                target.delete()
            self._order_viewmat = None  # the widget's own order must be restored
            if self._sorter is not None:
                self._sorter.request(self.view.viewmat())
        finally:
            self.doneCurrent()
        background = np.asarray(self.settings.background, dtype=np.float32)
        return image[..., :3] + (1.0 - image[..., 3:4]) * background

    def _upload_changes(self) -> None:
        document = self.document
        assert document is not None and self._splats is not None
        if self._rebuild or self._renderer is None:
            self._renderer = SplatRenderer(
                self._splats, document.labels.ids, document.selection.mask
            )
            self._rebuild = False
            self._labels_dirty, self._selection_dirty = [], []
            self._colours_dirty = True
        if self._labels_dirty:
            for indices in self._labels_dirty:
                self._renderer.set_labels(document.labels.ids, indices)
            self._labels_dirty = []
            if document.labels.max_id >= self._colours_for:
                self._colours_dirty = True
        if self._colours_dirty:
            self._renderer.set_instance_colours(instance_colours(document.labels))
            self._colours_for = document.labels.max_id + 1
            self._colours_dirty = False
        if self._selection_dirty:
            changed = np.unique(np.concatenate(self._selection_dirty))
            self._renderer.set_selected(document.selection.mask, changed)
            self._selection_dirty = []
        if self._pending_order is not None:
            result, self._pending_order = self._pending_order, None
            self._renderer.set_order(result.order)
            self._order_viewmat = result.viewmat
            self._update_depth_shading(result)

    def _update_depth_shading(self, result: SortResult) -> None:
        assert self._splats is not None
        if result.order.size == 0:
            return
        sample = result.order[:: max(1, result.order.size // 20000)]
        viewmat = result.viewmat
        depth = self._splats.means[sample] @ viewmat[2, :3] + viewmat[2, 3]
        near, far = np.percentile(depth, [2, 98])
        self._depth_shading = (float(near), float(max(far, near + 1e-6)))

    def _target_for(self, width: int, height: int) -> FloatTarget:
        if self._target is None or (self._target.width, self._target.height) != (width, height):
            if self._target is not None:
                self._target.delete()
            self._target = FloatTarget(width, height)
        return self._target

    def _free_discarded(self) -> None:
        for renderer in self._discarded:
            renderer.delete()
        self._discarded = []

    def _free_gl(self) -> None:
        self.makeCurrent()
        self._free_discarded()
        if self._renderer is not None:
            self._renderer.delete()
            self._renderer = None
            self._rebuild = self.document is not None
        if self._target is not None:
            self._target.delete()
            self._target = None
        self.doneCurrent()

    # ------------------------------------------------------------------ input
    def mousePressEvent(self, event: QMouseEvent) -> None:
        """Start a tool's shape (left button with a tool) or an orbit/pan drag."""
        self.setFocus()
        if event.button() == Qt.MouseButton.LeftButton and self.tools.press(
            event.position(), event.modifiers()
        ):
            return
        self._drag_start = event.position()
        self._drag_button = event.button()

    def mouseMoveEvent(self, event: QMouseEvent) -> None:
        """Extend the tool's shape, or orbit / pan."""
        if self.tools.move(event.position()) or self._drag_start is None:
            return
        delta = event.position() - self._drag_start
        self._drag_start = event.position()
        ratio = self.devicePixelRatioF()
        height = max(1, round(self.height() * ratio))
        dx, dy = delta.x() * ratio, delta.y() * ratio
        shift = bool(event.modifiers() & Qt.KeyboardModifier.ShiftModifier)
        orbit_button = (
            Qt.MouseButton.LeftButton
            if self.tools.mode == ToolMode.NAVIGATE
            else Qt.MouseButton.RightButton
        )
        if self._drag_button == orbit_button and not shift:
            self.view.orbit(dx, dy, height)
        else:
            self.view.pan(dx, dy, height)
        self._camera_moved()

    def mouseReleaseEvent(self, event: QMouseEvent) -> None:
        """Finish the tool's shape or the drag."""
        if event.button() == Qt.MouseButton.LeftButton and self.tools.release(event.position()):
            return
        self._drag_start = None
        self._drag_button = Qt.MouseButton.NoButton

    def _tool_changed(self, mode: ToolMode) -> None:
        self.setMouseTracking(mode in (ToolMode.BRUSH, ToolMode.SCRIBBLE))

    def wheelEvent(self, event: QWheelEvent) -> None:
        """Zoom towards the orbit centre."""
        steps = event.angleDelta().y() / 120.0
        if steps:
            self.view.zoom(steps)
            self._camera_moved()

    def mouseDoubleClickEvent(self, event: QMouseEvent) -> None:
        """Orbit about the surface point under the cursor (navigation only)."""
        if self.tools.mode != ToolMode.NAVIGATE:
            return
        point = self.surface_point(event.position().x(), event.position().y())
        if point is not None:
            self.view.set_orbit_centre(point)
            self._camera_moved()

    def surface_point(self, x: float, y: float) -> np.ndarray | None:
        """World point of the splat surface under widget position ``(x, y)``, or None.

        The weighted mean depth of the Gaussians under the pixel (the core's pick).
        """
        if self.document is None:
            return None
        camera = self.current_camera()
        ratio = self.devicePixelRatioF()
        px, py = x * ratio, y * ratio
        picked = resolve_backend("cpu").pick(self.document.gaussians, camera, px, py)
        if len(picked.ids) == 0 or float(picked.weights.sum()) <= 0:
            return None
        depth = float(np.average(picked.depths, weights=picked.weights))
        K = camera.K
        ray = np.array([(px - K[0, 2]) / K[0, 0], (py - K[1, 2]) / K[1, 1], 1.0])
        return self.view.eye + self.view.rotation @ (ray * depth)

    def keyPressEvent(self, event: QKeyEvent) -> None:
        """F frames, Shift+F resets; WASD/QE start flying."""
        key = event.key()
        if key in (Qt.Key.Key_BracketLeft, Qt.Key.Key_BracketRight):
            self.tools.grow_brush(1.25 if key == Qt.Key.Key_BracketRight else 0.8)
            return
        if key == Qt.Key.Key_Escape and self.tools.mode != ToolMode.NAVIGATE:
            self.tools.set_mode(ToolMode.NAVIGATE)
            return
        if key == Qt.Key.Key_F:
            if event.modifiers() & Qt.KeyboardModifier.ShiftModifier:
                self.reset_view()
            else:
                self.frame_selection()
            return
        if key in _FLY_KEYS:
            self._keys.add(key)
            if not self._fly_timer.isActive():
                self._fly_clock.start()
                self._fly_timer.start()
            return
        super().keyPressEvent(event)

    def keyReleaseEvent(self, event: QKeyEvent) -> None:
        """Stop flying when no fly key is held."""
        if event.isAutoRepeat():
            return
        self._keys.discard(event.key())
        if not self._keys:
            self._fly_timer.stop()

    def fly_speed(self) -> float:
        """World units per second: a fifth of the orbit distance."""
        return 0.2 * max(self.view.distance, 1e-3)

    def _fly_step(self) -> None:
        seconds = min(self._fly_clock.restart() / 1000.0, 0.1)
        fast = _shift_held()
        move = np.zeros(3)
        for key in self._keys:
            move += _FLY_KEYS.get(key, (0.0, 0.0, 0.0))
        if not move.any():
            return
        self.view.fly(move * self.fly_speed() * seconds * (4.0 if fast else 1.0))
        self._camera_moved()

    # ------------------------------------------------------------------ teardown
    def _stop_sorter(self) -> None:
        if self._sorter is not None:
            self._sorter.stop()
            self._sorter = None

    def shutdown(self) -> None:
        """Stop the sort thread and free GPU data (the window is closing)."""
        self._fly_timer.stop()
        self._stop_sorter()
        if self.context() is not None and self.context().isValid():
            self._free_gl()

    def closeEvent(self, event) -> None:
        """Stop background work with the widget."""
        self.shutdown()
        super().closeEvent(event)


def instance_colours(labels: LabelModel) -> np.ndarray:
    """``(max_id + 1, 4)`` uint8: each id's colour, alpha 0 for hidden instances."""
    table = np.zeros((labels.max_id + 1, 4), dtype=np.uint8)
    table[:, :3] = palette(labels.max_id)
    table[:, 3] = 255
    for instance in labels.instances():
        table[instance.id, :3] = instance.colour
        table[instance.id, 3] = 255 if instance.visible else 0
    return table


def _shift_held() -> bool:
    from PySide6.QtWidgets import QApplication

    return bool(QApplication.keyboardModifiers() & Qt.KeyboardModifier.ShiftModifier)


def _text(value) -> str:
    if isinstance(value, bytes):
        return value.decode(errors="replace")
    return str(value)
