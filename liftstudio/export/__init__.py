"""Writing results, and reading labeled PLYs back.

- :mod:`.labeled_ply`: the labeled PLY (every input column, ``instance``, ``label``,
  ``confidence``) and its sidecar (:mod:`.sidecar`, :mod:`.instance_table`); reading
  it back, and :mod:`.label_table` turns it into a :class:`~liftstudio.labels.LabelModel`.
- :mod:`.instance_files`: one PLY per instance (and the background);
  :mod:`.selection_ply`: the selected Gaussians.
- :mod:`.view_masks`: per-view 2D labels for the training cameras (16-bit label maps,
  Gaussian Grouping ``object_mask``, SAGA boolean masks, COCO RLE JSON).
- :mod:`.export_source` (what to export: a project or a labeled PLY),
  :mod:`.row_choices` (hidden and unlabeled Gaussians), :mod:`.export_job` (one
  request, every format, all checks first), used by ``liftstudio export`` and the app.
- :mod:`.safe_paths`, :mod:`.staging`: names that stay in their folder, inputs never
  overwritten, free space checked, all-or-nothing folders.
"""

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
