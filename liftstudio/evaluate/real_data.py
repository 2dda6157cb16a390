"""Where the real trained scenes live (``../shared/data/real`` beside a source checkout)."""

from __future__ import annotations

import os
from pathlib import Path

REAL_DATA_ENV = "LIFTSTUDIO_REAL_DATA"


def default_real_data_dir() -> Path | None:
    """``$LIFTSTUDIO_REAL_DATA``, else ``../shared/data/real`` beside the checkout, or None."""
    override = os.environ.get(REAL_DATA_ENV)
    candidate = (
        Path(override) if override else Path(__file__).resolve().parents[3] / "shared/data/real"
    )
    return candidate if candidate.is_dir() else None
