"""``liftstudio select``: scene + scribble (+ label maps) → boolean selection of one object.

Measured on the scene below (tabletop seed 0, 4,000 Gaussians, 8 training views at
96x72 with clean masks; the object is the one covering most pixels of a training
view, a cylinder, scribbled with the skeleton of its eroded mask): IoU with the
object's Gaussians 0.61 with the default bandwidths, 0.82 with ``--reference`` on the
scribbled view (b_f=10, b_p=300), 0.90 with ``--method diffusion-lp``, 0.89
scribbling on a test view; colour features instead of the masks give 0.31.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

import liftstudio.lift.select_command as select_command
from liftstudio.cli import main
from liftstudio.evaluate.bench_select import benchmark_objects, scribble_from_mask
from liftstudio.evaluate.scenes import make
from liftstudio.lift.features import mask_membership_features
from liftstudio.lift.knn_graph import build_knn_graph
from liftstudio.lift.selection import Scribble, select_object
from liftstudio.render.registry import resolve_backend
from liftstudio.scene.camera_formats.gs_json import write_3dgs_cameras
from liftstudio.scene.discovery import open_scene
from liftstudio.scene.output_folder import write_3dgs_output
from liftstudio.sources.label_files import read_label_maps

LIFTSTUDIO = str(Path(sys.executable).with_name("liftstudio"))


def _iou(selected: np.ndarray, truth: np.ndarray) -> float:
    return float(np.count_nonzero(selected & truth) / np.count_nonzero(selected | truth))


def _save_stroke(path: Path, stroke: np.ndarray) -> Path:
    Image.fromarray(stroke.astype(np.uint8) * 255).save(path)
    return path


class Case:
    """The generated scene on disk, the object to select and its scribbles."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self.folder = root / "scene"
        self.cache = root / "cache"
        bench = make("tabletop", 0, num_gaussians=4000, num_train=8, num_test=2,
                     width=96, height=72)  # fmt: skip
        self.bench = bench
        write_3dgs_output(self.folder, bench.gaussians, bench.train_cameras)
        write_3dgs_cameras(bench.train_cameras, self.folder / "train_cameras.json")
        write_3dgs_cameras(bench.test_cameras, self.folder / "test_cameras.json")
        self.masks = self.folder / "masks"
        self.masks.mkdir()
        for camera, truth in zip(bench.train_cameras, bench.train_gt, strict=True):
            Image.fromarray(truth.astype(np.uint8)).save(self.masks / f"{camera.name}.png")
        # The object covering most pixels of one training view, and that view.
        areas = {
            (obj, v): int(np.count_nonzero(gt == obj))
            for obj in benchmark_objects(bench)
            for v, gt in enumerate(bench.train_gt)
        }
        self.object, self.view = max(areas, key=areas.get)
        self.camera = bench.train_cameras[self.view]
        self.reference_mask = bench.train_gt[self.view] == self.object
        self.stroke = scribble_from_mask(self.reference_mask)
        self.truth = bench.instance_ids == self.object
        drawn = root / "drawn"
        drawn.mkdir()
        self.scribble = _save_stroke(drawn / "scribble.png", self.stroke)
        self.reference = _save_stroke(drawn / "reference.png", self.reference_mask)
        test_view = next(i for i, gt in enumerate(bench.test_gt) if (gt == self.object).any())
        self.test_camera = bench.test_cameras[test_view]
        self.test_scribble = _save_stroke(
            drawn / "test_scribble.png", scribble_from_mask(bench.test_gt[test_view] == self.object)
        )

    def args(self, out: Path, *extra: str, scribble: str | None = None) -> list[str]:
        scribble = scribble or f"{self.camera.name}={self.scribble}"
        return ["select", str(self.folder), "--scribble", scribble, "--out", str(out),
                "--backend", "cpu", *extra]  # fmt: skip


@pytest.fixture(scope="module")
def case(tmp_path_factory) -> Case:
    return Case(tmp_path_factory.mktemp("select"))


@pytest.fixture(scope="module")
def expected(case):
    """The selection made in this process with the core functions, step by step."""
    backend = resolve_backend("cpu")
    opened = open_scene(case.folder)
    train = opened.cameras.train
    label_set = read_label_maps(case.masks, train)
    features = mask_membership_features(
        backend, opened.gaussians, label_set.matched_cameras, label_set.matched_maps
    )
    graph = build_knn_graph(opened.gaussians.means, 16)
    camera = next(c for c in train if c.name == case.camera.name)
    selection = select_object(
        backend, opened.gaussians, graph, features.values, Scribble(camera, case.stroke)
    )
    return selection, features


@pytest.fixture(autouse=True)
def _cache_dir(case, monkeypatch):
    monkeypatch.setenv("LIFTSTUDIO_CACHE_DIR", str(case.cache))


def _run_cli(case: Case, *args: str) -> subprocess.CompletedProcess:
    env = {**os.environ, "LIFTSTUDIO_CACHE_DIR": str(case.cache)}
    return subprocess.run([LIFTSTUDIO, *args], capture_output=True, text=True, timeout=300, env=env)


def test_select_writes_the_scribbled_object(case, expected, tmp_path):
    out, scores = tmp_path / "selection.npy", tmp_path / "scores.npy"
    done = _run_cli(case, *case.args(out, "--features", f"masks:{case.masks}",
                                     "--scores", str(scores)))  # fmt: skip
    assert done.returncode == 0, done.stderr
    assert "label maps: 8 of 8 cameras matched" in done.stdout
    assert "features: mask-membership, 32 dims" in done.stdout
    assert "selecting (diffusion)" in done.stderr
    mask = np.load(out)
    assert mask.dtype == bool and mask.shape == (len(case.bench.gaussians),)
    assert _iou(mask, case.truth) > 0.5  # measured 0.61
    selection, _ = expected
    np.testing.assert_array_equal(mask, selection.mask)
    written = np.load(scores)
    assert written.dtype == np.float32
    np.testing.assert_array_equal(written, selection.scores)
    summary = re.search(
        r"selected ([\d,]+) of 4,000 Gaussians \(([\d.]+)%\).*threshold ([\d.e-]+) \(auto\); "
        r"[\d.]+ s",
        done.stdout,
    )
    assert summary is not None, done.stdout
    assert int(summary[1].replace(",", "")) == np.count_nonzero(mask)
    assert float(summary[3]) == pytest.approx(selection.threshold, rel=1e-3)
    assert list(case.cache.glob("graphs/*.npz")), "the kNN graph is cached in $LIFTSTUDIO_CACHE_DIR"


def test_default_features_are_the_masks_beside_the_scene(case, expected, tmp_path, capsys):
    out = tmp_path / "default.npy"
    assert main(case.args(out)) == 0
    captured = capsys.readouterr()
    assert f"features: masks:{case.masks} (found beside the scene)" in captured.err
    np.testing.assert_array_equal(np.load(out), expected[0].mask)
    # The same features from a user's file give the same selection.
    file = tmp_path / "features.npy"
    np.save(file, expected[1].values)
    out = tmp_path / "from_file.npy"
    assert main(case.args(out, "--features", str(file))) == 0
    assert "features: features, 32 dims" in capsys.readouterr().out
    np.testing.assert_array_equal(np.load(out), expected[0].mask)
    # Blocks concatenate.
    out = tmp_path / "both.npy"
    assert main(case.args(out, "--features", str(file), "--features", "colour")) == 0
    assert "features: features+colour-position, 38 dims" in capsys.readouterr().out


def test_without_masks_it_falls_back_to_colour(case, tmp_path, capsys):
    bare = tmp_path / "bare"
    shutil.copytree(case.folder, bare, ignore=shutil.ignore_patterns("masks"))
    out = tmp_path / "colour.npy"
    args = case.args(out)
    args[1] = str(bare)
    assert main(args) == 0
    captured = capsys.readouterr()
    assert "no label maps found beside the scene: using --features colour" in captured.err
    assert "features: colour-position, 6 dims" in captured.out
    assert np.load(out).any()


def test_a_test_split_camera_works(case, tmp_path, capsys):
    out = tmp_path / "novel.npy"
    scribble = f"{case.test_camera.name}={case.test_scribble}"
    assert main(case.args(out, scribble=scribble)) == 0
    assert f"on {case.test_camera.name!r}" in capsys.readouterr().out
    assert _iou(np.load(out), case.truth) > 0.75  # measured 0.89


def test_an_npy_scribble_at_another_size_is_rendered_at_that_size(case, tmp_path, capsys):
    big = tmp_path / "big.npy"
    np.save(big, np.kron(case.stroke, np.ones((2, 2), dtype=bool)))  # 192x144
    assert main(case.args(tmp_path / "big_sel.npy", scribble=f"{case.camera.name}={big}")) == 0
    capsys.readouterr()
    assert _iou(np.load(tmp_path / "big_sel.npy"), case.truth) > 0.5  # measured 0.61, as at 96x72


def test_reference_chooses_the_bandwidths(case, tmp_path, capsys):
    out = tmp_path / "reference.npy"
    reference = f"{case.camera.name}={case.reference}"
    assert main(case.args(out, "--reference", reference)) == 0
    text = capsys.readouterr().out
    chosen = re.search(
        rf"bandwidths chosen on '{case.camera.name}': b_f=([\d.]+), b_p=([\d.]+) "
        r"\(reference IoU ([\d.]+)\)",
        text,
    )
    assert chosen is not None, text
    assert float(chosen[3]) > 0.8  # measured 0.89
    assert _iou(np.load(out), case.truth) > 0.7  # measured 0.82


def test_label_propagation(case, tmp_path, capsys):
    out = tmp_path / "lp.npy"
    assert main(case.args(out, "--method", "diffusion-lp")) == 0
    assert "selecting (diffusion-lp)" in capsys.readouterr().err
    assert _iou(np.load(out), case.truth) > 0.75  # measured 0.90


def test_given_threshold_and_negative_scribble(case, tmp_path, capsys):
    out, scores = tmp_path / "cut.npy", tmp_path / "cut_scores.npy"
    negative = np.zeros_like(case.stroke)
    negative[-6:, :] = True  # the bottom of the view: the table, not the object
    file = _save_stroke(tmp_path / "negative.png", negative)
    lp = ("--method", "diffusion-lp", "--scores", str(scores), "--overwrite")
    assert main(case.args(out, *lp)) == 0
    without = np.load(scores)
    assert main(case.args(out, *lp, "--threshold", "0.3",
                          "--negative", f"{case.camera.name}={file}")) == 0  # fmt: skip
    assert "threshold 0.3 (given)" in capsys.readouterr().out
    np.testing.assert_array_equal(np.load(out), np.load(scores) > 0.3)
    # Label propagation takes the negative scribble's Gaussians as its negatives.
    assert not np.array_equal(np.load(scores), without), "the negative scribble was ignored"


def _one_line_error(capsys, code: int) -> str:
    assert code == 2
    lines = capsys.readouterr().err.strip().splitlines()
    assert len(lines) == 1, lines
    assert lines[0].startswith("liftstudio: error: ")
    return lines[0]


def test_unknown_camera_is_one_line_naming_cameras(case, tmp_path, capsys):
    out = tmp_path / "o.npy"
    line = _one_line_error(capsys, main(case.args(out, scribble=f"nope={case.scribble}")))
    assert "no camera named 'nope'" in line
    assert case.bench.train_cameras[0].name in line and case.bench.test_cameras[0].name in line
    assert not out.exists()


def test_wrong_aspect_ratio_is_refused(case, tmp_path, capsys):
    square = _save_stroke(tmp_path / "square.png", np.eye(72, dtype=bool))
    line = _one_line_error(
        capsys, main(case.args(tmp_path / "o.npy", scribble=f"{case.camera.name}={square}"))
    )
    assert "72x72" in line and "aspect ratio" in line and str(square) in line


def test_empty_scribble_is_refused(case, tmp_path, capsys):
    empty = _save_stroke(tmp_path / "empty.png", np.zeros((36, 48), dtype=bool))
    line = _one_line_error(
        capsys, main(case.args(tmp_path / "o.npy", scribble=f"{case.camera.name}={empty}"))
    )
    assert "the scribble is empty" in line and "non-zero pixels" in line


def test_a_scribble_beside_everything_fails_before_the_features(case, tmp_path, capsys):
    corner = np.zeros_like(case.stroke)
    corner[:2, :2] = True  # the sky above the table
    file = _save_stroke(tmp_path / "corner.png", corner)
    code = main(case.args(tmp_path / "o.npy", scribble=f"{case.camera.name}={file}"))
    captured = capsys.readouterr()
    assert code == 2 and "covers no visible Gaussian; draw it on the object" in captured.err
    assert "label maps" not in captured.out and "features" not in captured.err
    line = _one_line_error(
        capsys, main(case.args(tmp_path / "o.npy", "--negative", f"{case.camera.name}={file}"))
    )
    assert "the negative scribble on camera" in line and "covers no visible Gaussian" in line


def test_bad_values_are_usage_errors(case, tmp_path, capsys):
    for extra in (["--threshold", "2"], ["--features", "dino"], ["--k", "0"]):
        with pytest.raises(SystemExit) as exit_info:
            main(case.args(tmp_path / "o.npy", *extra))
        assert exit_info.value.code == 2
        assert f"argument {extra[0]}" in capsys.readouterr().err
    line = _one_line_error(capsys, main(case.args(tmp_path / "o.ply")))
    assert "must end in .npy" in line


def test_a_negative_on_another_camera_is_refused(case, tmp_path, capsys):
    other = case.bench.train_cameras[(case.view + 1) % 8].name
    line = _one_line_error(
        capsys,
        main(case.args(tmp_path / "o.npy", "--negative", f"{other}={case.scribble}")),
    )
    assert "draw both on the same camera" in line


def test_existing_output_is_refused_and_untouched(case, tmp_path, capsys):
    out, scores = tmp_path / "selection.npy", tmp_path / "scores.npy"
    out.write_bytes(b"earlier result")
    line = _one_line_error(capsys, main(case.args(out)))
    assert "already exists" in line and "--overwrite" in line
    assert out.read_bytes() == b"earlier result"
    # A clashing --scores is refused before any work too, leaving the selection alone.
    out.unlink()
    scores.write_bytes(b"earlier scores")
    _one_line_error(capsys, main(case.args(out, "--scores", str(scores))))
    assert not out.exists() and scores.read_bytes() == b"earlier scores"
    assert main(case.args(out, "--scores", str(scores), "--overwrite")) == 0
    assert np.load(out).dtype == bool and np.load(scores).dtype == np.float32


def test_ctrl_c_leaves_no_output(case, tmp_path, monkeypatch, capsys):
    saved = []
    real_save = np.save

    def interrupt_on_second(file, array, **kwargs):
        if saved:
            raise KeyboardInterrupt
        saved.append(file)
        real_save(file, array, **kwargs)

    monkeypatch.setattr(select_command.np, "save", interrupt_on_second)
    out_dir = tmp_path / "out"
    out_dir.mkdir()
    code = main(case.args(out_dir / "s.npy", "--scores", str(out_dir / "c.npy")))
    assert code == 130 and "cancelled" in capsys.readouterr().err
    assert saved and list(out_dir.iterdir()) == []


def test_help_documents_the_formats(capsys):
    with pytest.raises(SystemExit) as exit_info:
        main(["select", "--help"])
    assert exit_info.value.code == 0
    text = capsys.readouterr().out
    for fact in ("CAMERA=FILE", "test split", ".png", "non-zero", "transparency", ".npy",
                 "aspect ratio", "masks:DIR", "colour", "FILE.npy", "SCENE/masks",
                 "object_mask", "diffusion-lp", "auto|VALUE", "bool (N,)", "float32",
                 "--reference", "--overwrite", "LIFTSTUDIO_CACHE_DIR"):  # fmt: skip
        assert fact in text, fact


def test_stroke_images_in_the_documented_formats(case, tmp_path):
    stroke = np.zeros((36, 48), dtype=bool)
    stroke[10:12, 5:30] = True
    rgba = np.zeros((36, 48, 4), dtype=np.uint8)
    rgba[stroke, 3] = 255  # black, opaque stroke on a transparent background
    rgb = np.zeros((36, 48, 3), dtype=np.uint8)
    rgb[stroke] = (255, 0, 0)
    Image.fromarray(rgba, "RGBA").save(tmp_path / "rgba.png")
    Image.fromarray(rgb, "RGB").save(tmp_path / "rgb.png")
    np.save(tmp_path / "float.npy", stroke.astype(np.float32) * 0.5)
    for name in ("rgba.png", "rgb.png", "float.npy"):
        read = select_command.read_view_mask(tmp_path / name, case.camera)
        np.testing.assert_array_equal(read.mask, stroke, err_msg=name)
        assert (read.camera.width, read.camera.height) == (48, 36)
        assert read.camera.fx == pytest.approx(case.camera.fx / 2)
    Image.fromarray(np.zeros((36, 48), np.uint8)).convert("RGB").save(tmp_path / "x.jpg")
    with pytest.raises(select_command.InputFileError, match=r"must be a \.png image or a 2D \.npy"):
        select_command.read_view_mask(tmp_path / "x.jpg", case.camera)
