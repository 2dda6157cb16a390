"""An on-disk cache of :class:`~liftstudio.render.results.OperatorRows`.

Extracting the top-K rows of a view's render operator costs a full rasterization;
learned lifting reuses them every iteration and across sessions (DESIGN §4). Entries
are keyed by everything the rows depend on (:func:`operator_cache_key`: scene content,
camera pose, intrinsics and size, resolution, K, weight dtype, raster rules, backend)
and stored one uncompressed ``<key>.npz`` per view in :func:`default_cache_dir`.

The folder is bounded: after each write the least recently used entries (by file
modification time, which :meth:`OperatorCache.get` refreshes) are removed until the
total size is at most ``max_bytes``. Only files named like cache entries are ever
read or removed; anything else in the folder is left alone. The folder logic is
:class:`liftstudio.disk_cache.NpzCache`, shared with the other on-disk caches.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path

import numpy as np

from liftstudio.disk_cache import NpzCache, cache_key, cache_root
from liftstudio.render.backend import RenderBackend, Resolution
from liftstudio.render.results import OperatorRows
from liftstudio.scene.camera import Camera
from liftstudio.scene.gaussians import GaussianScene

FORMAT_VERSION = 1
"""Bumped whenever the file layout or the key recipe changes (old entries then miss)."""


def default_cache_dir() -> Path:
    """Where operator rows are cached unless told otherwise.

    ``$LIFTSTUDIO_CACHE_DIR/operators`` when that variable is set, else
    ``$XDG_CACHE_HOME/liftstudio/operators``, else ``~/.cache/liftstudio/operators``
    (:func:`liftstudio.disk_cache.cache_root`).
    """
    return cache_root() / "operators"


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
    return cache_key(
        [
            f"liftstudio-operator-rows-v{FORMAT_VERSION}",
            str(scene_hash),
            np.ascontiguousarray(camera.viewmat, dtype="<f8").tobytes(),
            np.ascontiguousarray(camera.K, dtype="<f8").tobytes(),
            f"{camera.width}x{camera.height}",
            f"{int(width)}x{int(height)}",
            "all" if top_k is None else str(int(top_k)),
            np.dtype(weight_dtype).str,
            str(rules_key),
            str(backend_name),
        ]
    )


class OperatorCache(NpzCache[OperatorRows]):
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

    Notes
    -----
    :meth:`get`, :meth:`put` (which raises ValueError for rows without the
    :class:`OperatorRows` layout), :meth:`get_or_compute`, :meth:`invalidate_scene`,
    :meth:`clear` and :meth:`size_bytes` are those of
    :class:`~liftstudio.disk_cache.NpzCache`.
    """

    format_version = FORMAT_VERSION
    what = "operator rows"

    def __init__(self, directory: Path | str | None = None, max_bytes: int = 2 * 1024**3) -> None:
        super().__init__(
            directory if directory is not None else default_cache_dir(), max_bytes=max_bytes
        )

    def _encode(self, value: OperatorRows) -> dict[str, np.ndarray]:
        _check_rows(value)
        return {"ids": value.ids, "weights": value.weights, "residual": value.residual}

    def _decode(self, arrays: Mapping[str, np.ndarray]) -> OperatorRows:
        rows = OperatorRows(
            ids=arrays["ids"], weights=arrays["weights"], residual=arrays["residual"]
        )
        _check_rows(rows)
        return rows


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


# ---------------------------------------------------------------------------- layout check
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
