"""A small least-recently-used cache of decoded images, bounded by their size in bytes."""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Hashable

import numpy as np


class ImageCache:
    """Key → array (or anything with arrays), evicting the least recently used first.

    Parameters
    ----------
    max_bytes
        Total size kept; the newest entry is kept even when it alone is larger.
    """

    def __init__(self, max_bytes: int) -> None:
        self._max_bytes = int(max_bytes)
        self._entries: OrderedDict[Hashable, tuple[object, int]] = OrderedDict()
        self._bytes = 0

    def __contains__(self, key: Hashable) -> bool:
        return key in self._entries

    def get(self, key: Hashable, default: object = None) -> object:
        """The value of ``key`` (marking it recently used), or ``default``."""
        if key not in self._entries:
            return default
        self._entries.move_to_end(key)
        return self._entries[key][0]

    def put(self, key: Hashable, value: object) -> None:
        """Store ``value`` under ``key`` and evict old entries beyond the byte budget."""
        if key in self._entries:
            self._bytes -= self._entries.pop(key)[1]
        size = _nbytes(value)
        self._entries[key] = (value, size)
        self._bytes += size
        while self._bytes > self._max_bytes and len(self._entries) > 1:
            _key, (_value, old_size) = self._entries.popitem(last=False)
            self._bytes -= old_size

    def clear(self) -> None:
        """Forget everything."""
        self._entries.clear()
        self._bytes = 0


def _nbytes(value: object) -> int:
    if isinstance(value, np.ndarray):
        return value.nbytes
    arrays = getattr(value, "__dict__", {}).values()
    return sum(a.nbytes for a in arrays if isinstance(a, np.ndarray))
