"""The OpenGL check: run the probe in a process of its own and read its answer.

The probe (:mod:`liftstudio.app.gl_probe`) creates the viewport's OpenGL 3.3 core
context. It runs as a separate process with a timeout because creating a context can
abort the process (no display: Qt's platform plugin calls ``abort()``), crash (a
broken driver) or hang; none of that may take the doctor down. Only the probe imports
Qt, so this module stays Qt-free.

In a frozen build ``sys.executable`` is the bundle's own program, which cannot run
``-m``: the probe is then started as ``<program> doctor --gl-probe`` (a hidden option of
the ``doctor`` command that runs the same probe). A packaged build must therefore
include ``liftstudio.app.gl_probe`` (it is imported by name, not by an import statement).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import liftstudio
from liftstudio.doctor.installation import SOURCE_INSTALL, Installation
from liftstudio.doctor.report import CheckItem, Status

SECTION = "OpenGL"
NAME = "OpenGL 3.3 core"

#: Longest wait for the probe, in seconds.
PROBE_TIMEOUT_S = 60.0
#: The context the viewport needs.
REQUIRED_VERSION = (3, 3)

DRIVER_FIX = (
    "update the GPU driver to one with OpenGL 3.3 core; without a GPU driver, use Mesa's "
    "software renderer: apt install libgl1-mesa-dri and run with LIBGL_ALWAYS_SOFTWARE=1"
)
NO_DISPLAY_FIX = (
    "the app needs a display: run it on a desktop, or under xvfb-run -a for headless "
    "screenshots (xvfb-run -a liftstudio --demo --screenshot demo.png); the command line "
    "works without a display"
)
QT_LIBRARIES_FIX = (
    "install the system libraries Qt needs (Debian: apt install libgl1 libegl1 "
    "libgl1-mesa-dri libxkbcommon-x11-0 libxcb-cursor0 libfontconfig1 libdbus-1-3)"
)
_SOFTWARE_RENDERERS = ("llvmpipe", "softpipe", "software rasterizer", "basic render")


def gl_probe_command(installation: Installation) -> list[str]:
    """The command that runs the probe.

    ``python -m liftstudio.app.gl_probe``, or in a frozen build ``<program> doctor
    --gl-probe`` (a bundle's program cannot run ``-m``).
    """
    if installation.frozen:
        return [installation.executable, "doctor", "--gl-probe"]
    return [installation.executable, "-m", "liftstudio.app.gl_probe"]


@dataclass(frozen=True)
class ProbeOutcome:
    """What the probe process left.

    Attributes
    ----------
    result
        Its JSON answer, or None when it printed none (it crashed, aborted, hung).
    returncode
        Its exit status (negative: killed by that signal); None when it never ran.
    stderr
        The end of what it wrote to stderr (Qt's own messages).
    timed_out
        It was killed after the timeout.
    error
        Why it could not be started, if so.
    """

    result: dict[str, Any] | None
    returncode: int | None
    stderr: str = ""
    timed_out: bool = False
    error: str = ""


class GlProbeRun:
    """The probe, started at construction; :meth:`outcome` waits for it (at most the timeout).

    Starting it early lets the other checks run while Qt starts.

    Parameters
    ----------
    installation
        Gives the program to run (:func:`gl_probe_command`).
    timeout
        Seconds from the start after which the probe is killed.
    env
        The probe's environment (default: this process's).
    """

    def __init__(
        self,
        installation: Installation,
        *,
        timeout: float = PROBE_TIMEOUT_S,
        env: Mapping[str, str] | None = None,
    ) -> None:
        self.env = dict(os.environ if env is None else env)
        self.timeout = float(timeout)
        self._started = time.monotonic()
        self._outcome: ProbeOutcome | None = None
        child_env = dict(self.env)
        if not installation.frozen:  # the probe must import this very liftstudio
            package_parent = str(Path(liftstudio.__file__).resolve().parents[1])
            paths = [
                package_parent,
                *filter(None, child_env.get("PYTHONPATH", "").split(os.pathsep)),
            ]
            child_env["PYTHONPATH"] = os.pathsep.join(paths)
        try:
            self._process: subprocess.Popen[str] | None = subprocess.Popen(
                gl_probe_command(installation),
                stdin=subprocess.DEVNULL,
                stdout=subprocess.PIPE,
                stderr=subprocess.PIPE,
                env=child_env,
                text=True,
                errors="replace",
            )
        except OSError as exc:
            self._process = None
            self._outcome = ProbeOutcome(None, None, error=f"{type(exc).__name__}: {exc}")

    def outcome(self) -> ProbeOutcome:
        """Wait for the probe (until the timeout from its start) and return what it left."""
        if self._outcome is not None:
            return self._outcome
        assert self._process is not None
        remaining = max(0.0, self.timeout - (time.monotonic() - self._started))
        timed_out = False
        try:
            stdout, stderr = self._process.communicate(timeout=remaining)
        except subprocess.TimeoutExpired:
            self._process.kill()
            stdout, stderr = self._process.communicate()
            timed_out = True
        self._outcome = ProbeOutcome(
            None if timed_out else parse_probe_output(stdout),
            self._process.returncode,
            _tail(stderr),
            timed_out,
        )
        return self._outcome


def parse_probe_output(stdout: str) -> dict[str, Any] | None:
    """The probe's JSON object: the last stdout line that parses as one, or None."""
    for line in reversed(stdout.splitlines()):
        line = line.strip()
        if line.startswith("{"):
            try:
                value = json.loads(line)
            except ValueError:
                continue
            if isinstance(value, dict):
                return value
    return None


def _tail(text: str, lines: int = 6) -> str:
    kept = [line.strip() for line in text.strip().splitlines() if line.strip()]
    return " | ".join(kept[-lines:])


def has_display(env: Mapping[str, str], platform: str = sys.platform) -> bool:
    """Whether a window system is reachable.

    Always on Windows and macOS; elsewhere when ``DISPLAY`` (X11) or ``WAYLAND_DISPLAY``
    is set.
    """
    if platform in ("win32", "darwin"):
        return True
    return bool(env.get("DISPLAY") or env.get("WAYLAND_DISPLAY"))


def skipped_item() -> CheckItem:
    """The item shown when ``--no-gl`` skips the probe."""
    return CheckItem(
        SECTION, NAME, Status.WARNING, "not checked (--no-gl): run without it to check OpenGL"
    )


def gl_item(outcome: ProbeOutcome, env: Mapping[str, str], installation: Installation) -> CheckItem:
    """The OpenGL finding from the probe's outcome.

    Parameters
    ----------
    outcome
        From :meth:`GlProbeRun.outcome`.
    env
        The environment the probe ran in (for ``DISPLAY`` and Mesa overrides).
    installation
        For the fix lines.
    """
    result = outcome.result or {}
    data: dict[str, Any] = {
        "probe": outcome.result,
        "returncode": outcome.returncode,
        "display": has_display(env),
    }
    if outcome.result is not None and outcome.result.get("ok"):
        return _context_item(outcome.result, env, data)
    why = _failure(outcome)
    if not has_display(env):
        first = outcome.stderr.split(" | ")[0] if outcome.result is None else why
        said = f" ({first})" if first else ""
        return CheckItem(
            SECTION,
            NAME,
            Status.WARNING,
            "no display: neither DISPLAY nor WAYLAND_DISPLAY is set, so the app cannot open "
            f"a window; the OpenGL probe failed{said}",
            NO_DISPLAY_FIX,
            data,
        )
    stage = result.get("stage")
    if stage == "import-qt":
        error = str(result.get("error"))
        fix = (
            QT_LIBRARIES_FIX
            if ".so" in error or "DLL" in error
            else installation.pip(SOURCE_INSTALL, "PySide6")
        )
        return CheckItem(SECTION, NAME, Status.ERROR, error, fix, data)
    if stage == "import-viewport":
        return CheckItem(
            SECTION, NAME, Status.ERROR, why, installation.pip(SOURCE_INSTALL, "the viewport"), data
        )
    platform = result.get("platform")
    if platform in ("offscreen", "minimal"):
        return CheckItem(
            SECTION,
            NAME,
            Status.ERROR,
            f"{why} (QT_QPA_PLATFORM={env.get('QT_QPA_PLATFORM', platform)})",
            f"unset QT_QPA_PLATFORM: Qt's {platform} platform cannot create OpenGL contexts; "
            "use the desktop's display, or xvfb-run -a without a display",
            data,
        )
    if outcome.result is None and not outcome.timed_out:
        return CheckItem(SECTION, NAME, Status.ERROR, why, QT_LIBRARIES_FIX, data)
    return CheckItem(SECTION, NAME, Status.ERROR, why, _driver_fix(env), data)


def _failure(outcome: ProbeOutcome) -> str:
    """One phrase saying how the probe failed."""
    if outcome.error:
        return f"the OpenGL probe could not be started: {outcome.error}"
    if outcome.timed_out:
        return "the OpenGL probe did not answer in time and was stopped (a hung graphics driver?)"
    if outcome.result is not None:
        return str(outcome.result.get("error") or "the OpenGL probe failed")
    tail = " | ".join(outcome.stderr.split(" | ")[-3:])
    said = f": {tail}" if tail else ""
    return f"the OpenGL probe stopped with exit status {outcome.returncode}{said}"


def _driver_fix(env: Mapping[str, str]) -> str:
    overrides = [name for name in ("MESA_GL_VERSION_OVERRIDE", "MESA_GLSL_VERSION_OVERRIDE")
                 if env.get(name)]  # fmt: skip
    if overrides:
        return f"unset {' and '.join(overrides)} (they lower Mesa's version); or {DRIVER_FIX}"
    return DRIVER_FIX


def _context_item(result: Mapping[str, Any], env: Mapping[str, str], data: dict) -> CheckItem:
    version = tuple(int(v) for v in result.get("context_version") or (0, 0))
    profile = result.get("profile", "none")
    renderer = str(result.get("renderer"))
    kind = f"{profile}-profile" if profile in ("core", "compatibility") else "no-profile"
    context = f"{version[0]}.{version[1]} {kind}"
    detail = (
        f"{renderer} ({result.get('vendor')}), OpenGL {result.get('version')}; Qt gave a "
        f"{context} context on '{result.get('platform')}'"
    )
    data["context_version"] = list(version)
    problem = ""
    if result.get("opengl_es"):
        problem = "OpenGL ES, not the desktop OpenGL 3.3 core the viewport needs"
    elif version < REQUIRED_VERSION:
        problem = f"{version[0]}.{version[1]} is below the OpenGL 3.3 core the viewport needs"
    if problem:
        detail = f"{problem}: {detail}"
        return CheckItem(SECTION, NAME, Status.ERROR, detail, _driver_fix(env), data)
    if any(name in renderer.lower() for name in _SOFTWARE_RENDERERS):
        detail += " (software rendering: large scenes draw slowly)"
    return CheckItem(SECTION, NAME, Status.OK, detail, data=data)
