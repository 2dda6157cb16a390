"""``liftstudio lift``: scene + label-map folder → labeled PLY and sidecar."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from PIL import Image
from plyfile import PlyData

import liftstudio.lift.registry as registry
from liftstudio.cli import main
from liftstudio.evaluate.metrics import gaussian_accuracy
from liftstudio.evaluate.scenes import make
from liftstudio.export import read_labeled_ply
from liftstudio.lift.registry import LiftInputs, LiftOutput, lift_methods
from liftstudio.render.registry import resolve_backend
from liftstudio.scene.camera_formats.gs_json import write_3dgs_cameras
from liftstudio.scene.output_folder import write_3dgs_output

LIFTSTUDIO = str(Path(sys.executable).with_name("liftstudio"))


def run(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([LIFTSTUDIO, *args], capture_output=True, text=True, timeout=300)


def _half(truth: np.ndarray) -> np.ndarray:
    small = Image.fromarray(truth.astype(np.uint8)).resize((48, 36), Image.Resampling.NEAREST)
    return np.asarray(small)


@pytest.fixture(scope="module")
def scene(tmp_path_factory):
    """A small tabletop in the 3DGS output layout, with images and consistent masks.

    The masks are the ground-truth instance maps at half the image size (48x36).
    """
    folder = tmp_path_factory.mktemp("lift") / "scene"
    bench = make("tabletop", 0, num_gaussians=4000, num_train=8, num_test=2, width=96, height=72)
    write_3dgs_output(folder, bench.gaussians, bench.train_cameras)
    write_3dgs_cameras(bench.train_cameras, folder / "train_cameras.json")
    write_3dgs_cameras(bench.test_cameras, folder / "test_cameras.json")
    (folder / "images").mkdir()
    masks = folder / "masks"
    masks.mkdir()
    views = list(zip(bench.train_cameras, bench.train_images, bench.train_gt, strict=True))
    for camera, image, truth in views:
        Image.fromarray((image * 255).astype(np.uint8)).save(
            folder / "images" / f"{camera.name}.png"
        )
        Image.fromarray(_half(truth)).save(masks / f"{camera.name}.png")
    return folder, bench


def test_lift_writes_a_labeled_ply_close_to_the_truth(scene, tmp_path):
    folder, bench = scene
    out = tmp_path / "labeled.ply"
    done = run("lift", str(folder), "--masks", str(folder / "masks"), "--method", "vote",
               "--out", str(out), "--backend", "cpu", "--seed", "3")  # fmt: skip
    assert done.returncode == 0, done.stderr
    assert "label maps: 8 of 8 cameras matched" in done.stdout
    assert "8 map(s) differ in size" in done.stdout
    assert "Gaussians labeled" in done.stdout and "lifting (vote, cpu backend)" in done.stderr
    result = read_labeled_ply(out)
    assert result.labels.dtype == np.int32 and len(result.labels) == len(bench.gaussians)
    # The same lift in this process, with each mask given to its own camera by hand.
    cameras = [camera.scaled_to(48, 36) for camera in bench.train_cameras]
    maps = [_half(truth).astype(np.int32) for truth in bench.train_gt]
    expected = lift_methods()["vote"](
        LiftInputs(bench.gaussians, cameras, maps, None, resolve_backend("cpu"))
    )
    np.testing.assert_array_equal(result.labels, expected.labels)
    np.testing.assert_array_equal(result.confidence, expected.confidence)
    assert gaussian_accuracy(result.labels, bench.instance_ids) > 0.65  # 48x36 masks
    sidecar = json.loads((tmp_path / "labeled.instances.json").read_text())
    assert sidecar["provenance"]["method"] == "vote" and sidecar["provenance"]["seed"] == 3
    assert sidecar["provenance"]["views"] == 8 and sidecar["provenance"]["images"] is True
    assert len(sidecar["instances"]) >= 0.8 * len(np.unique(bench.instance_ids))


def test_bad_masks_folder_is_one_line_and_writes_nothing(scene, tmp_path):
    folder, _ = scene
    out = tmp_path / "labeled.ply"
    done = run("lift", str(folder), "--masks", str(tmp_path / "nope"), "--out", str(out))
    assert done.returncode == 2
    assert done.stderr.strip().splitlines() == [
        f"liftstudio: error: {tmp_path / 'nope'}: no such folder; pass the folder that holds "
        "the masks"
    ]
    wrong = tmp_path / "wrong"
    wrong.mkdir()
    Image.fromarray(np.zeros((36, 48), np.uint8)).save(wrong / "not_a_camera.png")
    done = run("lift", str(folder), "--masks", str(wrong), "--out", str(out))
    assert done.returncode == 2 and "no label map matches a camera by name" in done.stderr
    assert len(done.stderr.strip().splitlines()) == 1
    assert not out.exists() and not (tmp_path / "labeled.instances.json").exists()


def test_existing_output_is_refused_and_untouched(scene, tmp_path):
    folder, _ = scene
    out = tmp_path / "labeled.ply"
    out.write_bytes(b"earlier result")
    args = ("lift", str(folder), "--masks", str(folder / "masks"), "--out", str(out))
    done = run(*args)
    assert done.returncode == 2 and "already exists" in done.stderr
    assert out.read_bytes() == b"earlier result"
    done = run(*args, "--overwrite", "--backend", "cpu")
    assert done.returncode == 0, done.stderr
    vertex = PlyData.read(str(out))["vertex"]
    assert vertex["instance"].dtype == np.dtype("<i4") and vertex["instance"].max() > 0


def test_a_scene_without_training_cameras_is_refused(scene, tmp_path):
    folder, _ = scene
    bare = tmp_path / "bare.ply"
    bare.write_bytes(next(folder.rglob("point_cloud.ply")).read_bytes())
    done = run(
        "lift", str(bare), "--masks", str(folder / "masks"), "--out", str(tmp_path / "o.ply")
    )
    assert done.returncode == 2 and "has no training cameras" in done.stderr
    assert len(done.stderr.strip().splitlines()) == 1


class _Recorder:
    """A lifting method that records what it was given (and may interrupt)."""

    name = "vote"
    description = "records its inputs"

    def __init__(self, interrupt: bool = False) -> None:
        self.interrupt = interrupt
        self.inputs = None

    def __call__(self, inputs, *, progress=None, cancel=None):
        self.inputs = inputs
        if progress is not None:
            progress(1, 2, "halfway")
        if self.interrupt:
            raise KeyboardInterrupt
        return LiftOutput(labels=np.ones(len(inputs.gaussians), dtype=np.int32))


def test_the_method_gets_maps_cameras_and_images_at_the_map_size(scene, tmp_path, monkeypatch):
    folder, bench = scene
    recorder = _Recorder()
    monkeypatch.setattr(registry, "lift_methods", lambda: {"vote": recorder})
    out = tmp_path / "labeled.ply"
    assert main(["lift", str(folder), "--masks", str(folder / "masks"), "--out", str(out),
                 "--backend", "cpu"]) == 0  # fmt: skip
    inputs = recorder.inputs
    assert [c.name for c in inputs.cameras] == [c.name for c in bench.train_cameras]
    assert all((c.width, c.height) == (48, 36) for c in inputs.cameras)
    assert inputs.cameras[0].fx == pytest.approx(bench.train_cameras[0].fx / 2)
    for label_map, truth in zip(inputs.label_maps, bench.train_gt, strict=True):
        assert label_map.shape == (36, 48) and label_map.dtype == np.int32
        np.testing.assert_array_equal(label_map, _half(truth))
    assert len(inputs.images) == 8
    image = inputs.images[3]
    assert image.shape == (36, 48, 3) and image.dtype == np.float32
    assert image.min() >= 0.0 and image.max() <= 1.0
    rgb = Image.fromarray((bench.train_images[3] * 255).astype(np.uint8))
    expected = np.asarray(rgb.resize((48, 36), Image.Resampling.BILINEAR)) / 255.0
    assert np.abs(image - expected).max() < 1e-6


def test_ctrl_c_leaves_no_output(scene, tmp_path, monkeypatch, capsys):
    folder, _ = scene
    monkeypatch.setattr(registry, "lift_methods", lambda: {"vote": _Recorder(interrupt=True)})
    out = tmp_path / "labeled.ply"
    code = main(["lift", str(folder), "--masks", str(folder / "masks"), "--out", str(out)])
    assert code == 130 and "cancelled" in capsys.readouterr().err
    assert list(tmp_path.iterdir()) == []


def test_help_documents_the_formats(capsys):
    with pytest.raises(SystemExit) as exit_info:
        main(["lift", "--help"])
    assert exit_info.value.code == 0
    text = capsys.readouterr().out
    for fact in (".png", "16-bit", "indexed-palette", ".npy", "object_mask", "instance",
                 "instances.json", "--method METHOD", "vote"):  # fmt: skip
        assert fact in text, fact


def test_a_learned_method_runs_from_the_command_line(scene, tmp_path):
    folder, bench = scene
    out = tmp_path / "codebook.ply"
    done = run("lift", str(folder), "--masks", str(folder / "masks"), "--method", "codebook",
               "--steps", "150", "--out", str(out), "--backend", "cpu")  # fmt: skip
    assert done.returncode == 0, done.stderr
    result = read_labeled_ply(out)
    assert gaussian_accuracy(result.labels, bench.instance_ids) > 0.6  # 48x36 masks
    sidecar = json.loads((tmp_path / "codebook.instances.json").read_text())
    training = sidecar["provenance"]["training"]
    assert training["steps"] == 150 and "contrastive" in training["final_losses"]


def test_steps_is_refused_for_a_method_that_does_not_train(scene, tmp_path):
    folder, _ = scene
    done = run("lift", str(folder), "--masks", str(folder / "masks"), "--method", "vote",
               "--steps", "10", "--out", str(tmp_path / "x.ply"))  # fmt: skip
    assert done.returncode != 0 and "does not train" in done.stderr
    assert not (tmp_path / "x.ply").exists()
