"""Gaussian file formats behind one registry.

Each format is a :class:`GaussianFormat` entry: how to recognise a file and how to
read it. :func:`read_gaussians` picks the entry for a path; adding a format means
adding one entry here and one reader module.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from liftstudio.errors import InputFileError
from liftstudio.scene.formats.compressed_ply import is_compressed_ply, read_compressed_ply
from liftstudio.scene.formats.ply import read_ply, write_ply
from liftstudio.scene.formats.ply_header import read_ply_header
from liftstudio.scene.formats.splat import read_splat, write_splat
from liftstudio.scene.gaussians import GaussianScene, OnInvalid


@dataclass(frozen=True)
class GaussianFormat:
    """A readable Gaussian file format.

    Attributes
    ----------
    name
        Short identifier (``"ply"``, ``"compressed-ply"``, ``"splat"``).
    label
        Human-readable name for reports.
    matches
        Whether a path (already known to exist) is in this format.
    read
        ``read(path, on_invalid=...) -> GaussianScene``.
    """

    name: str
    label: str
    matches: Callable[[Path], bool]
    read: Callable[..., GaussianScene]


def _is_ply(path: Path) -> bool:
    return path.suffix.lower() == ".ply"


def _is_splat(path: Path) -> bool:
    return path.suffix.lower() == ".splat"


def _is_compressed(path: Path) -> bool:
    return _is_ply(path) and is_compressed_ply(read_ply_header(path))


GAUSSIAN_FORMATS: tuple[GaussianFormat, ...] = (
    GaussianFormat(
        "compressed-ply", "PlayCanvas compressed PLY", _is_compressed, read_compressed_ply
    ),
    GaussianFormat("ply", "3DGS PLY", _is_ply, read_ply),
    GaussianFormat(
        "splat", "antimatter15 .splat", lambda p: p.suffix.lower() == ".splat", read_splat
    ),
)

GAUSSIAN_SUFFIXES = (".ply", ".splat")


def gaussian_format_of(path: str | Path) -> GaussianFormat:
    """Return the format entry that reads ``path``.

    Raises
    ------
    InputFileError
        If the file is missing or no format recognises it.
    """
    path = Path(path)
    if not path.is_file():
        raise InputFileError(path, "no such file")
    for entry in GAUSSIAN_FORMATS:
        if entry.matches(path):
            return entry
    raise InputFileError(
        path, "not a Gaussian splat file (expected .ply, .compressed.ply or .splat)"
    )


def read_gaussians(path: str | Path, *, on_invalid: OnInvalid = "error") -> GaussianScene:
    """Read Gaussians from any supported file (format chosen by :func:`gaussian_format_of`).

    Parameters
    ----------
    path
        A ``.ply`` (INRIA or PlayCanvas compressed) or ``.splat`` file.
    on_invalid
        ``"error"`` or ``"drop"`` for Gaussians with NaN/inf values or zero quaternions.
    """
    return gaussian_format_of(path).read(Path(path), on_invalid=on_invalid)


__all__ = [
    "GAUSSIAN_FORMATS",
    "GAUSSIAN_SUFFIXES",
    "GaussianFormat",
    "gaussian_format_of",
    "read_gaussians",
    "read_ply",
    "write_ply",
    "write_splat",
]
