"""One PLY per instance and the selection PLY, checked against the input file's rows."""

from __future__ import annotations

import json

import numpy as np
import pytest
from labeled_scenes import input_scene, ply_rows, same_rows

from liftstudio.errors import InputFileError, OutputFileError
from liftstudio.export.instance_files import instance_file_names, write_instance_plys
from liftstudio.export.instance_table import instance_table
from liftstudio.export.selection_ply import read_selection, write_selection_ply
from liftstudio.jobs import CancelToken, JobCancelled
from liftstudio.scene.formats import read_gaussians, write_ply


@pytest.fixture
def source(tmp_path):
    """An input PLY on disk, its rows as plyfile reads them, and labels for it."""
    path = tmp_path / "input.ply"
    write_ply(input_scene(500), path)
    labels = np.random.default_rng(5).integers(0, 5, 500).astype(np.int32)
    labels[labels == 3] = 12  # ids need not be contiguous
    return path, read_gaussians(path), ply_rows(path), labels


TABLE = {1: {"name": "coffee mug", "class": "kitchen", "visible": False},
         2: {"name": "../../escape"}, 12: {"name": "CON"}, 40: {"name": "empty"}}  # fmt: skip


def test_each_instance_file_holds_exactly_its_rows(tmp_path, source):
    path, scene, rows, labels = source
    out = tmp_path / "objects"
    written = write_instance_plys(scene, labels, out, instances=TABLE, background=True,
                                  source=path, provenance={"method": "vote"})  # fmt: skip
    names = {p.name for p in out.iterdir()}
    assert names == {"coffee_mug_1.ply", "escape_2.ply", "instance_4.ply", "_CON_12.ply",
                     "background.ply", "instances.json"}  # fmt: skip
    for instance_id, file in [*written.files.items(), (0, written.background)]:
        assert same_rows(ply_rows(file), rows[labels == instance_id]), file.name
    index = json.loads(written.index.read_text())
    assert index["format"] == "liftstudio.instance-files" and index["gaussians"] == 500
    assert index["classes"] == ["kitchen"] and index["source"] == str(path)
    assert index["background"] == {"file": "background.ply", "count": int((labels == 0).sum())}
    entries = {entry["id"]: entry for entry in index["instances"]}
    assert sorted(entries) == [1, 2, 4, 12]  # the empty row 40 gets no file
    assert entries[1]["file"] == "coffee_mug_1.ply" and entries[1]["visible"] is False
    assert entries[1]["class"] == "kitchen" and entries[12]["name"] == "CON"
    for instance_id, entry in entries.items():
        members = scene.means[labels == instance_id]
        assert entry["count"] == len(members)
        np.testing.assert_array_equal(np.float32(entry["bbox_min"]), members.min(axis=0))
    assert written.paths[-1] == written.index and len(written.paths) == 6


def test_an_existing_file_stops_the_export_before_anything_is_written(tmp_path, source):
    _, scene, _, labels = source
    out = tmp_path / "objects"
    out.mkdir()
    (out / "escape_2.ply").write_bytes(b"mine")
    (out / "notes.txt").write_text("unrelated")
    with pytest.raises(OutputFileError, match=r"escape_2\.ply: already exists"):
        write_instance_plys(scene, labels, out, instances=TABLE)
    assert sorted(p.name for p in out.iterdir()) == ["escape_2.ply", "notes.txt"]
    assert (out / "escape_2.ply").read_bytes() == b"mine"
    write_instance_plys(scene, labels, out, instances=TABLE, overwrite=True)
    assert (out / "escape_2.ply").read_bytes() != b"mine"
    assert (out / "notes.txt").read_text() == "unrelated"  # other files are left alone


def test_a_cancelled_export_leaves_nothing(tmp_path, source):
    _, scene, _, labels = source
    token = CancelToken()
    calls = []

    def progress(done, total, message):
        calls.append(message)
        token.cancel()  # after the first file

    out = tmp_path / "new" / "objects"
    with pytest.raises(JobCancelled):
        write_instance_plys(scene, labels, out, progress=progress, cancel=token)
    assert len(calls) == 1
    assert not out.exists() and (tmp_path / "new").is_dir()


def test_the_input_file_is_never_an_instance_file(tmp_path, source):
    path, scene, _, labels = source
    target = tmp_path / "instance_4.ply"
    target.symlink_to(path)  # a link named like an output, pointing at the input
    before = path.read_bytes()
    with pytest.raises(OutputFileError, match="is an input of this export"):
        write_instance_plys(scene, labels, tmp_path, overwrite=True, protected=[path])
    assert path.read_bytes() == before


def test_names_that_collide_once_made_safe_stay_distinct():
    labels = np.array([1, 2, 3, 4], np.int32)
    table = instance_table(labels, np.zeros((4, 3)), {1: "a/b", 2: "a_b", 3: "background",
                                                      4: "instance_4"})  # fmt: skip
    names = instance_file_names(table)
    assert names == {1: "a_b_1.ply", 2: "a_b_2.ply", 3: "background_3.ply",
                     4: "instance_4.ply"}  # fmt: skip
    long = instance_table(labels[:2], np.zeros((2, 3)), {1: "x" * 300, 2: "X" * 300})
    a, b = instance_file_names(long).values()
    assert a.casefold() != b.casefold() and len(a.encode()) < 100


def test_selection_from_a_mask_or_indices(tmp_path, source):
    path, scene, rows, _ = source
    mask = np.zeros(500, bool)
    mask[[3, 99, 100, 499]] = True
    write_selection_ply(scene, mask, tmp_path / "mask.ply")
    write_selection_ply(scene, np.array([499, 3, 100, 99, 3]), tmp_path / "indices.ply")
    assert same_rows(ply_rows(tmp_path / "mask.ply"), rows[mask])
    assert (tmp_path / "indices.ply").read_bytes() == (tmp_path / "mask.ply").read_bytes()
    with pytest.raises(ValueError, match="empty"):
        write_selection_ply(scene, np.zeros(500, bool), tmp_path / "none.ply")
    with pytest.raises(ValueError, match=r"in \[0, 500\)"):
        write_selection_ply(scene, np.array([500]), tmp_path / "bad.ply")
    with pytest.raises(OutputFileError, match="is an input"):
        write_selection_ply(scene, mask, path, overwrite=True, protected=[path])


def test_selection_files_are_read_with_clear_errors(tmp_path):
    np.save(tmp_path / "mask.npy", np.arange(10) < 3)
    np.testing.assert_array_equal(read_selection(tmp_path / "mask.npy", 10), np.arange(10) < 3)
    np.save(tmp_path / "short.npy", np.ones(9, bool))
    with pytest.raises(InputFileError, match=r"short\.npy: .*shape \(10,\)"):
        read_selection(tmp_path / "short.npy", 10)
    np.save(tmp_path / "floats.npy", np.ones(10))
    with pytest.raises(InputFileError, match=r"floats\.npy: .*integer indices"):
        read_selection(tmp_path / "floats.npy", 10)
    with pytest.raises(InputFileError, match=r"missing\.npy: no such file"):
        read_selection(tmp_path / "missing.npy", 10)
