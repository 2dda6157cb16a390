"""Checks of the program itself and of the machine: versions, platform, RAM, CPUs, disk."""

from __future__ import annotations

import os
import platform
import shutil
from pathlib import Path

from liftstudio import __version__
from liftstudio.disk_cache import cache_root
from liftstudio.doctor.installation import Installation
from liftstudio.doctor.report import CheckItem, Status, format_bytes
from liftstudio.doctor.storage import existing_ancestor

SECTION = "LiftStudio"
RESOURCES = "Resources"

#: Below this much available RAM the report warns.
LOW_MEMORY_BYTES = 1024**3
#: Below this much free disk where the caches live the report warns (one cache's cap).
LOW_DISK_BYTES = 2 * 1024**3


def installation_items(installation: Installation) -> list[CheckItem]:
    """LiftStudio's version, the Python running it, the platform and whether it is frozen."""
    python = f"{platform.python_version()} ({platform.python_implementation()})"
    items = [
        CheckItem(SECTION, "LiftStudio", Status.OK, __version__, data={"version": __version__}),
        CheckItem(
            SECTION,
            "Python",
            Status.OK,
            f"{python}, {installation.executable}",
            data={"version": platform.python_version(), "executable": installation.executable},
        ),
        CheckItem(
            SECTION,
            "Platform",
            Status.OK,
            f"{platform.system()} {platform.release()} ({platform.machine()})",
            data={
                "system": platform.system(),
                "release": platform.release(),
                "machine": platform.machine(),
                "platform": platform.platform(),
            },
        ),
    ]
    if installation.frozen:
        detail = (
            "packaged build (frozen): optional Python packages cannot be added with pip; "
            "use a source install for SAM, DINOv2 or gsplat"
        )
    elif installation.source_root is not None:
        detail = f"source install from {installation.source_root}"
    else:
        detail = "installed package (not frozen)"
    items.append(
        CheckItem(
            SECTION,
            "Build",
            Status.OK,
            detail,
            data={
                "frozen": installation.frozen,
                "source_root": str(installation.source_root or ""),
            },
        )
    )
    return items


def memory_bytes(meminfo: Path = Path("/proc/meminfo")) -> tuple[int | None, int | None]:
    """Total and available RAM in bytes (``/proc/meminfo``, else ``os.sysconf``); None: unknown."""
    try:
        fields = {}
        for line in meminfo.read_text().splitlines():
            key, _, rest = line.partition(":")
            parts = rest.split()
            if parts and parts[0].isdigit():
                scale = 1024 if parts[1:] == ["kB"] else 1
                fields[key.strip()] = int(parts[0]) * scale
        if "MemTotal" in fields:
            return fields["MemTotal"], fields.get("MemAvailable")
    except OSError:
        pass
    return _sysconf_pages("SC_PHYS_PAGES"), _sysconf_pages("SC_AVPHYS_PAGES")


def _sysconf_pages(name: str) -> int | None:
    try:
        return int(os.sysconf(name)) * int(os.sysconf("SC_PAGE_SIZE"))
    except (AttributeError, ValueError, OSError):  # not on this platform
        return None


def memory_item() -> CheckItem:
    """Total and available RAM; a warning when little is available."""
    total, available = memory_bytes()
    if total is None:
        return CheckItem(RESOURCES, "Memory", Status.OK, "unknown on this platform")
    detail = f"{format_bytes(total)} total"
    if available is not None:
        detail += f", {format_bytes(available)} available"
    data = {"total_bytes": total, "available_bytes": available}
    if available is not None and available < LOW_MEMORY_BYTES:
        return CheckItem(
            RESOURCES,
            "Memory",
            Status.WARNING,
            detail + " (low)",
            "close other programs before opening large scenes",
            data,
        )
    return CheckItem(RESOURCES, "Memory", Status.OK, detail, data=data)


def cpu_item() -> CheckItem:
    """Logical CPUs, and how many of them this process may use."""
    logical = os.cpu_count()
    usable = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else logical
    detail = f"{usable} usable" + (f" of {logical} logical CPUs" if logical else "")
    return CheckItem(
        RESOURCES, "CPUs", Status.OK, detail, data={"logical": logical, "usable": usable}
    )


def disk_item() -> CheckItem:
    """Free disk space where the caches live; a warning below :data:`LOW_DISK_BYTES`."""
    root = cache_root()
    where = existing_ancestor(root)
    usage = shutil.disk_usage(where)
    detail = (
        f"{format_bytes(usage.free)} free of {format_bytes(usage.total)} on the disk holding {root}"
    )
    data = {"path": str(where), "free_bytes": usage.free, "total_bytes": usage.total}
    if usage.free < LOW_DISK_BYTES:
        return CheckItem(
            RESOURCES,
            "Disk (caches)",
            Status.WARNING,
            detail + " (low: the caches may use several GiB)",
            "free disk space there, or point LIFTSTUDIO_CACHE_DIR at a folder on a larger disk",
            data,
        )
    return CheckItem(RESOURCES, "Disk (caches)", Status.OK, detail, data=data)


__all__ = [
    "cpu_item",
    "disk_item",
    "installation_items",
    "memory_bytes",
    "memory_item",
]
