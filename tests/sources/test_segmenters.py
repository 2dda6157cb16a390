"""Felzenszwalb and SLIC as weight-free automatic mask sources."""

from __future__ import annotations

import numpy as np
import pytest
from scipy import ndimage

from liftstudio.sources.segmenters import (
    FelzenszwalbConfig,
    SlicConfig,
    as_float_rgb,
    felzenszwalb_segments,
    slic_segments,
)

H, W = 96, 128


def _three_boxes() -> tuple[np.ndarray, np.ndarray]:
    """An image of three flat-coloured boxes on a grey ground, softened edges, and its truth."""
    truth = np.zeros((H, W), np.int32)
    truth[10:50, 10:60] = 1
    truth[40:90, 70:120] = 2
    truth[60:85, 15:45] = 3
    colours = np.array([[0.5, 0.5, 0.5], [0.9, 0.1, 0.1], [0.1, 0.3, 0.9], [0.1, 0.8, 0.2]])
    image = colours[truth]
    image = ndimage.gaussian_filter(image, sigma=(1.0, 1.0, 0))  # soft, anti-aliased edges
    return image.astype(np.float32), truth


def _best_iou(segments: np.ndarray, mask: np.ndarray) -> float:
    ids, counts = np.unique(segments[mask], return_counts=True)
    best = ids[np.argmax(counts)]
    segment = segments == best
    return (segment & mask).sum() / (segment | mask).sum()


def test_felzenszwalb_finds_each_flat_object_and_merges_edge_strips():
    image, truth = _three_boxes()
    segments = felzenszwalb_segments(image)
    assert segments.dtype == np.int32 and segments.shape == (H, W) and segments.min() >= 1
    for object_id in (1, 2, 3):
        assert _best_iou(segments, truth == object_id) > 0.9
    # the soft edges do not survive as thin segments of their own
    assert len(np.unique(segments)) <= 6


def test_felzenszwalb_void_pixels_get_zero_and_uint8_matches_float():
    image, _ = _three_boxes()
    void = np.zeros((H, W), bool)
    void[:5] = True
    segments = felzenszwalb_segments(image, void=void)
    assert (segments[void] == 0).all() and (segments[~void] > 0).all()
    as_bytes = np.round(image * 255).astype(np.uint8)
    np.testing.assert_array_equal(
        felzenszwalb_segments(as_bytes), felzenszwalb_segments(as_bytes.astype(np.float32) / 255)
    )


def test_slic_gives_connected_superpixels_numbered_from_one():
    image, _ = _three_boxes()
    segments = slic_segments(image, SlicConfig(segments=30))
    ids = np.unique(segments)
    np.testing.assert_array_equal(ids, np.arange(1, len(ids) + 1))
    assert 10 <= len(ids) <= 60
    for segment_id in ids:
        _, pieces = ndimage.label(segments == segment_id)
        assert pieces == 1


def test_slic_superpixels_do_not_straddle_strong_edges():
    image, truth = _three_boxes()
    segments = slic_segments(image, SlicConfig(segments=40, compactness=5.0))
    # nearly every superpixel lies within one object (or the ground)
    purity = []
    for segment_id in np.unique(segments):
        _, counts = np.unique(truth[segments == segment_id], return_counts=True)
        purity.append(counts.max() / counts.sum())
    assert np.mean(purity) > 0.9


@pytest.mark.parametrize(
    ("make", "message"),
    [
        (lambda: FelzenszwalbConfig(scale=0), "scale"),
        (lambda: FelzenszwalbConfig(sigma=-1), "sigma"),
        (lambda: FelzenszwalbConfig(min_size=0), "min_size"),
        (lambda: SlicConfig(segments=0), "segments"),
        (lambda: SlicConfig(compactness=float("nan")), "compactness"),
        (lambda: as_float_rgb(np.zeros((4, 4))), "shape"),
        (lambda: as_float_rgb(np.zeros((4, 4, 3), np.int16)), "uint8"),
        (lambda: as_float_rgb(np.full((4, 4, 3), np.nan, np.float32)), "NaN"),
    ],
)
def test_bad_settings_and_images_are_refused(make, message):
    with pytest.raises(ValueError, match=message):
        make()
