"""Where exports may write: safe file names, folders, free space, and never an input.

Instance names are typed by users and may hold anything (``../../etc``, ``CON``,
slashes, control characters, 500 characters of emoji). :func:`safe_stem` turns one into
a file-name stem that stays inside the export folder on every common file system, and
:func:`contained` checks the final path once more. :func:`check_writable_folder`,
:func:`check_free_space` and :func:`refuse_inputs` turn the usual failures of a large
write (no such folder, no permission, no space, the destination is one of the files
being exported) into one-line errors naming the path, before anything is written.
"""

from __future__ import annotations

import os
import re
import shutil
import tempfile
import unicodedata
from collections.abc import Iterable
from pathlib import Path

from liftstudio.errors import OutputFileError

#: Longest stem :func:`safe_stem` returns, in UTF-8 bytes (file systems allow 255).
MAX_STEM_BYTES = 80

#: Space kept free beyond the estimate of what an export writes.
FREE_SPACE_RESERVE = 16 * 2**20

_WINDOWS_RESERVED = {
    "CON", "PRN", "AUX", "NUL", "CONIN$", "CONOUT$",
    *(f"COM{i}" for i in range(10)), *(f"LPT{i}" for i in range(10)),
}  # fmt: skip
_UNSAFE = re.compile(r"[^\w.\-]+")
_REPEATS = re.compile(r"_{2,}")


def safe_stem(name: str, *, fallback: str = "instance", max_bytes: int = MAX_STEM_BYTES) -> str:
    """A file-name stem made from ``name`` that cannot leave its folder.

    Letters and digits (any script), ``-``, ``_`` and ``.`` are kept; everything else
    (path separators, spaces, control and shell characters) becomes ``_``. Leading dots
    and underscores are removed (no hidden files, no ``..``), trailing dots and spaces
    too (Windows drops them), Windows device names (``CON``, ``com1.txt``...) get a
    leading ``_``, and the result is cut to ``max_bytes`` UTF-8 bytes.

    Parameters
    ----------
    name
        Any text, e.g. an instance name.
    fallback
        Returned when nothing usable is left (an empty or all-punctuation name).
    max_bytes
        Longest result in UTF-8 bytes.

    Returns
    -------
    str
        Non-empty, free of separators, never ``.`` or ``..``.

    Examples
    --------
    >>> safe_stem("../../etc/passwd")
    'etc_passwd'
    >>> safe_stem("coffee mug #2")
    'coffee_mug_2'
    """
    text = unicodedata.normalize("NFC", str(name))
    text = _UNSAFE.sub("_", text)
    text = _REPEATS.sub("_", text).strip("._-").rstrip(". ")
    text = _cut_utf8(text, max_bytes).rstrip("._-")
    if not text:
        return fallback
    if text.split(".")[0].upper() in _WINDOWS_RESERVED:
        text = "_" + _cut_utf8(text, max_bytes - 1)
    return text


def unique_stems(stems: Iterable[str]) -> list[str]:
    """``stems`` with repeats renamed ``stem-2``, ``stem-3``... (case-insensitively).

    Two names that differ only in case are one file on macOS and Windows, so they count
    as repeats too. The first of each keeps its name.
    """
    taken: set[str] = set()
    result = []
    for stem in stems:
        candidate, number = stem, 1
        while candidate.casefold() in taken:
            number += 1
            candidate = f"{stem}-{number}"
        taken.add(candidate.casefold())
        result.append(candidate)
    return result


def contained(folder: str | Path, name: str) -> Path:
    """``folder / name``, refusing a ``name`` that would put the file anywhere else.

    Raises
    ------
    OutputFileError
        When ``name`` is empty, ``.`` or ``..``, absolute, or holds a path separator.
    """
    folder = Path(folder)
    path = folder / name
    if (
        not name
        or name in (".", "..")
        or os.sep in name
        or (os.altsep is not None and os.altsep in name)
        or Path(name).is_absolute()
    ):
        raise OutputFileError(path, f"the file name {name!r} would leave the folder {folder}")
    return path


def same_file(a: str | Path, b: str | Path) -> bool:
    """Whether ``a`` and ``b`` are one file (hard links and symbolic links included)."""
    return _identity(Path(a)) == _identity(Path(b))


def refuse_inputs(targets: Iterable[str | Path], inputs: Iterable[str | Path]) -> None:
    """Refuse to write any of ``targets`` when it is one of ``inputs``.

    This holds even when overwriting is allowed: an export never replaces the scene,
    project, image or labeled file it reads.

    Raises
    ------
    OutputFileError
        Naming the first target that is an input.
    """
    known = {_identity(Path(p)): Path(p) for p in inputs}
    for target in targets:
        source = known.get(_identity(Path(target)))
        if source is not None:
            raise OutputFileError(
                target, f"is an input of this export ({source}); write to another file"
            )


def refuse_input_folder(folder: str | Path, inputs: Iterable[str | Path]) -> None:
    """Refuse ``folder`` as a destination when it directly holds one of ``inputs``.

    For exports whose file names are only known while writing (one file per view):
    they go to a folder of their own, never beside the training images or the scene.

    Raises
    ------
    OutputFileError
        Naming the folder and one input in it, or when the folder is an input.
    """
    folder_id = _identity(Path(folder))
    inputs = [Path(p) for p in inputs]
    for source in inputs:
        if _identity(source.parent) == folder_id:
            raise OutputFileError(
                folder,
                f"holds an input of this export ({source.name}); choose a new or empty folder",
            )
    for source in inputs:
        if _identity(source) == folder_id:
            raise OutputFileError(folder, "is an input of this export; choose a new folder")


def check_output_file(
    path: str | Path, *, overwrite: bool = False, inputs: Iterable[str | Path] = ()
) -> None:
    """Check that a file can be written at ``path``, before a long job starts.

    Raises
    ------
    OutputFileError
        When ``path`` is an input, a folder, exists (without ``overwrite``), or its
        folder is missing, a file, or not writable.
    """
    path = Path(path)
    refuse_inputs([path], inputs)
    if path.is_dir():
        raise OutputFileError(path, "is a folder; choose a file name")
    if not overwrite and path.exists():
        raise OutputFileError(path, "already exists; choose another name or allow overwriting")
    if not path.parent.is_dir():
        if path.parent.exists():
            raise OutputFileError(path, f"{path.parent} is a file, not a folder")
        raise OutputFileError(path, f"folder {path.parent} does not exist")
    check_writable_folder(path.parent)


def check_writable_folder(folder: str | Path) -> None:
    """Check that files can be created in ``folder`` (creating it would be allowed).

    A missing folder is fine when its nearest existing parent is a writable folder.

    Raises
    ------
    OutputFileError
        When a path component is a file, or the folder (or the parent that would hold
        it) does not accept new files (no permission, read-only file system).
    """
    folder = Path(folder)
    existing = folder
    while not existing.exists() and existing != existing.parent:
        existing = existing.parent
    if not existing.is_dir():
        raise OutputFileError(folder, f"{existing} is a file, not a folder")
    try:
        handle, probe = tempfile.mkstemp(prefix=".liftstudio-probe-", dir=existing)
    except OSError as exc:
        where = "" if existing == folder else f" (its parent {existing} does not accept files)"
        raise OutputFileError(
            folder, f"cannot write here{where}: {exc.strerror or exc}; choose another folder"
        ) from None
    os.close(handle)
    os.unlink(probe)


def check_free_space(folder: str | Path, needed_bytes: int, what: str) -> None:
    """Refuse a write of about ``needed_bytes`` that would not fit on ``folder``'s disk.

    Parameters
    ----------
    folder
        Where the files go (need not exist yet: its nearest existing parent is asked).
    needed_bytes
        Estimate of the bytes to write.
    what
        What is being written, for the message (``"the labeled PLY"``).

    Raises
    ------
    OutputFileError
        When fewer than ``needed_bytes`` plus :data:`FREE_SPACE_RESERVE` are free.
    """
    folder = Path(folder)
    existing = folder
    while not existing.exists() and existing != existing.parent:
        existing = existing.parent
    try:
        free = shutil.disk_usage(existing).free
    except OSError:
        return  # cannot tell: the write itself reports a full disk
    if needed_bytes + FREE_SPACE_RESERVE > free:
        raise OutputFileError(
            folder,
            f"not enough free space for {what}: it needs about {_size(needed_bytes)}, "
            f"{_size(free)} are free; free some space or choose another disk",
        )


def _identity(path: Path) -> tuple:
    """(device, inode) of an existing file, else its resolved path."""
    try:
        status = os.stat(path)
    except (OSError, ValueError):
        return ("path", os.path.realpath(path))
    return ("inode", status.st_dev, status.st_ino)


def _size(count: int) -> str:
    for unit, scale in (("GB", 1e9), ("MB", 1e6), ("kB", 1e3)):
        if count >= scale:
            return f"{count / scale:,.1f} {unit}"
    return f"{count} bytes"


def _cut_utf8(text: str, max_bytes: int) -> str:
    return text.encode("utf-8")[:max_bytes].decode("utf-8", errors="ignore")
