"""Mask-prototype contrastive losses on rendered features (Unified-Lift, DESIGN §5).

A training step renders features at pixels sampled from one view. Each mask with enough
sampled pixels gets a prototype (the mean of its pixels' normalised features) and a
temperature measuring how concentrated its pixels are; the ProtoNCE loss pulls every
pixel toward its own mask's prototype and away from the others. The same prototypes,
at a sharper temperature, give each pixel a confidence that its mask label is right
(the noisy-label filter).
"""

from __future__ import annotations

from dataclasses import dataclass

import torch

#: Masks with at most this many sampled pixels get no prototype in a step.
MIN_MASK_PIXELS = 20


@dataclass(frozen=True)
class MaskPrototypes:
    """Per-mask prototypes of one step's sampled pixels.

    Attributes
    ----------
    pixel_mask : (P,) int64 tensor
        Index into the prototypes of each pixel's mask; -1 for pixels whose mask has no
        prototype (too few sampled pixels).
    prototypes : (M, D) tensor
        Mean normalised feature of each kept mask (differentiable).
    spread : (M,) tensor
        The raw temperature ``φ_k = Σ_p ‖f_p − u_k‖ / (n_k ln(n_k + 10))`` (detached).
    counts : (M,) int64 tensor
        Sampled pixels per kept mask.
    """

    pixel_mask: torch.Tensor
    prototypes: torch.Tensor
    spread: torch.Tensor
    counts: torch.Tensor

    @property
    def num_masks(self) -> int:
        """Masks with a prototype."""
        return int(self.prototypes.shape[0])

    def temperatures(self, scale: float, low: float, high: float) -> torch.Tensor:
        """``clip(scale · φ_k, low, high)`` per mask."""
        return (self.spread * scale).clamp(low, high)


def normalise(features: torch.Tensor, eps: float = 1e-8) -> torch.Tensor:
    """Rows scaled to unit length (zero rows stay zero)."""
    return features / features.norm(dim=1, keepdim=True).clamp_min(eps)


def mask_prototypes(
    unit_features: torch.Tensor, masks: torch.Tensor, min_pixels: int = MIN_MASK_PIXELS
) -> MaskPrototypes:
    """Prototypes of the masks that have more than ``min_pixels`` sampled pixels.

    Parameters
    ----------
    unit_features : (P, D) tensor
        Normalised rendered features.
    masks : (P,) int64 tensor
        Mask index of each pixel (``0..M-1`` of the view).
    min_pixels
        Masks with at most this many pixels are left out (their pixels get -1).
    """
    num_masks = int(masks.max().item()) + 1 if masks.numel() else 0
    counts_all = torch.bincount(masks, minlength=num_masks)
    kept = torch.nonzero(counts_all > min_pixels).reshape(-1)
    remap = torch.full((num_masks,), -1, dtype=torch.int64, device=masks.device)
    remap[kept] = torch.arange(kept.numel(), device=masks.device)
    pixel_mask = remap[masks] if num_masks else masks
    inside = pixel_mask >= 0
    index = pixel_mask[inside]
    counts = counts_all[kept]
    dims = unit_features.shape[1]
    sums = unit_features.new_zeros((kept.numel(), dims)).index_add(0, index, unit_features[inside])
    prototypes = sums / counts.clamp_min(1).unsqueeze(1).to(sums.dtype)
    with torch.no_grad():
        distances = (unit_features[inside] - prototypes[index]).norm(dim=1)
        total = unit_features.new_zeros(kept.numel()).index_add(0, index, distances)
        n = counts.to(total.dtype)
        spread = total / (n * torch.log(n + 10.0))
    return MaskPrototypes(pixel_mask=pixel_mask, prototypes=prototypes, spread=spread,
                          counts=counts)  # fmt: skip


def proto_nce_loss(
    unit_features: torch.Tensor, prototypes: MaskPrototypes, temperatures: torch.Tensor
) -> torch.Tensor:
    """ProtoNCE: cross-entropy of ``f_p · u_k / φ_k`` over the masks, target the pixel's own.

    Pixels without a prototype are left out; with fewer than two prototypes the loss is 0.
    """
    inside = prototypes.pixel_mask >= 0
    if prototypes.num_masks < 2 or not bool(inside.any()):
        return unit_features.sum() * 0.0
    logits = unit_features[inside] @ prototypes.prototypes.T / temperatures.unsqueeze(0)
    return torch.nn.functional.cross_entropy(logits, prototypes.pixel_mask[inside])


def label_confidence(
    unit_features: torch.Tensor, prototypes: MaskPrototypes, temperatures: torch.Tensor
) -> torch.Tensor:
    """(P,) detached: each pixel's softmax share of its own mask's prototype (0 without one).

    Low values mark pixels whose feature sits with another mask's pixels: under- or
    over-segmented labels, which the noisy-label filter leaves out of the codebook losses.
    """
    with torch.no_grad():
        confidence = unit_features.new_zeros(unit_features.shape[0])
        inside = prototypes.pixel_mask >= 0
        if prototypes.num_masks == 0 or not bool(inside.any()):
            return confidence
        logits = unit_features[inside] @ prototypes.prototypes.T / temperatures.unsqueeze(0)
        shares = torch.softmax(logits, dim=1)
        own = prototypes.pixel_mask[inside].unsqueeze(1)
        confidence[inside] = shares.gather(1, own).squeeze(1)
        return confidence


def norm_regulariser(features: torch.Tensor) -> torch.Tensor:
    """Mean of ``(‖F_p‖ − 1)²`` over the rendered (unnormalised) features."""
    return ((features.norm(dim=1) - 1.0) ** 2).mean()
