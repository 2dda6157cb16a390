"""The ``codebook`` lifting method: Unified-Lift's end-to-end object codebook (DESIGN §5).

Contrastive per-Gaussian features and an object codebook are trained together on the
per-view masks (:func:`~liftstudio.lift.contrastive_training.train_contrastive_features`);
no clustering follows. Unified-Lift infers per pixel: the code most similar to the
rendered feature. Per-Gaussian labels are read the same way
(:func:`~liftstudio.lift.label_decoding.decode_by_votes`): every covered pixel of every
training view gets its nearest code, and those maps, consistent across views through the
codebook, are lifted with sparse votes. Reading the code of each Gaussian's own feature
instead left 20–30 % of the Gaussians low on small objects on the table's code (a
Gaussian's own feature is only loosely tied down by the blends it takes part in). Codes
no Gaussian won are dropped and the rest numbered ``1..M`` in code order; the
confidence is the winning code's lead in the votes over the runner-up. Gaussians the
training views (almost) never see stay unlabeled (0).

Clicking a Gaussian (or a pixel) then selects its whole code: :func:`same_code_selection`.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from liftstudio.jobs import CancelToken, ProgressCallback
from liftstudio.lift.contrastive_training import (
    CodebookConfig,
    ContrastiveConfig,
    train_contrastive_features,
)
from liftstudio.lift.label_decoding import compact_labels, decode_by_votes
from liftstudio.lift.registry import LiftInputs, LiftOutput
from liftstudio.lift.training_views import TrainingSetConfig, training_views_for
from liftstudio.render.results import PickResult


def nearest_code(features: np.ndarray, codebook: np.ndarray) -> np.ndarray:
    """(P,) int64: ``argmax_k C_k · f / ‖f‖`` for each row ``f`` of ``features`` (0-based)."""
    unit = features / np.maximum(np.linalg.norm(features, axis=1, keepdims=True), 1e-8)
    return np.argmax(unit @ codebook.T, axis=1)


def same_code_selection(labels: np.ndarray, picked: int | PickResult | None) -> np.ndarray:
    """(N,) bool: every Gaussian that shares the label (code) of the picked one.

    ``picked`` is a Gaussian index, or the :class:`PickResult` under a clicked pixel (its
    front Gaussian, the one with the largest weight, decides). Nothing is selected when
    nothing was picked or the picked Gaussian is unlabeled.
    """
    if isinstance(picked, PickResult):
        picked = picked.front
    if picked is None or labels[picked] == 0:
        return np.zeros(len(labels), dtype=bool)
    return labels == labels[picked]


@dataclass(frozen=True)
class CodebookMethod:
    """Unified-Lift on frozen geometry.

    Parameters
    ----------
    views
        Which pixels and operator rows are extracted.
    training
        Feature training.
    codebook
        The codebook and its losses.
    min_visibility
        Gaussians with less summed blending weight over the training views stay
        unlabeled (in pixels).
    """

    views: TrainingSetConfig = field(default_factory=TrainingSetConfig)
    training: ContrastiveConfig = field(default_factory=ContrastiveConfig)
    codebook: CodebookConfig = field(default_factory=CodebookConfig)
    min_visibility: float = 0.05
    name: str = "codebook"
    description: str = (
        "Unified-Lift: contrastive features and an object codebook trained end to end"
    )

    def __call__(
        self,
        inputs: LiftInputs,
        *,
        progress: ProgressCallback | None = None,
        cancel: CancelToken | None = None,
    ) -> LiftOutput:
        """Train on the label maps of ``inputs`` and read the labels off the codebook."""
        training = training_views_for(inputs, self.views, progress=progress, cancel=cancel)
        trained = train_contrastive_features(
            training, self.training, self.codebook, seed=inputs.seed,
            positions=inputs.gaussians.means, what=self.name,
            progress=progress, cancel=cancel,
        )  # fmt: skip
        codebook = trained.codebook
        assert codebook is not None
        decoded = decode_by_votes(
            training,
            trained.features,
            lambda rendered: nearest_code(rendered, codebook) + 1,
            min_visibility=self.min_visibility,
            progress=progress,
            cancel=cancel,
        )
        return LiftOutput(
            labels=compact_labels(decoded.labels),
            confidence=decoded.confidence,
            features=trained.features,
            history=trained.history,
            segments=nearest_code(trained.features, codebook),
        )


METHOD = CodebookMethod()
