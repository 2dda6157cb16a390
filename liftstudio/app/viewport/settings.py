"""What the viewport shows and how: one small value the Scene panel edits."""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum


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
