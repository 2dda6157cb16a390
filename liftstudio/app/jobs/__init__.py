"""Background jobs: core functions run in worker threads, a FIFO queue, and their panel.

Only this package knows about threads. A core function taking ``progress`` and a
:class:`~liftstudio.jobs.CancelToken` is submitted to a :class:`JobQueue`; the
:class:`JobsPanel` shows its progress, log and loss curve.
"""

from liftstudio.app.jobs.job import Job, JobFunction, JobState
from liftstudio.app.jobs.job_queue import JobQueue
from liftstudio.app.jobs.jobs_panel import JobRow, JobsPanel, show_job_error

__all__ = ["Job", "JobFunction", "JobQueue", "JobRow", "JobState", "JobsPanel", "show_job_error"]
