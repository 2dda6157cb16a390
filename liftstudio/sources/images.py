"""Training images as float RGB arrays, decoded (or rendered) on demand.

A scene's training images are usually files next to its cameras. Where some are
missing (a PLY and ``cameras.json`` passed on without the photographs),
:func:`training_images` renders those views from the Gaussians at their training
cameras instead and says which ones, so mask and feature sources still have an image
of every view.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from PIL import Image

from liftstudio.errors import InputFileError

#: Decoded images :class:`ViewImages` keeps in memory at most (bytes).
IMAGE_CACHE_BYTES = 1 << 30


def load_rgb(path: Path, size: tuple[int, int] | None = None) -> np.ndarray:
    """An image as (H, W, 3) float32 in [0, 1], resized (bilinear) to ``size`` = (W, H).

    Raises
    ------
    InputFileError
        Naming the file when it cannot be decoded.
    """
    try:
        with Image.open(path) as image:
            rgb = image.convert("RGB")
            if size is not None and rgb.size != size:
                rgb = rgb.resize(size, Image.Resampling.BILINEAR)
            return np.asarray(rgb, dtype=np.float32) / 255.0
    except (OSError, SyntaxError, ValueError, Image.DecompressionBombError) as exc:
        raise InputFileError(path, f"cannot be read as an image ({exc})") from None


class ViewImages(Sequence):
    """Training images loaded on access as (H, W, 3) float32 in [0, 1], at given sizes.

    Decoded images are kept while they fit in :data:`IMAGE_CACHE_BYTES`, so a method
    that reads them once costs one image of memory at a time on large scenes.

    Parameters
    ----------
    paths
        One image file per view; None for a view ``render`` makes instead.
    sizes
        ``(width, height)`` per view to resize to.
    render
        ``render(index)`` gives the image of a view whose path is None, at its size.
    """

    def __init__(
        self,
        paths: Sequence[Path | None],
        sizes: Sequence[tuple[int, int]],
        render: Callable[[int], np.ndarray] | None = None,
    ) -> None:
        if len(paths) != len(sizes):
            raise ValueError(f"{len(paths)} image paths for {len(sizes)} sizes")
        if render is None and any(path is None for path in paths):
            raise ValueError("views without an image file need a render function")
        self._paths, self._sizes, self._render = list(paths), list(sizes), render
        self._cache: dict[int, np.ndarray] = {}
        self._cached_bytes = 0

    def __len__(self) -> int:
        return len(self._paths)

    def __getitem__(self, index: int | slice) -> np.ndarray | list[np.ndarray]:
        if isinstance(index, slice):
            return [self[i] for i in range(*index.indices(len(self)))]
        index = range(len(self))[index]
        if index in self._cache:
            return self._cache[index]
        path = self._paths[index]
        image = load_rgb(path, self._sizes[index]) if path is not None else self._render(index)
        if self._cached_bytes + image.nbytes <= IMAGE_CACHE_BYTES:
            self._cache[index] = image
            self._cached_bytes += image.nbytes
        return image


@dataclass(frozen=True)
class TrainingImages:
    """The images of some cameras: files where found, renders of the Gaussians elsewhere.

    Attributes
    ----------
    images
        (H, W, 3) float32 in [0, 1] per camera, at the camera's size, read lazily.
    rendered
        Names of the cameras whose image was rendered (no file was found).
    """

    images: ViewImages
    rendered: tuple[str, ...]

    def note(self) -> str | None:
        """A sentence saying which images were rendered, or None when all are files."""
        if not self.rendered:
            return None
        count, total = len(self.rendered), len(self.images)
        which = "all" if count == total else f"{count} of {total}"
        return (
            f"rendered {which} training images from the Gaussians at their cameras "
            "(no image file found for them): masks and features of those views come from "
            "the reconstruction, not the photographs"
        )


def training_images(
    cameras: Sequence,
    image_files: Mapping[str, Path],
    *,
    render: Callable[[object], np.ndarray] | None = None,
) -> TrainingImages:
    """The image of every camera: its file when ``image_files`` has one, else a render.

    Parameters
    ----------
    cameras
        The cameras (:class:`~liftstudio.scene.camera.Camera`), each read at its own
        size.
    image_files
        Camera name → image file (:attr:`liftstudio.scene.discovery.OpenedScene.images`).
    render
        ``render(camera)`` → (H, W, 3) float image of the Gaussians at that camera;
        needed when a camera has no file.

    Returns
    -------
    TrainingImages
        The lazily read images and the names of the rendered ones.

    Raises
    ------
    ValueError
        When a camera has no image file and no ``render`` is given.
    """
    paths = [image_files.get(camera.name) for camera in cameras]
    rendered = tuple(c.name for c, p in zip(cameras, paths, strict=True) if p is None)
    if rendered and render is None:
        raise ValueError(
            f"{len(rendered)} camera(s) have no image file (e.g. {rendered[0]!r}) and no "
            "renderer was given to make them"
        )

    def render_view(index: int) -> np.ndarray:
        image = np.asarray(render(cameras[index]), dtype=np.float32)
        return np.clip(image, 0.0, 1.0)

    sizes = [(camera.width, camera.height) for camera in cameras]
    return TrainingImages(ViewImages(paths, sizes, render_view), rendered)


def scene_training_images(opened, cameras: Sequence, backend: str = "auto") -> TrainingImages:
    """The images of ``cameras`` of an opened scene: files, or renders of its Gaussians.

    Parameters
    ----------
    opened
        A :class:`~liftstudio.scene.discovery.OpenedScene`.
    cameras
        The cameras to read (training cameras, possibly scaled).
    backend
        Render backend name for the views without an image file.

    Raises
    ------
    InputFileError
        When some camera has no image file and the scene has no Gaussians to render.
    """
    missing = [c.name for c in cameras if c.name not in opened.images]
    if not missing:
        return training_images(cameras, opened.images)
    if opened.gaussians is None:
        raise InputFileError(
            opened.path,
            f"has no image for {len(missing)} training camera(s) (e.g. {missing[0]!r}) and no "
            "trained Gaussians to render them from; add the images folder",
        )
    from liftstudio.render.registry import resolve_backend

    engine = resolve_backend(backend)
    gaussians = opened.gaussians
    return training_images(
        cameras, opened.images, render=lambda camera: engine.render(gaussians, camera).rgb
    )
