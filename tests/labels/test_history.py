"""Undo/redo of the label model: deltas, steps, locks, memory bound, round trips."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from liftstudio.labels import History, InstanceLockedError, LabelModel


def _state(model: LabelModel):
    table = [(i.id, i.name, i.class_name, i.colour, i.visible, i.locked) for i in model.instances()]
    return (
        model.ids.copy(),
        model.confidence.copy(),
        [model.provenance_names()[c] for c in model.provenance_codes],
        table,
    )


def _same(a, b) -> bool:
    return (
        np.array_equal(a[0], b[0])
        and np.array_equal(a[1], b[1], equal_nan=True)
        and a[2] == b[2]
        and a[3] == b[3]
    )


N = 40
edits = st.one_of(
    st.tuples(st.just("assign"), st.lists(st.integers(0, N - 1), max_size=15), st.integers(0, 6)),
    st.tuples(st.just("lift"), st.lists(st.integers(0, 6), min_size=N, max_size=N)),
    st.tuples(st.just("rename"), st.integers(1, 6), st.text(max_size=5)),
    st.tuples(st.just("lock"), st.integers(1, 6), st.booleans()),
    st.tuples(st.just("hide"), st.integers(1, 6), st.booleans()),
    st.tuples(st.just("merge"), st.integers(1, 6), st.integers(1, 6)),
    st.tuples(st.just("delete"), st.integers(1, 6)),
    st.tuples(st.just("new"), st.lists(st.integers(0, N - 1), max_size=10)),
)


def _apply(model: LabelModel, edit) -> None:
    kind = edit[0]
    try:
        if kind == "assign":
            model.assign(np.array(edit[1], dtype=np.int64), edit[2], source="brush")
        elif kind == "lift":
            conf = np.linspace(0, 1, N, dtype=np.float32)
            model.replace_all(np.array(edit[1]), confidence=conf, source="lift:test")
        elif kind == "rename":
            model.rename(edit[1], edit[2])
        elif kind == "lock":
            model.update_instance(edit[1], locked=edit[2])
        elif kind == "hide":
            model.update_instance(edit[1], visible=edit[2])
        elif kind == "merge":
            model.merge([edit[1]], into=edit[2])
        elif kind == "delete":
            model.delete_instance(edit[1])
        else:
            model.new_instance(np.array(edit[1], dtype=np.int64), name="new")
    except InstanceLockedError:
        pass


@settings(max_examples=60, deadline=None)
@given(st.lists(edits, min_size=1, max_size=12))
def test_undo_all_then_redo_all_round_trips(sequence):
    model = LabelModel(N)
    states = [_state(model)]
    for edit in sequence:
        before = len(model.history)
        _apply(model, edit)
        if len(model.history) != before:  # the edit changed something: one step
            states.append(_state(model))
        else:
            assert _same(_state(model), states[-1])
    for expected in reversed(states[:-1]):
        assert model.undo()
        assert _same(_state(model), expected)
    assert not model.undo()
    for expected in states[1:]:
        assert model.redo()
        assert _same(_state(model), expected)
    assert not model.redo()


def test_counts_follow_undo_and_redo():
    model = LabelModel(6)
    model.replace_all(np.array([1, 1, 2, 2, 2, 0]))
    model.assign(np.array([0, 5]), 3)
    model.undo()
    assert [model.count(i) for i in range(4)] == [1, 2, 3, 0]
    model.redo()
    assert [model.count(i) for i in range(4)] == [0, 1, 3, 2]


def test_a_stroke_is_one_step_and_a_new_edit_clears_redo():
    model = LabelModel(10)
    with model.step("brush"):
        model.assign(np.array([1, 2]), 4, source="brush")
        model.assign(np.array([3]), 4, source="brush")
    assert len(model.history) == 1 and model.history.undo_text == "brush"
    model.undo()
    assert model.history.can_redo
    model.assign(np.array([7]), 1)
    assert not model.history.can_redo


def test_locked_instances_survive_edits_and_a_relift():
    model = LabelModel(8)
    model.replace_all(np.array([1, 1, 2, 2, 3, 3, 0, 0]), names={2: "chair"})
    model.update_instance(2, locked=True)
    with pytest.raises(InstanceLockedError):
        model.assign(np.array([0]), 2)
    model.assign(np.arange(8), 5)  # the chair's Gaussians are left alone
    assert model.ids.tolist() == [5, 5, 2, 2, 5, 5, 5, 5]
    # A new lift that uses id 2 elsewhere: the chair keeps 2, the clash moves to a new id.
    model.replace_all(np.array([2, 2, 1, 1, 1, 1, 0, 0]), names={2: "table"})
    ids = model.ids
    assert ids[2:4].tolist() == [2, 2] and model.instance(2).name == "chair"
    assert ids[0] == ids[1] and ids[0] not in (0, 1, 2)
    assert model.instance(int(ids[0])).name == "table"
    with pytest.raises(InstanceLockedError):
        model.delete_instance(2)
    with pytest.raises(InstanceLockedError):
        model.merge([2], into=1)


def test_provenance_and_confidence_record_what_set_each_id():
    model = LabelModel(4)
    model.replace_all(np.array([1, 1, 2, 2]), confidence=np.array([0.9, 0.8, 0.7, 0.6]),
                      source="lift:vote")  # fmt: skip
    model.assign(np.array([3]), 1, source="brush")
    names = model.provenance_names()
    assert [names[c] for c in model.provenance_codes] == ["lift:vote"] * 3 + ["brush"]
    np.testing.assert_allclose(model.confidence, [0.9, 0.8, 0.7, 1.0])


def test_isolate_hide_and_table_events():
    model = LabelModel(6)
    model.replace_all(np.array([1, 2, 3, 1, 2, 3]))
    events = []
    model.subscribe_table(events.append)
    model.isolate([2])
    assert model.hidden_ids() == {1, 3}
    model.unhide_all()
    assert model.hidden_ids() == set()
    model.update_instance(3, colour=(1, 2, 3), class_name="cup")
    assert model.instance(3).colour == (1, 2, 3) and model.instance(3).class_name == "cup"
    assert len(events) == 3
    model.undo()
    assert model.instance(3).class_name is None


def test_history_keeps_the_newest_steps_within_its_budget():
    budget = 6 * 2**20
    model = LabelModel(100_000, history=History(max_steps=1000, max_bytes=budget))
    for k in range(300):
        model.assign(np.arange(k * 100, k * 100 + 1000) % 100_000, k % 7 + 1)
    assert model.history.nbytes <= budget
    kept = len(model.history)
    # 24 bytes per changed Gaussian (index, ids, confidences, provenance before/after)
    assert kept == budget // (24 * 1000)
    for _ in range(kept):
        assert model.undo()
    assert not model.undo()


def test_many_small_steps_are_all_kept():
    model = LabelModel(1000)
    for k in range(250):
        model.assign(np.array([k]), 1 + k % 3)
    assert len(model.history) == 250
