"""The Views panel: the training cameras as thumbnails, and one of them in 2D.

Thumbnails, training images and renders are made on background threads
(:class:`~liftstudio.app.panels._worker.BackgroundWorker`): the UI thread only turns
finished arrays into pixmaps. Everything a background task produces is keyed by the
document it belongs to, so results that arrive after the document changed are dropped.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Hashable
from enum import StrEnum
from functools import partial
from pathlib import Path

import numpy as np
import pyqtgraph as pg
from PySide6.QtCore import QSize, Qt, QTimer, Signal
from PySide6.QtGui import QCloseEvent, QColor, QIcon, QImage, QPainter, QPixmap
from PySide6.QtWidgets import (
    QComboBox,
    QHBoxLayout,
    QLabel,
    QListView,
    QListWidget,
    QListWidgetItem,
    QPushButton,
    QSplitter,
    QVBoxLayout,
    QWidget,
)

from liftstudio.app.document import SceneDocument
from liftstudio.app.panels._images import (
    ColouredIds,
    blend,
    capped_size,
    colour_ids,
    find_label_file,
    load_image,
    load_thumbnail,
    to_uint8,
)
from liftstudio.app.panels._view_cache import ImageCache
from liftstudio.app.panels._worker import BackgroundWorker
from liftstudio.app.panels.view_tools import ImageTools, ShownView, ToolViewBox
from liftstudio.render.backend import RenderBackend
from liftstudio.render.label_maps import render_label_map
from liftstudio.render.registry import resolve_backend
from liftstudio.scene.camera import Camera
from liftstudio.scene.gaussians import GaussianScene
from liftstudio.sources.label_files import read_label_map, resolve_mask_folder

#: Thumbnail box (width, height) in pixels.
THUMBNAIL_SIZE = (96, 72)
#: Long side of renders (and of the label overlay) at most, in pixels.
RENDER_CAP = 640
#: Long side of training images shown at most, in pixels.
IMAGE_CAP = 2048
#: Decoded images and overlays kept in memory.
CACHE_BYTES = 256 * 1024**2
#: Wait after a label change before re-rendering the label overlay (edits come in bursts).
LABELS_DELAY_MS = 100

_ABSENT = object()


class ViewSource(StrEnum):
    """What the 2D view shows under the overlay."""

    IMAGE = "image"
    """The training image (its render when the file is missing)."""
    RENDER = "render"
    """The Gaussians rendered at the camera."""


class Overlay(StrEnum):
    """What is blended over the 2D view."""

    NONE = "none"
    LABELS = "labels"
    """The document's labels rendered at the camera."""
    MASKS = "masks"
    """The view's 2D label map from the masks folder."""


class _Renderer:
    """Renders for the panel on its background thread (the backend is made there)."""

    def __init__(self, backend_name: str) -> None:
        self._backend_name = backend_name
        self._backend: RenderBackend | None = None

    def backend(self) -> RenderBackend:
        if self._backend is None:
            self._backend = resolve_backend(self._backend_name)
        return self._backend

    def rgb(self, scene: GaussianScene, camera: Camera) -> np.ndarray:
        size = capped_size(camera.width, camera.height, RENDER_CAP)
        return to_uint8(self.backend().render(scene, camera, resolution=size).rgb)

    def labels(self, scene: GaussianScene, camera: Camera, ids: np.ndarray) -> ColouredIds:
        size = capped_size(camera.width, camera.height, RENDER_CAP)
        return colour_ids(render_label_map(self.backend(), scene, camera, ids, resolution=size))


def _read_masks(folder: Path, camera: Camera) -> ColouredIds | None:
    path = find_label_file(folder, camera)
    return None if path is None else colour_ids(read_label_map(path))


class ViewsPanel(QWidget):
    """The training cameras as a thumbnail list, and the selected one in a 2D view.

    Parameters
    ----------
    parent
        Qt parent.
    backend
        Render backend name for the "Render" source and the label overlay
        (:func:`~liftstudio.render.registry.resolve_backend`).

    Signals
    -------
    cameraSelected(int)
        Index (into the training cameras) of the camera made current.
    snapRequested(int)
        The viewport should move to this training camera (double-click, or the button).

    Notes
    -----
    Call :meth:`shutdown` before dropping the panel (closing it does too): it stops the
    background threads.
    """

    cameraSelected = Signal(int)
    snapRequested = Signal(int)

    def __init__(self, parent: QWidget | None = None, *, backend: str = "cpu") -> None:
        super().__init__(parent)
        self._doc: SceneDocument | None = None
        self._token = 0  # which document background results belong to
        self._cameras: list[Camera] = []
        self._masks_folder: Path | None = None
        self._labels_version = 0
        self._cache = ImageCache(CACHE_BYTES)
        self._in_flight: set[Hashable] = set()
        self._errors: dict[Hashable, str] = {}
        self._shown: tuple | None = None
        self._displayed: np.ndarray | None = None
        self._thumbnails = 0
        self._renderer = _Renderer(backend)
        self._thumbnail_worker = self._worker("liftstudio-thumbnails", self._on_thumbnail)
        self._view_worker = self._worker("liftstudio-views", self._on_view_result)
        self._view_worker.failed.connect(self._on_view_failed, Qt.ConnectionType.QueuedConnection)
        self._labels_timer = QTimer(self)
        self._labels_timer.setSingleShot(True)
        self._labels_timer.setInterval(LABELS_DELAY_MS)
        self._labels_timer.timeout.connect(self._refresh_view)
        self._placeholders = {text: _placeholder(text) for text in ("", "no image")}
        self._build_ui()
        self._refresh_view()

    # ------------------------------------------------------------------ public API
    def set_document(self, doc: SceneDocument | None) -> None:
        """Show the training cameras of ``doc`` (None: nothing)."""
        if self._doc is not None:
            with contextlib.suppress(RuntimeError):  # the old document may be gone
                self._doc.labelsChanged.disconnect(self._on_labels_changed)
        self._doc = doc
        self._token += 1
        self._forget_work()
        self._cameras = doc.train_cameras if doc is not None else []
        self._fill_list()
        if doc is not None:
            doc.labelsChanged.connect(self._on_labels_changed)
        self._load_thumbnails()
        self._refresh_view()

    def set_masks_folder(self, folder: str | Path | None) -> None:
        """Offer the "Masks" overlay from a folder of ``<image name>.png`` label maps.

        Raises
        ------
        liftstudio.errors.InputFileError
            When ``folder`` is not an existing folder.
        """
        self._masks_folder = None if folder is None else resolve_mask_folder(Path(folder))[0]
        masks_item = self.overlay_combo.model().item(self._overlay_row(Overlay.MASKS))
        masks_item.setEnabled(self._masks_folder is not None)
        if self._masks_folder is None and self.overlay() is Overlay.MASKS:
            self.set_overlay(Overlay.NONE)
        self._refresh_view()

    def masks_folder(self) -> Path | None:
        """The folder the "Masks" overlay reads (None: no masks)."""
        return self._masks_folder

    def current_camera_index(self) -> int | None:
        """Index of the current training camera, or None."""
        row = self.camera_list.currentRow()
        return row if 0 <= row < len(self._cameras) else None

    def select_camera(self, index: int) -> None:
        """Make training camera ``index`` current (shows it in the 2D view)."""
        if not 0 <= index < len(self._cameras):
            raise IndexError(f"camera index {index} is outside [0, {len(self._cameras)})")
        self.camera_list.setCurrentRow(index)

    def source(self) -> ViewSource:
        """What the 2D view shows under the overlay."""
        return ViewSource(self.source_combo.currentData())

    def set_source(self, source: ViewSource | str) -> None:
        """Show the training image or the render (``"image"`` / ``"render"``)."""
        self.source_combo.setCurrentIndex(self.source_combo.findData(ViewSource(source).value))

    def overlay(self) -> Overlay:
        """What is blended over the 2D view."""
        return Overlay(self.overlay_combo.currentData())

    def set_overlay(self, overlay: Overlay | str) -> None:
        """Blend nothing, the labels or the masks (``"none"`` / ``"labels"`` / ``"masks"``).

        Raises
        ------
        ValueError
            For ``"masks"`` when no masks folder was given.
        """
        overlay = Overlay(overlay)
        if overlay is Overlay.MASKS and self._masks_folder is None:
            raise ValueError("overlay 'masks' needs a masks folder: call set_masks_folder first")
        self.overlay_combo.setCurrentIndex(self._overlay_row(overlay))

    def displayed_image(self) -> np.ndarray | None:
        """The (H, W, 3) uint8 image in the 2D view (None when it is empty)."""
        return self._displayed

    def set_tools(self, tools) -> None:
        """Let the tool bar's tools act on the 2D view too, through the training camera.

        ``tools`` is the viewport's
        :class:`~liftstudio.app.viewport.tools.SelectionTools` (None: pan and zoom only).
        """
        self.image_tools.set_tools(tools)

    def shown_view(self) -> ShownView | None:
        """The training camera in the 2D view and the displayed image's (height, width).

        None while the view is empty or still loading the current camera.
        """
        index = self.current_camera_index()
        if index is None or self._displayed is None or self._shown != self._wanted():
            return None
        return self._cameras[index], self._displayed.shape[:2]

    def is_up_to_date(self) -> bool:
        """Whether the 2D view shows the current camera, source and overlay (not loading)."""
        return self._shown == self._wanted()

    def thumbnails_loaded(self) -> int:
        """Number of cameras whose thumbnail has arrived."""
        return self._thumbnails

    def status_text(self) -> str:
        """The line under the 2D view (what it shows, or why not)."""
        return self._status.text()

    def shutdown(self) -> None:
        """Stop the background threads (waits for the task each one is running)."""
        self._labels_timer.stop()
        self._thumbnail_worker.shutdown()
        self._view_worker.shutdown()
        self._in_flight.clear()

    def closeEvent(self, event: QCloseEvent) -> None:
        """Stop the background threads when the panel is closed."""
        self.shutdown()
        super().closeEvent(event)

    # ------------------------------------------------------------------ building
    def _build_ui(self) -> None:
        self.camera_list = _camera_list()
        self.source_combo = QComboBox()
        for text, source in (("Image", ViewSource.IMAGE), ("Render", ViewSource.RENDER)):
            self.source_combo.addItem(text, source.value)
        self.overlay_combo = QComboBox()
        for text, overlay in (("No overlay", Overlay.NONE), ("Labels", Overlay.LABELS)):
            self.overlay_combo.addItem(text, overlay.value)
        self.overlay_combo.addItem("Masks", Overlay.MASKS.value)
        self.overlay_combo.model().item(self._overlay_row(Overlay.MASKS)).setEnabled(False)
        self.snap_button = QPushButton("Snap viewport")
        self.snap_button.setToolTip("Move the 3D viewport to this camera (or double-click it)")
        self._graphics, self._plot, self._image_item = _image_view()
        self.image_tools = ImageTools(self._plot.getViewBox(), self.shown_view, lambda: self._doc)
        self._status = QLabel()
        self._status.setWordWrap(True)
        self._layout_widgets()
        self._connect_widgets()

    def _layout_widgets(self) -> None:
        controls = QHBoxLayout()
        for widget in (self.source_combo, self.overlay_combo, self.snap_button):
            controls.addWidget(widget)
        controls.addStretch(1)
        bottom = QWidget()
        bottom_layout = QVBoxLayout(bottom)
        bottom_layout.setContentsMargins(0, 0, 0, 0)
        bottom_layout.addLayout(controls)
        bottom_layout.addWidget(self._graphics, 1)
        bottom_layout.addWidget(self._status)
        splitter = QSplitter(Qt.Orientation.Vertical)
        splitter.addWidget(self.camera_list)
        splitter.addWidget(bottom)
        splitter.setStretchFactor(1, 1)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(2, 2, 2, 2)
        layout.addWidget(splitter)

    def _connect_widgets(self) -> None:
        self.camera_list.currentRowChanged.connect(self._on_current_row_changed)
        self.camera_list.itemDoubleClicked.connect(self._on_double_clicked)
        self.snap_button.clicked.connect(self._on_snap_clicked)
        self.source_combo.currentIndexChanged.connect(self._refresh_view)
        self.overlay_combo.currentIndexChanged.connect(self._refresh_view)

    def _overlay_row(self, overlay: Overlay) -> int:
        return self.overlay_combo.findData(overlay.value)

    def _worker(self, name: str, on_result: Callable) -> BackgroundWorker:
        worker = BackgroundWorker(name, self)
        worker.finished.connect(on_result, Qt.ConnectionType.QueuedConnection)
        return worker

    # ------------------------------------------------------------------ camera list
    def _fill_list(self) -> None:
        self.camera_list.blockSignals(True)
        self.camera_list.clear()
        for index, camera in enumerate(self._cameras):
            has_image = self._image_path(index) is not None
            item = QListWidgetItem(self._placeholders["" if has_image else "no image"], camera.name)
            item.setToolTip(f"{camera.name} ({camera.width}×{camera.height})")
            self.camera_list.addItem(item)
        self.camera_list.blockSignals(False)
        self._thumbnails = 0
        self.snap_button.setEnabled(False)

    def _load_thumbnails(self) -> None:
        for index in range(len(self._cameras)):
            path = self._image_path(index)
            if path is not None:
                task = partial(load_thumbnail, path, THUMBNAIL_SIZE)
                self._thumbnail_worker.submit(("thumbnail", self._token, index), task)

    def _on_thumbnail(self, key: tuple, thumbnail: np.ndarray) -> None:
        _kind, token, index = key
        if token != self._token:
            return
        height, width = thumbnail.shape[:2]
        image = QImage(thumbnail.data, width, height, 3 * width, QImage.Format.Format_RGB888)
        self.camera_list.item(index).setIcon(QIcon(QPixmap.fromImage(image.copy())))
        self._thumbnails += 1

    def _on_current_row_changed(self, row: int) -> None:
        self.snap_button.setEnabled(self.current_camera_index() is not None)
        if self.current_camera_index() is not None:
            self.cameraSelected.emit(row)
        self._refresh_view()

    def _on_double_clicked(self, item: QListWidgetItem) -> None:
        self.snapRequested.emit(self.camera_list.row(item))

    def _on_snap_clicked(self) -> None:
        index = self.current_camera_index()
        if index is not None:
            self.snapRequested.emit(index)

    def _image_path(self, index: int) -> Path | None:
        assert self._doc is not None
        return self._doc.image_path(self._cameras[index])

    # ------------------------------------------------------------------ 2D view
    def _on_labels_changed(self, _indices: object) -> None:
        self._labels_version += 1
        if self.overlay() is Overlay.LABELS:
            self._labels_timer.start()

    def _wanted(self) -> tuple | None:
        index = self.current_camera_index()
        if self._doc is None or index is None:
            return None
        return self._base_key(index), self._overlay_key(index)

    def _base_key(self, index: int) -> tuple:
        image_key = ("image", self._token, index)
        if (
            self.source() is ViewSource.IMAGE
            and self._image_path(index) is not None
            and self._cache.get(image_key, _ABSENT) is not None
        ):
            return image_key
        return ("render", self._token, index)

    def _overlay_key(self, index: int) -> tuple | None:
        overlay = self.overlay()
        if overlay is Overlay.LABELS:
            return ("labels", self._token, index, self._labels_version)
        if overlay is Overlay.MASKS and self._masks_folder is not None:
            return ("masks", self._token, index, str(self._masks_folder))
        return None

    def _refresh_view(self) -> None:
        wanted = self._wanted()
        if wanted == self._shown:
            return
        if wanted is None:
            self._show(None, None, "Select a view" if self._cameras else "No training cameras")
            return
        missing = [key for key in wanted if key is not None and key not in self._cache]
        if missing:
            self._request(missing)
            self._status.setText(f"Loading {self._cameras[wanted[0][2]].name} …")
            return
        self._compose(wanted)

    def _request(self, keys: list[tuple]) -> None:
        for dropped in self._view_worker.cancel_pending():
            self._in_flight.discard(dropped)
        for key in keys:
            if key not in self._in_flight:
                self._in_flight.add(key)
                self._view_worker.submit(key, self._task(key))

    def _task(self, key: tuple) -> Callable[[], object]:
        assert self._doc is not None
        kind, _token, index = key[:3]
        camera = self._cameras[index]
        if kind == "image":
            return partial(load_image, self._image_path(index), IMAGE_CAP)
        if kind == "render":
            return partial(self._renderer.rgb, self._doc.gaussians, camera)
        if kind == "labels":
            ids = np.array(self._doc.labels.ids)  # a copy: edits may follow while it renders
            return partial(self._renderer.labels, self._doc.gaussians, camera, ids)
        return partial(_read_masks, Path(key[3]), camera)

    def _on_view_result(self, key: tuple, result: object) -> None:
        self._in_flight.discard(key)
        if key[1] == self._token:
            self._cache.put(key, result)
            self._refresh_view()

    def _on_view_failed(self, key: tuple, message: str) -> None:
        self._in_flight.discard(key)
        if key[1] == self._token:
            self._errors[key] = message
            self._cache.put(key, None)
            self._refresh_view()

    def _compose(self, wanted: tuple) -> None:
        base_key, overlay_key = wanted
        base = self._cache.get(base_key)
        camera = self._cameras[base_key[2]]
        if base is None:
            error = self._errors.get(base_key, "unknown error")
            self._show(None, wanted, f"{camera.name}: could not render ({error})")
            return
        overlay = self._cache.get(overlay_key) if overlay_key is not None else None
        image = base if overlay is None else blend(base, overlay)
        self._show(image, wanted, self._describe(camera, base_key, overlay_key, overlay))

    def _describe(
        self, camera: Camera, base_key: tuple, overlay_key: tuple | None, overlay: object
    ) -> str:
        index = base_key[2]
        if base_key[0] == "image":
            parts = [f"{camera.name}: training image"]
        elif self.source() is ViewSource.IMAGE:
            why = self._errors.get(("image", self._token, index), "no image file")
            parts = [f"{camera.name}: render ({why})"]
        else:
            parts = [f"{camera.name}: render"]
        if overlay_key is not None and overlay_key[0] == "labels":
            parts.append("labels" if overlay is not None else "labels failed")
        elif overlay_key is not None:
            parts.append("masks" if overlay is not None else "no mask file for this view")
        return ", ".join(parts)

    def _show(self, image: np.ndarray | None, key: tuple | None, status: str) -> None:
        previous = self._displayed
        self._displayed, self._shown = image, key
        self._status.setText(status)
        if image is None:
            self._image_item.clear()
            return
        self._image_item.setImage(image, autoLevels=False, levels=(0, 255))
        if previous is None or previous.shape != image.shape:
            self._plot.autoRange(padding=0)

    def _forget_work(self) -> None:
        self._thumbnail_worker.cancel_pending()
        self._view_worker.cancel_pending()
        self._in_flight.clear()
        self._cache.clear()
        self._errors.clear()
        self._labels_timer.stop()
        self._shown = _ABSENT  # whatever is wanted next must be shown anew


def _camera_list() -> QListWidget:
    widget = QListWidget()
    widget.setViewMode(QListView.ViewMode.IconMode)
    widget.setIconSize(QSize(*THUMBNAIL_SIZE))
    widget.setGridSize(QSize(THUMBNAIL_SIZE[0] + 16, THUMBNAIL_SIZE[1] + 28))
    widget.setResizeMode(QListView.ResizeMode.Adjust)
    widget.setMovement(QListView.Movement.Static)
    widget.setUniformItemSizes(True)
    widget.setWordWrap(True)
    widget.setSelectionMode(QListWidget.SelectionMode.SingleSelection)
    return widget


def _image_view() -> tuple[pg.GraphicsLayoutWidget, pg.PlotItem, pg.ImageItem]:
    graphics = pg.GraphicsLayoutWidget()
    plot = graphics.addPlot(viewBox=ToolViewBox())
    plot.setAspectLocked(True)
    plot.invertY(True)  # row 0 at the top: the image is upright
    plot.hideAxis("left")
    plot.hideAxis("bottom")
    image_item = pg.ImageItem(axisOrder="row-major")
    plot.addItem(image_item)
    return graphics, plot, image_item


def _placeholder(text: str) -> QIcon:
    pixmap = QPixmap(*THUMBNAIL_SIZE)
    pixmap.fill(QColor(60, 60, 60))
    if text:
        painter = QPainter(pixmap)
        painter.setPen(QColor(200, 200, 200))
        painter.drawText(pixmap.rect(), Qt.AlignmentFlag.AlignCenter, text)
        painter.end()
    return QIcon(pixmap)
