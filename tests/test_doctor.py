"""``liftstudio doctor``: its report against facts of this machine read independently.

The command runs as a subprocess of this interpreter (``python -m liftstudio.cli
doctor``) wherever its environment matters (display, Mesa overrides, caches, numba);
the expected values come from importlib.metadata, torch, ``free``, ``nproc``, files
the tests write, and the app's own viewport (tests/app/test_system_check_dialog.py).
"""

from __future__ import annotations

import importlib.metadata
import json
import os
import platform
import re
import subprocess
import sys
from pathlib import Path

import pytest

from liftstudio import __version__
from liftstudio.cli import main
from liftstudio.doctor import SECTIONS, Status, exit_status, format_report, run_check
from liftstudio.doctor.dependencies import Dependency, dependency_item
from liftstudio.doctor.gl import GlProbeRun, gl_probe_command
from liftstudio.doctor.installation import Installation

ROOT = Path(__file__).resolve().parents[1]

#: The test's own list: report name -> distribution to read the version from.
REQUIRED = {
    "numpy": "numpy",
    "scipy": "scipy",
    "torch": "torch",
    "numba": "numba",
    "llvmlite": "llvmlite",
    "plyfile": "plyfile",
    "pycolmap": "pycolmap",
    "PySide6": "PySide6-Essentials",
    "pyqtgraph": "pyqtgraph",
    "PyOpenGL": "PyOpenGL",
    "scikit-learn": "scikit-learn",
    "scikit-image": "scikit-image",
    "pycocotools": "pycocotools",
    "pillow": "pillow",
}
OPTIONAL = {
    "segment_anything": "segment-anything",
    "torchvision": "torchvision",
    "transformers": "transformers",
    "safetensors": "safetensors",
    "gsplat": "gsplat",
}
ITEM_LINE = re.compile(r"^  \[(ok|missing|warning|error)\] +(\S.*?)  +(.*)$")


def _metadata_version(distribution: str) -> str | None:
    try:
        return importlib.metadata.version(distribution)
    except importlib.metadata.PackageNotFoundError:
        return None


def run_doctor(
    *args: str, env: dict[str, str] | None = None, drop: tuple[str, ...] = ()
) -> subprocess.CompletedProcess:
    """``python -m liftstudio.cli doctor ARGS`` with this process's environment changed."""
    child = dict(os.environ)
    child.update(env or {})
    for name in drop:
        child.pop(name, None)
    return subprocess.run(
        [sys.executable, "-m", "liftstudio.cli", "doctor", *args],
        capture_output=True,
        text=True,
        env=child,
        cwd=ROOT,
        timeout=240,
    )


def text_items(report: str) -> list[tuple[str, str, str]]:
    """``(status, name, detail)`` of every item line of a text report (wrapped lines joined)."""
    items: list[list[str]] = []
    in_items = True
    for line in report.splitlines():
        if line == "What to do":
            in_items = False
        if not in_items:
            continue
        match = ITEM_LINE.match(line)
        if match:
            items.append(list(match.groups()))
        elif items and line.startswith(" " * 10) and line.strip():
            items[-1][2] += " " + line.strip()
    return [tuple(item) for item in items]


def by_name(document: dict) -> dict[str, dict]:
    names = [item["name"] for item in document["items"]]
    assert len(set(names)) == len(names), "item names are unique"
    return {item["name"]: item for item in document["items"]}


@pytest.fixture
def isolated(tmp_path, no_user_config):
    """Environment with the caches and the numba cache in a fresh folder, no settings."""
    return {
        "LIFTSTUDIO_CACHE_DIR": str(tmp_path / "cache"),
        "NUMBA_CACHE_DIR": str(tmp_path / "numba"),
        "LIFTSTUDIO_CONFIG": str(no_user_config),
    }


# ---------------------------------------------------------------------------- versions
def test_versions_are_those_of_the_installed_packages(capsys):
    status = main(["doctor", "--no-gl", "--json"])
    document = json.loads(capsys.readouterr().out)
    items = by_name(document)
    assert items["LiftStudio"]["detail"] == importlib.metadata.version("liftstudio") == __version__
    assert platform.python_version() in items["Python"]["detail"]
    assert sys.executable in items["Python"]["detail"]
    assert items["Build"]["data"]["frozen"] is False
    assert items["Build"]["data"]["source_root"] == str(ROOT)
    for name, distribution in REQUIRED.items():
        version = _metadata_version(distribution)
        assert version is not None, f"{distribution} is a dependency of the test environment"
        assert items[name]["status"] == "ok"
        assert items[name]["detail"] == version
    for name, distribution in OPTIONAL.items():
        version = _metadata_version(distribution)
        if version is None:
            assert items[name]["status"] == "missing"
            assert items[name]["fix"].startswith("pip install")
        else:
            assert items[name]["status"] == "ok"
            assert items[name]["detail"].split(" ")[0] == version
    # --no-gl: OpenGL is not checked, and nothing else is an error on this machine
    assert items["OpenGL 3.3 core"]["status"] == "warning"
    assert status == document["exit_status"] == 0


def test_cuda_is_reported_as_torch_sees_it(capsys):
    import torch

    main(["doctor", "--no-gl", "--json"])
    items = by_name(json.loads(capsys.readouterr().out))
    if torch.cuda.is_available():
        assert items["CUDA"]["status"] == "ok"
        assert torch.cuda.get_device_name(0) in items["CUDA"]["detail"]
    else:
        assert items["CUDA"]["status"] == "missing"  # not an error: the CPU backend runs
        assert "CPU render backend is used" in items["CUDA"]["detail"]
        assert "CUDA GPU" in items["CUDA"]["fix"] and "gsplat" in items["CUDA"]["fix"]
        assert items["gsplat backend"]["status"] == "missing"


def test_memory_and_cpus_match_free_and_nproc(capsys):
    main(["doctor", "--no-gl", "--json"])
    items = by_name(json.loads(capsys.readouterr().out))
    free = subprocess.run(["free", "-b"], capture_output=True, text=True, check=True).stdout
    total = int(next(line for line in free.splitlines() if line.startswith("Mem:")).split()[1])
    assert items["Memory"]["data"]["total_bytes"] == total
    nproc = int(subprocess.run(["nproc"], capture_output=True, text=True, check=True).stdout)
    assert items["CPUs"]["data"]["usable"] == nproc
    assert items["CPUs"]["data"]["logical"] == os.cpu_count()


# ---------------------------------------------------------------------------- caches
def _write(path: Path, size: int) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(b"x" * size)


def test_cache_section_counts_the_files_written(tmp_path, isolated):
    cache = Path(isolated["LIFTSTUDIO_CACHE_DIR"])
    for name, size in (("a.npz", 10), ("b.npz", 2000), ("c.tmp", 5)):
        _write(cache / "operators" / name, size)
    _write(cache / "graphs" / "g.npz", 4096)
    _write(cache / "stray" / "old" / "file.bin", 7)
    numba = cache / "numba"  # as the bundle's runtime hook sets it: under the cache root
    isolated["NUMBA_CACHE_DIR"] = str(numba)
    _write(numba / "m" / "f-1.py311.nbi", 300)
    _write(numba / "m" / "f-1.py311.1.nbc", 1200)
    _write(numba / "m" / "notes.txt", 99)  # not a numba cache file

    done = run_doctor("--no-gl", "--json", env=isolated)
    assert done.returncode == 0, done.stderr
    items = by_name(json.loads(done.stdout))
    facts = {name: (items[name]["data"]["files"], items[name]["data"]["bytes"]) for name in items
             if name.startswith("Cache: ") or name == "Numba kernels"}  # fmt: skip
    assert facts == {
        "Cache: operators": (3, 2015),
        "Cache: graphs": (1, 4096),
        "Cache: masks": (0, 0),
        "Cache: features": (0, 0),
        "Cache: stray": (1, 7),
        "Numba kernels": (2, 1500),
    }
    assert "3 files, 2,015 bytes" in items["Cache: operators"]["detail"]
    assert str(cache / "operators") in items["Cache: operators"]["detail"]
    assert "not created yet" in items["Cache: masks"]["detail"]
    assert "from LIFTSTUDIO_CACHE_DIR" in items["Cache folder"]["detail"]
    assert str(numba) in items["Numba kernels"]["detail"]
    assert items["Disk (caches)"]["data"]["path"] == str(cache)

    text = run_doctor("--no-gl", env=isolated).stdout
    lines = {name: detail for _, name, detail in text_items(text)}
    assert lines["Cache: graphs"].startswith("1 file, 4,096 bytes (4.0 KiB)")


def test_an_unwritable_numba_cache_is_a_warning(tmp_path, isolated):
    blocker = tmp_path / "a-file"
    blocker.write_text("numba cannot make a folder inside a file")
    isolated["NUMBA_CACHE_DIR"] = str(blocker / "numba")
    done = run_doctor("--no-gl", "--json", env=isolated)
    item = by_name(json.loads(done.stdout))["Numba kernels"]
    assert item["status"] == "warning"
    assert "NUMBA_CACHE_DIR" in item["fix"]
    assert done.returncode == 0  # a warning is not an error


# ---------------------------------------------------------------------------- settings
def test_a_missing_sam_checkpoint_names_the_settings_file(no_user_config, capsys):
    no_user_config.write_text('[sam]\ncheckpoint = "missing.pth"\n')
    status = main(["doctor", "--no-gl"])
    report = capsys.readouterr().out
    lines = {name: (state, detail) for state, name, detail in text_items(report)}
    state, detail = lines["SAM checkpoint"]
    assert state == "missing"
    assert str(no_user_config.parent / "missing.pth") in detail
    assert "does not exist" in detail
    assert str(no_user_config) in detail
    what_to_do = report.split("\nWhat to do\n")[1]
    assert f"[sam] checkpoint in {no_user_config}" in what_to_do
    assert status == 0  # SAM is optional


def test_an_existing_sam_checkpoint_is_found(no_user_config, capsys):
    checkpoint = no_user_config.parent / "models" / "sam_vit_b.pth"
    _write(checkpoint, 1234)
    no_user_config.write_text('[sam]\ncheckpoint = "models/sam_vit_b.pth"\nmodel_type = "vit_b"\n')
    main(["doctor", "--no-gl", "--json"])
    item = by_name(json.loads(capsys.readouterr().out))["SAM checkpoint"]
    assert item["status"] == "ok"
    assert item["fix"] == ""
    assert f"{checkpoint} exists (1.2 KiB, model_type vit_b)" in item["detail"]
    assert item["data"]["size_bytes"] == os.path.getsize(checkpoint)


def test_dino_checkpoints_say_how_they_would_load(no_user_config, capsys):
    folder = no_user_config.parent / "dinov2-small"
    _write(folder / "model.safetensors", 2048)
    (folder / "config.json").write_text(json.dumps({"model_type": "dinov2"}))
    no_user_config.write_text(f'[dino]\ncheckpoint = "{folder}"\n')
    main(["doctor", "--no-gl", "--json"])
    item = by_name(json.loads(capsys.readouterr().out))["DINOv2 checkpoint"]
    assert item["status"] == "ok"
    assert "Hugging Face model folder" in item["detail"] and "Dinov2Model" in item["detail"]

    (folder / "config.json").unlink()  # a folder without config.json cannot be loaded
    main(["doctor", "--no-gl", "--json"])
    item = by_name(json.loads(capsys.readouterr().out))["DINOv2 checkpoint"]
    assert item["status"] == "warning"
    assert "without config.json" in item["detail"]

    hub = no_user_config.parent / "dinov2_vits14_pretrain.pth"
    _write(hub, 100)
    no_user_config.write_text(f'[dino]\ncheckpoint = "{hub}"\n')
    main(["doctor", "--no-gl", "--json"])
    item = by_name(json.loads(capsys.readouterr().out))["DINOv2 checkpoint"]
    assert item["status"] == "ok"
    assert "torch-hub checkpoint file" in item["detail"] and "weights_only" in item["detail"]


def test_a_broken_settings_file_fails_and_is_named(isolated, no_user_config):
    no_user_config.write_text('[sam]\ncheckpoint = "x.pth"\n[dino\n')
    done = run_doctor("--no-gl", env=isolated)
    assert done.returncode == 1
    lines = {name: (state, detail) for state, name, detail in text_items(done.stdout)}
    state, detail = lines["Settings file"]
    assert state == "error"
    assert detail.startswith(f"{no_user_config}: is not valid TOML")
    assert lines["SAM checkpoint"][0] == "warning"
    assert f"fix or remove {no_user_config}" in done.stdout.split("\nWhat to do\n")[1]


# ---------------------------------------------------------------------------- OpenGL
def _assert_xvfb() -> None:
    assert os.environ.get("DISPLAY"), "the suite runs under Xvfb (pytest-xvfb sets DISPLAY)"


def test_opengl_under_xvfb_and_json_holds_the_text_items(isolated, monkeypatch, capsys):
    _assert_xvfb()
    text = run_doctor(env=isolated)  # the real program
    monkeypatch.setenv("LIFTSTUDIO_CACHE_DIR", isolated["LIFTSTUDIO_CACHE_DIR"])
    status = main(["doctor", "--json"])
    document = json.loads(capsys.readouterr().out)
    assert status == text.returncode == 0, text.stderr
    gl = by_name(document)["OpenGL 3.3 core"]
    assert gl["status"] == "ok"
    probe = gl["data"]["probe"]
    assert "llvmpipe" in probe["renderer"] and "Mesa" in probe["version"]
    major, minor = (int(v) for v in re.match(r"(\d+)\.(\d+)", probe["version"]).groups())
    assert tuple(gl["data"]["context_version"]) == (major, minor) >= (3, 3)

    # the JSON holds the text's items, in the same order, with the same details
    lines = text_items(text.stdout)
    assert [(s, n) for s, n, _ in lines] == [(i["status"], i["name"]) for i in document["items"]]
    volatile = {"Memory", "Disk (caches)", "Numba kernels"}  # change between two runs
    for (_, name, detail), item in zip(lines, document["items"], strict=True):
        if name not in volatile:
            assert detail == item["detail"], name
    assert [i["section"] for i in document["items"]] == sorted(
        (i["section"] for i in document["items"]), key=SECTIONS.index
    )
    tally = document["counts"]
    assert (
        f"{tally['ok']} ok, {tally['missing']} missing (optional), {tally['warning']} "
        f"warning(s), {tally['error']} error(s); exit status 0"
    ) in text.stdout


def test_without_a_display_the_report_says_so(monkeypatch, capsys):
    for name in ("DISPLAY", "WAYLAND_DISPLAY", "QT_QPA_PLATFORM"):
        monkeypatch.delenv(name, raising=False)  # the probe process inherits this
    status = main(["doctor"])
    report = capsys.readouterr().out
    lines = {name: (state, detail) for state, name, detail in text_items(report)}
    state, detail = lines["OpenGL 3.3 core"]
    assert state == "warning"
    assert detail.startswith("no display")
    what_to_do = report.split("\nWhat to do\n")[1]
    assert "xvfb-run -a" in what_to_do and "command line works without a display" in what_to_do
    errors = [name for state, name, _ in text_items(report) if state == "error"]
    assert status == (1 if errors else 0)
    assert errors == []  # nothing else is broken here


def test_a_lower_mesa_version_is_an_error(monkeypatch, capsys):
    _assert_xvfb()
    monkeypatch.setenv("MESA_GL_VERSION_OVERRIDE", "3.0")  # the probe process inherits these
    monkeypatch.setenv("MESA_GLSL_VERSION_OVERRIDE", "130")
    status = main(["doctor", "--json"])
    assert status == 1
    gl = by_name(json.loads(capsys.readouterr().out))["OpenGL 3.3 core"]
    assert gl["status"] == "error"
    assert gl["data"]["probe"]["version"].startswith("3.0")
    assert tuple(gl["data"]["context_version"]) < (3, 3)
    assert "update the GPU driver" in gl["fix"] and "LIBGL_ALWAYS_SOFTWARE=1" in gl["fix"]


def test_the_frozen_route_reaches_the_same_probe(tmp_path):
    """A bundle's program is ``liftstudio.cli:main``: ``PROGRAM doctor --gl-probe``."""
    _assert_xvfb()
    program = tmp_path / "liftstudio-bundle"
    program.write_text(f'#!/bin/sh\nexec "{sys.executable}" -m liftstudio.cli "$@"\n')
    program.chmod(0o755)
    frozen = Installation(frozen=True, source_root=None, executable=str(program))
    assert gl_probe_command(frozen) == [str(program), "doctor", "--gl-probe"]
    env = dict(os.environ, PYTHONPATH=str(ROOT))
    via_bundle = GlProbeRun(frozen, timeout=120, env=env).outcome()
    direct = subprocess.run(
        [sys.executable, "-m", "liftstudio.app.gl_probe"],
        capture_output=True, text=True, timeout=120, cwd=ROOT,
    )  # fmt: skip
    assert via_bundle.returncode == direct.returncode == 0
    assert via_bundle.result == json.loads(direct.stdout)
    assert via_bundle.result["ok"] is True


def test_a_probe_that_does_not_answer_in_time_is_stopped():
    from liftstudio.doctor import run_checks

    _assert_xvfb()
    (item,) = run_checks(sections=["OpenGL"], gl_timeout=0.05)  # Qt takes longer to start
    assert item.status is Status.ERROR
    assert "did not answer in time" in item.detail
    assert item.data["returncode"] is not None and item.data["returncode"] != 0
    assert "update the GPU driver" in item.fix


# ---------------------------------------------------------------------------- robustness
def test_a_failing_check_becomes_an_error_item():
    def broken() -> list:
        raise OSError("disk on fire")

    (item,) = run_check("Files", "Caches", broken)
    assert item.status is Status.ERROR
    assert "OSError: disk on fire" in item.detail
    assert item.fix
    assert exit_status([item]) == 1
    assert "[error]" in format_report([item])


def test_frozen_builds_send_users_to_a_source_install():
    frozen = Installation(frozen=True, source_root=None, executable="/opt/LiftStudio/liftstudio")
    absent = Dependency("not-a-package", ("not-a-package-xyz",), "not_a_package_xyz", False, "x")
    item = dependency_item(absent, frozen)
    assert item.status is Status.MISSING
    assert "cannot install Python packages" in item.fix and "source install" in item.fix
    required = Dependency("gone", ("not-a-package-xyz",), "not_a_package_xyz", True)
    assert dependency_item(required, frozen).status is Status.ERROR


def test_unknown_sections_are_refused():
    from liftstudio.doctor import run_checks

    with pytest.raises(ValueError, match="unknown sections"):
        run_checks(sections=["Nope"])
