"""PlayCanvas / SuperSplat compressed PLY (``*.compressed.ply``): detect and read.

Layout (as written by SuperSplat and PlayCanvas ``splat-transform``):

- element ``chunk``, one row per 256 Gaussians (``ceil(N / 256)`` rows), float
  properties ``min_x min_y min_z max_x max_y max_z``, ``min_scale_x .. max_scale_z``
  (bounds of the *log* scales) and, optionally, ``min_r min_g min_b max_r max_g max_b``
  (bounds of the base colour ``0.5 + C0·f_dc``);
- element ``vertex``, four ``uint`` properties per Gaussian:

  - ``packed_position``: x, y, z as unsigned normalised 11/10/11 bits (x in the top
    bits), mapped linearly onto the chunk's min/max;
  - ``packed_rotation``: bits 30-31 hold the index (0-3) of the largest-magnitude
    component of the quaternion *in PLY order* ``rot_0..rot_3`` (= w, x, y, z); the
    other three components follow in that same order in bits 20-29, 10-19 and 0-9,
    each as ``(unorm10 - 0.5) · √2`` (range ±1/√2). The encoder flips the sign so the
    largest component is positive; it is rebuilt as ``sqrt(1 - a² - b² - c²)``;
  - ``packed_scale``: log scales, 11/10/11 bits over the chunk's scale bounds;
  - ``packed_color``: r, g, b, alpha as 8/8/8/8 bits (r in the top byte); r, g, b
    map onto the chunk's colour bounds when present (else onto [0, 1]); alpha is the
    activated opacity in [0, 1];

- optional element ``sh`` with 9, 24 or 45 ``uchar`` properties ``f_rest_0..``, the
  same channel-major layout as the INRIA ``f_rest`` columns, each byte ``q`` decoded
  as ``(v - 0.5) · 8`` with ``v = 0`` for 0, ``1`` for 255 and ``(q + 0.5)/256``
  otherwise (the inverse of the writer's ``trunc((f/8 + 0.5) · 256)``).

Decoding follows the format authors' arithmetic (float64, then float32), so the
result agrees with PlayCanvas's own decoder to float32 rounding. Opacity is stored as
a logit: alpha is clamped to ``[ALPHA_EPS, 1 - ALPHA_EPS]`` first, so the bytes 0 and
255 give finite logits (±13.8) instead of ±inf; the activated value moves by at most
``ALPHA_EPS`` = 1e-6, far below one quantisation step (1/255), so it re-quantises to
the same byte.
"""

from __future__ import annotations

import logging
from pathlib import Path

import numpy as np
from plyfile import PlyData, PlyParseError

from liftstudio.errors import InputFileError, SceneDataError
from liftstudio.scene.formats.ply_header import PlyElementSpec, PlyHeader, read_ply_header
from liftstudio.scene.gaussians import GaussianScene, OnInvalid
from liftstudio.scene.sh import SH_C0

logger = logging.getLogger(__name__)

#: Gaussians per ``chunk`` row.
CHUNK_SIZE = 256

#: Alpha is clamped to ``[ALPHA_EPS, 1 - ALPHA_EPS]`` before taking the logit.
ALPHA_EPS = 1e-6

POSITION_BOUNDS = ("min_x", "min_y", "min_z", "max_x", "max_y", "max_z")
SCALE_BOUNDS = (
    "min_scale_x",
    "min_scale_y",
    "min_scale_z",
    "max_scale_x",
    "max_scale_y",
    "max_scale_z",
)
COLOR_BOUNDS = ("min_r", "min_g", "min_b", "max_r", "max_g", "max_b")
PACKED_COLUMNS = ("packed_position", "packed_rotation", "packed_scale", "packed_color")

_PLY_TYPE_NAMES = {
    "i1": "char",
    "u1": "uchar",
    "i2": "short",
    "u2": "ushort",
    "i4": "int",
    "u4": "uint",
    "f4": "float",
    "f8": "double",
}

# For each index of the largest component: where the three stored ones go (w, x, y, z).
_OTHERS = np.array([[1, 2, 3], [0, 2, 3], [0, 1, 3], [0, 1, 2]], dtype=np.intp)


def is_compressed_ply(header: PlyHeader) -> bool:
    """Whether a PLY header looks like a PlayCanvas compressed PLY.

    Detection is deliberately loose (a ``chunk`` element and a ``vertex`` element
    with at least one ``packed_*`` property) so that a damaged compressed file is
    handed to :func:`read_compressed_ply`, which names what is missing, rather than
    to the plain PLY reader, which would only complain about absent ``x`` columns.

    Parameters
    ----------
    header
        A header from :func:`~liftstudio.scene.formats.ply_header.read_ply_header`.

    Returns
    -------
    bool
    """
    chunk = header.element("chunk")
    vertex = header.element("vertex")
    if chunk is None or vertex is None:
        return False
    return any(name.startswith("packed_") for name in vertex.property_names)


def alpha_to_logit(alpha: np.ndarray) -> np.ndarray:
    """Logit of activated opacities, clamped to ``[ALPHA_EPS, 1 - ALPHA_EPS]`` first.

    Parameters
    ----------
    alpha : array
        Opacities in [0, 1].

    Returns
    -------
    float64 array
        ``log(a / (1 - a))``, finite (|logit| ≤ 13.82).
    """
    clamped = np.clip(np.asarray(alpha, dtype=np.float64), ALPHA_EPS, 1.0 - ALPHA_EPS)
    return np.log(clamped / (1.0 - clamped))


def read_compressed_ply(
    path: str | Path, *, on_invalid: OnInvalid = "error", header: PlyHeader | None = None
) -> GaussianScene:
    """Read a PlayCanvas / SuperSplat compressed PLY.

    Parameters
    ----------
    path
        The ``.compressed.ply`` file.
    on_invalid
        ``"error"`` (default) refuses Gaussians with NaN/inf values; ``"drop"``
        skips them.
    header
        The already-parsed header, when the caller has it.

    Returns
    -------
    GaussianScene
        Raw values: log scales, opacity logits (alpha clamped, see the module
        docstring), ``f_dc = (colour - 0.5) / C0``, quaternions w, x, y, z (unit
        length up to the 10-bit quantisation). Vertex properties other than the
        ``packed_*`` ones are kept in ``extras``.

    Raises
    ------
    InputFileError
        Truncated files, missing elements or properties, wrong property types, a
        chunk count other than ``ceil(N / 256)``, a malformed ``sh`` element, or
        invalid values (``on_invalid="error"``).
    """
    path = Path(path)
    header = header or read_ply_header(path)
    vertex_spec, sh_spec, has_colors = _check_layout(path, header)

    tables = _read_tables(path, header)
    chunks, vertices = tables["chunk"], tables["vertex"]
    sh_rows = tables["sh"] if sh_spec is not None else None

    n = vertex_spec.count
    chunk_of = np.arange(n) // CHUNK_SIZE

    def bounds(names: tuple[str, ...]) -> list[np.ndarray]:
        return [np.asarray(chunks[name], dtype=np.float64)[chunk_of] for name in names]

    def unpacked(name: str) -> np.ndarray:
        return np.asarray(vertices[name]).astype(np.uint32, copy=False)

    position = unpacked("packed_position")
    means = _lerp_111011(position, bounds(POSITION_BOUNDS))
    log_scales = _lerp_111011(unpacked("packed_scale"), bounds(SCALE_BOUNDS))
    quats = _unpack_rotation(unpacked("packed_rotation"))

    color = unpacked("packed_color")
    rgb = np.stack([_unorm(color, shift, 8) for shift in (24, 16, 8)], axis=1)
    if has_colors:
        lo_r, lo_g, lo_b, hi_r, hi_g, hi_b = bounds(COLOR_BOUNDS)
        rgb = _lerp(np.stack([lo_r, lo_g, lo_b], 1), np.stack([hi_r, hi_g, hi_b], 1), rgb)
    f_dc = (rgb - 0.5) / SH_C0
    logit_opacities = alpha_to_logit(_unorm(color, 0, 8))

    sh_rest = np.zeros((n, 0, 3), dtype=np.float32)
    if sh_rows is not None:
        sh_rest = _decode_sh(sh_rows, sh_spec)
    sh = np.concatenate([f_dc.astype(np.float32)[:, None, :], sh_rest], axis=1)

    extras = {
        name: np.asarray(vertices[name]).astype(vertices.dtype[name].newbyteorder("="), copy=True)
        for name in vertex_spec.property_names
        if name not in PACKED_COLUMNS
    }
    try:
        return GaussianScene.from_columns(
            on_invalid=on_invalid,
            means=means.astype(np.float32),
            raw_quats=quats.astype(np.float32),
            log_scales=log_scales.astype(np.float32),
            logit_opacities=logit_opacities.astype(np.float32),
            sh=sh,
            extras=extras,
        )
    except SceneDataError as exc:
        raise InputFileError(path, str(exc)) from None


# ---------------------------------------------------------------------- validation
def _check_layout(
    path: Path, header: PlyHeader
) -> tuple[PlyElementSpec, PlyElementSpec | None, bool]:
    """Check elements, properties and counts; return (vertex, sh or None, has colours)."""
    names = [spec.name for spec in header.elements]
    repeated = sorted({name for name in names if names.count(name) > 1})
    if repeated:
        raise InputFileError(path, f"PLY declares element(s) {', '.join(repeated)} more than once")
    vertex = header.element("vertex")
    chunk = header.element("chunk")
    if chunk is None:
        raise InputFileError(path, "compressed PLY has no 'chunk' element")
    if vertex is None:
        raise InputFileError(path, "compressed PLY has no 'vertex' element")
    for spec in header.elements:
        if spec.has_lists:
            raise InputFileError(
                path,
                f"compressed PLY element '{spec.name}' has list properties, which it never has",
            )

    chunk_types = dict(chunk.properties)
    has_colors = any(name in chunk_types for name in COLOR_BOUNDS)
    required = POSITION_BOUNDS + SCALE_BOUNDS + (COLOR_BOUNDS if has_colors else ())
    _require(path, "chunk", chunk_types, required, ("f4", "f8"), "float")
    unknown = [name for name in chunk_types if name not in required]
    if unknown:
        logger.warning("%s: ignoring unknown 'chunk' properties %s", path, unknown)

    _require(path, "vertex", dict(vertex.properties), PACKED_COLUMNS, ("u4",), "uint")

    expected_chunks = -(-vertex.count // CHUNK_SIZE)
    if chunk.count != expected_chunks:
        raise InputFileError(
            path,
            f"compressed PLY declares {vertex.count:,} vertices, which need "
            f"{expected_chunks:,} chunks of {CHUNK_SIZE}, but it has {chunk.count:,} chunk rows",
        )

    sh = header.element("sh")
    if sh is not None:
        names = sh.property_names
        if len(names) not in (9, 24, 45):
            raise InputFileError(
                path,
                f"compressed PLY 'sh' element has {len(names)} properties; "
                "expected 9, 24 or 45 (SH degree 1-3)",
            )
        _require(
            path,
            "sh",
            dict(sh.properties),
            tuple(f"f_rest_{i}" for i in range(len(names))),
            ("u1",),
            "uchar",
        )
        if sh.count != vertex.count:
            raise InputFileError(
                path,
                f"compressed PLY 'sh' element has {sh.count:,} rows but there are "
                f"{vertex.count:,} vertices",
            )
    others = [e.name for e in header.elements if e.name not in ("chunk", "vertex", "sh")]
    if others:
        logger.warning("%s: ignoring PLY elements %s", path, others)
    return vertex, sh, has_colors


def _require(
    path: Path,
    element: str,
    types: dict[str, str],
    names: tuple[str, ...],
    allowed: tuple[str, ...],
    type_name: str,
) -> None:
    missing = [name for name in names if name not in types]
    if missing:
        raise InputFileError(
            path,
            f"compressed PLY '{element}' element lacks propert{'ies' if len(missing) > 1 else 'y'} "
            + ", ".join(missing),
        )
    wrong = [
        f"{name} ({_PLY_TYPE_NAMES.get(types[name], types[name])})"
        for name in names
        if types[name] not in allowed
    ]
    if wrong:
        raise InputFileError(
            path,
            f"compressed PLY '{element}' properties must be {type_name}, got " + ", ".join(wrong),
        )


def _read_tables(path: Path, header: PlyHeader) -> dict[str, np.ndarray]:
    """Read every element as a structured array (numpy for binary, plyfile for ASCII)."""
    try:
        if header.format == "ascii":
            ply = PlyData.read(str(path), mmap=False)
            return {element.name: element.data for element in ply.elements}
        order = "<" if header.format == "binary_little_endian" else ">"
        tables = {}
        offset = header.data_offset
        for spec in header.elements:
            dtype = np.dtype([(name, order + code) for name, code in spec.properties])
            tables[spec.name] = np.fromfile(path, dtype=dtype, count=spec.count, offset=offset)
            if tables[spec.name].shape[0] != spec.count:
                raise ValueError(f"element '{spec.name}' is cut short")
            offset += spec.count * dtype.itemsize
        return tables
    except (PlyParseError, ValueError, OSError) as exc:
        raise InputFileError(path, f"compressed PLY data cannot be read: {exc}") from None


# ---------------------------------------------------------------------- decoding
def _unorm(packed: np.ndarray, shift: int, bits: int) -> np.ndarray:
    """Unsigned normalised field of ``bits`` bits starting at bit ``shift``, in [0, 1]."""
    top = (1 << bits) - 1
    return ((packed >> np.uint32(shift)) & np.uint32(top)).astype(np.float64) / top


def _lerp(lo: np.ndarray, hi: np.ndarray, t: np.ndarray) -> np.ndarray:
    return lo * (1.0 - t) + hi * t


def _lerp_111011(packed: np.ndarray, bounds: list[np.ndarray]) -> np.ndarray:
    """Decode an 11/10/11-bit triple onto per-Gaussian (min x, y, z, max x, y, z)."""
    lo_x, lo_y, lo_z, hi_x, hi_y, hi_z = bounds
    return np.stack(
        [
            _lerp(lo_x, hi_x, _unorm(packed, 21, 11)),
            _lerp(lo_y, hi_y, _unorm(packed, 11, 10)),
            _lerp(lo_z, hi_z, _unorm(packed, 0, 11)),
        ],
        axis=1,
    )


def _unpack_rotation(packed: np.ndarray) -> np.ndarray:
    """Decode the 2+10+10+10-bit smallest-three quaternions to (N, 4) w, x, y, z."""
    stored = np.stack(
        [(_unorm(packed, shift, 10) - 0.5) * np.sqrt(2.0) for shift in (20, 10, 0)], axis=1
    )
    largest = np.sqrt(np.maximum(0.0, 1.0 - np.einsum("ij,ij->i", stored, stored)))
    which = (packed >> np.uint32(30)).astype(np.intp)
    rows = np.arange(packed.shape[0])
    quats = np.empty((packed.shape[0], 4), dtype=np.float64)
    quats[rows, which] = largest
    quats[rows[:, None], _OTHERS[which]] = stored
    return quats


def _decode_sh(rows: np.ndarray, spec: PlyElementSpec) -> np.ndarray:
    """Decode the uchar ``f_rest_*`` columns to (N, K-1, 3) coefficients."""
    count = len(spec.property_names)
    q = np.stack([np.asarray(rows[f"f_rest_{i}"]) for i in range(count)], axis=1)
    v = (q.astype(np.float64) + 0.5) / 256.0
    v[q == 0] = 0.0
    v[q == 255] = 1.0
    values = ((v - 0.5) * 8.0).astype(np.float32)
    return np.ascontiguousarray(values.reshape(len(q), 3, count // 3).transpose(0, 2, 1))
