"""Background jobs: worker threads, signal order, cancel, errors, ETA, losses, the panel."""

from __future__ import annotations

import gc
import threading
import time

import numpy as np
import pytest

pytest.importorskip("PySide6.QtWidgets")

from PySide6.QtCore import Qt, QThread, QTimer

from liftstudio.app.jobs import Job, JobQueue, JobsPanel, JobState, show_job_error
from liftstudio.errors import InputFileError
from liftstudio.lift.feature_training import loss_from_message, run_steps

WAIT_MS = 5000


@pytest.fixture
def queue(qapp):
    queue = JobQueue()
    yield queue
    assert queue.shutdown(timeout_ms=WAIT_MS)


def _blocked_until(gate: threading.Event, *reports: tuple[int, int, str]):
    """A job function that reports, then waits for ``gate`` while checking cancel."""

    def function(progress, cancel):
        for report in reports:
            progress(*report)
        deadline = time.perf_counter() + 10
        while not gate.wait(0.005):
            cancel.raise_if_cancelled()
            assert time.perf_counter() < deadline, "the test never opened the gate"
        return "opened"

    return function


def _wait_ended(qtbot, job: Job) -> None:
    qtbot.waitUntil(lambda: job.state.is_final, timeout=WAIT_MS)


def _qthreads_running() -> list[QThread]:
    gc.collect()
    return [o for o in gc.get_objects() if issubclass(type(o), QThread) and o.isRunning()]


# -- Job ------------------------------------------------------------------------------


def test_job_runs_in_a_worker_thread_and_signals_arrive_in_order(qtbot, queue):
    ui_thread = threading.get_ident()
    events = []

    def function(progress, cancel):
        events.append(("function", threading.get_ident()))
        for done in (1, 2, 3):
            progress(done, 3, f"view {done}/3")
        return 42

    gate = threading.Event()
    queue.submit("blocker", _blocked_until(gate))
    job = queue.submit(
        "demo",
        function,
        on_success=lambda result: events.append(("on_success", result, threading.get_ident())),
    )
    job.finished.connect(lambda: events.append(("finished", threading.get_ident())))
    assert job.state is JobState.QUEUED and job.log == []
    signals_and_args = [
        (job.stateChanged, (JobState.RUNNING,)),
        (job.progressed, (1, 3, "view 1/3")),
        (job.progressed, (2, 3, "view 2/3")),
        (job.progressed, (3, 3, "view 3/3")),
        (job.stateChanged, (JobState.SUCCEEDED,)),
        (job.succeeded, (42,)),
        (job.finished, ()),
    ]
    with qtbot.waitSignals(
        [signal for signal, _ in signals_and_args],
        order="strict",
        timeout=WAIT_MS,
        check_params_cbs=[lambda *a, e=args: a == e for _, args in signals_and_args],
    ):
        gate.set()

    assert events[0][1] != ui_thread
    assert events[1:] == [("on_success", 42, ui_thread), ("finished", ui_thread)]
    assert job.state is JobState.SUCCEEDED and job.result == 42
    assert (job.done, job.total) == (3, 3)
    assert "started" in job.log[0] and "view 3/3" in job.log[3] and "succeeded" in job.log[-1]
    assert job.log[0].startswith("[") and job.elapsed_seconds > 0


def test_log_drops_consecutive_repeats_and_keeps_empty_messages_out(qtbot, queue):
    def function(progress, cancel):
        for done, message in enumerate(["load", "load", "", "fit", "load"]):
            progress(done, 5, message)

    job = queue.submit("repeats", function)
    _wait_ended(qtbot, job)
    messages = [line.split("] ", 1)[1] for line in job.log]
    assert messages[1:-1] == ["load", "fit", "load"]


def test_cancel_mid_run_ends_cancelled_without_on_success(qtbot, queue):
    results = []

    def function(progress, cancel):
        for step in range(500):
            cancel.raise_if_cancelled()
            progress(step + 1, 500, "")
            time.sleep(0.01)
        return "finished all 500"

    job = queue.submit("long", function, on_success=results.append)
    qtbot.waitUntil(lambda: job.done >= 3, timeout=WAIT_MS)
    with qtbot.waitSignals([job.cancelled, job.finished], order="strict", timeout=WAIT_MS):
        job.cancel()
    assert job.state is JobState.CANCELLED
    assert results == [] and job.result is None
    assert job.done < 500 and job.elapsed_seconds < 4
    assert job.eta_seconds() is None
    assert queue.running_job is None


def test_a_queued_job_cancelled_before_it_starts_never_runs(qtbot, queue):
    gate = threading.Event()
    ran = []
    first = queue.submit("first", _blocked_until(gate))
    second = queue.submit("second", lambda progress, cancel: ran.append(True))
    third = queue.submit("third", lambda progress, cancel: "third ran")
    assert queue.running_job is first
    assert second.state is JobState.QUEUED

    with qtbot.waitSignals([second.stateChanged, second.cancelled, second.finished]):
        second.cancel()
    assert second.state is JobState.CANCELLED and second.elapsed_seconds == 0

    gate.set()
    _wait_ended(qtbot, third)
    assert ran == []
    assert [job.state for job in queue.jobs] == [
        JobState.SUCCEEDED,
        JobState.CANCELLED,
        JobState.SUCCEEDED,
    ]
    assert third.result == "third ran"


def test_jobs_run_one_at_a_time_in_submission_order(qtbot, queue):
    order = []

    def record(name):
        def function(progress, cancel):
            order.append((name, "start"))
            time.sleep(0.02)
            order.append((name, "end"))

        return function

    jobs = [queue.submit(name, record(name)) for name in "abc"]
    _wait_ended(qtbot, jobs[-1])
    assert order == [(n, e) for n in "abc" for e in ("start", "end")]


def test_an_exception_fails_the_job_and_the_app_keeps_running(qtbot, queue):
    def broken(progress, cancel):
        progress(1, 2, "halfway")
        raise ValueError("weights must be positive")

    with qtbot.waitSignal(queue.jobFinished, timeout=WAIT_MS):
        job = queue.submit("broken", broken)
    assert job.state is JobState.FAILED
    assert job.error_message == "ValueError: weights must be positive"
    assert "Traceback" in job.error_details and "in broken" in job.error_details
    assert "failed: ValueError: weights must be positive" in job.log[-1]

    later = queue.submit("later", lambda progress, cancel: "still alive")
    _wait_ended(qtbot, later)
    assert later.result == "still alive"


def test_failed_signal_carries_message_and_traceback(qtbot, queue):
    def missing(progress, cancel):
        raise InputFileError("scene.ply", "no such file; pick the trained scene's PLY")

    with qtbot.waitSignal(queue.jobAdded) as added:
        queue.submit("open", missing)
    job = added.args[0]
    with qtbot.waitSignal(job.failed, timeout=WAIT_MS) as failed:
        pass
    message, details = failed.args
    assert message == "scene.ply: no such file; pick the trained scene's PLY"
    assert "InputFileError" in details


def test_an_exception_in_on_success_fails_the_job(qtbot, queue):
    def apply(result):
        raise KeyError(result)

    job = queue.submit("apply", lambda progress, cancel: "labels", on_success=apply)
    _wait_ended(qtbot, job)
    assert job.state is JobState.FAILED
    assert job.error_message == "KeyError: 'labels'"


def test_eta_is_none_before_the_second_report_then_follows_the_rate(qtbot, queue):
    etas = []

    def paced(progress, cancel):
        for done in (1, 2, 3):
            progress(done, 10, "")
            time.sleep(0.2)

    job = queue.submit("paced", paced)
    job.progressed.connect(lambda done, total, message: etas.append(job.eta_seconds()))
    assert job.eta_seconds() is None
    _wait_ended(qtbot, job)
    assert etas[0] is None
    assert 1.2 < etas[1] < 2.0  # 8 steps left at 0.2 s a step
    assert 1.0 < etas[2] < 1.8  # 7 steps left
    assert job.eta_seconds() is None
    assert job.elapsed_seconds >= 0.6


def test_losses_are_parsed_from_run_steps_messages(qtbot, queue):
    def train(progress, cancel):
        return run_steps(
            50,
            lambda i: {"total": 1.0 / (i + 1)},
            what="codebook",
            progress=progress,
            cancel=cancel,
        )

    job = queue.submit("codebook", train)
    with qtbot.waitSignal(job.finished, timeout=WAIT_MS):
        spy = []
        job.lossAppended.connect(lambda step, value: spy.append((step, value)))
    history = job.result
    assert len(job.losses) == 50 == history.steps
    assert job.losses == spy
    assert [step for step, _ in job.losses] == list(range(1, 51))
    expected = [round(v, 4) for v in history.losses["total"]]
    assert [value for _, value in job.losses] == pytest.approx(expected, abs=1e-9)


def test_loss_from_message_reads_run_steps_messages_only():
    messages = []
    run_steps(3, lambda i: {"total": i - 0.5}, what="unic: stage 2",
              progress=lambda d, t, m: messages.append(m))  # fmt: skip
    assert [loss_from_message(m) for m in messages] == [-0.5, 0.5, 1.5]
    run_steps(1, lambda i: {"other": 1.0}, what="x", progress=lambda d, t, m: messages.append(m))
    assert np.isnan(loss_from_message(messages[-1]))
    assert loss_from_message("rendering view 3/10") is None
    assert loss_from_message("") is None


def test_jobs_without_finite_losses_have_no_loss_points(qtbot, queue):
    def no_total(progress, cancel):
        return run_steps(5, lambda i: {"contrastive": 1.0}, what="x", progress=progress)

    job = queue.submit("no total", no_total)
    _wait_ended(qtbot, job)
    assert job.state is JobState.SUCCEEDED and job.losses == []


def test_the_ui_thread_is_not_stalled_by_a_heavy_job(qtbot, queue):
    ticks = []
    timer = QTimer()
    timer.setTimerType(Qt.TimerType.PreciseTimer)
    timer.setInterval(10)
    timer.timeout.connect(lambda: ticks.append(time.perf_counter()))
    iterations = []

    def heavy(progress, cancel):
        rng = np.random.default_rng(0)
        matrix = rng.standard_normal((300, 300))
        end = time.perf_counter() + 1.5
        while time.perf_counter() < end:
            cancel.raise_if_cancelled()
            for _ in range(4):
                matrix = matrix @ matrix
                matrix /= np.abs(matrix).max()
            iterations.append(1)
            progress(len(iterations), 10_000, f"multiply {len(iterations)}")
        return matrix.sum()

    timer.start()
    job = queue.submit("heavy", heavy)
    _wait_ended(qtbot, job)
    timer.stop()
    assert job.state is JobState.SUCCEEDED and job.elapsed_seconds >= 1.5 and len(iterations) > 3
    gaps = np.diff(ticks)
    assert len(ticks) > 50
    assert gaps.max() < 0.1, f"the UI thread stalled for {gaps.max() * 1000:.0f} ms"


def test_shutdown_cancels_everything_and_leaves_no_thread(qtbot, qapp):
    threads_before = threading.active_count()
    queue = JobQueue()

    def long(progress, cancel):
        threading.current_thread()  # as logging does: makes a threading entry
        while True:
            cancel.raise_if_cancelled()
            progress(1, 2, "working")
            time.sleep(0.005)

    running = queue.submit("long", long)
    waiting = queue.submit("waiting", lambda progress, cancel: None)
    qtbot.waitUntil(lambda: running.done == 1, timeout=WAIT_MS)
    assert _qthreads_running()

    assert queue.shutdown(timeout_ms=WAIT_MS)
    assert running.state is JobState.CANCELLED and waiting.state is JobState.CANCELLED
    assert queue.running_job is None
    assert _qthreads_running() == []
    assert threading.active_count() == threads_before
    with pytest.raises(RuntimeError, match="shut down"):
        queue.submit("late", lambda progress, cancel: None)
    qtbot.wait(20)  # reports still queued for the ended job are ignored
    assert running.state is JobState.CANCELLED


def test_shutdown_reports_a_function_that_ignores_cancel(qtbot, qapp):
    queue = JobQueue()
    job = queue.submit("stubborn", lambda progress, cancel: time.sleep(0.4) or "result")
    assert not queue.shutdown(timeout_ms=20)
    assert job.state is JobState.RUNNING
    assert job.wait(WAIT_MS)
    assert job.state is JobState.CANCELLED and job.result is None  # result discarded
    assert _qthreads_running() == []


def test_queue_keeps_only_the_last_finished_jobs(qtbot, queue):
    removed = []
    queue.jobRemoved.connect(removed.append)
    jobs = [queue.submit(f"job {i}", lambda progress, cancel: None) for i in range(53)]
    _wait_ended(qtbot, jobs[-1])
    assert len(queue.jobs) == 50
    assert removed == jobs[:3] and queue.jobs == jobs[3:]


def test_start_refuses_a_job_that_is_not_queued(qtbot, queue):
    job = Job("once", lambda progress, cancel: None)
    job.start()
    with pytest.raises(RuntimeError, match="cannot start"):
        job.start()
    assert job.wait(WAIT_MS) and job.state is JobState.SUCCEEDED


# -- JobsPanel --------------------------------------------------------------------------


def test_panel_rows_follow_progress_and_cancel(qtbot, queue):
    panel = JobsPanel(queue)
    qtbot.addWidget(panel)
    panel.show()
    gate = threading.Event()
    first = queue.submit("uplift", _blocked_until(gate, (0, 10, "view 0/10"), (3, 10, "view 3/10")))
    second = queue.submit("export", lambda progress, cancel: None)
    assert [row.job for row in panel.rows] == [second, first]

    row = panel.row(first)
    qtbot.waitUntil(lambda: row.progress_bar.value() == 3, timeout=WAIT_MS)
    assert row.progress_bar.maximum() == 10
    assert row.state_label.text() == "running"
    assert row.time_label.text().startswith("ETA ")
    assert panel.row(second).time_label.text() == "queued"
    assert row.cancel_button.isEnabled()

    row.log_button.click()
    assert row.log_view.isVisible() and row.log_view.isReadOnly()
    assert "view 3/10" in row.log_view.toPlainText()

    with qtbot.waitSignal(first.cancelled, timeout=WAIT_MS):
        qtbot.mouseClick(row.cancel_button, Qt.MouseButton.LeftButton)
    assert row.state_label.text() == "cancelled"
    assert not row.cancel_button.isEnabled()
    assert row.time_label.text().startswith("cancelled after")
    qtbot.waitUntil(lambda: "cancelled" in row.log_view.toPlainText().splitlines()[-1])
    _wait_ended(qtbot, second)
    assert panel.row(second).time_label.text().startswith("done in ")
    assert panel.row(second).progress_bar.value() == panel.row(second).progress_bar.maximum()
    assert row.loss_plot is None


def test_panel_shows_a_loss_curve_for_a_training_job(qtbot, queue):
    panel = JobsPanel(queue)
    qtbot.addWidget(panel)
    panel.show()
    gate = threading.Event()

    def train(progress, cancel):
        history = run_steps(40, lambda i: {"total": 2.0 / (i + 1)}, what="codebook",
                            progress=progress, cancel=cancel)  # fmt: skip
        _blocked_until(gate)(progress, cancel)
        return history

    job = queue.submit("codebook", train)
    row = panel.row(job)
    qtbot.waitUntil(lambda: row.loss_plot is not None, timeout=WAIT_MS)
    assert row.loss_plot.isVisible()
    qtbot.waitUntil(lambda: len(row.loss_curve.getData()[0]) == 40, timeout=WAIT_MS)
    steps, values = row.loss_curve.getData()
    assert list(steps) == list(range(1, 41)) and values[0] == pytest.approx(2.0)
    gate.set()
    _wait_ended(qtbot, job)
    assert row.time_label.text().startswith("done in ")


def test_panel_drops_rows_of_forgotten_jobs(qtbot, queue):
    panel = JobsPanel(queue)
    qtbot.addWidget(panel)
    jobs = [queue.submit(f"job {i}", lambda progress, cancel: None) for i in range(52)]
    _wait_ended(qtbot, jobs[-1])
    assert len(panel.rows) == 50 and panel.rows[0].job is jobs[-1]
    with pytest.raises(KeyError):
        panel.row(jobs[0])


def test_show_job_error_opens_a_box_with_message_and_traceback(qtbot, queue):
    panel = JobsPanel(queue)
    qtbot.addWidget(panel)
    panel.show()

    def broken(progress, cancel):
        raise ZeroDivisionError("no views with masks")

    job = queue.submit("lift", broken)
    _wait_ended(qtbot, job)
    assert panel.row(job).details_button.isVisible()

    box = show_job_error(panel, job)
    assert box.isVisible()
    assert box.text() == "ZeroDivisionError: no views with masks"
    assert "Traceback" in box.detailedText() and "in broken" in box.detailedText()
    assert "lift" in box.windowTitle()
    box.close()

    ok = queue.submit("fine", lambda progress, cancel: None)
    _wait_ended(qtbot, ok)
    with pytest.raises(ValueError, match="did not fail"):
        show_job_error(panel, ok)
