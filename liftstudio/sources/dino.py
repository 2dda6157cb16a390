"""DINOv2 feature maps for the training views, the LUDVIG way (DESIGN §5).

LUDVIG runs DINOv2 ViT-g/14 with registers on overlapping 840 px crops taken every
200 px, pools the patch tokens of all views, standardises them, reduces them to 40
dimensions by a PCA fitted on a random subsample, scales each component by its
singular value and upsamples the result bilinearly to image size. This module does the
same on any DINOv2 backbone loaded by :func:`load_dino`:

- :func:`patch_features`: one image to its ``(h, w, C)`` grid of last-layer patch
  tokens (after the final layer norm; CLS and register tokens dropped), computed over
  sliding windows (:func:`sliding_windows`) and averaged where windows overlap;
- :func:`dino_feature_maps`: every view's grid, one PCA over all of them, projected,
  weighted and upsampled maps stored as float16.

Only patch grids are kept between the two passes (``h·w·C`` float32 per view, e.g.
54×72×1536×4 B = 24 MB for a 756×1008 view with ViT-g); full-resolution maps exist only
after the projection, with ``pca_dims`` channels.

``transformers`` (the optional extra ``liftstudio[dino]``) is imported only by
:func:`load_dino`.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np
import torch
import torch.nn.functional as F

from liftstudio.jobs import CancelToken, ProgressCallback, check_cancelled, report
from liftstudio.sources.dino_checkpoints import (
    DinoModel,
    DinoUnavailable,
    architecture_name,
    convert_hub_state_dict,
    load_dino,
    resolve_device,
)

__all__ = [
    "IMAGENET_MEAN",
    "IMAGENET_STD",
    "DinoConfig",
    "DinoFeatureMaps",
    "DinoModel",
    "DinoUnavailable",
    "architecture_name",
    "convert_hub_state_dict",
    "dino_feature_maps",
    "load_dino",
    "output_size",
    "patch_features",
    "resolve_device",
    "sliding_windows",
]

_FREED = np.zeros((0, 0, 0), dtype=np.float32)

IMAGENET_MEAN = (0.485, 0.456, 0.406)
"""Per-channel mean DINOv2 was trained with (RGB in [0, 1])."""
IMAGENET_STD = (0.229, 0.224, 0.225)
"""Per-channel standard deviation DINOv2 was trained with."""


@dataclass(frozen=True)
class DinoConfig:
    """Settings of :func:`patch_features` and :func:`dino_feature_maps`.

    Attributes
    ----------
    crop, stride
        Sliding-window edge and step in pixels for an image whose long side is
        ``reference_side`` (LUDVIG: 840 and 200). See :func:`sliding_windows` for how
        they scale to other sizes.
    reference_side
        Long side (pixels) the window settings are given for: 1008, the width of the
        LLFF / SPIn-NeRF images (1/4 resolution) LUDVIG used them on.
    pca_dims
        Channels of the output maps (LUDVIG: 40).
    fit_samples
        The PCA is fitted on at most this many patch tokens, drawn at random (with
        ``seed``) from all views together.
    standardise
        Scale every channel of the patch tokens to zero mean and unit variance over
        all tokens of all views before the PCA, as LUDVIG does (constant channels are
        only centred).
    weighting
        Multiply PCA component ``k``'s scores by ``s_k / s_1`` (singular values,
        see :func:`dino_feature_maps`); False keeps the plain scores.
    max_side
        Long side of the output maps in pixels: a view of H×W gets maps of H×W scaled
        down (never up) so that their long side is at most this (:func:`output_size`).
    batch_size
        Windows run through the model at once.
    seed
        Seed of the PCA subsample.

    Raises
    ------
    ValueError
        For values below 1 (``seed`` below 0), or ``stride`` above ``crop``.
    """

    crop: int = 840
    stride: int = 200
    reference_side: int = 1008
    pca_dims: int = 40
    fit_samples: int = 100_000
    standardise: bool = True
    weighting: bool = True
    max_side: int = 640
    batch_size: int = 4
    seed: int = 0

    def __post_init__(self) -> None:
        for name in (
            "crop",
            "stride",
            "reference_side",
            "pca_dims",
            "fit_samples",
            "max_side",
            "batch_size",
            "seed",
        ):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int | np.integer):
                raise ValueError(f"{name} must be a whole number, got {value!r}")
            if value < (0 if name == "seed" else 1):
                raise ValueError(f"{name} must be >= {0 if name == 'seed' else 1}, got {value}")
        if self.stride > self.crop:
            raise ValueError(
                f"stride ({self.stride}) must not exceed crop ({self.crop}): windows would "
                "leave gaps"
            )


@dataclass(frozen=True, eq=False)
class DinoFeatureMaps:
    """PCA-reduced DINOv2 feature maps of a set of views, and the reduction itself.

    A patch token ``x`` (C,) becomes ``((x − mean) / scale − pca_mean) @ components.T ·
    weights`` (:meth:`project`); the maps are those values on each view's patch grid,
    upsampled bilinearly to the view's output size.

    Attributes
    ----------
    maps
        One ``(h_i, w_i, pca_dims)`` float16 map per view (:func:`output_size`).
    grid_shapes
        Each view's patch grid ``(rows, columns)``.
    mean, scale
        ``(C,)`` float64 channel means and standard deviations over all tokens (zeros
        and ones when ``standardise`` is off).
    pca_mean
        ``(C,)`` float64 mean of the standardised fit tokens.
    components
        ``(pca_dims, C)`` float64 principal axes, most variance first; each axis's
        largest loading is positive.
    explained_variance
        ``(pca_dims,)`` variance of the standardised tokens along each axis
        (eigenvalues of their covariance, ``ddof=1``), decreasing.
    explained_variance_ratio
        Share of the total variance along each axis.
    weights
        ``(pca_dims,)`` multipliers of the scores: ``sqrt(λ_k / λ_1)`` (= ``s_k / s_1``),
        or ones without weighting.
    fit_count
        Tokens the PCA was fitted on.
    total_tokens
        Patch tokens over all views.
    architecture
        The backbone's name (``"vitg14_reg4"``...).
    notes
        Remarks worth showing (variance kept...).
    """

    maps: list[np.ndarray]
    grid_shapes: list[tuple[int, int]]
    mean: np.ndarray
    scale: np.ndarray
    pca_mean: np.ndarray
    components: np.ndarray
    explained_variance: np.ndarray
    explained_variance_ratio: np.ndarray
    weights: np.ndarray
    fit_count: int
    total_tokens: int
    architecture: str
    notes: tuple[str, ...] = field(default=())

    def project(self, tokens: np.ndarray) -> np.ndarray:
        """``(..., C)`` patch tokens to ``(..., pca_dims)`` float32 weighted scores."""
        return _project(tokens, self.mean, self.scale, self.pca_mean, self.components, self.weights)


# ---------------------------------------------------------------------------- geometry
def output_size(height: int, width: int, max_side: int) -> tuple[int, int]:
    """``(h, w)``: ``height × width`` scaled down so that the long side is at most ``max_side``.

    Sizes are rounded to the nearest pixel and are at least 1; images already small
    enough keep their size.
    """
    scale = min(1.0, max_side / max(height, width))
    return max(1, math.floor(height * scale + 0.5)), max(1, math.floor(width * scale + 0.5))


def sliding_windows(
    grid_shape: tuple[int, int], patch_size: int, config: DinoConfig
) -> list[tuple[int, int, int, int]]:
    """Windows over a patch grid: ``(top, left, rows, columns)``, in patches.

    The window edge and step are ``config.crop`` and ``config.stride`` pixels for an
    image whose long side is ``config.reference_side``; for an image with a shorter
    long side ``L`` both are multiplied by ``L / reference_side`` (so a window covers
    the same share of the image as LUDVIG's 840 px windows on 1008 px images), never
    enlarged for larger images. Both are then rounded to whole patches (windows must
    line up with the patch grid for their tokens to be averaged), at least one patch,
    and the step is at most the edge: at full size 840 px = 60 patches every
    200 px ≈ 14 patches (196 px) of 14 px.

    Along each axis of ``n`` patches the windows start at ``0, step, 2·step, ...``
    while they end inside the image, plus one last window flush with the far edge, so
    the whole image is covered; an axis no longer than a window gets a single window
    as long as the axis. All windows of an image have the same size.

    Parameters
    ----------
    grid_shape
        ``(rows, columns)`` of the image's patch grid.
    patch_size
        Patch edge in pixels.
    config
        Window settings.

    Returns
    -------
    list of (int, int, int, int)
        Row-major order.
    """
    rows, cols = (int(v) for v in grid_shape)
    if rows < 1 or cols < 1:
        raise ValueError(f"the patch grid must be at least 1×1, got {grid_shape}")
    scale = min(1.0, max(rows, cols) * patch_size / config.reference_side)
    crop = max(1, math.floor(config.crop * scale / patch_size + 0.5))
    stride = min(crop, max(1, math.floor(config.stride * scale / patch_size + 0.5)))
    row_starts, height = _axis_starts(rows, crop, stride)
    col_starts, width = _axis_starts(cols, crop, stride)
    return [(top, left, height, width) for top in row_starts for left in col_starts]


def _axis_starts(n: int, crop: int, stride: int) -> tuple[list[int], int]:
    if n <= crop:
        return [0], n
    return [*range(0, n - crop, stride), n - crop], crop


# ---------------------------------------------------------------------------- features
def patch_features(
    model: DinoModel,
    image: np.ndarray,
    config: DinoConfig | None = None,
    *,
    cancel: CancelToken | None = None,
) -> np.ndarray:
    """Last-layer DINOv2 patch tokens of one image, over sliding windows.

    The image is resized (bilinearly) to ``(H // p · p, W // p · p)`` for patch size
    ``p``, as LUDVIG does, normalised with the ImageNet mean and deviation, cut into
    the windows of :func:`sliding_windows` and run through the model ``batch_size``
    windows at a time. Each window gives one token per patch it covers (the output of
    the final layer norm; CLS and register tokens are dropped); a patch covered by
    several windows gets the mean of their tokens.

    Parameters
    ----------
    model
        From :func:`load_dino`.
    image
        ``(H, W, 3)`` float RGB in [0, 1], with ``H, W >= p``.
    config
        Window settings and batch size; None uses the defaults.
    cancel
        Checked between window batches.

    Returns
    -------
    numpy.ndarray
        ``(H // p, W // p, C)`` float32.

    Raises
    ------
    ValueError
        For an image of the wrong shape, type or range, or smaller than one patch.
    liftstudio.jobs.JobCancelled
        If ``cancel`` was set.
    """
    config = config or DinoConfig()
    image = _checked_image(image, model.patch_size)
    p = model.patch_size
    rows, cols = image.shape[0] // p, image.shape[1] // p
    pixels = torch.from_numpy(np.ascontiguousarray(image.transpose(2, 0, 1)))[None]
    pixels = pixels.to(model.device, torch.float32)
    if pixels.shape[-2:] != (rows * p, cols * p):
        pixels = F.interpolate(
            pixels, size=(rows * p, cols * p), mode="bilinear", align_corners=False
        )
    mean = torch.tensor(IMAGENET_MEAN, device=model.device).view(1, 3, 1, 1)
    std = torch.tensor(IMAGENET_STD, device=model.device).view(1, 3, 1, 1)
    pixels = (pixels - mean) / std
    windows = sliding_windows((rows, cols), p, config)
    total = torch.zeros((rows, cols, model.hidden_size), dtype=torch.float32, device=model.device)
    count = torch.zeros((rows, cols, 1), dtype=torch.float32, device=model.device)
    skip = 1 + model.num_register_tokens
    for start in range(0, len(windows), config.batch_size):
        check_cancelled(cancel)
        batch = windows[start : start + config.batch_size]
        _, _, height, width = batch[0]
        crops = torch.cat(
            [
                pixels[:, :, t * p : (t + height) * p, c * p : (c + width) * p]
                for t, c, _, _ in batch
            ]
        )
        with torch.inference_mode():
            hidden = model.module(pixel_values=crops).last_hidden_state
        if hidden.shape[1] != skip + height * width or hidden.shape[2] != model.hidden_size:
            raise RuntimeError(
                f"the model returned tokens of shape {tuple(hidden.shape)} for "
                f"{height}×{width} patches; expected (B, {skip + height * width}, "
                f"{model.hidden_size})"
            )
        tokens = hidden[:, skip:, :].float().reshape(len(batch), height, width, -1)
        for (top, left, _, _), window in zip(batch, tokens, strict=True):
            total[top : top + height, left : left + width] += window
            count[top : top + height, left : left + width] += 1.0
    return (total / count).cpu().numpy()


def _checked_image(image: np.ndarray, patch_size: int, where: str = "the image") -> np.ndarray:
    array = np.asarray(image)
    if array.ndim != 3 or array.shape[2] != 3:
        raise ValueError(f"{where} must have shape (H, W, 3), got {array.shape}")
    if not np.issubdtype(array.dtype, np.floating):
        raise ValueError(
            f"{where} must be float RGB in [0, 1], got {array.dtype} (divide 8-bit images by 255)"
        )
    if min(array.shape[:2]) < patch_size:
        raise ValueError(
            f"{where} of {array.shape[0]}×{array.shape[1]} px is smaller than one "
            f"{patch_size}×{patch_size} patch"
        )
    if not np.isfinite(array).all() or array.min() < 0.0 or array.max() > 1.0:
        raise ValueError(f"{where} must hold finite values in [0, 1]")
    return array.astype(np.float32, copy=False)


# ---------------------------------------------------------------------------- maps
def dino_feature_maps(
    model: DinoModel,
    images: Sequence[np.ndarray],
    config: DinoConfig | None = None,
    *,
    progress: ProgressCallback | None = None,
    cancel: CancelToken | None = None,
) -> DinoFeatureMaps:
    """PCA-reduced, eigenvalue-weighted DINOv2 feature maps of every view (LUDVIG).

    1. :func:`patch_features` of every view (kept on the patch grid, float32);
    2. with ``standardise``: channel means and deviations over all tokens of all
       views (LUDVIG standardises before its PCA);
    3. a PCA (scikit-learn, exact) on ``min(fit_samples, total)`` standardised tokens
       drawn without replacement, with ``seed``, from all views pooled; each axis's
       sign is fixed so that its largest loading is positive (results do not depend
       on the LAPACK build);
    4. every token projected on the ``pca_dims`` axes. With ``weighting`` the score
       on axis ``k`` is multiplied by ``s_k / s_1 = sqrt(λ_k / λ_1)``, where ``s_k``
       are the singular values of the centred fit matrix and ``λ_k`` the eigenvalues
       of its covariance: LUDVIG's code multiplies by ``s_k`` itself; dividing by
       ``s_1`` keeps its relative weights but makes the scale independent of the
       number of fit tokens. Component ``k`` then spreads with standard deviation
       ``λ_k / sqrt(λ_1)``, so the leading components dominate distances even more
       than in the plain PCA;
    5. each view's grid upsampled bilinearly (``align_corners=False``, the grid
       spanning the whole image) to :func:`output_size` and stored as float16.

    Parameters
    ----------
    model
        From :func:`load_dino`.
    images
        One ``(H_i, W_i, 3)`` float RGB image in [0, 1] per view (any sizes); a lazy
        sequence (``ViewImages``) is read one view at a time.
    config
        Settings; None uses the defaults.
    progress
        ``progress(done, total, message)``: one step per view, plus one for the PCA
        and the maps.
    cancel
        Checked between views, between window batches and between projected views.

    Returns
    -------
    DinoFeatureMaps

    Raises
    ------
    ValueError
        For no images, a bad image (naming the view), ``pca_dims`` above the model's
        C channels, or fewer tokens than ``pca_dims`` over all views.
    liftstudio.jobs.JobCancelled
        If ``cancel`` was set; nothing is returned.
    """
    config = config or DinoConfig()
    views = len(images)
    if views == 0:
        raise ValueError("no images were given")
    if config.pca_dims > model.hidden_size:
        raise ValueError(
            f"pca_dims ({config.pca_dims}) must be at most the {model.hidden_size} channels "
            f"of {model.architecture}"
        )
    steps = views + 1
    grids: list[np.ndarray] = []
    sizes: list[tuple[int, int]] = []
    for index in range(views):
        check_cancelled(cancel)
        image = _checked_image(images[index], model.patch_size, f"image {index}")
        sizes.append(output_size(image.shape[0], image.shape[1], config.max_side))
        grids.append(patch_features(model, image, config, cancel=cancel))
        report(progress, index + 1, steps, f"DINOv2 features of view {index + 1} of {views}")
    check_cancelled(cancel)
    grid_shapes = [(g.shape[0], g.shape[1]) for g in grids]
    counts = np.array([h * w for h, w in grid_shapes])
    total = int(counts.sum())
    if total < config.pca_dims:
        raise ValueError(
            f"the {views} views give {total} patch tokens, fewer than pca_dims "
            f"({config.pca_dims}): lower pca_dims or give larger images"
        )
    mean, scale = _channel_statistics(grids, model.hidden_size, config.standardise)
    fit = _fit_rows(grids, counts, min(config.fit_samples, total), config.seed)
    fit = (fit - mean) / scale
    components, pca_mean, variance, ratio, singular = _fit_pca(fit, config.pca_dims)
    del fit
    weights = (
        singular / singular[0] if config.weighting and singular[0] > 0 else np.ones_like(singular)
    )
    maps = []
    limit = float(np.finfo(np.float16).max)
    for index, size in enumerate(sizes):
        check_cancelled(cancel)
        scores = _project(grids[index], mean, scale, pca_mean, components, weights)
        grids[index] = _FREED  # drop the view's C-channel grid once it is projected
        tensor = torch.from_numpy(np.ascontiguousarray(scores.transpose(2, 0, 1)))[None]
        if tuple(tensor.shape[-2:]) != size:
            tensor = F.interpolate(tensor, size=size, mode="bilinear", align_corners=False)
        upsampled = tensor[0].permute(1, 2, 0).numpy()
        maps.append(np.clip(upsampled, -limit, limit).astype(np.float16))
    report(progress, steps, steps, "DINOv2 feature maps ready")
    return DinoFeatureMaps(
        maps=maps,
        grid_shapes=grid_shapes,
        mean=mean,
        scale=scale,
        pca_mean=pca_mean,
        components=components,
        explained_variance=variance,
        explained_variance_ratio=ratio,
        weights=weights,
        fit_count=min(config.fit_samples, total),
        total_tokens=total,
        architecture=model.architecture,
        notes=(
            f"PCA on {min(config.fit_samples, total)} of {total} patch tokens kept "
            f"{100 * float(ratio.sum()):.0f}% of the variance",
        ),
    )


def _channel_statistics(
    grids: Sequence[np.ndarray], channels: int, standardise: bool
) -> tuple[np.ndarray, np.ndarray]:
    """Channel means and standard deviations (ddof 0) over all tokens, float64."""
    if not standardise:
        return np.zeros(channels), np.ones(channels)
    total = np.zeros(channels)
    squares = np.zeros(channels)
    n = 0
    for grid in grids:
        tokens = grid.reshape(-1, channels).astype(np.float64)
        total += tokens.sum(axis=0)
        n += len(tokens)
    mean = total / n
    for grid in grids:
        tokens = grid.reshape(-1, channels).astype(np.float64) - mean
        squares += np.einsum("ij,ij->j", tokens, tokens)
    std = np.sqrt(squares / n)
    return mean, np.where(std > 1e-8 * (1.0 + np.abs(mean)), std, 1.0)


def _fit_rows(
    grids: Sequence[np.ndarray], counts: np.ndarray, samples: int, seed: int
) -> np.ndarray:
    """``samples`` tokens drawn without replacement from all views, float64 (row order)."""
    total = int(counts.sum())
    rng = np.random.default_rng(seed)
    chosen = np.sort(rng.choice(total, size=samples, replace=False)) if samples < total else None
    offsets = np.concatenate([[0], np.cumsum(counts)])
    rows = []
    for index, grid in enumerate(grids):
        tokens = grid.reshape(-1, grid.shape[2])
        if chosen is None:
            rows.append(tokens.astype(np.float64))
            continue
        lo, hi = np.searchsorted(chosen, offsets[index : index + 2])
        rows.append(tokens[chosen[lo:hi] - offsets[index]].astype(np.float64))
    return np.concatenate(rows)


def _project(
    tokens: np.ndarray,
    mean: np.ndarray,
    scale: np.ndarray,
    pca_mean: np.ndarray,
    components: np.ndarray,
    weights: np.ndarray,
) -> np.ndarray:
    """``(..., C)`` tokens to ``(..., k)`` float32 weighted PCA scores."""
    z = (np.asarray(tokens, dtype=np.float64) - mean) / scale - pca_mean
    return ((z @ components.T) * weights).astype(np.float32)


def _fit_pca(
    rows: np.ndarray, dims: int
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """(components, mean, explained variance, ratio, singular values) of ``rows``."""
    from sklearn.decomposition import PCA  # imported on use: scikit-learn loads slowly

    if len(rows) < dims:
        raise ValueError(f"{len(rows)} fit tokens cannot give {dims} PCA components")
    pca = PCA(n_components=dims, svd_solver="full").fit(rows)
    axes = pca.components_
    signs = np.sign(axes[np.arange(dims), np.argmax(np.abs(axes), axis=1)])
    axes = axes * np.where(signs == 0, 1.0, signs)[:, None]
    ratio = (
        pca.explained_variance_ratio_
        if pca.explained_variance_.sum() > 0
        else np.zeros(dims, dtype=np.float64)
    )
    return (
        axes.astype(np.float64),
        pca.mean_.astype(np.float64),
        pca.explained_variance_.astype(np.float64),
        np.asarray(ratio, dtype=np.float64),
        pca.singular_values_.astype(np.float64),
    )
