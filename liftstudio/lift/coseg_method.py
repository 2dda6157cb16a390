"""The ``coseg`` lifting method: CoSegGaussians on frozen geometry (DESIGN §5).

CoSegGaussians lifts 2D features onto the Gaussians and trains a decoder, shared by
every Gaussian, that turns each Gaussian's lifted feature and its spatial neighbourhood
into an identity. Nothing is learned per Gaussian: the only parameters are the
decoder's weights, so Gaussians with alike inputs get alike labels whether or not a
training pixel ever pinned them down. The paper gives no formulas; the choices made
here are:

*Lifted features* (:attr:`CosegMethod.features`). Any
:class:`~liftstudio.lift.features.FeatureSource`; by default
:class:`MembershipColourSource`, the mask-membership features of the label maps
(which masks cover each Gaussian, view after view) next to the DC colour and
normalised centre. A DINOv2 feature file plugs in as a
:class:`~liftstudio.lift.features.FeatureFileSource`.

*Decoder input* (:func:`decoder_inputs`), one row per Gaussian:
``[f_i, mean(f over N_k1(i)), mean(f over N_k2(i)), ..., PE(x_i)]`` where ``N_k(i)`` is
the Gaussian itself with its ``k − 1`` nearest centres (:func:`neighbourhood_means`,
scales :attr:`DecoderConfig.neighbourhoods`, default 8 and 32) and ``PE`` the sinusoidal
encoding of the normalised centre (:func:`position_encoding`). Every column is then
standardised (zero mean, unit variance over the Gaussians the training views see), so
that no block dominates by its scale. The input is computed once: the decoder is the
only thing trained.

*Decoder* (:class:`IdentityDecoder`): an MLP with :attr:`DecoderConfig.layers` hidden
ReLU layers of :attr:`DecoderConfig.hidden` units and ``L`` =
:attr:`DecoderConfig.identities` output logits; its softmax is each Gaussian's
distribution over identities.

*A training step* (:func:`train_decoder`): sample pixels of one view; evaluate the
decoder on the distinct Gaussians those pixels touch only; render their probabilities
(``q_p = Σ_k w_pk softmax(z_{id_pk}) / Σ_k w_pk``, normalised by the pixel's alpha);
match the view's masks to identities (area-aware Hungarian,
:mod:`~liftstudio.lift.id_matching`); cross-entropy ``−log q_p[t_m(p)]`` toward the
identity ``t_m`` of each pixel's mask, as a weighted mean over the sampled pixels.

*Consistency* (the CoSeg idea): a view's label that the model, trained on all the views,
contradicts is probably wrong (a mask that merged two objects, split one, or covers a
stray region). After a warm-up (:attr:`CosegTrainingConfig.consistency_start`, 30 %)
each pixel is weighted by ``max(q_p[t_m], floor)^γ`` (detached,
:func:`consistency_weights`; floor 0.2, γ = 1): the model's agreement with the label.
Weighting per pixel rather than per mask also keeps the good part of a merged mask.
The floor matters: weighting whole masks by their mean agreement without one (the
first version) let the table's identity swallow small objects for good once it had
taken them over (their masks were then contradicted and faded out), PQ 0.79 against
0.88 for no weighting; with a floor of 0.1–0.2 the views that mask an object on its
own still pull it out, PQ 0.99 (floor 0.5 weighs too little, 0.89). The logged
``"consistency"`` is the mean weight of the step's pixels (1 during the warm-up).

*Labels*: the decoder's probabilities of every Gaussian are rendered into every
covered pixel of every training view, each pixel takes the most probable identity, and
those label maps are voted back onto the Gaussians
(:func:`~liftstudio.lift.label_decoding.decode_by_votes`; ``decoding="votes"``, the
default). Reading each Gaussian's own argmax (``decoding="argmax"``) is nearly as good,
since the shared decoder leaves few stray per-Gaussian labels: PQ 0.995 against 0.997
for votes on the tabletop benchmark with SAM-like masks (19 labels against 17), 0.545
against 0.548 on the room; votes were kept as the better, argmax saves the ``N × L``
probability table (1 GB for a million Gaussians) and a pass over the views. Identities
no Gaussian won are dropped, the rest numbered ``1..M``; the confidence is the vote
margin (votes) or the winning probability (argmax). Gaussians the training views
(almost) never see stay unlabeled (0).

*Defaults and cost*: L = 256 identities (rooms of ~60 objects, cluttered scenes of
200+), 2 hidden layers of 64, neighbourhoods of 8 and 32, 4 position octaves, 800 steps
of 4,096 pixels at a learning rate of 3e-3: 10–15 steps/s on one CPU core for a
50k-Gaussian scene (a step evaluates the decoder on the ~15k Gaussians its pixels
touch); the tabletop benchmark (SAM-like masks) takes about a minute, PQ 0.995. In
tuning runs with an earlier weighting, a learning rate of 1e-2, neighbourhoods of 16
and 64 or 1,500 steps scored no better; seed-to-seed spread was about 0.03 PQ.

*Known limit*: the per-view matching only keeps apart objects that some view masks
side by side. On the room benchmark (40 objects, SAM-like masks) the decoder gives
several objects that no view shows together the same identity: 23 labels, PQ 0.55.
"""

from __future__ import annotations

import itertools
import math
from dataclasses import dataclass, field
from typing import Literal

import numpy as np
import torch

from liftstudio.jobs import CancelToken, ProgressCallback, check_cancelled, report
from liftstudio.lift.feature_training import (
    TrainingHistory,
    batch_tensors,
    render_pixels,
    run_steps,
    seeded_generator,
    torch_device,
    view_schedule,
)
from liftstudio.lift.features import (
    ColourPositionSource,
    FeatureSource,
    GaussianFeatures,
    MaskMembershipSource,
    concatenate_features,
    normalised_centres,
)
from liftstudio.lift.id_matching import assignment_cost, match_masks_to_identities
from liftstudio.lift.knn_graph import build_knn_graph
from liftstudio.lift.label_decoding import compact_labels, decode_by_votes
from liftstudio.lift.registry import LiftInputs, LiftOutput
from liftstudio.lift.training_views import TrainingSet, TrainingSetConfig, training_views_for
from liftstudio.scene.gaussians import GaussianScene

#: Rows gathered at once when averaging over neighbourhoods (bounds the memory).
AGGREGATE_CHUNK = 16_384

#: Gaussians evaluated at once when decoding every Gaussian.
DECODE_CHUNK = 65_536


# ---------------------------------------------------------------------------- sources
@dataclass(frozen=True)
class MembershipColourSource:
    """The default lifted features: mask membership next to colour and position.

    :class:`~liftstudio.lift.features.MaskMembershipSource` (unit-length rows) and
    :class:`~liftstudio.lift.features.ColourPositionSource` (values of about 0–1),
    concatenated with weight 1 each.
    """

    membership: MaskMembershipSource = field(default_factory=MaskMembershipSource)
    colour_position: ColourPositionSource = field(default_factory=ColourPositionSource)
    name: str = "mask-membership+colour-position"

    def __call__(
        self,
        inputs: LiftInputs,
        *,
        progress: ProgressCallback | None = None,
        cancel: CancelToken | None = None,
    ) -> GaussianFeatures:
        """Both blocks of ``inputs.gaussians``, side by side."""
        membership = self.membership(inputs, progress=progress, cancel=cancel)
        colour = self.colour_position(inputs, cancel=cancel)
        return concatenate_features(membership, colour)


# ---------------------------------------------------------------------------- configs
@dataclass(frozen=True)
class DecoderConfig:
    """The shared decoder and its input.

    Parameters
    ----------
    identities
        Output identities L, the most objects the scene may hold.
    hidden
        Units per hidden layer.
    layers
        Hidden layers (ReLU).
    neighbourhoods
        Neighbourhood sizes (the Gaussian itself included) whose mean lifted features
        join the input; empty for none. Each must be at least 2.
    frequencies
        Octaves of the sinusoidal position encoding (0: the normalised centre only).
    """

    identities: int = 256
    hidden: int = 64
    layers: int = 2
    neighbourhoods: tuple[int, ...] = (8, 32)
    frequencies: int = 4

    def __post_init__(self) -> None:
        _check_int("DecoderConfig.identities", self.identities, 2)
        _check_int("DecoderConfig.hidden", self.hidden, 1)
        _check_int("DecoderConfig.layers", self.layers, 1)
        _check_int("DecoderConfig.frequencies", self.frequencies, 0)
        object.__setattr__(self, "neighbourhoods", tuple(self.neighbourhoods))
        for size in self.neighbourhoods:
            _check_int("DecoderConfig.neighbourhoods entries", size, 2)


@dataclass(frozen=True)
class CosegTrainingConfig:
    """Training of the decoder.

    Parameters
    ----------
    steps
        Optimisation steps (one view each).
    pixels_per_step
        Masked pixels sampled per step.
    learning_rate
        Adam learning rate of the decoder.
    consistency_start
        Share of the steps trained with every pixel at weight 1 before the consistency
        weights start, in [0, 1]; 1 turns them off.
    consistency_floor
        Smallest consistency weight, in [0, 1] (1 also turns them off).
    consistency_power
        γ of the weights ``max(agreement, floor)^γ``, ≥ 0 (0 also turns them off).
    device
        Torch device (None: CUDA when present, else CPU).
    """

    steps: int = 800
    pixels_per_step: int = 4096
    learning_rate: float = 3e-3
    consistency_start: float = 0.3
    consistency_floor: float = 0.2
    consistency_power: float = 1.0
    device: str | None = None

    def __post_init__(self) -> None:
        _check_int("CosegTrainingConfig.steps", self.steps, 1)
        _check_int("CosegTrainingConfig.pixels_per_step", self.pixels_per_step, 1)
        if not (math.isfinite(self.learning_rate) and self.learning_rate > 0):
            raise ValueError(
                f"CosegTrainingConfig.learning_rate must be > 0, got {self.learning_rate!r}"
            )
        if not 0.0 <= self.consistency_start <= 1.0:
            raise ValueError(
                "CosegTrainingConfig.consistency_start must lie in [0, 1], "
                f"got {self.consistency_start!r}"
            )
        if not 0.0 <= self.consistency_floor <= 1.0:
            raise ValueError(
                "CosegTrainingConfig.consistency_floor must lie in [0, 1], "
                f"got {self.consistency_floor!r}"
            )
        if not (math.isfinite(self.consistency_power) and self.consistency_power >= 0):
            raise ValueError(
                "CosegTrainingConfig.consistency_power must be a finite number >= 0, "
                f"got {self.consistency_power!r}"
            )


# ---------------------------------------------------------------------------- decoder input
def neighbourhood_means(
    values: np.ndarray,
    neighbors: np.ndarray,
    sizes: tuple[int, ...],
    *,
    cancel: CancelToken | None = None,
) -> list[np.ndarray]:
    """Mean of ``values`` over each point and its nearest neighbours, at several sizes.

    Parameters
    ----------
    values : (N, D) array
        Per-point values.
    neighbors : (N, k) int array
        Each point's neighbours, nearest first, never itself (a
        :class:`~liftstudio.lift.knn_graph.KnnGraph`'s ``neighbors``).
    sizes
        Neighbourhood sizes ``s``, the point included: the mean runs over the point and
        its ``s − 1`` nearest neighbours. Each in ``[1, k + 1]``.
    cancel
        Checked between chunks of rows.

    Returns
    -------
    list of (N, D) float32
        One array per size.
    """
    values = np.asarray(values, dtype=np.float32)
    k = neighbors.shape[1]
    for size in sizes:
        if not 1 <= size <= k + 1:
            raise ValueError(f"neighbourhood size {size} needs 1..{k + 1} (k = {k} neighbours)")
    outputs = [np.empty_like(values) for _ in sizes]
    widest = max(sizes, default=1) - 1
    for start in range(0, len(values), AGGREGATE_CHUNK):
        check_cancelled(cancel)
        stop = min(start + AGGREGATE_CHUNK, len(values))
        gathered = values[neighbors[start:stop, :widest]].astype(np.float64)
        running = np.cumsum(gathered, axis=1)
        own = values[start:stop].astype(np.float64)
        for out, size in zip(outputs, sizes, strict=True):
            total = own if size == 1 else own + running[:, size - 2]
            out[start:stop] = total / size
    return outputs


def position_encoding(means: np.ndarray, frequencies: int) -> np.ndarray:
    """Sinusoidal encoding of normalised centres.

    The centres are normalised as by
    :func:`~liftstudio.lift.features.colour_position_features`: ``u = (μ − c) / e`` with
    ``c`` the middle and ``e`` the diagonal of the box spanning the 1st–99th
    percentiles per axis (1 when all centres coincide), so ``u`` lies in about
    ``[−0.5, 0.5]``. The encoding is ``[u, sin(2^j π u), cos(2^j π u) for j < F]``.

    Parameters
    ----------
    means : (N, 3) array
        Centres.
    frequencies
        Octaves F (≥ 0).

    Returns
    -------
    (N, 3 + 6 F) float32
        Columns ``u`` (3), then per octave ``j`` the sines (3), then the cosines (3).
    """
    _check_int("frequencies", frequencies, 0)
    unit = normalised_centres(means)
    blocks = [unit]
    for octave in range(frequencies):
        angle = (2.0**octave) * math.pi * unit
        blocks += [np.sin(angle), np.cos(angle)]
    return np.concatenate(blocks, axis=1).astype(np.float32)


def standardise_columns(values: np.ndarray, rows: np.ndarray | None = None) -> np.ndarray:
    """(N, D) float32: each column centred and scaled to unit variance over ``rows``.

    ``rows`` (a boolean mask) chooses the Gaussians the statistics come from (all when
    None or when it selects none); constant columns are only centred.
    """
    values = np.asarray(values, dtype=np.float64)
    fit = values if rows is None or not np.any(rows) else values[rows]
    std = fit.std(axis=0)
    return ((values - fit.mean(axis=0)) / np.where(std > 1e-8, std, 1.0)).astype(np.float32)


def decoder_inputs(
    features: np.ndarray,
    scene: GaussianScene,
    config: DecoderConfig,
    seen: np.ndarray | None = None,
    *,
    progress: ProgressCallback | None = None,
    cancel: CancelToken | None = None,
) -> np.ndarray:
    """The decoder's input rows: ``[f, neighbourhood means of f, PE(centre)]``, standardised.

    Parameters
    ----------
    features : (N, D)
        Lifted features.
    scene
        The Gaussians (their centres).
    config
        Neighbourhood sizes and position octaves.
    seen : (N,) bool, optional
        Gaussians whose statistics standardise the columns.
    progress, cancel
        Passed to the kNN graph build; cancel also between chunks.

    Returns
    -------
    (N, D (1 + len(neighbourhoods)) + 3 + 6 F) float32
    """
    blocks = [np.asarray(features, dtype=np.float32)]
    sizes = tuple(min(size, len(scene)) for size in config.neighbourhoods)
    if sizes and max(sizes) > 1:
        graph = build_knn_graph(scene.means, max(sizes) - 1, progress=progress, cancel=cancel)
        blocks += neighbourhood_means(blocks[0], graph.neighbors, sizes, cancel=cancel)
    blocks.append(position_encoding(scene.means, config.frequencies))
    return standardise_columns(np.concatenate(blocks, axis=1), seen)


# ---------------------------------------------------------------------------- decoder
class IdentityDecoder(torch.nn.Module):
    """MLP ``inputs → hidden (ReLU) × layers → identities`` logits.

    Weights start as in :class:`torch.nn.Linear` (uniform in ``±1/√fan_in``), drawn
    from ``generator`` so that no global seed is touched.
    """

    def __init__(
        self, inputs: int, config: DecoderConfig, generator: torch.Generator | None = None
    ) -> None:
        super().__init__()
        widths = [inputs] + [config.hidden] * config.layers + [config.identities]
        self.linears = torch.nn.ModuleList(
            torch.nn.Linear(a, b) for a, b in itertools.pairwise(widths)
        )
        with torch.no_grad():
            for linear in self.linears:
                bound = 1.0 / math.sqrt(linear.in_features)
                for parameter in (linear.weight, linear.bias):
                    parameter.copy_(
                        (torch.rand(parameter.shape, generator=generator) * 2 - 1) * bound
                    )

    def hidden(self, x: torch.Tensor) -> torch.Tensor:
        """The last hidden layer's activations."""
        for linear in self.linears[:-1]:
            x = torch.relu(linear(x))
        return x

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Identity logits (rows of ``x`` → rows of L logits)."""
        return self.linears[-1](self.hidden(x))


# ---------------------------------------------------------------------------- losses
def consistency_weights(
    probabilities: torch.Tensor,
    pixel_mask: torch.Tensor,
    matched: torch.Tensor,
    floor: float = 0.2,
    power: float = 1.0,
) -> torch.Tensor:
    """(P,) per-pixel weights ``max(probabilities[p, matched[mask(p)]], floor)^power``.

    The model's (detached) probability of the identity the pixel's mask was matched to:
    its agreement, learned from every view, with this view's label. A label the other
    views contradict (a mask that merged two objects, split one, or covers a stray
    region) gets a low weight; the floor keeps a little weight on every label, so that
    an object the model has wrongly merged into a neighbour can still be pulled out by
    the views that mask it on its own.

    Parameters
    ----------
    probabilities : (P, L) tensor
        Each pixel's distribution over identities (detached here).
    pixel_mask : (P,) int64 tensor
        Mask index per pixel, -1 outside every mask.
    matched : (M,) int64 tensor
        Each mask's identity, -1 for masks left without one.
    floor
        Smallest weight of a labelled pixel, in [0, 1].
    power
        γ ≥ 0.

    Returns
    -------
    (P,) float tensor in [0, 1]
        0 for pixels outside every mask or in a mask without an identity.
    """
    probabilities = probabilities.detach()
    targets = torch.where(pixel_mask >= 0, matched[pixel_mask.clamp_min(0)], -1)
    has_target = targets >= 0
    rows = torch.arange(len(targets), device=targets.device)
    agreement = probabilities[rows, targets.clamp_min(0)].clamp(floor, 1.0) ** power
    return torch.where(has_target, agreement, torch.zeros_like(agreement))


# ---------------------------------------------------------------------------- training
@dataclass(frozen=True)
class TrainedDecoder:
    """The result of :func:`train_decoder`.

    Attributes
    ----------
    decoder
        The trained decoder (on the CPU, in eval mode).
    history
        The loss log.
    """

    decoder: IdentityDecoder
    history: TrainingHistory


def train_decoder(
    training: TrainingSet,
    inputs: np.ndarray,
    decoder_config: DecoderConfig,
    config: CosegTrainingConfig,
    *,
    seed: int = 0,
    what: str = "coseg",
    progress: ProgressCallback | None = None,
    cancel: CancelToken | None = None,
) -> TrainedDecoder:
    """Train the shared decoder on the masked pixels of ``training``.

    Parameters
    ----------
    training
        The views (:func:`~liftstudio.lift.training_views.training_views_for`).
    inputs : (N, I) float32
        The decoder's input rows (:func:`decoder_inputs`).
    decoder_config, config
        Decoder and training settings.
    seed
        Seeds the initialisation, the view order and the pixel samples: the same seed
        on the same inputs gives the same result on the CPU.
    what, progress, cancel
        See :func:`~liftstudio.lift.feature_training.run_steps`.
    """
    device = torch_device(config.device)
    generator = seeded_generator(seed)
    rng = np.random.default_rng([seed, 2])
    schedule = view_schedule(training, config.steps, rng)
    table = torch.from_numpy(np.ascontiguousarray(inputs, dtype=np.float32)).to(device)
    decoder = IdentityDecoder(table.shape[1], decoder_config, generator).to(device)
    optimiser = torch.optim.Adam(decoder.parameters(), lr=config.learning_rate)
    consistency_from = math.ceil(config.consistency_start * config.steps)
    use_consistency = (
        config.consistency_power > 0
        and config.consistency_start < 1
        and config.consistency_floor < 1
    )

    def step(index: int) -> dict[str, float]:
        view = training.views[schedule[index]]
        batch = view.sample(config.pixels_per_step, rng)
        ids, weights = batch_tensors(batch, device)
        masks = torch.from_numpy(batch.masks).to(device)
        unique, local = torch.unique(ids, return_inverse=True)
        probabilities = torch.softmax(decoder(table[unique]), dim=1)
        alpha = weights.sum(dim=1, keepdim=True).clamp_min(1e-6)
        rendered = render_pixels(probabilities, local, weights) / alpha
        cost = assignment_cost(rendered.detach(), masks, view.num_masks)
        matched = torch.from_numpy(match_masks_to_identities(cost)).to(device)
        targets = torch.where(masks >= 0, matched[masks.clamp_min(0)], -1)
        keep = targets >= 0
        if use_consistency and index >= consistency_from:
            pixel_weights = consistency_weights(
                rendered, masks, matched, config.consistency_floor, config.consistency_power
            )[keep]
        else:
            pixel_weights = torch.ones(int(keep.sum()), dtype=rendered.dtype, device=device)
        picked = rendered[keep, targets[keep]]
        nll = -torch.log(picked.clamp_min(1e-8))
        loss = (pixel_weights * nll).sum() / pixel_weights.sum().clamp_min(1e-6)
        losses = {
            "cross_entropy": nll.mean().item(),
            "consistency": pixel_weights.mean().item() if len(pixel_weights) else 1.0,
        }
        optimiser.zero_grad(set_to_none=True)
        loss.backward()
        optimiser.step()
        losses["total"] = loss.item()
        return losses

    decoder.train()
    history = run_steps(config.steps, step, what=what, progress=progress, cancel=cancel)
    decoder = decoder.cpu().eval()
    return TrainedDecoder(decoder=decoder, history=history)


def decode_all(
    decoder: IdentityDecoder, inputs: np.ndarray, *, cancel: CancelToken | None = None
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Every Gaussian through the decoder, in chunks.

    Returns
    -------
    identity : (N,) int64
        Argmax identity (0-based).
    probability : (N,) float32
        Its softmax probability.
    hidden : (N, hidden) float32
        The last hidden layer's activations.
    """
    n = len(inputs)
    identity = np.empty(n, dtype=np.int64)
    probability = np.empty(n, dtype=np.float32)
    hidden = np.empty((n, decoder.linears[-1].in_features), dtype=np.float32)
    parameter = next(decoder.parameters())
    with torch.no_grad():
        for start in range(0, n, DECODE_CHUNK):
            check_cancelled(cancel)
            stop = min(start + DECODE_CHUNK, n)
            rows = torch.from_numpy(np.ascontiguousarray(inputs[start:stop])).to(parameter)
            activations = decoder.hidden(rows)
            shares = torch.softmax(decoder.linears[-1](activations), dim=1)
            best, index = shares.max(dim=1)
            identity[start:stop] = index.cpu().numpy()
            probability[start:stop] = best.cpu().numpy()
            hidden[start:stop] = activations.cpu().numpy()
    return identity, probability, hidden


# ---------------------------------------------------------------------------- method
@dataclass(frozen=True)
class CosegMethod:
    """CoSegGaussians on frozen geometry (see the module docstring).

    Parameters
    ----------
    views
        Which pixels and operator rows are extracted.
    features
        The lifted per-Gaussian features (default :class:`MembershipColourSource`).
    decoder
        The shared decoder and its input.
    training
        Decoder training.
    decoding
        ``"votes"`` (the default, see the module docstring): the decoder's
        probabilities rendered into every training view, labelled per pixel and voted
        back; ``"argmax"``: each Gaussian's own decoder output.
    min_visibility
        Gaussians with less summed blending weight over the training views stay
        unlabeled (in pixels).
    """

    views: TrainingSetConfig = field(default_factory=TrainingSetConfig)
    features: FeatureSource = field(default_factory=MembershipColourSource)
    decoder: DecoderConfig = field(default_factory=DecoderConfig)
    training: CosegTrainingConfig = field(default_factory=CosegTrainingConfig)
    decoding: Literal["argmax", "votes"] = "votes"
    min_visibility: float = 0.05
    name: str = "coseg"
    description: str = (
        "CoSegGaussians: a shared decoder over lifted features and their neighbourhoods, "
        "trained with matched cross-entropy and cross-view consistency"
    )

    def __post_init__(self) -> None:
        if self.decoding not in ("argmax", "votes"):
            raise ValueError(f"decoding must be 'argmax' or 'votes', got {self.decoding!r}")
        if not (math.isfinite(self.min_visibility) and self.min_visibility >= 0):
            raise ValueError(
                f"min_visibility must be a finite number >= 0, got {self.min_visibility!r}"
            )
        if not isinstance(self.features, FeatureSource):
            raise ValueError(
                f"features must be a FeatureSource, got {type(self.features).__name__}"
            )

    def __call__(
        self,
        inputs: LiftInputs,
        *,
        progress: ProgressCallback | None = None,
        cancel: CancelToken | None = None,
    ) -> LiftOutput:
        """Lift features, train the decoder on the label maps of ``inputs``, decode labels."""
        training = training_views_for(inputs, self.views, progress=progress, cancel=cancel)
        lifted = self.features(inputs, progress=progress, cancel=cancel)
        if lifted.num_gaussians != len(inputs.gaussians):
            raise ValueError(
                f"the feature source {lifted.name!r} gave {lifted.num_gaussians} rows for "
                f"{len(inputs.gaussians)} Gaussians"
            )
        seen = training.seen(self.min_visibility)
        rows = decoder_inputs(
            lifted.values, inputs.gaussians, self.decoder, seen, progress=progress, cancel=cancel
        )
        trained = train_decoder(
            training, rows, self.decoder, self.training, seed=inputs.seed, what=self.name,
            progress=progress, cancel=cancel,
        )  # fmt: skip
        identity, probability, hidden = decode_all(trained.decoder, rows, cancel=cancel)
        if self.decoding == "argmax":
            labels = np.where(seen, identity + 1, 0)
            confidence = np.where(seen, probability, 0.0).astype(np.float32)
        else:
            labels, confidence = self._decode_by_votes(training, trained.decoder, rows, cancel)
        report(progress, 1, 1, f"{self.name}: labels decoded")
        return LiftOutput(
            labels=compact_labels(labels),
            confidence=confidence,
            features=hidden,
            history=trained.history,
        )

    def _decode_by_votes(
        self,
        training: TrainingSet,
        decoder: IdentityDecoder,
        rows: np.ndarray,
        cancel: CancelToken | None,
    ) -> tuple[np.ndarray, np.ndarray]:
        probabilities = np.empty((len(rows), self.decoder.identities), dtype=np.float32)
        with torch.no_grad():
            for start in range(0, len(rows), DECODE_CHUNK):
                check_cancelled(cancel)
                chunk = torch.from_numpy(np.ascontiguousarray(rows[start : start + DECODE_CHUNK]))
                probabilities[start : start + len(chunk)] = torch.softmax(
                    decoder(chunk), dim=1
                ).numpy()
        decoded = decode_by_votes(
            training,
            probabilities,
            lambda rendered: np.argmax(rendered, axis=1) + 1,
            min_visibility=self.min_visibility,
            cancel=cancel,
        )
        return decoded.labels, decoded.confidence


def _check_int(name: str, value: int, minimum: int) -> None:
    if isinstance(value, bool) or not isinstance(value, int | np.integer) or value < minimum:
        raise ValueError(f"{name} must be an integer >= {minimum}, got {value!r}")


METHOD = CosegMethod()
