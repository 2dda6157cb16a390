"""The app process that ``test_autosave_crash.py`` kills: edits and autosaves until killed.

Run as ``python autosave_crash_child.py SCENE SETTINGS SEED``. It starts the real app
(:func:`liftstudio.app.launch.application` and a shown :class:`MainWindow` with its
settings in the ini file ``SETTINGS`` and its default project locator, so the project
is ``SCENE`` with the suffix ``.lsproj``), prints ``READY`` and waits for a ``GO`` line
on stdin (the test starts the next app while the current one runs). It then opens
``SCENE`` through the window's background open job (recovering a newer autosave, as a
user answering "Yes" would), ticks "Draw points" in the Scene panel (software OpenGL
draws a few hundred thousand splats in seconds, points in about one), prints ``OPENED
<sha256 of the ids> <instances> <undo steps>`` (what the app offered) and repeats, one
round per turn of the event loop:

1. select a few thousand random Gaussians and trigger the window's "New instance from
   selection" action (the ``QAction`` the M key fires): one new instance, one undo step;
2. print ``EDIT <round> <sha256 of the ids>`` (flushed): the state about to be saved;
3. autosave through the window's :class:`ProjectKeeper` (``window.projects.autosave()``,
   what the keeper's timer, closing a scene and a finished lift call);
4. print ``SAVED <round> <sha256 of the ids> <ms the autosave took>`` (flushed).

Problems are printed as ``FAILED``, ``JOB_FAILED`` or ``NOT_SAVED`` lines. It quits by
itself after ``MAX_SECONDS``, or when stdin closes before ``GO``, in case the test that
started it is gone. Not a test module (pytest does not collect it).
"""

from __future__ import annotations

import hashlib
import sys
import time
from pathlib import Path

import numpy as np
from PySide6.QtCore import QSettings, QTimer

from liftstudio.app.launch import application
from liftstudio.app.main_window import MainWindow

MAX_SECONDS = 120.0
SELECTED = 4000
"""Gaussians moved into a new instance per round."""


def ids_digest(ids: np.ndarray) -> str:
    """sha256 of the ids as contiguous int32 bytes (the test computes the same)."""
    return hashlib.sha256(np.ascontiguousarray(ids, dtype=np.int32).tobytes()).hexdigest()


def say(*words: object) -> None:
    print(*words, flush=True)


def main(argv: list[str]) -> int:
    scene, settings_file, seed = Path(argv[0]), argv[1], int(argv[2])
    app = application()
    window = MainWindow(QSettings(settings_file, QSettings.Format.IniFormat))
    window.projects.ask_recovery = lambda _autosave: True  # the user answers "Yes"
    window.projects.failed.connect(lambda message: say("FAILED", message))
    window.resize(480, 360)
    window.show()
    rng = np.random.default_rng(seed)
    state = {"round": 0}

    def one_round() -> None:
        document = window.document
        assert document is not None
        k = state["round"] = state["round"] + 1
        chosen = rng.choice(len(document.gaussians), SELECTED, replace=False)
        document.selection.replace(chosen)
        window.instance_actions.actions["new_instance"].trigger()
        say("EDIT", k, ids_digest(document.labels.ids))
        start = time.perf_counter()
        written = window.projects.autosave()
        elapsed_ms = 1000 * (time.perf_counter() - start)
        if written is None:
            say("NOT_SAVED", k)
            app.exit(3)
            return
        say("SAVED", k, ids_digest(document.labels.ids), f"{elapsed_ms:.1f}")
        QTimer.singleShot(0, one_round)

    def opened(document) -> None:
        if document is None:
            return
        window.scene_panel.point_check.setChecked(True)
        labels = document.labels
        say("OPENED", ids_digest(labels.ids), len(labels.instances()), len(labels.history))
        one_round()

    def job_added(job) -> None:
        job.failed.connect(lambda message, _details: (say("JOB_FAILED", message), app.exit(4)))

    window.documentChanged.connect(opened)
    window.jobs.jobAdded.connect(job_added)
    say("READY")
    if sys.stdin.readline().strip() != "GO":  # the test is gone
        return 6
    window.open_path(scene, remember=False)
    QTimer.singleShot(int(MAX_SECONDS * 1000), lambda: app.exit(5))
    code = app.exec()
    window.shutdown()
    return code


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
