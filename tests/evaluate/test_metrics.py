"""Segmentation metrics: hand-computed cases and slow brute-force references."""

from __future__ import annotations

import math

import numpy as np
import pytest
from scipy import ndimage

from liftstudio.evaluate.metrics import (
    binary_iou,
    boundary_band,
    boundary_width,
    gaussian_accuracy,
    match_ids,
    object_miou,
    pq_scene,
    resize_nearest,
    single_object_iou,
)

# --------------------------------------------------------------------------- brute force
# Plain Python loops over pixels and segment pairs, written from the protocol text.


def _pixels(preds, gts):
    out = []
    for p_map, g_map in zip(preds, gts, strict=True):
        for i in range(g_map.shape[0]):
            for j in range(g_map.shape[1]):
                out.append((int(p_map[i, j]), int(g_map[i, j])))
    return out


def brute_pq(preds, gts):
    pix = _pixels(preds, gts)
    pred_segs = sorted({p for p, _ in pix if p != 0})
    gt_segs = sorted({g for _, g in pix if g != 0})
    ious = {}
    for p in pred_segs:
        for g in gt_segs:
            inter = sum(1 for a, b in pix if a == p and b == g)
            p_not_void = sum(1 for a, b in pix if a == p and b != 0)
            g_area = sum(1 for _, b in pix if b == g)
            union = p_not_void + g_area - inter
            if inter / union > 0.5:
                ious[(p, g)] = inter / union
    matched_p = {p for p, _ in ious}
    matched_g = {g for _, g in ious}
    tp = len(ious)
    fn = len([g for g in gt_segs if g not in matched_g])
    fp = 0
    for p in pred_segs:
        if p in matched_p:
            continue
        area = sum(1 for a, _ in pix if a == p)
        void = sum(1 for a, b in pix if a == p and b == 0)
        if void / area > 0.5:
            continue
        fp += 1
    denominator = tp + fp / 2 + fn / 2
    if denominator == 0:
        return 1.0, tp, fp, fn
    return sum(ious.values()) / denominator, tp, fp, fn


def brute_matchings(pred, gt, min_iou=0.0):
    """Every injective partial assignment pred → gt of eligible pairs, with its overlap."""
    pred = [int(x) for x in np.ravel(pred)]
    gt = [int(x) for x in np.ravel(gt)]
    ps = sorted(set(pred) - {0})
    gs = sorted(set(gt) - {0})
    inter = {}
    for p in ps:
        for g in gs:
            i = sum(1 for a, b in zip(pred, gt, strict=True) if a == p and b == g)
            u = sum(1 for a, b in zip(pred, gt, strict=True) if a == p or b == g)
            if i > 0 and i / u >= min_iou:
                inter[(p, g)] = i
    results = []

    def walk(k, used, current, total):
        if k == len(ps):
            results.append((total, dict(current)))
            return
        walk(k + 1, used, current, total)
        for g in gs:
            if g not in used and (ps[k], g) in inter:
                current[ps[k]] = g
                walk(k + 1, used | {g}, current, total + inter[(ps[k], g)])
                del current[ps[k]]

    walk(0, frozenset(), {}, 0)
    return results, inter


def brute_band(mask, width):
    h, w = mask.shape
    out = np.zeros_like(mask, dtype=bool)
    for i in range(h):
        for j in range(w):
            if not mask[i, j]:
                continue
            for di in range(-width, width + 1):
                for dj in range(-width, width + 1):
                    ii, jj = i + di, j + dj
                    if not (0 <= ii < h and 0 <= jj < w) or not mask[ii, jj]:
                        out[i, j] = True
    return out


def brute_iou(a, b):
    union = sum(1 for x, y in zip(a.ravel(), b.ravel(), strict=True) if x or y)
    inter = sum(1 for x, y in zip(a.ravel(), b.ravel(), strict=True) if x and y)
    return 1.0 if union == 0 else inter / union


def brute_object_miou(preds, gts, gt_to_pred, ratio):
    per, per_b = {}, {}
    objects = sorted({int(g) for m in gts for g in np.ravel(m)} - {0})
    for g in objects:
        vals, bvals = [], []
        for p_map, g_map in zip(preds, gts, strict=True):
            gmask = g_map == g
            if not gmask.any():
                continue
            p = gt_to_pred.get(g)
            pmask = p_map == p if p is not None else np.zeros_like(gmask)
            width = max(1, round(ratio * math.hypot(*g_map.shape)))
            vals.append(brute_iou(pmask, gmask))
            bvals.append(brute_iou(brute_band(pmask, width), brute_band(gmask, width)))
        per[g] = sum(vals) / len(vals)
        per_b[g] = sum(bvals) / len(bvals)
    return per, per_b


# --------------------------------------------------------------------------- random cases


def _random_case(rng, views=2, shape=(5, 6), n_gt=4, n_pred=5):
    """Ground truth made of blobs, prediction a noisy relabelled copy (so matches happen)."""
    gts, preds = [], []
    perm = rng.permutation(np.arange(1, max(n_gt, n_pred) + 1))
    perm = np.concatenate([[0], perm])
    for _ in range(views):
        coarse = rng.integers(0, n_gt + 1, size=(3, 3))
        gt = resize_nearest(coarse, shape).astype(np.int32)
        pred = perm[gt] if rng.random() < 0.7 else rng.integers(0, n_pred + 1, size=shape)
        noise = rng.random(shape) < rng.uniform(0.0, 0.5)
        pred = np.where(noise, rng.integers(0, n_pred + 1, size=shape), pred)
        pred = np.where(pred > n_pred, 0, pred).astype(np.int32)
        gts.append(gt)
        preds.append(pred)
    return preds, gts


# --------------------------------------------------------------------------- pq_scene

# Two 4×5 views. True segments: A=1 (8 px), B=2 (10 px), C=3 (4 px), D=4 (5 px); 13 void.
GT_V0 = [
    [1, 1, 0, 0, 0],
    [1, 1, 0, 0, 0],
    [2, 2, 2, 2, 2],
    [2, 2, 2, 2, 2],
]
GT_V1 = [
    [1, 1, 3, 3, 0],
    [1, 1, 3, 3, 0],
    [0, 0, 0, 0, 0],
    [4, 4, 4, 4, 4],
]
# 5 = A exactly (TP, IoU 1). 6 = half of B (IoU exactly 0.5: FP, and B is FN).
# 7 = C plus 4 void pixels (plain IoU 0.5, void-excluded IoU 1: TP).
# 8 = 3 void + 2 B pixels (60% void, unmatched: ignored).
# 9 = 2 void + 3 B pixels (40% void, unmatched: FP).
# 10 = 3 of D's 5 pixels + 2 void (IoU 3/5: TP).
PRED_V0 = [
    [5, 5, 8, 8, 8],
    [5, 5, 9, 9, 0],
    [6, 6, 6, 6, 6],
    [8, 8, 9, 9, 9],
]
PRED_V1 = [
    [5, 5, 7, 7, 0],
    [5, 5, 7, 7, 10],
    [7, 7, 7, 7, 10],
    [10, 10, 10, 0, 0],
]


def _hand_case():
    preds = [np.array(PRED_V0, np.int32), np.array(PRED_V1, np.int32)]
    gts = [np.array(GT_V0, np.int32), np.array(GT_V1, np.int32)]
    return preds, gts


def test_pq_hand_computed_case():
    preds, gts = _hand_case()
    result = pq_scene(preds, gts)
    assert (result.tp, result.fp, result.fn) == (3, 2, 1)
    assert result.matches == {5: 1, 7: 3, 10: 4}
    assert result.ious == pytest.approx({5: 1.0, 7: 1.0, 10: 0.6})
    assert result.pq == pytest.approx(2.6 / 4.5)
    assert result.sq == pytest.approx(2.6 / 3)
    assert result.rq == pytest.approx(3 / 4.5)


def test_pq_void_rule_turns_on_at_half():
    preds, gts = _hand_case()
    # Move one B pixel of segment 9 to id 0: 9 becomes 2 void + 2 B = 50% void, still FP.
    preds[0][3, 4] = 0
    assert pq_scene(preds, gts).fp == 2
    # Hand one void pixel from 8 to 9: 8 is 2 void + 2 B and 9 is 3 void + 3 B, both
    # exactly 50% void, so both count as FP (only strictly more than half is ignored).
    preds, gts = _hand_case()
    preds[0][0, 4] = 9
    assert pq_scene(preds, gts).fp == 3


def test_pq_matches_brute_force_on_random_maps():
    rng = np.random.default_rng(0)
    matched_somewhere = 0
    for _ in range(40):
        preds, gts = _random_case(rng, views=int(rng.integers(1, 4)))
        pq, tp, fp, fn = brute_pq(preds, gts)
        result = pq_scene(preds, gts)
        assert (result.tp, result.fp, result.fn) == (tp, fp, fn)
        assert result.pq == pytest.approx(pq)
        matched_somewhere += tp > 0
    assert matched_somewhere > 10


def test_pq_is_invariant_to_relabelling_predictions():
    rng = np.random.default_rng(1)
    for _ in range(10):
        preds, gts = _random_case(rng, views=3)
        new_ids = np.concatenate([[0], rng.choice(2**31 - 1, size=10, replace=False) + 1])
        relabelled = [new_ids[p] for p in preds]
        a, b = pq_scene(preds, gts), pq_scene(relabelled, gts)
        assert (a.tp, a.fp, a.fn) == (b.tp, b.fp, b.fn)
        assert a.pq == pytest.approx(b.pq)
        assert {new_ids[p]: g for p, g in a.matches.items()} == b.matches


def test_pq_perfect_prediction_and_id_switch():
    _, gts = _hand_case()
    assert pq_scene(gts, gts).pq == 1.0
    # Same segmentation, but object 1 takes another id in view 1: one segment per view
    # of half the object each; neither reaches IoU > 0.5 against the whole object.
    switched = [gts[0].copy(), gts[1].copy()]
    switched[1][switched[1] == 1] = 9
    result = pq_scene(switched, gts)
    assert (result.tp, result.fp, result.fn) == (3, 2, 1)


def test_pq_empty_conventions():
    zeros = [np.zeros((3, 3), np.int32)]
    assert pq_scene(zeros, zeros).pq == 1.0
    some_gt = [np.ones((3, 3), np.int32)]
    nothing = pq_scene(zeros, some_gt)
    assert (nothing.pq, nothing.sq, nothing.rq, nothing.fn) == (0.0, 0.0, 0.0, 1)
    # A prediction lying entirely on void is ignored.
    assert pq_scene(some_gt, zeros).pq == 1.0


def test_pq_resizes_predictions_by_nearest_neighbour():
    preds, gts = _hand_case()
    upscaled = [np.kron(p, np.ones((2, 3), np.int32)) for p in preds]
    assert upscaled[0].shape == (8, 15)
    assert pq_scene(upscaled, gts) == pq_scene(preds, gts)
    small_gt = np.array([[1, 2], [3, 4]], np.int32)
    assert np.array_equal(resize_nearest(np.kron(small_gt, np.ones((3, 3), int)), (2, 2)), small_gt)


def test_pq_errors_name_the_view():
    preds, gts = _hand_case()
    with pytest.raises(ValueError, match="2 predicted maps but 1"):
        pq_scene(preds, gts[:1])
    with pytest.raises(ValueError, match="view 1"):
        pq_scene([preds[0], preds[1][0]], gts)
    with pytest.raises(ValueError, match=r"view 0: pred map .*integer"):
        pq_scene([preds[0].astype(float), preds[1]], gts)
    with pytest.raises(ValueError, match=r"view 1: gt map .*negative"):
        pq_scene(preds, [gts[0], -gts[1]])


# --------------------------------------------------------------------------- match_ids


def test_match_ids_maximises_total_overlap_not_greedy():
    # Greedy on the largest overlap would pair 1→10 (5) and leave 2 with nothing (total 5);
    # the optimum is 1→20 (4) and 2→10 (3): total 7.
    pred = np.array([1] * 5 + [1] * 4 + [2] * 3)
    gt = np.array([10] * 5 + [20] * 4 + [10] * 3)
    assert match_ids(pred, gt) == {1: 20, 2: 10}


def test_match_ids_never_matches_zero_or_disjoint_ids():
    pred = np.array([0, 0, 1, 2])
    gt = np.array([5, 5, 0, 6])
    assert match_ids(pred, gt) == {2: 6}


def test_match_ids_min_iou_filters_pairs_before_assignment():
    pred = np.array([1, 1, 1, 1, 2, 3])
    gt = np.array([7, 7, 0, 0, 7, 3])
    assert match_ids(pred, gt) == {1: 7, 3: 3}
    # IoU(1, 7) = 2/5 < 0.5, IoU(2, 7) = 1/3 < 0.5, IoU(3, 3) = 1.
    assert match_ids(pred, gt, min_iou=0.5) == {3: 3}
    assert match_ids(pred, gt, min_iou=0.4) == {1: 7, 3: 3}


def test_match_ids_agrees_with_brute_force_over_permutations():
    rng = np.random.default_rng(2)
    for trial in range(60):
        n = int(rng.integers(5, 30))
        pred = rng.integers(0, 6, size=n)
        gt = rng.integers(0, 5, size=n) if trial % 2 else np.where(rng.random(n) < 0.7, pred, 0)
        min_iou = float(rng.choice([0.0, 0.2, 0.4]))
        results, inter = brute_matchings(pred, gt, min_iou)
        best = max(total for total, _ in results)
        got = match_ids(pred, gt, min_iou=min_iou)
        assert len(set(got.values())) == len(got)
        assert all((p, g) in inter for p, g in got.items())
        assert sum(inter[(p, g)] for p, g in got.items()) == best


def test_match_ids_shape_mismatch():
    with pytest.raises(ValueError, match=r"shape \(3,\).*\(4,\)"):
        match_ids(np.zeros(3, int), np.zeros(4, int))


# --------------------------------------------------------------------------- object_miou


def test_object_miou_hand_computed_case():
    gt0 = np.array([[1, 1, 2, 2]] * 4)
    gt1 = np.array([[1, 1, 1, 1], [1, 1, 1, 1], [0, 0, 5, 5], [0, 0, 5, 5]])
    pred0 = np.array([[3, 3, 4, 4]] * 4)
    pred1 = np.array([[3, 3, 0, 0], [3, 3, 0, 0], [0, 0, 0, 0], [0, 0, 0, 0]])
    result = object_miou([pred0, pred1], [gt0, gt1])
    assert result.assigned == {1: 3, 2: 4}
    # Object 1: IoU 1 in view 0, 4/8 in view 1. Object 2: 1. Object 5: unmatched → 0.
    assert result.per_object == pytest.approx({1: 0.75, 2: 1.0, 5: 0.0})
    assert result.miou == pytest.approx(1.75 / 3)
    assert result.per_object_boundary[5] == 0.0


def test_boundary_iou_of_a_one_pixel_shift():
    gt = np.zeros((20, 20), np.int32)
    gt[5:15, 5:15] = 1
    pred = np.zeros((20, 20), np.int32)
    pred[5:15, 6:16] = 7
    assert boundary_width(gt.shape, 0.02) == 1
    result = object_miou([pred], [gt])
    # Bands are the 36-pixel rings; they share rows 5 and 14 over columns 6..14 (18 px).
    assert result.per_object[1] == pytest.approx(90 / 110)
    assert result.boundary_iou == pytest.approx(18 / 54)
    # Against itself the boundary IoU is 1.
    assert object_miou([gt], [gt]).boundary_iou == 1.0


def test_object_miou_perfect_and_relabelled_prediction():
    rng = np.random.default_rng(3)
    _, gts = _random_case(rng, views=3, shape=(12, 10))
    if all(not g.any() for g in gts):  # pragma: no cover - the seed gives objects
        pytest.skip("no objects")
    relabelled = [np.where(g > 0, g + 100, 0) for g in gts]
    result = object_miou(relabelled, gts, boundary_dilation_ratio=0.1)
    assert result.miou == 1.0
    assert result.boundary_iou == 1.0


def test_object_miou_agrees_with_brute_force():
    rng = np.random.default_rng(4)
    compared = 0
    for _ in range(40):
        preds, gts = _random_case(rng, views=2, shape=(6, 7))
        if not any(g.any() for g in gts):
            continue
        results, _ = brute_matchings(
            np.concatenate([p.ravel() for p in preds]), np.concatenate([g.ravel() for g in gts])
        )
        best = max(t for t, _ in results)
        optimal = [m for t, m in results if t == best]
        if len(optimal) > 1:  # ties: the matched segment is not determined
            continue
        ratio = float(rng.choice([0.05, 0.2, 0.3]))
        per, per_b = brute_object_miou(preds, gts, {g: p for p, g in optimal[0].items()}, ratio)
        result = object_miou(preds, gts, boundary_dilation_ratio=ratio)
        assert result.per_object == pytest.approx(per)
        assert result.per_object_boundary == pytest.approx(per_b)
        assert result.miou == pytest.approx(np.mean(list(per.values())))
        compared += 1
    assert compared > 20


def test_object_miou_needs_objects():
    with pytest.raises(ValueError, match="no object"):
        object_miou([np.ones((3, 3), int)], [np.zeros((3, 3), int)])


# --------------------------------------------------------------------------- boundaries


def test_boundary_band_equals_iterated_erosion_and_brute_force():
    rng = np.random.default_rng(5)
    for _ in range(20):
        mask = ndimage.binary_dilation(rng.random((9, 11)) < 0.15, iterations=2)
        for width in (1, 2, 3):
            eroded = ndimage.binary_erosion(
                mask, structure=np.ones((3, 3)), iterations=width, border_value=0
            )
            band = boundary_band(mask, width)
            assert np.array_equal(band, mask & ~eroded)
            assert np.array_equal(band, brute_band(mask, width))


def test_boundary_width_rule():
    assert boundary_width((480, 640), 0.02) == 16
    assert boundary_width((4, 4), 0.02) == 1
    with pytest.raises(ValueError, match="width"):
        boundary_band(np.ones((3, 3), bool), 0)


def test_binary_iou():
    a = np.array([1, 1, 0, 0], bool)
    b = np.array([0, 1, 1, 0], bool)
    assert binary_iou(a, b) == pytest.approx(1 / 3)
    assert binary_iou(np.zeros(3, bool), np.zeros(3, bool)) == 1.0
    with pytest.raises(ValueError, match="shape"):
        binary_iou(a, b[:3])


# --------------------------------------------------------------------------- single object


def test_single_object_threshold_comes_from_the_reference_view_only():
    ref_scores = np.array([[0.9, 0.6, 0.3, 0.1]])
    ref_mask = np.array([[1, 1, 0, 0]], bool)
    # The other view would be perfect at 0.3, but 0.6 (best on the reference) is used.
    other_scores = np.array([[0.9, 0.4, 0.3, 0.1]])
    other_mask = np.array([[1, 1, 1, 0]], bool)
    result = single_object_iou([other_scores, ref_scores], [other_mask, ref_mask], 1)
    assert result.threshold == pytest.approx(0.6)
    assert result.reference_iou == 1.0
    assert result.per_view == {0: pytest.approx(1 / 3)}
    assert result.mean_iou == pytest.approx(1 / 3)
    # With view 0 as reference the choice flips to 0.3, applied to view 1 (IoU 2/3).
    flipped = single_object_iou([other_scores, ref_scores], [other_mask, ref_mask], 0)
    assert flipped.threshold == pytest.approx(0.3)
    assert flipped.mean_iou == pytest.approx(2 / 3)


def test_single_object_agrees_with_brute_force():
    rng = np.random.default_rng(6)
    for _ in range(15):
        views = int(rng.integers(2, 5))
        masks = [rng.random((4, 5)) < 0.4 for _ in range(views)]
        scores = [np.round(m * 0.5 + rng.random((4, 5)) * 0.7, 1) for m in masks]
        ref = int(rng.integers(views))
        best_t, best_iou = None, -1.0
        for t in sorted({float(x) for x in scores[ref].ravel()}):
            iou = brute_iou(scores[ref] >= t, masks[ref])
            if iou > best_iou:
                best_t, best_iou = t, iou
        expected = [brute_iou(scores[v] >= best_t, masks[v]) for v in range(views) if v != ref]
        result = single_object_iou(scores, masks, ref)
        assert result.threshold == best_t
        assert result.mean_iou == pytest.approx(np.mean(expected))
        assert sorted(result.per_view) == [v for v in range(views) if v != ref]


def test_single_object_uses_quantiles_when_scores_are_many():
    rng = np.random.default_rng(7)
    scores = [rng.random((40, 40)) for _ in range(2)]
    masks = [s > 0.5 for s in scores]
    result = single_object_iou(scores, masks, 0)
    quantiles = np.quantile(scores[0], np.linspace(0, 1, 256))
    assert np.isclose(quantiles, result.threshold).any()
    assert result.mean_iou > 0.97
    custom = single_object_iou(scores, masks, 0, thresholds=[0.25, 0.5])
    assert custom.threshold == 0.5


def test_single_object_errors():
    s = [np.zeros((2, 2)), np.zeros((2, 3))]
    m = [np.zeros((2, 2), bool), np.zeros((2, 2), bool)]
    with pytest.raises(ValueError, match="view 1"):
        single_object_iou(s, m, 0)
    with pytest.raises(ValueError, match="reference_index 2"):
        single_object_iou(s[:1] * 2, m, 2)
    with pytest.raises(ValueError, match="at least one other"):
        single_object_iou(s[:1], m[:1], 0)


# --------------------------------------------------------------------------- Gaussians


def test_gaussian_accuracy_hand_case():
    pred = np.array([4, 4, 4, 9, 9, 0, 7, 4], np.int32)
    gt = np.array([1, 1, 2, 2, 2, 1, 3, 0], np.int32)
    # 4→1 (2 right), 9→2 (2 right), 7→3 (1 right); id 0 and 4-on-2 wrong; gt 0 excluded.
    assert gaussian_accuracy(pred, gt) == pytest.approx(5 / 7)
    assert gaussian_accuracy(gt, gt) == 1.0


def test_gaussian_accuracy_agrees_with_brute_force_and_relabelling():
    rng = np.random.default_rng(8)
    for _ in range(40):
        n = int(rng.integers(5, 40))
        gt = rng.integers(0, 5, size=n).astype(np.int32)
        if not gt.any():
            continue
        pred = np.where(rng.random(n) < 0.6, (gt * 3) % 7, rng.integers(0, 6, size=n))
        pred = pred.astype(np.int32)
        results, _ = brute_matchings(pred, gt)
        best = max(t for t, _ in results)
        labeled = sum(1 for g in gt if g != 0)
        accuracy = gaussian_accuracy(pred, gt)
        assert accuracy == pytest.approx(best / labeled)
        new_ids = np.concatenate([[0], rng.choice(10**6, size=9, replace=False) + 1])
        assert gaussian_accuracy(new_ids[pred], gt) == pytest.approx(accuracy)


def test_gaussian_accuracy_errors():
    with pytest.raises(ValueError, match="1-D of the same length"):
        gaussian_accuracy(np.zeros(3, int), np.zeros(4, int))
    with pytest.raises(ValueError, match="no Gaussian is labeled"):
        gaussian_accuracy(np.zeros(3, int), np.zeros(3, int))
