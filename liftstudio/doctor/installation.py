"""Where this LiftStudio runs from, and how a user adds what is missing to it.

A frozen build (a PyInstaller bundle, ``sys.frozen`` set) cannot install Python
packages, so every "to fix" line that names ``pip`` goes through :meth:`Installation.pip`,
which says to use a source install there instead.
"""

from __future__ import annotations

import sys
from dataclasses import dataclass
from pathlib import Path

import liftstudio

#: The command that installs LiftStudio and its tested dependencies from a checkout.
SOURCE_INSTALL = "pip install -c constraints.txt -e ."


@dataclass(frozen=True)
class Installation:
    """How LiftStudio is installed.

    Attributes
    ----------
    frozen
        Running from a packaged build (``sys.frozen``): pip cannot add packages.
    source_root
        The source checkout holding ``constraints.txt`` and ``pyproject.toml`` beside
        the package, or None (an installed wheel, a bundle).
    executable
        The Python interpreter, or the bundle's program when frozen.
    """

    frozen: bool
    source_root: Path | None
    executable: str

    def pip(self, command: str, purpose: str) -> str:
        """A fix line that runs ``command`` (a pip command) to get ``purpose``.

        In a frozen build the line says to use a source install, where ``command``
        works; with a known checkout it says where to run commands that read
        ``constraints.txt``.
        """
        if self.frozen:
            return (
                f"this packaged LiftStudio cannot install Python packages; for {purpose}, "
                f"use a source install of LiftStudio and run: {command}"
            )
        if "constraints.txt" in command and self.source_root is not None:
            return f"{command}  (in {self.source_root})"
        return command


def current_installation() -> Installation:
    """The :class:`Installation` of this process."""
    root = Path(liftstudio.__file__).resolve().parents[1]
    is_checkout = (root / "constraints.txt").is_file() and (root / "pyproject.toml").is_file()
    return Installation(
        frozen=bool(getattr(sys, "frozen", False)),
        source_root=root if is_checkout else None,
        executable=sys.executable,
    )
