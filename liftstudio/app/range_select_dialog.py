"""The "Select by opacity or size" dialog: a histogram with a draggable range.

:class:`RangeSelectDialog` shows the histogram of one per-Gaussian quantity (the
activated opacity, or the log10 of the largest scale axis) with a
:class:`pyqtgraph.LinearRegionItem` over it. Whatever the controls describe is
previewed live as the document's selection: the Gaussians whose value lies in
``[lo, hi]``, combined with the selection the dialog started from (replace, add,
subtract or intersect). OK keeps the selection the controls describe; Cancel, Esc or
closing the window restores the starting selection exactly.
"""

from __future__ import annotations

import math

import numpy as np
import pyqtgraph as pg
from PySide6.QtCore import Qt, QTimer, Signal
from PySide6.QtWidgets import (
    QComboBox,
    QDialog,
    QDialogButtonBox,
    QDoubleSpinBox,
    QFormLayout,
    QHBoxLayout,
    QLabel,
    QVBoxLayout,
    QWidget,
)

from liftstudio.app.document import SceneDocument
from liftstudio.labels import region_select
from liftstudio.labels.region_select import COMBINE_MODES

MEASURES: dict[str, str] = {
    "opacity": "Opacity",
    "size": "Size (largest axis, log10)",
}
"""The quantities the dialog selects by: name → combo box text."""

MODE_TEXTS: dict[str, str] = {
    "replace": "Replace the selection",
    "add": "Add to the selection",
    "subtract": "Subtract from the selection",
    "intersect": "Intersect with the selection",
}
"""The combine modes (:data:`~liftstudio.labels.region_select.COMBINE_MODES`) → combo text."""

HISTOGRAM_BINS = 100
"""Bars of the histogram."""

_DECIMALS = 4


def measure_values(document: SceneDocument, measure: str) -> np.ndarray:
    """The per-Gaussian values the dialog shows for ``measure``.

    Parameters
    ----------
    document
        The scene.
    measure
        ``"opacity"``: the activated opacity in ``[0, 1]``; ``"size"``: ``log10`` of
        the largest activated scale. A size of 0 (or below the float range) has no
        finite logarithm: it is given the smallest finite value of the scene, so it
        falls in the histogram's first bar; an infinite size likewise gets the largest.

    Returns
    -------
    (N,) float64

    Raises
    ------
    ValueError
        For an unknown measure.
    """
    if measure == "opacity":
        return region_select.opacities(document.gaussians).astype(np.float64)
    if measure == "size":
        sizes = region_select.gaussian_sizes(document.gaussians).astype(np.float64)
        with np.errstate(divide="ignore", invalid="ignore"):
            values = np.log10(sizes)
        finite = np.isfinite(values)
        if finite.any() and not finite.all():
            low, high = values[finite].min(), values[finite].max()
            values = np.where(values == -np.inf, low, values)
            values = np.where(values == np.inf, high, values)
        elif not finite.all():  # no finite size at all: put them at 0
            values = np.where(np.isnan(values), values, 0.0)
        return values
    raise ValueError(f"measure must be one of {', '.join(MEASURES)}, got {measure!r}")


class RangeSelectDialog(QDialog):
    """Select the Gaussians whose opacity or size lies in a range, from a histogram.

    The dialog is non-modal: show it with ``show()``. Any change of the range, the
    measure or the combine mode previews the described selection at once (changes
    made by dragging the region are coalesced to one per event-loop pass). Opening the
    dialog changes nothing; OK applies what the controls describe (so OK straight away
    selects by the initial range, the whole range of values); Cancel, Esc or closing
    restores the starting selection.

    Parameters
    ----------
    document
        The scene whose selection is edited. Its selection when the dialog is created
        is the one the combine modes start from and the one Cancel restores.
    parent
        The Qt parent (the main window).

    Attributes
    ----------
    measure_combo, mode_combo : QComboBox
        The measure (data: ``"opacity"`` / ``"size"``) and the combine mode (data: a
        :data:`~liftstudio.labels.region_select.COMBINE_MODES` entry).
    plot : pyqtgraph.PlotWidget
        The histogram.
    histogram : pyqtgraph.PlotDataItem
        Its stepped curve.
    region : pyqtgraph.LinearRegionItem
        The range ``[lo, hi]`` over the histogram.
    lo_spin, hi_spin : QDoubleSpinBox
        The range as numbers, mirroring the region.
    count_label : QLabel
        How many Gaussians the controls select.
    buttons : QDialogButtonBox
        OK and Cancel.

    Signals
    -------
    previewChanged(object)
        The previewed selection (sorted ``int64`` indices) was applied.
    """

    previewChanged = Signal(object)

    def __init__(self, document: SceneDocument, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setWindowTitle("Select by opacity or size")
        self.setModal(False)
        self._document = document
        self._base = document.selection.indices().copy()
        self._values: dict[str, np.ndarray] = {}
        self._measure = "opacity"
        self._mode = "replace"
        self._lo = 0.0
        self._hi = 1.0
        self._limits = (0.0, 1.0)
        self._applied_key: tuple[str, float, float, str] | None = None
        self._previewed = False
        self._syncing = False
        self._preview_timer = QTimer(self)
        self._preview_timer.setSingleShot(True)
        self._preview_timer.setInterval(0)
        self._preview_timer.timeout.connect(self.apply_preview)
        self._build_widgets()
        self._show_measure()

    # ------------------------------------------------------------------ public API
    @property
    def document(self) -> SceneDocument:
        """The scene whose selection the dialog edits."""
        return self._document

    def base_selection(self) -> np.ndarray:
        """The selection the dialog started from (sorted indices; a copy)."""
        return self._base.copy()

    def measure(self) -> str:
        """The current measure: ``"opacity"`` or ``"size"``."""
        return self._measure

    def set_measure(self, name: str) -> None:
        """Select by ``name`` (``"opacity"`` or ``"size"``); the range becomes its full range.

        Raises
        ------
        ValueError
            For an unknown measure.
        """
        if name not in MEASURES:
            raise ValueError(f"measure must be one of {', '.join(MEASURES)}, got {name!r}")
        self.measure_combo.blockSignals(True)
        self.measure_combo.setCurrentIndex(list(MEASURES).index(name))
        self.measure_combo.blockSignals(False)
        self._measure = name
        self._show_measure()
        self.apply_preview()

    def values(self) -> np.ndarray:
        """The current measure's value per Gaussian (computed once per dialog; read-only)."""
        return self._values_of(self._measure)

    def limits(self) -> tuple[float, float]:
        """The smallest and largest finite value of the current measure."""
        return self._limits

    def range(self) -> tuple[float, float]:
        """The chosen range ``(lo, hi)``, inclusive."""
        return self._lo, self._hi

    def set_range(self, lo: float, hi: float) -> None:
        """Choose the range ``[lo, hi]`` (clipped to :meth:`limits`) and preview it.

        Raises
        ------
        ValueError
            For NaN bounds or ``lo > hi``.
        """
        lo, hi = float(lo), float(hi)
        if math.isnan(lo) or math.isnan(hi) or lo > hi:
            raise ValueError(f"lo and hi must be numbers with lo <= hi, got lo={lo}, hi={hi}")
        low, high = self._limits
        self._lo = min(max(lo, low), high)
        self._hi = min(max(hi, low), high)
        self._show_range()
        self.apply_preview()

    def mode(self) -> str:
        """The combine mode: ``"replace"``, ``"add"``, ``"subtract"`` or ``"intersect"``."""
        return self._mode

    def set_mode(self, mode: str) -> None:
        """Combine the range with the starting selection by ``mode``, and preview it.

        Raises
        ------
        ValueError
            For an unknown mode.
        """
        if mode not in COMBINE_MODES:
            raise ValueError(f"mode must be one of {', '.join(COMBINE_MODES)}, got {mode!r}")
        self._mode = mode
        self.mode_combo.blockSignals(True)
        self.mode_combo.setCurrentIndex(COMBINE_MODES.index(mode))
        self.mode_combo.blockSignals(False)
        self.apply_preview()

    def in_range(self) -> np.ndarray:
        """The Gaussians whose value lies in the range (sorted indices)."""
        return region_select.select_by_range(self.values(), self._lo, self._hi)

    def preview(self) -> np.ndarray:
        """The selection the controls describe: :meth:`in_range` combined with the start."""
        return region_select.combine(self._base, self.in_range(), self._mode)

    def apply_preview(self) -> np.ndarray:
        """Make :meth:`preview` the document's selection now; returns it."""
        self._preview_timer.stop()
        key = (self._measure, self._lo, self._hi, self._mode)
        chosen = self.preview()
        self._show_count(chosen)
        if key != self._applied_key or not self._previewed:
            self._applied_key = key
            self._previewed = True
            self._document.selection.replace(chosen)
            self.previewChanged.emit(chosen)
        return chosen

    def restore(self) -> None:
        """Put the starting selection back (the preview stops until the next change)."""
        self._preview_timer.stop()
        self._document.selection.replace(self._base)
        self._applied_key = None
        self._previewed = False

    # ------------------------------------------------------------------ QDialog
    def accept(self) -> None:
        """Keep the selection the controls describe, and close."""
        self.apply_preview()
        super().accept()

    def reject(self) -> None:
        """Restore the starting selection exactly, and close (also Esc and the close box)."""
        self.restore()
        super().reject()

    # ------------------------------------------------------------------ widgets
    def _build_widgets(self) -> None:
        self.measure_combo = QComboBox()
        for name, text in MEASURES.items():
            self.measure_combo.addItem(text, name)
        self.mode_combo = QComboBox()
        for mode in COMBINE_MODES:
            self.mode_combo.addItem(MODE_TEXTS[mode], mode)

        self.plot = pg.PlotWidget()
        self.plot.setMinimumSize(420, 220)
        self.plot.setMouseEnabled(x=False, y=False)
        self.plot.hideButtons()
        self.plot.setLabel("left", "Gaussians")
        self.histogram = self.plot.plot(
            [0.0, 1.0], [0.0], stepMode="center", fillLevel=0, brush=(90, 140, 220, 150)
        )
        self.region = pg.LinearRegionItem(values=(0.0, 1.0))
        self.region.setZValue(10)
        self.plot.addItem(self.region)

        self.lo_spin = QDoubleSpinBox()
        self.hi_spin = QDoubleSpinBox()
        for spin in (self.lo_spin, self.hi_spin):
            spin.setDecimals(_DECIMALS)
            spin.setKeyboardTracking(False)
        self.count_label = QLabel()
        self.count_label.setAlignment(Qt.AlignmentFlag.AlignRight)
        self.buttons = QDialogButtonBox(
            QDialogButtonBox.StandardButton.Ok | QDialogButtonBox.StandardButton.Cancel
        )

        form = QFormLayout()
        form.addRow("Select by", self.measure_combo)
        form.addRow("Mode", self.mode_combo)
        bounds = QHBoxLayout()
        bounds.addWidget(QLabel("from"))
        bounds.addWidget(self.lo_spin, 1)
        bounds.addWidget(QLabel("to"))
        bounds.addWidget(self.hi_spin, 1)
        layout = QVBoxLayout(self)
        layout.addLayout(form)
        layout.addWidget(self.plot, 1)
        layout.addLayout(bounds)
        layout.addWidget(self.count_label)
        layout.addWidget(self.buttons)

        self.measure_combo.currentIndexChanged.connect(self._measure_chosen)
        self.mode_combo.currentIndexChanged.connect(self._mode_chosen)
        self.region.sigRegionChanged.connect(self._region_moved)
        self.lo_spin.valueChanged.connect(self._lo_typed)
        self.hi_spin.valueChanged.connect(self._hi_typed)
        self.buttons.accepted.connect(self.accept)
        self.buttons.rejected.connect(self.reject)

    def _values_of(self, measure: str) -> np.ndarray:
        if measure not in self._values:
            values = measure_values(self._document, measure)
            values.flags.writeable = False
            self._values[measure] = values
        return self._values[measure]

    def _show_measure(self) -> None:
        """Draw the current measure's histogram; the range becomes its full range."""
        values = self.values()
        finite = values[np.isfinite(values)]
        low, high = (float(finite.min()), float(finite.max())) if finite.size else (0.0, 1.0)
        self._limits = (low, high)
        counts, edges = np.histogram(finite, bins=HISTOGRAM_BINS, range=(low, high))
        self.histogram.setData(edges, counts.astype(np.float64))
        self.plot.setLabel("bottom", MEASURES[self._measure])
        pad = (edges[-1] - edges[0]) * 0.02
        self.plot.setXRange(edges[0] - pad, edges[-1] + pad, padding=0)
        self.region.setBounds((low, high))
        step = (high - low) / HISTOGRAM_BINS if high > low else 0.01
        for spin in (self.lo_spin, self.hi_spin):
            spin.blockSignals(True)
            spin.setRange(low, high)
            spin.setSingleStep(step)
            spin.blockSignals(False)
        self._lo, self._hi = low, high
        self._show_range()

    def _show_range(self) -> None:
        """Move the region and the spin boxes to ``[_lo, _hi]`` without feedback."""
        self._syncing = True
        try:
            self.region.setRegion((self._lo, self._hi))
            for spin, value in ((self.lo_spin, self._lo), (self.hi_spin, self._hi)):
                spin.blockSignals(True)
                spin.setValue(value)
                spin.blockSignals(False)
        finally:
            self._syncing = False

    def _show_count(self, chosen: np.ndarray) -> None:
        total = len(self._document.gaussians)
        self.count_label.setText(f"{chosen.size:,} of {total:,} Gaussians selected")

    # ------------------------------------------------------------------ user edits
    def _measure_chosen(self, index: int) -> None:
        name = self.measure_combo.itemData(index)
        if name is None or name == self._measure:
            return
        self._measure = name
        self._show_measure()
        self._schedule_preview()

    def _mode_chosen(self, index: int) -> None:
        mode = self.mode_combo.itemData(index)
        if mode is None:
            return
        self._mode = mode
        self._schedule_preview()

    def _region_moved(self) -> None:
        if self._syncing:
            return
        lo, hi = sorted(float(v) for v in self.region.getRegion())
        self._lo, self._hi = lo, hi
        self._syncing = True
        try:
            for spin, value in ((self.lo_spin, lo), (self.hi_spin, hi)):
                spin.blockSignals(True)
                spin.setValue(value)
                spin.blockSignals(False)
        finally:
            self._syncing = False
        self._schedule_preview()

    def _lo_typed(self, value: float) -> None:
        self._bound_typed(value, self._hi)

    def _hi_typed(self, value: float) -> None:
        self._bound_typed(self._lo, value)

    def _bound_typed(self, lo: float, hi: float) -> None:
        """One spin box changed: only its bound moves (the other keeps its full precision)."""
        if self._syncing:
            return
        self._lo, self._hi = sorted((float(lo), float(hi)))
        self._show_range()
        self._schedule_preview()

    def _schedule_preview(self) -> None:
        self._preview_timer.start()
