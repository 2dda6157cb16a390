"""LUDVIG's SAM mode: prompt a mask predictor in every view from a reference (DESIGN §5).

Given per-Gaussian reference scores (usually a mask drawn on one view and uplifted),
:func:`sam_prompt_loop` does, in every training view:

1. render the reference, divided by its largest score, into the view;
2. skip the view when the object is hardly there (see :class:`SamPromptConfig`'s
   ``min_presence``): its mask is all zeros;
3. take the *prompt pool*: the brightest pixels that together hold ``pool_fraction``
   of the view's rendered mass (:func:`prompt_pool`);
4. ``draws`` times, draw ``points_per_draw`` positive points uniformly from the pool
   and ask the :class:`MaskPredictor` for a mask, keeping its first (best) mask;
5. average the ``draws`` masks into a soft mask in [0, 1].

The averaged masks of all views are then uplifted onto the Gaussians
(:func:`~liftstudio.lift.uplift.uplift_maps`). Randomness comes only from a numpy
Generator seeded with ``(config.seed, view index)``, so a run is reproducible and a
view's prompts do not depend on the other views.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Protocol, runtime_checkable

import numpy as np

from liftstudio.jobs import CancelToken, ProgressCallback, check_cancelled, report
from liftstudio.lift.uplift import uplift_maps
from liftstudio.render.backend import RenderBackend
from liftstudio.scene.camera import Camera
from liftstudio.scene.gaussians import GaussianScene

#: A pixel counts toward a view's presence when its rendered reference reaches this.
PRESENCE_LEVEL = 0.5

#: Largest relative difference between an image's and its camera's aspect ratios.
_ASPECT_TOLERANCE = 0.01


@runtime_checkable
class MaskPredictor(Protocol):
    """A promptable 2D segmenter (SAM and the like).

    :func:`sam_prompt_loop` calls :meth:`predict` ``draws`` times in a row with the
    same image array, so an implementation should compute the image embedding once
    and reuse it while the image stays the same.
    """

    def predict(self, image: np.ndarray, points: np.ndarray, labels: np.ndarray) -> np.ndarray:
        """Segment the object the points are on.

        Parameters
        ----------
        image : (H, W, 3) float32
            RGB in [0, 1].
        points : (P, 2) float32
            Prompt points as continuous ``(x, y)`` pixel coordinates (the centre of
            pixel ``(row i, column j)`` is ``(j + 0.5, i + 0.5)``).
        labels : (P,) int32
            1 for a positive point, 0 for a negative one.

        Returns
        -------
        (M, H, W) bool or float array
            M ≥ 1 candidate masks, best first; float masks hold probabilities in
            [0, 1].
        """
        ...


@dataclass(frozen=True)
class SamPromptConfig:
    """Settings of :func:`sam_prompt_loop` (LUDVIG's defaults).

    Attributes
    ----------
    pool_fraction
        Share of a view's rendered reference mass whose brightest pixels form the
        prompt pool, in (0, 1].
    points_per_draw
        Positive points per predictor call (≥ 1).
    draws
        Predictor calls per view, averaged (≥ 1).
    min_presence
        A view is prompted only if at least this fraction of its pixels render the
        (max-normalised) reference at :data:`PRESENCE_LEVEL` or more, in [0, 1].
        Otherwise the object is taken to be absent or nearly hidden there: prompting
        anyway would put points on whatever faint reference leaks into the view and
        the predictor would segment some other object, so the view's mask is all
        zeros instead (it still tells the uplift that the Gaussians seen there are
        not the object). The default, 0.1% of the image, is about 19 pixels at
        160×120 and 300 at 640×480.
    seed
        Seed of the point draws (≥ 0).

    Raises
    ------
    ValueError
        For a value outside its range.
    """

    pool_fraction: float = 0.4
    points_per_draw: int = 3
    draws: int = 10
    min_presence: float = 0.001
    seed: int = 0

    def __post_init__(self) -> None:
        if not 0.0 < self.pool_fraction <= 1.0:
            raise ValueError(f"pool_fraction must lie in (0, 1], got {self.pool_fraction}")
        for name in ("points_per_draw", "draws"):
            value = getattr(self, name)
            if isinstance(value, bool) or int(value) != value or value < 1:
                raise ValueError(f"{name} must be a positive integer, got {value!r}")
        if not 0.0 <= self.min_presence <= 1.0:
            raise ValueError(f"min_presence must lie in [0, 1], got {self.min_presence}")
        if isinstance(self.seed, bool) or int(self.seed) != self.seed or self.seed < 0:
            raise ValueError(f"seed must be an integer >= 0, got {self.seed!r}")


@dataclass(frozen=True)
class SamPromptResult:
    """What :func:`sam_prompt_loop` found.

    Attributes
    ----------
    scores : (N,) float32
        The averaged masks uplifted onto the Gaussians, in [0, 1]; 0 where unseen.
    beta : (N,) float32
        Each Gaussian's total blending weight over the views.
    visible : (N,) bool
        Gaussians some view saw.
    view_masks : list of (H, W) float32
        The averaged mask of each view (all zeros for skipped views).
    prompted : (V,) bool
        Whether each view was prompted (False: skipped for low presence).
    points : list of (draws, P, 2) float32
        The prompt points of each view, ``(x, y)`` pixel coordinates; ``(0, P, 2)``
        for skipped views.
    notes : list of str
        One line per view saying what happened there.
    """

    scores: np.ndarray
    beta: np.ndarray
    visible: np.ndarray
    view_masks: list[np.ndarray]
    prompted: np.ndarray
    points: list[np.ndarray]
    notes: list[str]


def prompt_pool(rendered: np.ndarray, pool_fraction: float) -> np.ndarray:
    """The brightest pixels that together hold ``pool_fraction`` of the rendered mass.

    Pixels are taken from the brightest down (ties in pixel order) until their sum
    reaches ``pool_fraction`` of the whole view's sum; pixels of value 0 never join.

    Parameters
    ----------
    rendered : (H, W) float array
        The rendered reference (values ≥ 0).
    pool_fraction
        In (0, 1].

    Returns
    -------
    (H, W) bool
        Empty when nothing was rendered.
    """
    values = np.maximum(np.asarray(rendered, dtype=np.float64), 0.0).ravel()
    pool = np.zeros(values.shape, dtype=bool)
    total = values.sum()
    if total <= 0:
        return pool.reshape(np.shape(rendered))
    order = np.argsort(-values, kind="stable")
    mass = np.cumsum(values[order])
    count = int(np.searchsorted(mass, pool_fraction * total * (1 - 1e-12))) + 1
    chosen = order[: min(count, len(order))]
    pool[chosen[values[chosen] > 0]] = True
    return pool.reshape(np.shape(rendered))


def sam_prompt_loop(
    backend: RenderBackend,
    scene: GaussianScene,
    cameras: Sequence[Camera],
    images: Sequence[np.ndarray],
    reference: np.ndarray,
    predictor: MaskPredictor,
    *,
    config: SamPromptConfig | None = None,
    progress: ProgressCallback | None = None,
    cancel: CancelToken | None = None,
) -> SamPromptResult:
    """Prompt ``predictor`` in every view from ``reference`` and uplift the averaged masks.

    See the module docstring for the steps.

    Parameters
    ----------
    backend, scene
        Render backend and Gaussians.
    cameras
        The training views.
    images
        One (H, W, 3) RGB image per camera, float in [0, 1] or uint8; any size with
        the camera's aspect ratio (the reference is rendered at the image's size).
    reference : (N,) float
        Per-Gaussian reference scores (higher = more surely the object), finite, some
        positive; they are divided by their maximum and negative scores count as 0.
    predictor
        The mask predictor (SAM, or a stand-in).
    config
        Pool, draw and presence settings (default :class:`SamPromptConfig`).
    progress, cancel
        One progress step per view, then one per view of the uplift; cancel is
        checked before every predictor call.

    Returns
    -------
    SamPromptResult

    Raises
    ------
    ValueError
        If the image count differs from the camera count, an image is not RGB, not
        finite or not of its camera's aspect ratio, the reference has the wrong
        length, holds NaN/inf or no positive score, or the predictor returns masks
        of the wrong shape or outside [0, 1] (each naming the view).
    liftstudio.jobs.JobCancelled
        If ``cancel`` was set; nothing is returned.
    """
    config = config or SamPromptConfig()
    checked = check_images(images, cameras)
    ref = _normalised_reference(reference, len(scene))
    total_steps = 2 * len(cameras)
    view_masks: list[np.ndarray] = []
    points: list[np.ndarray] = []
    prompted = np.zeros(len(cameras), dtype=bool)
    notes: list[str] = []
    for index, (camera, image) in enumerate(zip(cameras, checked, strict=True)):
        check_cancelled(cancel)
        height, width = image.shape[:2]
        rendered = backend.render(
            scene, camera, resolution=(width, height), features=ref[:, None], rgb=False
        ).features[..., 0]
        presence = float(np.mean(rendered >= PRESENCE_LEVEL))
        if presence < config.min_presence:
            view_masks.append(np.zeros((height, width), dtype=np.float32))
            points.append(np.zeros((0, config.points_per_draw, 2), dtype=np.float32))
            notes.append(
                f"{camera.name}: skipped, the reference covers {100 * presence:.2f}% of the "
                f"view (min_presence {100 * config.min_presence:.2f}%)"
            )
        else:
            mask, view_points, pool_size = _prompt_view(
                image, rendered, predictor, config, index, camera, cancel
            )
            view_masks.append(mask)
            points.append(view_points)
            prompted[index] = True
            notes.append(
                f"{camera.name}: {config.draws} draws from a pool of {pool_size} pixels, "
                f"mean mask area {100 * float(mask.mean()):.1f}%"
            )
        report(progress, index + 1, total_steps, f"SAM prompts in view {camera.name}")

    def uplift_progress(done: int, _total: int, message: str) -> None:
        report(progress, len(cameras) + done, total_steps, message)

    uplifted = uplift_maps(
        backend,
        scene,
        cameras,
        view_masks,
        progress=uplift_progress if progress is not None else None,
        cancel=cancel,
    )
    return SamPromptResult(
        scores=np.clip(uplifted.values[:, 0], 0.0, 1.0),
        beta=uplifted.beta,
        visible=uplifted.visible,
        view_masks=view_masks,
        prompted=prompted,
        points=points,
        notes=notes,
    )


# ---------------------------------------------------------------------------- one view
def _prompt_view(
    image: np.ndarray,
    rendered: np.ndarray,
    predictor: MaskPredictor,
    config: SamPromptConfig,
    index: int,
    camera: Camera,
    cancel: CancelToken | None,
) -> tuple[np.ndarray, np.ndarray, int]:
    """Draw prompts from one view's pool, call the predictor, average its best masks."""
    height, width = rendered.shape
    pool = np.flatnonzero(prompt_pool(rendered, config.pool_fraction))
    rng = np.random.default_rng([config.seed, index])
    count = config.points_per_draw
    labels = np.ones(count, dtype=np.int32)
    drawn = np.empty((config.draws, count, 2), dtype=np.float32)
    total = np.zeros((height, width), dtype=np.float64)
    for draw in range(config.draws):
        check_cancelled(cancel)
        pixels = rng.choice(pool, size=count, replace=len(pool) < count)
        rows, cols = np.divmod(pixels, width)
        drawn[draw, :, 0] = cols + 0.5
        drawn[draw, :, 1] = rows + 0.5
        masks = predictor.predict(image, drawn[draw].copy(), labels.copy())
        total += best_mask(masks, (height, width), index, camera)
    return (total / config.draws).astype(np.float32), drawn, len(pool)


def best_mask(masks: np.ndarray, shape: tuple[int, int], index: int, camera: Camera) -> np.ndarray:
    """The first mask of a predictor's answer as float64, after checking the answer."""
    where = f"view {index} (camera {camera.name!r})"
    masks = np.asarray(masks)
    if masks.ndim == 2:
        masks = masks[None]
    if masks.ndim != 3 or masks.shape[0] < 1 or masks.shape[1:] != shape:
        raise ValueError(
            f"{where}: the mask predictor returned shape {masks.shape}, expected "
            f"(M, {shape[0]}, {shape[1]}) with M >= 1 masks the size of the image"
        )
    best = masks[0]
    if best.dtype == bool:
        return best.astype(np.float64)
    if best.dtype.kind not in "iuf":
        raise ValueError(f"{where}: the mask predictor returned {best.dtype} masks, not numbers")
    best = best.astype(np.float64)
    if not np.isfinite(best).all() or best.min() < 0.0 or best.max() > 1.0:
        raise ValueError(
            f"{where}: the mask predictor returned values outside [0, 1] or NaN; return "
            "booleans or probabilities, not logits"
        )
    return best


# ---------------------------------------------------------------------------- checks
def check_images(images: Sequence[np.ndarray], cameras: Sequence[Camera]) -> list[np.ndarray]:
    """Float32 RGB images in [0, 1], one per camera with its aspect ratio."""
    if len(images) != len(cameras):
        raise ValueError(f"{len(cameras)} cameras but {len(images)} images were given")
    checked = []
    for index, (image, camera) in enumerate(zip(images, cameras, strict=True)):
        where = f"image {index} (camera {camera.name!r})"
        image = np.asarray(image)
        if image.ndim != 3 or image.shape[2] != 3 or min(image.shape[:2]) < 1:
            raise ValueError(f"{where} must be an (H, W, 3) RGB array, got shape {image.shape}")
        if image.dtype == np.uint8:
            image = image.astype(np.float32) / 255.0
        elif image.dtype.kind == "f":
            image = np.ascontiguousarray(image, dtype=np.float32)
            if not np.isfinite(image).all():
                raise ValueError(f"{where} contains NaN or inf")
        else:
            raise ValueError(f"{where} must be float in [0, 1] or uint8, got {image.dtype}")
        height, width = image.shape[:2]
        aspect, expected = width / height, camera.width / camera.height
        if abs(aspect - expected) > _ASPECT_TOLERANCE * expected:
            raise ValueError(
                f"{where} is {width}x{height} but the camera is {camera.width}x"
                f"{camera.height}: a different aspect ratio (is it the right image?)"
            )
        checked.append(image)
    return checked


def _normalised_reference(reference: np.ndarray, num_gaussians: int) -> np.ndarray:
    """Reference scores clipped at 0 and divided by their maximum, float32 (N,)."""
    values = np.asarray(reference)
    if values.ndim == 2 and values.shape[1] == 1:
        values = values[:, 0]
    if values.shape != (num_gaussians,):
        raise ValueError(
            f"reference must hold one score per Gaussian, shape ({num_gaussians},), got "
            f"{values.shape}"
        )
    if values.dtype == bool:
        values = values.astype(np.float64)
    if values.dtype.kind not in "iuf":
        raise ValueError(f"reference must be numeric, got {values.dtype}")
    values = values.astype(np.float64)
    if not np.isfinite(values).all():
        raise ValueError(f"reference holds {int((~np.isfinite(values)).sum())} NaN or inf scores")
    values = np.maximum(values, 0.0)
    peak = values.max() if len(values) else 0.0
    if peak <= 0:
        raise ValueError(
            "reference has no positive score: nothing to prompt with (give the uplifted "
            "reference mask, scores in [0, 1])"
        )
    return (values / peak).astype(np.float32)
