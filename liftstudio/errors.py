"""Errors that LiftStudio shows to a user as one line.

Everything a user can cause by handing LiftStudio a bad file or folder raises a
subclass of :class:`LiftStudioError`. The CLI prints these as a single line (no
traceback unless ``--debug``); the app shows them in a message bar.
"""

from __future__ import annotations

from pathlib import Path


class LiftStudioError(Exception):
    """Base class of the errors a user can cause and fix."""


class InputFileError(LiftStudioError, ValueError):
    """A file or folder the user gave cannot be used.

    Parameters
    ----------
    path
        The file or folder at fault.
    problem
        What is wrong with it and, where possible, what to do about it.
    """

    def __init__(self, path: str | Path, problem: str) -> None:
        self.path = Path(path)
        self.problem = problem
        super().__init__(f"{self.path}: {problem}")


class SceneDataError(LiftStudioError, ValueError):
    """Gaussian or camera arrays that break the conventions (NaN, bad shapes...)."""


class OutputFileError(LiftStudioError, OSError):
    """A file cannot be written where the user asked (exists, unwritable, no space).

    Parameters
    ----------
    path
        The destination at fault.
    problem
        What is wrong and what to do.
    """

    def __init__(self, path: str | Path, problem: str) -> None:
        self.path = Path(path)
        self.problem = problem
        super().__init__(f"{self.path}: {problem}")
