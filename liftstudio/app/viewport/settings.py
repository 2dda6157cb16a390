"""What the viewport shows and how: one small value the Scene panel edits."""

from __future__ import annotations

import logging
from dataclasses import asdict, dataclass, fields, replace
from enum import StrEnum
from typing import Any

log = logging.getLogger(__name__)


class ViewMode(StrEnum):
    """What colour each splat gets."""

    COLOUR = "colour"
    """The scene's own (SH) colour."""
    LABELS = "labels"
    """The colour blended with its instance colour (``label_opacity``)."""
    DEPTH = "depth"
    """Expected depth, near bright, far dark."""


@dataclass(frozen=True)
class ViewportSettings:
    """Render settings of the viewport.

    Attributes
    ----------
    mode
        See :class:`ViewMode`.
    label_opacity
        How strongly instance colours replace the scene colour in ``LABELS`` mode (0-1).
    highlight_selection
        Tint selected Gaussians.
    background
        Background colour, RGB in 0-1.
    sh_degree
        Highest SH degree used for colour (0-3; capped at the scene's own degree).
    point_mode
        Draw one fixed-size point per Gaussian instead of splats (very large scenes).
    point_size
        Point size in pixels in point mode.
    """

    mode: ViewMode = ViewMode.LABELS
    label_opacity: float = 0.6
    highlight_selection: bool = True
    background: tuple[float, float, float] = (0.0, 0.0, 0.0)
    sh_degree: int = 3
    point_mode: bool = False
    point_size: float = 2.0

    def __post_init__(self) -> None:
        if not 0.0 <= self.label_opacity <= 1.0:
            raise ValueError(f"label_opacity must be in [0, 1], got {self.label_opacity}")
        if not 0 <= self.sh_degree <= 3:
            raise ValueError(f"sh_degree must be 0-3, got {self.sh_degree}")
        if len(self.background) != 3 or not all(0.0 <= c <= 1.0 for c in self.background):
            raise ValueError(f"background must be three values in [0, 1], got {self.background}")
        if self.point_size <= 0:
            raise ValueError(f"point_size must be positive, got {self.point_size}")

    def to_json(self) -> dict[str, Any]:
        """The settings as a JSON-ready dict (what a project file keeps)."""
        values = asdict(self)
        values["mode"] = self.mode.value
        values["background"] = list(self.background)
        return values

    @classmethod
    def from_json(cls, values: object) -> ViewportSettings:
        """Settings from :meth:`to_json`'s dict; unknown keys and bad values are ignored.

        A project written by another version may hold keys or values this one does not
        know: the defaults stand in for those (logged), so a project always opens.
        """
        if not isinstance(values, dict):
            return cls()
        known = {f.name for f in fields(cls)}
        settings = cls()
        for name, value in values.items():
            if name not in known:
                continue
            try:
                if name == "mode":
                    value = ViewMode(value)
                elif name == "background":
                    value = tuple(float(c) for c in value)
                settings = _replaced(settings, name, value)
            except (TypeError, ValueError) as exc:
                log.warning("ignoring saved viewport setting %s=%r: %s", name, value, exc)
        return settings


def _replaced(settings: ViewportSettings, name: str, value: object) -> ViewportSettings:
    default = getattr(settings, name)
    if isinstance(default, bool) and not isinstance(value, bool):
        raise TypeError(f"expected true or false, got {value!r}")
    if isinstance(default, (int, float)) and not isinstance(default, bool):
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            raise TypeError(f"expected a number, got {value!r}")
        value = type(default)(value)
    return replace(settings, **{name: value})
