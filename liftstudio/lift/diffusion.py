"""LUDVIG graph diffusion over a kNN graph of Gaussians, and a label-propagation variant.

LUDVIG (§4.3 of the paper, DESIGN §5) spreads a seed — usually an uplifted scribble —
over the k-nearest-neighbour graph of the Gaussian centres, letting it pass between
neighbours with similar features while a per-node *gate* stops it from leaking into
Gaussians unlike the seeds. Here, for per-Gaussian features ``f`` (N, D):

Seeds (:func:`initial_weights`)
    Seed scores ``s`` (N,) ≥ 0 (e.g. each Gaussian's uplifted share of a scribble) are
    divided by their mean over the positive entries; the anchor nodes are the top
    ``seed_fraction`` of the positive-scored Gaussians (``ceil(fraction · #positive)``
    of them, at least one; ties at the cut-off are all kept, so a boolean selection
    seeds all of its Gaussians). ``g_0`` is the normalised score on the anchors and 0
    elsewhere.
Edges
    ``w_ij = exp(-‖f_i - f_j‖² / (b_f · m²))`` for ``j`` among the k neighbours of
    ``i``, with ``m²`` the median squared feature distance along the k edges of the
    anchor rows (the squared median distance, up to the midpoint rule for even counts).
    ``P`` is ``w`` normalised to unit row sums (a row whose weights all underflow is 0).
Gate (one value per node, at most 1)
    ``"distance"``: ``exp(-‖f_i - f̄‖² / (b_p · m_g²))`` with ``f̄`` the mean anchor
    feature and ``m_g²`` the median squared distance of the anchors to ``f̄``.
    ``"logistic"``: ``exp((P_i - 1) / b_p)`` with ``P_i`` the probability of a balanced
    L2 logistic regression (C = 0.01) trained on the anchors against a random sample
    of the other Gaussians — eq. 8 of the paper, ``exp(P_i / b_p)``, scaled by the
    constant ``exp(-1/b_p)`` so that the gate is at most 1.
    The paper's similarities are cosine; DESIGN §5 and this module use squared
    Euclidean distances scaled by the seeds' own spread, so one bandwidth fits
    features of any scale. Explicit negative Gaussians get gate 0.
Iteration
    ``g_t = gate ⊙ (P g_{t-1})``, rescaled so that ``max g_t = 1`` after each step, for
    a fixed number of steps; the output is ``g_T`` in [0, 1].

**Seeds are not clamped**: as in the paper (``g_t = A g_{t-1}``) the anchors only
start the diffusion. Uplifted scribbles always hit some Gaussians of the background
(object edges, Gaussians behind the object): on the generated tabletop scenes about
a quarter of the anchors lie off the object. Unclamped, those die out under the
gate; clamped seeds would keep feeding their surroundings, and with a row-averaging
``P`` the clamped steady state falls off quickly away from the anchors (on the same
scenes clamping lowered the IoU at every bandwidth tried). Unclamped, the iteration
is a power iteration: a uniform gate only scales ``g``, so what matters is how the
gate *varies*, compounded over the steps — a node whose gate is 5 % lower than the
seeds' falls behind by ``0.95^T`` — so useful gate bandwidths are of the order of
the number of steps (tens to hundreds) for the distance gate. Values below
:data:`FLUSH` of the maximum are set to 0; nodes the seeds cannot reach (another
connected component) stay exactly 0.

:func:`label_propagation` is the properly normalised semi-supervised variant (Zhou
et al., 2004): ``W = (A + Aᵀ)/2`` with ``A_ij = w_ij`` on the kNN edges,
``S = D^{-1/2} W D^{-1/2}``, ``(I - αS) F = Y`` solved with conjugate gradients for
a positive and a negative indicator ``Y``, score ``F⁺ / (F⁺ + F⁻)``.

Feature distances along the edges depend only on the graph and the features:
:func:`feature_graph` computes them once, and :class:`DiffusionProblem` prepares the
seeds once, so trying several bandwidths costs one kernel run each.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, replace

import numba
import numpy as np
from scipy import sparse
from scipy.sparse.linalg import cg
from scipy.special import expit

from liftstudio.jobs import CancelToken, ProgressCallback, check_cancelled, report
from liftstudio.lift.knn_graph import KnnGraph

GATES: tuple[str, ...] = ("distance", "logistic")
"""Node gates :class:`DiffusionConfig` accepts."""

LOGISTIC_C = 0.01
"""Inverse L2 regularisation strength of the logistic gate (LUDVIG's setting)."""

LOGISTIC_SAMPLES = 20_000
"""At most this many anchors, and this many other Gaussians, train the logistic gate."""

ITERATION_BLOCK = 10
"""Diffusion steps between progress reports and cancel checks."""

FLUSH = 1e-8
"""Diffusion values below this share of the maximum are set to 0 (skipped regions)."""

_ROW_CHUNK = 131_072  # rows per feature-distance kernel call (one progress step)


# ---------------------------------------------------------------------------- settings
@dataclass(frozen=True)
class DiffusionConfig:
    """Settings of one graph diffusion (see the module docstring for the formulas).

    Attributes
    ----------
    feature_bandwidth
        ``b_f`` > 0: larger lets the diffusion cross larger feature differences.
    gate_bandwidth
        ``b_p`` > 0: larger opens the gate to Gaussians less like the seeds.
    gate
        ``"distance"`` (to the mean anchor feature; suits scribbles) or
        ``"logistic"`` (a balanced logistic regression; suits full reference masks).
    iterations
        Diffusion steps (≥ 1).
    seed_fraction
        Share of the positive-scored Gaussians kept as anchors, in (0, 1].
    """

    feature_bandwidth: float = 3.0
    gate_bandwidth: float = 30.0
    gate: str = "distance"
    iterations: int = 100
    seed_fraction: float = 0.1

    def __post_init__(self) -> None:
        for name in ("feature_bandwidth", "gate_bandwidth"):
            value = getattr(self, name)
            if not (isinstance(value, int | float) and math.isfinite(value) and value > 0):
                raise ValueError(f"{name} must be a finite number > 0, got {value!r}")
        if self.gate not in GATES:
            raise ValueError(f"gate must be one of {', '.join(GATES)}, got {self.gate!r}")
        if isinstance(self.iterations, bool) or not isinstance(self.iterations, int | np.integer):
            raise ValueError(f"iterations must be an integer >= 1, got {self.iterations!r}")
        if self.iterations < 1:
            raise ValueError(f"iterations must be an integer >= 1, got {self.iterations!r}")
        fraction = self.seed_fraction
        if not (isinstance(fraction, int | float) and 0 < fraction <= 1):
            raise ValueError(f"seed_fraction must lie in (0, 1], got {fraction!r}")

    def with_bandwidths(self, feature_bandwidth: float, gate_bandwidth: float) -> DiffusionConfig:
        """The same settings with other bandwidths."""
        return replace(self, feature_bandwidth=feature_bandwidth, gate_bandwidth=gate_bandwidth)


def log_scaled(values: np.ndarray) -> np.ndarray:
    """Max-normalised diffusion values on a log scale: ``1 + log10(g) / log10(1/FLUSH)``.

    ``g_T`` is a power iteration: a node's value is a sum over paths of products of
    gates and edge weights, so values on one object already span orders of magnitude
    (a gate of 0.95 against 1.0 compounds to 0.006 over 100 steps). Rendered and
    thresholded linearly, the far side of the selected object falls below a threshold
    set on the side the user scribbled on. On the log scale the decades between the
    maximum and :data:`FLUSH` (below which values are set to 0) map evenly onto
    (0, 1]; 0 stays 0. The ranking of the Gaussians is unchanged.
    """
    values = np.asarray(values, dtype=np.float64)
    out = np.zeros(values.shape, dtype=np.float32)
    positive = values > 0
    decades = np.log10(1.0 / FLUSH)
    out[positive] = np.clip(1.0 + np.log10(values[positive]) / decades, 0.0, 1.0)
    return out


@dataclass(frozen=True)
class DiffusionResult:
    """What a diffusion or label propagation produced.

    Attributes
    ----------
    scores : (N,) float32
        Per-Gaussian score in [0, 1] (diffusion: max-normalised ``g_T`` on the log
        scale of :func:`log_scaled`; label propagation: ``F⁺ / (F⁺ + F⁻)``).
    anchors : (N,) bool
        The anchor (positive seed) nodes.
    gate : (N,) float32
        The node gate, in [0, 1] (label propagation: at ``b_p = 1``; there it only
        ranks the pseudo-negatives).
    negatives : (N,) bool or None
        The negative nodes used (label propagation, or explicit negatives).
    """

    scores: np.ndarray
    anchors: np.ndarray
    gate: np.ndarray
    negatives: np.ndarray | None = None


# ---------------------------------------------------------------------------- features on edges
@dataclass(frozen=True, eq=False)
class FeatureGraph:
    """A kNN graph with per-Gaussian features and their squared distances per edge.

    Build it with :func:`feature_graph`; it can be reused for any seeds and settings.
    Internally the nodes are relabelled in the graph's spatial order
    (:attr:`KnnGraph.order`) so that the diffusion kernels read neighbours that sit
    close in memory; :meth:`to_local` and :meth:`to_global` convert per-node arrays.

    Attributes
    ----------
    graph
        The kNN graph of the Gaussian centres (original numbering).
    order : (N,) int64
        Local node ``p`` is Gaussian ``order[p]``.
    local_neighbors : (N, k) int32
        The graph in local numbering.
    local_features : (N, D) float32
        Features in local order.
    local_edge_sq : (N, k) float32
        ``‖f_p - f_q‖²`` for ``q = local_neighbors[p, e]``.
    block_ptr, block_deps
        For each block of :data:`BLOCK` consecutive local nodes, the blocks holding
        their neighbours (CSR: ``block_deps[block_ptr[b]:block_ptr[b + 1]]``).
    """

    graph: KnnGraph
    order: np.ndarray
    local_neighbors: np.ndarray
    local_features: np.ndarray
    local_edge_sq: np.ndarray
    block_ptr: np.ndarray
    block_deps: np.ndarray

    @property
    def num_nodes(self) -> int:
        """Number of Gaussians N."""
        return self.graph.num_nodes

    @property
    def features(self) -> np.ndarray:
        """Features in the Gaussians' own order (a copy), (N, D) float32."""
        return self.to_global(self.local_features)

    @property
    def edge_sq_distances(self) -> np.ndarray:
        """``‖f_i - f_j‖²`` for ``j = graph.neighbors[i, e]`` (a copy), (N, k) float32."""
        return self.to_global(self.local_edge_sq)

    def to_local(self, values: np.ndarray) -> np.ndarray:
        """Per-Gaussian ``values`` (first axis N) in local order."""
        return np.asarray(values)[self.order]

    def to_global(self, values: np.ndarray) -> np.ndarray:
        """Per-node ``values`` in local order back in the Gaussians' own order."""
        values = np.asarray(values)
        out = np.empty_like(values)
        out[self.order] = values
        return out


BLOCK = 1024
"""Consecutive local nodes the diffusion kernel skips together while the seed is far."""


def feature_graph(
    graph: KnnGraph,
    features: np.ndarray,
    *,
    progress: ProgressCallback | None = None,
    cancel: CancelToken | None = None,
) -> FeatureGraph:
    """Attach ``features`` to ``graph`` and compute their distances along every edge.

    Parameters
    ----------
    graph
        kNN graph of the N Gaussian centres.
    features : (N, D) array
        Finite per-Gaussian features (converted to float32).
    progress, cancel
        Progress callback (one step per block of rows) and cancel token.

    Returns
    -------
    FeatureGraph

    Raises
    ------
    ValueError
        If ``features`` is not (N, D) with N the graph's size, or holds NaN/inf.
    liftstudio.jobs.JobCancelled
        If ``cancel`` was set.
    """
    feats = np.asarray(features)
    n = graph.num_nodes
    if feats.ndim != 2 or feats.shape[0] != n or feats.shape[1] < 1:
        raise ValueError(
            f"features must be an (N, D) array with N = {n} (one row per Gaussian), "
            f"got shape {feats.shape}"
        )
    finite = np.isfinite(feats).all(axis=1)
    if not finite.all():
        raise ValueError(
            f"{int(np.count_nonzero(~finite))} Gaussian(s) have NaN or infinite features; "
            "replace them (e.g. by 0) before diffusing"
        )
    check_cancelled(cancel)
    order = np.arange(n) if graph.order is None else graph.order.astype(np.int64)
    rank = np.empty(n, dtype=np.int32)
    rank[order] = np.arange(n, dtype=np.int32)
    neighbors = rank[graph.neighbors[order]]
    local_features = np.ascontiguousarray(feats[order], dtype=np.float32)
    edge_sq = np.empty(neighbors.shape, dtype=np.float32)
    starts = range(0, n, _ROW_CHUNK)
    for done, start in enumerate(starts, start=1):
        check_cancelled(cancel)
        _edge_sq_distances(local_features, neighbors, start, min(start + _ROW_CHUNK, n), edge_sq)
        report(progress, done, len(starts), "feature distances along the graph")
    block_ptr, block_deps = _block_dependencies(neighbors, BLOCK)
    return FeatureGraph(
        graph=graph,
        order=order,
        local_neighbors=neighbors,
        local_features=local_features,
        local_edge_sq=edge_sq,
        block_ptr=block_ptr,
        block_deps=block_deps,
    )


# ---------------------------------------------------------------------------- seeds
def initial_weights(seed_scores: np.ndarray, seed_fraction: float) -> tuple[np.ndarray, np.ndarray]:
    """The diffusion's starting vector ``g_0`` and its anchor nodes.

    Scores are divided by their mean over the positive entries; the anchors are the
    ``ceil(seed_fraction · #positive)`` highest-scored positive Gaussians (at least
    one; every Gaussian tied with the lowest kept score is kept too).

    Parameters
    ----------
    seed_scores : (N,) array
        Finite seed scores; only positive ones count.
    seed_fraction
        Share of the positive-scored Gaussians to keep, in (0, 1].

    Returns
    -------
    g0 : (N,) float32
        Normalised score on the anchors, 0 elsewhere.
    anchors : (N,) bool

    Raises
    ------
    ValueError
        If the scores are not finite or none is positive.
    """
    scores = np.asarray(seed_scores, dtype=np.float64)
    if scores.ndim != 1:
        raise ValueError(f"seed scores must be one value per Gaussian (N,), got {scores.shape}")
    if not np.all(np.isfinite(scores)):
        raise ValueError("seed scores hold NaN or infinite values")
    if not 0 < seed_fraction <= 1:
        raise ValueError(f"seed_fraction must lie in (0, 1], got {seed_fraction}")
    positive = scores > 0
    count = int(np.count_nonzero(positive))
    if count == 0:
        raise ValueError(
            "no seed: no Gaussian has a positive seed score; draw the scribble or click "
            "on the object (where Gaussians are visible)"
        )
    keep = max(1, math.ceil(seed_fraction * count))
    values = scores[positive]
    cutoff = np.partition(values, count - keep)[count - keep]
    anchors = positive & (scores >= cutoff)
    g0 = np.where(anchors, scores / values.mean(), 0.0).astype(np.float32)
    return g0, anchors


def fit_balanced_logistic(
    x: np.ndarray, y: np.ndarray, c: float = LOGISTIC_C
) -> tuple[np.ndarray, float]:
    """scikit-learn's ``LogisticRegression(C=c, class_weight="balanced")`` on ``x``, ``y``.

    Parameters
    ----------
    x : (n, D) array
        Samples.
    y : (n,) bool array
        True for the positive class; both classes must occur.
    c
        Inverse regularisation strength.

    Returns
    -------
    coef : (D,) float64
    intercept : float
    """
    from sklearn.linear_model import LogisticRegression  # imported on use: loads slowly

    x = np.asarray(x, dtype=np.float64)
    labels = np.asarray(y, dtype=bool)
    if labels.all() or not labels.any():
        raise ValueError("logistic regression needs samples of both classes")
    model = LogisticRegression(C=c, class_weight="balanced", max_iter=500).fit(x, labels)
    return model.coef_[0].astype(np.float64), float(model.intercept_[0])


# ---------------------------------------------------------------------------- the problem
class DiffusionProblem:
    """Seeds, anchors and gate costs prepared once for a :class:`FeatureGraph`.

    The gate is ``exp(-cost / b_p)`` with a per-node ``cost`` ≥ 0 that does not
    depend on the bandwidths (``‖f_i - f̄‖² / m_g²`` or ``1 - P_i``), and the edge
    weights are ``exp(-‖f_i - f_j‖² / (b_f · edge_scale))`` with ``edge_scale = m²``;
    :meth:`diffuse` and :meth:`propagate_labels` take the bandwidths, so a grid of
    them costs one run each.

    Parameters
    ----------
    fgraph
        Graph and features.
    seed_scores : (N,) array
        Positive seed scores (see :func:`initial_weights`).
    gate
        ``"distance"`` or ``"logistic"``.
    seed_fraction
        Share of the positive-scored Gaussians kept as anchors.
    negatives : (N,) bool array, optional
        Gaussians known not to belong to the object: never anchors, gate 0, and the
        negative labels of :meth:`propagate_labels`.
    random_state
        Seed of the logistic gate's sample of non-anchor Gaussians.

    Attributes
    ----------
    edge_scale : float
        ``m²``, the median squared feature distance along the anchors' edges (if
        that is 0: the median positive one over all edges; if none: 1). The gate's
        ``m_g²`` falls back the same way.
    """

    def __init__(
        self,
        fgraph: FeatureGraph,
        seed_scores: np.ndarray,
        *,
        gate: str = "distance",
        seed_fraction: float = 0.1,
        negatives: np.ndarray | None = None,
        random_state: int = 0,
    ) -> None:
        if gate not in GATES:
            raise ValueError(f"gate must be one of {', '.join(GATES)}, got {gate!r}")
        n = fgraph.num_nodes
        scores = np.asarray(seed_scores, dtype=np.float64)
        if scores.shape != (n,):
            raise ValueError(
                f"seed scores must have shape ({n},) (one per Gaussian), got {scores.shape}"
            )
        negative = np.zeros(n, dtype=bool) if negatives is None else np.asarray(negatives)
        if negative.shape != (n,):
            raise ValueError(f"negatives must have shape ({n},), got {negative.shape}")
        self.fgraph = fgraph
        self._negatives = fgraph.to_local(negative.astype(bool))
        local_scores = np.where(self._negatives, 0.0, fgraph.to_local(scores))
        self._g0, self._anchors = initial_weights(local_scores, seed_fraction)
        edge_sq = fgraph.local_edge_sq
        self.edge_scale = _positive_median(edge_sq[self._anchors], edge_sq)
        features = fgraph.local_features
        if gate == "distance":
            self._gate_cost = _distance_cost(features, self._anchors)
        else:
            self._gate_cost = _logistic_cost(features, self._anchors, random_state)

    @property
    def anchors(self) -> np.ndarray:
        """(N,) bool: the anchor nodes."""
        return self.fgraph.to_global(self._anchors)

    @property
    def g0(self) -> np.ndarray:
        """(N,) float32: the initial weights (:func:`initial_weights`)."""
        return self.fgraph.to_global(self._g0)

    @property
    def negatives(self) -> np.ndarray:
        """(N,) bool: the explicit negatives (all False when none were given)."""
        return self.fgraph.to_global(self._negatives)

    @property
    def gate_cost(self) -> np.ndarray:
        """(N,) float32: the gate's cost, ``gate = exp(-cost / b_p)``."""
        return self.fgraph.to_global(self._gate_cost)

    def gate(self, gate_bandwidth: float) -> np.ndarray:
        """The node gate ``exp(-cost / b_p)`` (0 on negatives), (N,) float32 in [0, 1]."""
        return self.fgraph.to_global(self._local_gate(gate_bandwidth))

    def _local_gate(self, gate_bandwidth: float) -> np.ndarray:
        gate = np.exp(-self._gate_cost / np.float32(gate_bandwidth)).astype(np.float32)
        gate[self._negatives] = 0.0
        return gate

    def diffuse(
        self,
        feature_bandwidth: float,
        gate_bandwidth: float,
        iterations: int = 100,
        *,
        progress: ProgressCallback | None = None,
        cancel: CancelToken | None = None,
    ) -> DiffusionResult:
        """Run the graph diffusion (module docstring) with these bandwidths.

        Values below :data:`FLUSH` of the current maximum are set to 0 (far below any
        threshold), so the kernel skips the blocks of the graph the seed has not
        reached. Progress is reported every :data:`ITERATION_BLOCK` steps, where a
        cancel is also honoured.
        """
        _check_bandwidths(feature_bandwidth, gate_bandwidth)
        check_cancelled(cancel)
        fg = self.fgraph
        gate = self._local_gate(gate_bandwidth)
        coef = np.empty(fg.local_neighbors.shape, dtype=np.float32)
        inv_scale = np.float32(1.0 / (feature_bandwidth * self.edge_scale))
        _transition(fg.local_neighbors, fg.local_edge_sq, inv_scale, gate, coef)
        current = (self._g0 / self._g0.max()).astype(np.float32)
        state = (
            current,
            np.zeros_like(current),
            _block_max(current, BLOCK),
            np.zeros(fg.block_ptr.size - 1, dtype=np.float32),
            np.float32(1.0),
        )
        done = 0
        report(progress, 0, iterations, "diffusing")
        while done < iterations:
            check_cancelled(cancel)
            steps = min(ITERATION_BLOCK, iterations - done)
            *buffers, scale = _diffusion_steps(
                fg.local_neighbors,
                coef,
                fg.block_ptr,
                fg.block_deps,
                BLOCK,
                *state,
                steps,
                np.float32(FLUSH),
            )
            state = (*buffers, np.float32(scale))  # one numba signature for every call
            done += steps
            report(progress, done, iterations, "diffusing")
        current, scale = state[0], state[4]
        scores = log_scaled(np.clip(current * scale, 0.0, 1.0))
        return DiffusionResult(
            scores=fg.to_global(scores),
            anchors=self.anchors,
            gate=fg.to_global(gate),
            negatives=self.negatives,
        )

    def propagate_labels(
        self,
        feature_bandwidth: float,
        *,
        alpha: float = 0.99,
        negative_fraction: float = 0.5,
        rtol: float = 1e-6,
        maxiter: int = 2000,
        progress: ProgressCallback | None = None,
        cancel: CancelToken | None = None,
    ) -> DiffusionResult:
        """Zhou et al.'s label propagation; see :func:`label_propagation`."""
        _check_bandwidths(feature_bandwidth, 1.0)
        if not 0 < alpha < 1:
            raise ValueError(f"alpha must lie in (0, 1), got {alpha}")
        if not 0 < negative_fraction <= 1:
            raise ValueError(f"negative_fraction must lie in (0, 1], got {negative_fraction}")
        check_cancelled(cancel)
        if self._negatives.any():
            negatives = self._negatives
        else:
            negatives = self._pseudo_negatives(negative_fraction)
        system = _normalised_system(self.fgraph, feature_bandwidth * self.edge_scale, alpha)
        total = 2 * maxiter
        solved = []
        for which, labels in enumerate((self._anchors, negatives)):
            counter = [which * maxiter]

            def step(_xk: np.ndarray, counter: list[int] = counter) -> None:
                counter[0] += 1
                if counter[0] % ITERATION_BLOCK == 0:
                    check_cancelled(cancel)
                    report(progress, counter[0], total, "propagating labels")

            check_cancelled(cancel)
            rhs = labels.astype(np.float64)
            solution, info = cg(
                system, rhs, x0=rhs.copy(), rtol=rtol, maxiter=maxiter, callback=step
            )
            if info < 0:
                raise RuntimeError(f"conjugate gradients broke down (info={info})")
            solved.append(np.maximum(solution, 0.0))
        report(progress, total, total, "propagating labels")
        positive, negative = solved
        denominator = positive + negative
        scores = np.divide(
            positive, denominator, out=np.zeros_like(positive), where=denominator > 0
        )
        fg = self.fgraph
        return DiffusionResult(
            scores=fg.to_global(scores.astype(np.float32)),
            anchors=self.anchors,
            gate=self.gate(1.0),
            negatives=fg.to_global(negatives),
        )

    def _pseudo_negatives(self, fraction: float) -> np.ndarray:
        """The ``fraction`` of the non-anchor nodes with the highest gate cost (local)."""
        candidates = np.flatnonzero(~self._anchors)
        if candidates.size == 0:
            raise ValueError("every Gaussian is an anchor: nothing is left to be background")
        keep = max(1, math.ceil(fraction * candidates.size))
        order = np.argsort(-self._gate_cost[candidates], kind="stable")[:keep]
        negatives = np.zeros(self.fgraph.num_nodes, dtype=bool)
        negatives[candidates[order]] = True
        return negatives


# ---------------------------------------------------------------------------- entry points
def diffuse(
    fgraph: FeatureGraph,
    seed_scores: np.ndarray,
    config: DiffusionConfig | None = None,
    *,
    negatives: np.ndarray | None = None,
    random_state: int = 0,
    progress: ProgressCallback | None = None,
    cancel: CancelToken | None = None,
) -> DiffusionResult:
    """LUDVIG graph diffusion of a seed over the Gaussians.

    Parameters
    ----------
    fgraph
        Graph and features (:func:`feature_graph`).
    seed_scores : (N,) array
        Seed score per Gaussian (e.g. its uplifted share of a scribble); only
        positive values seed.
    config
        Bandwidths, gate, steps and seed fraction (default :class:`DiffusionConfig`).
    negatives : (N,) bool array, optional
        Gaussians that must not be selected (gate 0).
    random_state
        Seed of the logistic gate's sample.
    progress, cancel
        Progress callback (every :data:`ITERATION_BLOCK` steps) and cancel token.

    Returns
    -------
    DiffusionResult
        ``scores`` in [0, 1], max 1 (unless every path died out, then all 0).

    Raises
    ------
    ValueError
        If no seed score is positive or the shapes disagree.
    liftstudio.jobs.JobCancelled
        If ``cancel`` was set.
    """
    config = DiffusionConfig() if config is None else config
    problem = DiffusionProblem(
        fgraph,
        seed_scores,
        gate=config.gate,
        seed_fraction=config.seed_fraction,
        negatives=negatives,
        random_state=random_state,
    )
    return problem.diffuse(
        config.feature_bandwidth,
        config.gate_bandwidth,
        config.iterations,
        progress=progress,
        cancel=cancel,
    )


def label_propagation(
    fgraph: FeatureGraph,
    seed_scores: np.ndarray,
    config: DiffusionConfig | None = None,
    *,
    negatives: np.ndarray | None = None,
    alpha: float = 0.99,
    negative_fraction: float = 0.5,
    rtol: float = 1e-6,
    maxiter: int = 2000,
    random_state: int = 0,
    progress: ProgressCallback | None = None,
    cancel: CancelToken | None = None,
) -> DiffusionResult:
    """Label propagation with local and global consistency (Zhou et al., 2004).

    ``W = (A + Aᵀ) / 2`` with ``A_ij = exp(-‖f_i - f_j‖² / (b_f · m²))`` on the kNN
    edges (``m`` as for :func:`diffuse`), ``D = diag(W 1)``,
    ``S = D^{-1/2} W D^{-1/2}`` (isolated nodes: 0), and ``(I - αS) F = Y`` is solved
    by :func:`scipy.sparse.linalg.cg` for ``Y⁺`` = the anchors' indicator and ``Y⁻``
    = the negatives' indicator; the score is ``F⁺ / (F⁺ + F⁻)`` (0 where both are 0).

    Negatives are ``negatives`` when given; otherwise *pseudo-negatives*: the
    ``negative_fraction`` of the non-anchor Gaussians with the lowest gate (those
    least like the seeds by ``config.gate``; ``b_p`` does not change this order and
    is not used otherwise).

    Parameters
    ----------
    fgraph, seed_scores, config, random_state, progress, cancel
        As for :func:`diffuse` (``config.iterations`` is not used).
    negatives : (N,) bool array, optional
        Explicit negative Gaussians.
    alpha
        Propagation strength in (0, 1); Zhou et al. use 0.99.
    negative_fraction
        Share of the non-anchor Gaussians taken as pseudo-negatives, in (0, 1].
    rtol, maxiter
        Conjugate-gradient tolerance (relative residual) and iteration limit per solve.

    Returns
    -------
    DiffusionResult
        With the ``negatives`` used.
    """
    config = DiffusionConfig() if config is None else config
    problem = DiffusionProblem(
        fgraph,
        seed_scores,
        gate=config.gate,
        seed_fraction=config.seed_fraction,
        negatives=negatives,
        random_state=random_state,
    )
    return problem.propagate_labels(
        config.feature_bandwidth,
        alpha=alpha,
        negative_fraction=negative_fraction,
        rtol=rtol,
        maxiter=maxiter,
        progress=progress,
        cancel=cancel,
    )


# ---------------------------------------------------------------------------- helpers
def _check_bandwidths(feature_bandwidth: float, gate_bandwidth: float) -> None:
    for name, value in (("feature", feature_bandwidth), ("gate", gate_bandwidth)):
        if not (math.isfinite(value) and value > 0):
            raise ValueError(f"the {name} bandwidth must be a finite number > 0, got {value!r}")


def _positive_median(preferred: np.ndarray, fallback: np.ndarray) -> float:
    """Median of ``preferred``; if that is 0, the median positive ``fallback``; else 1."""
    if preferred.size:
        value = float(np.median(preferred))
        if value > 0:
            return value
    positive = fallback[fallback > 0]
    return float(np.median(positive)) if positive.size else 1.0


def _distance_cost(features: np.ndarray, anchors: np.ndarray) -> np.ndarray:
    """``‖f_i - f̄‖² / m_g²`` with ``f̄`` the mean anchor feature."""
    mean = features[anchors].mean(axis=0, dtype=np.float64).astype(np.float32)
    sq = np.einsum("nd,nd->n", features - mean, features - mean)
    return (sq / np.float32(_positive_median(sq[anchors], sq))).astype(np.float32)


def _logistic_cost(features: np.ndarray, anchors: np.ndarray, random_state: int) -> np.ndarray:
    """``1 - P_i`` of a balanced logistic regression, anchors vs a sample of the rest."""
    rng = np.random.default_rng(random_state)
    positives = np.flatnonzero(anchors)
    others = np.flatnonzero(~anchors)
    if others.size == 0:
        return np.zeros(anchors.size, dtype=np.float32)
    if positives.size > LOGISTIC_SAMPLES:
        positives = rng.choice(positives, LOGISTIC_SAMPLES, replace=False)
    if others.size > LOGISTIC_SAMPLES:
        others = rng.choice(others, LOGISTIC_SAMPLES, replace=False)
    rows = np.concatenate([positives, others])
    coef, intercept = fit_balanced_logistic(features[rows], np.arange(rows.size) < positives.size)
    logits = features @ coef.astype(np.float32) + np.float32(intercept)
    return (1.0 - expit(logits)).astype(np.float32)


def _normalised_system(fgraph: FeatureGraph, edge_scale: float, alpha: float) -> sparse.csr_matrix:
    """``I - α D^{-1/2} W D^{-1/2}`` for the symmetrised kNN weights (float64 CSR)."""
    neighbors = fgraph.local_neighbors
    n, k = neighbors.shape
    weights = np.exp(-fgraph.local_edge_sq.astype(np.float64) / edge_scale).ravel()
    rows = np.repeat(np.arange(n), k)
    cols = neighbors.ravel()
    w = sparse.coo_matrix(
        (
            np.concatenate([weights, weights]) * 0.5,
            (np.concatenate([rows, cols]), np.concatenate([cols, rows])),
        ),
        shape=(n, n),
    ).tocsr()
    degree = np.asarray(w.sum(axis=1)).ravel()
    inv_sqrt = np.divide(1.0, np.sqrt(degree), out=np.zeros_like(degree), where=degree > 0)
    scaled = sparse.diags(inv_sqrt) @ w @ sparse.diags(inv_sqrt)
    return (sparse.identity(n, format="csr") - alpha * scaled).tocsr()


# ---------------------------------------------------------------------------- numba kernels
@numba.njit(parallel=True, cache=True, nogil=True)
def _edge_sq_distances(features, neighbors, start, stop, out):  # pragma: no cover - numba
    k = neighbors.shape[1]
    d = features.shape[1]
    for i in numba.prange(start, stop):
        for e in range(k):
            j = neighbors[i, e]
            total = np.float32(0.0)
            for c in range(d):
                diff = features[i, c] - features[j, c]
                total += diff * diff
            out[i, e] = total


@numba.njit(parallel=True, cache=True, nogil=True)
def _block_dependencies(neighbors, block):  # pragma: no cover - numba
    """CSR of, per block of ``block`` rows, the blocks holding their neighbours."""
    n, k = neighbors.shape
    blocks = (n + block - 1) // block
    counts = np.zeros(blocks, dtype=np.int64)
    for b in numba.prange(blocks):
        seen = np.zeros(blocks, dtype=np.bool_)
        count = 0
        for i in range(b * block, min(n, (b + 1) * block)):
            for e in range(k):
                other = neighbors[i, e] // block
                if not seen[other]:
                    seen[other] = True
                    count += 1
        counts[b] = count
    ptr = np.zeros(blocks + 1, dtype=np.int64)
    ptr[1:] = np.cumsum(counts)
    deps = np.empty(ptr[blocks], dtype=np.int32)
    for b in numba.prange(blocks):
        seen = np.zeros(blocks, dtype=np.bool_)
        pos = ptr[b]
        for i in range(b * block, min(n, (b + 1) * block)):
            for e in range(k):
                other = neighbors[i, e] // block
                if not seen[other]:
                    seen[other] = True
                    deps[pos] = other
                    pos += 1
    return ptr, deps


@numba.njit(cache=True, nogil=True)
def _block_max(values, block):  # pragma: no cover - numba
    blocks = (values.size + block - 1) // block
    out = np.zeros(blocks, dtype=np.float32)
    for i in range(values.size):
        b = i // block
        if values[i] > out[b]:
            out[b] = values[i]
    return out


@numba.njit(parallel=True, cache=True, nogil=True)
def _transition(neighbors, edge_sq, inv_scale, gate, coef):  # pragma: no cover - numba
    """``coef[i, e] = gate_i · w_ie / Σ_e w_ie``.

    Row normalisation makes ``w_ie`` and ``w_ie · exp(c_i)`` equivalent, so each row's
    exponents are shifted by their smallest distance: the nearest feature weighs 1,
    and a row never sums to an underflowed (zero or subnormal) total.
    """
    n, k = neighbors.shape
    for i in numba.prange(n):
        nearest = edge_sq[i, 0]
        for e in range(1, k):
            nearest = min(nearest, edge_sq[i, e])
        total = np.float32(0.0)
        for e in range(k):
            w = np.float32(math.exp(-(edge_sq[i, e] - nearest) * inv_scale))
            coef[i, e] = w
            total += w
        factor = gate[i] / total
        for e in range(k):
            coef[i, e] *= factor


@numba.njit(parallel=True, cache=True, nogil=True)
def _diffusion_steps(
    neighbors,
    coef,
    block_ptr,
    block_deps,
    block,
    current,
    nxt,
    max_cur,
    max_nxt,
    scale,
    steps,
    flush,
):  # pragma: no cover - numba
    """``steps`` diffusion steps; returns the new ``(current, nxt, max_cur, max_nxt, scale)``.

    ``current * scale`` is the normalised ``g`` (maximum 1): each step's rescaling is
    folded into the next. ``max_cur`` / ``max_nxt`` hold the per-block maxima of the
    two buffers; a block none of whose neighbour blocks holds a positive value is
    skipped (its output is 0).
    """
    n, k = neighbors.shape
    blocks = block_ptr.size - 1
    active = np.empty(blocks, dtype=np.int64)
    for _ in range(steps):
        count = 0
        for b in range(blocks):
            live = False
            for p in range(block_ptr[b], block_ptr[b + 1]):
                if max_cur[block_deps[p]] > 0:
                    live = True
                    break
            if live:
                active[count] = b
                count += 1
            elif max_nxt[b] > 0:  # stale values from two steps ago
                nxt[b * block : min(n, (b + 1) * block)] = 0
                max_nxt[b] = 0
        for a in numba.prange(count):
            b = active[a]
            top = np.float32(0.0)
            for i in range(b * block, min(n, (b + 1) * block)):
                total = np.float32(0.0)
                for e in range(k):
                    total += coef[i, e] * current[neighbors[i, e]]
                total *= scale
                if total < flush:
                    total = np.float32(0.0)
                nxt[i] = total
                if total > top:
                    top = total
            max_nxt[b] = top
        peak = max_nxt.max()
        current, nxt = nxt, current
        max_cur, max_nxt = max_nxt, max_cur
        if peak <= 0:
            scale = np.float32(0.0)
            break
        scale = np.float32(1.0) / peak
    return current, nxt, max_cur, max_nxt, scale
