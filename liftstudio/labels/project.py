"""Project files: the labels, instance table, history and settings saved beside a scene.

A project lives next to the scene it labels (:func:`project_path`): ``X/liftstudio.lsproj``
for a scene folder ``X/``, ``X/foo.lsproj`` for a splat file ``X/foo.ply``. It is a zip
written by :func:`numpy.savez` (never a pickle) holding

- ``ids`` (N,) int32, ``confidence`` (N,) float32, ``provenance`` (N,) int16;
- ``h<step>_<delta>_<field>``: the arrays of each history :class:`GaussianDelta`
  (steps numbered over the undo stack, oldest first, then the redo stack);
- ``meta``: UTF-8 JSON (as a uint8 array) with the format name and version, the
  LiftStudio version, the save time, the scene (path relative to the project, Gaussian
  count, a blake2b hash of the means), the provenance names, the instance table, the
  history steps (texts, table deltas, names of their arrays), the caller's settings and
  references (cached masks, features...).

Saving is crash-safe: the file is written to a temporary file beside the project,
flushed to disk and renamed over the project in one step, so the project on disk is
always a complete earlier or newer version. The version it replaces is kept as
``<project>.bak``. Autosaves go to ``<project>.autosave``; :func:`recovery_candidate`
offers one on the next open when it is newer than the project. Only files named
``*.lsproj``, ``*.lsproj.bak`` and ``*.lsproj.autosave`` (and their temporary files) are
ever written, so the user's scene files are never touched.

This module is the :class:`LabelModel`'s serializer: it reads and sets the model's
(and its :class:`History`'s) private state directly.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import logging
import os
import re
import secrets
import shutil
import time
import zipfile
from collections.abc import Mapping
from dataclasses import dataclass, fields
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from liftstudio import __version__
from liftstudio.errors import InputFileError, OutputFileError
from liftstudio.fileio import atomic_output
from liftstudio.labels.history import GaussianDelta, History, Step, TableDelta
from liftstudio.labels.label_model import InstanceRecord, LabelModel

if TYPE_CHECKING:
    from liftstudio.scene.discovery import OpenedScene

FORMAT = "liftstudio.project"
FORMAT_VERSION = 1
PROJECT_SUFFIX = ".lsproj"
FOLDER_PROJECT_NAME = "liftstudio" + PROJECT_SUFFIX
AUTOSAVE_SUFFIX = ".autosave"
BACKUP_SUFFIX = ".bak"
STALE_TEMP_AGE_S = 3600.0

_log = logging.getLogger(__name__)
_MAX_ID = int(np.iinfo(np.int32).max)
_DELTA_DTYPES = {
    "indices": np.int32,
    "old_ids": np.int32,
    "new_ids": np.int32,
    "old_confidence": np.float32,
    "new_confidence": np.float32,
    "old_provenance": np.int16,
    "new_provenance": np.int16,
}
assert tuple(_DELTA_DTYPES) == tuple(f.name for f in fields(GaussianDelta))


# ---------------------------------------------------------------------- paths
def project_path(scene_path: str | Path) -> Path:
    """Where the project of a scene lives.

    Parameters
    ----------
    scene_path
        A scene folder ``X/`` or a splat file ``X/foo.ply`` (what the user opened).

    Returns
    -------
    Path
        ``X/liftstudio.lsproj`` for a folder, ``X/foo.lsproj`` for a file.
    """
    scene_path = Path(scene_path)
    if scene_path.is_dir():
        return scene_path / FOLDER_PROJECT_NAME
    return scene_path.with_suffix(PROJECT_SUFFIX)


def autosave_path(project: str | Path) -> Path:
    """``<project>.autosave``: where autosaves of ``project`` go."""
    project = Path(project)
    return project.with_name(project.name + AUTOSAVE_SUFFIX)


def backup_path(project: str | Path) -> Path:
    """``<project>.bak``: the version of ``project`` that the last save replaced."""
    project = Path(project)
    return project.with_name(project.name + BACKUP_SUFFIX)


# ---------------------------------------------------------------------- scene identity
@dataclass(frozen=True)
class SceneInfo:
    """What a project records about its scene, to refuse loading it onto another.

    Attributes
    ----------
    path
        What the user opened (folder or splat file).
    num_gaussians
        Number of Gaussians.
    fingerprint
        Hex blake2b digest of the float32 means' bytes (:func:`means_fingerprint`).
    """

    path: Path
    num_gaussians: int
    fingerprint: str

    @classmethod
    def from_means(cls, path: str | Path, means: np.ndarray) -> SceneInfo:
        """The info of a scene at ``path`` whose Gaussians have centres ``means`` (N, 3)."""
        return cls(Path(path), int(np.shape(means)[0]), means_fingerprint(means))

    @classmethod
    def of(cls, scene: OpenedScene | SceneInfo) -> SceneInfo:
        """The info of an opened scene (hashes its means: compute it once per scene).

        Raises
        ------
        InputFileError
            When the scene holds no Gaussians.
        """
        if isinstance(scene, SceneInfo):
            return scene
        if scene.gaussians is None:
            raise InputFileError(scene.path, "holds no trained Gaussians to label")
        return cls.from_means(scene.path, scene.gaussians.means)


def means_fingerprint(means: np.ndarray) -> str:
    """Hex blake2b digest (16 bytes) of the means as contiguous float32 bytes."""
    data = np.ascontiguousarray(means, dtype=np.float32)
    return hashlib.blake2b(data.data, digest_size=16).hexdigest()


# ---------------------------------------------------------------------- history access
def history_state(history: History) -> tuple[list[Step], list[Step]]:
    """The undo steps (oldest first) and redo steps (next redo last) of ``history``.

    Reads History's private stacks; to be moved into :class:`History` if it grows a
    public accessor.
    """
    return list(history._undo), list(history._redo)


def restore_history(history: History, undo: list[Step], redo: list[Step]) -> None:
    """Replace the stacks of ``history`` with ``undo`` and ``redo`` (as :func:`history_state`).

    The oldest undo steps are dropped when they exceed the history's step or memory
    budget. Writes History's private stacks (see :func:`history_state`).
    """
    history.clear()
    history._undo.extend(undo)
    history._bytes = sum(step.nbytes for step in undo)
    history._redo.extend(redo)
    while len(history._undo) > 1 and (
        len(history._undo) > history.max_steps or history._bytes > history.max_bytes
    ):
        history._bytes -= history._undo.popleft().nbytes


# ---------------------------------------------------------------------- saving
@dataclass(frozen=True)
class ProjectSnapshot:
    """Everything a project file holds, taken from a model at one moment.

    Taking one (:func:`snapshot_project`) copies the label arrays (a few ms per million
    Gaussians) and must happen where the model is edited; writing it
    (:func:`write_snapshot`) may then run on a worker thread.
    """

    arrays: dict[str, np.ndarray]
    meta: dict[str, Any]
    scene: SceneInfo
    references: dict[str, str]


def snapshot_project(
    model: LabelModel,
    *,
    scene: OpenedScene | SceneInfo,
    settings: Mapping[str, Any] | None = None,
    references: Mapping[str, str | Path] | None = None,
) -> ProjectSnapshot:
    """Copy what a project file holds out of ``model``.

    Parameters
    ----------
    model
        The labels to save.
    scene
        The scene they label (an :class:`OpenedScene` or its :class:`SceneInfo`).
    settings
        A JSON-serialisable dict (viewport settings...), returned as is on load.
    references
        Name → path of files the project uses but does not hold (masks folders,
        feature files); stored relative to the project where possible.

    Raises
    ------
    ValueError
        When the model does not match the scene or ``settings`` is not JSON.
    """
    info = SceneInfo.of(scene)
    if model.num_gaussians != info.num_gaussians:
        raise ValueError(
            f"the model labels {model.num_gaussians} Gaussians, the scene has {info.num_gaussians}"
        )
    try:
        settings_copy = json.loads(json.dumps(dict(settings or {})))
    except (TypeError, ValueError) as exc:
        raise ValueError(f"settings must be JSON-serialisable: {exc}") from None
    arrays = {
        "ids": model._ids.copy(),
        "confidence": model._confidence.copy(),
        "provenance": model._provenance.copy(),
    }
    undo, redo = history_state(model.history)
    history = {
        "undo": [_step_json(step, i, arrays) for i, step in enumerate(undo)],
        "redo": [_step_json(step, len(undo) + i, arrays) for i, step in enumerate(redo)],
    }
    meta = {
        "provenance_names": model.provenance_names(),
        "instances": [{"id": i, **_record_json(r)} for i, r in sorted(model._table.items())],
        "history": history,
        "settings": settings_copy,
    }
    refs = {str(name): str(Path(p)) for name, p in (references or {}).items()}
    return ProjectSnapshot(arrays, meta, info, refs)


def write_snapshot(path: str | Path, snapshot: ProjectSnapshot, *, keep_previous: bool) -> Path:
    """Write ``snapshot`` to ``path`` atomically; optionally keep the old file as ``.bak``.

    Raises
    ------
    OutputFileError
        When ``path`` is not a project name (``*.lsproj``, ``*.lsproj.autosave``) or
        cannot be written.
    """
    path = Path(path)
    if not path.name.endswith((PROJECT_SUFFIX, PROJECT_SUFFIX + AUTOSAVE_SUFFIX)):
        raise OutputFileError(path, f"project files end in {PROJECT_SUFFIX}; choose such a name")
    _remove_stale_temp_files(path)
    meta = _file_meta(path, snapshot)
    with atomic_output(path, overwrite=True) as tmp:
        with open(tmp, "wb") as handle:
            np.savez(handle, meta=_json_bytes(meta), allow_pickle=False, **snapshot.arrays)
            handle.flush()
            os.fsync(handle.fileno())
        if keep_previous and path.is_file():
            _keep_previous(path)
    _sync_folder(path.parent)
    return path


def save_project(
    path: str | Path,
    model: LabelModel,
    *,
    scene: OpenedScene | SceneInfo,
    settings: Mapping[str, Any] | None = None,
    references: Mapping[str, str | Path] | None = None,
    keep_previous: bool = True,
) -> Path:
    """Save ``model`` (and its history) to the project file ``path``, crash-safely.

    Parameters
    ----------
    path
        The project file (``*.lsproj``, usually :func:`project_path` of the scene).
    model, scene, settings, references
        As :func:`snapshot_project`.
    keep_previous
        Keep the file being replaced as ``<path>.bak``.

    Returns
    -------
    Path
        ``path``.

    Raises
    ------
    OutputFileError
        When ``path`` is not a ``.lsproj`` name or cannot be written.
    """
    snapshot = snapshot_project(model, scene=scene, settings=settings, references=references)
    return write_snapshot(path, snapshot, keep_previous=keep_previous)


def save_autosave(
    project: str | Path,
    model: LabelModel,
    *,
    scene: OpenedScene | SceneInfo,
    settings: Mapping[str, Any] | None = None,
    references: Mapping[str, str | Path] | None = None,
) -> Path:
    """Save ``model`` to :func:`autosave_path` of ``project`` (atomic, no ``.bak``)."""
    snapshot = snapshot_project(model, scene=scene, settings=settings, references=references)
    return write_snapshot(autosave_path(project), snapshot, keep_previous=False)


def discard_autosave(project: str | Path) -> None:
    """Delete the autosave of ``project`` (after a save, or when recovery is declined)."""
    autosave_path(project).unlink(missing_ok=True)


# ---------------------------------------------------------------------- loading
@dataclass
class LoadedProject:
    """What :func:`load_project` read.

    Attributes
    ----------
    path
        The file read.
    model
        The labels, table and history (undo and redo).
    settings
        The settings dict given when saving.
    references
        Name → absolute path.
    saved_at
        When it was saved (UTC).
    history_steps
        Number of (undo, redo) steps restored.
    scene_path
        The scene it was saved for, resolved against the project's folder.
    liftstudio_version
        The LiftStudio version that wrote it.
    """

    path: Path
    model: LabelModel
    settings: dict[str, Any]
    references: dict[str, Path]
    saved_at: dt.datetime
    history_steps: tuple[int, int]
    scene_path: Path
    liftstudio_version: str


class _Corrupt(Exception):
    """Internal: the file is a project but its content is inconsistent."""


def load_project(
    path: str | Path,
    scene: OpenedScene | SceneInfo | None = None,
    *,
    history: History | None = None,
) -> LoadedProject:
    """Read a project file and rebuild its :class:`LabelModel`.

    Parameters
    ----------
    path
        A file written by :func:`save_project` or :func:`save_autosave`.
    scene
        The scene it is opened with: the Gaussian count and the means' hash must
        match. None skips these checks.
    history
        The loaded model's history (default :class:`History`); the saved steps are
        restored into it within its budget.

    Raises
    ------
    InputFileError
        Naming the file when it is missing, not a project, from a newer LiftStudio,
        truncated or corrupt, or saved for a different scene.
    """
    path = Path(path)
    if not path.is_file():
        raise InputFileError(path, "no such project file")
    info = None if scene is None else SceneInfo.of(scene)
    archive = _open_archive(path)
    try:
        return _load(path, archive, info, history if history is not None else History())
    except InputFileError:
        raise
    except (_Corrupt, KeyError, TypeError, ValueError, AttributeError, IndexError) as exc:
        raise InputFileError(
            path, f"is corrupt ({exc}); the previous version may be in {backup_path(path).name}"
        ) from None
    finally:
        archive.close()


def recovery_candidate(
    project: str | Path, scene: OpenedScene | SceneInfo | None = None
) -> Path | None:
    """The autosave to offer when opening ``project``, or None.

    It is offered when it exists, is newer than the project (or there is no project)
    and loads without error (for ``scene``, when given).
    """
    loaded = load_recovery(project, scene)
    return loaded.path if loaded is not None else None


def load_recovery(
    project: str | Path, scene: OpenedScene | SceneInfo | None = None
) -> LoadedProject | None:
    """The autosave of ``project``, loaded, when :func:`recovery_candidate` would offer it."""
    project = Path(project)
    autosave = autosave_path(project)
    try:
        autosave_mtime = autosave.stat().st_mtime_ns
    except OSError:
        return None
    try:
        if project.stat().st_mtime_ns >= autosave_mtime:
            return None
    except FileNotFoundError:
        pass
    except OSError:
        return None
    try:
        return load_project(autosave, scene)
    except InputFileError as exc:
        _log.warning("autosave not offered: %s", exc)
        return None


# ---------------------------------------------------------------------- autosave policy
class Autosaver:
    """When to autosave: after edits, at most every ``interval_s`` seconds.

    The app calls :meth:`mark_dirty` on each edit, asks :meth:`due` on a timer and
    calls :meth:`saved` once a save is written. Times are any monotonic clock
    (``time.monotonic()``).

    Parameters
    ----------
    interval_s
        Least time between autosaves.
    now
        The time the project was opened or last saved (default ``time.monotonic()``).
    """

    def __init__(self, interval_s: float = 120.0, *, now: float | None = None) -> None:
        if interval_s <= 0:
            raise ValueError(f"interval_s must be positive, got {interval_s}")
        self.interval_s = float(interval_s)
        self._edits = 0
        self._saved_edits = 0
        self._last_save = time.monotonic() if now is None else float(now)

    @property
    def edits(self) -> int:
        """Edits so far; pass it to :meth:`saved` when the snapshot was taken earlier."""
        return self._edits

    @property
    def dirty(self) -> bool:
        """Whether there are edits not yet saved."""
        return self._edits != self._saved_edits

    def mark_dirty(self) -> None:
        """Record an edit."""
        self._edits += 1

    def due(self, now: float) -> bool:
        """Whether to autosave: unsaved edits and ``interval_s`` since the last save."""
        return self.dirty and now - self._last_save >= self.interval_s

    def saved(self, now: float, *, edits: int | None = None) -> None:
        """Record a save at ``now`` holding the first ``edits`` edits (default: all)."""
        self._saved_edits = self._edits if edits is None else int(edits)
        self._last_save = float(now)


# ---------------------------------------------------------------------- writing helpers
def _file_meta(path: Path, snapshot: ProjectSnapshot) -> dict[str, Any]:
    base = path.parent
    return {
        "format": FORMAT,
        "format_version": FORMAT_VERSION,
        "liftstudio_version": __version__,
        "saved_at": dt.datetime.now(dt.UTC).isoformat(),
        "scene": {
            "path": _portable(snapshot.scene.path, base),
            "num_gaussians": snapshot.scene.num_gaussians,
            "means_blake2b": snapshot.scene.fingerprint,
        },
        **snapshot.meta,
        "references": {name: _portable(Path(p), base) for name, p in snapshot.references.items()},
    }


def _step_json(step: Step, number: int, arrays: dict[str, np.ndarray]) -> dict[str, Any]:
    deltas = []
    for d, delta in enumerate(step.deltas):
        if isinstance(delta, TableDelta):
            deltas.append(
                {"table": {"before": _rows_json(delta.before), "after": _rows_json(delta.after)}}
            )
            continue
        key = f"h{number}_{d}"
        for name in _DELTA_DTYPES:
            arrays[f"{key}_{name}"] = getattr(delta, name)
        deltas.append({"gaussians": key})
    return {"text": step.text, "deltas": deltas}


def _rows_json(rows: Mapping[int, object | None]) -> list[list[Any]]:
    return [[int(i), None if r is None else _record_json(r)] for i, r in rows.items()]


def _record_json(record: object) -> dict[str, Any]:
    assert isinstance(record, InstanceRecord)
    return {
        "name": record.name,
        "class_name": record.class_name,
        "colour": None if record.colour is None else [int(c) for c in record.colour],
        "visible": bool(record.visible),
        "locked": bool(record.locked),
    }


def _json_bytes(meta: dict[str, Any]) -> np.ndarray:
    return np.frombuffer(json.dumps(meta, ensure_ascii=False).encode("utf-8"), dtype=np.uint8)


def _portable(target: Path, base: Path) -> str:
    """``target`` relative to ``base`` where possible (POSIX separators), else absolute."""
    target = Path(os.path.abspath(target))
    try:
        return Path(os.path.relpath(target, os.path.abspath(base))).as_posix()
    except ValueError:  # another drive on Windows
        return str(target)


def _resolved(stored: str, base: Path) -> Path:
    return Path(os.path.normpath(Path(os.path.abspath(base)) / stored))


def _keep_previous(path: Path) -> None:
    """Make ``<path>.bak`` the current ``path`` (hard link, else copy), atomically."""
    backup = backup_path(path)
    tmp = backup.with_name(f".{backup.name}.{secrets.token_hex(4)}.part")
    try:
        try:
            os.link(path, tmp)
        except OSError:
            shutil.copy2(path, tmp)
        os.replace(tmp, backup)
    except OSError as exc:
        _log.warning("could not keep the previous project as %s: %s", backup, exc)
    finally:
        tmp.unlink(missing_ok=True)


def _remove_stale_temp_files(path: Path) -> None:
    """Delete temporary files of ``path`` and its ``.bak`` left by a crash (over an hour old)."""
    names = {re.escape(path.name), re.escape(backup_path(path).name)}
    pattern = re.compile(rf"^\.(?:{'|'.join(names)})\.[A-Za-z0-9_]{{8}}\.part$")
    cutoff = time.time() - STALE_TEMP_AGE_S
    try:
        candidates = [p for p in path.parent.iterdir() if pattern.match(p.name)]
    except OSError:
        return
    for candidate in candidates:
        try:
            if candidate.stat().st_mtime < cutoff:
                candidate.unlink()
        except OSError:
            pass


def _sync_folder(folder: Path) -> None:
    """Flush the folder entry of a rename to disk (POSIX; best effort)."""
    if os.name != "posix":
        return
    try:
        handle = os.open(folder, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(handle)
    except OSError:
        pass
    finally:
        os.close(handle)


# ---------------------------------------------------------------------- reading helpers
def _open_archive(path: Path) -> zipfile.ZipFile:
    try:
        return zipfile.ZipFile(path)
    except zipfile.BadZipFile:
        raise InputFileError(
            path,
            "is not a LiftStudio project (not a zip archive); it may be truncated or corrupt, "
            f"the previous version may be in {backup_path(path).name}",
        ) from None
    except OSError as exc:
        raise InputFileError(path, f"cannot be read ({exc.strerror or exc})") from None


def _array(archive: zipfile.ZipFile, name: str) -> np.ndarray:
    try:
        with archive.open(f"{name}.npy") as member:
            return np.lib.format.read_array(member, allow_pickle=False)
    except KeyError:
        raise _Corrupt(f"the array {name!r} is missing") from None
    except (OSError, EOFError, ValueError, zipfile.BadZipFile) as exc:
        raise _Corrupt(f"the array {name!r} is unreadable: {exc}") from None


def _read_meta(path: Path, archive: zipfile.ZipFile) -> dict[str, Any]:
    not_project = "is not a LiftStudio project (no project data in the archive)"
    if "meta.npy" not in archive.namelist():
        raise InputFileError(path, not_project)
    raw = _array(archive, "meta")
    try:
        meta = json.loads(raw.astype(np.uint8, copy=False).tobytes().decode("utf-8"))
    except (UnicodeDecodeError, ValueError):
        raise _Corrupt("the project data is not valid JSON") from None
    if not isinstance(meta, dict) or meta.get("format") != FORMAT:
        raise InputFileError(path, not_project)
    version = meta.get("format_version")
    if not isinstance(version, int) or version < 1:
        raise _Corrupt(f"bad format_version {version!r}")
    if version > FORMAT_VERSION:
        raise InputFileError(
            path,
            f"was written by a newer LiftStudio ({meta.get('liftstudio_version')}, project "
            f"format {version}; this version reads format {FORMAT_VERSION}); update LiftStudio",
        )
    return meta


def _check_scene(path: Path, meta: dict[str, Any], info: SceneInfo | None) -> int:
    saved = meta["scene"]
    count = saved["num_gaussians"]
    if not isinstance(count, int) or count < 0:
        raise _Corrupt(f"bad Gaussian count {count!r}")
    if info is None:
        return count
    if count != info.num_gaussians:
        raise InputFileError(
            path,
            f"was saved for a different scene: it labels {count} Gaussians, the open scene "
            f"has {info.num_gaussians}; open the scene it was made for ({saved.get('path')})",
        )
    if saved["means_blake2b"] != info.fingerprint:
        raise InputFileError(
            path,
            f"was saved for a different scene: the {count} Gaussians' positions differ from "
            f"those it was saved with; open the scene it was made for ({saved.get('path')})",
        )
    return count


def _load(
    path: Path, archive: zipfile.ZipFile, info: SceneInfo | None, history: History
) -> LoadedProject:
    meta = _read_meta(path, archive)
    count = _check_scene(path, meta, info)
    names = meta["provenance_names"]
    if not names or not all(isinstance(n, str) for n in names):
        raise _Corrupt("bad provenance names")
    ids = _checked(_array(archive, "ids"), "ids", np.int32, count, 0, _MAX_ID)
    confidence = _checked(_array(archive, "confidence"), "confidence", np.float32, count)
    provenance = _checked(
        _array(archive, "provenance"), "provenance", np.int16, count, 0, len(names) - 1
    )
    table = {}
    for row in meta["instances"]:
        table[_instance_id(row["id"])] = _record(row)
    undo = [_step(archive, s, count, len(names)) for s in meta["history"]["undo"]]
    redo = [_step(archive, s, count, len(names)) for s in meta["history"]["redo"]]
    settings = meta["settings"]
    if not isinstance(settings, dict):
        raise _Corrupt("settings are not a dict")
    base = path.parent
    model = LabelModel(0, history=history)
    model._ids = ids
    model._confidence = confidence
    model._provenance = provenance
    model._sources = list(names)
    model._counts = np.bincount(ids, minlength=1).astype(np.int64)
    model._table = table
    restore_history(model.history, undo, redo)
    return LoadedProject(
        path=path,
        model=model,
        settings=settings,
        references={str(k): _resolved(str(v), base) for k, v in meta["references"].items()},
        saved_at=dt.datetime.fromisoformat(meta["saved_at"]),
        history_steps=(len(undo), len(redo)),
        scene_path=_resolved(str(meta["scene"]["path"]), base),
        liftstudio_version=str(meta.get("liftstudio_version")),
    )


def _checked(
    array: np.ndarray,
    name: str,
    dtype: type,
    length: int,
    low: int | None = None,
    high: int | None = None,
) -> np.ndarray:
    """``array`` as a writable (length,) ``dtype`` array, its values within [low, high]."""
    if array.shape != (length,):
        raise _Corrupt(f"{name} has shape {array.shape}, expected ({length},)")
    kind = np.dtype(dtype).kind
    if array.dtype.kind != kind and not (kind == "i" and array.dtype.kind == "u"):
        raise _Corrupt(f"{name} has dtype {array.dtype}, expected {np.dtype(dtype)}")
    if low is not None and array.size and (array.min() < low or array.max() > high):
        raise _Corrupt(f"{name} holds values outside [{low}, {high}]")
    return np.require(array.astype(dtype, copy=False), requirements=["C", "W"])


def _step(archive: zipfile.ZipFile, raw: dict[str, Any], count: int, sources: int) -> Step:
    deltas: list[GaussianDelta | TableDelta] = []
    for entry in raw["deltas"]:
        if "table" in entry:
            before, after = entry["table"]["before"], entry["table"]["after"]
            deltas.append(TableDelta(_rows(before), _rows(after)))
            continue
        key = entry["gaussians"]
        if not isinstance(key, str):
            raise _Corrupt(f"bad history delta {key!r}")
        arrays = {name: _array(archive, f"{key}_{name}") for name in _DELTA_DTYPES}
        size = arrays["indices"].shape[0] if arrays["indices"].ndim == 1 else -1
        bounds = _delta_bounds(count, sources)
        values = {
            name: _checked(arrays[name], f"{key}_{name}", dtype, size, *bounds.get(name, ()))
            for name, dtype in _DELTA_DTYPES.items()
        }
        deltas.append(GaussianDelta(**values))
    text = raw["text"]
    if not isinstance(text, str):
        raise _Corrupt("bad history step text")
    return Step(text, deltas)


def _delta_bounds(count: int, sources: int) -> dict[str, tuple[int, int]]:
    return {
        "indices": (0, count - 1),
        "old_ids": (0, _MAX_ID),
        "new_ids": (0, _MAX_ID),
        "old_provenance": (0, sources - 1),
        "new_provenance": (0, sources - 1),
    }


def _rows(raw: list[list[Any]]) -> dict[int, object | None]:
    return {_instance_id(i): None if r is None else _record(r) for i, r in raw}


def _instance_id(value: Any) -> int:
    if not isinstance(value, int) or isinstance(value, bool) or not 1 <= value <= _MAX_ID:
        raise _Corrupt(f"bad instance id {value!r}")
    return value


def _record(raw: dict[str, Any]) -> InstanceRecord:
    name, class_name, colour = raw["name"], raw["class_name"], raw["colour"]
    visible, locked = raw["visible"], raw["locked"]
    if not all(v is None or isinstance(v, str) for v in (name, class_name)):
        raise _Corrupt("bad instance name")
    if colour is not None:
        if len(colour) != 3 or not all(isinstance(c, int) and 0 <= c <= 255 for c in colour):
            raise _Corrupt(f"bad instance colour {colour!r}")
        colour = tuple(colour)
    if not isinstance(visible, bool) or not isinstance(locked, bool):
        raise _Corrupt("bad instance flags")
    return InstanceRecord(name, class_name, colour, visible, locked)
