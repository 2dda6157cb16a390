"""Run a snippet of Python in a fresh interpreter: benchmarks time cold starts this way."""

from __future__ import annotations

import sys

from liftstudio.errors import LiftStudioError


def python_child_command(code: str, *args: str) -> list[str]:
    """The command line that runs ``code`` (with ``args``) in a fresh Python process.

    Raises
    ------
    LiftStudioError
        In a packaged build, whose program is LiftStudio itself, not a Python that
        can run ``-c``: such benchmarks need a source install.
    """
    if getattr(sys, "frozen", False):
        raise LiftStudioError(
            "this benchmark times a fresh Python process, which a packaged build cannot "
            "start; run it from a source install (see the README), or use --no-startup "
            "where the command has it"
        )
    return [sys.executable, "-c", code, *args]
