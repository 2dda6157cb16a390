from __future__ import annotations

import numpy as np
import pytest

from liftstudio.evaluate.mask_simulation import (
    MASK_SOURCES,
    PRESETS,
    MaskNoise,
    SamMask,
    felzenszwalb_label_maps,
    flatten_sam_masks,
    make_masks,
    noise_preset,
    simulate_label_maps,
    simulate_sam_masks,
)

H, W = 120, 160


def _squares(boxes, shape=(H, W)):
    """A map with object i+1 filling boxes[i] = (row0, row1, col0, col1)."""
    gt = np.zeros(shape, dtype=np.int32)
    for i, (r0, r1, c0, c1) in enumerate(boxes):
        gt[r0:r1, c0:c1] = i + 1
    return gt


def _scene(num_views=6, seed=0):
    """Views of 5 discs (some overlapping, some touching) moving a little per view."""
    rng = np.random.default_rng(seed)
    yy, xx = np.mgrid[:H, :W]
    base = np.array([[30, 30, 18], [30, 70, 16], [80, 50, 20], [75, 110, 22], [40, 130, 14]])
    maps = []
    for _ in range(num_views):
        gt = np.zeros((H, W), dtype=np.int32)
        for i, (cy, cx, r) in enumerate(base + rng.integers(-4, 5, size=base.shape)):
            gt[(yy - cy) ** 2 + (xx - cx) ** 2 < r * r] = i + 1
        maps.append(gt)
    return maps


def _partition_matches(a, b):
    """True when a and b split the pixels the same way, up to renaming (0 fixed)."""
    pairs = np.unique(np.stack([a.ravel(), b.ravel()], axis=1), axis=0)
    same_zero = np.array_equal(a == 0, b == 0)
    return same_zero and len(pairs) == len(np.unique(a)) and len(pairs) == len(np.unique(b))


def _iou(a, b):
    return np.logical_and(a, b).sum() / np.logical_or(a, b).sum()


# --------------------------------------------------------------------------- presets


def test_presets_and_unknown_name():
    assert set(PRESETS) == {"clean", "sam-like", "hard"}
    assert noise_preset("sam-like").permute_ids
    assert not noise_preset("clean").permute_ids
    with pytest.raises(ValueError, match="clean, sam-like, hard"):
        noise_preset("sam")
    assert set(MASK_SOURCES) == {"clean", "sam-like", "hard", "felzenszwalb"}


def test_noise_validation():
    with pytest.raises(ValueError, match="over_segment"):
        MaskNoise(over_segment=1.5)
    with pytest.raises(ValueError, match="boundary_jitter_px"):
        MaskNoise(boundary_jitter_px=-1)
    with pytest.raises(ValueError, match="spurious"):
        MaskNoise(spurious=-1.0)


def test_clean_equals_ground_truth():
    maps = _scene()
    maps[0][0, 0] = 7  # an id that only one view has
    out = simulate_label_maps(maps, noise_preset("clean"), seed=3)
    assert len(out) == len(maps)
    for o, g in zip(out, maps, strict=True):
        assert o.dtype == np.int32
        np.testing.assert_array_equal(o, g)
    # Also without any void pixel and through the harness entry point.
    full = [np.full((8, 9), 4, dtype=np.uint8)]
    np.testing.assert_array_equal(make_masks("clean", full, None, 0)[0], full[0])


def test_deterministic_per_seed():
    maps = _scene()
    noise = noise_preset("hard")
    a = simulate_label_maps(maps, noise, seed=11)
    b = simulate_label_maps(maps, noise, seed=11)
    c = simulate_label_maps(maps, noise, seed=12)
    for x, y in zip(a, b, strict=True):
        np.testing.assert_array_equal(x, y)
    assert any(not np.array_equal(x, z) for x, z in zip(a, c, strict=True))
    # A view does not depend on the other views.
    first = simulate_label_maps(maps[:1], noise, seed=11)[0]
    np.testing.assert_array_equal(first, a[0])


# --------------------------------------------------------------------------- effects


def test_permute_ids_keeps_partition_and_changes_ids():
    maps = _scene(num_views=8)
    out = simulate_label_maps(maps, MaskNoise(permute_ids=True), seed=0)
    for o, g in zip(out, maps, strict=True):
        assert _partition_matches(o, g)
    # Object 1's id (read at its pixels) is not the same in every view.
    ids = {int(np.unique(o[g == 1])[0]) for o, g in zip(out, maps, strict=True)}
    assert len(ids) > 1


def test_over_segment_splits_every_object_inside_it():
    maps = _scene(num_views=3)
    out = simulate_label_maps(maps, MaskNoise(over_segment=1.0), seed=5)
    for o, g in zip(out, maps, strict=True):
        assert np.array_equal(o == 0, g == 0)  # nothing lost, nothing added
        for obj in np.unique(g[g > 0]):
            inside = g == obj
            if inside.sum() < 64:
                continue
            parts = np.unique(o[inside])
            assert len(parts) >= 2
            assert len(parts) <= 4
            for p in parts:
                assert p != 0
                assert np.all(g[o == p] == obj)  # each part lies inside the object


def test_under_segment_merges_touching_only():
    # 1 and 2 share an edge; 3 and 4 are 5 px apart.
    gt = _squares([(10, 40, 10, 40), (10, 40, 40, 70), (60, 90, 10, 40), (60, 90, 45, 75)])
    out = simulate_label_maps([gt], MaskNoise(under_segment=1.0), seed=0)[0]
    both = (gt == 1) | (gt == 2)
    merged = np.unique(out[both])
    assert len(merged) == 1 and merged[0] != 0
    assert np.array_equal(out == merged[0], both)
    a, b = np.unique(out[gt == 3]), np.unique(out[gt == 4])
    assert len(a) == 1 and len(b) == 1
    assert a[0] != b[0] and 0 not in (a[0], b[0]) and merged[0] not in (a[0], b[0])


def test_miss_all_gives_zero():
    out = simulate_label_maps(_scene(), MaskNoise(miss=1.0), seed=0)
    assert all(not o.any() for o in out)


def test_boundary_jitter_bounds_and_disjoint():
    jitter = 3
    side = 30
    boxes = [(r, r + side, c, c + side) for r in (10, 70) for c in (10, 60, 110)]
    gt = _squares(boxes, shape=(120, 160))
    noise = MaskNoise(boundary_jitter_px=jitter)
    changed = 0
    for seed in range(3):
        out = simulate_label_maps([gt], noise, seed=seed)[0]
        for obj, (r0, r1, c0, c1) in enumerate(boxes, start=1):
            ids = np.unique(out[r0 + jitter : r1 - jitter, c0 + jitter : c1 - jitter])
            assert len(ids) == 1 and ids[0] != 0  # the core is always kept
            mask = out == ids[0]
            outer = np.zeros_like(mask)
            outer[r0 - jitter : r1 + jitter, c0 - jitter : c1 + jitter] = True
            assert not (mask & ~outer).any()  # never more than `jitter` px out
            iou = _iou(mask, gt == obj)
            assert ((side - 2 * jitter) / side) ** 2 - 1e-9 <= iou <= 1.0
            changed += iou < 1.0
    assert changed > 0

    # Touching objects: jittered SAM-form object masks never overlap.
    touching = _squares([(20, 60, 20, 60), (20, 60, 60, 100), (60, 100, 20, 100)])
    masks = simulate_sam_masks([touching], MaskNoise(boundary_jitter_px=4), seed=1)[0]
    assert len(masks) == 3
    total = np.sum([m.segmentation for m in masks], axis=0)
    assert total.max() == 1


def test_spurious_adds_segments():
    void = [np.zeros((H, W), dtype=np.int32) for _ in range(40)]
    none = simulate_label_maps(void, MaskNoise(spurious=0.0), seed=0)
    assert all(not o.any() for o in none)
    out = simulate_label_maps(void, MaskNoise(spurious=2.0), seed=0)
    counts = [len(np.unique(o[o > 0])) for o in out]
    assert 1.3 <= np.mean(counts) <= 2.7  # Poisson(2)
    # Over objects, spurious ids are new ones: more segments than objects overall.
    maps = _scene()
    out = simulate_label_maps(maps, MaskNoise(spurious=3.0), seed=0)
    gt_max = max(int(g.max()) for g in maps)
    assert any(o.max() > gt_max for o in out)


def test_min_area_removes_small_segments():
    gt = _squares([(5, 12, 5, 12), (20, 40, 20, 40), (50, 60, 50, 60)])  # 49, 400, 100 px
    out = simulate_label_maps([gt], MaskNoise(min_area=100, reference_hw=None), seed=0)[0]
    expected = gt.copy()
    expected[gt == 1] = 0
    np.testing.assert_array_equal(out, expected)
    # Scaled by image area: 100 px at 480×640 is 25 px at 240×320.
    small = _squares([(5, 9, 5, 9), (20, 26, 20, 26)], shape=(240, 320))  # 16, 36 px
    out = simulate_label_maps([small], MaskNoise(min_area=100), seed=0)[0]
    assert not (out == 1).any() and (out[small == 2] == 2).all()


# --------------------------------------------------------------------------- SAM form


def _bbox_of(mask):
    ys, xs = np.nonzero(mask)
    return (xs.min(), ys.min(), xs.max() - xs.min() + 1, ys.max() - ys.min() + 1)


def test_sam_form_fields_and_hierarchy():
    maps = _scene(num_views=2)
    views = simulate_sam_masks(maps, MaskNoise(over_segment=1.0), seed=2)
    assert len(views) == 2
    for masks, gt in zip(views, maps, strict=True):
        areas = [m.area for m in masks]
        assert areas == sorted(areas, reverse=True)
        for m in masks:
            assert isinstance(m, SamMask)
            assert m.segmentation.dtype == bool and m.segmentation.shape == gt.shape
            assert m.area == m.segmentation.sum()
            assert tuple(m.bbox) == _bbox_of(m.segmentation)
            assert 0.88 <= m.predicted_iou <= 1.0 and 0.88 <= m.stability_score <= 1.0
        for obj in np.unique(gt[gt > 0]):
            whole = gt == obj
            if whole.sum() < 64:
                continue
            # The whole object is there, and so are >= 2 parts inside it.
            assert any(np.array_equal(m.segmentation, whole) for m in masks)
            parts = [
                m
                for m in masks
                if (m.segmentation & whole).any() and not np.array_equal(m.segmentation, whole)
            ]
            assert len(parts) >= 2
            assert all(not (p.segmentation & ~whole).any() for p in parts)
        # Flattening gives back a partition where every object is split.
        flat = flatten_sam_masks(masks, gt.shape)
        assert np.array_equal(flat == 0, gt == 0)


def test_sam_form_matches_label_form_and_scores_spurious_lower():
    maps = _scene(num_views=3)
    noise = MaskNoise(spurious=2.0, boundary_jitter_px=2, over_segment=0.5)
    labels = simulate_label_maps(maps, noise, seed=4)
    sams = simulate_sam_masks(maps, noise, seed=4)
    for lab, masks in zip(labels, sams, strict=True):
        assert _partition_matches(flatten_sam_masks(masks, lab.shape), lab)
    clean = simulate_sam_masks(maps, MaskNoise(), seed=4)
    noisy = [m.predicted_iou for v in sams for m in v]
    assert min(noisy) < min(m.predicted_iou for v in clean for m in v)


def test_flatten_paints_larger_first():
    big = np.zeros((20, 20), dtype=bool)
    big[2:18, 2:18] = True
    small = np.zeros_like(big)
    small[5:8, 5:8] = True
    masks = [
        SamMask(small, 9, (5, 5, 3, 3), 0.9, 0.9),
        {"segmentation": big, "area": 256},  # SAM's own dict form
    ]
    flat = flatten_sam_masks(masks, (20, 20))
    assert flat.dtype == np.int32
    assert (flat[small] == 2).all()
    assert (flat[big & ~small] == 1).all()
    assert (flat[~big] == 0).all()
    with pytest.raises(ValueError, match="shape"):
        flatten_sam_masks(masks, (10, 10))


# --------------------------------------------------------------------------- felzenszwalb


def test_felzenszwalb_finds_flat_rectangles():
    img = np.full((240, 320, 3), 0.05, dtype=np.float32)
    rects = [(30, 110, 30, 130), (40, 200, 170, 290), (140, 220, 60, 150)]
    colours = [(0.9, 0.2, 0.2), (0.2, 0.8, 0.3), (0.3, 0.4, 0.95)]
    for (r0, r1, c0, c1), colour in zip(rects, colours, strict=True):
        img[r0:r1, c0:c1] = colour
    noisy = img + np.random.default_rng(0).normal(0, 0.01, img.shape).astype(np.float32)
    for image in (img, np.clip(noisy, 0, 1)):  # (flat colours: smoothed edges give ramps)
        seg = felzenszwalb_label_maps([image])[0]
        assert seg.dtype == np.int32 and seg.min() == 1
        for r0, r1, c0, c1 in rects:
            truth = np.zeros(seg.shape, dtype=bool)
            truth[r0:r1, c0:c1] = True
            best = max(_iou(seg == s, truth) for s in np.unique(seg[truth]))
            assert best > 0.9

    void = np.zeros((240, 320), dtype=bool)
    void[:, :20] = True
    seg = felzenszwalb_label_maps([img], void_masks=[void])[0]
    assert (seg[void] == 0).all() and (seg[~void] >= 1).all()
    assert set(np.unique(seg)) == set(range(int(seg.max()) + 1))


def test_make_masks_felzenszwalb_uses_void():
    gt = _squares([(20, 60, 20, 80)])
    img = np.zeros((H, W, 3), dtype=np.float32)
    img[gt == 1] = (0.8, 0.6, 0.1)
    out = make_masks("felzenszwalb", [gt], [img], seed=0)[0]
    assert (out[gt == 0] == 0).all()
    assert max(_iou(out == s, gt == 1) for s in np.unique(out[gt == 1])) > 0.9
    with pytest.raises(ValueError, match="images"):
        make_masks("felzenszwalb", [gt], None, seed=0)


# --------------------------------------------------------------------------- validation


def test_input_validation():
    gt = _squares([(10, 20, 10, 20)])
    with pytest.raises(ValueError, match="integer"):
        simulate_label_maps([gt.astype(float)], MaskNoise(), 0)
    with pytest.raises(ValueError, match="single 2D array"):
        simulate_label_maps(gt, MaskNoise(), 0)
    with pytest.raises(ValueError, match="negative"):
        simulate_label_maps([gt - 1], MaskNoise(), 0)
    with pytest.raises(ValueError, match=r"gt_maps\[1\]"):
        simulate_label_maps([gt, gt[0]], MaskNoise(), 0)
    with pytest.raises(ValueError, match="seed"):
        simulate_label_maps([gt], MaskNoise(), -1)
    with pytest.raises(ValueError, match="felzenszwalb"):
        make_masks("sam", [gt], None, 0)
    with pytest.raises(ValueError, match=r"images\[0\]"):
        make_masks("clean", [gt], [np.zeros((H, W + 1, 3), np.float32)], 0)
    with pytest.raises(ValueError, match="gt_maps has 2"):
        make_masks("clean", [gt, gt], [np.zeros((H, W, 3), np.float32)], 0)
