"""LUDVIG graph diffusion and label propagation on synthetic point clouds."""

from __future__ import annotations

import math

import numpy as np
import pytest

from liftstudio.jobs import CancelToken, JobCancelled
from liftstudio.lift.diffusion import (
    BLOCK,
    FLUSH,
    DiffusionConfig,
    DiffusionProblem,
    diffuse,
    feature_graph,
    fit_balanced_logistic,
    initial_weights,
    label_propagation,
)
from liftstudio.lift.knn_graph import KnnGraph, build_knn_graph
from liftstudio.lift.selection import auto_threshold


def split_box(n: int = 800, b_feature=(0.0, 1.0, 0.0, 0.0), seed: int = 0, length: float = 2.0):
    """Points filling a box; x < 0 is object A with features near (1, 0, 0, 0), x > 0
    object B with features near ``b_feature`` (they touch along x = 0)."""
    rng = np.random.default_rng(seed)
    points = rng.uniform(-1, 1, size=(n, 3)) * [length, 1.0, 1.0]
    in_a = points[:, 0] < 0
    base = np.where(in_a[:, None], [1.0, 0, 0, 0], b_feature)
    features = (base + 0.05 * rng.normal(size=(n, 4))).astype(np.float32)
    return points, features, in_a


SAME = (1.0, 0.0, 0.0, 0.0)  # B's features equal A's


def _apart(n: int = 300, seed: int = 0):
    """Two blobs far apart (no kNN edge between them) with the *same* features."""
    rng = np.random.default_rng(seed)
    points = np.concatenate([rng.normal(size=(n, 3)) * 0.5, rng.normal(size=(n, 3)) * 0.5 + 20])
    features = (np.array([1.0, 0, 0, 0]) + 0.05 * rng.normal(size=(2 * n, 4))).astype(np.float32)
    in_a = np.arange(2 * n) < n
    return points, features, in_a


def _seeds_in(mask: np.ndarray, count: int = 30) -> np.ndarray:
    scores = np.zeros(mask.size)
    scores[np.flatnonzero(mask)[:count]] = np.linspace(0.2, 1.0, count)
    return scores


# ---------------------------------------------------------------------------- seeds and settings
def test_initial_weights_keep_the_top_fraction_of_positive_scores():
    scores = np.array([0.0, 0.5, 1.0, 2.0, 4.0, 0.0, -1.0, 3.0])  # 5 positive, mean 2.1
    g0, anchors = initial_weights(scores, 0.4)  # ceil(0.4 * 5) = 2 anchors
    np.testing.assert_array_equal(anchors, scores >= 3.0)
    np.testing.assert_allclose(g0, np.where(anchors, scores / 2.1, 0.0), rtol=1e-6)
    _, one = initial_weights(scores, 1e-6)  # never fewer than one
    assert np.flatnonzero(one).tolist() == [4]
    _, tied = initial_weights(np.array([0.0, 1.0, 1.0, 1.0, 1.0]), 0.1)  # a boolean selection
    np.testing.assert_array_equal(tied, [False, True, True, True, True])
    with pytest.raises(ValueError, match="no seed"):
        initial_weights(np.zeros(4), 0.1)
    with pytest.raises(ValueError, match="NaN"):
        initial_weights(np.array([1.0, np.nan]), 0.1)


@pytest.mark.parametrize(
    ("changes", "match"),
    [
        ({"feature_bandwidth": 0.0}, "feature_bandwidth"),
        ({"gate_bandwidth": math.inf}, "gate_bandwidth"),
        ({"gate": "cosine"}, "gate must be one of"),
        ({"iterations": 0}, "iterations"),
        ({"iterations": 2.5}, "iterations"),
        ({"seed_fraction": 0.0}, "seed_fraction"),
        ({"seed_fraction": 1.5}, "seed_fraction"),
    ],
)
def test_config_is_validated(changes, match):
    with pytest.raises(ValueError, match=match):
        DiffusionConfig(**changes)


def test_features_must_fit_the_graph():
    graph = build_knn_graph(np.random.default_rng(0).normal(size=(20, 3)), 3)
    with pytest.raises(ValueError, match="N = 20"):
        feature_graph(graph, np.zeros((19, 2)))
    bad = np.zeros((20, 2))
    bad[3, 1] = np.nan
    with pytest.raises(ValueError, match="1 Gaussian"):
        feature_graph(graph, bad)


def test_feature_graph_edges_match_numpy_in_the_gaussians_order():
    rng = np.random.default_rng(1)
    points, features = rng.normal(size=(3000, 3)), rng.normal(size=(3000, 5))
    graph = build_knn_graph(points, 6)
    fg = feature_graph(graph, features)
    expected = ((features[:, None, :] - features[graph.neighbors]) ** 2).sum(-1)
    np.testing.assert_allclose(fg.edge_sq_distances, expected, rtol=1e-5, atol=1e-6)
    np.testing.assert_array_equal(fg.features, features.astype(np.float32))
    values = rng.normal(size=3000)
    np.testing.assert_array_equal(fg.to_global(fg.to_local(values)), values)


# ---------------------------------------------------------------------------- diffusion
@pytest.mark.parametrize("gate", ["distance", "logistic"])
def test_seeding_one_of_two_touching_objects_selects_exactly_it(gate):
    points, features, in_a = split_box()
    fg = feature_graph(build_knn_graph(points, 10), features)
    result = diffuse(fg, _seeds_in(in_a), DiffusionConfig(gate=gate))
    scores = result.scores
    assert scores.dtype == np.float32 and scores.max() == pytest.approx(1.0)
    assert scores.min() >= 0
    # Scores are on a log scale (8 decades over [0, 1]): 0.25 is two decades.
    assert scores[in_a].min() > scores[~in_a].max() + 0.25
    np.testing.assert_array_equal(scores > auto_threshold(scores), in_a)
    assert result.anchors.sum() == 3 and np.all(in_a[result.anchors])


def test_the_same_features_do_not_leak_to_a_disconnected_object():
    points, features, in_a = _apart()
    fg = feature_graph(build_knn_graph(points, 10), features)
    scores = diffuse(fg, _seeds_in(in_a)).scores
    np.testing.assert_array_equal(scores[~in_a], 0.0)
    np.testing.assert_array_equal(scores > auto_threshold(scores), in_a)


def test_explicit_negatives_block_the_way():
    points, features, in_a = split_box(b_feature=SAME)
    fg = feature_graph(build_knn_graph(points, 10), features)
    seeds = _seeds_in(in_a)
    open_scores = diffuse(fg, seeds).scores
    assert open_scores[~in_a].min() > 0.1  # same features: the diffusion spreads over B
    wall = np.abs(points[:, 0]) < 0.3
    blocked = diffuse(fg, seeds, negatives=wall).scores
    np.testing.assert_array_equal(blocked[wall], 0.0)
    assert blocked[points[:, 0] > 0.6].max() < 1e-3


def _dense_diffusion(graph: KnnGraph, features, seeds, config: DiffusionConfig) -> np.ndarray:
    """The module docstring's recipe, written out with dense numpy (distance gate)."""
    g0, anchors = initial_weights(seeds, config.seed_fraction)
    sq = ((features[:, None, :] - features[graph.neighbors]) ** 2).sum(-1).astype(np.float64)
    m2 = np.median(sq[anchors])
    weights = np.exp(-sq / (config.feature_bandwidth * m2))
    transition = weights / weights.sum(1, keepdims=True)
    mean = features[anchors].mean(0)
    cost = ((features - mean) ** 2).sum(1)
    gate = np.exp(-cost / (config.gate_bandwidth * np.median(cost[anchors])))
    g = g0 / g0.max()
    for _ in range(config.iterations):
        g = gate * (transition * g[graph.neighbors]).sum(1)
        g /= g.max()
    return g


@pytest.mark.parametrize("case", ["blobs", "one_cloud"])
def test_the_kernel_matches_a_dense_numpy_iteration(case):
    rng = np.random.default_rng(7)
    n = 5 * BLOCK  # several blocks, some never reached (blobs)
    if case == "blobs":
        centres = rng.uniform(-30, 30, size=(6, 3))
        label = rng.integers(0, 6, n)
        points = centres[label] + rng.normal(size=(n, 3))
        features = rng.normal(size=(6, 8))[label] + 0.2 * rng.normal(size=(n, 8))
        seeds = _seeds_in(label == 0, 200)
    else:
        points = rng.uniform(size=(n, 3))
        features = points @ rng.normal(size=(3, 8)) + 0.1 * rng.normal(size=(n, 8))
        seeds = _seeds_in(points[:, 0] < 0.2, 200)
    features = features.astype(np.float32)
    graph = build_knn_graph(points, 8)
    config = DiffusionConfig(feature_bandwidth=2.0, gate_bandwidth=20.0, iterations=60)
    scores = diffuse(feature_graph(graph, features), seeds, config).scores
    dense = _dense_diffusion(graph, features, seeds, config)
    # Scores are log10(g) mapped from [FLUSH, 1] onto [0, 1]; the kernel zeroes values
    # below FLUSH as it goes, so compare where g is clearly above or below it.
    clear = dense > 100 * FLUSH
    expected = 1 + np.log10(dense[clear]) / 8
    assert FLUSH == 1e-8
    np.testing.assert_allclose(scores[clear], expected, rtol=0, atol=1e-4)
    assert np.all(scores[dense < FLUSH / 100] == 0)


def test_logistic_regression_matches_an_independent_newton_solve():
    rng = np.random.default_rng(3)
    x = np.concatenate([rng.normal(size=(40, 2)) + 1.0, rng.normal(size=(160, 2)) - 0.5])
    y = np.arange(200) < 40
    coef, intercept = fit_balanced_logistic(x, y, c=0.5)
    # Newton's method on C Σ w_i log(1 + exp(-t_i (x_i·β + b))) + ½‖β‖² (b unpenalised)
    design = np.hstack([x, np.ones((200, 1))])
    t = np.where(y, 1.0, -1.0)
    w = 0.5 * np.where(y, 200 / (2 * 40), 200 / (2 * 160))
    penalty = np.diag([1.0, 1.0, 0.0])
    params = np.zeros(3)
    for _ in range(30):
        p = 1 / (1 + np.exp(t * (design @ params)))  # sigmoid(-margin)
        grad = design.T @ (-w * t * p) + penalty @ params
        hess = design.T @ (design * (w * p * (1 - p))[:, None]) + penalty
        params -= np.linalg.solve(hess, grad)
    np.testing.assert_allclose(np.append(coef, intercept), params, rtol=1e-4, atol=1e-5)
    with pytest.raises(ValueError, match="both classes"):
        fit_balanced_logistic(x, np.ones(200, dtype=bool))


def test_diffusion_reports_progress_and_can_be_cancelled():
    points, features, in_a = split_box(300)
    fg = feature_graph(build_knn_graph(points, 8), features)
    calls = []
    diffuse(fg, _seeds_in(in_a), DiffusionConfig(iterations=25),
            progress=lambda d, t, m: calls.append((d, t)))  # fmt: skip
    assert calls == [(0, 25), (10, 25), (20, 25), (25, 25)]
    token = CancelToken()

    def cancel_midway(done, total, message):
        if done >= 10:
            token.cancel()

    with pytest.raises(JobCancelled):
        diffuse(fg, _seeds_in(in_a), progress=cancel_midway, cancel=token)
    with pytest.raises(JobCancelled):
        label_propagation(fg, _seeds_in(in_a), cancel=token)


def test_problem_prepared_once_serves_any_bandwidths():
    points, features, in_a = split_box(400)
    fg = feature_graph(build_knn_graph(points, 8), features)
    problem = DiffusionProblem(fg, _seeds_in(in_a))
    once = problem.diffuse(1.0, 10.0, 50).scores
    np.testing.assert_array_equal(once, diffuse(fg, _seeds_in(in_a), DiffusionConfig(
        feature_bandwidth=1.0, gate_bandwidth=10.0, iterations=50)).scores)  # fmt: skip
    gate = problem.gate(10.0)
    assert gate.max() <= 1 and gate[in_a].mean() > 50 * gate[~in_a].mean()
    with pytest.raises(ValueError, match="bandwidth"):
        problem.diffuse(-1.0, 1.0)


# ---------------------------------------------------------------------------- label propagation
def test_label_propagation_solves_zhou_et_al_system():
    rng = np.random.default_rng(5)
    n = 80
    points, features = rng.normal(size=(n, 3)), rng.normal(size=(n, 3)).astype(np.float32)
    graph = build_knn_graph(points, 5)
    seeds = np.zeros(n)
    seeds[:10] = rng.uniform(0.5, 1.0, 10)
    negatives = np.zeros(n, dtype=bool)
    negatives[60:70] = True
    config = DiffusionConfig(feature_bandwidth=2.0, seed_fraction=0.5)
    result = label_propagation(feature_graph(graph, features), seeds, config, negatives=negatives,
                               alpha=0.9, rtol=1e-10)  # fmt: skip
    # dense reference: W = (A + Aᵀ)/2, S = D^-1/2 W D^-1/2, (I - αS) F = Y
    _, anchors = initial_weights(seeds, 0.5)
    sq = ((features[:, None, :] - features[graph.neighbors]) ** 2).sum(-1).astype(np.float64)
    m2 = np.median(sq[anchors])
    a = np.zeros((n, n))
    a[np.repeat(np.arange(n), 5), graph.neighbors.ravel()] = np.exp(-sq / (2.0 * m2)).ravel()
    w = (a + a.T) / 2
    d = 1 / np.sqrt(w.sum(1))
    system = np.eye(n) - 0.9 * d[:, None] * w * d[None, :]
    f_pos = np.linalg.solve(system, anchors.astype(float))
    f_neg = np.linalg.solve(system, negatives.astype(float))
    np.testing.assert_allclose(result.scores, f_pos / (f_pos + f_neg), rtol=1e-5, atol=1e-6)
    np.testing.assert_array_equal(result.negatives, negatives)


def test_pseudo_negatives_are_the_least_seed_like_half():
    points, features, in_a = split_box(400)
    fg = feature_graph(build_knn_graph(points, 8), features)
    seeds = _seeds_in(in_a)
    result = label_propagation(fg, seeds)
    anchors = result.anchors
    cost = ((features - features[anchors].mean(0)) ** 2).sum(1)
    others = np.flatnonzero(~anchors)
    expected = np.zeros(400, dtype=bool)
    expected[others[np.argsort(-cost[others], kind="stable")[: math.ceil(others.size / 2)]]] = True
    np.testing.assert_array_equal(result.negatives, expected)
    assert result.scores[in_a].min() > result.scores[~in_a].max()
