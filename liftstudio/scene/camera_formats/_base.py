"""What a camera format plugs into the registry: how to spot it and how to read it."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from liftstudio.scene.camera import CameraSet


@dataclass(frozen=True)
class CameraFormat:
    """One camera file format known to :func:`liftstudio.scene.camera_formats.read_cameras`.

    Parameters
    ----------
    name
        Short name, also stored in :attr:`CameraSet.format` (e.g. ``"colmap"``).
    looks_for
        The file or folder names this format is recognised by, listed to the user
        when no format matches.
    locate
        Given the path a user handed over (file or folder), the path to read when it
        holds this format, else ``None``. Must not raise for paths of other formats.
    read
        Reads the path returned by ``locate`` into a :class:`CameraSet`; raises
        :class:`~liftstudio.errors.InputFileError` for bad input.
    """

    name: str
    looks_for: tuple[str, ...]
    locate: Callable[[Path], Path | None]
    read: Callable[[Path], CameraSet]
