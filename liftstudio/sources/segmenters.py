"""Automatic 2D mask sources that need no model weights: Felzenszwalb and SLIC.

Both are scikit-image's implementations, run per view on the RGB image. They give
*per-view* segments (ids are not associated across views, like SAM's masks), so the
whole pipeline runs on any machine without model files:

- :func:`felzenszwalb_segments`: Felzenszwalb and Huttenlocher's graph segmentation,
  followed by merging the thin strips it leaves along soft object edges into the
  neighbouring segment of closest colour. About one segment per flat- or
  smoothly-shaded object on 320×240 to 640×480 images with the defaults.
- :func:`slic_segments`: SLIC superpixels; compact, roughly equal-sized regions that
  over-segment objects (useful with methods that merge across views, and as a
  contrast to Felzenszwalb).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

#: Segments thinner than this (area / boundary length, ~half the width in pixels) are
#: merged into a neighbour after Felzenszwalb.
_THIN_SEGMENT_PX = 1.5
_THIN_MERGE_ROUNDS = 4
#: Image area the default minimum segment sizes are given for (640×480).
_REFERENCE_AREA = 640 * 480


@dataclass(frozen=True)
class FelzenszwalbConfig:
    """Settings of :func:`felzenszwalb_segments`.

    Attributes
    ----------
    scale
        Felzenszwalb's ``k``: larger gives larger segments.
    sigma
        Width of the Gaussian smoothing applied first (pixels).
    min_size
        Smallest segment in pixels; None: 150 at 640×480, scaled by image area.
    """

    scale: float = 400.0
    sigma: float = 0.8
    min_size: int | None = None

    def __post_init__(self) -> None:
        if not (self.scale > 0 and math.isfinite(self.scale)):
            raise ValueError(f"scale must be finite and > 0, got {self.scale}")
        if not (self.sigma >= 0 and math.isfinite(self.sigma)):
            raise ValueError(f"sigma must be finite and >= 0, got {self.sigma}")
        if self.min_size is not None and (int(self.min_size) != self.min_size or self.min_size < 1):
            raise ValueError(f"min_size must be a whole number >= 1 or None, got {self.min_size}")


@dataclass(frozen=True)
class SlicConfig:
    """Settings of :func:`slic_segments`.

    Attributes
    ----------
    segments
        About how many superpixels per image (scikit-image's ``n_segments``).
    compactness
        Colour against space: higher gives more regular, less colour-faithful regions.
    sigma
        Gaussian smoothing before clustering (pixels).
    """

    segments: int = 64
    compactness: float = 10.0
    sigma: float = 1.0

    def __post_init__(self) -> None:
        if isinstance(self.segments, bool) or int(self.segments) != self.segments:
            raise ValueError(f"segments must be a whole number, got {self.segments!r}")
        if self.segments < 1:
            raise ValueError(f"segments must be >= 1, got {self.segments}")
        if not (self.compactness > 0 and math.isfinite(self.compactness)):
            raise ValueError(f"compactness must be finite and > 0, got {self.compactness}")
        if not (self.sigma >= 0 and math.isfinite(self.sigma)):
            raise ValueError(f"sigma must be finite and >= 0, got {self.sigma}")


def felzenszwalb_segments(
    image: np.ndarray,
    config: FelzenszwalbConfig | None = None,
    *,
    void: np.ndarray | None = None,
) -> np.ndarray:
    """Segment one RGB image with Felzenszwalb's graph method, thin edge strips merged.

    Parameters
    ----------
    image : (H, W, 3) float in [0, 1] or uint8
        The view's colours.
    config
        Settings (defaults: :class:`FelzenszwalbConfig`).
    void : (H, W) bool, optional
        Pixels that belong to no object (nothing rendered); they get 0.

    Returns
    -------
    (H, W) int32
        Ids ``1..n``; 0 only on void pixels.
    """
    from skimage.segmentation import felzenszwalb  # imported on use: scikit-image loads slowly

    config = config or FelzenszwalbConfig()
    image = as_float_rgb(image)
    height, width = image.shape[:2]
    size = config.min_size or max(1, round(150 * height * width / _REFERENCE_AREA))
    segments = felzenszwalb(
        image, scale=config.scale, sigma=config.sigma, min_size=int(size), channel_axis=-1
    )
    labels = segments.astype(np.int64) + 1
    if void is not None:
        void = np.asarray(void, dtype=bool)
        if void.shape != (height, width):
            raise ValueError(f"void has shape {void.shape}, expected {(height, width)}")
        labels[void] = 0
    return _merge_thin_segments(labels, image).astype(np.int32)


def slic_segments(image: np.ndarray, config: SlicConfig | None = None) -> np.ndarray:
    """SLIC superpixels of one RGB image (connected, ids from 1).

    Parameters
    ----------
    image : (H, W, 3) float in [0, 1] or uint8
        The view's colours.
    config
        Settings (defaults: :class:`SlicConfig`).

    Returns
    -------
    (H, W) int32
        Superpixel ids ``1..n`` (every pixel has one).
    """
    from skimage.segmentation import slic

    config = config or SlicConfig()
    image = as_float_rgb(image)
    segments = slic(
        image,
        n_segments=int(config.segments),
        compactness=config.compactness,
        sigma=config.sigma,
        start_label=1,
        enforce_connectivity=True,
        channel_axis=-1,
    )
    _, compact = np.unique(segments, return_inverse=True)
    return (compact.reshape(segments.shape) + 1).astype(np.int32)


def as_float_rgb(image: np.ndarray) -> np.ndarray:
    """``image`` as (H, W, 3) float32 in [0, 1]; uint8 is scaled by 1/255.

    Raises
    ------
    ValueError
        For another shape, an empty image, another dtype, or non-finite values.
    """
    image = np.asarray(image)
    if image.ndim != 3 or image.shape[2] != 3 or image.shape[0] == 0 or image.shape[1] == 0:
        raise ValueError(f"an image must be (H, W, 3) RGB, got shape {image.shape}")
    if image.dtype == np.uint8:
        return image.astype(np.float32) / 255.0
    if image.dtype.kind != "f":
        raise ValueError(f"an image must be float in [0, 1] or uint8, got {image.dtype}")
    if not np.isfinite(image).all():
        raise ValueError("the image holds NaN or infinite values")
    return image.astype(np.float32, copy=False)


def _merge_thin_segments(labels: np.ndarray, img: np.ndarray) -> np.ndarray:
    """Merge strips less than ~3 px wide into the touching segment of closest colour.

    Felzenszwalb leaves the ramp of a soft (smoothed or anti-aliased) edge as thin
    segments along object outlines; they are not objects. Thickness is area over
    boundary length (a strip ``w`` px wide has about ``w / 2``). Label 0 (void) is left
    alone and never merged into.
    """
    labels = labels.copy()
    for _ in range(_THIN_MERGE_ROUNDS):
        n = int(labels.max()) + 1
        flat = labels.ravel()
        area = np.bincount(flat, minlength=n)
        colour = (
            np.stack(
                [np.bincount(flat, weights=img[..., c].ravel(), minlength=n) for c in range(3)],
                axis=1,
            )
            / np.maximum(area, 1)[:, None]
        )
        edges = np.zeros(n, dtype=np.int64)
        pairs = []
        for a, b in ((labels[:, :-1], labels[:, 1:]), (labels[:-1, :], labels[1:, :])):
            diff = a != b
            edges += np.bincount(a[diff], minlength=n) + np.bincount(b[diff], minlength=n)
            keep = diff & (a > 0) & (b > 0)
            pairs.append(np.stack([a[keep], b[keep]], axis=1))
        both = np.unique(np.concatenate(pairs), axis=0)
        both = np.concatenate([both, both[:, ::-1]])
        thin = (area < _THIN_SEGMENT_PX * np.maximum(edges, 1)) & (edges > 0)
        thin[0] = False
        cand = both[thin[both[:, 0]]]
        if len(cand) == 0:
            break
        dist = np.linalg.norm(colour[cand[:, 0]] - colour[cand[:, 1]], axis=1)
        order = np.lexsort((dist, cand[:, 0]))
        cand = cand[order]
        first = np.ones(len(cand), dtype=bool)
        first[1:] = cand[1:, 0] != cand[:-1, 0]
        parent = np.arange(n)
        for a, b in cand[first]:
            ra, rb = _root(parent, int(a)), _root(parent, int(b))
            parent[ra] = rb
        roots = np.array([_root(parent, i) for i in range(n)])
        labels = roots[labels]
    _, inverse = np.unique(labels, return_inverse=True)
    return inverse.reshape(labels.shape) + (0 if (labels == 0).any() else 1)


def _root(parent: np.ndarray, a: int) -> int:
    while parent[a] != a:
        parent[a] = parent[parent[a]]
        a = int(parent[a])
    return a
