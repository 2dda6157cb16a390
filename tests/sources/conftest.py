"""Fixtures of the 2D-source tests: making ``segment_anything`` importable for SAM tests.

``segment_anything`` imports ``torchvision`` at package import, and there is no CPU
build of torchvision on the development/CI machines. :func:`sam_imports` puts the
test-only stand-in (``tests/support/torchvision_standin``) on ``sys.path`` **only when
``import torchvision`` fails**, for the tests that request it, and takes it away again
afterwards, together with every module imported through it.
"""

from __future__ import annotations

import importlib
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

STANDIN_PATH = Path(__file__).resolve().parents[1] / "support" / "torchvision_standin"


def _drop_modules(*roots: str) -> None:
    for name in list(sys.modules):
        if name.split(".")[0] in roots:
            del sys.modules[name]


@pytest.fixture(scope="module")
def sam_imports() -> Iterator[str]:
    """``"real"`` or ``"stand-in"``: which torchvision serves ``segment_anything`` here.

    Skips when ``segment_anything`` itself is not installed.
    """
    try:
        import torchvision
    except ImportError:
        pass
    else:
        pytest.importorskip("segment_anything")
        yield "real"
        return
    entry = str(STANDIN_PATH)
    _drop_modules("torchvision", "segment_anything")
    sys.path.insert(0, entry)
    importlib.invalidate_caches()
    try:
        import torchvision

        assert Path(torchvision.__file__).resolve().is_relative_to(STANDIN_PATH)
        pytest.importorskip("segment_anything")
        yield "stand-in"
    finally:
        sys.path.remove(entry)
        _drop_modules("torchvision", "segment_anything")
        importlib.invalidate_caches()
