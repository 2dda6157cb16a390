"""Export sources (project, labeled PLY), hidden/unlabeled choices, and import back."""

from __future__ import annotations

import shutil
from pathlib import Path

import numpy as np
import pytest
from labeled_scenes import edited_model, input_scene, project_on_disk

from liftstudio.errors import InputFileError
from liftstudio.evaluate.synthetic import orbit_cameras
from liftstudio.export.export_source import ExportSource, load_export_source, with_cameras
from liftstudio.export.label_table import label_model_from_ply, model_instances
from liftstudio.export.labeled_ply import read_labeled_ply, write_labeled_ply
from liftstudio.export.row_choices import apply_row_choices
from liftstudio.labels.project import backup_path, project_path, save_project
from liftstudio.scene.discovery import open_scene
from liftstudio.scene.formats import write_ply
from liftstudio.scene.output_folder import write_3dgs_output


@pytest.fixture(scope="module")
def project(tmp_path_factory):
    return project_on_disk(tmp_path_factory.mktemp("source"))


def test_a_project_source_holds_the_saved_labels_and_table(project):
    source = load_export_source(project.project)
    model = project.model
    assert source.kind == "project" and source.scene_path == project.folder
    np.testing.assert_array_equal(source.labels, model.ids)
    np.testing.assert_array_equal(source.confidence, model.confidence)  # NaN where unknown
    assert source.scene.content_hash() == project.scene.content_hash()
    assert source.source == str(project.ply.resolve())
    assert source.instances[1] == {"name": "table", "class": "furniture", "colour": (
        model.instance(1).colour), "visible": True, "locked": True}  # fmt: skip
    assert source.instances[3]["colour"] == (10, 200, 30) and source.hidden_ids == {4}
    assert 5 not in source.instances and source.instances[9]["name"] == "nothing yet"
    labeled = model.ids > 0
    brush = int((model.provenance_codes[labeled] == model.provenance_names().index("brush")).sum())
    assert source.provenance["labeled_by"] == {
        "lift:vote": int(labeled.sum()) - brush, "brush": brush,
    }  # fmt: skip
    assert source.provenance["project"] == str(project.project.resolve())
    assert [c.name for c in source.cameras] == [c.name for c in project.opened.cameras.train]
    assert len(source.cameras) == 4
    for never in (project.project, backup_path(project.project), project.ply):
        assert never in source.inputs


def test_a_project_whose_scene_moved_or_changed_is_refused(tmp_path):
    on_disk = project_on_disk(tmp_path / "a")
    moved = tmp_path / "moved.lsproj"
    shutil.copy(on_disk.project, moved)  # its scene path is relative: now points elsewhere
    with pytest.raises(InputFileError, match=r"moved\.lsproj: its scene cannot be opened"):
        load_export_source(moved)
    other = input_scene(600, seed=9)  # same count, other positions
    write_3dgs_output(on_disk.folder, other, orbit_cameras(4), overwrite=True)
    with pytest.raises(InputFileError, match="was saved for a different scene"):
        load_export_source(on_disk.project)


def test_a_project_whose_splat_file_is_gone_says_so(tmp_path):
    ply = tmp_path / "garden.ply"
    write_ply(input_scene(300), ply)
    opened = open_scene(ply)
    project = save_project(project_path(ply), edited_model(300), scene=opened)
    ply.rename(tmp_path / "renamed.ply")
    with pytest.raises(InputFileError, match=r"garden\.lsproj: its scene .*garden\.ply is missing"):
        load_export_source(project)


def test_a_labeled_ply_source_and_its_cameras(project, tmp_path):
    out = tmp_path / "labeled.ply"
    table = {1: {"name": "a", "visible": False}}
    write_labeled_ply(project.scene, project.model.ids, out, instances=table,
                      input_path=project.ply, provenance={"method": "vote"})  # fmt: skip
    source = load_export_source(out)
    assert source.kind == "labeled-ply" and source.cameras is None
    assert source.source == str(project.ply.resolve())  # the original file, carried over
    assert source.inputs == (out, tmp_path / "labeled.instances.json")
    with pytest.raises(InputFileError, match="holds no cameras: pass the scene folder"):
        with_cameras(source)
    cameras = with_cameras(source, project.folder)
    assert len(cameras.cameras) == 4 and project.ply in cameras.inputs and not cameras.notes
    for wrong in (tmp_path / "nothing.lsproj", tmp_path):
        with pytest.raises(InputFileError):
            load_export_source(wrong)


def _source(n=400, seed=2):
    model = edited_model(n, seed)
    return ExportSource(
        path=Path("x.lsproj"), kind="project",
        scene=input_scene(n), labels=np.array(model.ids), confidence=np.array(model.confidence),
        instances=model_instances(model), provenance=None, source=None, inputs=(),
    )  # fmt: skip


@pytest.mark.parametrize(
    ("hidden", "unlabeled"),
    [(h, u) for h in ("keep", "drop", "unlabel") for u in ("keep", "drop")],
)
def test_hidden_and_unlabeled_choices(hidden, unlabeled):
    source = _source()
    labels = source.labels
    # The expected rows and ids, written out case by case.
    keep = np.ones(len(labels), bool)
    ids = labels.copy()
    if hidden == "drop":
        keep = labels != 4
    if hidden == "unlabel":
        ids[labels == 4] = 0
    if unlabeled == "drop":
        keep &= ids != 0
    chosen = apply_row_choices(source, hidden=hidden, unlabeled=unlabeled)
    np.testing.assert_array_equal(chosen.labels, ids[keep])
    np.testing.assert_array_equal(chosen.scene.means, source.scene.means[keep])
    np.testing.assert_array_equal(chosen.scene.extras["weight_f64"],
                                  source.scene.extras["weight_f64"][keep])  # fmt: skip
    if keep.all():
        assert chosen.rows is None
    else:
        np.testing.assert_array_equal(chosen.rows, np.flatnonzero(keep))
    assert (4 in chosen.instances) == (hidden == "keep")
    if hidden == "unlabel":
        assert np.isnan(chosen.confidence[(labels == 4)[keep]]).all()
    if hidden == "keep" and unlabeled == "keep":
        assert chosen is source


def test_bad_choices_are_refused():
    with pytest.raises(ValueError, match="hidden must be one of keep, drop, unlabel"):
        apply_row_choices(_source(), hidden="hide")
    with pytest.raises(ValueError, match="unlabeled must be one of keep, drop"):
        apply_row_choices(_source(), unlabeled="remove")


def test_a_labeled_ply_opens_as_a_label_model(project, tmp_path):
    model = project.model
    source = load_export_source(project.project)
    out = tmp_path / "labeled.ply"
    write_labeled_ply(source.scene, source.labels, out, confidence=source.confidence,
                      instances=source.instances)  # fmt: skip
    opened = label_model_from_ply(read_labeled_ply(out))
    np.testing.assert_array_equal(opened.ids, model.ids)
    np.testing.assert_array_equal(opened.confidence, model.confidence)
    assert opened.instances() == model.instances()  # names, classes, colours, flags, counts
    assert not opened.history.can_undo
    assert opened.provenance_names() == ["none", "import:labeled-ply"]
