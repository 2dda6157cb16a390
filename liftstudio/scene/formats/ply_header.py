"""Read and sanity-check a PLY header before any data is allocated.

plyfile does the actual reading; this module exists so that a header which lies
(a count larger than the file, 10^12 vertices, garbage) fails with a message naming
the file and the problem instead of a ``MemoryError`` or a numpy traceback.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from liftstudio.errors import InputFileError

logger = logging.getLogger(__name__)

MAX_HEADER_BYTES = 1 << 20

PLY_TYPES = {
    "char": "i1",
    "int8": "i1",
    "uchar": "u1",
    "uint8": "u1",
    "short": "i2",
    "int16": "i2",
    "ushort": "u2",
    "uint16": "u2",
    "int": "i4",
    "int32": "i4",
    "uint": "u4",
    "uint32": "u4",
    "float": "f4",
    "float32": "f4",
    "double": "f8",
    "float64": "f8",
}
FORMATS = ("ascii", "binary_little_endian", "binary_big_endian")


@dataclass(frozen=True)
class PlyElementSpec:
    """One ``element`` of a PLY header.

    Attributes
    ----------
    name
        Element name (``vertex``, ``chunk``...).
    count
        Declared number of rows.
    properties
        ``(name, numpy dtype code)`` per scalar property, in file order.
    has_lists
        Whether any property is a list (variable row size).
    """

    name: str
    count: int
    properties: tuple[tuple[str, str], ...]
    has_lists: bool = False

    @property
    def property_names(self) -> tuple[str, ...]:
        """Property names in file order."""
        return tuple(name for name, _ in self.properties)

    def row_bytes(self) -> int:
        """Bytes per row in a binary file (only meaningful without list properties)."""
        return sum(np.dtype(code).itemsize for _, code in self.properties)


@dataclass(frozen=True)
class PlyHeader:
    """A parsed PLY header: format, elements, and where the data starts."""

    format: str
    elements: tuple[PlyElementSpec, ...]
    data_offset: int

    def element(self, name: str) -> PlyElementSpec | None:
        """The element called ``name``, or None."""
        return next((e for e in self.elements if e.name == name), None)


def read_ply_header(path: Path) -> PlyHeader:
    """Parse the header of ``path`` and check it against the file size.

    Raises
    ------
    InputFileError
        If the file is not a PLY, the header is malformed, or the declared element
        counts cannot fit in (or do not fill) the bytes that follow the header.
    """
    path = Path(path)
    try:
        with path.open("rb") as stream:
            head = stream.read(MAX_HEADER_BYTES)
    except OSError as exc:
        raise InputFileError(path, f"cannot be read ({exc.strerror or exc})") from None
    if not head.startswith(b"ply"):
        raise InputFileError(path, "not a PLY file (it does not start with 'ply')")
    end = head.find(b"end_header")
    if end < 0:
        raise InputFileError(
            path, "PLY header has no 'end_header' line: the file is cut short or not a PLY"
        )
    newline = head.find(b"\n", end)
    if newline < 0:
        raise InputFileError(path, "PLY header ends without a newline: the file is cut short")
    header = _parse(path, head[:end].decode("ascii", errors="replace"), newline + 1)
    _check_size(path, header, path.stat().st_size - header.data_offset)
    return header


def _parse(path: Path, text: str, data_offset: int) -> PlyHeader:
    fmt = None
    elements: list[PlyElementSpec] = []
    current: dict | None = None

    def close() -> None:
        if current is not None:
            elements.append(
                PlyElementSpec(
                    current["name"], current["count"], tuple(current["props"]), current["lists"]
                )
            )

    for number, raw in enumerate(text.splitlines()[1:], start=2):
        words = raw.split()
        if not words or words[0] in ("comment", "obj_info"):
            continue
        if words[0] == "format":
            if len(words) != 3 or words[1] not in FORMATS:
                raise InputFileError(
                    path, f"PLY header line {number}: unknown format {raw.strip()!r}"
                )
            fmt = words[1]
        elif words[0] == "element":
            close()
            if len(words) != 3 or not words[2].isdigit():
                raise InputFileError(
                    path,
                    f"PLY header line {number}: expected 'element NAME COUNT', got {raw.strip()!r}",
                )
            current = {"name": words[1], "count": int(words[2]), "props": [], "lists": False}
        elif words[0] == "property":
            if current is None:
                raise InputFileError(path, f"PLY header line {number}: property before any element")
            if len(words) == 5 and words[1] == "list":
                current["lists"] = True
                continue
            if len(words) != 3 or words[1] not in PLY_TYPES:
                raise InputFileError(
                    path, f"PLY header line {number}: bad property {raw.strip()!r}"
                )
            current["props"].append((words[2], PLY_TYPES[words[1]]))
        else:
            raise InputFileError(path, f"PLY header line {number}: unexpected {raw.strip()!r}")
    close()
    if fmt is None:
        raise InputFileError(path, "PLY header has no 'format' line")
    return PlyHeader(fmt, tuple(elements), data_offset)


def _check_size(path: Path, header: PlyHeader, available: int) -> None:
    if header.format == "ascii":
        # Each value takes at least one character plus a separator.
        needed = sum(e.count * max(1, len(e.properties)) * 2 for e in header.elements)
        if needed > available:
            biggest = max(header.elements, key=lambda e: e.count)
            raise InputFileError(
                path,
                f"header declares {biggest.count:,} '{biggest.name}' rows but only "
                f"{available:,} bytes of text follow: the file is truncated or the count is wrong",
            )
        return
    if any(e.has_lists for e in header.elements):
        return  # variable-size rows: plyfile checks while reading
    expected = sum(e.count * e.row_bytes() for e in header.elements)
    counts = ", ".join(f"{e.count:,} '{e.name}'" for e in header.elements)
    if expected > available:
        raise InputFileError(
            path,
            f"truncated: the header declares {counts} rows ({expected:,} bytes) but only "
            f"{available:,} bytes follow; the file is cut short or its header count is wrong",
        )
    smallest_row = min((e.row_bytes() for e in header.elements if e.count), default=1)
    if available - expected >= smallest_row:
        raise InputFileError(
            path,
            f"{available - expected:,} bytes follow the declared {counts} rows: "
            "the header's count is wrong or the file is corrupt",
        )
    if available > expected:
        logger.warning(
            "%s: %d stray bytes after the PLY data were ignored", path, available - expected
        )
