"""The ``unic`` lifting method: UniC-Lift on frozen geometry (embedding-to-label).

Every Gaussian holds a free parameter ``z_i`` (d = 16 channels); its embedding
``e_i = sigmoid(z_i)`` lies in the hypercube ``[0, 1]^d``. Rendered at a pixel through the
operator rows, ``E_p = Σ_k w_pk e_ik``, and divided by the pixel's alpha ``Σ_k w_pk``,
``Ê_p`` stays in the cube. Training drives the objects' embeddings to distinct corners,
and a label is read off by thresholding each channel at 0.5: the bits of the corner are
the label (no clustering). A step:

1. take the next view of a shuffled schedule and sample ``pixels_per_step`` of its
   masked pixels; render ``Ê`` there;
2. **centroid contrast**: per mask with more than 20 sampled pixels the centroid
   ``μ_j`` (mean ``Ê``); cross-entropy over ``-‖Ê_p − μ_j‖² / τ`` toward the pixel's own
   mask, which pulls pixels to their centroid and pushes the centroids of different masks
   apart, toward different corners;
3. **corner pull**: ``‖Ê_p − round(μ_j)‖²`` toward the corner nearest the pixel's own
   centroid (detached), weighted by ``corner_weight`` and ramped in linearly over the
   first ``corner_ramp`` of the steps; pixels whose label looks wrong (their own
   centroid's softmax share at temperature ``filter_temperature`` is at most
   ``min_confidence``: they sit with another mask's pixels) are left out of it;
4. **boundary triplets** (after ``start_fraction`` of the steps): anchors drawn among the
   view's pixels that have a pixel of another mask at most ``radius`` pixels away (pairs
   precomputed once per view, :func:`boundary_pairs`); per anchor the hardest of
   ``candidates`` cross-boundary neighbours (nearest) as negative and the hardest of
   ``candidates`` random pixels of its own mask (farthest) as positive; a triplet margin
   loss on the unit-length projection ``P (Ê − ½)``, ``P`` a learned ``d × d`` matrix
   started at the identity.

Labels are read where they were trained
(:func:`~liftstudio.lift.label_decoding.decode_by_votes`): the embeddings are rendered
(with an extra channel of ones for alpha) into every covered pixel of every training view,
each pixel's bits ``E > alpha / 2`` are packed into an integer code, and the code maps are
voted back onto the Gaussians. Codes that win only a few Gaussians (fragments, from a
channel that sits near 0.5 on part of an object or along a boundary) are merged into the
frequent code at the smallest Hamming distance (ties: the corner nearest the fragment's
mean embedding), :func:`merge_fragment_codes`; the codes are then numbered ``1..M``. The
confidence is the vote lead of the winning code. Gaussians the training views (almost)
never see stay unlabeled (0).

Choices the paper leaves open, made here, with what the experiments on the generated
``tabletop`` scene with SAM-like masks (over- and under-segmentation, jittered
boundaries, ids that disagree across views) showed (PQ on the test views, 800 steps):

- the contrast alone leaves channels that no mask pair needs near 0.5, so codes
  fragment (PQ 0.02–0.44): the corner pull binarises every channel;
- a warm temperature ``τ = 2`` (not 0.25–0.5) keeps pushing centroids apart until they
  differ in many bits instead of saturating at one or two: codes of different objects
  stay apart, and a half-object split by an over-segmented mask is pulled back
  (0.44 → 0.76 → 0.90 together with the two points below; ``τ = 4`` was worse, 0.78);
- ramping the corner pull in lets the contrast lay out the corners first; pulling at
  full weight from the start freezes the random early split of each mask
  (0.79 → 0.88 at ``τ = 1``);
- the label filter on the corner pull keeps jittered boundary pixels from dragging an
  object toward its neighbour's corner (0.76 → 0.79); filtering the contrast too was
  worse (0.73);
- the triplet loss (weight 1) changes little on these masks (0.900 → 0.904): along
  jittered mask boundaries many cross-boundary "negatives" lie on the anchor's own
  object. The projection has no bias: with one, the loss collapsed to the margin (every
  projection the same direction);
- ``z`` starts as small noise (``init_scale`` 0.1: every embedding near the centre).

With the defaults (1500 steps) ``tabletop`` scores PQ 0.89 (the codebook method 0.94);
the ``room`` scene (40 objects, many small) only 0.46: small objects end up split over
two to four codes or share a neighbour's, and a higher learning rate (0.1) barely helps
(0.48).
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import torch

from liftstudio.jobs import CancelToken, ProgressCallback, check_cancelled
from liftstudio.lift.contrastive_losses import mask_prototypes
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
from liftstudio.lift.label_decoding import compact_labels, decode_by_votes
from liftstudio.lift.registry import LiftInputs, LiftOutput
from liftstudio.lift.training_views import (
    TrainingSet,
    TrainingSetConfig,
    TrainingView,
    training_views_for,
)

#: The most bits an embedding may have: a code (plus one) must fit an int32 label.
MAX_DIMS = 30


def _positive_int(owner: str, name: str, value: object, minimum: int = 1) -> None:
    if isinstance(value, bool) or not isinstance(value, int | np.integer) or value < minimum:
        raise ValueError(f"{owner}.{name} must be an integer >= {minimum}, got {value!r}")


def _positive_float(owner: str, name: str, value: object, allow_zero: bool = False) -> None:
    ok = isinstance(value, int | float) and not isinstance(value, bool) and np.isfinite(value)
    if not ok or value < 0 or (value == 0 and not allow_zero):
        bound = ">= 0" if allow_zero else "> 0"
        raise ValueError(f"{owner}.{name} must be a finite number {bound}, got {value!r}")


def _fraction(owner: str, name: str, value: object) -> None:
    ok = isinstance(value, int | float) and not isinstance(value, bool)
    if not ok or not 0.0 <= value < 1.0:
        raise ValueError(f"{owner}.{name} must lie in [0, 1), got {value!r}")


@dataclass(frozen=True)
class UnicTrainingConfig:
    """Training of the per-Gaussian embeddings ``e = sigmoid(z)``.

    Parameters
    ----------
    dims
        Bits d of an embedding (at most :data:`MAX_DIMS`).
    steps
        Optimisation steps (one view each).
    pixels_per_step
        Masked pixels sampled per step for the centroid loss.
    learning_rate
        Adam learning rate of the free parameters ``z``.
    temperature
        The centroid contrast is a cross-entropy over ``-‖Ê_p − μ_j‖² / temperature``.
    init_scale
        Standard deviation of the initial ``z`` (0: every embedding at the centre).
    corner_weight
        Weight of the corner pull ``‖Ê_p − round(μ_j)‖²`` (0 turns it off).
    corner_ramp
        Share of the steps over which the corner pull's weight rises linearly from 0.
    filter_temperature, min_confidence
        Label filter of the corner pull: a pixel enters it only when its own centroid's
        share of ``softmax(-‖Ê_p − μ_j‖² / filter_temperature)`` exceeds
        ``min_confidence`` (``filter_temperature`` 0 turns the filter off).
    device
        Torch device (None: CUDA when present, else CPU).
    """

    dims: int = 16
    steps: int = 1500
    pixels_per_step: int = 32_768
    learning_rate: float = 0.05
    temperature: float = 2.0
    init_scale: float = 0.1
    corner_weight: float = 3.0
    corner_ramp: float = 0.3
    filter_temperature: float = 0.25
    min_confidence: float = 0.5
    device: str | None = None

    def __post_init__(self) -> None:
        owner = "UnicTrainingConfig"
        for name in ("dims", "steps", "pixels_per_step"):
            _positive_int(owner, name, getattr(self, name))
        if self.dims > MAX_DIMS:
            raise ValueError(
                f"{owner}.dims must be at most {MAX_DIMS} (a code must fit an int32 label), "
                f"got {self.dims!r}"
            )
        for name in ("learning_rate", "temperature"):
            _positive_float(owner, name, getattr(self, name))
        _positive_float(owner, "init_scale", self.init_scale, allow_zero=True)
        _positive_float(owner, "corner_weight", self.corner_weight, allow_zero=True)
        _positive_float(owner, "filter_temperature", self.filter_temperature, allow_zero=True)
        _fraction(owner, "corner_ramp", self.corner_ramp)
        _fraction(owner, "min_confidence", self.min_confidence)


@dataclass(frozen=True)
class BoundaryConfig:
    """The boundary triplet loss on a learned linear projection of the rendered embedding.

    Parameters
    ----------
    radius
        Two pixels are a boundary pair when they lie in different masks at most this many
        pixels apart along each axis (a ``(2r+1)²`` window).
    anchors
        Boundary pixels sampled per step (0 turns the triplet loss off).
    candidates
        Cross-boundary neighbours (negatives) and same-mask pixels (positives) drawn per
        anchor; the hardest of each is used.
    margin
        Triplet margin on the unit-length projected embeddings.
    weight
        Weight of the triplet loss.
    learning_rate
        Adam learning rate of the projection.
    start_fraction
        Share of the steps trained on the centroid loss alone before the triplet starts.
    """

    radius: int = 2
    anchors: int = 2048
    candidates: int = 4
    margin: float = 0.5
    weight: float = 1.0
    learning_rate: float = 0.01
    start_fraction: float = 0.2

    def __post_init__(self) -> None:
        owner = "BoundaryConfig"
        _positive_int(owner, "radius", self.radius)
        _positive_int(owner, "anchors", self.anchors, minimum=0)
        _positive_int(owner, "candidates", self.candidates)
        _positive_float(owner, "margin", self.margin)
        _positive_float(owner, "weight", self.weight, allow_zero=True)
        _positive_float(owner, "learning_rate", self.learning_rate)
        _fraction(owner, "start_fraction", self.start_fraction)


@dataclass(frozen=True)
class CodeMergeConfig:
    """Merging of fragment codes after decoding.

    Parameters
    ----------
    min_share
        A code is a fragment when it wins fewer than ``min_share`` of the labelled
        Gaussians and fewer than ``min_gaussians`` of them: the bar is the smaller of the
        two, so that on a small scene a small object is not taken for a fragment.
    min_gaussians
        Codes with at least this many Gaussians are never fragments.
    """

    min_share: float = 0.002
    min_gaussians: int = 50

    def __post_init__(self) -> None:
        _fraction("CodeMergeConfig", "min_share", self.min_share)
        _positive_int("CodeMergeConfig", "min_gaussians", self.min_gaussians, minimum=0)


# ------------------------------------------------------------------------------ codes
def pack_bits(rendered: np.ndarray, dims: int) -> np.ndarray:
    """(P,) int64 codes of rendered ``[embedding (d), alpha (1)]`` rows.

    Bit ``c`` of a code is set when channel ``c`` exceeds half the pixel's alpha (the
    rendered embedding divided by alpha exceeds 0.5).
    """
    bits = rendered[:, :dims] > 0.5 * rendered[:, dims : dims + 1]
    return bits.astype(np.int64) @ (np.int64(1) << np.arange(dims, dtype=np.int64))


def code_bits(codes: np.ndarray, dims: int) -> np.ndarray:
    """(M, d) float64 corners of the hypercube of integer ``codes``."""
    codes = np.asarray(codes, dtype=np.int64)
    return ((codes[:, None] >> np.arange(dims, dtype=np.int64)) & 1).astype(np.float64)


def merge_fragment_codes(
    labels: np.ndarray,
    embeddings: np.ndarray,
    config: CodeMergeConfig | None = None,
) -> np.ndarray:
    """Move the Gaussians of rare codes to the nearest frequent code.

    Parameters
    ----------
    labels : (N,) int
        ``code + 1`` per Gaussian, 0 for unlabelled.
    embeddings : (N, d)
        Each Gaussian's embedding in [0, 1]^d.
    config
        What counts as a fragment.

    Returns
    -------
    (N,) int64
        Labels (``code + 1``) with every fragment code replaced by the frequent code at
        the smallest Hamming distance; ties go to the corner nearest (squared Euclidean)
        the fragment's mean embedding. Without any frequent code the labels are returned
        unchanged.
    """
    config = config or CodeMergeConfig()
    labels = np.asarray(labels, dtype=np.int64)
    dims = embeddings.shape[1]
    labelled = labels > 0
    codes, inverse, counts = np.unique(labels[labelled] - 1, return_inverse=True,
                                       return_counts=True)  # fmt: skip
    if codes.size == 0:
        return labels.copy()
    threshold = min(config.min_gaussians, config.min_share * int(labelled.sum()))
    frequent = counts >= threshold
    if frequent.all() or not frequent.any():
        return labels.copy()
    corners = code_bits(codes[frequent], dims)
    fragment = np.flatnonzero(~frequent)
    member = np.flatnonzero(labelled)
    sums = np.zeros((codes.size, dims))
    np.add.at(sums, inverse, embeddings[member])
    means = sums[fragment] / counts[fragment, None]
    hamming = np.abs(code_bits(codes[fragment], dims)[:, None, :] - corners[None]).sum(axis=2)
    euclid = ((means[:, None, :] - corners[None]) ** 2).sum(axis=2)
    # Hamming distance first; among the nearest, the corner nearest the mean embedding.
    nearest = hamming == hamming.min(axis=1, keepdims=True)
    choice = np.argmin(np.where(nearest, euclid, np.inf), axis=1)
    target = codes[frequent][choice]
    remap = codes.copy()
    remap[fragment] = target
    out = labels.copy()
    out[labelled] = remap[inverse] + 1
    return out


# ------------------------------------------------------------------- boundary pairs
def boundary_pairs(
    pixels: np.ndarray, masks: np.ndarray, height: int, width: int, radius: int
) -> np.ndarray:
    """(B, 2) int64 pairs of kept-pixel positions on either side of a mask boundary.

    Parameters
    ----------
    pixels : (P,) int
        Flat index (``row * width + column``) of every kept pixel.
    masks : (P,) int
        Mask index of each kept pixel, -1 outside every mask.
    height, width
        Image size.
    radius
        Largest offset along either axis (Chebyshev distance).

    Returns
    -------
    (B, 2) int64
        Every ordered pair ``(a, b)`` of positions into ``pixels`` with both pixels in a
        mask, different masks, and ``max(|Δrow|, |Δcol|) <= radius``; sorted by ``a``
        then ``b``. Both orders of a pair are listed.
    """
    position = np.full(height * width, -1, dtype=np.int64)
    position[np.asarray(pixels, dtype=np.int64)] = np.arange(len(pixels))
    mask_image = np.full(height * width, -1, dtype=np.int64)
    mask_image[np.asarray(pixels, dtype=np.int64)] = masks
    position = position.reshape(height, width)
    mask_image = mask_image.reshape(height, width)
    found: list[np.ndarray] = []
    for dy in range(-radius, radius + 1):
        for dx in range(-radius, radius + 1):
            if dy == 0 and dx == 0:
                continue
            rows_a = slice(max(0, -dy), height - max(0, dy))
            cols_a = slice(max(0, -dx), width - max(0, dx))
            rows_b = slice(max(0, dy), height - max(0, -dy))
            cols_b = slice(max(0, dx), width - max(0, -dx))
            mask_a = mask_image[rows_a, cols_a]
            mask_b = mask_image[rows_b, cols_b]
            hit = (mask_a >= 0) & (mask_b >= 0) & (mask_a != mask_b)
            if hit.any():
                found.append(
                    np.stack([position[rows_a, cols_a][hit], position[rows_b, cols_b][hit]], 1)
                )
    if not found:
        return np.zeros((0, 2), dtype=np.int64)
    pairs = np.concatenate(found)
    return pairs[np.lexsort((pairs[:, 1], pairs[:, 0]))]


@dataclass(frozen=True)
class _ViewSampler:
    """Per-view lookup tables for drawing triplets."""

    anchors: np.ndarray  # (A,) positions of boundary pixels
    start: np.ndarray  # (A,) first pair of each anchor
    count: np.ndarray  # (A,) pairs of each anchor
    neighbours: np.ndarray  # (B,) the cross-boundary neighbour of each pair
    mask_order: np.ndarray  # (S,) supervised positions sorted by mask
    mask_start: np.ndarray  # (M,)
    mask_count: np.ndarray  # (M,)

    @staticmethod
    def of(view: TrainingView, radius: int) -> _ViewSampler:
        pairs = boundary_pairs(view.pixels, view.masks, view.height, view.width, radius)
        anchors, start, count = np.unique(pairs[:, 0], return_index=True, return_counts=True)
        supervised = view.supervised
        order = supervised[np.argsort(view.masks[supervised], kind="stable")]
        mask_count = view.mask_sizes()
        mask_start = np.concatenate([[0], np.cumsum(mask_count)[:-1]]).astype(np.int64)
        return _ViewSampler(anchors, start, count, pairs[:, 1], order, mask_start, mask_count)

    def draw(
        self, view: TrainingView, anchors: int, candidates: int, rng: np.random.Generator
    ) -> np.ndarray | None:
        """(A, 1 + 2 * candidates) positions: anchor, negatives, positives; None if none."""
        if self.anchors.size == 0:
            return None
        pick = rng.integers(self.anchors.size, size=min(anchors, self.anchors.size))
        anchor = self.anchors[pick]
        offsets = (rng.random((pick.size, candidates)) * self.count[pick, None]).astype(np.int64)
        negatives = self.neighbours[self.start[pick, None] + offsets]
        mask = view.masks[anchor]
        offsets = (rng.random((pick.size, candidates)) * self.mask_count[mask, None]).astype(
            np.int64
        )
        positives = self.mask_order[self.mask_start[mask, None] + offsets]
        return np.concatenate([anchor[:, None], negatives, positives], axis=1)


# ------------------------------------------------------------------------- training
@dataclass(frozen=True)
class TrainedEmbeddings:
    """The result of :func:`train_unic_embeddings`.

    Attributes
    ----------
    embeddings : (N, d) float32
        ``sigmoid(z)`` per Gaussian, in [0, 1].
    projection : (d, d) float32
        The learned projection ``P`` of the triplet loss.
    history
        The loss log.
    """

    embeddings: np.ndarray
    projection: np.ndarray
    history: TrainingHistory


def _normalised_render(
    values: torch.Tensor, ids: torch.Tensor, weights: torch.Tensor
) -> torch.Tensor:
    rendered = render_pixels(values, ids, weights)
    alpha = weights.sum(dim=1, keepdim=True).clamp_min(1e-6)
    return rendered / alpha


def centroid_losses(
    embedded: torch.Tensor, masks: torch.Tensor, config: UnicTrainingConfig
) -> tuple[torch.Tensor, torch.Tensor]:
    """Centroid contrast and corner pull of one step's sampled pixels.

    ``μ_j`` is the mean of the sampled pixels of mask ``j`` (masks with more than 20
    sampled pixels; others are left out). The contrast is the cross-entropy of
    ``-‖Ê_p − μ_j‖² / temperature`` toward the pixel's own mask (0 with fewer than two
    masks); the corner pull is the mean of ``‖Ê_p − round(μ_j)‖²`` over the pixels (the
    corner detached).
    """
    prototypes = mask_prototypes(embedded, masks)
    inside = prototypes.pixel_mask >= 0
    zero = embedded.sum() * 0.0
    if prototypes.num_masks < 1 or not bool(inside.any()):
        return zero, zero
    points = embedded[inside]
    own = prototypes.pixel_mask[inside]
    centres = prototypes.prototypes
    corners = (centres.detach() > 0.5).to(points.dtype)
    squared = ((points - corners[own]) ** 2).sum(dim=1)
    if prototypes.num_masks < 2:
        return zero, squared.mean()
    distances = (
        (points * points).sum(1, keepdim=True)
        - 2.0 * points @ centres.T
        + (centres * centres).sum(1)[None]
    )
    keep = None
    if config.filter_temperature > 0:
        with torch.no_grad():
            shares = torch.softmax(-distances / config.filter_temperature, dim=1)
            keep = shares.gather(1, own[:, None])[:, 0] > config.min_confidence
    corner = squared[keep].mean() if keep is not None and bool(keep.any()) else squared.mean()
    return torch.nn.functional.cross_entropy(-distances / config.temperature, own), corner


def train_unic_embeddings(
    training: TrainingSet,
    config: UnicTrainingConfig,
    boundary: BoundaryConfig,
    *,
    seed: int = 0,
    what: str = "unic",
    progress: ProgressCallback | None = None,
    cancel: CancelToken | None = None,
) -> TrainedEmbeddings:
    """Train ``sigmoid(z)`` embeddings on the masked pixels of ``training``."""
    device = torch_device(config.device)
    generator = seeded_generator(seed)
    rng = np.random.default_rng([seed, 2])
    schedule = view_schedule(training, config.steps, rng)
    dims = config.dims
    logits = config.init_scale * torch.randn(training.num_gaussians, dims, generator=generator)
    logits = logits.to(device).requires_grad_(True)
    weight = torch.eye(dims).to(device).requires_grad_(True)
    optimiser = adam([logits, weight], [config.learning_rate, boundary.learning_rate])
    use_triplets = boundary.anchors > 0 and boundary.weight > 0
    samplers: dict[int, _ViewSampler] = {}
    triplet_start = int(boundary.start_fraction * config.steps)

    def step(index: int) -> dict[str, float]:
        view_index = int(schedule[index])
        view = training.views[view_index]
        batch = view.sample(config.pixels_per_step, rng)
        ids, weights = batch_tensors(batch, device)
        masks = torch.from_numpy(batch.masks).to(device)
        embeddings = torch.sigmoid(logits)
        embedded = _normalised_render(embeddings, ids, weights)
        contrast, corner = centroid_losses(embedded, masks, config)
        ramp = min(1.0, index / max(1.0, config.corner_ramp * config.steps))
        loss = contrast + ramp * config.corner_weight * corner
        losses = {"centroid": contrast.item(), "corner": corner.item()}
        if use_triplets and index >= triplet_start:
            if view_index not in samplers:
                check_cancelled(cancel)
                samplers[view_index] = _ViewSampler.of(view, boundary.radius)
            rows = samplers[view_index].draw(view, boundary.anchors, boundary.candidates, rng)
            if rows is not None:
                triplet = _triplet_loss(view, rows, embeddings, weight, boundary, device)
                loss = loss + boundary.weight * triplet
                losses["triplet"] = triplet.item()
        optimiser.zero_grad(set_to_none=True)
        loss.backward()
        optimiser.step()
        losses["total"] = loss.item()
        return losses

    history = run_steps(config.steps, step, what=what, progress=progress, cancel=cancel)
    with torch.no_grad():
        embeddings = torch.sigmoid(logits).cpu().numpy().astype(np.float32)
        projection = weight.detach().cpu().numpy().astype(np.float32)
    return TrainedEmbeddings(embeddings=embeddings, projection=projection, history=history)


def _triplet_loss(
    view: TrainingView,
    rows: np.ndarray,
    embeddings: torch.Tensor,
    weight: torch.Tensor,
    config: BoundaryConfig,
    device: torch.device,
) -> torch.Tensor:
    """Hard-mined triplet margin loss of one step's boundary anchors (projected space)."""
    anchors, width = rows.shape
    batch = view.batch(rows.reshape(-1))
    ids, weights = batch_tensors(batch, device)
    embedded = _normalised_render(embeddings, ids, weights)
    projected = (embedded - 0.5) @ weight.T
    projected = projected / projected.norm(dim=1, keepdim=True).clamp_min(1e-6)
    projected = projected.reshape(anchors, width, -1)
    anchor = projected[:, :1]
    k = config.candidates
    negative = (projected[:, 1 : 1 + k] - anchor).norm(dim=2).min(dim=1).values
    positive = (projected[:, 1 + k :] - anchor).norm(dim=2).max(dim=1).values
    return torch.relu(positive - negative + config.margin).mean()


# --------------------------------------------------------------------------- method
@dataclass(frozen=True)
class UnicMethod:
    """UniC-Lift on frozen geometry.

    Parameters
    ----------
    views
        Which pixels and operator rows are extracted.
    training
        Embedding training.
    boundary
        The boundary triplet loss.
    merge
        Fragment-code merging after decoding.
    min_visibility
        Gaussians with less summed blending weight over the training views stay
        unlabeled (in pixels).
    """

    views: TrainingSetConfig = field(default_factory=TrainingSetConfig)
    training: UnicTrainingConfig = field(default_factory=UnicTrainingConfig)
    boundary: BoundaryConfig = field(default_factory=BoundaryConfig)
    merge: CodeMergeConfig = field(default_factory=CodeMergeConfig)
    min_visibility: float = 0.05
    name: str = "unic"
    description: str = (
        "UniC-Lift: binary per-Gaussian embeddings read off as labels, boundary triplets"
    )

    def __post_init__(self) -> None:
        _positive_float("UnicMethod", "min_visibility", self.min_visibility, allow_zero=True)

    def __call__(
        self,
        inputs: LiftInputs,
        *,
        progress: ProgressCallback | None = None,
        cancel: CancelToken | None = None,
    ) -> LiftOutput:
        """Train on the label maps of ``inputs`` and read the labels off the embeddings."""
        training = training_views_for(inputs, self.views, progress=progress, cancel=cancel)
        trained = train_unic_embeddings(
            training, self.training, self.boundary, seed=inputs.seed, what=self.name,
            progress=progress, cancel=cancel,
        )  # fmt: skip
        labels, confidence = decode_embeddings(
            training, trained.embeddings, self.merge, min_visibility=self.min_visibility,
            progress=progress, cancel=cancel,
        )  # fmt: skip
        return LiftOutput(labels=labels, confidence=confidence, features=trained.embeddings,
                          history=trained.history)  # fmt: skip


def decode_embeddings(
    training: TrainingSet,
    embeddings: np.ndarray,
    merge: CodeMergeConfig | None = None,
    *,
    min_visibility: float = 0.05,
    progress: ProgressCallback | None = None,
    cancel: CancelToken | None = None,
) -> tuple[np.ndarray, np.ndarray]:
    """Per-Gaussian labels ``1..M`` (0 unlabelled) and confidences from trained embeddings."""
    dims = embeddings.shape[1]
    values = np.concatenate([embeddings, np.ones((len(embeddings), 1), np.float32)], axis=1)
    decoded = decode_by_votes(
        training, values, lambda rendered: pack_bits(rendered, dims) + 1,
        min_visibility=min_visibility, progress=progress, cancel=cancel,
    )  # fmt: skip
    merged = merge_fragment_codes(decoded.labels, embeddings, merge)
    return compact_labels(merged), decoded.confidence


METHOD = UnicMethod()
