"""kNN graph of Gaussian centres: exactness against brute force, duplicates, cache."""

from __future__ import annotations

import numpy as np
import pytest

from liftstudio.jobs import CancelToken, JobCancelled
from liftstudio.lift import knn_graph
from liftstudio.lift.knn_graph import (
    GraphCache,
    KnnGraph,
    build_knn_graph,
    cached_knn_graph,
    default_graph_cache_dir,
    graph_cache_key,
)
from liftstudio.scene.gaussians import GaussianScene


def _brute_force(points: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
    """Indices and distances of the k nearest other points, by sorting all distances."""
    diff = points[:, None, :].astype(np.float64) - points[None, :, :]
    dist = np.sqrt((diff**2).sum(-1))
    np.fill_diagonal(dist, np.inf)  # the point itself, by index
    order = np.argsort(dist, axis=1, kind="stable")[:, :k]
    return order, np.take_along_axis(dist, order, axis=1)


def scene_of(points: np.ndarray) -> GaussianScene:
    """Gaussians at ``points`` (small, round, half opaque, black)."""
    n = len(points)
    return GaussianScene(
        means=points, raw_quats=np.tile([1.0, 0, 0, 0], (n, 1)),
        log_scales=np.full((n, 3), -2.0), logit_opacities=np.zeros(n),
        sh=np.zeros((n, 1, 3)),
    )  # fmt: skip


def test_neighbours_match_brute_force():
    rng = np.random.default_rng(1)
    points = rng.normal(size=(400, 3)).astype(np.float32)
    graph = build_knn_graph(points, k=7)
    expected, expected_dist = _brute_force(points, 7)
    assert graph.neighbors.dtype == np.int32 and graph.neighbors.shape == (400, 7)
    assert graph.distances.dtype == np.float32
    np.testing.assert_array_equal(graph.neighbors, expected)  # random floats: no ties
    np.testing.assert_allclose(graph.distances, expected_dist, rtol=1e-5)
    assert np.all(np.diff(graph.distances, axis=1) >= 0)  # nearest first
    graph.validate()


def test_duplicate_points_never_list_themselves():
    rng = np.random.default_rng(2)
    base = rng.normal(size=(50, 3))
    # point 0 has 9 copies (more than k + 1 = 5 at distance 0), point 1 has 2 copies
    points = np.concatenate([base, np.repeat(base[:1], 9, axis=0), np.repeat(base[1:2], 2, axis=0)])
    graph = build_knn_graph(points, k=4)
    rows = np.arange(len(points))
    assert not np.any(graph.neighbors == rows[:, None])
    copies_of_0 = np.array([0, *range(50, 59)])
    for row in copies_of_0:
        assert set(graph.neighbors[row]) <= set(copies_of_0) - {row}
        np.testing.assert_array_equal(graph.distances[row], 0)
    for row in (1, 59, 60):
        assert set(graph.neighbors[row, :2]) == {1, 59, 60} - {row}
        np.testing.assert_array_equal(graph.distances[row, :2], 0)
    _, expected_dist = _brute_force(points, 4)
    np.testing.assert_allclose(graph.distances, expected_dist, rtol=1e-5, atol=1e-7)


def test_order_is_a_spatial_permutation():
    rng = np.random.default_rng(3)
    points = rng.uniform(size=(3000, 3))
    graph = build_knn_graph(points, k=5)
    np.testing.assert_array_equal(np.sort(graph.order), np.arange(3000))
    # consecutive points in that order are much closer than in the given order
    step = np.linalg.norm(np.diff(points[graph.order], axis=0), axis=1).mean()
    assert step < 0.3 * np.linalg.norm(np.diff(points, axis=0), axis=1).mean()


@pytest.mark.parametrize(
    ("points", "k", "match"),
    [
        (np.zeros((5, 3)), 5, "smaller than the number of points"),
        (np.zeros((5, 3)), 0, "at least 1"),
        (np.zeros(5), 2, r"\(N, 3\)"),
        (np.array([[0.0, 0, 0], [1, np.nan, 0], [2, 0, 0]]), 1, "NaN or infinite"),
    ],
)
def test_bad_input_is_refused_with_a_clear_message(points, k, match):
    with pytest.raises(ValueError, match=match):
        build_knn_graph(points, k)


def test_chunks_report_progress_and_honour_cancel(monkeypatch):
    monkeypatch.setattr(knn_graph, "QUERY_CHUNK", 100)
    points = np.random.default_rng(4).normal(size=(450, 3))
    calls = []
    graph = build_knn_graph(points, k=3, progress=lambda d, t, m: calls.append((d, t)))
    assert calls[0] == (0, 5) and calls[-1] == (5, 5) and len(calls) == 6
    np.testing.assert_array_equal(graph.neighbors, _brute_force(points, 3)[0])

    token = CancelToken()

    def cancel_after_two(done, total, message):
        if done == 2:
            token.cancel()

    with pytest.raises(JobCancelled):
        build_knn_graph(points, k=3, progress=cancel_after_two, cancel=token)


def test_graph_validation_catches_bad_graphs():
    neighbors = np.array([[1], [0], [1]], dtype=np.int32)
    distances = np.ones((3, 1), dtype=np.float32)
    KnnGraph(neighbors, distances, order=np.array([2, 0, 1], dtype=np.int32)).validate()
    with pytest.raises(ValueError, match="own neighbour"):
        KnnGraph(np.array([[0], [0], [1]], dtype=np.int32), distances).validate()
    with pytest.raises(ValueError, match=r"\[0, 3\)"):
        KnnGraph(np.array([[1], [3], [1]], dtype=np.int32), distances).validate()
    with pytest.raises(ValueError, match="permutation"):
        KnnGraph(neighbors, distances, order=np.array([0, 0, 1], dtype=np.int32)).validate()
    with pytest.raises(ValueError, match="int32"):
        KnnGraph(neighbors.astype(np.int64), distances)


# ---------------------------------------------------------------------------- cache
def test_cache_folder_follows_the_environment(monkeypatch, tmp_path):
    monkeypatch.setenv("LIFTSTUDIO_CACHE_DIR", str(tmp_path / "mine"))
    assert default_graph_cache_dir() == tmp_path / "mine" / "graphs"
    assert GraphCache().directory == tmp_path / "mine" / "graphs"
    monkeypatch.delenv("LIFTSTUDIO_CACHE_DIR")
    monkeypatch.delenv("XDG_CACHE_HOME", raising=False)
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    assert default_graph_cache_dir() == tmp_path / "home" / ".cache" / "liftstudio" / "graphs"


def test_cached_graph_round_trips_and_is_built_once(monkeypatch, tmp_path):
    scene = scene_of(np.random.default_rng(5).normal(size=(300, 3)))
    builds = []
    real_build = knn_graph.build_knn_graph

    def counting_build(*args, **kwargs):
        builds.append(1)
        return real_build(*args, **kwargs)

    monkeypatch.setattr(knn_graph, "build_knn_graph", counting_build)
    cache = GraphCache(tmp_path / "graphs")
    first = cached_knn_graph(scene, k=6, cache=cache)
    again = cached_knn_graph(scene, k=6, cache=cache)
    assert len(builds) == 1
    for name in ("neighbors", "distances", "order"):
        np.testing.assert_array_equal(getattr(again, name), getattr(first, name))
        assert getattr(again, name).dtype == getattr(first, name).dtype
    other_k = cached_knn_graph(scene, k=4, cache=cache)
    assert len(builds) == 2 and other_k.k == 4 and len(cache) == 2
    moved = scene_of(scene.means + 1.0)  # other content, other key
    cached_knn_graph(moved, k=6, cache=cache)
    assert len(builds) == 3
    assert cache.invalidate_scene(scene.content_hash()) == 2


@pytest.mark.parametrize("damage", ["truncate", "garbage", "bad_indices"])
def test_a_corrupt_cache_entry_is_recomputed(tmp_path, damage):
    scene = scene_of(np.random.default_rng(6).normal(size=(200, 3)))
    cache = GraphCache(tmp_path)
    good = cached_knn_graph(scene, k=5, cache=cache)
    path = cache.path_for(graph_cache_key(scene.content_hash(), 5))
    data = path.read_bytes()
    if damage == "truncate":
        path.write_bytes(data[: len(data) // 2])
    elif damage == "garbage":
        path.write_bytes(b"\x00" * 64)
    else:  # readable, right layout, impossible content
        broken = good.neighbors.copy()
        broken[0, 0] = 10_000
        cache.put(path.stem, KnnGraph(broken, good.distances, good.order))
    assert cache.get(path.stem) is None and not path.exists()  # a miss, and removed
    again = cached_knn_graph(scene, k=5, cache=cache)
    np.testing.assert_array_equal(again.neighbors, good.neighbors)
    assert path.exists()
