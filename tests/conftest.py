"""Shared fixtures: where the real scenes live, and small generated scenes."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

_REPO = Path(__file__).resolve().parents[1]


def _real_data_dir() -> Path | None:
    override = os.environ.get("LIFTSTUDIO_REAL_DATA")
    candidate = Path(override) if override else _REPO.parent / "shared" / "data" / "real"
    return candidate if candidate.is_dir() else None


@pytest.fixture(scope="session")
def real_data() -> Path:
    """Folder of real trained scenes (``../shared/data/real``).

    Skips with a reason in a user's clone, where that folder does not exist; CI
    always has it. ``LIFTSTUDIO_REAL_DATA`` points elsewhere.
    """
    folder = _real_data_dir()
    if folder is None:
        pytest.skip(
            "real scenes not found: ../shared/data/real is absent (a user's clone); "
            "set LIFTSTUDIO_REAL_DATA to a folder holding them"
        )
    return folder
