"""Export jobs: export -> open -> export gives identical files; all checks come first."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from labeled_scenes import ply_rows, project_on_disk, same_rows

from liftstudio.errors import InputFileError, OutputFileError
from liftstudio.export.export_job import (
    ExportRequest,
    ExportRequestError,
    destinations,
    run_export,
)
from liftstudio.export.export_source import load_export_source
from liftstudio.export.labeled_ply import read_labeled_ply


@pytest.fixture(scope="module")
def project(tmp_path_factory):
    return project_on_disk(tmp_path_factory.mktemp("job"))


def _files(folder: Path) -> dict[str, bytes]:
    return {str(p.relative_to(folder)): p.read_bytes() for p in sorted(folder.rglob("*"))
            if p.is_file()}  # fmt: skip


@pytest.mark.parametrize(("hidden", "unlabeled"), [("keep", "keep"), ("drop", "drop"),
                                                   ("unlabel", "keep")])  # fmt: skip
def test_export_open_export_gives_identical_files(project, tmp_path, hidden, unlabeled):
    options = {"hidden": hidden, "unlabeled": unlabeled, "confidence": True, "background": True}
    first = tmp_path / "first"
    request = ExportRequest(("ply", "instances"), first, **options)
    run_export(load_export_source(project.project), request)
    second = tmp_path / "second"
    again = ExportRequest(("ply", "instances"), second, **options)
    run_export(load_export_source(first / "labeled.ply"), again)
    written = _files(first)
    assert written == _files(second)
    assert set(written) >= {"labeled.ply", "labeled.instances.json", "instances/instances.json"}


def test_the_labeled_ply_of_a_project_matches_the_project(project, tmp_path):
    run_export(load_export_source(project.project),
               ExportRequest(("ply",), tmp_path / "out.ply", confidence=True))  # fmt: skip
    model, rows = project.model, ply_rows(tmp_path / "out.ply")
    original = ply_rows(project.ply)
    for name in original.dtype.names:
        assert rows[name].tobytes() == original[name].tobytes(), name
    np.testing.assert_array_equal(rows["instance"], model.ids)
    np.testing.assert_array_equal(rows["confidence"], model.confidence)
    # classes sorted: furniture = 1 (table 1, chair 2), kitchen = 2 (mug 3)
    expected = np.select([np.isin(model.ids, [1, 2]), model.ids == 3], [1, 2], 0)
    np.testing.assert_array_equal(rows["label"], expected)
    sidecar = json.loads((tmp_path / "out.instances.json").read_text())
    assert sidecar["classes"] == ["furniture", "kitchen"]
    assert sidecar["options"] == {"hidden": "keep", "unlabeled": "keep"}
    assert sidecar["source"] == str(project.ply.resolve())
    entries = {entry["id"]: entry for entry in sidecar["instances"]}
    assert entries[4]["visible"] is False and entries[1]["locked"] is True
    assert entries[7]["name"] == "../../evil name" and entries[9]["count"] == 0
    assert 5 not in entries  # deleted
    back = read_labeled_ply(tmp_path / "out.ply")
    assert {i.id: i.name for i in back.instances} == {i.id: i.name for i in model.instances()}


def test_dropping_hidden_and_unlabeled_gaussians(project, tmp_path):
    request = ExportRequest(("ply",), tmp_path / "d.ply", hidden="drop", unlabeled="drop")
    run_export(load_export_source(project.project), request)
    ids = project.model.ids
    keep = (ids != 0) & (ids != 4)
    assert same_rows(
        ply_rows(tmp_path / "d.ply")[list(ply_rows(project.ply).dtype.names)],
        ply_rows(project.ply)[keep],
    )
    sidecar = json.loads((tmp_path / "d.instances.json").read_text())
    assert 4 not in [e["id"] for e in sidecar["instances"]] and sidecar["unlabeled"] == 0


def test_selection_indices_refer_to_the_source_rows(project, tmp_path):
    ids = project.model.ids
    chosen = np.flatnonzero(ids == 4)[:5].tolist() + np.flatnonzero(ids == 2)[:7].tolist()
    np.save(tmp_path / "sel.npy", np.array(chosen))
    request = ExportRequest(("selection",), tmp_path, indices=tmp_path / "sel.npy",
                            hidden="drop")  # fmt: skip
    run_export(load_export_source(project.project), request)
    kept = np.array(chosen[5:])  # the hidden instance 4 was dropped
    assert same_rows(ply_rows(tmp_path / "selection.ply"), ply_rows(project.ply)[np.sort(kept)])
    np.save(tmp_path / "hidden_only.npy", np.array(chosen[:5]))
    request = ExportRequest(("selection",), tmp_path / "h.ply",
                            indices=tmp_path / "hidden_only.npy", hidden="drop")  # fmt: skip
    with pytest.raises(InputFileError, match="selects none of the exported Gaussians"):
        run_export(load_export_source(project.project), request)


def test_every_destination_is_checked_before_anything_is_written(project, tmp_path):
    out = tmp_path / "out"
    (out / "instances").mkdir(parents=True)
    (out / "instances" / "table_1.ply").write_bytes(b"earlier")
    request = ExportRequest(("ply", "instances"), out)
    with pytest.raises(OutputFileError, match=r"table_1\.ply: already exists"):
        run_export(load_export_source(project.project), request)
    assert _files(out) == {"instances/table_1.ply": b"earlier"}  # labeled.ply not written
    fresh = tmp_path / "fresh"
    with pytest.raises(OutputFileError, match="is an input of this export"):
        run_export(load_export_source(project.project),
                   ExportRequest(("ply",), project.ply, overwrite=True))  # fmt: skip
    assert not fresh.exists()


def test_per_view_formats_never_go_beside_the_scene_files(project):
    source = load_export_source(project.project)
    request = ExportRequest(("label-maps",), project.folder, overwrite=True)
    with pytest.raises(OutputFileError, match="holds an input of this export"):
        run_export(source, request)


def test_destinations():
    one = ExportRequest(("ply",), Path("x/labels.ply"))
    assert destinations(one) == {"ply": Path("x/labels.ply")}
    assert destinations(ExportRequest(("ply",), Path("x"))) == {"ply": Path("x/labeled.ply")}
    assert destinations(ExportRequest(("object-mask",), Path("x"))) == {"object-mask": Path("x")}
    several = ExportRequest(("ply", "instances", "coco", "selection"), Path("x"),
                            indices=Path("s.npy"))  # fmt: skip
    assert destinations(several) == {
        "ply": Path("x/labeled.ply"), "instances": Path("x/instances"),
        "coco": Path("x/coco"), "selection": Path("x/selection.ply"),
    }  # fmt: skip
    masks = ExportRequest(("label-maps", "object-mask", "saga"), Path("x"))
    assert destinations(masks) == {  # the last two write object_mask/ and sam_masks/ in x
        "label-maps": Path("x/label-maps"), "object-mask": Path("x"), "saga": Path("x"),
    }  # fmt: skip


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"formats": ()}, "choose at least one format"),
        ({"formats": ("glb",)}, "unknown format 'glb'"),
        ({"formats": ("ply", "ply")}, "each format may be given once"),
        ({"formats": ("selection",)}, "needs --indices"),
        ({"formats": ("ply",), "indices": Path("s.npy")}, "needs --indices"),
        ({"formats": ("ply",), "background": True}, "--background adds background.ply"),
        ({"formats": ("instances",), "confidence": True}, "--confidence adds a column"),
        ({"formats": ("ply", "instances"), "out": Path("a.ply")}, "give a folder"),
        ({"formats": ("ply",), "hidden": "hide"}, "hidden must be one of"),
    ],
)
def test_impossible_requests_are_one_line_errors(kwargs, message):
    kwargs = {"out": Path("out"), **kwargs}
    with pytest.raises(ExportRequestError, match=message):
        ExportRequest(**kwargs)
