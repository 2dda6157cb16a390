"""The selected Gaussians as a PLY of their own.

:func:`write_selection_ply` writes the Gaussians picked by a boolean mask or by
indices, every input column kept, in the scene's order: what the app's "Export
selection" writes, and ``liftstudio export --format selection --indices FILE.npy``
with the ``.npy`` that ``liftstudio select`` writes.
"""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path

import numpy as np

from liftstudio.errors import InputFileError, OutputFileError
from liftstudio.export.labeled_ply import ply_row_bytes
from liftstudio.export.safe_paths import check_free_space, check_output_file
from liftstudio.fileio import read_npy
from liftstudio.scene.formats import write_ply
from liftstudio.scene.gaussians import GaussianScene

_NPY_HINT = "save a bool (N,) mask or integer indices with numpy.save (as 'liftstudio select' does)"


def selection_mask(selection: np.ndarray, count: int) -> np.ndarray:
    """``selection`` (bool (N,) mask or integer indices) as a bool ``(count,)`` mask.

    Raises
    ------
    ValueError
        For another shape or dtype, or indices outside ``[0, count)``.
    """
    selection = np.asarray(selection)
    if selection.dtype == bool:
        if selection.shape != (count,):
            raise ValueError(
                f"a boolean selection must have shape ({count},), one per Gaussian; "
                f"got {selection.shape}"
            )
        return selection
    if selection.ndim != 1 or (selection.size and selection.dtype.kind not in "iu"):
        raise ValueError(
            f"a selection is a bool (N,) mask or 1D integer indices; got {selection.dtype} "
            f"with shape {selection.shape}"
        )
    if selection.size and (selection.min() < 0 or selection.max() >= count):
        raise ValueError(f"selection indices must lie in [0, {count}); got {selection.min()}.."
                         f"{selection.max()}")  # fmt: skip
    mask = np.zeros(count, dtype=bool)
    mask[selection.astype(np.int64)] = True
    return mask


def read_selection(path: str | Path, count: int) -> np.ndarray:
    """A bool ``(count,)`` mask from a ``.npy`` file of a mask or of indices.

    Raises
    ------
    InputFileError
        Naming the file when it is missing, not one array, or not a selection of
        ``count`` Gaussians.
    """
    path = Path(path)
    array = read_npy(path, _NPY_HINT)
    try:
        return selection_mask(array, count)
    except ValueError as exc:
        raise InputFileError(path, f"{exc}; {_NPY_HINT}") from None


def write_selection_ply(
    scene: GaussianScene,
    selection: np.ndarray,
    path: str | Path,
    *,
    overwrite: bool = False,
    protected: Iterable[str | Path] = (),
) -> Path:
    """Write the selected Gaussians of ``scene`` to ``path`` (atomically).

    Parameters
    ----------
    scene
        The Gaussians.
    selection
        Bool ``(N,)`` mask or integer indices (repeats count once; the file keeps the
        scene's order).
    path
        Destination ``.ply``.
    overwrite
        Replace an existing file.
    protected
        Files that must never be written (the export's inputs).

    Returns
    -------
    Path
        ``path``.

    Raises
    ------
    ValueError
        When ``selection`` is malformed or selects nothing.
    OutputFileError
        When ``path`` is not a ``.ply``, is an input, exists (without ``overwrite``),
        cannot be written, or the disk is too full.
    """
    path = Path(path)
    mask = selection_mask(selection, len(scene))
    count = int(np.count_nonzero(mask))
    if count == 0:
        raise ValueError("the selection is empty: there is nothing to export")
    if path.suffix.lower() != ".ply":
        raise OutputFileError(path, "a selection PLY must end in .ply")
    check_output_file(path, overwrite=overwrite, inputs=protected)
    check_free_space(path.parent, count * ply_row_bytes(scene) + 4096, f"the selection {path.name}")
    return write_ply(scene.subset(mask), path, overwrite=overwrite)
