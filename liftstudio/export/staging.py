"""Write a set of files into a folder all at once, or not at all.

:func:`staged_folder` checks every destination first (inside the folder, not an
input, not already there unless overwriting is allowed), then lets the caller write
the files into a hidden staging folder inside the destination, and only when all of
them are written moves them into place, one rename each. An error, a cancelled job or
Ctrl-C while writing leaves the destination as it was (a folder it had to create is
removed again).
"""

from __future__ import annotations

import contextlib
import os
import shutil
import tempfile
from collections.abc import Iterable, Iterator, Sequence
from pathlib import Path

from liftstudio.errors import OutputFileError
from liftstudio.export.safe_paths import check_writable_folder, contained, refuse_inputs
from liftstudio.fileio import make_folder


def check_destinations(
    folder: str | Path,
    names: Sequence[str],
    *,
    overwrite: bool = False,
    inputs: Iterable[str | Path] = (),
) -> list[Path]:
    """The paths ``folder / name``, checked as :func:`staged_folder` checks them.

    Raises
    ------
    OutputFileError
        When ``folder`` is a file or not writable, a name would leave the folder, or a
        destination is an input, a folder, or exists and ``overwrite`` is false.
    """
    folder = Path(folder)
    if folder.exists() and not folder.is_dir():
        raise OutputFileError(folder, "is a file, not a folder; choose a folder")
    lowered = [name.casefold() for name in names]
    if len(set(lowered)) != len(lowered):
        raise ValueError(f"file names repeat (ignoring case): {sorted(names)}")
    targets = [contained(folder, name) for name in names]
    refuse_inputs(targets, inputs)
    for target in targets:
        if target.is_dir():
            raise OutputFileError(target, "is a folder; move it away or choose another folder")
        if not overwrite and target.exists():
            raise OutputFileError(
                target, "already exists; choose another folder or allow overwriting"
            )
    check_writable_folder(folder)
    return targets


@contextlib.contextmanager
def staged_folder(
    folder: str | Path,
    names: Sequence[str],
    *,
    overwrite: bool = False,
    inputs: Iterable[str | Path] = (),
) -> Iterator[Path]:
    """Yield a staging folder; every ``name`` written there is moved into ``folder``.

    Parameters
    ----------
    folder
        The destination (created when missing).
    names
        The file names the caller writes into the staging folder; all must exist at
        the end of the block.
    overwrite
        Replace files of the same names in ``folder``; other files are left alone.
    inputs
        Files that must not be written (checked with :func:`check_destinations`).

    Raises
    ------
    OutputFileError
        As :func:`check_destinations`, or when moving the files into place fails.
    """
    folder = Path(folder)
    targets = check_destinations(folder, names, overwrite=overwrite, inputs=inputs)
    created = not folder.exists()
    make_folder(folder)
    try:
        stage = Path(tempfile.mkdtemp(prefix=".liftstudio-export-", suffix=".part", dir=folder))
    except OSError as exc:
        _remove_if_empty(folder, created)
        raise OutputFileError(folder, f"cannot write here ({exc.strerror or exc})") from None
    done = False
    try:
        yield stage
        missing = [name for name in names if not (stage / name).is_file()]
        if missing:
            raise RuntimeError(f"staged_folder: {missing} were not written")
        for name, target in zip(names, targets, strict=True):
            try:
                os.replace(stage / name, target)
            except OSError as exc:
                raise OutputFileError(target, f"moving into place failed ({exc})") from exc
        done = True
    finally:
        shutil.rmtree(stage, ignore_errors=True)
        if not done:
            _remove_if_empty(folder, created)


def _remove_if_empty(folder: Path, created: bool) -> None:
    if created:
        with contextlib.suppress(OSError):
            folder.rmdir()
