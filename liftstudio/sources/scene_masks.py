"""Masks for every training view of a scene, written where ``liftstudio lift`` reads them.

The one function behind ``liftstudio masks`` (and the app's "Generate masks" job):
open the scene, get an image of every training camera (rendered from the Gaussians
where the file is missing), run an automatic source or import a folder in another
tool's layout, and write one label map per view plus a manifest
(:mod:`liftstudio.sources.mask_writing`).
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from liftstudio import __version__
from liftstudio.errors import InputFileError, LiftStudioError
from liftstudio.jobs import CancelToken, ProgressCallback
from liftstudio.scene.camera import Camera
from liftstudio.scene.discovery import OpenedScene, open_scene
from liftstudio.sources.images import scene_training_images
from liftstudio.sources.mask_generation import (
    MASK_SOURCE_NAMES,
    FelzenszwalbSource,
    MaskSource,
    SamSource,
    SlicSource,
    generate_masks,
)
from liftstudio.sources.mask_writing import check_output_folder, write_label_maps
from liftstudio.sources.source_cache import MaskCache

#: Prefix of a source that imports a folder of masks made elsewhere.
IMPORT_PREFIX = "import:"


@dataclass(frozen=True)
class SceneMasks:
    """What :func:`scene_masks` wrote.

    Attributes
    ----------
    folder
        The output folder.
    files
        The label-map files, one per view written.
    source
        The source (``felzenszwalb``, ``slic``, ``sam`` or ``import:<format>``).
    views
        Views written.
    rendered
        Names of the views whose image was rendered from the Gaussians.
    cached
        Views whose masks came from the cache.
    masks_per_view
        Mean number of masks (distinct non-zero ids) per view.
    notes
        Lines to show the user (rendered images, import report).
    seconds
        Wall time.
    """

    folder: Path
    files: list[Path]
    source: str
    views: int
    rendered: tuple[str, ...]
    cached: int
    masks_per_view: float
    notes: list[str]
    seconds: float


def automatic_source(
    name: str, *, checkpoint: str | Path | None = None, model_type: str = "auto"
) -> MaskSource:
    """The automatic mask source called ``name`` with its default settings.

    Raises
    ------
    LiftStudioError
        For an unknown name, or ``sam`` without a checkpoint.
    """
    if name == "felzenszwalb":
        return FelzenszwalbSource()
    if name == "slic":
        return SlicSource()
    if name == "sam":
        if checkpoint is None:
            raise LiftStudioError(
                "the sam source needs a SAM checkpoint file (e.g. sam_vit_h_4b8939.pth): "
                "pass --checkpoint FILE"
            )
        return SamSource(checkpoint, model_type=model_type)
    raise LiftStudioError(
        f"unknown mask source {name!r}; choose {', '.join(MASK_SOURCE_NAMES)} or {IMPORT_PREFIX}DIR"
    )


def scene_masks(
    scene: str | Path | OpenedScene,
    source: str,
    out: str | Path,
    *,
    checkpoint: str | Path | None = None,
    model_type: str = "auto",
    import_format: str = "auto",
    backend: str = "auto",
    max_side: int | None = None,
    overwrite: bool = False,
    cache: MaskCache | None = None,
    progress: ProgressCallback | None = None,
    cancel: CancelToken | None = None,
    say: Callable[[str], None] | None = None,
) -> SceneMasks:
    """Make (or import) masks for every training view of ``scene`` and write them to ``out``.

    Parameters
    ----------
    scene
        A scene folder (or an already opened scene) with training cameras.
    source
        ``felzenszwalb``, ``slic``, ``sam`` or ``import:DIR``.
    out
        Output folder for the label maps.
    checkpoint, model_type
        The SAM checkpoint and its type (``sam`` only).
    import_format
        Layout of an imported folder (``auto`` detects it).
    backend
        Render backend for views without an image file.
    max_side
        Segment images scaled so their long side is at most this (None: full size);
        the maps keep the camera's aspect ratio, so lifting reads them as they are.
    overwrite
        Whether ``out`` may already hold files (an earlier run's are replaced).
    cache
        Cache of generated masks; None disables it.
    progress, cancel
        One progress step per view; cancelled between views. Nothing is written to
        ``out`` before every view is done.
    say
        Receives notes as they come (which images were rendered).

    Returns
    -------
    SceneMasks
        What was written.

    Raises
    ------
    InputFileError
        For a scene without training cameras, a scene without images and without
        Gaussians to render them, or a bad import folder or checkpoint.
    OutputFileError
        When ``out`` cannot be written (see :func:`.mask_writing.write_label_maps`).
    LiftStudioError
        For an unknown source, ``sam`` without a checkpoint, or ``max_side`` below 16.
    """
    start = time.perf_counter()
    say = say or (lambda line: None)
    opened = scene if isinstance(scene, OpenedScene) else open_scene(scene)
    if opened.cameras is None or not opened.cameras.train:
        raise InputFileError(
            opened.path,
            "has no training cameras: masks are made per training view; open the scene "
            "folder (3DGS output with cameras.json, COLMAP or nerfstudio)",
        )
    if max_side is not None and max_side < 16:
        raise LiftStudioError(f"max_side must be at least 16 pixels, got {max_side}")
    protected = sorted({p.parent for p in opened.images.values()})
    check_output_folder(out, overwrite=overwrite, protected_folders=protected)
    cameras = [_limited(camera, max_side) for camera in opened.cameras.train]
    names = [camera.name for camera in cameras]
    notes: list[str] = []
    rendered: tuple[str, ...] = ()
    cached = 0
    if source.startswith(IMPORT_PREFIX):
        from liftstudio.sources.mask_import import import_masks

        folder = source[len(IMPORT_PREFIX) :]
        imported = import_masks(
            folder, opened.cameras.train, format=import_format, progress=progress, cancel=cancel
        )
        notes += imported.report.lines()
        indices = imported.matched_indices
        names = [imported.cameras[i].name for i in indices]
        maps = [imported.maps[i] for i in indices]
        label = f"{IMPORT_PREFIX}{imported.format}"
        settings: dict = {"folder": str(Path(folder).resolve()), "format": imported.format}
    else:
        mask_source = automatic_source(source, checkpoint=checkpoint, model_type=model_type)
        images = scene_training_images(opened, cameras, backend)
        rendered = images.rendered
        if images.note():
            notes.append(images.note())
            say(images.note())
        generated = generate_masks(
            mask_source,
            images.images,
            cache=cache,
            scene_hash=opened.gaussians.content_hash() if opened.gaussians is not None else "",
            names=names,
            progress=progress,
            cancel=cancel,
        )
        cached = generated.cached
        maps = generated.label_maps
        label = source
        settings = json.loads(mask_source.identity())
    files = write_label_maps(
        out,
        names,
        maps,
        overwrite=overwrite,
        protected_folders=protected,
        manifest={
            "made_by": f"liftstudio {__version__}",
            "command": "liftstudio masks",
            "scene": str(opened.path.resolve()),
            "source": label,
            "settings": settings,
            "rendered_views": list(rendered),
            "size": "image size" if max_side is None else f"long side at most {max_side}",
        },
    )
    counts = [len(np.unique(m[m > 0])) for m in maps]
    return SceneMasks(
        folder=Path(out),
        files=files,
        source=label,
        views=len(files),
        rendered=rendered,
        cached=cached,
        masks_per_view=float(np.mean(counts)) if counts else 0.0,
        notes=notes,
        seconds=time.perf_counter() - start,
    )


def _limited(camera: Camera, max_side: int | None) -> Camera:
    """``camera`` scaled down so its long side is at most ``max_side`` (aspect kept)."""
    if max_side is None or max(camera.width, camera.height) <= max_side:
        return camera
    factor = max_side / max(camera.width, camera.height)
    return camera.scaled_to(
        max(1, round(camera.width * factor)), max(1, round(camera.height * factor))
    )
