"""Test doubles for the lifting tests. Nothing here is used by LiftStudio itself."""

from __future__ import annotations

import hashlib
from collections.abc import Iterable
from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True)
class PredictorCall:
    """One call to :class:`GroundTruthMaskPredictor`: which view, which prompts."""

    view: int
    points: np.ndarray
    labels: np.ndarray
    answer: int


def image_key(image: np.ndarray) -> str:
    """A digest of an image's shape and float32 pixel bytes."""
    pixels = np.ascontiguousarray(image, dtype=np.float32)
    return hashlib.sha1(repr(pixels.shape).encode() + pixels.tobytes()).hexdigest()


class GroundTruthMaskPredictor:
    """TEST DOUBLE for SAM: answers prompts with ground-truth instance masks.

    Built from ``(image, ground-truth instance map)`` pairs. For a call it recognises
    the view by the image's bytes, reads the ground-truth id under each positive
    point, and returns three masks, best first: the mask of the id under most points
    (all False when that id is 0, i.e. void; ties go to the smaller id), then two
    decoys (the whole image, and nothing) that a loop must not pick. Every call is
    recorded in :attr:`calls`.
    """

    def __init__(self, pairs: Iterable[tuple[np.ndarray, np.ndarray]]) -> None:
        self._maps: dict[str, tuple[int, np.ndarray]] = {}
        for view, (image, gt) in enumerate(pairs):
            key = image_key(image)
            if key in self._maps:
                raise ValueError(f"views {self._maps[key][0]} and {view} have identical images")
            gt = np.asarray(gt)
            if gt.shape != np.shape(image)[:2]:
                raise ValueError(f"view {view}: ground truth {gt.shape} vs image {image.shape}")
            self._maps[key] = (view, gt)
        self.calls: list[PredictorCall] = []

    def predict(self, image: np.ndarray, points: np.ndarray, labels: np.ndarray) -> np.ndarray:
        """Return ``[gt == majority id, everything, nothing]`` as (3, H, W) bool."""
        key = image_key(image)
        if key not in self._maps:
            raise KeyError("GroundTruthMaskPredictor was called with an image it was not given")
        view, gt = self._maps[key]
        points = np.asarray(points, dtype=np.float64)
        labels = np.asarray(labels)
        positive = points[labels == 1]
        rows = np.clip(np.floor(positive[:, 1]).astype(int), 0, gt.shape[0] - 1)
        cols = np.clip(np.floor(positive[:, 0]).astype(int), 0, gt.shape[1] - 1)
        ids, counts = np.unique(gt[rows, cols], return_counts=True)
        answer = int(ids[np.argmax(counts)]) if len(ids) else 0
        self.calls.append(PredictorCall(view, points.copy(), labels.copy(), answer))
        best = gt == answer if answer != 0 else np.zeros(gt.shape, dtype=bool)
        return np.stack([best, np.ones_like(best), np.zeros_like(best)])


class FixedMaskPredictor:
    """TEST DOUBLE: returns the same masks for every call (to feed bad answers)."""

    def __init__(self, masks: np.ndarray) -> None:
        self.masks = masks

    def predict(self, image: np.ndarray, points: np.ndarray, labels: np.ndarray) -> np.ndarray:
        """Return the fixed masks."""
        return self.masks
