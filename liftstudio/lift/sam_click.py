"""Select an object in 3D from one click on one training view (LUDVIG's SAM mode).

:func:`sam_click_scores` turns a click into per-Gaussian scores in four steps:

1. ask a promptable segmenter (a :class:`~liftstudio.lift.sam_prompt.MaskPredictor`,
   SAM in practice) for the object under the click in the clicked view's image, with
   the click as a positive point plus any extra positive or negative points, keeping
   its first (best) mask;
2. uplift that single mask onto the Gaussians through the clicked view's camera
   (:func:`~liftstudio.lift.uplift.uplift_view`) and divide by the largest score:
   the *reference*, non-zero only on Gaussians the clicked view sees;
3. run LUDVIG's prompt loop (:func:`~liftstudio.lift.sam_prompt.sam_prompt_loop`)
   over all training views from that reference: render it in every view, draw
   prompts from its brightest pixels, average the predictor's masks, uplift them;
4. return the loop's scores in [0, 1] (:class:`SamClickResult`), with the reference,
   the clicked mask and the loop's full result for display.

Click coordinates are continuous pixel coordinates of the clicked *image* (which may
be smaller or larger than its camera, with the same aspect ratio): the centre of pixel
``(row i, column j)`` is ``(j + 0.5, i + 0.5)`` and the image covers ``[0, W] × [0,
H]``.

:func:`load_click_predictor` makes the real predictor (SAM from a checkpoint);
``torch`` and ``segment_anything`` are imported only there.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from liftstudio.errors import LiftStudioError
from liftstudio.jobs import CancelToken, ProgressCallback, check_cancelled, report
from liftstudio.lift.sam_prompt import (
    MaskPredictor,
    SamPromptConfig,
    SamPromptResult,
    best_mask,
    check_images,
    sam_prompt_loop,
)
from liftstudio.lift.uplift import uplift_view
from liftstudio.render.backend import RenderBackend
from liftstudio.scene.camera import Camera
from liftstudio.scene.gaussians import GaussianScene

if TYPE_CHECKING:
    import torch

#: Default cut of :meth:`SamClickResult.selection`.
DEFAULT_THRESHOLD = 0.5

#: A float mask's pixel belongs to the clicked mask when its probability reaches this.
MASK_LEVEL = 0.5


class SamClickError(LiftStudioError, ValueError):
    """A click that cannot be turned into a selection (shown to the user as one line)."""


@dataclass(frozen=True)
class SamClickResult:
    """What :func:`sam_click_scores` found.

    Attributes
    ----------
    scores : (N,) float32
        The loop's uplifted averaged masks, in [0, 1]; 0 for Gaussians no view saw.
    reference : (N,) float32
        The clicked mask uplifted through the clicked view alone, divided by its
        largest value (so in [0, 1] with maximum 1); 0 where the clicked view does not
        see the Gaussian.
    clicked_mask : (H, W) bool
        The predictor's best mask in the clicked view, at the clicked image's size.
    prompt : SamPromptResult
        The loop's full result (per-view masks, prompt points, visibility, notes).
    threshold : float
        Default cut of :meth:`selection`, in (0, 1].
    """

    scores: np.ndarray
    reference: np.ndarray
    clicked_mask: np.ndarray
    prompt: SamPromptResult
    threshold: float = DEFAULT_THRESHOLD

    def __post_init__(self) -> None:
        _check_threshold(self.threshold)

    def selection(self, threshold: float | None = None) -> np.ndarray:
        """Indices of the Gaussians whose score is at least ``threshold``.

        Parameters
        ----------
        threshold
            In (0, 1]; default :attr:`threshold`. The comparison is ``scores >=
            threshold``; since the threshold is positive, Gaussians no view saw
            (score 0) are never selected.

        Returns
        -------
        (K,) int64
            Sorted indices.

        Raises
        ------
        ValueError
            For a threshold outside (0, 1].
        """
        cut = self.threshold if threshold is None else _check_threshold(threshold)
        return np.flatnonzero(self.scores >= cut).astype(np.int64)


def sam_click_scores(
    backend: RenderBackend,
    scene: GaussianScene,
    cameras: Sequence[Camera],
    images: Sequence[np.ndarray],
    view_index: int,
    point_xy: Sequence[float] | np.ndarray,
    predictor: MaskPredictor,
    *,
    extra_points: np.ndarray | None = None,
    negative_points: np.ndarray | None = None,
    config: SamPromptConfig | None = None,
    threshold: float = DEFAULT_THRESHOLD,
    progress: ProgressCallback | None = None,
    cancel: CancelToken | None = None,
) -> SamClickResult:
    """Per-Gaussian scores of the object under a click (see the module docstring).

    Parameters
    ----------
    backend, scene
        Render backend and Gaussians.
    cameras
        The training views.
    images
        One (H, W, 3) RGB image per camera, float in [0, 1] or uint8, each of its
        camera's aspect ratio.
    view_index
        Index of the clicked view in ``cameras`` (0 to V-1).
    point_xy
        The click, ``(x, y)`` in the clicked image's continuous pixel coordinates.
    predictor
        The mask predictor (SAM, see :func:`load_click_predictor`, or a stand-in).
    extra_points : (P, 2) float, optional
        More positive points in the clicked view, same coordinates.
    negative_points : (Q, 2) float, optional
        Negative points (not the object) in the clicked view, same coordinates.
    config
        Settings of the prompt loop (default :class:`SamPromptConfig`).
    threshold
        Default cut of the result's :meth:`SamClickResult.selection`, in (0, 1].
    progress
        One step for the click, then the loop's steps (one per view, then one per
        view of the uplift).
    cancel
        Checked before the click's predictor call and its uplift, then by the loop.

    Returns
    -------
    SamClickResult

    Raises
    ------
    SamClickError
        If ``view_index`` is out of range, a point is not finite or outside the
        clicked image, the predictor finds no object under the click, or the clicked
        mask covers no Gaussian.
    ValueError
        For bad images or predictor answers (see
        :func:`~liftstudio.lift.sam_prompt.sam_prompt_loop`) or a bad threshold.
    liftstudio.jobs.JobCancelled
        If ``cancel`` was set; nothing is returned.
    """
    _check_threshold(threshold)
    checked = check_images(images, cameras)
    index = _check_view_index(view_index, len(cameras))
    camera, image = cameras[index], checked[index]
    points, labels = _click_prompt(image.shape[:2], point_xy, extra_points, negative_points)
    steps = 1
    report(progress, 0, steps, f"SAM click in view {camera.name}")

    check_cancelled(cancel)
    mask = _clicked_mask(predictor, image, points, labels, index, camera)
    check_cancelled(cancel)
    reference = _clicked_reference(backend, scene, camera, mask)
    report(progress, 1, steps, f"SAM click in view {camera.name}")

    def loop_progress(done: int, total: int, message: str) -> None:
        report(progress, steps + done, steps + total, message)

    prompt = sam_prompt_loop(
        backend,
        scene,
        cameras,
        checked,
        reference,
        predictor,
        config=config,
        progress=loop_progress if progress is not None else None,
        cancel=cancel,
    )
    return SamClickResult(
        scores=np.asarray(prompt.scores, dtype=np.float32),
        reference=reference,
        clicked_mask=mask,
        prompt=prompt,
        threshold=float(threshold),
    )


def load_click_predictor(
    checkpoint: str | Path,
    model_type: str = "auto",
    device: str | torch.device | None = None,
) -> MaskPredictor:
    """SAM from a checkpoint, as the predictor :func:`sam_click_scores` takes.

    Parameters
    ----------
    checkpoint
        A SAM ``.pth`` checkpoint (see :func:`liftstudio.sources.sam_checkpoints.load_sam`).
    model_type
        ``"auto"`` (any SAM architecture) or ``"vit_h"``, ``"vit_l"``, ``"vit_b"``,
        ``"default"`` to insist on one.
    device
        Where to run it; ``None`` picks CUDA when available, else the CPU.

    Returns
    -------
    MaskPredictor
        A :class:`liftstudio.sources.sam.SamPromptPredictor`.

    Raises
    ------
    liftstudio.sources.sam_checkpoints.SamUnavailable
        When ``segment_anything`` (or torch/torchvision) cannot be imported.
    liftstudio.errors.InputFileError
        For a missing, corrupt or non-SAM checkpoint, or another architecture than
        ``model_type``.
    ValueError
        For an unknown ``model_type``.
    """
    from liftstudio.sources.sam import SamPromptPredictor
    from liftstudio.sources.sam_checkpoints import load_sam

    return SamPromptPredictor(load_sam(checkpoint, model_type=model_type, device=device))


# ---------------------------------------------------------------------------- steps
def _clicked_mask(
    predictor: MaskPredictor,
    image: np.ndarray,
    points: np.ndarray,
    labels: np.ndarray,
    index: int,
    camera: Camera,
) -> np.ndarray:
    """The predictor's best mask under the click, as (H, W) bool; never empty."""
    height, width = image.shape[:2]
    answer = predictor.predict(image, points.copy(), labels.copy())
    mask = best_mask(answer, (height, width), index, camera) >= MASK_LEVEL
    if not mask.any():
        x, y = points[0]
        raise SamClickError(
            f"SAM found no object under the click at ({x:.1f}, {y:.1f}) in view "
            f"{camera.name}; click inside an object"
        )
    return mask


def _clicked_reference(
    backend: RenderBackend, scene: GaussianScene, camera: Camera, mask: np.ndarray
) -> np.ndarray:
    """The clicked mask uplifted through its view, divided by its maximum (float32)."""
    values = uplift_view(backend, scene, camera, mask).values[:, 0]
    peak = float(values.max()) if len(values) else 0.0
    if not peak > 0.0:
        raise SamClickError(
            f"the mask clicked in view {camera.name} covers no Gaussian: nothing of the "
            "scene is drawn there; click on the reconstructed object"
        )
    return (values / peak).astype(np.float32)


# ---------------------------------------------------------------------------- checks
def _check_threshold(threshold: float) -> float:
    """``threshold`` as a float in (0, 1], or ValueError."""
    value = float(threshold)
    if not 0.0 < value <= 1.0:
        raise ValueError(f"threshold must lie in (0, 1], got {threshold!r}")
    return value


def _check_view_index(view_index: int, count: int) -> int:
    """``view_index`` as an int in [0, count), or SamClickError."""
    if isinstance(view_index, bool) or not isinstance(view_index, int | np.integer):
        raise SamClickError(f"view_index must be an integer, got {view_index!r}")
    if not 0 <= view_index < count:
        raise SamClickError(f"view_index {view_index} is out of range: there are {count} views")
    return int(view_index)


def _click_prompt(
    shape: tuple[int, int],
    point_xy: Sequence[float] | np.ndarray,
    extra_points: np.ndarray | None,
    negative_points: np.ndarray | None,
) -> tuple[np.ndarray, np.ndarray]:
    """Prompt points (click first, extra positives, negatives) and their labels."""
    click = _check_points(point_xy, shape, "the click", single=True)
    extra = _check_points(extra_points, shape, "extra_points")
    negative = _check_points(negative_points, shape, "negative_points")
    points = np.concatenate([click, extra, negative]).astype(np.float32)
    labels = np.concatenate(
        [np.ones(1 + len(extra), dtype=np.int32), np.zeros(len(negative), dtype=np.int32)]
    )
    return points, labels


def _check_points(
    points: Sequence[float] | np.ndarray | None,
    shape: tuple[int, int],
    name: str,
    *,
    single: bool = False,
) -> np.ndarray:
    """(P, 2) float64 finite points inside an image of ``shape`` = (H, W)."""
    if points is None:
        return np.zeros((0, 2), dtype=np.float64)
    try:
        values = np.asarray(points, dtype=np.float64)
    except (TypeError, ValueError):
        raise SamClickError(f"{name} must be (x, y) numbers, got {points!r}") from None
    if single:
        if values.shape != (2,):
            raise SamClickError(f"{name} must be one (x, y) point, got shape {values.shape}")
        values = values[None]
    elif values.ndim != 2 or values.shape[1] != 2:
        raise SamClickError(f"{name} must be (P, 2) (x, y) points, got shape {values.shape}")
    if not np.isfinite(values).all():
        raise SamClickError(f"{name} holds NaN or inf coordinates: {values.tolist()}")
    height, width = shape
    outside = (values[:, 0] < 0) | (values[:, 0] > width) | (values[:, 1] < 0)
    outside |= values[:, 1] > height
    if outside.any():
        x, y = values[np.argmax(outside)]
        raise SamClickError(f"{name} at ({x:.1f}, {y:.1f}) lies outside the {width}x{height} image")
    return values
