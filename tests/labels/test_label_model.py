"""The Qt-free label model: ids, counts, names, events."""

from __future__ import annotations

import numpy as np
import pytest

from liftstudio.labels import LabelModel, Selection, instance_colour, palette


def test_replace_assign_counts_and_events():
    model = LabelModel(10)
    events = []
    unsubscribe = model.subscribe(events.append)
    model.replace_all(np.array([0, 1, 1, 2, 2, 2, 0, 5, 5, 5]), names={2: "chair"})
    assert [(i.id, i.name, i.count) for i in model.instances()] == [
        (1, "instance_1", 2), (2, "chair", 3), (5, "instance_5", 3)
    ]  # fmt: skip
    assert events[-1].indices is None and events[-1].source == "lift"
    model.assign(np.array([0, 3, 3, 9]), 7)
    assert events[-1].indices.tolist() == [0, 3, 9]
    expected = np.array([7, 1, 1, 7, 2, 2, 0, 5, 5, 7])
    np.testing.assert_array_equal(model.ids, expected)
    for instance in model.instances():
        assert instance.count == int((expected == instance.id).sum())
    assert model.count(0) == 1 and model.max_id == 7
    assert model.instance(7).colour == instance_colour(7)
    with pytest.raises(ValueError):
        model.ids[0] = 3  # read-only: edits go through the model
    unsubscribe()
    model.assign(np.array([1]), 0)
    assert len(events) == 2


@pytest.mark.parametrize(
    "labels", [np.zeros(9, np.int64), np.full(10, -1), np.full(10, 0.5), np.full(10, 2**31)]
)
def test_bad_labels_are_refused(labels):
    with pytest.raises(ValueError):
        LabelModel(10).replace_all(labels)


def test_assign_out_of_range_is_refused():
    with pytest.raises(IndexError):
        LabelModel(4).assign(np.array([4]), 1)


def test_selection_reports_only_flips():
    selection = Selection(6)
    events = []
    selection.subscribe(events.append)
    selection.replace(np.array([1, 2]))
    selection.replace(np.array([2, 3]))
    assert [e.indices.tolist() for e in events] == [[1, 2], [1, 3]]
    selection.replace(np.array([2, 3]))
    assert len(events) == 2
    selection.clear()
    assert selection.indices().size == 0


def test_palette_is_the_instance_colours():
    table = palette(40)
    assert table.shape == (41, 3) and table.dtype == np.uint8
    assert [tuple(c) for c in table] == [instance_colour(i) for i in range(41)]
    assert len({tuple(c) for c in table[1:]}) == 40
