"""What a check finds (:class:`CheckItem`) and how the findings are shown (text, JSON).

The text report and the JSON hold the same items in the same order; the app's System
check dialog shows the text unchanged.
"""

from __future__ import annotations

import textwrap
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any

from liftstudio import __version__

#: Width the text report is wrapped to.
REPORT_WIDTH = 100


class Status(StrEnum):
    """How a checked part stands.

    ``ok``: works. ``missing``: an optional part is absent (LiftStudio works without
    it). ``warning``: works, but something needs attention. ``error``: something
    LiftStudio needs is broken (the doctor then exits with status 1).
    """

    OK = "ok"
    MISSING = "missing"
    WARNING = "warning"
    ERROR = "error"


@dataclass(frozen=True)
class CheckItem:
    """One finding of the doctor.

    Attributes
    ----------
    section
        The report section (``"Dependencies"``, ``"OpenGL"``...).
    name
        What was checked (``"numpy"``, ``"SAM checkpoint"``...).
    status
        :class:`Status`.
    detail
        What was found, one line.
    fix
        For anything not ok, exactly what to install or set; empty when ok.
    data
        The facts behind ``detail`` for scripts (paths, versions, byte counts), JSON-safe.
    """

    section: str
    name: str
    status: Status
    detail: str
    fix: str = ""
    data: Mapping[str, Any] = field(default_factory=dict)

    def as_dict(self) -> dict[str, Any]:
        """The item as JSON-ready values."""
        return {
            "section": self.section,
            "name": self.name,
            "status": self.status.value,
            "detail": self.detail,
            "fix": self.fix,
            "data": dict(self.data),
        }


def exit_status(items: Sequence[CheckItem]) -> int:
    """1 when any item is an error (something required is broken), else 0."""
    return int(any(item.status is Status.ERROR for item in items))


def counts(items: Sequence[CheckItem]) -> dict[str, int]:
    """How many items have each status, every status listed."""
    return {status.value: sum(item.status is status for item in items) for status in Status}


def _marker(status: Status) -> str:
    return f"[{status.value}]"


def format_report(items: Sequence[CheckItem], *, width: int = REPORT_WIDTH) -> str:
    """The plain-text report: sections of aligned items, then "What to do".

    Parameters
    ----------
    items
        From :func:`liftstudio.doctor.run_checks`, in order.
    width
        Lines are wrapped to this many characters (long paths may exceed it).

    Returns
    -------
    str
        ASCII markers (``[ok]``, ``[missing]``, ``[warning]``, ``[error]``), one item per
        entry; the "What to do" list holds each distinct fix line once (unwrapped, so
        commands can be copied), after the items it serves, worst first.
    """
    marker_width = max(len(_marker(status)) for status in Status)
    name_width = max((len(item.name) for item in items), default=0)
    indent = " " * (2 + marker_width + 1 + name_width + 2)
    lines = [f"LiftStudio {__version__} system check", ""]
    section = None
    for item in items:
        if item.section != section:
            if section is not None:
                lines.append("")
            lines.append(item.section)
            section = item.section
        head = f"  {_marker(item.status):<{marker_width}} {item.name:<{name_width}}  "
        lines.extend(
            textwrap.wrap(
                item.detail or "-",
                width=max(width, len(head) + 20),
                initial_indent=head,
                subsequent_indent=indent,
                break_long_words=False,
                break_on_hyphens=False,
            )
        )
    lines += ["", "What to do"]
    fixes = _distinct_fixes(items)
    if not fixes:
        lines.append("  Nothing: every part LiftStudio can use is in place.")
    for number, (fix, names, worst) in enumerate(fixes, start=1):
        # the fix on a line of its own, never wrapped: commands stay copyable
        lines += [f"  {number}. {_marker(worst)} {', '.join(names)}:", f"     {fix}"]
    tally = counts(items)
    lines += [
        "",
        f"{tally['ok']} ok, {tally['missing']} missing (optional), {tally['warning']} "
        f"warning(s), {tally['error']} error(s); exit status {exit_status(items)}",
    ]
    return "\n".join(lines) + "\n"


_SEVERITY = {Status.ERROR: 0, Status.WARNING: 1, Status.MISSING: 2, Status.OK: 3}


def _distinct_fixes(items: Sequence[CheckItem]) -> list[tuple[str, list[str], Status]]:
    """Each distinct fix of the items not ok: (fix, item names, worst status), worst first."""
    found: dict[str, tuple[list[str], Status]] = {}
    for item in items:
        if item.status is Status.OK or not item.fix:
            continue
        names, worst = found.get(item.fix, ([], Status.OK))
        if item.name not in names:
            names.append(item.name)
        found[item.fix] = (names, min(worst, item.status, key=_SEVERITY.__getitem__))
    ordered = sorted(found.items(), key=lambda entry: _SEVERITY[entry[1][1]])
    return [(fix, names, worst) for fix, (names, worst) in ordered]


def report_json(items: Sequence[CheckItem]) -> dict[str, Any]:
    """The report as a JSON-ready dict: version, exit status, counts and the items."""
    return {
        "liftstudio": __version__,
        "exit_status": exit_status(items),
        "counts": counts(items),
        "items": [item.as_dict() for item in items],
    }


def format_bytes(size: int) -> str:
    """``size`` in binary units with one decimal (``"1.5 GiB"``; below 1 KiB: ``"512 B"``)."""
    value = float(size)
    for unit in ("B", "KiB", "MiB", "GiB", "TiB"):
        if value < 1024 or unit == "TiB":
            return f"{int(value)} B" if unit == "B" else f"{value:.1f} {unit}"
        value /= 1024
    raise AssertionError("unreachable")
