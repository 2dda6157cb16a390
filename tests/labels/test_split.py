"""Splitting an instance into its connected parts.

The reference for :func:`connected_parts` is an independent brute-force implementation
of the documented definition: a dense distance matrix, ``np.argsort`` for the nearest
neighbours and a plain Python union-find.
"""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from liftstudio.labels import InstanceLockedError, LabelModel
from liftstudio.labels.split import connected_parts, split_instance


# ---------------------------------------------------------------------------- reference
def reference_parts(means, indices, k, gap=None, gap_factor=4.0):
    """The documented definition, brute force: a set of frozensets of indices."""
    chosen = sorted({int(i) for i in indices})
    if not chosen:
        return set()
    node_of_position: dict[tuple[float, ...], int] = {}
    node_of_index = {}
    for i in chosen:
        key = tuple(float(c) for c in means[i])
        node_of_index[i] = node_of_position.setdefault(key, len(node_of_position))
    positions = np.array(list(node_of_position), dtype=np.float64)
    m = len(positions)
    parent = list(range(m))

    def find(a):
        while parent[a] != a:
            parent[a] = parent[parent[a]]
            a = parent[a]
        return a

    if m > 1:
        dist = np.sqrt(((positions[:, None, :] - positions[None, :, :]) ** 2).sum(axis=-1))
        np.fill_diagonal(dist, np.inf)
        kk = min(k, m - 1)
        nearest = np.argsort(dist, axis=1, kind="stable")[:, :kk]
        if gap is None:
            gap = gap_factor * float(np.median(dist.min(axis=1)))
        for a in range(m):
            for b in nearest[a]:
                if dist[a, b] <= gap:
                    parent[find(a)] = find(int(b))
    groups: dict[int, set[int]] = {}
    for i in chosen:
        groups.setdefault(find(node_of_index[i]), set()).add(i)
    return {frozenset(g) for g in groups.values()}


def as_partition(parts):
    return {frozenset(p.tolist()) for p in parts}


def check_layout(parts, indices):
    """Sorted int64 parts, largest first (ties: smallest index first), covering indices."""
    for part in parts:
        assert part.dtype == np.int64
        assert np.all(np.diff(part) > 0)
    keys = [(-p.size, int(p[0])) for p in parts]
    assert keys == sorted(keys)
    together = np.sort(np.concatenate(parts)) if parts else np.zeros(0, np.int64)
    np.testing.assert_array_equal(together, np.unique(indices))


def random_scene(rng, *, extra=0, duplicates=0.0):
    """A few Gaussian clusters of random size and spread; returns (means, indices)."""
    clusters = int(rng.integers(1, 6))
    blocks = []
    for _ in range(clusters):
        size = int(rng.integers(1, 80))
        centre = rng.uniform(-10, 10, 3)
        blocks.append(centre + rng.normal(0, rng.uniform(0.05, 1.5), (size, 3)))
    points = np.concatenate(blocks)
    while len(points) < 50:
        points = np.concatenate([points, rng.uniform(-10, 10, (10, 3))])
    if duplicates:
        copies = rng.random(len(points)) < duplicates
        repeat = rng.integers(1, 12, int(copies.sum()))
        points = np.concatenate([points, np.repeat(points[copies], repeat, axis=0)])
    points = points[:300]
    others = rng.uniform(-10, 10, (extra, 3))  # not in the set: must never bridge parts
    means = np.concatenate([points, others]).astype(np.float32)
    order = rng.permutation(len(means))
    means = means[order]
    indices = np.flatnonzero(order < len(points))
    return means, rng.permutation(indices)


def grid(rng, origin, shape, spacing=0.2):
    """A jittered grid of points (connected at the default gap)."""
    axes = [np.arange(n) * spacing for n in shape]
    points = np.stack(np.meshgrid(*axes, indexing="ij"), axis=-1).reshape(-1, 3)
    return np.asarray(origin) + points + rng.uniform(-0.02, 0.02, points.shape)


# ---------------------------------------------------------------------------- connected_parts
@settings(max_examples=80, deadline=None)
@given(
    seed=st.integers(0, 2**32 - 1),
    k=st.integers(1, 12),
    gap_factor=st.sampled_from([0.0, 0.7, 1.5, 2.5, 4.0, 9.0]),
    explicit_gap=st.one_of(st.none(), st.floats(0.0, 6.0)),
    duplicates=st.sampled_from([0.0, 0.0, 0.2, 0.9]),
    extra=st.integers(0, 60),
)
def test_matches_brute_force_reference(seed, k, gap_factor, explicit_gap, duplicates, extra):
    rng = np.random.default_rng(seed)
    means, indices = random_scene(rng, extra=extra, duplicates=duplicates)
    parts = connected_parts(means, indices, neighbours=k, gap=explicit_gap, gap_factor=gap_factor)
    check_layout(parts, indices)
    expected = reference_parts(means, indices, k, gap=explicit_gap, gap_factor=gap_factor)
    assert as_partition(parts) == expected


@pytest.mark.parametrize("seed", range(5))
def test_matches_reference_on_fixed_seeds(seed):
    rng = np.random.default_rng(1000 + seed)
    means, indices = random_scene(rng, extra=40, duplicates=0.3)
    parts = connected_parts(means, indices, neighbours=4)
    check_layout(parts, indices)
    assert as_partition(parts) == reference_parts(means, indices, 4)


def test_well_separated_blobs_are_exactly_the_blobs():
    rng = np.random.default_rng(0)
    shapes = [(6, 5, 4), (7, 1, 1), (5, 4, 3), (3, 4, 5), (1, 1, 1)]
    sizes = [int(np.prod(s)) for s in shapes]
    centres = np.array([[0, 0, 0], [5, 0, 0], [0, 5, 0], [0, 0, 5], [5, 5, 5]])
    means = np.concatenate([grid(rng, c, s) for c, s in zip(centres, shapes, strict=True)])
    blob = np.repeat(np.arange(len(sizes)), sizes)
    order = rng.permutation(len(means))
    means, blob = means[order], blob[order]
    parts = connected_parts(means, np.arange(len(means)))
    expected = {frozenset(np.flatnonzero(blob == b).tolist()) for b in range(len(sizes))}
    assert as_partition(parts) == expected
    assert [p.size for p in parts] == [120, 60, 60, 7, 1]
    check_layout(parts, np.arange(len(means)))


def test_chain_of_touching_points_is_one_part():
    rng = np.random.default_rng(1)
    x = np.arange(500, dtype=np.float64) + rng.uniform(-0.1, 0.1, 500)
    means = np.stack([x, np.sin(x / 20) * 5, np.zeros(500)], axis=1)
    parts = connected_parts(means, np.arange(500), neighbours=2)
    assert len(parts) == 1 and parts[0].size == 500
    # cut the chain: a jump of 20 spacings splits it in two
    means[250:, 0] += 20
    parts = connected_parts(means, np.arange(500), neighbours=2)
    assert as_partition(parts) == {frozenset(range(250)), frozenset(range(250, 500))}
    assert parts[0][0] == 0  # equal sizes: the part with the smallest index first


def test_points_outside_the_set_never_bridge():
    line = np.stack([np.linspace(0, 30, 31), np.zeros(31), np.zeros(31)], axis=1)
    chosen = np.r_[0:5, 26:31]  # the two ends; the bridge 5..25 is someone else's
    parts = connected_parts(line, chosen, gap=1.5)
    assert as_partition(parts) == {frozenset(range(5)), frozenset(range(26, 31))}
    assert len(connected_parts(line, np.arange(31), gap=1.5)) == 1


def test_tiny_sets():
    means = np.array([[0, 0, 0], [3, 0, 0], [0, 4, 0]], dtype=np.float32)
    assert connected_parts(means, np.zeros(0, np.int64)) == []
    (only,) = connected_parts(means, np.array([2]))
    assert only.tolist() == [2] and only.dtype == np.int64
    assert [p.tolist() for p in connected_parts(means, np.array([2, 0, 2]))] == [[0, 2]]
    assert [p.tolist() for p in connected_parts(means, np.array([1, 2]), gap=4.9)] == [[1], [2]]
    assert [p.tolist() for p in connected_parts(means, np.array([1, 2]), gap=5.0)] == [[1, 2]]
    assert [p.tolist() for p in connected_parts(means, [0, 1, 2], neighbours=1, gap=3)] == [
        [0, 1],
        [2],
    ]


def test_duplicate_positions():
    # every point repeated 12 times (> neighbours): duplicates are one node, so the
    # blobs are found although most nearest-neighbour distances are 0
    rng = np.random.default_rng(2)
    blobs = np.concatenate([rng.normal(0, 0.3, (40, 3)), rng.normal(20, 0.3, (30, 3))])
    means = np.repeat(blobs, 12, axis=0)
    parts = connected_parts(means, np.arange(len(means)))
    assert [p.size for p in parts] == [480, 360]
    assert as_partition(parts) == {frozenset(range(480)), frozenset(range(480, 840))}
    # all at one position: one part
    same = np.ones((25, 3))
    assert [p.size for p in connected_parts(same, np.arange(25))] == [25]
    # two stacks: two distinct positions are each other's nearest, so one part by
    # default, two with a gap shorter than their distance (never split within a stack)
    stacks = np.repeat(np.array([[0.0, 0, 0], [5.0, 0, 0]]), 20, axis=0)
    assert len(connected_parts(stacks, np.arange(40))) == 1
    assert as_partition(connected_parts(stacks, np.arange(40), gap=1.0)) == {
        frozenset(range(20)),
        frozenset(range(20, 40)),
    }
    # -0.0 and 0.0 are the same position
    signed = np.array([[0.0, 0, 0], [-0.0, 0, 0], [9, 9, 9]])
    assert [p.tolist() for p in connected_parts(signed, np.arange(3), gap=0.0)] == [[0, 1], [2]]


def test_non_finite_positions_are_refused():
    means = np.zeros((5, 3))
    means[:, 0] = np.arange(5)
    means[3, 1] = np.nan
    with pytest.raises(ValueError, match=r"finite.*Gaussian 3"):
        connected_parts(means, np.arange(5))
    means[3, 1] = np.inf
    with pytest.raises(ValueError, match="finite"):
        connected_parts(means, np.arange(5))
    # a non-finite Gaussian outside the set does not matter
    assert len(connected_parts(means, np.array([0, 1, 2, 4]), gap=1.0)) == 2


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"means": np.zeros((4, 2))}, "means"),
        ({"indices": np.array([0, 4])}, r"\[0, 4\)"),
        ({"indices": np.array([-1])}, r"\[0, 4\)"),
        ({"indices": np.array([0.5])}, "integer"),
        ({"indices": np.ones(4, bool)}, "integer"),
        ({"neighbours": 0}, "neighbours"),
        ({"neighbours": 2.5}, "neighbours"),
        ({"gap": -1.0}, "gap"),
        ({"gap": np.inf}, "gap"),
        ({"gap_factor": np.nan}, "gap_factor"),
    ],
)
def test_bad_arguments_are_refused(kwargs, match):
    arguments = {"means": np.zeros((4, 3)), "indices": np.arange(4), **kwargs}
    with pytest.raises(ValueError, match=match):
        connected_parts(**arguments)


# ---------------------------------------------------------------------------- split_instance
def split_scene():
    """A model with a three-piece "chair" (3), a "table" (1) between and unlabeled points.

    The chair's pieces have 50, 30 and 3 Gaussians; the table fills the space between
    them (it must not join the pieces).
    """
    rng = np.random.default_rng(5)
    chair = [
        grid(rng, (0, 0, 0), (5, 5, 2)),
        grid(rng, (10, 0, 0), (5, 3, 2)),
        grid(rng, (20, 0, 0), (3, 1, 1)),
    ]
    table = np.stack([np.linspace(0, 20, 60), np.zeros(60), np.zeros(60)], axis=1)
    loose = rng.uniform(-5, 25, (20, 3))
    means = np.concatenate([*chair, table, loose]).astype(np.float32)
    ids = np.concatenate([np.full(83, 3), np.full(60, 1), np.zeros(20, int)])
    order = rng.permutation(len(means))
    model = LabelModel(len(means))
    model.replace_all(ids[order])
    model.update_instance(3, name="chair", class_name="furniture")
    model.update_instance(1, name="table", class_name="furniture")
    model.history.clear()
    pieces = [np.flatnonzero(np.isin(order, r)) for r in (range(50), range(50, 80), range(80, 83))]
    return model, means[order], pieces


def snapshot(model):
    return (
        model.ids.copy(),
        model.confidence.copy(),
        model.provenance_codes.copy(),
        model.instances(),
    )


def assert_same(a, b):
    for x, y in zip(a[:3], b[:3], strict=True):
        np.testing.assert_array_equal(x, y)
    assert a[3] == b[3]


def test_split_moves_parts_to_new_instances_in_one_undo_step():
    model, means, (big, middle, debris) = split_scene()
    before = snapshot(model)
    table_before = model.members(1)
    new = split_instance(model, 3, means, min_size=5)
    assert new == [4]
    np.testing.assert_array_equal(model.members(3), np.sort(np.r_[big, debris]))
    np.testing.assert_array_equal(model.members(4), middle)
    np.testing.assert_array_equal(model.members(1), table_before)
    created = model.instance(4)
    assert (created.name, created.class_name, created.count) == ("chair (2)", "furniture", 30)
    assert not created.locked and created.visible
    assert created.colour != model.instance(3).colour
    assert model.instance(3).name == "chair" and model.instance(1).name == "table"
    assert len(model.history) == 1 and model.history.undo_text == "split"
    after = snapshot(model)

    assert model.undo()
    assert_same(snapshot(model), before)
    assert not model.history.can_undo
    assert model.redo()
    assert_same(snapshot(model), after)


def test_split_every_part_and_number_names():
    model, means, (big, middle, debris) = split_scene()
    model.update_instance(9, name="chair (2)")  # taken: the next copy numbers skip it
    new = split_instance(model, 3, means)
    assert new == [10, 11]
    assert [model.instance(i).name for i in new] == ["chair (3)", "chair (4)"]
    np.testing.assert_array_equal(model.members(10), middle)
    np.testing.assert_array_equal(model.members(11), debris)
    np.testing.assert_array_equal(model.members(3), big)
    # splitting a copy continues the numbering from the base name
    model.update_instance(10, name="chair (3)")
    model.assign(debris, 10)
    assert split_instance(model, 10, means) == [12]
    assert model.instance(12).name == "chair (5)"


def test_split_keeps_hidden_state_and_gives_largest_the_id():
    model, means, (big, middle, debris) = split_scene()
    # make the middle piece the largest: it keeps the id, the big one's remaining
    # slab (its 10 Gaussians of smallest x) moves
    by_x = big[np.argsort(means[big, 0])]
    model.assign(by_x[10:], 0)
    big = np.sort(by_x[:10])
    model.update_instance(3, visible=False)
    new = split_instance(model, 3, means, min_size=4)
    assert new == [4]
    np.testing.assert_array_equal(model.members(3), np.sort(np.r_[middle, debris]))
    np.testing.assert_array_equal(model.members(4), big)
    assert not model.instance(4).visible


def test_connected_instance_is_left_alone():
    model, means, _ = split_scene()
    before = snapshot(model)
    assert split_instance(model, 1, means) == []
    assert split_instance(model, 3, means, min_size=40) == []
    assert_same(snapshot(model), before)
    assert len(model.history) == 0


def test_locked_instance_raises_and_changes_nothing():
    model, means, _ = split_scene()
    model.update_instance(3, locked=True)
    before = snapshot(model)
    steps = len(model.history)
    with pytest.raises(InstanceLockedError, match="chair"):
        split_instance(model, 3, means)
    assert_same(snapshot(model), before)
    assert len(model.history) == steps


@pytest.mark.parametrize("instance_id", [0, -2, 7])
def test_bad_instance_ids_are_refused(instance_id):
    model, means, _ = split_scene()
    with pytest.raises(ValueError, match="instance"):
        split_instance(model, instance_id, means)


def test_bad_split_arguments_are_refused():
    model, means, _ = split_scene()
    with pytest.raises(ValueError, match="means"):
        split_instance(model, 3, means[:-1])
    with pytest.raises(ValueError, match="min_size"):
        split_instance(model, 3, means, min_size=0)
    assert len(model.history) == 0
