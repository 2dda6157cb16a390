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
from liftstudio.errors import OutputFileError, SceneDataError
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
    assert document["format"] == "liftstudio.instances" and document["format_version"] == 1
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
        with pytest.raises(OutputFileError, match="is the input scene"):
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
