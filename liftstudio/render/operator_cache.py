"""An on-disk cache of :class:`~liftstudio.render.results.OperatorRows`.

Extracting the top-K rows of a view's render operator costs a full rasterization;
learned lifting reuses them every iteration and across sessions (DESIGN §4). Entries
are keyed by everything the rows depend on (:func:`operator_cache_key`: scene content,
camera pose, intrinsics and size, resolution, K, weight dtype, raster rules, backend)
and stored one uncompressed ``<key>.npz`` per view in :func:`default_cache_dir`.

The folder is bounded: after each write the least recently used entries (by file
modification time, which :meth:`OperatorCache.get` refreshes) are removed until the
total size is at most ``max_bytes``. Only files named like cache entries are ever
read or removed; anything else in the folder is left alone.
"""

from __future__ import annotations

import contextlib
import hashlib
import logging
import os
import re
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np

from liftstudio.errors import OutputFileError
from liftstudio.fileio import atomic_output
from liftstudio.render.backend import RenderBackend, Resolution
from liftstudio.render.results import OperatorRows
from liftstudio.scene.camera import Camera
from liftstudio.scene.gaussians import GaussianScene

logger = logging.getLogger(__name__)

FORMAT_VERSION = 1
"""Bumped whenever the file layout or the key recipe changes (old entries then miss)."""

_ENTRY_NAME = re.compile(r"^[0-9a-f]{64}\.npz$")
_KEY = re.compile(r"^[0-9a-f]{64}$")


def default_cache_dir() -> Path:
    """Where operator rows are cached unless told otherwise.

    ``$LIFTSTUDIO_CACHE_DIR/operators`` when that variable is set, else
    ``$XDG_CACHE_HOME/liftstudio/operators``, else ``~/.cache/liftstudio/operators``.
    """
    override = os.environ.get("LIFTSTUDIO_CACHE_DIR")
    if override:
        return Path(override).expanduser() / "operators"
    xdg = os.environ.get("XDG_CACHE_HOME")
    if xdg and Path(xdg).expanduser().is_absolute():  # the XDG spec ignores relative paths
        return Path(xdg).expanduser() / "liftstudio" / "operators"
    return Path.home() / ".cache" / "liftstudio" / "operators"


def operator_cache_key(
    scene_hash: str,
    camera: Camera,
    resolution: Resolution | None,
    top_k: int | None,
    weight_dtype: np.dtype | type,
    rules_key: str,
    backend_name: str,
) -> str:
    """A sha256 hex digest of everything a view's operator rows depend on.

    Parameters
    ----------
    scene_hash
        :meth:`GaussianScene.content_hash` of the scene.
    camera
        The view; its ``viewmat`` and ``K`` bytes and its image size enter the key
        (not its name or image path).
    resolution
        ``(width, height)`` rendered, or None for the camera's own size (the same key
        as giving that size explicitly).
    top_k
        Entries kept per pixel (None: all).
    weight_dtype
        Dtype the weights are stored in.
    rules_key
        :meth:`RasterRules.cache_key` of the backend's rules.
    backend_name
        The backend's ``name``.

    Returns
    -------
    str
        64 lowercase hex digits.
    """
    width, height = (camera.width, camera.height) if resolution is None else resolution
    digest = hashlib.sha256()
    fields = [
        f"liftstudio-operator-rows-v{FORMAT_VERSION}".encode(),
        str(scene_hash).encode(),
        np.ascontiguousarray(camera.viewmat, dtype="<f8").tobytes(),
        np.ascontiguousarray(camera.K, dtype="<f8").tobytes(),
        f"{camera.width}x{camera.height}".encode(),
        f"{int(width)}x{int(height)}".encode(),
        ("all" if top_k is None else str(int(top_k))).encode(),
        np.dtype(weight_dtype).str.encode(),
        str(rules_key).encode(),
        str(backend_name).encode(),
    ]
    for field in fields:  # length-prefixed: no two field lists share a byte stream
        digest.update(len(field).to_bytes(8, "little"))
        digest.update(field)
    return digest.hexdigest()


class OperatorCache:
    """A folder of cached :class:`OperatorRows`, bounded by size (LRU eviction).

    Parameters
    ----------
    directory
        The folder (created on first write); default :func:`default_cache_dir`.
    max_bytes
        Total size the cache files may occupy after a write.

    Attributes
    ----------
    directory : Path
        The folder holding the ``<key>.npz`` files.
    max_bytes : int
    """

    def __init__(self, directory: Path | str | None = None, max_bytes: int = 2 * 1024**3) -> None:
        if max_bytes < 0:
            raise ValueError(f"max_bytes must be >= 0, got {max_bytes}")
        self.directory = Path(directory) if directory is not None else default_cache_dir()
        self.max_bytes = int(max_bytes)
        self._last_stamp = 0

    # ------------------------------------------------------------------ entries
    def path_for(self, key: str) -> Path:
        """The file an entry lives in: ``directory / f"{key}.npz"``."""
        if not isinstance(key, str) or not _KEY.match(key):
            raise ValueError(
                f"cache keys are 64 lowercase hex digits (operator_cache_key), got {key!r}"
            )
        return self.directory / f"{key}.npz"

    def get(self, key: str) -> OperatorRows | None:
        """The rows stored under ``key``, or None.

        A hit marks the entry as recently used. A file that cannot be read as an
        entry (truncated, corrupt, wrong layout) is deleted and counts as a miss.
        """
        path = self.path_for(key)
        if not path.is_file():
            return None
        loaded = _read_entry(path)
        if loaded is None:
            logger.warning("removing unreadable operator cache entry %s", path)
            _remove(path)
            return None
        self._touch(path)
        return loaded[0]

    def put(self, key: str, rows: OperatorRows, *, scene_hash: str = "") -> None:
        """Store ``rows`` under ``key`` (atomically), then evict down to ``max_bytes``.

        An entry larger than ``max_bytes`` on its own is evicted at once.

        Parameters
        ----------
        key
            From :func:`operator_cache_key`.
        rows
            What to store.
        scene_hash
            The scene's content hash, kept in the file for :meth:`invalidate_scene`.

        Raises
        ------
        ValueError
            If ``rows`` does not have the :class:`OperatorRows` layout.
        OutputFileError
            If the folder cannot be created or written.
        """
        path = self.path_for(key)
        _check_rows(rows)
        try:
            self.directory.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise OutputFileError(
                self.directory, f"cannot create the cache folder ({exc})"
            ) from exc
        with atomic_output(path, overwrite=True) as tmp, open(tmp, "wb") as handle:
            np.savez(
                handle,
                ids=rows.ids,
                weights=rows.weights,
                residual=rows.residual,
                scene_hash=np.array(str(scene_hash)),
                format_version=np.array(FORMAT_VERSION),
            )
        self._touch(path)
        self._evict()

    def get_or_compute(
        self, key: str, compute: Callable[[], OperatorRows], *, scene_hash: str = ""
    ) -> OperatorRows:
        """The cached rows under ``key``; on a miss, ``compute()`` them and store them.

        A failure to write the cache is logged, not raised: the computed rows are
        returned either way.
        """
        rows = self.get(key)
        if rows is not None:
            return rows
        rows = compute()
        try:
            self.put(key, rows, scene_hash=scene_hash)
        except OutputFileError as exc:
            logger.warning("operator rows not cached: %s", exc)
        return rows

    def invalidate_scene(self, scene_hash: str) -> int:
        """Remove every entry computed for the scene ``scene_hash``; return how many.

        Unreadable entries met on the way are removed too (and not counted).
        """
        removed = 0
        for path in self._entries():
            loaded = _read_entry(path)
            if loaded is None:
                _remove(path)
            elif loaded[1] == scene_hash:
                _remove(path)
                removed += 1
        return removed

    def clear(self) -> int:
        """Remove every cache entry (other files stay); return how many were removed."""
        entries = self._entries()
        for path in entries:
            _remove(path)
        return len(entries)

    def size_bytes(self) -> int:
        """Total size of the cache entries on disk."""
        return sum(size for _, size, _ in self._stats())

    def __len__(self) -> int:
        return len(self._entries())

    # ------------------------------------------------------------------ helpers
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
            _remove(self.directory / name)
            total -= size


def cached_operator_rows(
    backend: RenderBackend,
    scene: GaussianScene,
    camera: Camera,
    *,
    resolution: Resolution | None = None,
    top_k: int | None = 16,
    weight_dtype: np.dtype | type = np.float16,
    cache: OperatorCache | None = None,
) -> OperatorRows:
    """``backend.operator_rows(...)`` through an on-disk cache.

    Parameters
    ----------
    backend
        Computes the rows on a miss; its ``name`` and ``rules`` enter the key.
    scene, camera, resolution, top_k, weight_dtype
        As for :meth:`RenderBackend.operator_rows`.
    cache
        The cache to use; None uses an :class:`OperatorCache` in :func:`default_cache_dir`.
    """
    cache = OperatorCache() if cache is None else cache
    scene_hash = scene.content_hash()
    key = operator_cache_key(
        scene_hash,
        camera,
        resolution,
        top_k,
        weight_dtype,
        backend.rules.cache_key(),
        backend.name,
    )
    return cache.get_or_compute(
        key,
        lambda: backend.operator_rows(
            scene, camera, resolution=resolution, top_k=top_k, weight_dtype=weight_dtype
        ),
        scene_hash=scene_hash,
    )


# ---------------------------------------------------------------------------- file helpers
def _check_rows(rows: OperatorRows) -> None:
    ids, weights, residual = (np.asarray(a) for a in (rows.ids, rows.weights, rows.residual))
    if ids.ndim != 3 or ids.dtype != np.int32:
        raise ValueError(f"ids must be (H, W, K) int32, got {ids.shape} {ids.dtype}")
    if weights.shape != ids.shape or weights.dtype not in (np.float16, np.float32):
        raise ValueError(
            f"weights must be float16/float32 shaped like ids {ids.shape}, "
            f"got {weights.shape} {weights.dtype}"
        )
    if residual.shape != ids.shape[:2] or residual.dtype != np.float32:
        raise ValueError(
            f"residual must be (H, W) float32 with (H, W) = {ids.shape[:2]}, "
            f"got {residual.shape} {residual.dtype}"
        )


def _read_entry(path: Path) -> tuple[OperatorRows, str] | None:
    """The rows and scene hash stored in ``path``, or None if it is not a valid entry."""
    try:
        with np.load(path, allow_pickle=False) as data:
            if int(data["format_version"]) != FORMAT_VERSION:
                return None
            rows = OperatorRows(ids=data["ids"], weights=data["weights"], residual=data["residual"])
            scene_hash = str(data["scene_hash"])
        _check_rows(rows)
    except Exception:  # whatever is wrong with the file, it is a miss
        return None
    return rows, scene_hash


def _remove(path: Path) -> None:
    try:
        path.unlink(missing_ok=True)
    except OSError as exc:
        logger.warning("could not remove operator cache entry %s: %s", path, exc)
