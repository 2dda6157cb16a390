"""Render the application icon's PNG sizes from its SVG (run once; the PNGs are committed).

``python packaging/render_icons.py`` writes ``resources/icons/hicolor/<N>x<N>/apps/
<id>.png`` for every size in :data:`SIZES` from ``resources/icons/liftstudio.svg`` with
Qt's SVG renderer (no display needed: it uses Qt's offscreen platform).
``--size N --out FILE`` renders one size to one file (the tests compare that with the
committed PNG).
"""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
SVG = REPO / "resources" / "icons" / "liftstudio.svg"
ICON_NAME = "io.github.liftstudio.LiftStudio"
SIZES = (16, 24, 32, 48, 64, 128, 256, 512)


def icon_path(size: int, root: Path = REPO / "resources" / "icons") -> Path:
    """Where the ``size`` px PNG of the icon lives in the hicolor theme layout.

    Parameters
    ----------
    size
        Width and height in pixels.
    root
        The folder holding ``hicolor/``.
    """
    return root / "hicolor" / f"{size}x{size}" / "apps" / f"{ICON_NAME}.png"


def render_png(svg: Path, size: int, out: Path) -> None:
    """Render ``svg`` to a ``size`` x ``size`` RGBA PNG at ``out`` (transparent outside).

    Parameters
    ----------
    svg
        The SVG file.
    size
        Width and height of the PNG in pixels.
    out
        The PNG to write (its folder is created).

    Raises
    ------
    SystemExit
        When Qt cannot read the SVG or write the PNG.
    """
    os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
    from PySide6.QtCore import Qt
    from PySide6.QtGui import QGuiApplication, QImage, QPainter
    from PySide6.QtSvg import QSvgRenderer

    _app = QGuiApplication.instance() or QGuiApplication([])
    renderer = QSvgRenderer(str(svg))
    if not renderer.isValid():
        raise SystemExit(f"error: {svg}: Qt cannot read it as an SVG image")
    image = QImage(size, size, QImage.Format.Format_ARGB32_Premultiplied)
    image.fill(Qt.GlobalColor.transparent)
    painter = QPainter(image)
    painter.setRenderHint(QPainter.RenderHint.Antialiasing)
    painter.setRenderHint(QPainter.RenderHint.SmoothPixmapTransform)
    renderer.render(painter)
    painter.end()
    out.parent.mkdir(parents=True, exist_ok=True)
    if not image.convertToFormat(QImage.Format.Format_ARGB32).save(str(out), "PNG"):
        raise SystemExit(f"error: {out}: Qt could not write the PNG (is the folder writable?)")


def main(argv: list[str] | None = None) -> int:
    """Render every size into resources/icons/hicolor, or one size with ``--size``/``--out``."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--svg", type=Path, default=SVG, help="the SVG icon")
    parser.add_argument("--size", type=int, help="render only this size (needs --out)")
    parser.add_argument("--out", type=Path, help="the PNG to write with --size")
    args = parser.parse_args(argv)
    if (args.size is None) != (args.out is None):
        parser.error("--size and --out go together")
    if args.size is not None:
        render_png(args.svg, args.size, args.out)
        return 0
    for size in SIZES:
        render_png(args.svg, size, icon_path(size))
        print(icon_path(size).relative_to(REPO))
    return 0


if __name__ == "__main__":
    sys.exit(main())
