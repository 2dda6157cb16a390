"""A first-in first-out queue of background jobs, run one at a time."""

from __future__ import annotations

import logging
from collections import deque
from collections.abc import Callable
from typing import Any

from PySide6.QtCore import QObject, Signal

from liftstudio.app.jobs.job import Job, JobFunction, JobState

logger = logging.getLogger(__name__)

MAX_FINISHED_JOBS = 50
"""How many ended jobs the queue remembers (older ones are dropped, oldest first)."""


class JobQueue(QObject):
    """Runs submitted jobs one at a time, in submission order, each in its own thread.

    One job at a time keeps the machine responsive (lifting already uses every core)
    and lets jobs build on the previous one's result.

    Parameters
    ----------
    parent
        The Qt parent.

    Signals
    -------
    jobAdded(job)
        A job was submitted.
    jobFinished(job)
        A job ended (after its own ``finished``).
    jobRemoved(job)
        An ended job was dropped from :attr:`jobs` (more than
        :data:`MAX_FINISHED_JOBS` ended jobs).
    """

    jobAdded = Signal(object)
    jobFinished = Signal(object)
    jobRemoved = Signal(object)

    def __init__(self, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self._jobs: list[Job] = []
        self._pending: deque[Job] = deque()
        self._running: Job | None = None
        self._shut_down = False

    @property
    def jobs(self) -> list[Job]:
        """Queued, running and the last ended jobs, oldest first."""
        return list(self._jobs)

    @property
    def running_job(self) -> Job | None:
        """The job whose function runs now, if any."""
        return self._running

    def submit(
        self,
        name: str,
        function: JobFunction,
        *,
        on_success: Callable[[Any], None] | None = None,
    ) -> Job:
        """Queue ``function`` to run after the jobs before it.

        Parameters
        ----------
        name
            Shown in the jobs panel.
        function
            ``function(progress, cancel) -> result``, run in a worker thread.
        on_success
            Called with the result in the UI thread after success, before the job's
            ``finished``.

        Returns
        -------
        Job
            The queued job (it may already be running when this returns).

        Raises
        ------
        RuntimeError
            After :meth:`shutdown`.
        """
        if self._shut_down:
            raise RuntimeError(f"cannot run {name!r}: the job queue was shut down")
        job = Job(name, function, on_success=on_success, parent=self)
        job.finished.connect(lambda: self._on_job_finished(job))
        self._jobs.append(job)
        self._pending.append(job)
        self.jobAdded.emit(job)
        self._start_next()
        return job

    def cancel_all(self) -> None:
        """Cancel the running job and every queued one."""
        for job in list(self._pending):
            job.cancel()
        if self._running is not None:
            self._running.cancel()

    def shutdown(self, timeout_ms: int = 10_000) -> bool:
        """Cancel everything and wait for the worker thread to end; no job starts after.

        Parameters
        ----------
        timeout_ms
            How long to wait for the running function to notice the cancel.

        Returns
        -------
        bool
            True when no worker thread is left running.
        """
        self._shut_down = True
        self.cancel_all()
        running = self._running
        if running is None or running.wait(timeout_ms):
            return True
        logger.warning(
            "job %r did not stop within %d ms of being cancelled", running.name, timeout_ms
        )
        return False

    def _start_next(self) -> None:
        while self._running is None and self._pending and not self._shut_down:
            job = self._pending.popleft()
            if job.state is JobState.QUEUED:
                self._running = job
                job.start()

    def _on_job_finished(self, job: Job) -> None:
        if job is self._running:
            self._running = None
        if job in self._pending:
            self._pending.remove(job)
        self.jobFinished.emit(job)
        self._forget_old_jobs()
        self._start_next()

    def _forget_old_jobs(self) -> None:
        ended = [job for job in self._jobs if job.state.is_final]
        for job in ended[: max(0, len(ended) - MAX_FINISHED_JOBS)]:
            self._jobs.remove(job)
            self.jobRemoved.emit(job)
            job.setParent(None)
            job.deleteLater()
