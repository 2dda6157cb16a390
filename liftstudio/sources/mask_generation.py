"""Automatic 2D masks for every training view: one call, any source, cached per view.

A *mask source* turns one RGB image into a :class:`~liftstudio.sources.mask_stacks.FlatMasks`
(a label map, and the hierarchy of overlapping masks where the source has one):

- ``felzenszwalb`` and ``slic`` (:mod:`liftstudio.sources.segmenters`) need no model
  weights, so the whole pipeline runs on any machine;
- ``sam`` (:mod:`liftstudio.sources.sam`) runs Segment Anything's automatic mask
  generator from a checkpoint the user points at, flattening its overlapping masks
  larger first.

:func:`generate_masks` runs a source over a sequence of images, one progress step per
view, checking for cancellation between views. Each finished view goes to the
:class:`~liftstudio.sources.source_cache.MaskCache` at once, keyed by the source's
identity and the image's pixels, so a cancelled run loses nothing and a repeated run
costs no segmentation.
"""

from __future__ import annotations

import dataclasses
import json
import logging
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

import numpy as np

from liftstudio.errors import OutputFileError
from liftstudio.jobs import CancelToken, ProgressCallback, check_cancelled, report
from liftstudio.sources.mask_stacks import FlatMasks, flatten_masks
from liftstudio.sources.segmenters import (
    FelzenszwalbConfig,
    SlicConfig,
    felzenszwalb_segments,
    slic_segments,
)
from liftstudio.sources.source_cache import MaskCache, file_identity, image_digest

logger = logging.getLogger(__name__)

#: Names of the automatic mask sources, for the CLI and the app.
MASK_SOURCE_NAMES = ("felzenszwalb", "slic", "sam")


class MaskSource(Protocol):
    """Turns one RGB image into masks."""

    name: str

    def identity(self) -> str:
        """Everything the masks depend on besides the image (settings, model file)."""
        ...

    def segment(self, image: np.ndarray) -> FlatMasks:
        """The masks of one (H, W, 3) float32 image in [0, 1]."""
        ...


def _flat(label_map: np.ndarray) -> FlatMasks:
    """A segmenter's label map as :class:`FlatMasks` (segments do not nest: no parents)."""
    count = int(label_map.max()) if label_map.size else 0
    return FlatMasks(label_map=label_map, parents=np.full(count, -1, dtype=np.int32))


def _settings_identity(name: str, settings: object) -> str:
    return json.dumps(
        {"source": name, "settings": dataclasses.asdict(settings)}, sort_keys=True, default=str
    )


@dataclass(frozen=True)
class FelzenszwalbSource:
    """Felzenszwalb graph segmentation (:func:`.segmenters.felzenszwalb_segments`)."""

    config: FelzenszwalbConfig = field(default_factory=FelzenszwalbConfig)
    name: str = "felzenszwalb"

    def identity(self) -> str:
        """The source's name and settings."""
        return _settings_identity(self.name, self.config)

    def segment(self, image: np.ndarray) -> FlatMasks:
        """Segments of ``image``, ids from 1."""
        return _flat(felzenszwalb_segments(image, self.config))


@dataclass(frozen=True)
class SlicSource:
    """SLIC superpixels (:func:`~liftstudio.sources.segmenters.slic_segments`)."""

    config: SlicConfig = field(default_factory=SlicConfig)
    name: str = "slic"

    def identity(self) -> str:
        """The source's name and settings."""
        return _settings_identity(self.name, self.config)

    def segment(self, image: np.ndarray) -> FlatMasks:
        """Superpixels of ``image``, ids from 1."""
        return _flat(slic_segments(image, self.config))


class SamSource:
    """Segment Anything's automatic masks from a checkpoint, flattened larger first.

    The model is loaded on the first :meth:`segment` call, so a run whose views are
    all cached never loads it.

    Parameters
    ----------
    checkpoint
        A SAM checkpoint file (``sam_vit_h_4b8939.pth`` and the like).
    config
        Automatic-generation settings (:class:`liftstudio.sources.sam.SamAutoConfig`);
        default SAGA's and OmniSeg3D's.
    model_type
        ``"auto"`` (read from the checkpoint) or ``vit_h``/``vit_l``/``vit_b``.
    device
        Torch device; default CUDA when available, else the CPU.
    """

    name = "sam"

    def __init__(
        self,
        checkpoint: str | Path,
        config: Any = None,
        *,
        model_type: str = "auto",
        device: Any = None,
    ) -> None:
        from liftstudio.sources.sam import SamAutoConfig

        self.checkpoint = Path(checkpoint)
        self.config = config if config is not None else SamAutoConfig()
        self.model_type = model_type
        self.device = device
        self._model: Any = None

    def identity(self) -> str:
        """Name, settings, model type and the checkpoint file's path, size and time."""
        from liftstudio.errors import InputFileError

        try:
            model = file_identity(self.checkpoint)
        except OSError as exc:
            raise InputFileError(self.checkpoint, f"cannot be read ({exc.strerror})") from None
        return json.dumps(
            {
                "source": self.name,
                "settings": dataclasses.asdict(self.config),
                "model_type": self.model_type,
                "checkpoint": model,
            },
            sort_keys=True,
        )

    def load(self) -> None:
        """Load the model now (the first :meth:`segment` does it otherwise)."""
        if self._model is None:
            from liftstudio.sources.sam import load_sam

            self._model = load_sam(self.checkpoint, model_type=self.model_type, device=self.device)

    def segment(self, image: np.ndarray) -> FlatMasks:
        """SAM's automatic masks of ``image``, flattened larger first, hierarchy kept."""
        from liftstudio.sources.sam import automatic_masks

        self.load()
        return flatten_masks(automatic_masks(self._model, image, self.config))


@dataclass(frozen=True)
class GeneratedMasks:
    """What :func:`generate_masks` made.

    Attributes
    ----------
    masks
        One :class:`FlatMasks` per image, in order.
    cached
        How many views came from the cache.
    """

    masks: list[FlatMasks]
    cached: int

    @property
    def label_maps(self) -> list[np.ndarray]:
        """The (H, W) int32 label map of every view."""
        return [m.label_map for m in self.masks]


def generate_masks(
    source: MaskSource,
    images: Sequence[np.ndarray],
    *,
    cache: MaskCache | None = None,
    scene_hash: str = "",
    names: Sequence[str] | None = None,
    progress: ProgressCallback | None = None,
    cancel: CancelToken | None = None,
) -> GeneratedMasks:
    """Run ``source`` on every image; each view is cached as soon as it is done.

    Parameters
    ----------
    source
        The mask source.
    images
        (H, W, 3) float32 RGB images in [0, 1] (a lazy sequence is read one at a time).
    cache
        Where views are looked up and stored; None disables caching.
    scene_hash
        The scene's content hash, kept with each entry.
    names
        One name per image for the progress messages (default: the view's index).
    progress, cancel
        One progress step per view; cancelled between views (finished views stay
        cached).

    Returns
    -------
    GeneratedMasks
        The masks of every view and how many were cached.

    Raises
    ------
    ValueError
        For an image that is not (H, W, 3), or a mask whose size is not its image's.
    """
    total = len(images)
    if names is not None and len(names) != total:
        raise ValueError(f"{len(names)} names for {total} images")
    identity = source.identity()
    results: list[FlatMasks] = []
    cached = 0
    for index in range(total):
        check_cancelled(cancel)
        image = images[index]
        name = names[index] if names is not None else f"view {index}"
        key = MaskCache.key(identity, image_digest(image)) if cache is not None else None
        masks = cache.get(key) if cache is not None else None
        if masks is not None:
            cached += 1
            report(progress, index + 1, total, f"{name}: cached")
        else:
            masks = source.segment(image)
            if masks.label_map.shape != np.shape(image)[:2]:
                raise ValueError(
                    f"{source.name} gave {name} masks of shape {masks.label_map.shape} for "
                    f"an image of {np.shape(image)[:2]}"
                )
            if cache is not None:
                try:
                    cache.put(key, masks, scene_hash=scene_hash)
                except OutputFileError as exc:  # an unwritable cache costs speed, not the run
                    logger.warning("masks of %s not cached: %s", name, exc)
            count = len(np.unique(masks.label_map[masks.label_map > 0]))
            report(progress, index + 1, total, f"{name}: {count} masks")
        results.append(masks)
    return GeneratedMasks(masks=results, cached=cached)
