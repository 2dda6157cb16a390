"""The jobs panel: one row per background job, with progress, ETA, log and loss curve.

Jobs may report progress about a hundred times a second; a row only records that it is
stale, and the panel's timer redraws stale rows at most ten times a second.
"""

from __future__ import annotations

from PySide6.QtCore import Qt, QTimer
from PySide6.QtWidgets import (
    QFrame,
    QGridLayout,
    QLabel,
    QMessageBox,
    QPlainTextEdit,
    QProgressBar,
    QPushButton,
    QScrollArea,
    QVBoxLayout,
    QWidget,
)

from liftstudio.app.jobs.job import Job, JobState
from liftstudio.app.jobs.job_queue import JobQueue

REFRESH_INTERVAL_MS = 100
"""How often stale rows are redrawn (10 Hz)."""


class JobsPanel(QWidget):
    """Every job of a :class:`JobQueue`, newest on top.

    Parameters
    ----------
    queue
        The queue to show.
    parent
        The Qt parent.
    """

    def __init__(self, queue: JobQueue, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self._queue = queue
        self._rows: dict[Job, JobRow] = {}
        self._rows_layout = QVBoxLayout()
        self._rows_layout.addStretch(1)
        content = QWidget()
        content.setLayout(self._rows_layout)
        scroll = QScrollArea()
        scroll.setWidgetResizable(True)
        scroll.setWidget(content)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.addWidget(scroll)
        self._timer = QTimer(self)
        self._timer.setInterval(REFRESH_INTERVAL_MS)
        self._timer.timeout.connect(self._refresh_rows)
        queue.jobAdded.connect(self._add_row)
        queue.jobRemoved.connect(self._remove_row)
        for job in queue.jobs:
            self._add_row(job)

    def row(self, job: Job) -> JobRow:
        """The row showing ``job`` (KeyError if it has none)."""
        return self._rows[job]

    @property
    def rows(self) -> list[JobRow]:
        """The rows, top (newest) first."""
        items = (self._rows_layout.itemAt(i) for i in range(self._rows_layout.count()))
        return [item.widget() for item in items if isinstance(item.widget(), JobRow)]

    def _add_row(self, job: Job) -> None:
        row = JobRow(job)
        self._rows[job] = row
        self._rows_layout.insertWidget(0, row)
        job.stateChanged.connect(self._wake)

    def _wake(self) -> None:
        if not self._timer.isActive():
            self._timer.start()

    def _remove_row(self, job: Job) -> None:
        row = self._rows.pop(job, None)
        if row is not None:
            self._rows_layout.removeWidget(row)
            row.deleteLater()

    def _refresh_rows(self) -> None:
        running = [row for row in self._rows.values() if row.job.state is JobState.RUNNING]
        for row in running:
            row.refresh()
        if not running:
            self._timer.stop()


class JobRow(QFrame):
    """One job: name, state, progress bar, ETA, Cancel, Log toggle and loss curve.

    Parameters
    ----------
    job
        The job to show.
    parent
        The Qt parent.

    Attributes
    ----------
    progress_bar, time_label, state_label, cancel_button, log_button, log_view
        The row's widgets.
    loss_plot, loss_curve
        The pyqtgraph plot and its curve; None until the job reports a loss.
    """

    def __init__(self, job: Job, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.job = job
        self.setFrameShape(QFrame.Shape.StyledPanel)
        self.name_label = QLabel(job.name)
        self.state_label = QLabel()
        self.progress_bar = QProgressBar()
        self.time_label = QLabel()
        self.cancel_button = QPushButton("Cancel")
        self.cancel_button.clicked.connect(job.cancel)
        self.log_button = QPushButton("Log")
        self.log_button.setCheckable(True)
        self.log_button.toggled.connect(self._show_log)
        self.details_button = QPushButton("Details…")
        self.details_button.clicked.connect(lambda: show_job_error(self, self.job))
        self.log_view = QPlainTextEdit()
        self.log_view.setReadOnly(True)
        self.log_view.setVisible(False)
        self.loss_plot = None
        self.loss_curve = None
        self._new_log_lines: list[str] = []
        self._plotted_losses = 0
        self._lay_out()
        job.logAppended.connect(self._new_log_lines.append)
        job.stateChanged.connect(lambda _state: self.refresh())
        self.refresh()

    def refresh(self) -> None:
        """Redraw from the job's current state (cheap; the panel calls it at 10 Hz)."""
        job = self.job
        self.state_label.setText(job.state.value)
        self.cancel_button.setEnabled(not job.state.is_final)
        self.details_button.setVisible(job.state is JobState.FAILED)
        self._refresh_progress()
        self.time_label.setText(time_text(job))
        self._refresh_log()
        self._refresh_losses()

    def _lay_out(self) -> None:
        layout = QGridLayout(self)
        layout.addWidget(self.name_label, 0, 0)
        layout.addWidget(self.state_label, 0, 1)
        layout.addWidget(self.time_label, 0, 2)
        layout.addWidget(self.progress_bar, 1, 0, 1, 3)
        layout.addWidget(self.cancel_button, 1, 3)
        layout.addWidget(self.log_button, 1, 4)
        layout.addWidget(self.details_button, 0, 3, 1, 2)
        layout.addWidget(self.log_view, 2, 0, 1, 5)
        self._grid = layout

    def _refresh_progress(self) -> None:
        job, bar = self.job, self.progress_bar
        if job.state is JobState.SUCCEEDED:
            maximum = max(job.total, 1)
            bar.setRange(0, maximum)
            bar.setValue(maximum)
        elif job.total > 0:
            bar.setRange(0, job.total)
            bar.setValue(min(job.done, job.total))
        elif job.state is JobState.RUNNING:
            bar.setRange(0, 0)  # busy indicator until the first report
        else:
            bar.setRange(0, 1)
            bar.setValue(0)

    def _show_log(self, visible: bool) -> None:
        self.log_view.setVisible(visible)
        if visible:
            self.log_view.setPlainText("\n".join(self.job.log))
            self._new_log_lines.clear()

    def _refresh_log(self) -> None:
        if self._new_log_lines and self.log_button.isChecked():
            self.log_view.appendPlainText("\n".join(self._new_log_lines))
        self._new_log_lines.clear()

    def _refresh_losses(self) -> None:
        losses = self.job.losses
        if len(losses) == self._plotted_losses:
            return
        if self.loss_plot is None:
            self._make_loss_plot()
        steps, values = zip(*losses, strict=True)
        self.loss_curve.setData(list(steps), list(values))
        self._plotted_losses = len(losses)

    def _make_loss_plot(self) -> None:
        import pyqtgraph  # imported on first use: only learned methods report a loss

        self.loss_plot = pyqtgraph.PlotWidget()
        self.loss_plot.setLabel("bottom", "step")
        self.loss_plot.setLabel("left", "loss")
        self.loss_plot.setMinimumHeight(120)
        self.loss_curve = self.loss_plot.plot()
        self._grid.addWidget(self.loss_plot, 3, 0, 1, 5)
        self.loss_plot.show()  # a layout only shows a late child on a later event loop turn


def time_text(job: Job) -> str:
    """The row's time label: ``"queued"``, ``"ETA 0:12"``, ``"done in 3.4 s"``, ...

    Parameters
    ----------
    job
        The job to describe.
    """
    state = job.state
    if state is JobState.QUEUED:
        return "queued"
    if state is JobState.RUNNING:
        eta = job.eta_seconds()
        if eta is not None:
            return f"ETA {clock(eta)}"
        return f"{clock(job.elapsed_seconds)} elapsed"
    verb = {
        JobState.SUCCEEDED: "done in",
        JobState.FAILED: "failed after",
        JobState.CANCELLED: "cancelled after",
    }[state]
    return f"{verb} {job.elapsed_seconds:.1f} s"


def clock(seconds: float) -> str:
    """``m:ss`` (or ``h:mm:ss``) for a duration, rounded up to whole seconds.

    Examples
    --------
    >>> clock(12.2), clock(3725)
    ('0:13', '1:02:05')
    """
    minutes, secs = divmod(int(-(-seconds // 1)), 60)
    hours, minutes = divmod(minutes, 60)
    return f"{hours}:{minutes:02d}:{secs:02d}" if hours else f"{minutes}:{secs:02d}"


def show_job_error(parent: QWidget, job: Job) -> QMessageBox:
    """Open a non-blocking message box with a failed job's message and traceback.

    Parameters
    ----------
    parent
        The box's parent window.
    job
        A failed job.

    Returns
    -------
    QMessageBox
        The open box (deleted when closed).

    Raises
    ------
    ValueError
        If ``job`` did not fail.
    """
    if job.state is not JobState.FAILED:
        raise ValueError(f"job {job.name!r} did not fail (it is {job.state.value})")
    box = QMessageBox(parent)
    box.setIcon(QMessageBox.Icon.Critical)
    box.setWindowTitle(f"{job.name} failed")
    box.setText(job.error_message)
    box.setDetailedText(job.error_details)
    box.setAttribute(Qt.WidgetAttribute.WA_DeleteOnClose)
    box.open()
    return box
