"""One background job: a core function run in a worker thread, observed through signals.

A core function that takes ``progress(done, total, message)`` and a
:class:`~liftstudio.jobs.CancelToken` becomes a :class:`Job`. The function runs in a
:class:`QThread`; everything it reports crosses to the UI thread as queued signals, so
slots connected to a job always run in the UI thread. Exceptions never escape the
worker: they end the job as ``failed`` (or ``cancelled`` for
:class:`~liftstudio.jobs.JobCancelled`).
"""

from __future__ import annotations

import threading
import time
import traceback
from collections.abc import Callable
from enum import StrEnum
from typing import Any

from PySide6.QtCore import QObject, Qt, QThread, Signal, Slot

from liftstudio.errors import LiftStudioError
from liftstudio.jobs import CancelToken, JobCancelled, ProgressCallback
from liftstudio.lift.feature_training import loss_from_message

JobFunction = Callable[[ProgressCallback, CancelToken], Any]
"""``function(progress, cancel) -> result``: the work a job runs in its thread."""

_MAX_LOG_LINES = 2000


class JobState(StrEnum):
    """Where a job is in its life: queued → running → one of the three final states."""

    QUEUED = "queued"
    RUNNING = "running"
    SUCCEEDED = "succeeded"
    FAILED = "failed"
    CANCELLED = "cancelled"

    @property
    def is_final(self) -> bool:
        """Whether the job has ended (succeeded, failed or cancelled)."""
        return self not in (JobState.QUEUED, JobState.RUNNING)


class Job(QObject):
    """A function run once in a worker thread, with progress, log, losses and cancel.

    The job lives in the UI thread; only its function runs in the worker. Keep a
    reference to the job while it runs (a :class:`~liftstudio.app.jobs.JobQueue` does).

    Parameters
    ----------
    name
        Shown in the jobs panel (``"Lift: codebook"``).
    function
        ``function(progress, cancel) -> result``, run in the worker thread.
    on_success
        Called with the result in the UI thread after the function returned, before
        :attr:`succeeded`; if it raises, the job fails with that error instead.
    parent
        The Qt parent.

    Signals
    -------
    progressed(done, total, message)
        The function reported progress.
    stateChanged(state)
        The new :class:`JobState`.
    logAppended(line)
        A timestamped line was added to :attr:`log`.
    lossAppended(step, value)
        A progress message carried a (finite) training loss.
    succeeded(result)
        The function returned ``result``.
    failed(message, details)
        The function raised; ``details`` is the traceback text.
    cancelled()
        The job was cancelled (before it started, or while it ran).
    finished()
        Emitted last, exactly once, whatever the outcome.
    """

    progressed = Signal(int, int, str)
    stateChanged = Signal(object)
    logAppended = Signal(str)
    lossAppended = Signal(int, float)
    succeeded = Signal(object)
    failed = Signal(str, str)
    cancelled = Signal()
    finished = Signal()

    def __init__(
        self,
        name: str,
        function: JobFunction,
        *,
        on_success: Callable[[Any], None] | None = None,
        parent: QObject | None = None,
    ) -> None:
        super().__init__(parent)
        self.name = name
        self._function = function
        self._on_success = on_success
        self._token = CancelToken()
        self._state = JobState.QUEUED
        self._thread: _WorkerThread | None = None
        self._rate = _RateEstimate()
        self._log: list[str] = []
        self._last_message: str | None = None
        self._losses: list[tuple[int, float]] = []
        self._started: float | None = None
        self._ended: float | None = None
        self.done = 0
        self.total = 0
        self.result: Any = None
        self.error_message = ""
        self.error_details = ""

    # -- public API ----------------------------------------------------------------

    @property
    def state(self) -> JobState:
        """The job's current :class:`JobState`."""
        return self._state

    @property
    def log(self) -> list[str]:
        """Timestamped lines: start, progress messages (no consecutive repeats), outcome."""
        return list(self._log)

    @property
    def losses(self) -> list[tuple[int, float]]:
        """``(step, loss)`` pairs parsed from the progress messages of a learned method."""
        return list(self._losses)

    @property
    def elapsed_seconds(self) -> float:
        """Seconds since the job started (its whole run time once it ended); 0 if queued."""
        if self._started is None:
            return 0.0
        end = self._ended if self._ended is not None else time.perf_counter()
        return end - self._started

    def eta_seconds(self) -> float | None:
        """Seconds left, from the rate of progress so far.

        Returns
        -------
        float or None
            None before the second progress report of the current total, when the
            rate is unknown, or when the job is not running.
        """
        if self._state is not JobState.RUNNING:
            return None
        return self._rate.eta(time.perf_counter())

    def start(self) -> None:
        """Start the function in a new worker thread (a :class:`JobQueue` calls this).

        Raises
        ------
        RuntimeError
            If the job is not queued.
        """
        if self._state is not JobState.QUEUED:
            raise RuntimeError(f"job {self.name!r} cannot start: it is {self._state.value}")
        thread = _WorkerThread(self._function, self._token)
        thread.reported.connect(self._on_reported, Qt.ConnectionType.QueuedConnection)
        thread.finished.connect(self._finish, Qt.ConnectionType.QueuedConnection)
        self._thread = thread
        self._started = time.perf_counter()
        self._append_log("started")
        self._set_state(JobState.RUNNING)
        thread.start()

    def cancel(self) -> None:
        """Ask the job to stop; a queued job ends as cancelled at once, without running.

        A running job ends as cancelled once its function notices the token (or
        returns: its result is then discarded). Does nothing to a job that has ended.
        """
        if self._state is JobState.QUEUED:
            self._token.cancel()
            self._append_log("cancelled before it started")
            self._end(JobState.CANCELLED)
        elif self._state is JobState.RUNNING and not self._token.cancelled:
            self._token.cancel()
            self._append_log("cancel requested")

    def wait(self, timeout_ms: int = 10_000) -> bool:
        """Block until the worker thread ended, then end the job at once.

        Parameters
        ----------
        timeout_ms
            How long to wait for the thread.

        Returns
        -------
        bool
            Whether the job has ended (False: the function is still running).
        """
        if self._thread is not None and not self._thread.wait(timeout_ms):
            return False
        if self._thread is not None:
            self._finish()
        return self._state.is_final

    # -- worker → UI thread ----------------------------------------------------------

    @Slot(int, int, str, float)
    def _on_reported(self, done: int, total: int, message: str, when: float) -> None:
        if self._state is not JobState.RUNNING:
            return  # a late report queued before wait() ended the job
        self.done, self.total = done, total
        self._rate.add(done, total, when)
        if message and message != self._last_message:
            self._last_message = message
            self._append_log(message)
        loss = loss_from_message(message)
        if loss is not None and loss == loss and abs(loss) != float("inf"):
            self._losses.append((done, loss))
            self.lossAppended.emit(done, loss)
        self.progressed.emit(done, total, message)

    @Slot()
    def _finish(self) -> None:
        if self._state.is_final or self._thread is None:
            return
        self._thread.wait()
        outcome = self._thread.outcome
        if outcome is None or (outcome.error is None and self._token.cancelled):
            outcome = _Outcome(cancelled=True)
        if outcome.cancelled:
            self._append_log("cancelled")
            self._end(JobState.CANCELLED)
        elif outcome.error is not None:
            self._fail(*outcome.error)
        else:
            self._succeed(outcome.result)

    # -- endings ---------------------------------------------------------------------

    def _succeed(self, result: Any) -> None:
        if self._on_success is not None:
            try:
                self._on_success(result)
            except Exception as exc:  # shown to the user, never a crash
                self._fail(*_describe(exc))
                return
        self.result = result
        self._append_log(f"succeeded in {self.elapsed_seconds:.1f} s")
        self._end(JobState.SUCCEEDED, result)

    def _fail(self, message: str, details: str) -> None:
        self.error_message, self.error_details = message, details
        self._append_log(f"failed: {message}")
        self._end(JobState.FAILED, message, details)

    def _end(self, state: JobState, *payload: Any) -> None:
        self._ended = time.perf_counter()
        self._set_state(state)
        outcome_signal = {
            JobState.SUCCEEDED: self.succeeded,
            JobState.FAILED: self.failed,
            JobState.CANCELLED: self.cancelled,
        }[state]
        outcome_signal.emit(*payload)
        self.finished.emit()

    def _set_state(self, state: JobState) -> None:
        self._state = state
        self.stateChanged.emit(state)

    def _append_log(self, text: str) -> None:
        line = f"[{time.strftime('%H:%M:%S')}] {text}"
        self._log.append(line)
        if len(self._log) > _MAX_LOG_LINES:
            del self._log[: len(self._log) - _MAX_LOG_LINES]
        self.logAppended.emit(line)

    def __repr__(self) -> str:
        return f"<Job {self.name!r} {self._state.value} {self.done}/{self.total}>"


class _Outcome:
    """How the function ended: a result, an error ``(message, details)``, or cancelled."""

    def __init__(
        self,
        result: Any = None,
        error: tuple[str, str] | None = None,
        cancelled: bool = False,
    ) -> None:
        self.result, self.error, self.cancelled = result, error, cancelled


class _WorkerThread(QThread):
    """Runs one job function; its reports are emitted from the worker thread.

    A ``QThread`` subclass rather than a worker ``QObject`` moved to a thread: the
    function is one blocking call that needs no event loop in the worker (cancel is a
    thread-safe token, not a signal), so ``run()`` calling it is the smallest correct
    form. :attr:`reported` is connected with a queued connection, so the job's slots
    run in the UI thread; ``finished`` comes after every report.
    """

    reported = Signal(int, int, str, float)

    def __init__(self, function: JobFunction, token: CancelToken) -> None:
        super().__init__()
        self._function = function
        self._token = token
        self.outcome: _Outcome | None = None

    def run(self) -> None:
        try:
            result = self._function(self._report, self._token)
            self.outcome = _Outcome(result=result)
        except JobCancelled:
            self.outcome = _Outcome(cancelled=True)
        except BaseException as exc:  # the thread must always report back
            self.outcome = _Outcome(error=_describe(exc))
        finally:
            _forget_dummy_thread()

    def _report(self, done: int, total: int, message: str = "") -> None:
        self.reported.emit(int(done), int(total), str(message), time.perf_counter())


class _RateEstimate:
    """Progress rate since the first report of the current total (restarts when it changes)."""

    def __init__(self) -> None:
        self._first: tuple[int, float] | None = None
        self._last: tuple[int, float] | None = None
        self._total = 0

    def add(self, done: int, total: int, when: float) -> None:
        if total != self._total or self._last is None or done < self._last[0]:
            self._first, self._total = (done, when), total
        self._last = (done, when)

    def eta(self, now: float) -> float | None:
        if self._first is None or self._last is None or self._first == self._last:
            return None
        steps = self._last[0] - self._first[0]
        seconds = self._last[1] - self._first[1]
        if steps <= 0 or seconds <= 0 or self._total <= 0:
            return None
        remaining = (self._total - self._last[0]) * seconds / steps
        return max(0.0, remaining - (now - self._last[1]))


def _describe(exc: BaseException) -> tuple[str, str]:
    """``(message, traceback text)``: a LiftStudioError's message as is, else ``Type: msg``."""
    details = "".join(traceback.format_exception(exc))
    if isinstance(exc, LiftStudioError):
        return str(exc), details
    text = str(exc)
    return (f"{type(exc).__name__}: {text}" if text else type(exc).__name__), details


def _forget_dummy_thread() -> None:
    """Drop the ``threading`` entry a ``current_thread()`` call made for this QThread.

    Before Python 3.13 (CPython gh-114423) such ``_DummyThread`` entries are never
    removed, so ``threading.active_count()`` would count every finished job forever.
    """
    with threading._active_limbo_lock:  # type: ignore[attr-defined]
        current = threading._active.get(threading.get_ident())  # type: ignore[attr-defined]
        if isinstance(current, threading._DummyThread):  # type: ignore[attr-defined]
            del threading._active[threading.get_ident()]  # type: ignore[attr-defined]
