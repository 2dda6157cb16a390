"""The selection actions (all/none/invert, grow/shrink over the kNN graph) and the range dialog.

Every expectation is computed here from the scene's raw arrays (logits, log scales)
or from a freshly built kNN graph, never through the functions the actions call.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pytest
from PySide6.QtCore import Qt
from PySide6.QtGui import QKeySequence
from PySide6.QtWidgets import QApplication, QMainWindow

from liftstudio.app.document import SceneDocument
from liftstudio.app.instance_actions import InstanceActions
from liftstudio.app.jobs import JobQueue, JobState
from liftstudio.app.panels import InstancesPanel
from liftstudio.app.range_select_dialog import MEASURES, RangeSelectDialog
from liftstudio.app.scribble import NEIGHBOURS
from liftstudio.app.selection_actions import SelectionActions
from liftstudio.app.viewport.tools import TOOL_SHORTCUTS
from liftstudio.lift.knn_graph import build_knn_graph

CTRL = Qt.KeyboardModifier.ControlModifier
SHIFT = Qt.KeyboardModifier.ShiftModifier
WAIT_MS = 60_000


@dataclass
class Host:
    window: QMainWindow
    jobs: JobQueue
    actions: SelectionActions
    doc: SceneDocument
    cache: Path

    @property
    def n(self) -> int:
        return len(self.doc.gaussians)


@pytest.fixture
def host(qtbot, demo_document, tmp_path, monkeypatch, no_leaked_threads):
    cache = tmp_path / "cache"
    monkeypatch.setenv("LIFTSTUDIO_CACHE_DIR", str(cache))
    window = QMainWindow()
    qtbot.addWidget(window)
    jobs = JobQueue(window)
    actions = SelectionActions(window, jobs)
    actions.set_document(demo_document)
    window.resize(500, 400)
    window.show()
    qtbot.waitExposed(window)
    window.activateWindow()
    qtbot.waitUntil(lambda: QApplication.activeWindow() is window)
    yield Host(window, jobs, actions, demo_document, cache)
    if actions.range_dialog is not None:
        actions.range_dialog.reject()
    assert jobs.shutdown(timeout_ms=WAIT_MS)


@pytest.fixture(scope="module")
def fresh_graph(demo_opened):
    """The demo scene's kNN graph, built here without any cache."""
    return build_knn_graph(demo_opened.gaussians.means, NEIGHBOURS)


def press(qtbot, host: Host, key: Qt.Key, modifiers=Qt.KeyboardModifier.NoModifier) -> None:
    qtbot.keyClick(host.window, key, modifiers)
    qtbot.wait(1)


def wait_for_graph(qtbot, host: Host) -> None:
    qtbot.waitUntil(lambda: host.actions.graph is not None, timeout=WAIT_MS)
    qtbot.waitUntil(lambda: host.actions.graph_job is None, timeout=WAIT_MS)


def brute_grow(mask: np.ndarray, neighbors: np.ndarray) -> np.ndarray:
    """One undirected kNN step by looping over the edges as Python sets."""
    n = len(mask)
    undirected: list[set[int]] = [set() for _ in range(n)]
    for i, row in enumerate(neighbors.tolist()):
        for j in row:
            undirected[i].add(j)
            undirected[j].add(i)
    out = mask.copy()
    for i in np.flatnonzero(mask):
        out[list(undirected[i])] = True
    return out


def brute_shrink(mask: np.ndarray, neighbors: np.ndarray) -> np.ndarray:
    """Keep the selected nodes all of whose (undirected) neighbours are selected."""
    n = len(mask)
    has_unselected = np.zeros(n, dtype=bool)
    src = np.repeat(np.arange(n), neighbors.shape[1])
    dst = neighbors.ravel()
    # an edge i—j with one end unselected marks the other end
    np.logical_or.at(has_unselected, src, ~mask[dst])
    np.logical_or.at(has_unselected, dst, ~mask[src])
    return mask & ~has_unselected


def ball(doc: SceneDocument, radius_fraction: float = 0.15) -> np.ndarray:
    """The Gaussians within a ball around the scene's median centre."""
    means = doc.gaussians.means.astype(np.float64)
    centre = np.median(means, axis=0)
    extent = np.linalg.norm(means.max(axis=0) - means.min(axis=0))
    return np.flatnonzero(np.linalg.norm(means - centre, axis=1) < radius_fraction * extent)


def mask_of(indices: np.ndarray, n: int) -> np.ndarray:
    mask = np.zeros(n, dtype=bool)
    mask[indices] = True
    return mask


def sigmoid_opacity(doc: SceneDocument) -> np.ndarray:
    logits = doc.gaussians.logit_opacities.astype(np.float64)
    return (1.0 / (1.0 + np.exp(-logits))).astype(np.float32)


# ---------------------------------------------------------------------------- all / none / invert
def test_ctrl_a_selects_all_ctrl_shift_a_none_ctrl_i_inverts(qtbot, host):
    n = host.n
    press(qtbot, host, Qt.Key.Key_A, CTRL)
    np.testing.assert_array_equal(host.doc.selection.indices(), np.arange(n))
    press(qtbot, host, Qt.Key.Key_A, CTRL | SHIFT)
    assert host.doc.selection.indices().size == 0

    picked = np.arange(0, n, 7)
    host.doc.selection.replace(picked)
    press(qtbot, host, Qt.Key.Key_I, CTRL)
    expected = np.setdiff1d(np.arange(n), picked)
    np.testing.assert_array_equal(host.doc.selection.indices(), expected)
    press(qtbot, host, Qt.Key.Key_I, CTRL)
    np.testing.assert_array_equal(host.doc.selection.indices(), picked)


def test_actions_are_disabled_without_a_document(qtbot, host):
    host.actions.set_document(None)
    assert not any(action.isEnabled() for action in host.actions.actions.values())
    host.doc.selection.replace(np.array([1, 2, 3]))
    press(qtbot, host, Qt.Key.Key_A, CTRL)
    np.testing.assert_array_equal(host.doc.selection.indices(), [1, 2, 3])
    assert host.actions.grow() is None and host.jobs.jobs == []
    host.actions.set_document(host.doc)
    assert all(action.isEnabled() for action in host.actions.actions.values())


def test_menu_and_shortcut_table(host):
    menu_actions = [a for a in host.actions.menu.actions() if not a.isSeparator()]
    assert set(menu_actions) == set(host.actions.actions.values())
    assert host.actions.menu.title() == "&Select"
    table = dict(host.actions.shortcut_table())
    assert set(table) == {"Ctrl+A", "Ctrl+Shift+A", "Ctrl+I", "Ctrl+= / Ctrl++", "Ctrl+-"}
    for action in host.actions.actions.values():
        assert action.shortcutContext() == Qt.ShortcutContext.WindowShortcut
        assert action in host.window.actions()


def test_shortcuts_do_not_clash_with_the_other_shortcuts(qtbot, host):
    panel = InstancesPanel()
    qtbot.addWidget(panel)
    other_window = QMainWindow()
    qtbot.addWidget(other_window)
    instance_actions = InstanceActions(other_window, panel)
    taken = {
        seq.toString() for action in instance_actions.actions.values() for seq in action.shortcuts()
    }
    taken |= {QKeySequence(key).toString() for key in TOOL_SHORTCUTS.values()}
    taken |= {"W", "A", "S", "D", "Q", "E", "F", "Shift+F", "[", "]"}
    taken |= {QKeySequence(key).toString() for key in ("Ctrl+O", "Ctrl+Shift+O", "Ctrl+S",
                                                        "Ctrl+W", "Ctrl+Q", "Ctrl+L")}  # fmt: skip
    mine = {seq.toString() for a in host.actions.actions.values() for seq in a.shortcuts()}
    assert mine and not (mine & taken)


# ---------------------------------------------------------------------------- grow / shrink
def test_grow_builds_the_graph_once_in_a_job_then_grows_at_once(qtbot, host, fresh_graph):
    n = host.n
    start = ball(host.doc, 0.05)
    assert 0 < start.size < n // 4
    host.doc.selection.replace(start)

    press(qtbot, host, Qt.Key.Key_Equal, CTRL)
    (job,) = host.jobs.jobs
    assert host.actions.graph_job is job
    if host.actions.graph is None:  # the grow waits for the graph
        np.testing.assert_array_equal(host.doc.selection.indices(), start)
    wait_for_graph(qtbot, host)
    assert job.state is JobState.SUCCEEDED
    np.testing.assert_array_equal(host.actions.graph.neighbors, fresh_graph.neighbors)
    assert list(host.cache.glob("graphs/*.npz")), "the graph is cached in $LIFTSTUDIO_CACHE_DIR"

    once = brute_grow(mask_of(start, n), fresh_graph.neighbors)
    assert once.sum() > start.size
    np.testing.assert_array_equal(host.doc.selection.indices(), np.flatnonzero(once))

    press(qtbot, host, Qt.Key.Key_Equal, CTRL)  # immediate: no new job
    assert len(host.jobs.jobs) == 1 and host.actions.graph_job is None
    twice = brute_grow(once, fresh_graph.neighbors)
    assert twice.sum() > once.sum()
    np.testing.assert_array_equal(host.doc.selection.indices(), np.flatnonzero(twice))

    press(qtbot, host, Qt.Key.Key_Plus, CTRL)  # Ctrl++ grows too
    thrice = brute_grow(twice, fresh_graph.neighbors)
    np.testing.assert_array_equal(host.doc.selection.indices(), np.flatnonzero(thrice))
    assert len(host.jobs.jobs) == 1


def test_shrink_erodes_the_selection_by_one_step(qtbot, host, fresh_graph):
    n = host.n
    start = ball(host.doc, 0.2)
    host.doc.selection.replace(start)
    press(qtbot, host, Qt.Key.Key_Minus, CTRL)
    wait_for_graph(qtbot, host)
    once = brute_shrink(mask_of(start, n), fresh_graph.neighbors)
    assert 0 < once.sum() < start.size
    np.testing.assert_array_equal(host.doc.selection.indices(), np.flatnonzero(once))

    press(qtbot, host, Qt.Key.Key_Minus, CTRL)
    twice = brute_shrink(once, fresh_graph.neighbors)
    assert twice.sum() < once.sum()
    np.testing.assert_array_equal(host.doc.selection.indices(), np.flatnonzero(twice))
    assert len(host.jobs.jobs) == 1


def test_presses_while_the_graph_builds_are_queued_in_one_job(qtbot, host, fresh_graph):
    n = host.n
    start = ball(host.doc, 0.1)
    host.doc.selection.replace(start)
    job = host.actions.grow()
    assert job is not None
    assert host.actions.grow() is job  # no second graph job
    assert host.actions.shrink() is job
    assert host.actions.pending == ["grow", "grow", "shrink"]
    assert len(host.jobs.jobs) == 1
    ready = []
    host.actions.graphReady.connect(ready.append)
    wait_for_graph(qtbot, host)
    assert len(ready) == 1 and host.actions.pending == []
    expected = mask_of(start, n)
    expected = brute_grow(brute_grow(expected, fresh_graph.neighbors), fresh_graph.neighbors)
    expected = brute_shrink(expected, fresh_graph.neighbors)
    np.testing.assert_array_equal(host.doc.selection.indices(), np.flatnonzero(expected))
    assert len(host.jobs.jobs) == 1


def test_the_graph_is_not_applied_to_another_document(qtbot, host, demo_opened, fresh_graph):
    start = ball(host.doc, 0.05)
    host.doc.selection.replace(start)
    job = host.actions.grow()
    assert job is not None
    other = SceneDocument(demo_opened)
    try:
        host.actions.set_document(other)
        assert host.actions.pending == []
        qtbot.waitUntil(lambda: job.state.is_final, timeout=WAIT_MS)
        qtbot.wait(1)
        np.testing.assert_array_equal(host.doc.selection.indices(), start)
        assert other.selection.indices().size == 0
        assert host.actions.graph is None and host.actions.graph_job is None

        # the new document builds its own graph (a second job only after the first ended)
        picked = ball(other, 0.05)
        other.selection.replace(picked)
        host.actions.grow()
        wait_for_graph(qtbot, host)
        expected = brute_grow(mask_of(picked, host.n), fresh_graph.neighbors)
        np.testing.assert_array_equal(other.selection.indices(), np.flatnonzero(expected))
        np.testing.assert_array_equal(host.doc.selection.indices(), start)
    finally:
        host.actions.set_document(None)
        other.close()


def test_a_new_document_queues_behind_the_old_graph_job(qtbot, host, demo_opened, fresh_graph):
    host.doc.selection.replace(ball(host.doc, 0.05))
    old_job = host.actions.grow()
    other = SceneDocument(demo_opened)
    try:
        host.actions.set_document(other)
        picked = ball(other, 0.05)
        other.selection.replace(picked)
        if host.actions.graph_job is old_job:  # still winding down: the press waits for it
            assert host.actions.grow() is old_job
            assert len(host.jobs.jobs) == 1
        else:
            host.actions.grow()
        wait_for_graph(qtbot, host)
        assert len(host.jobs.jobs) == 2
        expected = brute_grow(mask_of(picked, host.n), fresh_graph.neighbors)
        np.testing.assert_array_equal(other.selection.indices(), np.flatnonzero(expected))
    finally:
        host.actions.set_document(None)
        other.close()


def test_grow_without_a_selection_only_hints(qtbot, host):
    press(qtbot, host, Qt.Key.Key_Equal, CTRL)
    assert host.jobs.jobs == []
    assert host.actions.last_message == "Select Gaussians first"
    assert host.window.statusBar().currentMessage() == "Select Gaussians first"


# ---------------------------------------------------------------------------- range dialog
def open_dialog(qtbot, host: Host) -> RangeSelectDialog:
    host.actions.actions["by_range"].trigger()
    dialog = host.actions.range_dialog
    assert isinstance(dialog, RangeSelectDialog)
    qtbot.waitExposed(dialog)
    return dialog


def test_dialog_previews_an_opacity_range_and_accept_keeps_it(qtbot, host):
    base = np.arange(0, host.n, 5)
    host.doc.selection.replace(base)
    dialog = open_dialog(qtbot, host)
    assert not dialog.isModal()
    assert host.actions.open_range_dialog() is dialog  # raised, not opened twice
    np.testing.assert_array_equal(host.doc.selection.indices(), base)  # opening changes nothing

    op = sigmoid_opacity(host.doc)
    np.testing.assert_allclose(dialog.values(), op, rtol=0, atol=0)
    assert dialog.limits() == (float(op.min()), float(op.max()))
    lo = float(np.quantile(op, 0.2))
    hi = float(np.quantile(op, 0.6))
    dialog.set_range(lo, hi)
    expected = np.flatnonzero((op >= lo) & (op <= hi))
    assert 0 < expected.size < host.n
    np.testing.assert_array_equal(host.doc.selection.indices(), expected)
    assert dialog.region.getRegion() == pytest.approx((lo, hi))
    assert dialog.lo_spin.value() == pytest.approx(lo, abs=1e-4)
    assert dialog.hi_spin.value() == pytest.approx(hi, abs=1e-4)
    assert f"{expected.size:,} of" in dialog.count_label.text()

    dialog.buttons.button(dialog.buttons.StandardButton.Ok).click()
    qtbot.waitUntil(lambda: host.actions.range_dialog is None)
    np.testing.assert_array_equal(host.doc.selection.indices(), expected)


def test_dragging_the_region_previews_live_and_updates_the_spin_boxes(qtbot, host):
    dialog = open_dialog(qtbot, host)
    op = sigmoid_opacity(host.doc)
    lo, hi = float(np.quantile(op, 0.1)), float(np.quantile(op, 0.3))
    dialog.region.setRegion((hi, lo))  # as a drag does; the order does not matter
    expected = np.flatnonzero((op >= lo) & (op <= hi))
    qtbot.waitUntil(lambda: np.array_equal(host.doc.selection.indices(), expected))
    assert dialog.range() == pytest.approx((lo, hi))
    assert dialog.lo_spin.value() == pytest.approx(lo, abs=1e-4)
    assert dialog.hi_spin.value() == pytest.approx(hi, abs=1e-4)

    dialog.hi_spin.setValue(float(op.max()))  # typing a bound moves the region
    new_hi = dialog.hi_spin.value()
    assert dialog.region.getRegion()[1] == pytest.approx(new_hi)
    expected = np.flatnonzero((op >= lo) & (op <= new_hi))
    qtbot.waitUntil(lambda: np.array_equal(host.doc.selection.indices(), expected))


@pytest.mark.parametrize("mode", ["add", "subtract", "intersect"])
def test_dialog_combines_the_range_with_the_starting_selection(qtbot, host, mode):
    base = ball(host.doc, 0.2)
    host.doc.selection.replace(base)
    dialog = open_dialog(qtbot, host)
    op = sigmoid_opacity(host.doc)
    lo, hi = float(np.quantile(op, 0.3)), float(np.quantile(op, 0.8))
    dialog.set_range(lo, hi)
    dialog.set_mode(mode)
    assert dialog.mode_combo.currentData() == mode
    in_range = (op >= lo) & (op <= hi)
    base_mask = mask_of(base, host.n)
    expected = {
        "add": base_mask | in_range,
        "subtract": base_mask & ~in_range,
        "intersect": base_mask & in_range,
    }[mode]
    assert expected.sum() > 0 and not np.array_equal(expected, base_mask)
    np.testing.assert_array_equal(host.doc.selection.indices(), np.flatnonzero(expected))

    dialog.mode_combo.setCurrentIndex(dialog.mode_combo.findData("replace"))  # the combo too
    qtbot.waitUntil(lambda: np.array_equal(host.doc.selection.indices(), np.flatnonzero(in_range)))


@pytest.mark.parametrize("how", ["cancel", "escape", "close"])
def test_reject_restores_the_starting_selection_exactly(qtbot, host, how):
    base = np.sort(np.random.default_rng(3).choice(host.n, 777, replace=False))
    host.doc.selection.replace(base)
    dialog = open_dialog(qtbot, host)
    dialog.set_mode("add")
    dialog.set_range(*dialog.limits())
    assert host.doc.selection.indices().size == host.n
    if how == "cancel":
        dialog.buttons.button(dialog.buttons.StandardButton.Cancel).click()
    elif how == "escape":
        qtbot.keyClick(dialog, Qt.Key.Key_Escape)
    else:
        dialog.close()
    qtbot.waitUntil(lambda: host.actions.range_dialog is None)
    np.testing.assert_array_equal(host.doc.selection.indices(), base)


def test_size_measure_is_log10_of_the_largest_axis(qtbot, host):
    dialog = open_dialog(qtbot, host)
    dialog.set_measure("size")
    assert dialog.measure_combo.currentText() == MEASURES["size"]
    expected_values = np.log10(np.exp(host.doc.gaussians.log_scales.astype(np.float64)).max(1))
    np.testing.assert_allclose(dialog.values(), expected_values, rtol=1e-5, atol=1e-6)
    assert dialog.range() == pytest.approx(dialog.limits())  # a new measure: its full range
    lo, hi = np.quantile(expected_values, [0.9, 1.0])
    dialog.set_range(lo, hi)
    values = dialog.values()
    np.testing.assert_array_equal(
        host.doc.selection.indices(), np.flatnonzero((values >= lo) & (values <= hi))
    )
    # computed once per open: the same array comes back
    assert dialog.values() is values
    dialog.set_measure("opacity")
    assert dialog.values() is dialog.values()
    with pytest.raises(ValueError):
        dialog.set_measure("volume")
    with pytest.raises(ValueError):
        dialog.set_range(0.5, 0.1)
    with pytest.raises(ValueError):
        dialog.set_mode("xor")


def test_size_of_zero_gets_a_finite_value(qapp, demo_opened):
    from liftstudio.app.range_select_dialog import measure_values

    gaussians = demo_opened.gaussians.subset(np.arange(50))
    gaussians.log_scales[3] = -np.inf  # a size of exactly 0
    opened = dataclasses.replace(demo_opened, gaussians=gaussians)
    doc = SceneDocument(opened)
    try:
        values = measure_values(doc, "size")
        assert np.all(np.isfinite(values))
        assert values[3] == values.min()
        dialog = RangeSelectDialog(doc)
        dialog.set_range(*dialog.limits())
        assert doc.selection.indices().size == 50
        dialog.reject()
        assert doc.selection.indices().size == 0
        dialog.deleteLater()
    finally:
        doc.close()


def test_a_new_document_cancels_the_open_dialog(qtbot, host):
    base = np.arange(10)
    host.doc.selection.replace(base)
    dialog = open_dialog(qtbot, host)
    dialog.set_range(*dialog.limits())
    assert host.doc.selection.indices().size == host.n
    host.actions.set_document(None)
    assert host.actions.range_dialog is None
    np.testing.assert_array_equal(host.doc.selection.indices(), base)
