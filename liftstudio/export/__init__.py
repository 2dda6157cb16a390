"""Writing results: labeled PLY with its sidecar (later per-instance PLYs, 2D label maps)."""

from liftstudio.export.labeled_ply import (
    InstanceInfo,
    LabeledPly,
    check_output_path,
    instance_colour,
    instance_table,
    read_labeled_ply,
    sidecar_path,
    write_labeled_ply,
)

__all__ = [
    "InstanceInfo",
    "LabeledPly",
    "check_output_path",
    "instance_colour",
    "instance_table",
    "read_labeled_ply",
    "sidecar_path",
    "write_labeled_ply",
]
