"""The user's settings file: where model checkpoints live, so no command has to repeat them.

``$LIFTSTUDIO_CONFIG`` when set, else ``$XDG_CONFIG_HOME/liftstudio/config.toml`` (an
absolute ``XDG_CONFIG_HOME``), else ``~/.config/liftstudio/config.toml``. A missing
file means no settings. Example::

    [sam]
    checkpoint = "~/models/sam_vit_h_4b8939.pth"
    model_type = "auto"          # or vit_h, vit_l, vit_b

    [dino]
    checkpoint = "~/models/dinov2-small"   # a Hugging Face folder or a torch-hub .pth

Relative paths are taken from the folder of the file; ``~`` is expanded. A command-line
flag always wins over the file.
"""

from __future__ import annotations

import os
import tomllib
from dataclasses import dataclass
from pathlib import Path

from liftstudio.errors import InputFileError

#: Settings each section may hold, and what they mean (for error messages).
_KNOWN = {
    "sam": {"checkpoint": "SAM checkpoint file", "model_type": "auto, vit_h, vit_l or vit_b"},
    "dino": {"checkpoint": "DINOv2 model folder or torch-hub checkpoint"},
}


def config_path() -> Path:
    """Where the settings file is looked for (see the module docstring)."""
    override = os.environ.get("LIFTSTUDIO_CONFIG")
    if override:
        return Path(override).expanduser()
    xdg = os.environ.get("XDG_CONFIG_HOME")
    if xdg and Path(xdg).expanduser().is_absolute():
        return Path(xdg).expanduser() / "liftstudio" / "config.toml"
    return Path.home() / ".config" / "liftstudio" / "config.toml"


@dataclass(frozen=True)
class UserConfig:
    """The settings read from the file.

    Attributes
    ----------
    path
        The file they were read from (whether or not it exists).
    sam_checkpoint, dino_checkpoint
        Model files, absolute, or None when not set.
    sam_model_type
        ``"auto"`` unless set.
    """

    path: Path
    sam_checkpoint: Path | None = None
    sam_model_type: str = "auto"
    dino_checkpoint: Path | None = None


def load_user_config(path: str | Path | None = None) -> UserConfig:
    """Read the settings file (:func:`config_path` by default); a missing file is empty.

    Raises
    ------
    InputFileError
        Naming the file when it is not valid TOML, holds an unknown section or key, or
        a value of the wrong type.
    """
    path = Path(path) if path is not None else config_path()
    if not path.is_file():
        return UserConfig(path=path)
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError) as exc:
        raise InputFileError(path, f"cannot be read ({exc})") from None
    except tomllib.TOMLDecodeError as exc:
        raise InputFileError(path, f"is not valid TOML ({exc}); fix or remove it") from None
    for section, values in data.items():
        if section not in _KNOWN or not isinstance(values, dict):
            raise InputFileError(
                path, f"unknown setting [{section}]; known sections: {', '.join(_KNOWN)}"
            )
        for key, value in values.items():
            if key not in _KNOWN[section]:
                known = ", ".join(_KNOWN[section])
                raise InputFileError(path, f"unknown setting {section}.{key}; known: {known}")
            if not isinstance(value, str) or not value:
                raise InputFileError(
                    path, f"{section}.{key} must be a non-empty string ({_KNOWN[section][key]})"
                )
    sam, dino = data.get("sam", {}), data.get("dino", {})
    model_type = sam.get("model_type", "auto")
    if model_type not in ("auto", "vit_h", "vit_l", "vit_b"):
        allowed = _KNOWN["sam"]["model_type"]
        raise InputFileError(path, f"sam.model_type is {model_type!r}; use {allowed}")
    return UserConfig(
        path=path,
        sam_checkpoint=_resolve(path, sam.get("checkpoint")),
        sam_model_type=model_type,
        dino_checkpoint=_resolve(path, dino.get("checkpoint")),
    )


def _resolve(config_file: Path, value: str | None) -> Path | None:
    if value is None:
        return None
    candidate = Path(value).expanduser()
    return candidate if candidate.is_absolute() else (config_file.parent / candidate).resolve()
