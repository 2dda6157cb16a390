"""DINOv2 features of a scene's training views, lifted onto its Gaussians.

The one function behind ``liftstudio features`` (and the app's feature job):
open the scene, get an image of every training camera (rendered from the Gaussians
where the file is missing), compute LUDVIG-style DINOv2 feature maps
(:func:`liftstudio.sources.dino.dino_feature_maps`: sliding windows, PCA to 40
eigenvalue-weighted dimensions, bilinear upsampling), cache them (float16, keyed by
the model, the settings and every image's pixels), uplift them onto the Gaussians
(:func:`liftstudio.lift.features.features_from_maps`) and save an ``(N, D)`` float32
``.npy``: the per-Gaussian feature file that ``liftstudio select --features`` and
``liftstudio lift --method coseg --features`` read.
"""

from __future__ import annotations

import dataclasses
import json
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from liftstudio.errors import InputFileError, OutputFileError
from liftstudio.fileio import atomic_output
from liftstudio.jobs import CancelToken, ProgressCallback, report
from liftstudio.scene.discovery import (
    OpenedScene,
    open_scene,
    require_cameras,
    require_gaussians,
)
from liftstudio.sources.source_cache import FeatureCache, file_identity, image_digest


@dataclass(frozen=True)
class SceneFeatures:
    """What :func:`scene_features` wrote.

    Attributes
    ----------
    path
        The ``.npy`` file of per-Gaussian features.
    shape
        ``(N, D)`` of the saved array.
    architecture
        The DINOv2 backbone's name (None when the maps came from the cache and the
        model was not loaded).
    views
        Training views used.
    rendered
        Names of the views whose image was rendered from the Gaussians.
    cached
        Whether the feature maps came from the cache.
    notes
        Lines worth showing (rendered images, variance kept, Gaussians seen).
    seconds
        Wall time.
    """

    path: Path
    shape: tuple[int, int]
    architecture: str | None
    views: int
    rendered: tuple[str, ...]
    cached: bool
    notes: list[str]
    seconds: float


def model_identity(checkpoint: Path) -> str:
    """Identity of a checkpoint file or model folder (paths, sizes and times of its files)."""
    checkpoint = Path(checkpoint)
    if checkpoint.is_dir():
        files = sorted(p for p in checkpoint.iterdir() if p.is_file())
        return ";".join(file_identity(p) for p in files)
    return file_identity(checkpoint)


def scene_features(
    scene: str | Path | OpenedScene,
    out: str | Path,
    *,
    checkpoint: str | Path,
    config: object | None = None,
    backend: str = "auto",
    overwrite: bool = False,
    cache: FeatureCache | None = None,
    progress: ProgressCallback | None = None,
    cancel: CancelToken | None = None,
) -> SceneFeatures:
    """DINOv2 features of every training view, uplifted onto the Gaussians, saved as ``.npy``.

    Parameters
    ----------
    scene
        A scene folder (or an opened scene) with trained Gaussians and training cameras.
    out
        The ``.npy`` file to write.
    checkpoint
        A DINOv2 model folder or checkpoint file (:func:`liftstudio.sources.dino.load_dino`).
    config
        :class:`liftstudio.sources.dino.DinoConfig`; None uses LUDVIG's settings.
    backend
        Render backend for the uplift and for views without an image file.
    overwrite
        Whether ``out`` may be replaced.
    cache
        Cache of feature maps; None disables it.
    progress, cancel
        Progress of the feature maps, then of the uplift; cancelled between views.

    Returns
    -------
    SceneFeatures
        What was written.

    Raises
    ------
    InputFileError
        For a scene without Gaussians or training cameras, or a bad checkpoint.
    OutputFileError
        When ``out`` is not a ``.npy`` path, exists without ``overwrite``, or its
        folder is missing.
    """
    from liftstudio.lift.features import features_from_maps
    from liftstudio.render.registry import resolve_backend
    from liftstudio.sources.dino import DinoConfig, dino_feature_maps, load_dino
    from liftstudio.sources.images import scene_training_images

    start = time.perf_counter()
    config = config or DinoConfig()
    out = _checked_output(Path(out), overwrite)
    opened = scene if isinstance(scene, OpenedScene) else open_scene(scene)
    require_gaussians(opened, "to put features on")
    require_cameras(opened, "features are computed per training view")
    checkpoint = Path(checkpoint)
    if not checkpoint.exists():
        raise InputFileError(checkpoint, "does not exist; pass a DINOv2 checkpoint or model folder")
    engine = resolve_backend(backend)
    gaussians = opened.gaussians
    cameras = list(opened.cameras.train)
    images = scene_training_images(opened, cameras, backend)
    notes = [images.note()] if images.note() else []
    identity = json.dumps(
        {
            "source": "dinov2",
            "model": model_identity(checkpoint),
            "settings": dataclasses.asdict(config),
        },
        sort_keys=True,
    )
    key = None
    maps = None
    if cache is not None:
        digests = [image_digest(images.images[i]) for i in range(len(cameras))]
        key = FeatureCache.key(identity, digests)
        maps = cache.get(key)
    cached = maps is not None
    architecture = None
    if maps is None:
        model = load_dino(checkpoint)
        architecture = model.architecture
        result = dino_feature_maps(model, images.images, config, progress=progress, cancel=cancel)
        maps = result.maps
        notes += list(result.notes)
        if cache is not None:
            try:
                cache.put(key, maps, scene_hash=gaussians.content_hash())
            except OutputFileError as exc:
                notes.append(f"feature maps not cached: {exc}")
    else:
        report(progress, len(cameras), len(cameras), "feature maps from the cache")
    views = [cam.scaled_to(m.shape[1], m.shape[0]) for cam, m in zip(cameras, maps, strict=True)]
    features = features_from_maps(
        engine,
        gaussians,
        views,
        (np.asarray(m, dtype=np.float32) for m in maps),
        standardise=False,
        name="dinov2",
        progress=progress,
        cancel=cancel,
    )
    notes += list(features.notes)
    with atomic_output(out, overwrite=overwrite) as tmp, open(tmp, "wb") as handle:
        np.save(handle, features.values.astype(np.float32))
    return SceneFeatures(
        path=out,
        shape=features.values.shape,
        architecture=architecture,
        views=len(cameras),
        rendered=images.rendered,
        cached=cached,
        notes=notes,
        seconds=time.perf_counter() - start,
    )


def _checked_output(out: Path, overwrite: bool) -> Path:
    if out.suffix.lower() != ".npy":
        raise OutputFileError(out, "per-Gaussian features are written as .npy; name it FILE.npy")
    if not out.parent.is_dir():
        raise OutputFileError(out, f"folder {out.parent} does not exist")
    if out.exists() and not overwrite:
        raise OutputFileError(out, "already exists; choose another name or allow overwriting")
    return out
