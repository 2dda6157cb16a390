"""The single-object protocol of ``bench lift`` and the columns it adds."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from liftstudio.evaluate.bench_lift import SEEN_MIN_WEIGHT, run_row, seen_gaussians
from liftstudio.evaluate.bench_select import benchmark_objects, scribble_from_mask
from liftstudio.evaluate.mask_simulation import make_masks
from liftstudio.evaluate.scenes import make
from liftstudio.render.registry import resolve_backend


def test_a_scribble_is_a_thin_stroke_inside_the_mask():
    mask = np.zeros((60, 80), bool)
    mask[10:50, 20:70] = True
    stroke = scribble_from_mask(mask)
    assert stroke.any() and not (stroke & ~mask).any()
    assert stroke.sum() < 0.1 * mask.sum()
    # Thin and tiny objects still get a stroke, inside them.
    line = np.zeros((20, 20), bool)
    line[10, 2:18] = True
    assert (scribble_from_mask(line) & line).sum() > 0 and not (
        scribble_from_mask(line) & ~line
    ).any()
    dot = np.zeros((9, 9), bool)
    dot[4, 4] = True
    assert scribble_from_mask(dot).sum() == 1 and scribble_from_mask(dot)[4, 4]
    with pytest.raises(ValueError, match="empty mask"):
        scribble_from_mask(np.zeros((5, 5), bool))


@pytest.fixture(scope="module")
def small():
    backend = resolve_backend("cpu")
    scene = make("tabletop", 1, num_gaussians=10_000, width=128, height=96, num_train=8,
                 num_test=3, backend=backend)  # fmt: skip
    return scene, backend


def test_supports_are_not_benchmark_objects(small):
    scene, _ = small
    objects = benchmark_objects(scene)
    assert objects and all(scene.class_names[i] != "table" for i in objects)
    assert set(objects) | {i for i, n in scene.class_names.items() if n == "table"} == set(
        np.unique(scene.instance_ids).tolist()
    )
    few = benchmark_objects(scene, limit=3)
    assert len(objects) > 3
    assert few == [objects[0], objects[round((len(objects) - 1) / 2)], objects[-1]]


def test_single_object_rows_score_object_iou_only(small):
    scene, backend = small
    masks = make_masks("clean", scene.train_gt, scene.train_images, 0)
    row = run_row(scene, "clean", "diffusion", masks, backend)
    assert row.pq_scene is None and row.gaussian_accuracy is None and row.miou is None
    assert row.object_iou is not None and row.object_iou > 0.75
    assert row.seconds > 0 and "objects" in row.note
    lp = run_row(scene, "clean", "diffusion-lp", masks, backend)
    assert lp.object_iou is not None and lp.object_iou > 0.75


def test_seen_gaussians_follow_the_training_weight(small):
    scene, backend = small
    seen = seen_gaussians(scene, backend)
    ones = [np.ones((c.height, c.width), np.float32) for c in scene.train_cameras]
    beta = backend.uplift(scene.gaussians, scene.train_cameras, ones).beta
    assert np.array_equal(seen, beta >= SEEN_MIN_WEIGHT)
    assert 0.5 < seen.mean() < 1.0  # some Gaussians hide under objects
    row = run_row(scene, "clean", "gt", masks=scene.train_gt, backend=backend, seen=seen)
    assert row.accuracy_seen == 1.0 and row.object_iou is None


def test_bench_lift_speed_prints_every_target_figure():
    tool = str(Path(sys.executable).with_name("liftstudio"))
    done = subprocess.run(
        [tool, "bench", "lift-speed", "--views", "2", "--gaussians", "20000", "--json"],
        capture_output=True, text=True, timeout=600,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    result = json.loads(done.stdout)
    for key in ("uplift_s", "graph_build_s", "selection_s", "votes_bytes_per_gaussian_per_label"):
        assert key in result["targets"] and result[key] >= 0
    assert result["votes_bytes_per_gaussian_per_label"] <= 12
    assert result["selection_iou"] > 0.2 and result["views"] == 2  # 0.46 measured at 20k
