"""A size-bounded folder of ``<key>.npz`` files: the on-disk caches share this.

Expensive, reusable results (render-operator rows, kNN graphs of Gaussian centres)
are cached one uncompressed ``<key>.npz`` per entry, the key a sha256 hex digest of
everything the entry depends on (:func:`cache_key`). :class:`NpzCache` holds what
every such cache does the same way:

- every entry also stores the scene hash it was computed for and a format version;
  a file that cannot be read back as a valid entry (truncated, corrupt, another
  layout or version) is deleted and counts as a miss, so it is simply recomputed;
- writes are atomic (:func:`liftstudio.fileio.atomic_output`);
- the folder is bounded: after each write the least recently used entries (by file
  modification time, which :meth:`NpzCache.get` refreshes) are removed until the
  total size is at most ``max_bytes``;
- only files named like entries are ever read or removed.

A concrete cache subclasses :class:`NpzCache` and says how its values become arrays
(:meth:`NpzCache._encode`) and come back (:meth:`NpzCache._decode`).
"""

from __future__ import annotations

import contextlib
import hashlib
import logging
import os
import re
import time
from collections.abc import Callable, Iterable, Mapping
from pathlib import Path
from typing import ClassVar, Generic, TypeVar

import numpy as np

from liftstudio.errors import OutputFileError
from liftstudio.fileio import atomic_output

logger = logging.getLogger(__name__)

T = TypeVar("T")

_ENTRY_NAME = re.compile(r"^[0-9a-f]{64}\.npz$")
_KEY = re.compile(r"^[0-9a-f]{64}$")
_RESERVED = ("scene_hash", "format_version")


def cache_root() -> Path:
    """The folder all LiftStudio caches live under.

    ``$LIFTSTUDIO_CACHE_DIR`` when that variable is set, else
    ``$XDG_CACHE_HOME/liftstudio`` (an absolute one), else ``~/.cache/liftstudio``.
    """
    override = os.environ.get("LIFTSTUDIO_CACHE_DIR")
    if override:
        return Path(override).expanduser()
    xdg = os.environ.get("XDG_CACHE_HOME")
    if xdg and Path(xdg).expanduser().is_absolute():  # the XDG spec ignores relative paths
        return Path(xdg).expanduser() / "liftstudio"
    return Path.home() / ".cache" / "liftstudio"


def cache_key(fields: Iterable[bytes | str]) -> str:
    """A sha256 hex digest of ``fields``, each length-prefixed.

    The prefixes make the key injective in the list of fields: no two different
    lists share a byte stream (``["ab", "c"]`` and ``["a", "bc"]`` differ).

    Parameters
    ----------
    fields
        Byte strings (or text, encoded as UTF-8); the first should name the kind of
        entry and its format version.

    Returns
    -------
    str
        64 lowercase hex digits.
    """
    digest = hashlib.sha256()
    for field in fields:
        data = field.encode() if isinstance(field, str) else bytes(field)
        digest.update(len(data).to_bytes(8, "little"))
        digest.update(data)
    return digest.hexdigest()


class NpzCache(Generic[T]):
    """A folder of cached values, one ``<key>.npz`` each, bounded by size (LRU eviction).

    Subclasses set :attr:`format_version` and :attr:`what` and implement
    :meth:`_encode` and :meth:`_decode`.

    Parameters
    ----------
    directory
        The folder (created on first write).
    max_bytes
        Total size the cache files may occupy after a write.

    Attributes
    ----------
    directory : Path
        The folder holding the ``<key>.npz`` files.
    max_bytes : int
    """

    format_version: ClassVar[int] = 1
    """Stored in every entry; entries of another version are misses."""

    what: ClassVar[str] = "cache"
    """What the entries are, for log messages (``"operator rows"``)."""

    def __init__(self, directory: Path | str, max_bytes: int) -> None:
        if max_bytes < 0:
            raise ValueError(f"max_bytes must be >= 0, got {max_bytes}")
        self.directory = Path(directory)
        self.max_bytes = int(max_bytes)
        self._last_stamp = 0

    # ------------------------------------------------------------------ to override
    def _encode(self, value: T) -> dict[str, np.ndarray]:
        """The arrays stored for ``value``; raise ValueError for a malformed value."""
        raise NotImplementedError

    def _decode(self, arrays: Mapping[str, np.ndarray]) -> T:
        """The value back from its arrays; raise (anything) if they are not valid."""
        raise NotImplementedError

    # ------------------------------------------------------------------ entries
    def path_for(self, key: str) -> Path:
        """The file an entry lives in: ``directory / f"{key}.npz"``."""
        if not isinstance(key, str) or not _KEY.match(key):
            raise ValueError(f"cache keys are 64 lowercase hex digits (a sha256), got {key!r}")
        return self.directory / f"{key}.npz"

    def get(self, key: str) -> T | None:
        """The value stored under ``key``, or None.

        A hit marks the entry as recently used. A file that cannot be read as an
        entry (truncated, corrupt, wrong layout or version) is deleted and counts as
        a miss.
        """
        path = self.path_for(key)
        if not path.is_file():
            return None
        loaded = self._read_entry(path)
        if loaded is None:
            logger.warning("removing unreadable %s cache entry %s", self.what, path)
            self._remove(path)
            return None
        self._touch(path)
        return loaded[0]

    def put(self, key: str, value: T, *, scene_hash: str = "") -> None:
        """Store ``value`` under ``key`` (atomically), then evict down to ``max_bytes``.

        An entry larger than ``max_bytes`` on its own is evicted at once.

        Parameters
        ----------
        key
            A 64-digit hex key (:func:`cache_key`).
        value
            What to store.
        scene_hash
            The scene's content hash, kept in the file for :meth:`invalidate_scene`.

        Raises
        ------
        ValueError
            If ``value`` does not have the layout this cache stores.
        OutputFileError
            If the folder cannot be created or written.
        """
        path = self.path_for(key)
        arrays = self._encode(value)
        try:
            self.directory.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise OutputFileError(
                self.directory, f"cannot create the cache folder ({exc})"
            ) from exc
        with atomic_output(path, overwrite=True) as tmp, open(tmp, "wb") as handle:
            np.savez(
                handle,
                **arrays,
                scene_hash=np.array(str(scene_hash)),
                format_version=np.array(self.format_version),
            )
        self._touch(path)
        self._evict()

    def get_or_compute(self, key: str, compute: Callable[[], T], *, scene_hash: str = "") -> T:
        """The cached value under ``key``; on a miss, ``compute()`` it and store it.

        A failure to write the cache is logged, not raised: the computed value is
        returned either way.
        """
        value = self.get(key)
        if value is not None:
            return value
        value = compute()
        try:
            self.put(key, value, scene_hash=scene_hash)
        except OutputFileError as exc:
            logger.warning("%s not cached: %s", self.what, exc)
        return value

    def invalidate_scene(self, scene_hash: str) -> int:
        """Remove every entry computed for the scene ``scene_hash``; return how many.

        Unreadable entries met on the way are removed too (and not counted).
        """
        removed = 0
        for path in self._entries():
            loaded = self._read_entry(path)
            if loaded is None:
                self._remove(path)
            elif loaded[1] == scene_hash:
                self._remove(path)
                removed += 1
        return removed

    def clear(self) -> int:
        """Remove every cache entry (other files stay); return how many were removed."""
        entries = self._entries()
        for path in entries:
            self._remove(path)
        return len(entries)

    def size_bytes(self) -> int:
        """Total size of the cache entries on disk."""
        return sum(size for _, size, _ in self._stats())

    def __len__(self) -> int:
        return len(self._entries())

    # ------------------------------------------------------------------ helpers
    def _read_entry(self, path: Path) -> tuple[T, str] | None:
        """The value and scene hash stored in ``path``, or None if it is not a valid entry."""
        try:
            with np.load(path, allow_pickle=False) as data:
                if int(data["format_version"]) != self.format_version:
                    return None
                arrays = {name: data[name] for name in data.files if name not in _RESERVED}
                scene_hash = str(data["scene_hash"])
            value = self._decode(arrays)
        except Exception:  # whatever is wrong with the file, it is a miss
            return None
        return value, scene_hash

    def _entries(self) -> list[Path]:
        if not self.directory.is_dir():
            return []
        return [
            path
            for path in self.directory.iterdir()
            if _ENTRY_NAME.match(path.name) and path.is_file()
        ]

    def _stats(self) -> list[tuple[int, int, str]]:
        """``(mtime_ns, size, name)`` of every entry."""
        stats = []
        for path in self._entries():
            try:
                info = path.stat()
            except FileNotFoundError:  # removed by another process meanwhile
                continue
            stats.append((info.st_mtime_ns, info.st_size, path.name))
        return stats

    def _touch(self, path: Path) -> None:
        """Mark ``path`` as the most recently used entry (strictly newer than the last)."""
        stamp = max(time.time_ns(), self._last_stamp + 1)
        self._last_stamp = stamp
        with contextlib.suppress(OSError):  # removed meanwhile: nothing to mark
            os.utime(path, ns=(stamp, stamp))

    def _evict(self) -> None:
        stats = sorted(self._stats())
        total = sum(size for _, size, _ in stats)
        for _, size, name in stats:
            if total <= self.max_bytes:
                break
            self._remove(self.directory / name)
            total -= size

    def _remove(self, path: Path) -> None:
        try:
            path.unlink(missing_ok=True)
        except OSError as exc:
            logger.warning("could not remove %s cache entry %s: %s", self.what, path, exc)
