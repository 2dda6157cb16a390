"""A minimal observer list: the label model's way to tell its viewers what changed.

The model never imports Qt; the app subscribes a callback that forwards the event to a
Qt signal, the CLI and tests subscribe plain functions.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Generic, TypeVar

Event = TypeVar("Event")


class Listeners(Generic[Event]):
    """Callbacks that receive every emitted event, in subscription order."""

    def __init__(self) -> None:
        self._callbacks: list[Callable[[Event], None]] = []

    def subscribe(self, callback: Callable[[Event], None]) -> Callable[[], None]:
        """Add ``callback``; returns a function that removes it again."""
        self._callbacks.append(callback)

        def unsubscribe() -> None:
            if callback in self._callbacks:
                self._callbacks.remove(callback)

        return unsubscribe

    def emit(self, event: Event) -> None:
        """Call every callback with ``event``."""
        for callback in list(self._callbacks):
            callback(event)
