"""A background thread for the panels: runs queued tasks, hands results to the UI thread.

Tasks are plain callables without arguments (they capture what they need, and nothing
they capture may be edited while they run). Results travel back through queued Qt
signals, so the slots connected to :class:`BackgroundWorker` run on the UI thread.
"""

from __future__ import annotations

import logging
import queue
import threading
from collections.abc import Callable, Hashable

from PySide6.QtCore import QObject, Signal

logger = logging.getLogger(__name__)

_STOP = object()


class BackgroundWorker(QObject):
    """Runs submitted tasks one at a time, in order, on one plain Python thread.

    The thread starts on the first :meth:`submit` (again after :meth:`shutdown`).

    Parameters
    ----------
    name
        Name of the thread (shown in logs and debuggers).
    parent
        Qt parent.

    Signals
    -------
    finished(object, object)
        ``(key, result)`` of a task that returned.
    failed(object, str)
        ``(key, message)`` of a task that raised; the traceback goes to the log.
    """

    finished = Signal(object, object)
    failed = Signal(object, str)

    def __init__(self, name: str, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self._name = name
        self._queue: queue.Queue = queue.Queue()
        self._thread: threading.Thread | None = None

    def submit(self, key: Hashable, task: Callable[[], object]) -> None:
        """Queue ``task``; its result comes back with ``key``."""
        if self._thread is None:
            self._queue = queue.Queue()  # a thread that outlived shutdown() keeps its own
            self._thread = threading.Thread(
                target=self._run, args=(self._queue,), name=self._name, daemon=True
            )
            self._thread.start()
        self._queue.put((key, task))

    def cancel_pending(self) -> list[Hashable]:
        """Drop the queued tasks that have not started; returns their keys.

        The running task (if any) still finishes and reports.
        """
        dropped = []
        while True:
            try:
                key, _task = self._queue.get_nowait()
            except queue.Empty:
                return dropped
            dropped.append(key)

    def shutdown(self, timeout: float = 10.0) -> None:
        """Drop the queued tasks, let the running one finish and wait for the thread."""
        thread, self._thread = self._thread, None
        if thread is None:
            return
        self.cancel_pending()
        self._queue.put((None, _STOP))
        thread.join(timeout)
        if thread.is_alive():
            logger.warning("background thread %s did not stop within %.0f s", self._name, timeout)

    def _run(self, tasks: queue.Queue) -> None:
        while True:
            key, task = tasks.get()
            if task is _STOP:
                return
            try:
                result = task()
            except Exception as exc:
                logger.warning("background task %r failed", key, exc_info=True)
                if not self._emit(self.failed, key, f"{type(exc).__name__}: {exc}"):
                    return
            else:
                if not self._emit(self.finished, key, result):
                    return

    @staticmethod
    def _emit(signal, key: Hashable, value: object) -> bool:
        try:
            signal.emit(key, value)
        except RuntimeError:  # the Qt object is gone (the app is closing)
            return False
        return True
