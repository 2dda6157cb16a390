"""Killing the running app (SIGKILL) while it autosaves loses at most the edit being saved.

The core test (``tests/labels/test_project.py``) kills a process that calls
``save_project`` itself; this one kills the real app: a shown :class:`MainWindow` whose
:class:`ProjectKeeper` autosaves the edits made through the window's "New instance"
action (``autosave_crash_child.py``, which prints what it is about to save and what it
saved). The kills are aimed into the autosaves, so most land mid-write.
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import queue
import random
import re
import signal
import subprocess
import sys
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pytest
from PySide6.QtCore import QSettings

from liftstudio.app.main_window import MainWindow
from liftstudio.app.project_keeper import ProjectKeeper, default_project_for
from liftstudio.evaluate.synthetic import random_gaussians
from liftstudio.labels.project import autosave_path, project_path
from liftstudio.scene.discovery import open_scene
from liftstudio.scene.formats.ply import write_ply

CHILD = Path(__file__).with_name("autosave_crash_child.py")
GAUSSIANS = 400_000
"""Big enough that an autosave takes 10-50 ms (about 4 MB of labels plus the history)."""
SAVES_BEFORE_KILL = 2
KILL_FRACTIONS = ((0.05, 0.35), (0.35, 0.75), (0.75, 1.3))
"""When each kill lands, as a fraction of the last autosave's duration after the app
announced the next one: early in the write, in its middle, about its end."""
LINE_TIMEOUT_S = 60.0
WAIT_MS = 60_000


def ids_digest(ids: np.ndarray) -> str:
    """sha256 of the ids as contiguous int32 bytes (as the child prints it)."""
    return hashlib.sha256(np.ascontiguousarray(ids, dtype=np.int32).tobytes()).hexdigest()


def file_digest(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def temp_files(project: Path) -> set[Path]:
    """The autosave's temporary files beside it (what an interrupted write leaves)."""
    pattern = re.compile(rf"^\.{re.escape(autosave_path(project).name)}\.[A-Za-z0-9_]{{8}}\.part$")
    return {p for p in project.parent.iterdir() if pattern.match(p.name)}


@pytest.fixture
def gl_display(qapp):
    """Skip when there is no display with OpenGL 3.3 for the app's viewport."""
    from PySide6.QtGui import QOffscreenSurface, QOpenGLContext, QSurfaceFormat

    platform = os.environ.get("QT_QPA_PLATFORM", "")
    if platform.startswith(("offscreen", "minimal")):
        pytest.skip(f"QT_QPA_PLATFORM={platform} cannot show the app's OpenGL viewport")
    if not (os.environ.get("DISPLAY") or os.environ.get("WAYLAND_DISPLAY")):
        pytest.skip("no display for the app to run on (pytest-xvfb needs Xvfb installed)")
    wanted = QSurfaceFormat()
    wanted.setVersion(3, 3)
    wanted.setProfile(QSurfaceFormat.OpenGLContextProfile.CoreProfile)
    context = QOpenGLContext()
    context.setFormat(wanted)
    if not context.create() or context.format().version() < (3, 3):
        pytest.skip("the display offers no OpenGL 3.3 core context (is Mesa installed?)")
    surface = QOffscreenSurface()
    surface.setFormat(context.format())
    surface.create()
    if not context.makeCurrent(surface):
        pytest.skip("the display's OpenGL 3.3 context cannot be made current")
    context.doneCurrent()


@dataclass
class Run:
    """What one app process printed before it was killed, and when it was killed."""

    opened: tuple[str, int, int] | None = None
    edits: dict[int, str] = field(default_factory=dict)
    saves: dict[int, str] = field(default_factory=dict)
    save_ms: dict[int, float] = field(default_factory=dict)
    killed_in: int = 0
    delay_ms: float = 0.0
    lines: list[str] = field(default_factory=list)

    def take(self, line: str) -> None:
        self.lines.append(line)
        words = line.split()
        if words[0] in ("FAILED", "JOB_FAILED", "NOT_SAVED"):
            raise AssertionError(f"the app reported a problem: {line}")
        if words[0] == "OPENED":
            self.opened = (words[1], int(words[2]), int(words[3]))
        elif words[0] == "EDIT":
            self.edits[int(words[1])] = words[2]
        elif words[0] == "SAVED":
            self.saves[int(words[1])] = words[2]
            self.save_ms[int(words[1])] = float(words[3])


class ChildApp:
    """The app in a subprocess (waiting for ``go``), its stdout read with a timeout."""

    def __init__(self, scene: Path, settings: Path, seed: int, stderr: Path) -> None:
        self.stderr_path = stderr
        self._stderr = open(stderr, "w")  # noqa: SIM115 - closed in stop()
        self.proc = subprocess.Popen(
            [sys.executable, str(CHILD), str(scene), str(settings), str(seed)],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=self._stderr,
            text=True,
            env=dict(os.environ),  # the same DISPLAY (pytest-xvfb's Xvfb)
        )
        self._lines: queue.Queue[str | None] = queue.Queue()
        self._reader = threading.Thread(target=self._pump, name="app-stdout", daemon=True)
        self._reader.start()

    def _pump(self) -> None:
        assert self.proc.stdout is not None
        for line in self.proc.stdout:
            if line.strip():
                self._lines.put(line.strip())
        self._lines.put(None)

    def next_line(self) -> str:
        try:
            line = self._lines.get(timeout=LINE_TIMEOUT_S)
        except queue.Empty:
            raise AssertionError(f"the app printed nothing for {LINE_TIMEOUT_S} s") from None
        if line is None:
            raise AssertionError(f"the app exited ({self.proc.wait()}): {self.stderr()}")
        return line

    def stderr(self) -> str:
        return self.stderr_path.read_text()[-3000:]

    def go(self) -> None:
        """Let the app, started and waiting, open the scene."""
        assert self.next_line() == "READY"
        assert self.proc.stdin is not None
        self.proc.stdin.write("GO\n")
        self.proc.stdin.flush()

    def kill(self) -> None:
        os.kill(self.proc.pid, signal.SIGKILL)

    def stop(self) -> list[str]:
        """Kill the app if it still runs, reap it; the lines it printed that were not read."""
        if self.proc.poll() is None:
            self.proc.kill()
        self.proc.wait(timeout=30)
        self._reader.join(timeout=30)
        for stream in (self.proc.stdin, self.proc.stdout, self._stderr):
            with contextlib.suppress(OSError):
                stream.close()
        rest = []
        while not self._lines.empty():
            line = self._lines.get_nowait()
            if line is not None:
                rest.append(line)
        return rest


def run_until_killed(app: ChildApp, fraction: float) -> Run:
    """Let ``app`` open the scene; after a few autosaves, SIGKILL it inside the next one.

    The kill comes ``fraction`` of the last autosave's duration after the app announced
    the next autosave (its ``EDIT`` line): in the snapshot, the write or just after it.
    """
    run = Run()
    try:
        app.go()
        while True:
            line = app.next_line()
            run.take(line)
            if line.startswith("EDIT") and len(run.saves) >= SAVES_BEFORE_KILL:
                run.killed_in = max(run.edits)
                run.delay_ms = fraction * run.save_ms[max(run.saves)]
                time.sleep(run.delay_ms / 1000)
                app.kill()
                break
    finally:
        rest = app.stop()
    assert app.proc.returncode == -signal.SIGKILL, app.stderr()
    for line in rest:  # flushed before the kill: still in the pipe
        run.take(line)
    return run


def test_killing_the_app_while_it_autosaves_keeps_the_last_autosave(
    qtbot, tmp_path, gl_display, no_leaked_threads
):
    """Three times: start the app, edit and autosave, SIGKILL it inside an autosave.

    Which states may the reopened app offer after a kill? The app prints ``EDIT k
    <digest>`` (flushed) *before* it autosaves round ``k``, and ``SAVED k <digest>``
    after that autosave returned; every line flushed before the kill still reaches
    this process (the pipe outlives the app). With ``s`` the last ``SAVED`` round, the
    autosave on disk must hold exactly

    - round ``s``, when the kill came before the atomic rename of round ``s + 1`` (in
      the edit, the snapshot, or while the temporary file was written), or
    - round ``s + 1`` (its ``EDIT`` digest), when the rename was done but the app died
      before printing ``SAVED s + 1``;

    nothing else: not a mix of rounds, not an older round, not a file that fails to load.
    A temporary file left by the kill proves the rename had not happened: then only
    round ``s`` is right. Each next app opens the scene and must offer that very state
    (its ``OPENED`` line: ids, instances and undo steps), and at the end a
    :class:`MainWindow` in this process does too. The temporary files are hidden
    ``.part`` names that nothing opens as a project, the next autosave deletes them once
    they are stale, and the scene file is never touched.

    Each app is started while the previous one runs and waits to be told to open the
    scene, so the test pays the app's start-up (it imports torch) about once.
    """
    (tmp_path / "scene").mkdir()
    scene = tmp_path / "scene" / "scene.ply"

    def app(number: int) -> ChildApp:
        return ChildApp(scene, tmp_path / f"settings-{number}.ini", 100 + number,
                        tmp_path / f"app-{number}.err")  # fmt: skip

    apps = [app(0)]  # starts up while the scene is written
    try:
        write_ply(random_gaussians(GAUSSIANS, seed=3), scene)
        scene_sha = file_digest(scene)
        project = default_project_for(scene)  # the app's own locator: beside the scene
        assert project == project_path(scene) == scene.with_suffix(".lsproj")
        autosave = autosave_path(project)
        opened = open_scene(scene)
        keeper = ProjectKeeper(locate=default_project_for)

        expected = ids_digest(np.zeros(GAUSSIANS, np.int32))  # what the first app opens
        rounds = 0  # edits in the expected state (one new instance, one undo step each)
        rng = random.Random(11)
        outcomes = []
        for number, (low, high) in enumerate(KILL_FRACTIONS):
            if number + 1 < len(KILL_FRACTIONS):
                apps.append(app(number + 1))  # starts up while this one runs
            temps_before = temp_files(project)
            run = run_until_killed(apps[number], rng.uniform(low, high))

            assert run.opened == (expected, rounds, rounds), "the app did not offer the autosave"
            last = max(run.saves)
            allowed = {run.saves[last]: last}
            if last + 1 in run.edits:
                allowed[run.edits[last + 1]] = last + 1
            left = temp_files(project) - temps_before
            assert len(left) <= 1, left

            saved = keeper.read_saved(opened)  # what the app offers on reopening
            assert saved.error is None and saved.labels is None  # only autosaves so far
            assert saved.recovered is not None, "the autosave is missing or does not load"
            assert saved.recovered.path == autosave
            got = ids_digest(saved.recovered.model.ids)
            assert got in allowed, f"the autosave holds neither round {last} nor {last + 1}"
            if left:
                assert allowed[got] == last, "a temporary file was left but the rename was done"
            rounds += allowed[got]
            assert saved.recovered.history_steps == (rounds, 0)
            assert len(saved.recovered.model.instances()) == rounds
            expected = got

            if left:
                when = "mid-write (its temporary file was left)"
            elif allowed[got] > last:
                when = "after the rename, before SAVED was printed"
            elif last >= run.killed_in:
                when = "after it had returned"
            else:
                when = "before its write began"
            outcomes.append(
                f"kill {number}: {run.delay_ms:.1f} ms after autosave {run.killed_in} began "
                f"(the one before took {run.save_ms[max(run.saves)]:.1f} ms): {when}"
            )
    finally:
        for started in apps:
            started.stop()
    print("\n".join(outcomes))

    # The scene's folder: the scene as it was, the autosave, hidden temporary files.
    temps = temp_files(project)
    names = {p.name for p in scene.parent.iterdir()}
    assert names == {scene.name, autosave.name} | {p.name for p in temps}
    assert all(p.name.startswith(".") and p.name.endswith(".part") for p in temps)
    assert file_digest(scene) == scene_sha

    # Reopen in this process: the window offers the autosave and shows its labels.
    settings = QSettings(str(tmp_path / "settings-reopen.ini"), QSettings.Format.IniFormat)
    window = MainWindow(settings)
    asked = []
    window.projects.ask_recovery = lambda path: asked.append(path) or True
    qtbot.addWidget(window)
    try:
        with qtbot.waitSignal(window.documentChanged, timeout=WAIT_MS):
            window.open_path(scene, remember=False)
        document = window.document
        assert asked == [autosave]
        assert ids_digest(document.labels.ids) == expected
        assert len(document.labels.history) == rounds

        # Temporary files left by crashes go with the next autosave once stale.
        stale = time.time() - 2 * 3600
        for temp in temps:
            os.utime(temp, (stale, stale))
        document.selection.replace(np.arange(10))
        assert window.instance_actions.new_instance() == rounds + 1
        assert window.projects.autosave() == autosave
        assert {p.name for p in scene.parent.iterdir()} == {scene.name, autosave.name}
    finally:
        assert window.shutdown()
