"""``liftstudio masks``: automatic and imported masks for every training view of a scene."""

from __future__ import annotations

import json
import shutil

import numpy as np
import pytest

from liftstudio.cli import EXIT_USER_ERROR, main
from liftstudio.evaluate.demo_scene import demo_dir
from liftstudio.scene.discovery import open_scene
from liftstudio.sources.label_files import read_label_maps
from liftstudio.sources.mask_writing import MANIFEST_NAME


@pytest.fixture(autouse=True)
def private_cache(tmp_path, monkeypatch):
    monkeypatch.setenv("LIFTSTUDIO_CACHE_DIR", str(tmp_path / "cache"))


@pytest.fixture(scope="module")
def demo():
    opened = open_scene(demo_dir())
    truth = np.load(demo_dir() / "ground_truth" / "maps.npz")["train"]
    return opened, truth


def mean_best_iou(truth_maps, label_maps, min_area: int = 200) -> float:
    """Mean over ground-truth objects of the IoU with the mask covering most of them."""
    ious = []
    for truth, label_map in zip(truth_maps, label_maps, strict=True):
        for object_id in np.unique(truth[truth > 0]):
            obj = truth == object_id
            if obj.sum() < min_area:
                continue
            ids, counts = np.unique(label_map[obj], return_counts=True)
            best = label_map == ids[np.argmax(counts)]
            ious.append((obj & best).sum() / (obj | best).sum())
    return float(np.mean(ious))


def test_felzenszwalb_masks_for_the_demo_scene(tmp_path, demo, capsys):
    opened, truth = demo
    out = tmp_path / "masks"
    assert main(["masks", str(demo_dir()), "--source", "felzenszwalb", "--out", str(out)]) == 0
    printed = capsys.readouterr().out
    assert "24 views" in printed and "wrote 24 label maps" in printed
    read = read_label_maps(out, opened.cameras.train)
    assert read.report.matched == len(opened.cameras.train) == 24
    assert mean_best_iou(truth, read.maps) > 0.6  # real segments of the demo's objects
    manifest = json.loads((out / MANIFEST_NAME).read_text())
    assert manifest["source"] == "felzenszwalb" and manifest["rendered_views"] == []
    assert manifest["settings"]["settings"]["scale"] == 400.0
    # a second run takes every view from the cache and writes the same maps
    again = tmp_path / "again"
    assert main(["masks", str(demo_dir()), "--source", "felzenszwalb", "--out", str(again)]) == 0
    assert "24 from the cache" in capsys.readouterr().out
    for name in manifest["files"].values():
        assert (out / name).read_bytes() == (again / name).read_bytes()


def test_slic_masks_are_superpixels(tmp_path, demo):
    opened, _ = demo
    out = tmp_path / "slic"
    assert main(["masks", str(demo_dir()), "--source", "slic", "--out", str(out)]) == 0
    read = read_label_maps(out, opened.cameras.train)
    counts = [len(np.unique(m)) for m in read.maps]
    assert all(20 <= c <= 120 for c in counts)
    assert all((m > 0).all() for m in read.maps)


def test_a_scene_without_images_is_rendered_and_says_so(tmp_path, demo, capsys):
    _, truth = demo
    scene = tmp_path / "scene"
    shutil.copytree(demo_dir() / "point_cloud", scene / "point_cloud")
    for name in ("cameras.json", "train_cameras.json", "test_cameras.json", "cfg_args"):
        shutil.copy(demo_dir() / name, scene / name)
    out = tmp_path / "masks"
    code = main(["masks", str(scene), "--source", "felzenszwalb", "--out", str(out),
                 "--max-side", "160"])  # fmt: skip
    assert code == 0
    assert "rendered all training images from the Gaussians" in capsys.readouterr().out
    manifest = json.loads((out / MANIFEST_NAME).read_text())
    assert len(manifest["rendered_views"]) == 24
    read = read_label_maps(out, open_scene(scene).cameras.train)
    assert read.report.matched == 24 and len(read.report.resized) == 24
    assert all(m.shape == (120, 160) for m in read.maps)
    small_truth = truth[:, ::2, ::2]
    assert mean_best_iou(small_truth, read.maps, min_area=50) > 0.6


def test_import_copies_a_label_map_folder_by_name(tmp_path, demo):
    opened, _ = demo
    out = tmp_path / "imported"
    source = demo_dir() / "masks" / "sam-like"
    assert main(["masks", str(demo_dir()), "--source", f"import:{source}", "--out", str(out)]) == 0
    original = read_label_maps(source, opened.cameras.train)
    copied = read_label_maps(out, opened.cameras.train)
    for a, b in zip(original.maps, copied.maps, strict=True):
        np.testing.assert_array_equal(a, b)
    assert json.loads((out / MANIFEST_NAME).read_text())["source"] == "import:label-maps"


@pytest.mark.parametrize(
    ("extra", "message"),
    [
        (["--source", "sam"], "needs a SAM checkpoint"),
        (["--source", "watershed"], "unknown mask source 'watershed'"),
        (["--source", "import:"], "import: needs a folder"),
        (["--source", "slic", "--checkpoint", "x.pth"], "only used with --source sam"),
        (["--source", "sam", "--checkpoint", "missing.pth"], "missing.pth"),
    ],
)
def test_usage_errors_are_one_clear_line(tmp_path, capsys, extra, message):
    code = main(["masks", str(demo_dir()), "--out", str(tmp_path / "o"), *extra])
    assert code == EXIT_USER_ERROR
    err = capsys.readouterr().err
    assert message in err and "Traceback" not in err
    assert not (tmp_path / "o").exists()


def test_refuses_the_image_folder_and_scenes_without_cameras(tmp_path, capsys):
    code = main(["masks", str(demo_dir()), "--source", "slic",
                 "--out", str(demo_dir() / "images"), "--overwrite"])  # fmt: skip
    assert code == EXIT_USER_ERROR
    assert "training images" in capsys.readouterr().err
    assert not (tmp_path / "cache").exists()  # refused before any work
    ply = tmp_path / "bare.ply"
    shutil.copy(next((demo_dir() / "point_cloud").rglob("*.ply")), ply)
    assert main(["masks", str(ply), "--source", "slic", "--out", str(tmp_path / "o")]) != 0
    assert "no training cameras" in capsys.readouterr().err


def test_lift_reads_saga_masks_and_refuses_vote_on_per_view_ids(tmp_path, demo, capsys):
    import torch

    opened, _ = demo
    source = read_label_maps(demo_dir() / "masks" / "sam-like", opened.cameras.train)
    saga = tmp_path / "saga" / "sam_masks"
    saga.mkdir(parents=True)
    for camera, label_map in zip(source.cameras, source.maps, strict=True):
        ids = np.unique(label_map[label_map > 0])
        torch.save(
            torch.from_numpy(label_map[None] == ids[:, None, None]), saga / f"{camera.name}.pt"
        )
    args = ["lift", str(demo_dir()), "--masks", str(tmp_path / "saga")]
    assert main([*args, "--method", "vote", "--out", str(tmp_path / "v.ply")]) == EXIT_USER_ERROR
    assert "numbered per view" in capsys.readouterr().err
    out = tmp_path / "c.ply"
    assert main([*args, "--method", "contrastive", "--steps", "20", "--out", str(out)]) == 0
    assert "saga masks: 24 of 24 cameras matched" in capsys.readouterr().out
    assert out.exists()
