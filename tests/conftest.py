"""Shared fixtures: where the real scenes live, and small generated scenes."""

from __future__ import annotations

from pathlib import Path

import pytest

from liftstudio.evaluate.real_data import default_real_data_dir


@pytest.fixture(scope="session")
def real_data() -> Path:
    """Folder of real trained scenes (``../shared/data/real``).

    Skips with a reason in a user's clone, where that folder does not exist; CI
    always has it. ``LIFTSTUDIO_REAL_DATA`` points elsewhere.
    """
    folder = default_real_data_dir()
    if folder is None:
        pytest.skip(
            "real scenes not found: ../shared/data/real is absent (a user's clone); "
            "set LIFTSTUDIO_REAL_DATA to a folder holding them"
        )
    return folder


@pytest.fixture(autouse=True)
def no_user_config(tmp_path_factory, monkeypatch):
    """Tests never read the developer's own ``~/.config/liftstudio/config.toml``."""
    folder = tmp_path_factory.mktemp("config")
    monkeypatch.setenv("LIFTSTUDIO_CONFIG", str(folder / "config.toml"))
    return folder / "config.toml"
