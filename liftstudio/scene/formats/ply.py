"""INRIA 3DGS PLY: read (binary or ASCII, any column order) and write.

Columns are read by name. The 3DGS columns become the fields of
:class:`~liftstudio.scene.gaussians.GaussianScene`; every other vertex column is
kept in ``extras`` with its dtype and written back bit-exactly.
"""

from __future__ import annotations

import logging
import re
from pathlib import Path

import numpy as np
from numpy.lib import recfunctions
from plyfile import PlyData, PlyElement, PlyParseError

from liftstudio.errors import InputFileError, SceneDataError
from liftstudio.fileio import atomic_output
from liftstudio.scene.formats.ply_header import PlyHeader, read_ply_header
from liftstudio.scene.gaussians import (
    DC_COLUMNS,
    NORMAL_COLUMNS,
    OPACITY_COLUMN,
    POSITION_COLUMNS,
    ROTATION_COLUMNS,
    SCALE_COLUMNS,
    GaussianScene,
    OnInvalid,
)

logger = logging.getLogger(__name__)

REQUIRED_COLUMNS = (
    POSITION_COLUMNS + DC_COLUMNS + (OPACITY_COLUMN,) + SCALE_COLUMNS + ROTATION_COLUMNS
)
_REST = re.compile(r"f_rest_(\d+)$")


def read_ply(
    path: str | Path, *, on_invalid: OnInvalid = "error", header: PlyHeader | None = None
) -> GaussianScene:
    """Read an INRIA-style Gaussian PLY.

    Parameters
    ----------
    path
        The ``.ply`` file.
    on_invalid
        ``"error"`` (default) refuses Gaussians with NaN/inf values or zero
        quaternions; ``"drop"`` skips them.
    header
        The already-parsed header, when the caller has it.

    Returns
    -------
    GaussianScene

    Raises
    ------
    InputFileError
        Truncated or malformed files, missing 3DGS columns, an ``f_rest`` count that
        is not an SH degree 0-3 layout, or invalid values (``on_invalid="error"``).
    """
    path = Path(path)
    header = header or read_ply_header(path)
    vertex = header.element("vertex")
    if vertex is None:
        raise InputFileError(path, "PLY has no 'vertex' element: it holds no Gaussians")
    if vertex.has_lists:
        raise InputFileError(path, "PLY 'vertex' element has list properties: not a Gaussian splat")
    names = vertex.property_names
    _check_columns(path, names)
    rest_names = _rest_columns(path, names)
    others = [e.name for e in header.elements if e.name != "vertex"]
    if others:
        logger.warning("%s: ignoring PLY elements %s (only 'vertex' holds Gaussians)", path, others)

    try:
        data = PlyData.read(str(path), mmap="c")["vertex"].data
    except (PlyParseError, ValueError, OSError) as exc:
        raise InputFileError(path, f"PLY data cannot be read: {exc}") from None

    # Fill the SH table straight from the file's columns: no intermediate copies.
    num_rest = len(rest_names) // 3
    sh = np.empty((len(data), 1 + num_rest, 3), dtype=np.float32)
    sh[:, 0, :] = _columns_view(data, DC_COLUMNS)
    if num_rest:
        rest = _columns_view(data, rest_names).reshape(len(data), 3, num_rest)
        sh[:, 1:, :] = rest.transpose(0, 2, 1)
    known = set(REQUIRED_COLUMNS) | set(rest_names)
    has_normals = all(n in names for n in NORMAL_COLUMNS)
    if has_normals:
        known |= set(NORMAL_COLUMNS)
    extras = {
        name: data[name].astype(data.dtype[name].newbyteorder("="), copy=True)
        for name in names
        if name not in known
    }
    try:
        return GaussianScene.from_columns(
            on_invalid=on_invalid,
            means=_block(data, POSITION_COLUMNS),
            raw_quats=_block(data, ROTATION_COLUMNS),
            log_scales=_block(data, SCALE_COLUMNS),
            logit_opacities=np.array(data[OPACITY_COLUMN], dtype=np.float32),
            sh=sh,
            normals=_block(data, NORMAL_COLUMNS) if has_normals else None,
            extras=extras,
        )
    except SceneDataError as exc:
        raise InputFileError(path, str(exc)) from None


def write_ply(
    scene: GaussianScene, path: str | Path, *, binary: bool = True, overwrite: bool = False
) -> Path:
    """Write ``scene`` as an INRIA-style PLY, extras after the 3DGS columns.

    The write is atomic (a temporary file in the same folder, then a rename), so an
    interrupted write never leaves a half-written file at ``path``.

    Parameters
    ----------
    scene
        The Gaussians.
    path
        Destination ``.ply``.
    binary
        Binary little-endian (default) or ASCII.
    overwrite
        Replace an existing file; by default an existing file is an error.

    Returns
    -------
    Path
        ``path``.
    """
    path = Path(path)
    core = list(scene.core_column_arrays())
    dtype = [(name, "<f4") for name, _ in core]
    extras = {name: _ply_compatible(name, column) for name, column in scene.extras.items()}
    dtype += [(name, column.dtype.newbyteorder("<")) for name, column in extras.items()]
    table = np.empty(len(scene), dtype=dtype)
    for name, column in core:
        table[name] = column
    for name, column in extras.items():
        table[name] = column
    element = PlyElement.describe(table, "vertex")
    with atomic_output(path, overwrite=overwrite) as tmp:
        PlyData([element], text=not binary, byte_order="<").write(str(tmp))
    return path


_PLY_INTEGER_FALLBACK = {"b": np.uint8, "i": np.int32, "u": np.uint32}


def _ply_compatible(name: str, column: np.ndarray) -> np.ndarray:
    """Return ``column`` in a dtype PLY can store (PLY has no 64-bit integers or bools)."""
    if column.dtype.kind == "f" and column.dtype.itemsize in (4, 8):
        return column
    if column.dtype.kind in "iu" and column.dtype.itemsize <= 4:
        return column
    if column.dtype.kind not in _PLY_INTEGER_FALLBACK:
        raise SceneDataError(
            f"extra column {name!r} has dtype {column.dtype}, which PLY cannot store"
        )
    target = np.dtype(_PLY_INTEGER_FALLBACK[column.dtype.kind])
    if column.size and column.dtype.kind != "b":
        info = np.iinfo(target)
        if column.min() < info.min or column.max() > info.max:
            raise SceneDataError(
                f"extra column {name!r} holds values outside {target} (PLY has no 64-bit integers)"
            )
    return column.astype(target)


def _columns_view(data: np.ndarray, names: tuple[str, ...] | list[str]) -> np.ndarray:
    """Named float columns of a structured array as one (N, len) array, a view where possible."""
    return recfunctions.structured_to_unstructured(data[list(names)], dtype=np.float32, copy=False)


def _block(data: np.ndarray, names: tuple[str, ...] | list[str]) -> np.ndarray:
    """Copy named float columns of a structured array into a contiguous (N, len) array."""
    return np.array(_columns_view(data, names), dtype=np.float32, order="C", copy=True)


def _check_columns(path: Path, names: tuple[str, ...]) -> None:
    missing = [c for c in REQUIRED_COLUMNS if c not in names]
    if not missing:
        return
    if {"red", "green", "blue"} <= set(names) or len(missing) == len(REQUIRED_COLUMNS) - 3:
        raise InputFileError(
            path,
            "this PLY is a point cloud, not trained Gaussians (it lacks "
            + ", ".join(missing)
            + "); open the 3DGS output (point_cloud/iteration_*/point_cloud.ply) instead",
        )
    raise InputFileError(path, "missing 3DGS columns: " + ", ".join(missing))


def _rest_columns(path: Path, names: tuple[str, ...]) -> list[str]:
    indices = sorted(int(m.group(1)) for n in names if (m := _REST.match(n)))
    if indices != list(range(len(indices))):
        raise InputFileError(path, "f_rest_* columns are not numbered 0..M-1 without gaps")
    if len(indices) not in (0, 9, 24, 45):
        raise InputFileError(
            path,
            f"{len(indices)} f_rest columns is not an SH degree 0-3 layout "
            "(expected 0, 9, 24 or 45)",
        )
    return [f"f_rest_{i}" for i in indices]
