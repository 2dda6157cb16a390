"""Progress reporting and cancellation for long core jobs.

Every long job in the core (uplift over many views, lifting, exports) takes an optional
``progress`` callback and an optional :class:`CancelToken`. The app wraps them in a
worker thread and a progress bar, the CLI in a terminal progress line; the core only
calls them. Nothing here imports Qt.
"""

from __future__ import annotations

import threading
from collections.abc import Callable

from liftstudio.errors import LiftStudioError

ProgressCallback = Callable[[int, int, str], None]
"""``progress(done, total, message)``: ``done`` of ``total`` steps are finished."""


class JobCancelled(LiftStudioError):
    """Raised inside a job when its :class:`CancelToken` was cancelled.

    A cancelled job leaves its inputs untouched and writes no partial output.
    """


class CancelToken:
    """A thread-safe flag a job checks between steps.

    Examples
    --------
    >>> token = CancelToken()
    >>> token.cancel()
    >>> token.cancelled
    True
    """

    def __init__(self) -> None:
        self._event = threading.Event()

    def cancel(self) -> None:
        """Ask the job to stop at its next check."""
        self._event.set()

    @property
    def cancelled(self) -> bool:
        """Whether :meth:`cancel` was called."""
        return self._event.is_set()

    def raise_if_cancelled(self) -> None:
        """Raise :class:`JobCancelled` if the token was cancelled."""
        if self._event.is_set():
            raise JobCancelled("cancelled by the user")


def report(progress: ProgressCallback | None, done: int, total: int, message: str = "") -> None:
    """Call ``progress`` if one was given."""
    if progress is not None:
        progress(done, total, message)


def check_cancelled(cancel: CancelToken | None) -> None:
    """Raise :class:`JobCancelled` if ``cancel`` is set."""
    if cancel is not None:
        cancel.raise_if_cancelled()
