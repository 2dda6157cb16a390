"""The desktop entry, AppStream metainfo and icons in resources/ agree and are well formed."""

from __future__ import annotations

import configparser
import os
import shlex
import subprocess
import sys
import tomllib
import xml.etree.ElementTree as ET
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

ROOT = Path(__file__).resolve().parents[2]
RESOURCES = ROOT / "resources"
DESKTOP_FILES = sorted(RESOURCES.glob("*.desktop"))
METAINFO_FILES = sorted(RESOURCES.glob("*.metainfo.xml"))
SIZES = (16, 24, 32, 48, 64, 128, 256, 512)
# From resources/icons/liftstudio.svg: the rounded square's fill, and its corner radius
# (48 of 256), so the outermost corner pixel is transparent.
SVG_BACKGROUND = (0x1D, 0x23, 0x30)


def _desktop_entry() -> configparser.SectionProxy:
    parser = configparser.ConfigParser(interpolation=None, delimiters=("=",))
    parser.optionxform = str  # keys are case-sensitive
    parser.read(DESKTOP_FILES[0], encoding="utf-8")
    return parser["Desktop Entry"]


def _metainfo() -> ET.Element:
    return ET.parse(METAINFO_FILES[0]).getroot()


def _app_id() -> str:
    return DESKTOP_FILES[0].name.removesuffix(".desktop")


def _icon(size: int) -> Path:
    return RESOURCES / "icons" / "hicolor" / f"{size}x{size}" / "apps" / f"{_app_id()}.png"


def test_there_is_one_desktop_entry_and_one_metainfo_with_the_same_id():
    assert len(DESKTOP_FILES) == 1 and len(METAINFO_FILES) == 1
    assert METAINFO_FILES[0].name == f"{_app_id()}.metainfo.xml"
    assert _metainfo().findtext("id") == _app_id()


def test_the_desktop_entry_has_the_required_keys():
    entry = _desktop_entry()
    assert entry["Type"] == "Application"
    assert entry["Name"] == "LiftStudio"
    assert entry["Terminal"] == "false"
    assert shlex.split(entry["Exec"]) == ["liftstudio", "%f"]
    categories = entry["Categories"]
    assert categories.endswith(";")
    assert {"Graphics", "3DGraphics", "Science"} <= set(categories.split(";"))
    assert entry["Comment"]


def test_the_desktop_entry_names_the_metainfo_launchable_binary_and_an_icon():
    entry, component = _desktop_entry(), _metainfo()
    launchable = component.find("launchable")
    assert launchable is not None and launchable.get("type") == "desktop-id"
    assert launchable.text == DESKTOP_FILES[0].name
    assert shlex.split(entry["Exec"])[0] == component.findtext("provides/binary")
    assert entry["Icon"] == _app_id()
    assert all(_icon(size).is_file() for size in SIZES)


def test_the_metainfo_has_the_required_elements():
    component = _metainfo()
    assert component.tag == "component" and component.get("type") == "desktop-application"
    assert component.findtext("metadata_license") == "CC0-1.0"
    assert component.findtext("project_license") == "Apache-2.0"
    assert component.findtext("name") == "LiftStudio"
    summary = component.findtext("summary")
    assert summary and len(summary) < 80 and not summary.endswith(".")
    paragraphs = component.findall("description/p")
    assert paragraphs and all(p.text and p.text.strip() for p in paragraphs)
    assert component.find("content_rating") is not None
    project = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))["project"]
    versions = [release.get("version") for release in component.findall("releases/release")]
    assert project["version"] in versions
    assert project["license"]["text"] == component.findtext("project_license")


@pytest.mark.parametrize("size", SIZES)
def test_each_icon_has_its_size_and_is_the_svg_picture(size):
    with Image.open(_icon(size)) as image:
        assert image.format == "PNG"
        assert image.size == (size, size)
        rgba = np.asarray(image.convert("RGBA")).astype(int)
    assert rgba[0, 0, 3] < 32, "the rounded corner is (nearly) transparent"
    assert (rgba[size // 2 - 1 : size // 2 + 1, size // 2 - 1 : size // 2 + 1, 3] == 255).all()
    colours = {tuple(p) for p in rgba.reshape(-1, 4) if p[3] == 255}
    assert len(colours) >= 8, "an icon of a few flat colours is blank or broken"
    # above the chevron's apex (y < 34 of 256) in the middle is the background colour
    x, y = size // 2, int(size * 0.06) + 1
    assert np.abs(rgba[y, x, :3] - SVG_BACKGROUND).max() <= 3


def test_rendering_the_svg_again_gives_the_committed_png(tmp_path):
    out = tmp_path / "icon64.png"
    done = subprocess.run(
        [sys.executable, str(ROOT / "packaging" / "render_icons.py"), "--size", "64",
         "--out", str(out)],
        env={**os.environ, "QT_QPA_PLATFORM": "offscreen"},
        capture_output=True, text=True, timeout=120, check=False,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    with Image.open(out) as fresh, Image.open(_icon(64)) as committed:
        a = np.asarray(fresh.convert("RGBA")).astype(int)
        b = np.asarray(committed.convert("RGBA")).astype(int)
    assert a.shape == b.shape == (64, 64, 4)
    difference = np.abs(a - b)
    assert difference.mean() < 1.0 and difference.max() <= 16
