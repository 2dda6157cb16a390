"""The `liftstudio` command: reports, exit codes and one-line errors."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

LIFTSTUDIO = str(Path(sys.executable).with_name("liftstudio"))


def run(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([LIFTSTUDIO, *args], capture_output=True, text=True, timeout=300)


def test_info_json_on_compressed_guitar(real_data):
    done = run("info", str(real_data / "guitar.compressed.ply"), "--json")
    assert done.returncode == 0, done.stderr
    report = json.loads(done.stdout)
    assert report["gaussians"]["count"] == 90_854
    assert report["gaussians"]["format"] == "PlayCanvas compressed PLY"
    assert report["gaussians"]["sh_degree"] == 0
    assert report["cameras"] is None


def test_generate_then_info_text(tmp_path):
    out = tmp_path / "scene"
    done = run("generate", str(out), "--gaussians", "500", "--cameras", "6", "--sh-degree", "2")
    assert done.returncode == 0, done.stderr
    done = run("info", str(out))
    assert done.returncode == 0, done.stderr
    assert "Gaussians   500 from" in done.stdout and "SH degree 2" in done.stdout
    assert "f_rest_0..23" in done.stdout
    assert "Cameras     6 train + 0 test (3dgs-json" in done.stdout
    assert "640x480 ×6" in done.stdout
    assert "no training images" in done.stdout
    again = run("generate", str(out))
    assert again.returncode == 2 and "already exists" in again.stderr


def _truncated_ply(tmp_path) -> Path:
    out = tmp_path / "scene"
    assert run("generate", str(out), "--gaussians", "300").returncode == 0
    ply = next(out.rglob("point_cloud.ply"))
    bad = tmp_path / "cut.ply"
    bad.write_bytes(ply.read_bytes()[:-1000])
    return bad


def test_bad_input_is_one_line_naming_the_file(tmp_path):
    bad = _truncated_ply(tmp_path)
    done = run("info", str(bad))
    assert done.returncode == 2
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1, done.stderr
    assert lines[0].startswith("liftstudio: error: ") and "cut.ply: truncated" in lines[0]
    assert "Traceback" not in done.stderr and done.stdout == ""


def test_debug_shows_the_traceback(tmp_path):
    done = run("--debug", "info", str(_truncated_ply(tmp_path)))
    assert done.returncode == 2
    assert "Traceback" in done.stderr and "cut.ply: truncated" in done.stderr


@pytest.mark.parametrize(
    ("content", "expected"),
    [(b"\xff\xfe not utf-8 \x80", "UTF-8"), (b'[{"img_name": ', "JSON")],
)
def test_bad_cameras_json_in_a_scene_folder(tmp_path, content, expected):
    out = tmp_path / "scene"
    assert run("generate", str(out), "--gaussians", "50").returncode == 0
    (out / "cameras.json").write_bytes(content)
    done = run("info", str(out))
    assert done.returncode == 2
    assert "cameras.json" in done.stderr and expected in done.stderr
    assert len(done.stderr.strip().splitlines()) == 1


def test_missing_path_and_nan_drop(tmp_path, real_data):
    done = run("info", str(tmp_path / "missing.ply"))
    assert done.returncode == 2 and "missing.ply: no such file" in done.stderr
    done = run("info", str(real_data / "donut.ply"), "--drop-invalid", "--json")
    assert done.returncode == 0 and json.loads(done.stdout)["gaussians"]["count"] == 45_624


def test_bench_io_prints_its_figures():
    done = run("bench", "io", "--gaussians", "20000", "--repeats", "1", "--json")
    assert done.returncode == 0, done.stderr
    result = json.loads(done.stdout)
    assert result["gaussians"] == 20_000
    # SH degree 3 without normals: 59 float32 columns; the header is under 4 KiB
    assert 0 < result["file_bytes"] - 20_000 * 59 * 4 < 4096
    for key in ("save_s", "load_s", "peak_heap_bytes", "peak_rss_bytes"):
        assert result[key] > 0
