"""The viewport's depth sort against numpy's stable argsort."""

from __future__ import annotations

import threading

import numpy as np

from liftstudio.app.viewport.depth_sort import DepthSorter, back_to_front
from liftstudio.scene.camera import look_at


def _reference(means, viewmat, near=0.01, far=1e10):
    depth = (means.astype(np.float64) @ viewmat[2, :3] + viewmat[2, 3]).astype(np.float32)
    kept = np.flatnonzero((depth > near) & (depth < far))
    # farthest first; equal depths: higher index first (so the lower one is drawn on top)
    order = np.lexsort((-kept, -depth[kept]))
    return kept[order]


def test_back_to_front_matches_a_stable_argsort_with_ties_and_culling():
    rng = np.random.default_rng(0)
    means = rng.normal(size=(50_000, 3)).astype(np.float32) * 3
    means[::7] = means[3]  # many exact ties
    viewmat = look_at(np.array([0.0, -6.0, 1.0]), np.zeros(3), up=(0, 0, 1))
    order = back_to_front(means, viewmat)
    np.testing.assert_array_equal(order, _reference(means, viewmat))
    depth = means @ viewmat[2, :3] + viewmat[2, 3]
    assert (depth <= 0.01).any() and len(order) == int((depth > 0.01).sum())


def test_the_sorter_thread_delivers_the_latest_camera_and_stops():
    rng = np.random.default_rng(1)
    means = rng.normal(size=(20_000, 3)).astype(np.float32)
    results, arrived = [], threading.Event()

    def on_sorted(result):
        results.append(result)
        if np.allclose(result.viewmat, last):
            arrived.set()

    sorter = DepthSorter(means, on_sorted)
    cameras = [look_at(np.array([np.cos(a) * 5, np.sin(a) * 5, 1.0]), np.zeros(3), up=(0, 0, 1))
               for a in np.linspace(0, 3, 30)]  # fmt: skip
    last = cameras[-1]
    for viewmat in cameras:
        sorter.request(viewmat)
    assert arrived.wait(10)
    sorter.stop()
    assert not sorter.running
    assert len(results) <= len(cameras)  # stale requests were dropped, not queued
    np.testing.assert_array_equal(results[-1].order, _reference(means, last))
