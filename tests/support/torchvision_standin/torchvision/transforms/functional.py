"""TEST-ONLY stand-in for ``torchvision.transforms.functional``: never shipped.

Only :func:`resize` and :func:`to_pil_image` (what ``segment_anything`` imports),
following torchvision's documented behaviour:

- ``resize`` of a PIL image calls ``PIL.Image.resize`` (PIL's filters always
  antialias when shrinking); of a tensor ``[..., H, W]`` it calls
  ``torch.nn.functional.interpolate`` (``antialias`` for bilinear/bicubic,
  ``align_corners=False``), rounding back to integer dtypes. An int ``size`` (or a
  one-element sequence) sets the shorter side, keeping the aspect ratio.
- ``to_pil_image`` takes a ``(C, H, W)`` tensor or an ``(H, W, C)`` array (or 2D);
  floats are scaled by 255 and truncated to uint8 unless ``mode="F"``.
"""

from __future__ import annotations

from collections.abc import Sequence
from enum import Enum

import numpy as np
import torch
from PIL import Image
from torch import Tensor


class InterpolationMode(Enum):
    """Interpolation modes (the subset the stand-in supports)."""

    NEAREST = "nearest"
    NEAREST_EXACT = "nearest-exact"
    BILINEAR = "bilinear"
    BICUBIC = "bicubic"


_PIL_FILTERS = {
    InterpolationMode.NEAREST: Image.Resampling.NEAREST,
    InterpolationMode.NEAREST_EXACT: Image.Resampling.NEAREST,
    InterpolationMode.BILINEAR: Image.Resampling.BILINEAR,
    InterpolationMode.BICUBIC: Image.Resampling.BICUBIC,
}


def _output_size(
    height: int, width: int, size: int | Sequence[int], max_size: int | None
) -> tuple[int, int]:
    """``(new_h, new_w)`` as torchvision computes it."""
    size = [size] if isinstance(size, int) else list(size)
    if len(size) == 2:
        if max_size is not None:
            raise ValueError("max_size is only supported for a single int size")
        return int(size[0]), int(size[1])
    if len(size) != 1:
        raise ValueError(f"size must be an int or a sequence of 1 or 2 ints, got {size}")
    requested = int(size[0])
    short, long = (width, height) if width <= height else (height, width)
    new_short, new_long = requested, int(requested * long / short)
    if max_size is not None:
        if max_size <= requested:
            raise ValueError(f"max_size = {max_size} must exceed the requested size {requested}")
        if new_long > max_size:
            new_short, new_long = int(max_size * new_short / new_long), max_size
    return (new_long, new_short) if width <= height else (new_short, new_long)


def resize(
    img: Image.Image | Tensor,
    size: int | Sequence[int],
    interpolation: InterpolationMode = InterpolationMode.BILINEAR,
    max_size: int | None = None,
    antialias: bool | None = True,
) -> Image.Image | Tensor:
    """Resize a PIL image or a ``[..., H, W]`` tensor to ``size`` (``(h, w)`` or short side)."""
    if isinstance(interpolation, str):
        interpolation = InterpolationMode(interpolation)
    if not isinstance(interpolation, InterpolationMode):
        raise TypeError(f"interpolation must be an InterpolationMode, got {interpolation!r}")
    if isinstance(img, Image.Image):
        width, height = img.size
        new_h, new_w = _output_size(height, width, size, max_size)
        return img.resize((new_w, new_h), _PIL_FILTERS[interpolation])
    if not isinstance(img, Tensor):
        raise TypeError(f"img should be a PIL Image or a Tensor, got {type(img)}")
    height, width = img.shape[-2:]
    new_h, new_w = _output_size(int(height), int(width), size, max_size)
    shape = img.shape
    batch = img.reshape(1, -1, height, width)
    out_dtype = img.dtype
    if not batch.is_floating_point():
        batch = batch.to(torch.float32)
    smooth = interpolation in (InterpolationMode.BILINEAR, InterpolationMode.BICUBIC)
    result = torch.nn.functional.interpolate(
        batch,
        size=(new_h, new_w),
        mode=interpolation.value,
        align_corners=False if smooth else None,
        antialias=bool(antialias) and smooth,
    )
    if not out_dtype.is_floating_point:
        if interpolation == InterpolationMode.BICUBIC and out_dtype == torch.uint8:
            result = result.clamp(0, 255)
        result = result.round().to(out_dtype)
    return result.reshape(*shape[:-2], new_h, new_w)


def to_pil_image(pic: Tensor | np.ndarray, mode: str | None = None) -> Image.Image:
    """A PIL image of a ``(C, H, W)`` tensor or an ``(H, W, C)`` / ``(H, W)`` array."""
    if isinstance(pic, Tensor):
        if pic.ndim not in (2, 3):
            raise ValueError(f"pic should be 2/3 dimensional, got {pic.ndim} dimensions")
        if pic.ndim == 2:
            pic = pic.unsqueeze(0)
        if pic.shape[-3] > 4:
            raise ValueError(f"pic should not have > 4 channels, got {pic.shape[-3]}")
        if pic.is_floating_point() and mode != "F":
            pic = pic.mul(255).byte()
        array = np.transpose(pic.detach().cpu().numpy(), (1, 2, 0))
    elif isinstance(pic, np.ndarray):
        if pic.ndim not in (2, 3):
            raise ValueError(f"pic should be 2/3 dimensional, got {pic.ndim} dimensions")
        array = pic[:, :, None] if pic.ndim == 2 else pic
        if array.shape[-1] > 4:
            raise ValueError(f"pic should not have > 4 channels, got {array.shape[-1]}")
        if np.issubdtype(array.dtype, np.floating) and mode != "F":
            array = (array * 255).astype(np.uint8)
    else:
        raise TypeError(f"pic should be a Tensor or an ndarray, got {type(pic)}")
    channels = array.shape[2]
    if channels == 1:
        array = array[:, :, 0]
        expected = {
            np.dtype(np.uint8): "L",
            np.dtype(np.int16): "I;16",
            np.dtype(np.int32): "I",
            np.dtype(np.float32): "F",
        }.get(array.dtype)
        if mode is not None and mode != expected:
            raise ValueError(f"mode {mode} does not fit input type {array.dtype} ({expected})")
        mode = expected
    else:
        permitted = {2: ("LA",), 3: ("RGB", "YCbCr", "HSV"), 4: ("RGBA", "CMYK", "RGBX")}
        if mode is not None and mode not in permitted[channels]:
            raise ValueError(f"only modes {permitted[channels]} fit {channels} channels")
        if mode is None and array.dtype == np.uint8:
            mode = permitted[channels][0]
    if mode is None:
        raise TypeError(f"input type {array.dtype} is not supported")
    height, width = array.shape[:2]
    if mode == "I;16":
        data = np.ascontiguousarray(array.astype("<u2")).tobytes()
    else:
        data = np.ascontiguousarray(array).tobytes()
    return Image.frombytes(mode, (width, height), data)
