"""The JSON documents exports write beside their files, byte-stable.

Every document is written by :func:`document_text`: the header fields one per line
in the caller's order, then a list of rows (instances) one JSON object per line. No
timestamp is written: the same labels exported twice give byte-identical files (the
file's modification time says when it was written), so exports can be compared with
``cmp`` or ``diff`` and kept under version control.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np

from liftstudio.errors import InputFileError
from liftstudio.export.instance_table import instance_specs

SIDECAR_SUFFIX = ".instances.json"
SIDECAR_FORMAT = "liftstudio.instances"
SIDECAR_VERSION = 2
"""Version 2 added ``label_column``, ``classes``, ``source``, ``options`` and the
instances' ``visible``/``locked``, and dropped the ``created`` timestamp; version 1
sidecars are still read."""


def sidecar_path(ply_path: str | Path) -> Path:
    """The sidecar of a labeled PLY: ``labeled.ply`` → ``labeled.instances.json``."""
    ply_path = Path(ply_path)
    return ply_path.with_name(ply_path.stem + SIDECAR_SUFFIX)


def document_text(head: Mapping[str, Any], rows_key: str, rows: list[dict[str, Any]]) -> str:
    """JSON text of ``head`` plus ``rows_key: rows``, the rows one per line.

    Numpy scalars and arrays become numbers and lists, anything else unknown (paths)
    its ``str``. Non-ASCII text is escaped, so the bytes do not depend on the locale.
    """
    if rows_key in head:
        raise ValueError(f"{rows_key!r} is both a header field and the rows' key")
    text = json.dumps(dict(head), indent=1, default=_json_default)
    body = ",\n  ".join(json.dumps(row, default=_json_default) for row in rows)
    table = f"[\n  {body}\n ]" if rows else "[]"
    opening = f"{text[:-2]},\n" if head else "{\n"
    return f"{opening} {json.dumps(rows_key)}: {table}\n}}\n"


def read_sidecar(sidecar: Path) -> dict[str, Any]:
    """The sidecar's JSON, checked to be a LiftStudio instance sidecar this version reads.

    Raises
    ------
    InputFileError
        When it is not JSON, not a sidecar, or from a newer LiftStudio.
    """
    try:
        document = json.loads(sidecar.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise InputFileError(sidecar, f"cannot be read as JSON ({exc})") from None
    if not isinstance(document, dict) or document.get("format") != SIDECAR_FORMAT:
        raise InputFileError(sidecar, f"is not a LiftStudio instance sidecar ({SIDECAR_FORMAT})")
    version = document.get("format_version")
    if not isinstance(version, int) or version > SIDECAR_VERSION:
        raise InputFileError(
            sidecar,
            f"has format version {version!r}; this LiftStudio reads versions 1 to "
            f"{SIDECAR_VERSION}: update LiftStudio",
        )
    return document


def sidecar_specs(sidecar: Path, document: Mapping[str, Any]) -> dict[int, dict[str, Any]]:
    """The sidecar's instance table as id → spec (see :func:`instance_specs`).

    Raises
    ------
    InputFileError
        When an entry is malformed (no id, bad colour...).
    """
    entries = document.get("instances") or []
    try:
        return instance_specs({int(entry["id"]): entry for entry in entries})
    except (TypeError, KeyError, ValueError) as exc:
        raise InputFileError(sidecar, f"has a malformed instance table ({exc})") from None


def _json_default(value: object) -> object:
    if isinstance(value, np.generic):
        return value.item()
    if isinstance(value, np.ndarray):
        return value.tolist()
    return str(value)
