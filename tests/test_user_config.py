"""The user's settings file: model checkpoints named once, used by every command."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from liftstudio.errors import InputFileError
from liftstudio.user_config import config_path, load_user_config


def test_a_missing_file_means_no_settings(no_user_config):
    settings = load_user_config()
    assert settings.path == no_user_config
    assert settings.sam_checkpoint is None and settings.dino_checkpoint is None
    assert settings.sam_model_type == "auto"


def test_paths_are_resolved_from_the_file_folder_and_home(no_user_config, monkeypatch, tmp_path):
    monkeypatch.setenv("HOME", str(tmp_path))
    no_user_config.write_text(
        '[sam]\ncheckpoint = "models/sam.pth"\nmodel_type = "vit_b"\n'
        '[dino]\ncheckpoint = "~/dinov2-small"\n'
    )
    settings = load_user_config()
    assert settings.sam_checkpoint == no_user_config.parent / "models" / "sam.pth"
    assert settings.sam_model_type == "vit_b"
    assert settings.dino_checkpoint == tmp_path / "dinov2-small"


def test_where_the_file_is_looked_for(monkeypatch, tmp_path):
    monkeypatch.delenv("LIFTSTUDIO_CONFIG")
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path / "xdg"))
    assert config_path() == tmp_path / "xdg" / "liftstudio" / "config.toml"
    monkeypatch.setenv("XDG_CONFIG_HOME", "relative")  # ignored, as the XDG spec says
    monkeypatch.setenv("HOME", str(tmp_path))
    assert config_path() == Path(tmp_path) / ".config" / "liftstudio" / "config.toml"


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("[sam\ncheckpoint = 1", "not valid TOML"),
        ("[segment]\ncheckpoint = 'x'", "unknown setting [segment]"),
        ("[sam]\nchekpoint = 'x'", "unknown setting sam.chekpoint"),
        ("[sam]\ncheckpoint = 3", "must be a non-empty string"),
        ("[sam]\nmodel_type = 'vit_x'", "sam.model_type is 'vit_x'"),
    ],
)
def test_bad_settings_name_the_file(no_user_config, text, message):
    no_user_config.write_text(text)
    with pytest.raises(InputFileError, match=re.escape(message)) as raised:
        load_user_config()
    assert str(no_user_config) in str(raised.value)
