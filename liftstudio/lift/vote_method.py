"""The ``vote`` lifting method: sparse label votes on consistent label maps (FlashSplat)."""

from __future__ import annotations

from dataclasses import dataclass

from liftstudio.jobs import CancelToken, ProgressCallback
from liftstudio.lift.registry import LiftInputs, LiftOutput
from liftstudio.lift.votes import accumulate_votes, assign_labels


@dataclass(frozen=True)
class VoteMethod:
    """Votes of every training view, then an exclusive argmax per Gaussian.

    Parameters
    ----------
    slots
        Labels kept per Gaussian.
    top_k
        Gaussians kept per pixel in the operator rows.
    gamma
        Background bias in [-1, 1] (FlashSplat's γ; 0 = plain majority).
    min_margin
        Lead the best label needs over the second, as a share of the Gaussian's
        visibility, else the Gaussian is left unlabeled as uncertain.
    """

    slots: int = 4
    top_k: int = 16
    gamma: float = 0.0
    min_margin: float = 0.05
    name: str = "vote"
    description: str = "sparse label votes on label maps whose ids agree across views (FlashSplat)"

    def __call__(
        self,
        inputs: LiftInputs,
        *,
        progress: ProgressCallback | None = None,
        cancel: CancelToken | None = None,
    ) -> LiftOutput:
        """Lift the label maps of ``inputs`` by votes."""
        votes = accumulate_votes(
            inputs.backend,
            inputs.gaussians,
            inputs.cameras,
            inputs.label_maps,
            slots=self.slots,
            top_k=self.top_k,
            progress=progress,
            cancel=cancel,
        )
        assignment = assign_labels(votes, gamma=self.gamma, min_margin=self.min_margin)
        return LiftOutput(labels=assignment.labels, confidence=assignment.confidence)


METHOD = VoteMethod()
