"""Checks of what LiftStudio keeps on disk: caches, numba's kernels, projects.

The cache folders are those the caches themselves use (their default directories,
under :func:`liftstudio.disk_cache.cache_root`), so the report follows them if they
move.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

import liftstudio
from liftstudio.disk_cache import cache_root
from liftstudio.doctor.report import CheckItem, Status, format_bytes

SECTION = "Files"

#: Qt's organisation and application names, set by the app (liftstudio.app.launch).
APP_NAME = "LiftStudio"


def folder_usage(folder: Path, patterns: tuple[str, ...] = ("*",)) -> tuple[int, int]:
    """``(files, bytes)`` of the regular files under ``folder`` matching ``patterns``.

    Recursive; symbolic links are not followed; ``(0, 0)`` for a missing folder.
    """
    count = size = 0
    if not folder.is_dir():
        return 0, 0
    seen: set[Path] = set()
    for pattern in patterns:
        for path in folder.rglob(pattern):
            if path in seen or path.is_symlink() or not path.is_file():
                continue
            seen.add(path)
            try:
                size += path.stat().st_size
            except OSError:  # removed meanwhile
                continue
            count += 1
    return count, size


def _usage_text(files: int, size: int) -> str:
    text = f"{files} file{'s' if files != 1 else ''}, {size:,} bytes"
    return text + (f" ({format_bytes(size)})" if size >= 1024 else "")


def cache_root_item() -> CheckItem:
    """The folder every cache lives under, and what chose it."""
    root = cache_root()
    if os.environ.get("LIFTSTUDIO_CACHE_DIR"):
        origin = "from LIFTSTUDIO_CACHE_DIR"
    elif root.parent != Path.home() / ".cache" and os.environ.get("XDG_CACHE_HOME"):
        origin = "from XDG_CACHE_HOME"
    else:
        origin = "the default; set LIFTSTUDIO_CACHE_DIR to move it"
    data = {"path": str(root), "exists": root.is_dir()}
    if root.exists() and not (root.is_dir() and os.access(root, os.W_OK | os.X_OK)):
        return CheckItem(
            SECTION,
            "Cache folder",
            Status.WARNING,
            f"{root} ({origin}) is not a writable folder: nothing can be cached",
            f"make {root} a writable folder, or set LIFTSTUDIO_CACHE_DIR to one",
            data,
        )
    state = "exists" if root.is_dir() else "not created yet"
    return CheckItem(SECTION, "Cache folder", Status.OK, f"{root} ({origin}; {state})", data=data)


def known_caches() -> list[tuple[str, Path, int]]:
    """``(name, folder, size cap in bytes)`` of every on-disk cache, as the caches set them."""
    from liftstudio.lift.knn_graph import GraphCache
    from liftstudio.render.operator_cache import OperatorCache
    from liftstudio.sources.source_cache import FeatureCache, MaskCache

    caches = (
        ("operators", OperatorCache()),
        ("graphs", GraphCache()),
        ("masks", MaskCache()),
        ("features", FeatureCache()),
    )
    return [(name, cache.directory, cache.max_bytes) for name, cache in caches]


def cache_items() -> list[CheckItem]:
    """File count and size of each cache folder, and of any other folder under the root.

    The numba folder (``NUMBA_CACHE_DIR``, which a bundle puts under the cache root) is
    left to :func:`numba_cache_item`.
    """
    items = []
    known = known_caches()
    for name, folder, cap in known:
        files, size = folder_usage(folder)
        where = str(folder) if folder.is_dir() else f"{folder} (not created yet)"
        items.append(
            CheckItem(
                SECTION,
                f"Cache: {name}",
                Status.OK,
                f"{_usage_text(files, size)} of a {format_bytes(cap)} cap; {where}",
                data={"path": str(folder), "files": files, "bytes": size, "cap_bytes": cap},
            )
        )
    root = cache_root()
    known_folders = {folder.resolve() for _, folder, _ in known}
    numba = os.environ.get("NUMBA_CACHE_DIR")
    if numba:  # a bundle keeps numba's kernels under the cache root: see "Numba kernels"
        known_folders.add(Path(numba).expanduser().resolve())
    if root.is_dir():
        for folder in sorted(p for p in root.iterdir() if p.is_dir()):
            if folder.resolve() in known_folders:
                continue
            files, size = folder_usage(folder)
            items.append(
                CheckItem(
                    SECTION,
                    f"Cache: {folder.name}",
                    Status.OK,
                    f"{_usage_text(files, size)}; {folder} (not one of LiftStudio's caches)",
                    data={"path": str(folder), "files": files, "bytes": size},
                )
            )
    return items


def numba_cache_item() -> CheckItem:
    """Where numba keeps the compiled CPU kernels, and how much is there."""
    patterns = ("*.nbi", "*.nbc")
    configured = os.environ.get("NUMBA_CACHE_DIR")
    if configured:
        folder = Path(configured).expanduser()
        files, size = folder_usage(folder, patterns)
        detail = f"NUMBA_CACHE_DIR={folder}: {_usage_text(files, size)}"
        writable = _can_write_in(existing_ancestor(folder))
    else:
        folder = Path(liftstudio.__file__).resolve().parent
        files, size = folder_usage(folder, patterns)
        detail = (
            f"next to the package (__pycache__ folders under {folder}): {_usage_text(files, size)}"
        )
        writable = _can_write_in(folder)
    data = {"path": str(folder), "files": files, "bytes": size, "writable": writable}
    if not writable:
        detail += (
            "; not writable: numba uses its user-wide cache folder instead"
            if not configured
            else "; not writable: kernels are compiled again in every run (slow start)"
        )
        if configured:
            return CheckItem(
                SECTION,
                "Numba kernels",
                Status.WARNING,
                detail,
                f"make {folder} writable or point NUMBA_CACHE_DIR at a writable folder",
                data,
            )
    return CheckItem(SECTION, "Numba kernels", Status.OK, detail, data=data)


def _can_write_in(folder: Path) -> bool:
    """Whether files can be made in ``folder`` (a folder this process may write)."""
    return folder.is_dir() and os.access(folder, os.W_OK | os.X_OK)


def existing_ancestor(path: Path) -> Path:
    """``path`` or its nearest existing parent (where a folder to be made would live)."""
    path = path.absolute()
    while not path.exists() and path != path.parent:
        path = path.parent
    return path


def app_data_folder() -> Path:
    """Qt's ``AppDataLocation`` for the app's names (where the demo's project lives).

    The same rule as ``QStandardPaths.writableLocation(AppDataLocation)`` with the
    organisation and application both named ``LiftStudio``, without importing Qt.
    """
    if sys.platform == "win32":
        base = Path(os.environ.get("APPDATA") or Path.home() / "AppData" / "Roaming")
    elif sys.platform == "darwin":
        base = Path.home() / "Library" / "Application Support"
    else:
        xdg = os.environ.get("XDG_DATA_HOME", "")
        base = Path(xdg) if xdg and Path(xdg).is_absolute() else Path.home() / ".local/share"
    return base / APP_NAME / APP_NAME


def projects_item() -> CheckItem:
    """Where projects and autosaves are written, and the demo's project."""
    from liftstudio.labels.project import AUTOSAVE_SUFFIX, FOLDER_PROJECT_NAME, PROJECT_SUFFIX

    demo = app_data_folder() / f"demo{PROJECT_SUFFIX}"
    autosave = demo.with_name(demo.name + AUTOSAVE_SUFFIX)
    state = "exists" if demo.is_file() else "not saved yet"
    if autosave.is_file():
        state += ", with an autosave"
    return CheckItem(
        SECTION,
        "Projects",
        Status.OK,
        f"beside each scene ({FOLDER_PROJECT_NAME} in a scene folder, "
        f"NAME{PROJECT_SUFFIX} beside a splat file; autosaves *{PROJECT_SUFFIX}"
        f"{AUTOSAVE_SUFFIX}); the demo's: {demo} ({state})",
        data={"demo_project": str(demo), "demo_exists": demo.is_file()},
    )
