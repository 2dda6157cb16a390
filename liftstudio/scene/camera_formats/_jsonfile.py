"""Read a JSON camera file and pull typed, checked fields out of it.

Every problem becomes an :class:`InputFileError` that names the file, the record
(``camera 3``, ``frame 12``...) and the field, so a user can find and fix it.
"""

from __future__ import annotations

import json
import math
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from liftstudio.errors import InputFileError

_MISSING: Any = object()


def read_json(path: Path, what: str) -> Any:
    """Parse a UTF-8 JSON file.

    Parameters
    ----------
    path
        The file.
    what
        What the file should be (``"3DGS cameras.json"``), used in messages.

    Returns
    -------
    Any
        The parsed document.

    Raises
    ------
    InputFileError
        When the file cannot be read, is not UTF-8 text, or is not valid JSON.
    """
    try:
        raw = path.read_bytes()
    except FileNotFoundError:
        raise InputFileError(path, f"file not found (expected a {what})") from None
    except OSError as exc:
        raise InputFileError(path, f"cannot read the file: {exc.strerror or exc}") from None
    try:
        text = raw.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise InputFileError(
            path,
            f"not UTF-8 text (undecodable byte at offset {exc.start}); a {what} is a JSON "
            "text file: is this the right file?",
        ) from None
    try:
        return json.loads(text)
    except json.JSONDecodeError as exc:
        raise InputFileError(
            path, f"malformed JSON at line {exc.lineno}, column {exc.colno}: {exc.msg}"
        ) from None
    except RecursionError:
        raise InputFileError(path, "malformed JSON: nested too deeply") from None
    except ValueError as exc:  # e.g. an integer literal longer than Python accepts
        raise InputFileError(path, f"malformed JSON: {exc}") from None


def _is_number(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)


def _as_float(value: Any) -> float | None:
    """``value`` as a float, ``None`` if it is not a number; huge integers become inf."""
    if not _is_number(value):
        return None
    try:
        return float(value)
    except OverflowError:
        return math.inf


class Record:
    """A JSON object from a camera file, with checked accessors.

    Parameters
    ----------
    data
        The parsed JSON value (must be an object).
    path
        The file it came from (named in errors).
    where
        Which record it is, e.g. ``"camera 3"`` or ``"the top level"``.
    fallback
        Another record consulted for keys this one lacks (per-frame values falling
        back to file-wide ones).
    """

    def __init__(self, data: Any, path: Path, where: str, fallback: Record | None = None) -> None:
        if not isinstance(data, dict):
            raise InputFileError(
                path, f"{where} must be a JSON object, found {type(data).__name__}"
            )
        self.data = data
        self.path = path
        self.where = where
        self.fallback = fallback

    # ------------------------------------------------------------------ lookup
    def has(self, key: str) -> bool:
        """Whether ``key`` is present here or in the fallback record."""
        return key in self.data or (self.fallback is not None and self.fallback.has(key))

    def raw(self, key: str, hint: str = "") -> Any:
        """Return the value of ``key``, or raise an error naming the record and field."""
        if key in self.data:
            return self.data[key]
        if self.fallback is not None and self.fallback.has(key):
            return self.fallback.raw(key)
        if self.fallback is not None:
            problem = f"neither {self.where} nor {self.fallback.where} has a '{key}' field"
        else:
            problem = f"{self.where} has no '{key}' field"
        raise InputFileError(self.path, problem + hint)

    def fail(self, key: str, problem: str) -> InputFileError:
        """Make an error about field ``key`` of this record (for the caller to raise)."""
        return InputFileError(self.path, f"{self.where}: field '{key}' {problem}")

    # ------------------------------------------------------------------ typed values
    def text(self, key: str, hint: str = "") -> str:
        """Return a string field."""
        value = self.raw(key, hint)
        if not isinstance(value, str):
            raise self.fail(key, f"must be a string, found {value!r:.40}")
        return value

    def number(self, key: str, *, default: Any = _MISSING, positive: bool = False) -> float:
        """Return a finite number (optionally > 0); ``default`` when absent, if given."""
        if default is not _MISSING and not self.has(key):
            return default
        raw = self.raw(key)
        value = _as_float(raw)
        if value is None:
            raise self.fail(key, f"must be a number, found {raw!r:.40}")
        if not math.isfinite(value):
            raise self.fail(key, f"is not finite ({value})")
        if positive and value <= 0:
            raise self.fail(key, f"must be positive, found {value:g}")
        return value

    def size(self, key: str, hint: str = "") -> int:
        """Return a positive whole number of pixels (``800`` or ``800.0``)."""
        raw = self.raw(key, hint)
        value = _as_float(raw)
        if value is None or not math.isfinite(value) or value != int(value):
            raise self.fail(key, f"must be a whole number of pixels, found {raw!r:.40}")
        if value <= 0:
            raise self.fail(key, f"must be positive, found {raw}")
        return int(value)

    def items(self, key: str, hint: str = "") -> list[Any]:
        """Return a non-empty JSON array."""
        value = self.raw(key, hint)
        if not isinstance(value, list):
            raise self.fail(key, f"must be a list, found {type(value).__name__}")
        if not value:
            raise self.fail(key, "is empty")
        return value

    def array(self, key: str, shapes: Sequence[tuple[int, ...]]) -> np.ndarray:
        """Return a finite float64 array whose shape is one of ``shapes``."""
        value = self.raw(key)
        wanted = " or ".join("x".join(map(str, shape)) for shape in shapes)
        try:
            array = np.asarray(value, dtype=np.float64)
        except (TypeError, ValueError, OverflowError):
            raise self.fail(key, f"must be a {wanted} array of numbers") from None
        if array.shape not in [tuple(shape) for shape in shapes] or not _all_numbers(value):
            raise self.fail(key, f"must be a {wanted} array of numbers, found {value!r:.60}")
        if not np.isfinite(array).all():
            raise self.fail(key, "contains NaN or infinity")
        return array


def _all_numbers(value: Any) -> bool:
    if isinstance(value, list):
        return all(_all_numbers(item) for item in value)
    return _is_number(value)
