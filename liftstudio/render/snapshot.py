"""Rendering a view to an 8-bit image file, for ``liftstudio render`` and quick checks."""

from __future__ import annotations

from pathlib import Path
from typing import Literal

import numpy as np

from liftstudio.errors import OutputFileError
from liftstudio.fileio import atomic_output
from liftstudio.render.backend import RenderBackend
from liftstudio.render.results import RenderResult
from liftstudio.scene.camera import Camera
from liftstudio.scene.gaussians import GaussianScene

SnapshotMode = Literal["rgb", "depth", "alpha"]
SNAPSHOT_MODES: tuple[str, ...] = ("rgb", "depth", "alpha")


def find_camera(cameras: list[Camera], key: str) -> Camera:
    """The camera named ``key``, or at index ``key`` (0-based) when it is an integer.

    Raises
    ------
    ValueError
        Listing a few valid names when nothing matches.
    """
    by_name = {camera.name: camera for camera in cameras}
    if key in by_name:
        return by_name[key]
    stems = {Path(camera.name).stem: camera for camera in cameras}
    if key in stems:
        return stems[key]
    try:
        index = int(key)
    except ValueError:
        index = None
    if index is not None:
        if -len(cameras) <= index < len(cameras):
            return cameras[index]
        raise ValueError(f"camera index {index} is out of range: the scene has {len(cameras)}")
    examples = ", ".join(repr(camera.name) for camera in cameras[:3])
    raise ValueError(
        f"no camera named {key!r}; give a name (e.g. {examples}) or an index 0..{len(cameras) - 1}"
    )


def snapshot_pixels(result: RenderResult, mode: SnapshotMode) -> np.ndarray:
    """8-bit pixels of a render: RGB (H, W, 3), or grey (H, W) for depth and alpha.

    Depth is shown near = bright, far = dark, scaled between the 1st and 99th
    percentile of the rendered depths; empty pixels are black.
    """
    if mode == "rgb":
        if result.rgb is None:
            raise ValueError("the render has no colour")
        return (np.clip(result.rgb, 0.0, 1.0) * 255 + 0.5).astype(np.uint8)
    if mode == "alpha":
        return (np.clip(result.alpha, 0.0, 1.0) * 255 + 0.5).astype(np.uint8)
    if mode == "depth":
        covered = result.alpha > 0.5
        grey = np.zeros(result.depth.shape, dtype=np.uint8)
        if covered.any():
            near, far = np.percentile(result.depth[covered], [1, 99])
            span = max(float(far - near), 1e-12)
            scaled = 1.0 - np.clip((result.depth - near) / span, 0.0, 1.0)
            grey[covered] = (scaled[covered] * 230 + 25.5).astype(np.uint8)
        return grey
    raise ValueError(f"unknown mode {mode!r}; choose one of {', '.join(SNAPSHOT_MODES)}")


def render_snapshot(
    backend: RenderBackend,
    scene: GaussianScene,
    camera: Camera,
    out: str | Path,
    *,
    mode: SnapshotMode = "rgb",
    width: int | None = None,
    background: tuple[float, float, float] = (0.0, 0.0, 0.0),
    overwrite: bool = False,
) -> Path:
    """Render ``camera`` and write it as an 8-bit PNG (or any format Pillow knows by suffix).

    Parameters
    ----------
    backend, scene, camera
        What to render.
    out
        Image file to write (atomically; an existing file is kept unless ``overwrite``).
    mode
        ``"rgb"``, ``"depth"`` or ``"alpha"``.
    width
        Output width in pixels (height follows the camera's aspect ratio); default the
        camera's own size.
    background
        Colour behind the Gaussians in ``rgb`` mode.
    overwrite
        Replace an existing file.

    Returns
    -------
    Path
        The written file.
    """
    from PIL import Image

    out = Path(out)
    image_format = Image.registered_extensions().get(out.suffix.lower())
    if image_format is None:
        raise OutputFileError(out, "unknown image type; use a .png, .jpg or .tif name")
    if out.exists() and not overwrite:
        raise OutputFileError(out, "already exists; pass --overwrite to replace it")
    resolution = None
    if width is not None:
        if width <= 0:
            raise ValueError(f"width must be positive, got {width}")
        resolution = (int(width), max(1, round(camera.height * width / camera.width)))
    result = backend.render(
        scene, camera, resolution=resolution, rgb=mode == "rgb", background=background
    )
    pixels = snapshot_pixels(result, mode)
    with atomic_output(out, overwrite=overwrite) as tmp:
        Image.fromarray(pixels).save(tmp, format=image_format)
    return out
