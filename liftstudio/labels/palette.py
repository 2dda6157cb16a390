"""Instance colours: one deterministic colour per id, shared by the app and the exports."""

from __future__ import annotations

import colorsys

import numpy as np

UNLABELED_COLOUR = (128, 128, 128)
"""The colour of id 0 (unlabeled)."""

_GOLDEN = 0.618033988749895


def instance_colour(instance_id: int) -> tuple[int, int, int]:
    """A deterministic colour per id, distinct for nearby ids (golden-ratio hue steps).

    Parameters
    ----------
    instance_id
        Instance id; 0 (unlabeled) is grey.

    Returns
    -------
    tuple of int
        ``(r, g, b)`` in 0-255.
    """
    if instance_id == 0:
        return UNLABELED_COLOUR
    hue = (instance_id * _GOLDEN) % 1.0
    saturation = (0.85, 0.6, 0.95)[instance_id % 3]
    value = (0.95, 0.75)[(instance_id // 3) % 2]
    r, g, b = colorsys.hsv_to_rgb(hue, saturation, value)
    return (round(r * 255), round(g * 255), round(b * 255))


def palette(max_id: int) -> np.ndarray:
    """The colours of ids ``0 .. max_id`` as a ``(max_id + 1, 3)`` uint8 table."""
    if max_id < 0:
        raise ValueError(f"max_id must be >= 0, got {max_id}")
    return np.array([instance_colour(i) for i in range(max_id + 1)], dtype=np.uint8)
