"""Safe file writing shared by every writer: atomic replace, no silent overwrite."""

from __future__ import annotations

import contextlib
import os
import tempfile
from collections.abc import Iterator
from pathlib import Path

import numpy as np

from liftstudio.errors import InputFileError, OutputFileError


@contextlib.contextmanager
def atomic_output(path: str | Path, *, overwrite: bool = False) -> Iterator[Path]:
    """Yield a temporary path beside ``path``; move it into place on success.

    Nothing is left behind when the body raises (or is cancelled), and an existing
    file is only replaced when ``overwrite`` is true, in one atomic rename.

    Parameters
    ----------
    path
        Final destination.
    overwrite
        Replace an existing file at ``path``.

    Raises
    ------
    OutputFileError
        If ``path`` exists and ``overwrite`` is false, or its folder is missing or
        not writable.
    """
    path = Path(path)
    if path.exists() and not overwrite:
        raise OutputFileError(path, "already exists; choose another name or allow overwriting")
    if not path.parent.is_dir():
        raise OutputFileError(path, f"folder {path.parent} does not exist")
    try:
        handle, tmp_name = tempfile.mkstemp(
            prefix=f".{path.name}.", suffix=".part", dir=path.parent
        )
    except OSError as exc:
        raise OutputFileError(path, f"cannot write here ({exc.strerror or exc})") from None
    os.close(handle)
    tmp = Path(tmp_name)
    try:
        yield tmp
        os.chmod(tmp, 0o666 & ~_current_umask())
        os.replace(tmp, path)
    except OutputFileError:
        raise
    except OSError as exc:
        raise OutputFileError(path, f"writing failed ({exc.strerror or exc})") from exc
    finally:
        tmp.unlink(missing_ok=True)


def _current_umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


def make_folder(folder: str | Path) -> Path:
    """Create ``folder`` (and its parents) if missing.

    Raises
    ------
    OutputFileError
        Naming the folder when it cannot be created (a file in the way, no permission).
    """
    folder = Path(folder)
    try:
        folder.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise OutputFileError(folder, f"cannot create the folder ({exc.strerror or exc})") from None
    return folder


def read_npy(path: Path | str, hint: str) -> np.ndarray:
    """One array from a ``.npy`` file, refusing pickles and ``.npz`` archives.

    Parameters
    ----------
    path
        The file.
    hint
        What the user should do instead, appended to every error (e.g. "save one
        (N, D) array with numpy.save").

    Raises
    ------
    InputFileError
        Naming the file when it is missing, truncated, corrupt, pickled or an archive.
    """
    path = Path(path)
    if not path.is_file():
        raise InputFileError(path, f"no such file; {hint}")
    try:
        array = np.load(path, allow_pickle=False)
    except (OSError, ValueError, EOFError) as exc:
        raise InputFileError(
            path, f"cannot be read as a .npy array ({exc}); it may be truncated or corrupt; {hint}"
        ) from None
    if not isinstance(array, np.ndarray):
        count = len(array.files)
        array.close()
        raise InputFileError(path, f"is an .npz archive of {count} arrays, not one .npy; {hint}")
    return array
