"""``liftstudio render`` and ``liftstudio bench render`` from the command line."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
from PIL import Image

from liftstudio.render.cpu import CpuBackend
from liftstudio.scene.discovery import open_scene

LIFTSTUDIO = str(Path(sys.executable).with_name("liftstudio"))


def run(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([LIFTSTUDIO, *args], capture_output=True, text=True, timeout=300)


def _scene(tmp_path: Path) -> Path:
    out = tmp_path / "scene"
    done = run("generate", str(out), "--gaussians", "3000", "--cameras", "4")
    assert done.returncode == 0, done.stderr
    return out


def test_render_writes_the_camera_view(tmp_path):
    folder = _scene(tmp_path)
    image = tmp_path / "view.png"
    done = run("render", str(folder), "--camera", "view_002.png", "--out", str(image),
               "--width", "160", "--backend", "cpu")  # fmt: skip
    assert done.returncode == 0, done.stderr
    pixels = np.asarray(Image.open(image))
    assert pixels.shape == (120, 160, 3)
    # The same view rendered in this process, through the camera the folder stores.
    opened = open_scene(folder)
    camera = opened.cameras.by_name()["view_002.png"]
    expected = CpuBackend().render(opened.gaussians, camera, resolution=(160, 120)).rgb
    assert np.abs(pixels / 255.0 - expected).max() <= 0.5 / 255 + 1e-6
    assert pixels.max() > 0


def test_render_modes_index_and_overwrite(tmp_path):
    folder = _scene(tmp_path)
    depth = tmp_path / "depth.png"
    assert run("render", str(folder), "--camera", "1", "--out", str(depth), "--mode", "depth",
               "--width", "64").returncode == 0  # fmt: skip
    grey = np.asarray(Image.open(depth))
    assert grey.ndim == 2 and grey.max() > 25  # something near is bright
    again = run("render", str(folder), "--camera", "1", "--out", str(depth))
    assert again.returncode == 2 and "already exists" in again.stderr
    assert np.array_equal(np.asarray(Image.open(depth)), grey)  # untouched
    assert run("render", str(folder), "--camera", "1", "--out", str(depth), "--mode", "alpha",
               "--overwrite", "--width", "64").returncode == 0  # fmt: skip


def test_render_errors_are_one_line(tmp_path, real_data):
    folder = _scene(tmp_path)
    done = run("render", str(folder), "--camera", "nope", "--out", str(tmp_path / "x.png"))
    assert done.returncode == 2 and "no camera named 'nope'" in done.stderr
    assert len(done.stderr.strip().splitlines()) == 1
    done = run("render", str(folder), "--camera", "9", "--out", str(tmp_path / "x.png"))
    assert done.returncode == 2 and "out of range" in done.stderr
    bare = real_data / "donut.ply"
    done = run("render", str(bare), "--out", str(tmp_path / "x.png"))
    assert done.returncode == 2 and "has no cameras; pass --ring N" in done.stderr
    done = run("render", str(bare), "--ring", "4", "--up", "z", "--out", str(tmp_path / "d.png"))
    assert done.returncode == 0, done.stderr
    assert np.asarray(Image.open(tmp_path / "d.png")).max() > 0
    assert not (tmp_path / "x.png").exists()


def test_bench_render_prints_its_figures(tmp_path):
    folder = _scene(tmp_path)
    ply = next(folder.rglob("point_cloud.ply"))
    done = run("bench", "render", "--scene", str(ply), "--views", "2", "--width", "64",
               "--height", "48", "--no-startup", "--json")  # fmt: skip
    assert done.returncode == 0, done.stderr
    result = json.loads(done.stdout)
    for key in ("render_ms_per_view", "uplift_ms_per_view", "operator_ms_per_view",
                "operator_bytes_per_pixel", "speedup_vs_reference", "pick_ms"):  # fmt: skip
        assert result[key] > 0, key
    assert result["gaussians"] == 3000 and result["width"] == 64
    # 16 int32 ids + 16 float16 weights + a float32 residual per pixel
    assert result["operator_bytes_per_pixel"] == 16 * 4 + 16 * 2 + 4
    assert result["profile"]["tile_entries"] > 0
