"""Labeled PLY + sidecar: input columns kept bit-exactly, the instance table, safe writes."""

from __future__ import annotations

import itertools
import json
import shutil

import numpy as np
import pytest
from plyfile import PlyData

import liftstudio.export.labeled_ply as labeled_ply
from liftstudio import __version__
from liftstudio.errors import InputFileError, OutputFileError, SceneDataError
from liftstudio.evaluate.score_file import read_label_column
from liftstudio.evaluate.synthetic import random_gaussians
from liftstudio.export import (
    instance_colour,
    read_labeled_ply,
    sidecar_path,
    write_labeled_ply,
)
from liftstudio.scene.formats import read_gaussians, write_ply


def _input_ply(tmp_path, n=500):
    """A PLY with SH degree 1, normals and extra columns of several dtypes."""
    scene = random_gaussians(n, sh_degree=1, seed=3)
    rng = np.random.default_rng(0)
    scene.extras = {
        "segment_u8": rng.integers(0, 255, n).astype(np.uint8),
        "weight_f64": rng.normal(size=n),
        "flag_i16": rng.integers(-500, 500, n).astype(np.int16),
    }
    scene.extras["weight_f64"][:3] = [np.nan, -0.0, np.inf]  # bit patterns must survive
    path = tmp_path / "input.ply"
    write_ply(scene, path)
    return path


def _labels(n, seed=1, high=7):
    labels = np.random.default_rng(seed).integers(0, high, n).astype(np.int32)
    labels[:5] = 0
    return labels


def _columns(path):
    vertex = PlyData.read(str(path))["vertex"]
    return {p.name: np.asarray(vertex[p.name]) for p in vertex.properties}


def test_round_trip_keeps_every_input_column_bit_exact(tmp_path):
    source = _input_ply(tmp_path)
    scene = read_gaussians(source)
    labels = _labels(len(scene))
    out = write_labeled_ply(scene, labels, tmp_path / "labeled.ply", input_path=source)
    before, after = _columns(source), _columns(out)
    assert list(after) == [*before, "instance"]
    for name, column in before.items():
        assert after[name].dtype == column.dtype, name
        assert after[name].tobytes() == column.tobytes(), name
    assert after["instance"].dtype == np.dtype("<i4")
    np.testing.assert_array_equal(after["instance"], labels)


def test_round_trip_on_a_real_scene_with_another_column_order(tmp_path, real_data):
    source = real_data / "guitar.decoded-by-splat-transform.ply"
    scene = read_gaussians(source)
    labels = _labels(len(scene), high=40)
    confidence = np.random.default_rng(2).random(len(scene)).astype(np.float32)
    out = write_labeled_ply(scene, labels, tmp_path / "guitar.ply", confidence=confidence)
    before, after = _columns(source), _columns(out)
    assert set(after) == {*before, "instance", "confidence"}
    for name, column in before.items():
        assert after[name].tobytes() == column.tobytes(), name
    assert after["confidence"].dtype == np.dtype("<f4")
    np.testing.assert_array_equal(after["confidence"], confidence)
    back = read_labeled_ply(out)
    np.testing.assert_array_equal(back.labels, labels)
    np.testing.assert_array_equal(back.confidence, confidence)
    assert back.scene.extras == {} and back.scene.content_hash() == scene.content_hash()


def test_sidecar_holds_counts_boxes_names_colours_and_provenance(tmp_path):
    source = _input_ply(tmp_path)
    scene = read_gaussians(source)
    labels = _labels(len(scene))
    labels[labels == 4] = 9  # ids need not be contiguous
    out = write_labeled_ply(
        scene,
        labels,
        tmp_path / "labeled.ply",
        instances={2: "mug", 9: {"name": "chair", "class": "furniture", "colour": [1, 2, 3]},
                   42: "never seen"},
        provenance={"method": "vote", "seed": np.int64(7), "masks": tmp_path},
    )  # fmt: skip
    sidecar = tmp_path / "labeled.instances.json"
    assert sidecar_path(out) == sidecar
    document = json.loads(sidecar.read_text())
    assert document["format"] == "liftstudio.instances" and document["format_version"] == 2
    assert document["liftstudio_version"] == __version__ and document["ply"] == "labeled.ply"
    assert document["provenance"] == {"method": "vote", "seed": 7, "masks": str(tmp_path)}
    assert document["gaussians"] == len(scene)
    assert document["unlabeled"] == int((labels == 0).sum())
    assert document["labeled"] == int((labels > 0).sum())
    entries = {entry["id"]: entry for entry in document["instances"]}
    present = sorted(set(labels.tolist()) - {0})
    assert sorted(entries) == sorted([*present, 42])
    for instance_id in present:
        members = scene.means[labels == instance_id]
        entry = entries[instance_id]
        assert entry["count"] == len(members)
        np.testing.assert_array_equal(np.float32(entry["bbox_min"]), members.min(axis=0))
        np.testing.assert_array_equal(np.float32(entry["bbox_max"]), members.max(axis=0))
    assert entries[2]["name"] == "mug" and entries[1]["name"] == "instance_1"
    assert entries[9] == {**entries[9], "name": "chair", "class": "furniture", "colour": [1, 2, 3]}
    assert entries[42]["count"] == 0 and entries[42]["bbox_min"] is None
    default_colours = [tuple(entries[i]["colour"]) for i in present if i != 9]
    assert len(set(default_colours)) == len(default_colours)
    assert tuple(entries[1]["colour"]) == instance_colour(1)

    back = read_labeled_ply(out)
    assert {i.id: i.name for i in back.instances}[9] == "chair"
    assert [(i.id, i.count) for i in back.instances] == [
        (e["id"], e["count"]) for e in document["instances"]
    ]
    assert back.provenance["method"] == "vote" and back.sidecar == sidecar
    assert back.confidence is None and not back.notes
    assert set(back.scene.extras) == {"segment_u8", "weight_f64", "flag_i16"}


def test_palette_is_deterministic_and_distinct():
    colours = [instance_colour(i) for i in range(1, 65)]
    assert len(set(colours)) == 64
    assert colours == [instance_colour(i) for i in range(1, 65)]
    assert all(0 <= c <= 255 for colour in colours for c in colour)
    # Neighbouring ids are clearly different colours.
    gaps = [np.abs(np.subtract(a, b)).sum() for a, b in itertools.pairwise(colours)]
    assert min(gaps) > 60


def test_score_file_reads_the_instance_column(tmp_path):
    source = _input_ply(tmp_path)
    scene = read_gaussians(source)
    labels = _labels(len(scene))
    out = write_labeled_ply(scene, labels, tmp_path / "labeled.ply")
    np.testing.assert_array_equal(read_label_column(out, "instance"), labels)


def test_refuses_to_overwrite_the_input_and_existing_files(tmp_path):
    source = _input_ply(tmp_path)
    original = source.read_bytes()
    scene = read_gaussians(source)
    labels = _labels(len(scene))
    for overwrite in (False, True):
        with pytest.raises(OutputFileError, match="is an input of this export"):
            write_labeled_ply(scene, labels, source, overwrite=overwrite, input_path=source)
    assert source.read_bytes() == original
    assert not sidecar_path(source).exists()

    out = tmp_path / "labeled.ply"
    out.write_bytes(b"keep me")
    with pytest.raises(OutputFileError, match="already exists"):
        write_labeled_ply(scene, labels, out)
    assert out.read_bytes() == b"keep me" and not sidecar_path(out).exists()

    other = tmp_path / "other.ply"
    sidecar_path(other).write_text("{}")
    with pytest.raises(OutputFileError, match=r"other\.instances\.json: already exists"):
        write_labeled_ply(scene, labels, other)
    assert not other.exists() and sidecar_path(other).read_text() == "{}"

    write_labeled_ply(scene, labels, out, overwrite=True)
    np.testing.assert_array_equal(read_labeled_ply(out).labels, labels)
    with pytest.raises(OutputFileError, match=r"must end in \.ply"):
        write_labeled_ply(scene, labels, tmp_path / "labels.json")


@pytest.mark.parametrize(
    ("labels", "message"),
    [
        (np.zeros(499, dtype=np.int32), r"shape \(500,\)"),
        (np.zeros(500, dtype=np.float32), "must be integers"),
        (np.full(500, -1, dtype=np.int64), "must be >= 0"),
        (np.full(500, 2**33, dtype=np.int64), "fit in int32"),
    ],
)
def test_bad_labels_are_refused_before_writing(tmp_path, labels, message):
    scene = read_gaussians(_input_ply(tmp_path))
    with pytest.raises(SceneDataError, match=message):
        write_labeled_ply(scene, labels, tmp_path / "labeled.ply")
    assert not (tmp_path / "labeled.ply").exists()


def test_an_interrupted_write_leaves_nothing(tmp_path, monkeypatch):
    scene = read_gaussians(_input_ply(tmp_path))
    before = sorted(p.name for p in tmp_path.iterdir())

    def interrupted(*args, **kwargs):
        raise KeyboardInterrupt

    monkeypatch.setattr(labeled_ply, "write_ply", interrupted)
    with pytest.raises(KeyboardInterrupt):
        write_labeled_ply(scene, _labels(len(scene)), tmp_path / "labeled.ply")
    assert sorted(p.name for p in tmp_path.iterdir()) == before


def test_relabeling_a_labeled_ply_replaces_its_column_and_works_without_sidecar(tmp_path):
    source = _input_ply(tmp_path)
    scene = read_gaussians(source)
    first = write_labeled_ply(scene, _labels(len(scene), seed=1), tmp_path / "first.ply")
    labeled_scene = read_gaussians(first)  # still holds the instance column
    second_labels = _labels(len(scene), seed=2)
    second = write_labeled_ply(labeled_scene, second_labels, tmp_path / "second.ply")
    columns = _columns(second)
    assert list(columns).count("instance") == 1
    np.testing.assert_array_equal(columns["instance"], second_labels)

    shutil.copy(second, tmp_path / "bare.ply")  # no sidecar beside it
    back = read_labeled_ply(tmp_path / "bare.ply")
    assert back.sidecar is None and back.provenance is None
    assert [i.name for i in back.instances] == [f"instance_{i}" for i in range(1, 7)]
    assert set(back.scene.extras) == {"segment_u8", "weight_f64", "flag_i16"}


def test_label_column_numbers_the_sorted_classes(tmp_path):
    scene = read_gaussians(_input_ply(tmp_path))
    labels = _labels(len(scene))  # ids 0..6
    table = {1: {"class": "wall"}, 2: {"class": "chair"}, 3: {"class": "wall"}, 5: "no class"}
    out = write_labeled_ply(scene, labels, tmp_path / "labeled.ply", instances=table)
    document = json.loads(sidecar_path(out).read_text())
    assert document["classes"] == ["chair", "wall"] and document["label_column"] == "label"
    # By hand: chair = 1, wall = 2, everything else 0.
    expected = np.zeros(len(labels), np.int32)
    expected[np.isin(labels, [1, 3])] = 2
    expected[labels == 2] = 1
    column = _columns(out)["label"]
    assert column.dtype == np.dtype("<i4")
    np.testing.assert_array_equal(column, expected)
    back = read_labeled_ply(out)
    assert back.classes == ["chair", "wall"] and "label" not in back.scene.extras
    assert {i.id: i.class_name for i in back.instances}[3] == "wall" and not back.notes


def test_no_label_column_without_classes(tmp_path):
    scene = read_gaussians(_input_ply(tmp_path))
    out = write_labeled_ply(scene, _labels(len(scene)), tmp_path / "labeled.ply")
    assert "label" not in _columns(out)
    document = json.loads(sidecar_path(out).read_text())
    assert document["classes"] == [] and document["label_column"] is None


def test_visibility_and_locks_survive_the_sidecar(tmp_path):
    scene = read_gaussians(_input_ply(tmp_path))
    table = {2: {"name": "hidden one", "visible": False}, 3: {"locked": True}}
    out = write_labeled_ply(scene, _labels(len(scene)), tmp_path / "labeled.ply", instances=table)
    entries = {e["id"]: e for e in json.loads(sidecar_path(out).read_text())["instances"]}
    assert entries[2]["visible"] is False and entries[2]["locked"] is False
    assert entries[3]["locked"] is True and entries[1]["visible"] is True
    back = {i.id: i for i in read_labeled_ply(out).instances}
    assert not back[2].visible and back[2].name == "hidden one" and back[3].locked


def test_write_read_write_gives_identical_bytes(tmp_path):
    source = _input_ply(tmp_path)
    scene = read_gaussians(source)
    labels = _labels(len(scene))
    confidence = np.random.default_rng(4).random(len(scene)).astype(np.float32)
    confidence[::3] = np.nan  # unknown
    table = {1: {"name": "Ärger ☕", "class": "cup", "colour": [1, 2, 3], "visible": False},
             4: {"class": "bowl", "locked": True}, 30: "empty row"}  # fmt: skip
    first = tmp_path / "a" / "labeled.ply"
    first.parent.mkdir()
    write_labeled_ply(scene, labels, first, confidence=confidence, instances=table,
                      provenance={"method": "vote", "seed": 3}, input_path=source,
                      options={"hidden": "keep", "unlabeled": "keep"})  # fmt: skip
    back = read_labeled_ply(first)
    second = tmp_path / "b" / "labeled.ply"
    second.parent.mkdir()
    write_labeled_ply(back.scene, back.labels, second, confidence=back.confidence,
                      instances={i.id: i.spec() for i in back.instances},
                      provenance=back.provenance, source=back.source,
                      options={"hidden": "keep", "unlabeled": "keep"})  # fmt: skip
    assert second.read_bytes() == first.read_bytes()
    assert sidecar_path(second).read_bytes() == sidecar_path(first).read_bytes()
    document = json.loads(sidecar_path(first).read_text())
    assert "created" not in document and document["source"] == str(source.resolve())
    assert np.isnan(_columns(first)["confidence"][::3]).all()


def test_infinite_confidence_is_refused(tmp_path):
    scene = read_gaussians(_input_ply(tmp_path))
    confidence = np.zeros(len(scene), np.float32)
    confidence[7] = np.inf
    with pytest.raises(SceneDataError, match="inf"):
        write_labeled_ply(scene, _labels(len(scene)), tmp_path / "x.ply", confidence=confidence)


def test_a_sidecar_from_a_newer_version_is_refused(tmp_path):
    scene = read_gaussians(_input_ply(tmp_path))
    out = write_labeled_ply(scene, _labels(len(scene)), tmp_path / "labeled.ply")
    document = json.loads(sidecar_path(out).read_text())
    sidecar_path(out).write_text(json.dumps({**document, "format_version": 99}))
    with pytest.raises(InputFileError, match=r"instances\.json: has format version 99"):
        read_labeled_ply(out)


def test_an_edited_class_column_is_noticed(tmp_path):
    scene = read_gaussians(_input_ply(tmp_path))
    labels = _labels(len(scene))
    out = write_labeled_ply(scene, labels, tmp_path / "labeled.ply",
                            instances={1: {"class": "a"}})  # fmt: skip
    edited = read_gaussians(out)
    edited.extras["label"] = np.zeros(len(scene), np.int32)  # someone zeroed the classes
    write_ply(edited, tmp_path / "edited.ply")
    shutil.copy(sidecar_path(out), sidecar_path(tmp_path / "edited.ply"))
    back = read_labeled_ply(tmp_path / "edited.ply")
    count = int((labels == 1).sum())
    assert back.notes == [
        f"the 'label' column disagrees with the instances' classes for {count:,} Gaussians "
        "(edited outside LiftStudio?); the sidecar's classes were used"
    ]


def test_a_path_under_a_file_is_a_clear_error(tmp_path):
    scene = read_gaussians(_input_ply(tmp_path))
    blocker = tmp_path / "notes.txt"
    blocker.write_text("a file, not a folder")
    with pytest.raises(OutputFileError, match=r"notes\.txt is a file, not a folder"):
        write_labeled_ply(scene, _labels(len(scene)), blocker / "labeled.ply")
