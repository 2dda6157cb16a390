"""On-disk caches of generated 2D masks and feature maps, keyed by content.

Generating masks (SAM: seconds to minutes per view on a CPU) and features (DINOv2)
is the slowest step a user repeats, so results are cached under
``$LIFTSTUDIO_CACHE_DIR`` (see :func:`liftstudio.disk_cache.cache_root`):

- ``masks/``: one entry per view, keyed by the source's identity (name, settings,
  model file) and a sha256 of the view's image pixels. Views are cached as they
  finish, so a cancelled or failed run resumes where it stopped, and a scene whose
  images did not change is never segmented twice, wherever the scene folder moved.
- ``features/``: one entry per run, keyed by the source's identity and the digests of
  all its images (the PCA is fitted over all views together); maps are stored as
  float16.

Both are size-bounded least-recently-used folders (:class:`~liftstudio.disk_cache.NpzCache`).
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping, Sequence
from pathlib import Path

import numpy as np

from liftstudio.disk_cache import NpzCache, cache_key, cache_root
from liftstudio.sources.mask_stacks import FlatMasks

#: Default size bounds of the two caches.
MASK_CACHE_BYTES = 2 * 1024**3
FEATURE_CACHE_BYTES = 4 * 1024**3


def image_digest(image: np.ndarray) -> str:
    """A sha256 hex digest of an image's shape, dtype and pixels.

    Parameters
    ----------
    image
        Any array (a view's RGB image).

    Returns
    -------
    str
        64 lowercase hex digits; equal for equal arrays of the same dtype.
    """
    array = np.ascontiguousarray(image)
    digest = hashlib.sha256()
    digest.update(f"{array.dtype.str}{array.shape}".encode())
    digest.update(array.data)
    return digest.hexdigest()


def file_identity(path: Path) -> str:
    """A cheap identity of a model file: resolved path, size and modification time.

    Hashing a multi-gigabyte checkpoint on every run would cost seconds; a replaced or
    edited file changes its size or time, which is what a cache key needs.
    """
    path = Path(path).resolve()
    info = path.stat()
    return f"{path}|{info.st_size}|{info.st_mtime_ns}"


class MaskCache(NpzCache[FlatMasks]):
    """Generated masks of single views (a :class:`FlatMasks` per entry).

    Parameters
    ----------
    directory
        The folder; default ``cache_root() / "masks"``.
    max_bytes
        Size bound of the folder.
    """

    format_version = 1
    what = "masks"

    def __init__(
        self, directory: Path | str | None = None, max_bytes: int = MASK_CACHE_BYTES
    ) -> None:
        super().__init__(directory if directory is not None else cache_root() / "masks", max_bytes)

    @staticmethod
    def key(source_identity: str, digest: str) -> str:
        """The entry key of one view: the source's identity and its image's digest."""
        return cache_key(["masks", str(MaskCache.format_version), source_identity, digest])

    def _encode(self, value: FlatMasks) -> dict[str, np.ndarray]:
        label_map = np.asarray(value.label_map)
        if label_map.ndim != 2:
            raise ValueError(f"a label map is 2D, got shape {label_map.shape}")
        small = label_map.size == 0 or int(label_map.max()) <= np.iinfo(np.uint16).max
        stored = label_map.astype(np.uint16 if small else np.int32)
        return {"label_map": stored, "parents": np.asarray(value.parents, dtype=np.int32)}

    def _decode(self, arrays: Mapping[str, np.ndarray]) -> FlatMasks:
        label_map = np.asarray(arrays["label_map"]).astype(np.int32)
        parents = np.asarray(arrays["parents"]).astype(np.int32)
        if label_map.ndim != 2 or parents.ndim != 1:
            raise ValueError("malformed mask entry")
        return FlatMasks(label_map=label_map, parents=parents)


class FeatureCache(NpzCache[list[np.ndarray]]):
    """Per-view feature maps of one run (float16 ``(h, w, C)`` arrays, one per view).

    Parameters
    ----------
    directory
        The folder; default ``cache_root() / "features"``.
    max_bytes
        Size bound of the folder.
    """

    format_version = 1
    what = "features"

    def __init__(
        self, directory: Path | str | None = None, max_bytes: int = FEATURE_CACHE_BYTES
    ) -> None:
        super().__init__(
            directory if directory is not None else cache_root() / "features", max_bytes
        )

    @staticmethod
    def key(source_identity: str, digests: Sequence[str]) -> str:
        """The entry key of a run: the source's identity and every image's digest, in order."""
        return cache_key(["features", str(FeatureCache.format_version), source_identity, *digests])

    def _encode(self, value: list[np.ndarray]) -> dict[str, np.ndarray]:
        arrays = {}
        for index, feature_map in enumerate(value):
            feature_map = np.asarray(feature_map)
            if feature_map.ndim != 3:
                raise ValueError(f"feature map {index} is not (h, w, C): {feature_map.shape}")
            arrays[f"view_{index:05d}"] = feature_map.astype(np.float16)
        arrays["views"] = np.array(len(value))
        return arrays

    def _decode(self, arrays: Mapping[str, np.ndarray]) -> list[np.ndarray]:
        count = int(arrays["views"])
        return [np.asarray(arrays[f"view_{index:05d}"]) for index in range(count)]
