"""The ``contrastive`` baseline: contrastive features, then HDBSCAN (Contrastive Lift, SAGA).

The features are those of the ``codebook`` method without the codebook
(:func:`~liftstudio.lift.contrastive_training.train_contrastive_features` with the same
defaults). Instances come from clustering, as in the two-stage methods the papers
compare against: HDBSCAN (scikit-learn) on the normalised features of a random
subsample of the seen Gaussians, each cluster summarised by its normalised mean, and
every rendered pixel of every training view given its most similar cluster; the label
maps are lifted with votes (:func:`~liftstudio.lift.label_decoding.decode_by_votes`),
the same read-out the codebook method uses, so the two differ only in codebook versus
clustering.

Defaults were tuned on the benchmark scenes, not left weak: the subsample is 20,000
Gaussians drawn in proportion to their visibility (well-seen Gaussians carry trained
features, barely seen ones are noise to the clustering), ``min_cluster_size`` is 0.1 %
of it, and HDBSCAN's noise points are not an instance (they get their nearest cluster
like every other Gaussian).
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
from sklearn.cluster import HDBSCAN

from liftstudio.jobs import CancelToken, ProgressCallback, check_cancelled, report
from liftstudio.lift.contrastive_training import ContrastiveConfig, train_contrastive_features
from liftstudio.lift.label_decoding import compact_labels, decode_by_votes
from liftstudio.lift.registry import LiftInputs, LiftOutput
from liftstudio.lift.training_views import TrainingSetConfig, training_views_for


@dataclass(frozen=True)
class ClusteringConfig:
    """HDBSCAN on a subsample of the features.

    Parameters
    ----------
    sample_size
        Gaussians clustered (drawn without replacement, in proportion to visibility).
    min_cluster_fraction
        HDBSCAN's ``min_cluster_size`` as a share of the subsample (at least 5).
    min_samples
        HDBSCAN's ``min_samples`` (None: equal to ``min_cluster_size``).
    """

    sample_size: int = 20_000
    min_cluster_fraction: float = 0.001
    min_samples: int | None = 5

    def __post_init__(self) -> None:
        if isinstance(self.sample_size, bool) or int(self.sample_size) != self.sample_size:
            raise ValueError(f"sample_size must be an integer, got {self.sample_size!r}")
        if self.sample_size < 10:
            raise ValueError(f"sample_size must be at least 10, got {self.sample_size}")
        if not 0.0 < self.min_cluster_fraction < 1.0:
            raise ValueError(
                f"min_cluster_fraction must be in (0, 1), got {self.min_cluster_fraction!r}"
            )

    def min_cluster_size(self, sample: int) -> int:
        """HDBSCAN's ``min_cluster_size`` for a subsample of ``sample`` Gaussians."""
        return max(5, round(self.min_cluster_fraction * sample))


def cluster_centroids(
    features: np.ndarray,
    visibility: np.ndarray,
    config: ClusteringConfig,
    seed: int = 0,
) -> np.ndarray:
    """(C, D) unit-length centroids of the HDBSCAN clusters of a feature subsample.

    Parameters
    ----------
    features : (N, D)
        Per-Gaussian features (their direction is clustered).
    visibility : (N,)
        Sampling weights (0 = never drawn).
    config
        Subsample and HDBSCAN settings.
    seed
        Seed of the subsample.

    Returns
    -------
    (C, D) float32
        One centroid per cluster; a single centroid (the mean direction) when HDBSCAN
        finds no cluster at all.

    Raises
    ------
    ValueError
        If no Gaussian has positive visibility.
    """
    candidates = np.flatnonzero(visibility > 0)
    if candidates.size == 0:
        raise ValueError("no Gaussian is seen by the training views; nothing to cluster")
    unit = _unit(features[candidates])
    rng = np.random.default_rng([seed, 2])
    size = min(config.sample_size, candidates.size)
    p = visibility[candidates].astype(np.float64)
    chosen = rng.choice(candidates.size, size=size, replace=False, p=p / p.sum())
    sample = unit[chosen]
    min_size = config.min_cluster_size(size)
    clusterer = HDBSCAN(
        min_cluster_size=min_size,
        min_samples=config.min_samples if config.min_samples is not None else min_size,
        copy=True,
    )
    assignment = clusterer.fit_predict(sample)
    clusters = [c for c in np.unique(assignment) if c >= 0]
    if not clusters:
        return _unit(sample.mean(axis=0, keepdims=True)).astype(np.float32)
    centroids = np.stack([sample[assignment == c].mean(axis=0) for c in clusters])
    return _unit(centroids).astype(np.float32)


def nearest_centroid(features: np.ndarray, centroids: np.ndarray) -> np.ndarray:
    """(P,) int64: the centroid of largest cosine similarity for each row of ``features``."""
    return np.argmax(_unit(features) @ centroids.T, axis=1)


@dataclass(frozen=True)
class ContrastiveMethod:
    """Contrastive features clustered with HDBSCAN (the two-stage baseline).

    Parameters
    ----------
    views, training
        As for the codebook method (the same defaults).
    clustering
        The clustering of the features.
    min_visibility
        Gaussians with less summed blending weight stay unlabeled.
    """

    views: TrainingSetConfig = field(default_factory=TrainingSetConfig)
    training: ContrastiveConfig = field(default_factory=ContrastiveConfig)
    clustering: ClusteringConfig = field(default_factory=ClusteringConfig)
    min_visibility: float = 0.05
    name: str = "contrastive"
    description: str = "baseline: contrastive features clustered with HDBSCAN (Contrastive Lift)"

    def __call__(
        self,
        inputs: LiftInputs,
        *,
        progress: ProgressCallback | None = None,
        cancel: CancelToken | None = None,
    ) -> LiftOutput:
        """Train features on the label maps of ``inputs``, cluster them, label by votes."""
        training = training_views_for(inputs, self.views, progress=progress, cancel=cancel)
        trained = train_contrastive_features(
            training, self.training, None, seed=inputs.seed,
            positions=inputs.gaussians.means, what=self.name,
            progress=progress, cancel=cancel,
        )  # fmt: skip
        check_cancelled(cancel)
        report(progress, 0, 1, "clustering the features (HDBSCAN)")
        visibility = np.where(training.seen(self.min_visibility), training.visibility, 0.0)
        centroids = cluster_centroids(trained.features, visibility, self.clustering, inputs.seed)
        report(progress, 1, 1, f"clustering the features ({len(centroids)} clusters)")
        decoded = decode_by_votes(
            training,
            trained.features,
            lambda rendered: nearest_centroid(rendered, centroids) + 1,
            min_visibility=self.min_visibility,
            progress=progress,
            cancel=cancel,
        )
        return LiftOutput(
            labels=compact_labels(decoded.labels),
            confidence=decoded.confidence,
            features=trained.features,
            history=trained.history,
        )


def _unit(values: np.ndarray) -> np.ndarray:
    return values / np.maximum(np.linalg.norm(values, axis=1, keepdims=True), 1e-8)


METHOD = ContrastiveMethod()
