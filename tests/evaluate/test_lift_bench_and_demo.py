"""``liftstudio bench lift``, ``liftstudio demo``, ``liftstudio eval`` and the demo scene."""

from __future__ import annotations

import json
import subprocess
import sys
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest

from liftstudio.evaluate.demo_scene import demo_dir, load_demo_scene, write_demo_scene
from liftstudio.scene.formats import read_gaussians
from liftstudio.scene.formats.ply import write_ply

LIFTSTUDIO = str(Path(sys.executable).with_name("liftstudio"))
ROW_KEYS = {"scene", "noise", "method", "pq_scene", "miou", "gaussian_accuracy", "seconds",
            "peak_mb"}  # fmt: skip


def run(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([LIFTSTUDIO, *args], capture_output=True, text=True, timeout=600)


def test_bench_lift_references_on_tabletop():
    done = run("bench", "lift", "--scenes", "tabletop", "--noise", "clean,hard",
               "--methods", "gt,masks", "--json")  # fmt: skip
    assert done.returncode == 0, done.stderr
    rows = {(r["noise"], r["method"]): r for r in json.loads(done.stdout)}
    assert set(rows) == {("clean", "gt"), ("clean", "masks"), ("hard", "gt"), ("hard", "masks")}
    for row in rows.values():
        assert set(row) >= ROW_KEYS
    # The ceiling: ground truth rendered in the test views scores perfectly.
    assert rows["clean", "gt"]["pq_scene"] == 1.0 and rows["clean", "gt"]["gaussian_accuracy"] == 1
    assert rows["clean", "masks"]["pq_scene"] == 1.0  # clean masks are the truth
    assert rows["hard", "masks"]["pq_scene"] < 0.6  # hard masks are far from it
    assert rows["hard", "masks"]["gaussian_accuracy"] is None


def test_bench_lift_rejects_unknown_names():
    done = run("bench", "lift", "--methods", "magic")
    assert done.returncode == 2 and "unknown method 'magic'" in done.stderr


def test_committed_demo_is_small_and_current(tmp_path):
    folder = demo_dir()
    size = sum(f.stat().st_size for f in folder.rglob("*") if f.is_file())
    assert size <= 5 * 1024**2
    fresh = write_demo_scene(tmp_path / "demo")
    for name in ("ground_truth/instances.npy", "masks/sam-like/dome_000.png"):
        assert (fresh / name).read_bytes() == (folder / name).read_bytes(), (
            f"{name} differs: regenerate with python -m liftstudio.evaluate.demo_scene --overwrite"
        )
    with pytest.raises(Exception, match="already holds a demo scene"):
        write_demo_scene(tmp_path / "demo")


def test_demo_loads_with_truth_and_masks():
    scene, masks = load_demo_scene()
    assert len(scene.gaussians) == len(scene.instance_ids) > 45_000
    assert len(scene.train_cameras) == 24 and len(scene.test_cameras) == 8
    assert len(masks) == 24 and masks[0].shape == (240, 320)
    assert scene.train_images[0].shape == (240, 320, 3)
    # The masks are SAM-like: not the truth, and their ids disagree across views.
    assert not np.array_equal(masks[0], scene.train_gt[0])


def test_demo_command_prints_the_table():
    done = run("demo", "--json")
    assert done.returncode == 0, done.stderr
    rows = {r["method"]: r for r in json.loads(done.stdout)}
    assert rows["gt"]["pq_scene"] == 1.0
    assert 0.2 < rows["masks"]["pq_scene"] < 0.9
    # The learned methods lift the demo's SAM-like masks (ids disagree across views) far
    # above the masks' own per-view quality.
    for method in ("codebook", "unic", "coseg", "contrastive"):
        assert rows[method]["pq_scene"] > rows["masks"]["pq_scene"] + 0.2, method


@pytest.fixture()
def labeled_demo(tmp_path):
    """The demo's Gaussians with permuted true ids, the first 3000 unlabeled."""
    ply = demo_dir() / "point_cloud" / "iteration_30000" / "point_cloud.ply"
    gaussians = read_gaussians(ply)
    truth = np.load(demo_dir() / "ground_truth" / "instances.npy")
    permutation = np.random.default_rng(0).permutation(truth.max() + 1) + 100
    labels = permutation[truth].astype(np.int32)
    labels[:3000] = 0
    out = tmp_path / "labeled.ply"
    write_ply(replace(gaussians, extras={"instance": labels}), out)
    return out, truth


def test_eval_scores_a_labeled_ply(labeled_demo):
    path, truth = labeled_demo
    gt = demo_dir() / "ground_truth" / "instances.npy"
    done = run("eval", str(path), "--scene", str(demo_dir()), "--gt", str(gt), "--json")
    assert done.returncode == 0, done.stderr
    scores = json.loads(done.stdout)
    assert scores["views"] == 8  # the demo's test views
    assert scores["gaussian_accuracy"] == pytest.approx(1 - 3000 / len(truth))
    done = run("eval", str(path), "--scene", str(demo_dir()), "--gt", str(gt), "--column", "x2")
    assert done.returncode == 2 and "has no 'x2' column" in done.stderr


def test_eval_of_the_truth_is_perfect(tmp_path):
    ply = demo_dir() / "point_cloud" / "iteration_30000" / "point_cloud.ply"
    truth = np.load(demo_dir() / "ground_truth" / "instances.npy")
    out = tmp_path / "truth.ply"
    write_ply(replace(read_gaussians(ply), extras={"instance": truth + 7}), out)
    done = run("eval", str(out), "--scene", str(demo_dir()),
               "--gt", str(demo_dir() / "ground_truth" / "instances.npy"), "--json")  # fmt: skip
    scores = json.loads(done.stdout)
    assert scores["pq_scene"] == 1.0 and scores["miou"] == 1.0
    assert scores["gaussian_accuracy"] == 1.0
