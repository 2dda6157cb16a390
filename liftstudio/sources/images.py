"""Training images as float RGB arrays, decoded on demand."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import numpy as np
from PIL import Image

from liftstudio.errors import InputFileError

#: Decoded images :class:`ViewImages` keeps in memory at most (bytes).
IMAGE_CACHE_BYTES = 1 << 30


def load_rgb(path: Path, size: tuple[int, int] | None = None) -> np.ndarray:
    """An image as (H, W, 3) float32 in [0, 1], resized (bilinear) to ``size`` = (W, H).

    Raises
    ------
    InputFileError
        Naming the file when it cannot be decoded.
    """
    try:
        with Image.open(path) as image:
            rgb = image.convert("RGB")
            if size is not None and rgb.size != size:
                rgb = rgb.resize(size, Image.Resampling.BILINEAR)
            return np.asarray(rgb, dtype=np.float32) / 255.0
    except (OSError, SyntaxError, ValueError, Image.DecompressionBombError) as exc:
        raise InputFileError(path, f"cannot be read as an image ({exc})") from None


class ViewImages(Sequence):
    """Training images loaded on access as (H, W, 3) float32 in [0, 1], at given sizes.

    Decoded images are kept while they fit in :data:`IMAGE_CACHE_BYTES`, so a method
    that reads them once costs one image of memory at a time on large scenes.

    Parameters
    ----------
    paths
        One image file per view.
    sizes
        ``(width, height)`` per view to resize to.
    """

    def __init__(self, paths: list[Path], sizes: list[tuple[int, int]]) -> None:
        self._paths, self._sizes = paths, sizes
        self._cache: dict[int, np.ndarray] = {}
        self._cached_bytes = 0

    def __len__(self) -> int:
        return len(self._paths)

    def __getitem__(self, index: int | slice) -> np.ndarray | list[np.ndarray]:
        if isinstance(index, slice):
            return [self[i] for i in range(*index.indices(len(self)))]
        index = range(len(self))[index]
        if index in self._cache:
            return self._cache[index]
        image = load_rgb(self._paths[index], self._sizes[index])
        if self._cached_bytes + image.nbytes <= IMAGE_CACHE_BYTES:
            self._cache[index] = image
            self._cached_bytes += image.nbytes
        return image
