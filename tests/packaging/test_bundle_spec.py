"""The PyInstaller spec's data entries, the scripts of packaging/, and install.sh.

These run without building the bundle (packaging/build and packaging/smoke-test do
that, outside CI).
"""

from __future__ import annotations

import ast
import os
import shutil
import stat
import subprocess
from pathlib import Path

import pytest

from liftstudio.evaluate.demo_scene import demo_dir

ROOT = Path(__file__).resolve().parents[2]
PACKAGING = ROOT / "packaging"
SPEC = PACKAGING / "liftstudio.spec"


def _spec_constant(name: str):
    """A literal assigned at the top level of the spec (read without running PyInstaller)."""
    for node in ast.parse(SPEC.read_text(encoding="utf-8")).body:
        if isinstance(node, ast.Assign) and any(
            isinstance(target, ast.Name) and target.id == name for target in node.targets
        ):
            return ast.literal_eval(node.value)
    raise AssertionError(f"{SPEC.name} assigns no literal {name}")


def _app_id() -> str:
    (desktop,) = (ROOT / "resources").glob("*.desktop")
    return desktop.name.removesuffix(".desktop")


def test_every_data_folder_and_file_of_the_spec_exists():
    folders, files = _spec_constant("DATA_FOLDERS"), _spec_constant("DATA_FILES")
    assert folders and files
    for source, _ in folders:
        folder = ROOT / source
        assert folder.is_dir() and any(folder.iterdir()), f"{source} is missing or empty"
    for source, _ in files:
        assert (ROOT / source).is_file(), f"{source} is missing"
    project_id = _spec_constant("PROJECT_ID")
    assert project_id == _app_id()
    assert {Path(source).name for source, _ in files} == {
        f"{project_id}.desktop", f"{project_id}.metainfo.xml",
    }  # fmt: skip


def test_the_bundle_keeps_the_source_layout_where_the_code_looks_for_its_data():
    destinations = dict(_spec_constant("DATA_FOLDERS"))
    # demo_dir() is parents[2] of liftstudio/evaluate/demo_scene.py / resources / demo: in
    # the bundle that is _internal/ / resources / demo
    demo = demo_dir().relative_to(ROOT).as_posix()
    assert destinations[demo] == demo
    # the viewport reads its shaders with importlib.resources from its package folder
    import liftstudio.app.viewport as viewport

    shaders = (Path(viewport.__file__).parent / "shaders").relative_to(ROOT).as_posix()
    assert destinations[shaders] == shaders
    assert {p.name for p in (ROOT / shaders).iterdir()} >= {
        "splat.vert", "splat.frag", "present.vert", "present.frag",
    }  # fmt: skip


def test_the_spec_excludes_test_only_packages_and_names_its_runtime_hook():
    excludes = set(_spec_constant("EXCLUDES"))
    assert {"pytest", "_pytest", "hypothesis", "ruff", "importlinter", "tkinter"} <= excludes
    text = SPEC.read_text(encoding="utf-8")
    for name in ("liftstudio_main.py", "rthook_numba_cache.py"):
        assert f'"{name}"' in text and (PACKAGING / name).is_file()


@pytest.mark.parametrize("script", ["build", "smoke-test", "install.sh"])
def test_the_scripts_are_executable_strict_bash(script):
    path = PACKAGING / script
    assert path.stat().st_mode & stat.S_IXUSR
    text = path.read_text(encoding="utf-8")
    assert text.startswith("#!/usr/bin/env bash\n") and "set -euo pipefail" in text
    done = subprocess.run(["bash", "-n", str(path)], capture_output=True, text=True, check=False)
    assert done.returncode == 0, done.stderr


def _unpacked_archive(tmp_path: Path) -> Path:
    """The layout packaging/build packs, with a stand-in program (install.sh is tested)."""
    top = tmp_path / "liftstudio-0.1.0"
    program = top / "liftstudio" / "liftstudio"
    program.parent.mkdir(parents=True)
    program.write_text('#!/bin/sh\necho "liftstudio stand-in $*"\n', encoding="utf-8")
    program.chmod(0o755)
    (top / "liftstudio" / "_internal").mkdir()
    app_id = _app_id()
    share = top / "share"
    (share / "applications").mkdir(parents=True)
    shutil.copy(ROOT / "resources" / f"{app_id}.desktop", share / "applications")
    (share / "metainfo").mkdir()
    shutil.copy(ROOT / "resources" / f"{app_id}.metainfo.xml", share / "metainfo")
    shutil.copytree(ROOT / "resources" / "icons" / "hicolor", share / "icons" / "hicolor")
    scalable = share / "icons" / "hicolor" / "scalable" / "apps"
    scalable.mkdir(parents=True)
    shutil.copy(ROOT / "resources" / "icons" / "liftstudio.svg", scalable / f"{app_id}.svg")
    shutil.copy(PACKAGING / "install.sh", top / "install.sh")
    return top


def _files(folder: Path) -> set[str]:
    caches = {"mimeinfo.cache", "icon-theme.cache"}  # made by the desktop tools, if present
    return {
        p.relative_to(folder).as_posix()
        for p in folder.rglob("*")
        if (p.is_file() or p.is_symlink()) and p.name not in caches
    }


def test_install_sh_installs_under_a_prefix_and_uninstalls(tmp_path):
    top = _unpacked_archive(tmp_path)
    prefix = tmp_path / "prefix"
    env = {**os.environ, "HOME": str(tmp_path / "home")}
    run = [str(top / "install.sh"), "--prefix", str(prefix)]
    done = subprocess.run(run, capture_output=True, text=True, env=env, check=False)
    assert done.returncode == 0, done.stderr
    app_id = _app_id()
    binary = prefix / "bin" / "liftstudio"
    assert binary.is_symlink()
    version = subprocess.run([str(binary), "--version"], capture_output=True, text=True)
    assert version.stdout.strip() == "liftstudio stand-in --version"
    desktop = (prefix / "share" / "applications" / f"{app_id}.desktop").read_text()
    assert f"\nExec={binary} %f\n" in desktop and f"\nTryExec={binary}\n" in desktop
    expected = {
        "bin/liftstudio",
        "lib/liftstudio/liftstudio",
        f"share/applications/{app_id}.desktop",
        f"share/metainfo/{app_id}.metainfo.xml",
        f"share/icons/hicolor/scalable/apps/{app_id}.svg",
        *(f"share/icons/hicolor/{n}x{n}/apps/{app_id}.png" for n in (16, 32, 48, 256, 512)),
    }
    assert expected <= _files(prefix)
    # installing again replaces the copy (no nested lib/liftstudio/liftstudio/)
    assert subprocess.run(run, capture_output=True, env=env, check=False).returncode == 0
    assert not (prefix / "lib" / "liftstudio" / "liftstudio" / "liftstudio").exists()
    done = subprocess.run([*run, "--uninstall"], capture_output=True, text=True, env=env)
    assert done.returncode == 0, done.stderr
    assert _files(prefix) == set()


def test_install_sh_refuses_a_folder_without_the_bundle(tmp_path):
    script = tmp_path / "install.sh"
    shutil.copy(PACKAGING / "install.sh", script)
    done = subprocess.run(
        [str(script), "--prefix", str(tmp_path / "prefix")], capture_output=True, text=True,
        check=False,
    )  # fmt: skip
    assert done.returncode == 1
    assert "does not hold the unpacked bundle" in done.stderr
    assert not (tmp_path / "prefix").exists()
