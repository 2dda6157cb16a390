"""Contrastive per-Gaussian features, with or without Unified-Lift's object codebook.

One routine trains both the ``codebook`` method (Unified-Lift) and the ``contrastive``
baseline, so the baseline gets exactly the same features minus the codebook. A step:

1. take the next view of a shuffled schedule and sample ``pixels_per_step`` of its
   masked pixels;
2. render the features there (a sparse gather through the operator rows) and
   normalise them;
3. ProtoNCE toward per-mask prototypes with per-mask temperatures ``clip(10 φ_k, 0.5, 1)``
   over masks with more than 20 sampled pixels, plus the norm regulariser ``(‖F‖−1)²``;
4. with a codebook (``L × D``): each pixel's distribution over the codes is
   ``softmax(C f_p / τ)`` of its *detached* normalised feature; the masks are matched to
   codes by the area-aware Hungarian mapping (:mod:`~liftstudio.lift.id_matching`);
   pixels whose label confidence (ProtoNCE shares at temperature ``clip(0.1 φ_k, 0.1, 1)``)
   exceeds 0.2 enter a cross-entropy toward their mask's code (class loss) and the squared
   distance between the code and the feature (concentration loss). Only the codebook
   learns from these two, since the features are detached.

Choices the paper leaves open, made here: the features start as small Gaussian noise and
the codebook as unit-length random codes; the code logits are divided by a temperature
τ = 0.1 (:attr:`CodebookConfig.temperature`); the codebook losses start after a warm-up
(:attr:`CodebookConfig.warmup_fraction`), when the contrastive features have formed and the
matching is meaningful; one Adam optimiser with a learning rate per parameter.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch

from liftstudio.jobs import CancelToken, ProgressCallback
from liftstudio.lift.contrastive_losses import (
    label_confidence,
    mask_prototypes,
    norm_regulariser,
    normalise,
    proto_nce_loss,
)
from liftstudio.lift.feature_training import (
    TrainingHistory,
    adam,
    batch_tensors,
    render_pixels,
    run_steps,
    seeded_generator,
    torch_device,
    view_schedule,
)
from liftstudio.lift.id_matching import assignment_cost, match_masks_to_identities
from liftstudio.lift.training_views import TrainingSet


@dataclass(frozen=True)
class ContrastiveConfig:
    """Training settings of the contrastive features.

    Parameters
    ----------
    dims
        Feature dimensions per Gaussian (Unified-Lift: 16).
    steps
        Optimisation steps (one view each).
    pixels_per_step
        Masked pixels sampled per step (Unified-Lift: 32,768).
    learning_rate
        Adam learning rate of the features.
    norm_weight
        Weight of the norm regulariser.
    temperature_scale, temperature_range
        Per-mask ProtoNCE temperature ``clip(scale · φ_k, *range)``.
    device
        Torch device (None: CUDA when present, else CPU).
    """

    dims: int = 16
    steps: int = 1500
    pixels_per_step: int = 32_768
    learning_rate: float = 0.01
    norm_weight: float = 0.1
    temperature_scale: float = 10.0
    temperature_range: tuple[float, float] = (0.5, 1.0)
    device: str | None = None

    def __post_init__(self) -> None:
        for name in ("dims", "steps", "pixels_per_step"):
            value = getattr(self, name)
            if isinstance(value, bool) or int(value) != value or value < 1:
                raise ValueError(f"{name} must be a positive integer, got {value!r}")
        if not self.learning_rate > 0:
            raise ValueError(f"learning_rate must be > 0, got {self.learning_rate!r}")


@dataclass(frozen=True)
class CodebookConfig:
    """The object codebook of Unified-Lift.

    Parameters
    ----------
    size
        Codes L, the most objects the scene may hold (Unified-Lift: 256).
    temperature
        The code distribution is ``softmax(C f / temperature)``. The concentration loss
        keeps codes near unit length, so without a temperature below 1 the distribution
        over hundreds of codes could never be peaked.
    learning_rate
        Adam learning rate of the codebook.
    class_weight, concentration_weight
        Weights of the class (cross-entropy) and concentration losses.
    warmup_fraction
        Share of the steps trained on the contrastive losses alone before the codebook
        losses start.
    pixels
        The step's sampled pixels (those of masks with a prototype) that enter the
        codebook losses and the matching, at most. The area sums of the matching keep
        their proportions on a random subset; the codebook has only ``L × D`` numbers to
        learn, and on a CPU the ``P × L`` code distribution would otherwise cost three
        times the rest of the step.
    filter_scale, filter_range, min_confidence
        Noisy-label filter: temperature ``clip(scale · φ_k, *range)``; pixels whose
        confidence is at most ``min_confidence`` are left out of the codebook losses.
    """

    size: int = 256
    temperature: float = 0.1
    learning_rate: float = 0.01
    class_weight: float = 1.0
    concentration_weight: float = 1.0
    warmup_fraction: float = 0.3
    pixels: int = 4096
    filter_scale: float = 0.1
    filter_range: tuple[float, float] = (0.1, 1.0)
    min_confidence: float = 0.2

    def __post_init__(self) -> None:
        if isinstance(self.size, bool) or int(self.size) != self.size or self.size < 2:
            raise ValueError(f"codebook size must be an integer >= 2, got {self.size!r}")
        if not 0.0 <= self.warmup_fraction < 1.0:
            raise ValueError(f"warmup_fraction must be in [0, 1), got {self.warmup_fraction!r}")


@dataclass(frozen=True)
class TrainedFeatures:
    """The result of :func:`train_contrastive_features`.

    Attributes
    ----------
    features : (N, D) float32
        Per-Gaussian features (unnormalised; their direction is what was trained).
    codebook : (L, D) float32 or None
        The codes, when a codebook was trained.
    history
        The loss log.
    """

    features: np.ndarray
    codebook: np.ndarray | None
    history: TrainingHistory


def train_contrastive_features(
    training: TrainingSet,
    config: ContrastiveConfig,
    codebook: CodebookConfig | None = None,
    *,
    seed: int = 0,
    what: str = "contrastive features",
    progress: ProgressCallback | None = None,
    cancel: CancelToken | None = None,
) -> TrainedFeatures:
    """Train per-Gaussian features (and a codebook) on the masked pixels of ``training``.

    Parameters
    ----------
    training
        The views (:func:`~liftstudio.lift.training_views.prepare_training_views`).
    config
        Feature training settings.
    codebook
        Train an object codebook alongside (Unified-Lift); None for plain features.
    seed
        Seeds the initialisation, the view order and the pixel samples: the same seed
        on the same inputs gives the same result on the CPU.
    what, progress, cancel
        See :func:`~liftstudio.lift.feature_training.run_steps`.
    """
    device = torch_device(config.device)
    generator = seeded_generator(seed)
    rng = np.random.default_rng([seed, 1])
    schedule = view_schedule(training, config.steps, rng)
    features = (
        (0.1 * torch.randn(training.num_gaussians, config.dims, generator=generator))
        .to(device)
        .requires_grad_(True)
    )
    parameters, rates = [features], [config.learning_rate]
    codes = None
    if codebook is not None:
        codes = normalise(torch.randn(codebook.size, config.dims, generator=generator))
        codes = codes.to(device).requires_grad_(True)
        parameters.append(codes)
        rates.append(codebook.learning_rate)
        codebook_start = int(codebook.warmup_fraction * config.steps)
    optimiser = adam(parameters, rates)
    low, high = config.temperature_range

    def step(index: int) -> dict[str, float]:
        view = training.views[schedule[index]]
        batch = view.sample(config.pixels_per_step, rng)
        ids, weights = batch_tensors(batch, device)
        masks = torch.from_numpy(batch.masks).to(device)
        rendered = render_pixels(features, ids, weights)
        unit = normalise(rendered)
        prototypes = mask_prototypes(unit, masks)
        temperatures = prototypes.temperatures(config.temperature_scale, low, high)
        contrast = proto_nce_loss(unit, prototypes, temperatures)
        norm = norm_regulariser(rendered)
        loss = contrast + config.norm_weight * norm
        losses = {"contrastive": contrast.item(), "norm": norm.item()}
        if codes is not None and index >= codebook_start and prototypes.num_masks > 0:
            class_loss, concentration = _codebook_losses(unit, prototypes, codes, codebook)
            loss = loss + codebook.class_weight * class_loss
            loss = loss + codebook.concentration_weight * concentration
            losses.update(classes=class_loss.item(), concentration=concentration.item())
        optimiser.zero_grad(set_to_none=True)
        loss.backward()
        optimiser.step()
        losses["total"] = loss.item()
        return losses

    history = run_steps(config.steps, step, what=what, progress=progress, cancel=cancel)
    return TrainedFeatures(
        features=features.detach().cpu().numpy().astype(np.float32),
        codebook=None if codes is None else codes.detach().cpu().numpy().astype(np.float32),
        history=history,
    )


def _codebook_losses(
    unit: torch.Tensor, prototypes, codes: torch.Tensor, config: CodebookConfig
) -> tuple[torch.Tensor, torch.Tensor]:
    """Class and concentration losses of one step (the features are detached)."""
    temperatures = prototypes.temperatures(config.filter_scale, *config.filter_range)
    confidence = label_confidence(unit, prototypes, temperatures)
    inside = torch.nonzero(prototypes.pixel_mask >= 0).reshape(-1)
    if inside.numel() > config.pixels:
        # The pixels were sampled at random, so their first ``pixels`` are a random subset.
        inside = inside[: config.pixels]
    features = unit.detach()[inside]
    pixel_mask = prototypes.pixel_mask[inside]
    log_shares = torch.log_softmax(features @ codes.T / config.temperature, dim=1)
    cost = assignment_cost(log_shares.detach().exp(), pixel_mask, prototypes.num_masks)
    matched = torch.from_numpy(match_masks_to_identities(cost)).to(unit.device)
    pixel_code = matched[pixel_mask]
    keep = (pixel_code >= 0) & (confidence[inside] > config.min_confidence)
    if not bool(keep.any()):
        zero = codes.sum() * 0.0
        return zero, zero
    targets = pixel_code[keep]
    class_loss = torch.nn.functional.nll_loss(log_shares[keep], targets)
    concentration = ((codes[targets] - features[keep]) ** 2).sum(dim=1).mean()
    return class_loss, concentration
