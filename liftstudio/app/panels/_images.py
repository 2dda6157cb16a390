"""Numpy helpers of the Views panel: decode, shrink, colour ids, blend (no Qt here)."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
from PIL import Image

from liftstudio.labels import instance_colour
from liftstudio.scene.camera import Camera
from liftstudio.sources.label_files import MAP_SUFFIXES


@dataclass(frozen=True)
class ColouredIds:
    """A label map coloured per id, ready to blend over an image.

    Attributes
    ----------
    rgb : (H, W, 3) uint8
        The colour of each pixel's id.
    covered : (H, W) bool
        Pixels with an id other than 0 (0 = unlabeled / in no mask stays clear).
    """

    rgb: np.ndarray
    covered: np.ndarray


def capped_size(width: int, height: int, cap: int) -> tuple[int, int]:
    """``(width, height)`` shrunk (aspect kept) so that the long side is at most ``cap``."""
    scale = min(1.0, cap / max(width, height, 1))
    return max(1, round(width * scale)), max(1, round(height * scale))


def to_uint8(rgb: np.ndarray) -> np.ndarray:
    """A float image in [0, 1] as uint8 (clipped, rounded)."""
    return np.round(np.clip(rgb, 0.0, 1.0) * 255.0).astype(np.uint8)


def load_image(path: Path, cap: int) -> np.ndarray:
    """An image file as (H, W, 3) uint8, shrunk so its long side is at most ``cap``."""
    with Image.open(path) as image:
        size = capped_size(*image.size, cap)
        if size != image.size:
            image.draft("RGB", size)  # JPEG: decode at a reduced scale (fast)
        rgb = image.convert("RGB")
        if rgb.size != size:
            rgb = rgb.resize(size, Image.Resampling.BILINEAR)
        return np.asarray(rgb, dtype=np.uint8)


def load_thumbnail(path: Path, box: tuple[int, int]) -> np.ndarray:
    """An image file as a (h, w, 3) uint8 thumbnail fitting in ``box`` = (W, H)."""
    with Image.open(path) as image:
        image.draft("RGB", box)
        rgb = image.convert("RGB")
        rgb.thumbnail(box, Image.Resampling.BILINEAR)
        return np.ascontiguousarray(np.asarray(rgb, dtype=np.uint8))


def colour_ids(ids: np.ndarray) -> ColouredIds:
    """Colour an (H, W) id map with the instance palette; id 0 is left uncovered."""
    values, inverse = np.unique(ids, return_inverse=True)
    table = np.array([instance_colour(int(v)) for v in values], dtype=np.uint8)
    rgb = table[inverse.reshape(ids.shape)]
    return ColouredIds(rgb=rgb, covered=ids != 0)


def resize_nearest(array: np.ndarray, shape: tuple[int, int]) -> np.ndarray:
    """Nearest-neighbour resize of the first two axes of ``array`` to ``shape`` = (H, W)."""
    height, width = array.shape[:2]
    if (height, width) == tuple(shape):
        return array
    rows = (np.arange(shape[0]) * height) // shape[0]
    cols = (np.arange(shape[1]) * width) // shape[1]
    return array[rows[:, None], cols[None, :]]


def blend(base: np.ndarray, overlay: ColouredIds, opacity: float = 0.5) -> np.ndarray:
    """``base`` (H, W, 3) uint8 with ``overlay`` mixed in at ``opacity`` where it covers."""
    shape = base.shape[:2]
    rgb = resize_nearest(overlay.rgb, shape).astype(np.float32)
    covered = resize_nearest(overlay.covered, shape)[..., None]
    mixed = (1.0 - opacity) * base.astype(np.float32) + opacity * rgb
    return np.where(covered, np.round(mixed), base).astype(np.uint8)


def find_label_file(folder: Path, camera: Camera) -> Path | None:
    """The label map of ``camera`` in ``folder``: ``<name>.png`` / ``<stem>.png`` (or .npy)."""
    stems = [camera.name, Path(camera.name).stem, Path(camera.name).name]
    if camera.image_path is not None:
        stems += [camera.image_path.name, camera.image_path.stem]
    for stem in dict.fromkeys(stems):
        for suffix in MAP_SUFFIXES:
            candidate = folder / f"{stem}{suffix}"
            if candidate.is_file():
                return candidate
    return None
