"""2D inputs for lifting: masks and features of the training views.

- importers of masks made elsewhere (:mod:`.mask_import`, :mod:`.mask_formats`,
  :mod:`.label_files`), matched to cameras by image name;
- automatic mask sources: Felzenszwalb and SLIC (:mod:`.segmenters`, no weights) and
  SAM (:mod:`.sam`, :mod:`.sam_checkpoints`), run over a scene by
  :mod:`.mask_generation` and :mod:`.scene_masks`, written by :mod:`.mask_writing`;
- DINOv2 features (:mod:`.dino`, :mod:`.dino_checkpoints`, :mod:`.scene_features`);
- overlapping masks and their flattening (:mod:`.mask_stacks`), training images read
  or rendered (:mod:`.images`), and the content-keyed caches (:mod:`.source_cache`).

Model code (torch, segment_anything, transformers) is imported only when used.
"""

from liftstudio.sources.label_files import (
    LabelMapSet,
    MatchReport,
    ResizedMap,
    read_label_map,
    read_label_maps,
)
from liftstudio.sources.mask_import import (
    ImportedMasks,
    detect_mask_format,
    import_masks,
    mask_formats,
)
from liftstudio.sources.mask_stacks import FlatMasks, MaskStack, flatten_masks

__all__ = [
    "FlatMasks",
    "ImportedMasks",
    "LabelMapSet",
    "MaskStack",
    "MatchReport",
    "ResizedMap",
    "detect_mask_format",
    "flatten_masks",
    "import_masks",
    "mask_formats",
    "read_label_map",
    "read_label_maps",
]
