"""Flattening overlapping mask stacks and their hierarchy, against brute-force references."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

from liftstudio.sources.mask_stacks import MaskStack, flatten_masks, mask_parents


def _reference_label_map(masks: np.ndarray) -> np.ndarray:
    """Per pixel: 1 + the index of the smallest covering mask (ties: the later mask)."""
    count, height, width = masks.shape
    areas = masks.reshape(count, height * width).sum(axis=1)
    out = np.zeros((height, width), dtype=np.int32)
    for y in range(height):
        for x in range(width):
            covering = [i for i in range(count) if masks[i, y, x]]
            if covering:
                best = min(covering, key=lambda i: (areas[i], -i))
                out[y, x] = best + 1
    return out


def _reference_parents(masks: np.ndarray, min_containment: float) -> np.ndarray:
    """Per mask: the smallest strictly larger mask holding >= min_containment of it."""
    count = len(masks)
    areas = [int(m.sum()) for m in masks]
    parents = []
    for child in range(count):
        best = -1
        if areas[child] > 0:
            for other in range(count):
                inside = int((masks[child] & masks[other]).sum())
                qualifies = areas[other] > areas[child] and inside >= min_containment * areas[child]
                if qualifies and (best < 0 or areas[other] < areas[best]):  # ties: the earliest
                    best = other
        parents.append(best)
    return np.array(parents, dtype=np.int32)


stacks = st.tuples(st.integers(0, 6), st.integers(1, 6), st.integers(1, 7)).flatmap(
    lambda shape: hnp.arrays(bool, shape)
)


@settings(max_examples=150, deadline=None)
@given(masks=stacks)
def test_flatten_matches_the_smallest_covering_mask_per_pixel(masks):
    flat = flatten_masks(MaskStack(masks))
    assert flat.label_map.dtype == np.int32 and flat.label_map.shape == masks.shape[1:]
    np.testing.assert_array_equal(flat.label_map, _reference_label_map(masks))
    np.testing.assert_array_equal(flat.visible_ids(), np.setdiff1d(flat.label_map, [0]))


@settings(max_examples=150, deadline=None)
@given(masks=stacks, min_containment=st.sampled_from([0.25, 0.5, 0.9, 1.0]))
def test_parents_match_brute_force(masks, min_containment):
    expected = _reference_parents(masks, min_containment)
    parents = mask_parents(MaskStack(masks), min_containment)
    assert parents.dtype == np.int32
    np.testing.assert_array_equal(parents, expected)
    flat = flatten_masks(MaskStack(masks), min_containment=min_containment)
    np.testing.assert_array_equal(flat.parents, expected)


def _box(y0, y1, x0, x1, shape=(10, 12)) -> np.ndarray:
    mask = np.zeros(shape, dtype=bool)
    mask[y0:y1, x0:x1] = True
    return mask


def test_nested_chair_seat_leg_by_hand():
    chair = _box(1, 9, 1, 9)  # 64 px
    seat = _box(2, 5, 2, 8)  # 18 px, inside the chair
    leg = _box(4, 9, 6, 7)  # 5 px: 1 px in the seat, all in the chair
    other = _box(0, 2, 10, 12)  # 4 px, disjoint
    flat = flatten_masks(MaskStack(np.stack([seat, chair, other, leg])))
    expected = np.zeros((10, 12), dtype=np.int32)
    expected[chair] = 2
    expected[seat] = 1
    expected[leg] = 4  # smallest wins, also over the seat pixel it shares
    expected[other] = 3
    np.testing.assert_array_equal(flat.label_map, expected)
    # leg: 1 of 5 px in the seat (< 90 %), all in the chair -> chair
    np.testing.assert_array_equal(flat.parents, [1, -1, -1, 1])


def test_ties_in_area_later_mask_wins_and_earliest_parent():
    left, right = _box(0, 2, 0, 3), _box(0, 2, 1, 4)  # same area, overlapping
    flat = flatten_masks(MaskStack(np.stack([left, right])))
    assert flat.label_map[0, 1] == 2 and flat.label_map[0, 0] == 1
    np.testing.assert_array_equal(flat.parents, [-1, -1])  # equal areas: neither is larger

    child = _box(0, 1, 0, 1)
    big_a, big_b = _box(0, 3, 0, 3), _box(0, 3, 0, 3)
    parents = mask_parents(MaskStack(np.stack([big_a, child, big_b])))
    np.testing.assert_array_equal(parents, [-1, 0, -1])


def test_containment_threshold_boundary():
    parent = _box(0, 10, 0, 10)
    child = _box(0, 1, 1, 11)  # 10 px, 9 inside the parent
    assert mask_parents(MaskStack(np.stack([parent, child])), 0.9)[1] == 0
    assert mask_parents(MaskStack(np.stack([parent, child])), 0.95)[1] == -1
    child = _box(0, 1, 2, 11)  # 9 px, 8 inside: 0.89 < 0.9
    assert mask_parents(MaskStack(np.stack([parent, child])), 0.9)[1] == -1


def test_empty_stack_single_mask_and_empty_masks():
    flat = flatten_masks(MaskStack(np.zeros((0, 3, 4), dtype=bool)))
    assert flat.label_map.shape == (3, 4) and not flat.label_map.any()
    assert flat.parents.shape == (0,) and len(flat.visible_ids()) == 0
    one = flatten_masks(MaskStack(_box(0, 1, 0, 2, (3, 4))[None]))
    assert one.label_map.sum() == 2 and one.parents.tolist() == [-1]
    # an empty mask has no parent and is no one's parent; a covered mask is not visible
    big, small, empty = _box(0, 3, 0, 4, (3, 4)), _box(0, 3, 0, 4, (3, 4)), np.zeros((3, 4), bool)
    small[0, 0] = False
    flat = flatten_masks(MaskStack(np.stack([empty, big, small])))
    assert flat.parents.tolist() == [-1, -1, 1]
    assert flat.visible_ids().tolist() == [2, 3]


def test_stack_properties_and_scores():
    stack = MaskStack(np.stack([_box(0, 2, 0, 2), _box(0, 1, 0, 3)]), scores=[0.5, 0.75])
    assert len(stack) == 2 and stack.shape == (10, 12)
    assert stack.areas.tolist() == [4, 3] and stack.areas.dtype == np.int64
    assert stack.scores.dtype == np.float32 and stack.scores.tolist() == [0.5, 0.75]


def test_validation_errors():
    with pytest.raises(ValueError, match=r"\(M, H, W\); got shape \(3, 4\)"):
        MaskStack(np.zeros((3, 4), dtype=bool))
    with pytest.raises(ValueError, match="bool masks; got uint8"):
        MaskStack(np.zeros((1, 3, 4), dtype=np.uint8))
    with pytest.raises(ValueError, match="3 scores for 1 masks"):
        MaskStack(np.zeros((1, 3, 4), dtype=bool), scores=[1.0, 2.0, 3.0])
    stack = MaskStack(np.zeros((1, 3, 4), dtype=bool))
    for bad in (0.0, -0.5, 1.5):
        with pytest.raises(ValueError, match="min_containment must be in"):
            flatten_masks(stack, min_containment=bad)
