"""Project files: round trip with history, .bak, corrupt files, crash safety, recovery."""

from __future__ import annotations

import hashlib
import json
import os
import random
import shutil
import signal
import subprocess
import sys
import time
import zipfile
from pathlib import Path

import numpy as np
import pytest

from liftstudio.errors import InputFileError, OutputFileError
from liftstudio.evaluate.demo_scene import demo_dir
from liftstudio.evaluate.synthetic import orbit_cameras, random_gaussians
from liftstudio.labels import History, LabelModel
from liftstudio.labels.project import (
    Autosaver,
    SceneInfo,
    autosave_path,
    backup_path,
    discard_autosave,
    load_project,
    project_path,
    recovery_candidate,
    save_autosave,
    save_project,
    snapshot_project,
    write_snapshot,
)
from liftstudio.scene.discovery import open_scene
from liftstudio.scene.output_folder import write_3dgs_output


# ---------------------------------------------------------------------- helpers
def edited_model(n: int, seed: int = 0) -> LabelModel:
    """A model with a lift, brush strokes, table edits, locks and undone steps."""
    rng = np.random.default_rng(seed)
    model = LabelModel(n)
    lift = rng.integers(0, 8, n)
    conf = rng.random(n).astype(np.float32)
    conf[::7] = np.nan
    model.replace_all(lift, confidence=conf, names={1: "table", 3: "mug"}, source="lift:vote")
    model.assign(rng.choice(n, n // 20, replace=False), 5, source="brush")
    model.rename(2, "chair")
    model.update_instance(4, class_name="plant", colour=(10, 200, 30))
    model.update_instance(1, locked=True)
    model.new_instance(rng.choice(n, n // 50, replace=False), name="lamp")
    model.merge([6, 7], into=2)
    model.update_instances([3, 5], visible=False)
    model.delete_instance(4)
    model.replace_all(rng.integers(0, 12, n), source="lift:contrastive")  # 1 stays locked
    model.assign(rng.choice(n, n // 10, replace=False), 0, source="eraser")
    for _ in range(3):
        model.undo()
    return model


def assert_same(a: LabelModel, b: LabelModel) -> None:
    np.testing.assert_array_equal(a.ids, b.ids)
    np.testing.assert_array_equal(a.confidence, b.confidence)  # NaN == NaN here
    np.testing.assert_array_equal(a.provenance_codes, b.provenance_codes)
    assert a.provenance_names() == b.provenance_names()
    assert a.instances() == b.instances()
    assert (len(a.history), a.history.undo_text, a.history.redo_text) == (
        len(b.history), b.history.undo_text, b.history.redo_text
    )  # fmt: skip


def constant_model(n: int, value: int) -> LabelModel:
    model = LabelModel(n)
    model.replace_all(np.full(n, value, np.int32))
    return model


def folder_hashes(folder: Path) -> dict[str, str]:
    return {
        str(p.relative_to(folder)): hashlib.sha256(p.read_bytes()).hexdigest()
        for p in sorted(folder.rglob("*"))
        if p.is_file()
    }


@pytest.fixture(scope="module")
def demo_scene():
    return open_scene(demo_dir())


@pytest.fixture
def small_scene(tmp_path):
    """A small generated 3DGS output folder in tmp (never the repo's demo)."""
    folder = write_3dgs_output(
        tmp_path / "scene", random_gaussians(300, seed=2), orbit_cameras(3, width_px=8, height_px=6)
    )
    return open_scene(folder)


def info(n: int, tag: str = "a") -> SceneInfo:
    return SceneInfo(
        Path("scene.ply"), n, hashlib.blake2b(tag.encode(), digest_size=16).hexdigest()
    )


# ---------------------------------------------------------------------- round trip
def test_round_trip_keeps_labels_table_and_both_history_stacks(tmp_path, demo_scene):
    n = len(demo_scene.gaussians)
    model = edited_model(n)
    assert model.history.can_redo and len(model.history) >= 5
    path = save_project(
        tmp_path / "demo.lsproj",
        model,
        scene=demo_scene,
        settings={"viewport": {"point_size": 2.5, "show_unlabeled": False}},
        references={"masks": tmp_path / "masks" / "sam", "features": "/data/feat.npy"},
    )
    loaded = load_project(path, demo_scene)
    assert_same(loaded.model, model)
    assert loaded.settings == {"viewport": {"point_size": 2.5, "show_unlabeled": False}}
    assert loaded.references == {
        "masks": tmp_path / "masks" / "sam",
        "features": Path("/data/feat.npy"),
    }
    assert loaded.scene_path == demo_dir()
    assert loaded.history_steps == (len(model.history), 3)
    assert abs(time.time() - loaded.saved_at.timestamp()) < 60
    other = loaded.model
    while model.history.can_undo:  # undo everything, comparing after each step
        assert model.undo() and other.undo()
        assert_same(other, model)
    assert not other.undo()
    while model.history.can_redo:
        assert model.redo() and other.redo()
        assert_same(other, model)
    assert not other.redo()


def test_file_is_a_plain_npz_without_pickles(tmp_path):
    model = edited_model(500)
    path = save_project(tmp_path / "p.lsproj", model, scene=info(500))
    with np.load(path, allow_pickle=False) as archive:
        assert {"ids", "confidence", "provenance", "meta"} <= set(archive.files)
        assert any(name.startswith("h0_0_") for name in archive.files)
        meta = json.loads(archive["meta"].tobytes())
    assert meta["format"] == "liftstudio.project" and meta["format_version"] == 1
    assert meta["scene"]["num_gaussians"] == 500
    assert [s["text"] for s in meta["history"]["redo"]] == [
        "eraser",
        "lift:contrastive",
        "delete 4",
    ]


def test_loaded_history_respects_the_new_budget(tmp_path):
    model = edited_model(400)
    path = save_project(tmp_path / "p.lsproj", model, scene=info(400))
    loaded = load_project(path, info(400), history=History(max_steps=2))
    assert len(loaded.model.history) == 2 and loaded.history_steps[1] == 3
    assert loaded.model.undo() and model.undo()
    assert loaded.model.undo() and model.undo()
    np.testing.assert_array_equal(loaded.model.ids, model.ids)
    assert not loaded.model.undo()


def test_paths_are_stored_relative_so_a_moved_folder_still_works(tmp_path, small_scene):
    project = project_path(small_scene.path)
    assert project == small_scene.path / "liftstudio.lsproj"
    save_project(
        project,
        constant_model(300, 2),
        scene=small_scene,
        references={"masks": small_scene.path / "masks"},
    )
    moved = shutil.move(small_scene.path, tmp_path / "moved")
    loaded = load_project(Path(moved) / "liftstudio.lsproj")  # no scene: no checks
    assert loaded.scene_path == tmp_path / "moved"
    assert loaded.references == {"masks": tmp_path / "moved" / "masks"}


def test_project_paths():
    assert project_path(Path("/x/foo.ply")) == Path("/x/foo.lsproj")
    assert autosave_path(Path("/x/foo.lsproj")) == Path("/x/foo.lsproj.autosave")
    assert backup_path(Path("/x/foo.lsproj")) == Path("/x/foo.lsproj.bak")


# ---------------------------------------------------------------------- .bak, inputs
def test_second_save_keeps_the_first_as_bak_and_never_touches_inputs(small_scene):
    folder = small_scene.path
    before = folder_hashes(folder)
    project = project_path(folder)
    first, second = constant_model(300, 1), constant_model(300, 2)
    save_project(project, first, scene=small_scene)
    assert not backup_path(project).exists()
    save_project(project, second, scene=small_scene)
    save_autosave(project, second, scene=small_scene)
    assert_same(load_project(project, small_scene).model, second)
    assert_same(load_project(backup_path(project), small_scene).model, first)
    assert_same(load_project(autosave_path(project), small_scene).model, second)
    discard_autosave(project)
    discard_autosave(project)  # missing is fine
    after = folder_hashes(folder)
    assert {k: v for k, v in after.items() if k in before} == before
    assert set(after) - set(before) == {"liftstudio.lsproj", "liftstudio.lsproj.bak"}


def test_refuses_to_write_anything_but_a_project_name(small_scene):
    ply = small_scene.gaussians_path
    before = ply.read_bytes()
    with pytest.raises(OutputFileError):
        save_project(ply, constant_model(300, 1), scene=small_scene)
    assert ply.read_bytes() == before
    with pytest.raises(ValueError, match="300"):
        save_project(ply.with_suffix(".lsproj"), constant_model(10, 1), scene=small_scene)


# ---------------------------------------------------------------------- bad files
def _rewrite(path: Path, meta_change=None, arrays_change=None) -> None:
    with np.load(path, allow_pickle=False) as archive:
        arrays = {name: archive[name] for name in archive.files}
    meta = json.loads(arrays.pop("meta").tobytes())
    if meta_change:
        meta_change(meta)
    if arrays_change:
        arrays_change(arrays)
    with open(path, "wb") as handle:
        data = np.frombuffer(json.dumps(meta).encode(), np.uint8)
        np.savez(handle, meta=data, **arrays)


def _set(mapping_path, value):
    def change(meta):
        *keys, last = mapping_path
        target = meta
        for key in keys:
            target = target[key]
        target[last] = value

    return change


def _array_set(name, index, value):
    def change(arrays):
        arrays[name] = arrays[name].astype(np.int64)
        arrays[name][index] = value

    return change


BAD_FILES = {
    "truncated": (lambda p: p.write_bytes(p.read_bytes()[: p.stat().st_size // 2]), "truncated"),
    "truncated-head": (lambda p: p.write_bytes(p.read_bytes()[:100]), "truncated"),
    "random": (lambda p: p.write_bytes(os.urandom(5000)), "not a zip"),
    "empty": (lambda p: p.write_bytes(b""), "not a zip"),
    "other-npz": (
        lambda p: (
            np.savez(str(p.with_suffix(".npz")), ids=np.zeros(3))
            or p.with_suffix(".npz").replace(p)
        ),
        "not a LiftStudio",
    ),
    "newer": (lambda p: _rewrite(p, _set(["format_version"], 2)), "newer LiftStudio"),
    "bad-json": (lambda p: _rewrite(p, _set(["instances"], [{"id": -3}])), "corrupt"),
    "negative-ids": (lambda p: _rewrite(p, None, _array_set("ids", 5, -1)), "ids holds values"),
    "huge-ids": (lambda p: _rewrite(p, None, _array_set("ids", 5, 2**40)), "ids holds values"),
    "short-ids": (
        lambda p: _rewrite(p, None, lambda a: a.update(ids=a["ids"][:-1])),
        "ids has shape",
    ),
    "history-index": (
        lambda p: _rewrite(p, None, _array_set("h0_0_indices", 0, 10**6)),
        "h0_0_indices holds values",
    ),
    "missing-array": (lambda p: _rewrite(p, None, lambda a: a.pop("h1_0_new_ids")), "missing"),
}


@pytest.mark.parametrize("damage", list(BAD_FILES))
def test_bad_files_raise_input_file_error_naming_the_file(tmp_path, damage):
    path = save_project(tmp_path / "p.lsproj", edited_model(300), scene=info(300))
    spoil, problem = BAD_FILES[damage]
    spoil(path)
    with pytest.raises(InputFileError, match=problem) as raised:
        load_project(path, info(300))
    assert raised.value.path == path and "p.lsproj" in str(raised.value)


def test_corrupt_member_data_is_caught_by_the_crc(tmp_path):
    path = save_project(tmp_path / "p.lsproj", constant_model(5000, 3), scene=info(5000))
    with zipfile.ZipFile(path) as archive:
        member = archive.getinfo("ids.npy")
        offset = member.header_offset + 30 + len(member.filename) + 200
    data = bytearray(path.read_bytes())
    data[offset] ^= 0xFF
    path.write_bytes(bytes(data))
    with pytest.raises(InputFileError, match="corrupt"):
        load_project(path, info(5000))


def test_a_project_of_another_scene_is_refused(tmp_path):
    path = save_project(tmp_path / "p.lsproj", constant_model(300, 1), scene=info(300, "a"))
    with pytest.raises(InputFileError, match="different scene: it labels 300") as raised:
        load_project(path, info(301, "a"))
    assert raised.value.path == path
    with pytest.raises(InputFileError, match="different scene: the 300 Gaussians' positions"):
        load_project(path, info(300, "b"))
    with pytest.raises(InputFileError, match="no such project"):
        load_project(tmp_path / "missing.lsproj")


def test_fingerprint_follows_the_means(tmp_path, small_scene):
    means = small_scene.gaussians.means.copy()
    assert SceneInfo.of(small_scene) == SceneInfo.from_means(small_scene.path, means)
    means[7, 1] += 1e-3
    moved = SceneInfo.from_means(small_scene.path, means)
    path = save_project(tmp_path / "p.lsproj", constant_model(300, 1), scene=small_scene)
    with pytest.raises(InputFileError, match="different scene"):
        load_project(path, moved)


# ---------------------------------------------------------------------- crash safety
CRASH_GAUSSIANS = 2_000_000
CRASH_SCRIPT = """
import sys
import numpy as np
from liftstudio.labels import History, LabelModel
from liftstudio.labels.project import SceneInfo, save_project
path, n, start = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
scene = SceneInfo("scene.ply", n, "0" * 32)
model = LabelModel(n, history=History(max_steps=1))
for k in range(start, start + 10_000):
    model.replace_all(np.full(n, k, np.int32))
    save_project(path, model, scene=scene)
    print(k, flush=True)
"""


def _constant_ids(path: Path, scene: SceneInfo) -> int:
    ids = load_project(path, scene).model.ids
    assert (ids == ids[0]).all()
    return int(ids[0])


def test_kill_during_save_leaves_a_complete_project(tmp_path):
    path = tmp_path / "big.lsproj"
    scene = SceneInfo(Path("scene.ply"), CRASH_GAUSSIANS, "0" * 32)
    rng = random.Random(7)
    for round_, delay in enumerate([0.05, 0.3, 0.6]):
        start = 1000 * (round_ + 1)
        proc = subprocess.Popen(
            [sys.executable, "-c", CRASH_SCRIPT, str(path), str(CRASH_GAUSSIANS), str(start)],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        try:
            first = proc.stdout.readline()
            assert first.strip() == str(start), proc.stderr.read()
            time.sleep(delay + rng.uniform(0.0, 0.1))
        finally:
            proc.send_signal(signal.SIGKILL)
            proc.wait()
        printed = [int(line) for line in [first, *proc.stdout.read().split()] if line.strip()]
        proc.stdout.close()
        proc.stderr.close()
        k = _constant_ids(path, scene)
        assert k in (printed[-1], printed[-1] + 1), (k, printed)
        backup = backup_path(path)
        if backup.exists():
            assert _constant_ids(backup, scene) <= k
        assert recovery_candidate(path, scene) is None  # temp files are never candidates
        leftovers = [p for p in tmp_path.iterdir() if p.name.endswith(".part")]
        assert all(p.name.startswith(".") for p in leftovers)


# ---------------------------------------------------------------------- recovery
def _age(path: Path, seconds_ago: float) -> None:
    stamp = time.time() - seconds_ago
    os.utime(path, (stamp, stamp))


def test_recovery_offers_only_a_newer_loadable_autosave(tmp_path):
    project = tmp_path / "p.lsproj"
    scene = info(200)
    assert recovery_candidate(project, scene) is None
    save_autosave(project, constant_model(200, 4), scene=scene)
    assert recovery_candidate(project, scene) == autosave_path(project)  # no project yet
    save_project(project, constant_model(200, 3), scene=scene)
    _age(project, 60)
    assert recovery_candidate(project, scene) == autosave_path(project)
    assert _constant_ids(recovery_candidate(project), scene) == 4
    assert recovery_candidate(project, info(200, "other")) is None  # another scene
    _age(autosave_path(project), 120)
    assert recovery_candidate(project, scene) is None  # older than the project
    autosave_path(project).write_bytes(b"PK\x03\x04 not really")
    assert recovery_candidate(project, scene) is None  # newer but corrupt
    discard_autosave(project)
    assert recovery_candidate(project, scene) is None


def test_snapshot_can_be_written_later(tmp_path):
    model = constant_model(100, 1)
    snapshot = snapshot_project(model, scene=info(100), settings={"x": [1, 2]})
    model.replace_all(np.full(100, 9))
    write_snapshot(tmp_path / "p.lsproj", snapshot, keep_previous=True)
    loaded = load_project(tmp_path / "p.lsproj", info(100))
    assert (loaded.model.ids == 1).all() and loaded.settings == {"x": [1, 2]}
    with pytest.raises(ValueError, match="JSON"):
        snapshot_project(model, scene=info(100), settings={"x": object()})


# ---------------------------------------------------------------------- autosave policy
def test_autosaver_due_and_saved():
    saver = Autosaver(10.0, now=0.0)
    assert not saver.dirty and not saver.due(100.0)
    saver.mark_dirty()
    assert not saver.due(5.0) and saver.due(10.0)
    taken = saver.edits  # a save starts from a snapshot ...
    saver.mark_dirty()  # ... while the user keeps editing
    saver.saved(12.0, edits=taken)
    assert saver.dirty and not saver.due(15.0) and saver.due(22.0)
    saver.saved(22.0)
    assert not saver.dirty and not saver.due(1000.0)
    with pytest.raises(ValueError):
        Autosaver(0)


def test_temp_files_left_by_a_crash_are_removed_once_stale(tmp_path):
    stale = tmp_path / ".p.lsproj.ab_cd123.part"
    fresh = tmp_path / ".p.lsproj.xy_zw789.part"
    stale_bak = tmp_path / ".p.lsproj.bak.0badf00d.part"
    other = tmp_path / ".q.lsproj.ab_cd123.part"
    for leftover in (stale, fresh, stale_bak, other):
        leftover.write_bytes(b"partial")
    for leftover in (stale, stale_bak, other):
        _age(leftover, 2 * 3600)
    save_project(tmp_path / "p.lsproj", constant_model(10, 1), scene=info(10))
    assert not stale.exists() and not stale_bak.exists()
    assert fresh.exists() and other.exists()
