"""The core never imports Qt: checked by import-linter and by importing with Qt blocked."""

from __future__ import annotations

import pkgutil
import subprocess
import sys
import tomllib
from pathlib import Path

import liftstudio

ROOT = Path(__file__).resolve().parents[1]
QT_MODULES = ("PySide6", "pyqtgraph", "OpenGL", "shiboken6")


def _core_modules() -> set[str]:
    """Every top-level module of the package except the app (the only Qt code)."""
    return {
        f"liftstudio.{info.name}"
        for info in pkgutil.iter_modules(liftstudio.__path__)
        if info.name != "app"
    }


def test_import_linter_contract_covers_the_whole_core():
    config = tomllib.loads((ROOT / "pyproject.toml").read_text())
    (contract,) = [
        c for c in config["tool"]["importlinter"]["contracts"] if c["type"] == "forbidden"
    ]
    assert set(contract["source_modules"]) == _core_modules(), (
        "a new core module must be added to the import-linter contract in pyproject.toml"
    )
    assert set(QT_MODULES) <= set(contract["forbidden_modules"])


def test_import_linter_contract_holds():
    lint_imports = Path(sys.executable).with_name("lint-imports")
    done = subprocess.run(
        [str(lint_imports), "--config", str(ROOT / "pyproject.toml")],
        cwd=ROOT,
        capture_output=True,
        text=True,
    )
    assert done.returncode == 0, done.stdout + done.stderr


def test_core_imports_with_qt_blocked():
    """Import every core module in a fresh interpreter where Qt cannot be imported."""
    modules = sorted(
        info.name
        for info in pkgutil.walk_packages(liftstudio.__path__, "liftstudio.")
        # __main__ runs the program when imported; it only imports liftstudio.cli
        if not info.name.startswith("liftstudio.app") and info.name != "liftstudio.__main__"
    )
    script = f"""
import importlib.abc, sys
class Block(importlib.abc.MetaPathFinder):
    def find_spec(self, name, path=None, target=None):
        if name.split(".")[0] in {QT_MODULES!r}:
            raise ImportError("Qt is blocked: " + name)
sys.meta_path.insert(0, Block())
import importlib
for name in {modules!r}:
    importlib.import_module(name)
print(len({modules!r}))
"""
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
    assert int(done.stdout) == len(modules) > 10
