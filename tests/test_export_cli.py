"""``liftstudio export``: formats, round trips, one-line errors, inputs never touched."""

from __future__ import annotations

import importlib.util
import json
import shutil
import subprocess
import sys
from collections import namedtuple
from pathlib import Path

import numpy as np
import pytest
from plyfile import PlyData

from liftstudio.cli import EXIT_USER_ERROR, main
from liftstudio.evaluate.synthetic import orbit_cameras, random_gaussians
from liftstudio.labels import LabelModel
from liftstudio.labels.project import project_path, save_project
from liftstudio.scene.discovery import open_scene
from liftstudio.scene.output_folder import write_3dgs_output

LIFTSTUDIO = str(Path(sys.executable).with_name("liftstudio"))


@pytest.fixture(scope="module")
def project(tmp_path_factory):
    """A 3DGS output folder with a saved project: named, classed, hidden instances."""
    folder = tmp_path_factory.mktemp("export-cli") / "scene"
    n = 800
    write_3dgs_output(folder, random_gaussians(n, sh_degree=1, seed=4),
                      orbit_cameras(3, width_px=48, height_px=36))  # fmt: skip
    opened = open_scene(folder)
    rng = np.random.default_rng(0)
    model = LabelModel(n)
    model.replace_all(rng.integers(0, 5, n), confidence=rng.random(n).astype(np.float32),
                      names={1: "lamp", 2: "My/Sofa"}, source="lift:vote")  # fmt: skip
    model.update_instances([1, 2], class_name="furniture")
    model.update_instance(3, visible=False)
    save_project(project_path(folder), model, scene=opened)
    Project = namedtuple("Project", "folder file ply ids")
    return Project(folder, project_path(folder), opened.gaussians_path, np.array(model.ids))


def export(*args: str) -> int:
    return main(["export", *map(str, args)])


def tree(folder: Path) -> dict[str, bytes]:
    return {str(p.relative_to(folder)): p.read_bytes() for p in sorted(folder.rglob("*"))
            if p.is_file()}  # fmt: skip


def test_help_documents_every_format_and_layout(capsys):
    with pytest.raises(SystemExit) as exit_info:
        main(["export", "--help"])
    assert exit_info.value.code == 0
    text = capsys.readouterr().out
    for fact in ("ply", "instances", "selection", "label-maps", "object-mask", "saga", "coco",
                 "instances.json", "'instance' (int32", "'label' (int32", "confidence",
                 "<name>_<id>.ply", "background.ply", "object_mask/<image>.png",
                 "sam_masks/<image>.pt", "RLE", "16-bit", "--hidden", "--unlabeled",
                 "keep (default", "splat-transform", "--overwrite", "free disk space",
                 "identical files"):  # fmt: skip
        assert fact in text, fact


def test_project_to_ply_and_instances_and_back_again(project, tmp_path, capsys):
    first = tmp_path / "first"
    options = ("--format", "ply", "--format", "instances", "--confidence", "--background")
    assert export(project.file, *options, "--out", first) == 0
    out = capsys.readouterr().out
    assert f"ply: wrote {first / 'labeled.ply'} and labeled.instances.json" in out
    assert "instances: wrote 4 instance PLYs and background.ply and instances.json" in out
    columns = PlyData.read(str(first / "labeled.ply"))["vertex"]
    np.testing.assert_array_equal(columns["instance"], project.ids)
    np.testing.assert_array_equal(columns["label"], np.isin(project.ids, [1, 2]).astype(int))
    assert sorted(p.name for p in (first / "instances").iterdir()) == [
        "My_Sofa_2.ply", "background.ply", "instance_3.ply", "instance_4.ply",
        "instances.json", "lamp_1.ply",
    ]  # fmt: skip
    # Open the labeled PLY and export again: the same bytes, file for file.
    second = tmp_path / "second"
    assert export(first / "labeled.ply", *options, "--out", second) == 0
    assert tree(first) == tree(second)


def test_hidden_and_unlabeled_choices_reach_the_file(project, tmp_path):
    out = tmp_path / "visible.ply"
    assert export(project.file, "--format", "ply", "--hidden", "drop", "--unlabeled", "drop",
                  "--out", out) == 0  # fmt: skip
    instance = PlyData.read(str(out))["vertex"]["instance"]
    expected = project.ids[(project.ids != 0) & (project.ids != 3)]
    np.testing.assert_array_equal(instance, expected)
    sidecar = json.loads(out.with_name("visible.instances.json").read_text())
    assert sidecar["options"] == {"hidden": "drop", "unlabeled": "drop"}


def test_selection_from_a_select_style_npy(project, tmp_path):
    mask = np.zeros(len(project.ids), bool)
    mask[::50] = True
    np.save(tmp_path / "sel.npy", mask)
    assert export(project.file, "--format", "selection", "--indices", tmp_path / "sel.npy",
                  "--out", tmp_path / "picked.ply") == 0  # fmt: skip
    picked = PlyData.read(str(tmp_path / "picked.ply"))["vertex"].data
    original = PlyData.read(str(project.ply))["vertex"].data
    assert picked.tobytes() == original[mask].tobytes()


def run(*args) -> subprocess.CompletedProcess:
    return subprocess.run([LIFTSTUDIO, "export", *map(str, args)], capture_output=True,
                          text=True, timeout=120)  # fmt: skip


def test_inputs_are_never_written_even_with_overwrite(project, tmp_path):
    labeled = tmp_path / "labeled.ply"
    assert export(project.file, "--format", "ply", "--out", labeled) == 0
    before = tree(tmp_path)
    done = run(labeled, "--format", "ply", "--out", labeled, "--overwrite")
    assert done.returncode == EXIT_USER_ERROR
    assert done.stderr.strip().splitlines() == [
        f"liftstudio: error: {labeled}: is an input of this export ({labeled}); "
        "write to another file"
    ]
    done = run(project.file, "--format", "ply", "--out", project.ply, "--overwrite")
    assert done.returncode == EXIT_USER_ERROR and "is an input of this export" in done.stderr
    assert tree(tmp_path) == before


def test_existing_outputs_need_overwrite(project, tmp_path, capsys):
    out = tmp_path / "out.ply"
    out.write_bytes(b"earlier result")
    assert export(project.file, "--format", "ply", "--out", out) == EXIT_USER_ERROR
    assert f"{out}: already exists" in capsys.readouterr().err
    assert out.read_bytes() == b"earlier result"
    assert not out.with_name("out.instances.json").exists()
    assert export(project.file, "--format", "ply", "--out", out, "--overwrite") == 0
    assert out.read_bytes().startswith(b"ply\n")


def test_unwritable_destinations_are_one_line_errors(project, tmp_path):
    blocker = tmp_path / "a-file"
    blocker.write_text("not a folder")
    for fmt, out in (("ply", blocker / "x.ply"), ("instances", blocker / "objects")):
        done = run(project.file, "--format", fmt, "--out", out)
        assert done.returncode == EXIT_USER_ERROR, done.stderr
        lines = done.stderr.strip().splitlines()
        assert len(lines) == 1 and "a-file is a file, not a folder" in lines[0]
    assert blocker.read_text() == "not a folder"


def test_a_full_disk_is_refused_before_writing(project, tmp_path, monkeypatch, capsys):
    usage = shutil.disk_usage(tmp_path)
    monkeypatch.setattr(shutil, "disk_usage", lambda path: usage._replace(free=100_000))
    assert export(project.file, "--format", "ply", "--out", tmp_path / "x.ply") == 2
    err = capsys.readouterr().err
    assert "not enough free space for the labeled PLY x.ply" in err and len(err.splitlines()) == 1
    assert list(tmp_path.iterdir()) == []


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (("--format", "selection"), "needs --indices"),
        (("--format", "ply", "--format", "instances", "--out", "a.ply"), "give a folder"),
        (("--format", "ply", "--background"), "--background adds background.ply"),
        (("--format", "label-maps"), "a labeled PLY holds no cameras: pass the scene folder"),
    ],
)
def test_bad_requests_are_one_line_errors(project, tmp_path, capsys, args, message):
    labeled = tmp_path / "l.ply"
    assert export(project.file, "--format", "ply", "--out", labeled) == 0
    capsys.readouterr()
    if "--out" not in args:
        args = (*args, "--out", tmp_path / "out")
    assert export(labeled, *args) == EXIT_USER_ERROR
    err = capsys.readouterr().err
    assert message in err and len(err.strip().splitlines()) == 1
    assert not (tmp_path / "out").exists()


def test_a_missing_or_wrong_source_is_a_one_line_error(tmp_path, capsys):
    assert export(tmp_path / "nope.lsproj", "--format", "ply", "--out", tmp_path / "o") == 2
    assert "nope.lsproj: no such file" in capsys.readouterr().err
    (tmp_path / "plain.ply").write_bytes(b"not a ply at all")
    assert export(tmp_path / "plain.ply", "--format", "ply", "--out", tmp_path / "o") == 2
    assert "plain.ply" in capsys.readouterr().err


@pytest.mark.skipif(
    importlib.util.find_spec("liftstudio.export.view_masks") is None,
    reason="the per-view mask writer (liftstudio.export.view_masks) is not in this tree",
)
def test_2d_formats_are_wired_to_the_view_mask_writer(project, tmp_path, capsys):
    out = tmp_path / "dataset"
    code = export(project.file, "--format", "label-maps", "--format", "object-mask",
                  "--format", "ply", "--backend", "reference", "--out", out)  # fmt: skip
    assert code == 0, capsys.readouterr().err
    text = capsys.readouterr().out
    assert "label-maps: wrote 3 files for 3 views" in text
    assert "object-mask: wrote 3 files for 3 views" in text
    assert len(list((out / "label-maps").glob("*.png"))) == 3
    assert len(list((out / "object_mask").glob("*.png"))) == 3
    assert (out / "labeled.ply").is_file()


def test_bench_export_prints_the_target(capsys):
    assert main(["bench", "export", "--gaussians", "20000", "--instances", "20",
                 "--repeats", "1"]) == 0  # fmt: skip
    text = capsys.readouterr().out
    assert "labeled PLY export, 20,000 Gaussians" in text and "target ≤ 3.0 s: ok" in text
    assert "read back" in text


def test_a_refused_2d_destination_stops_the_export_before_any_format_is_written(
    project, tmp_path, capsys
):
    out = tmp_path / "dataset"
    (out / "object_mask").mkdir(parents=True)
    (out / "object_mask" / "notes.txt").write_text("mine")  # not a mask file: refused
    code = export(project.file, "--format", "label-maps", "--format", "object-mask",
                  "--format", "ply", "--backend", "reference", "--out", out)  # fmt: skip
    assert code != 0
    assert "object_mask" in capsys.readouterr().err
    assert sorted(p.relative_to(out).as_posix() for p in out.rglob("*")) == [
        "object_mask", "object_mask/notes.txt"
    ]  # fmt: skip
