"""2D inputs for lifting: label-map and mask importers (later SAM, DINOv2, fallbacks)."""

from liftstudio.sources.label_files import (
    LabelMapSet,
    MatchReport,
    ResizedMap,
    read_label_map,
    read_label_maps,
)

__all__ = ["LabelMapSet", "MatchReport", "ResizedMap", "read_label_map", "read_label_maps"]
