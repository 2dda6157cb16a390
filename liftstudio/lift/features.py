"""Per-Gaussian feature vectors for graph diffusion and clustering (DESIGN §5, LUDVIG).

LUDVIG's graph diffusion weighs each edge of a kNN graph by how alike the two
Gaussians' features are. Its features are uplifted DINOv2 maps; where no DINOv2 model
is at hand, these stand in:

- :func:`mask_membership_features`: which 2D masks each Gaussian falls in, view by
  view, compressed to a few dimensions. Gaussians that the same masks cover in many
  views end up close, Gaussians of different objects far apart. Needs only the label
  maps (SAM's automatic masks, simulated masks, any segmenter's).
- :func:`colour_position_features`: the Gaussian's DC colour and its normalised centre.
- :func:`features_from_maps`: any C-channel 2D feature maps (the DINOv2 path) uplifted
  onto the Gaussians, standardised and reduced by PCA.
- :func:`load_feature_file`: a user's own ``(N, D)`` ``.npy`` file.

Every function returns a :class:`GaussianFeatures`; :func:`concatenate_features`
stacks several, and a :class:`FeatureSource` wraps any of them (and later learned or
DINOv2 features) behind one call taking :class:`~liftstudio.lift.registry.LiftInputs`.

The reductions (a randomised truncated SVD, an exact PCA) are written with numpy and
scipy alone.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Protocol, runtime_checkable

import numpy as np
import scipy.sparse as sp
import scipy.sparse.linalg as spla

from liftstudio.errors import InputFileError
from liftstudio.fileio import read_npy
from liftstudio.jobs import CancelToken, ProgressCallback, check_cancelled, report
from liftstudio.lift.registry import LiftInputs
from liftstudio.lift.uplift import uplift_maps
from liftstudio.lift.votes import label_weights_in_view
from liftstudio.render.backend import RenderBackend
from liftstudio.render.operator_cache import OperatorCache
from liftstudio.scene.camera import Camera
from liftstudio.scene.gaussians import GaussianScene
from liftstudio.scene.sh import SH_C0


# ---------------------------------------------------------------------------- containers
@dataclass(frozen=True)
class GaussianFeatures:
    """One feature vector per Gaussian.

    Attributes
    ----------
    values : (N, D) float32
        The features; finite. Gaussians a source knows nothing about (never seen,
        in no mask) get a row of zeros.
    name
        What made them (``"mask-membership"``, ``"colour-position"``, a file name...).
    notes
        Human-readable remarks worth showing (how many Gaussians got zeros, variance
        kept by a reduction...).

    Raises
    ------
    ValueError
        If ``values`` is not a 2D array with at least one column, or is not finite.
    """

    values: np.ndarray
    name: str
    notes: tuple[str, ...] = field(default=())

    def __post_init__(self) -> None:
        values = np.asarray(self.values)
        if values.ndim != 2 or values.shape[1] < 1:
            raise ValueError(f"features must have shape (N, D) with D >= 1, got {values.shape}")
        values = np.ascontiguousarray(values, dtype=np.float32)
        if not np.isfinite(values).all():
            raise ValueError(f"features {self.name!r} contain NaN or inf")
        object.__setattr__(self, "values", values)
        object.__setattr__(self, "notes", tuple(self.notes))

    @property
    def num_gaussians(self) -> int:
        """Number of rows N."""
        return int(self.values.shape[0])

    @property
    def dims(self) -> int:
        """Number of dimensions D."""
        return int(self.values.shape[1])


@runtime_checkable
class FeatureSource(Protocol):
    """Anything that makes per-Gaussian features from a lifting job's inputs.

    The built-in sources are :class:`MaskMembershipSource`, :class:`ColourPositionSource`
    and :class:`FeatureFileSource`; learned features and DINOv2 features plug in by
    offering the same call.
    """

    name: str

    def __call__(
        self,
        inputs: LiftInputs,
        *,
        progress: ProgressCallback | None = None,
        cancel: CancelToken | None = None,
    ) -> GaussianFeatures:
        """Compute the features of ``inputs.gaussians``."""
        ...


@dataclass(frozen=True)
class MembershipMatrix:
    """Each Gaussian's share of every 2D mask of every view, as a sparse matrix.

    Attributes
    ----------
    matrix : (N, M) scipy.sparse.csr_matrix of float32
        ``matrix[i, m]``: the weight that the pixels of mask ``m`` give Gaussian ``i``,
        divided by the Gaussian's total weight in that mask's view, in [0, 1]. Only
        shares of at least ``min_share`` are stored.
    columns : (M, 2) int64
        ``(view index, label id)`` of each column.
    """

    matrix: sp.csr_matrix
    columns: np.ndarray

    @property
    def num_masks(self) -> int:
        """Number of columns M (masks over all views)."""
        return int(self.matrix.shape[1])


# ---------------------------------------------------------------------------- mask membership
def membership_matrix(
    backend: RenderBackend,
    scene: GaussianScene,
    cameras: Sequence[Camera],
    label_maps: Sequence[np.ndarray],
    *,
    top_k: int = 16,
    min_share: float = 0.05,
    cache: OperatorCache | None = None,
    progress: ProgressCallback | None = None,
    cancel: CancelToken | None = None,
) -> MembershipMatrix:
    """Build the sparse Gaussian × mask share matrix (see :class:`MembershipMatrix`).

    Parameters
    ----------
    backend, scene
        Render backend and Gaussians.
    cameras, label_maps
        One (H, W) integer label map per camera, 0 = in no mask. Ids need not agree
        across views: every (view, label ≥ 1) pair is its own column. A map may be
        smaller than its camera's image (same aspect ratio).
    top_k
        Gaussians kept per pixel in the operator rows.
    min_share
        Shares below this are not stored (they are mostly boundary noise), in [0, 1).
    cache
        On-disk operator-row cache; None computes the rows afresh.
    progress, cancel
        One progress step per view; cancel between views.

    Returns
    -------
    MembershipMatrix
        Never densified: memory grows with the stored shares, about one or two per
        Gaussian and view.

    Raises
    ------
    ValueError
        If the counts differ, ``min_share`` is outside [0, 1), or a label map is bad
        (naming the view).
    liftstudio.jobs.JobCancelled
        If ``cancel`` was set.
    """
    if len(cameras) != len(label_maps):
        raise ValueError(f"{len(cameras)} cameras but {len(label_maps)} label maps were given")
    if not 0.0 <= min_share < 1.0:
        raise ValueError(f"min_share must lie in [0, 1), got {min_share}")
    n = len(scene)
    rows: list[np.ndarray] = []
    cols: list[np.ndarray] = []
    shares: list[np.ndarray] = []
    columns: list[np.ndarray] = []
    offset = 0
    for index, (camera, label_map) in enumerate(zip(cameras, label_maps, strict=True)):
        check_cancelled(cancel)
        view = label_weights_in_view(backend, scene, camera, label_map, top_k=top_k, cache=cache)
        in_mask = view.labels >= 1
        gaussians = view.gaussians[in_mask]
        beta = view.beta[gaussians].astype(np.float64)
        share = np.divide(
            view.weights[in_mask].astype(np.float64),
            beta,
            out=np.zeros(len(gaussians)),
            where=beta > 0,
        )
        keep = (share >= min_share) & (share > 0)
        labels, local = np.unique(view.labels[in_mask][keep], return_inverse=True)
        rows.append(gaussians[keep].astype(np.int64))
        cols.append(local.astype(np.int64) + offset)
        shares.append(np.minimum(share[keep], 1.0).astype(np.float32))
        columns.append(np.stack([np.full(len(labels), index), labels], axis=1).astype(np.int64))
        offset += len(labels)
        report(progress, index + 1, len(cameras), f"mask shares from view {camera.name}")
    matrix = sp.csr_matrix(
        (
            np.concatenate(shares) if shares else np.zeros(0, np.float32),
            (
                np.concatenate(rows) if rows else np.zeros(0, np.int64),
                np.concatenate(cols) if cols else np.zeros(0, np.int64),
            ),
        ),
        shape=(n, offset),
        dtype=np.float32,
    )
    table = np.concatenate(columns) if columns else np.zeros((0, 2), np.int64)
    return MembershipMatrix(matrix=matrix, columns=table)


def mask_membership_features(
    backend: RenderBackend,
    scene: GaussianScene,
    cameras: Sequence[Camera],
    label_maps: Sequence[np.ndarray],
    *,
    dims: int = 32,
    top_k: int = 16,
    min_share: float = 0.05,
    min_overlap: float = 0.05,
    propagate: bool = True,
    seed: int = 0,
    cache: OperatorCache | None = None,
    progress: ProgressCallback | None = None,
    cancel: CancelToken | None = None,
) -> GaussianFeatures:
    """Features that say which 2D masks cover each Gaussian, view after view.

    Each Gaussian's row of the share matrix ``X`` (:func:`membership_matrix`) is
    turned into a feature vector in four steps:

    1. *consensus* (``propagate=True``): a Gaussian hidden in view ``v`` has no
       shares there, so two Gaussians of one object seen from different sides would
       have little in common. Each mask ``a`` therefore passes on, for every mask
       ``b``, the fraction of its Gaussians (share-weighted, among those seen in
       ``b``'s view) that lie in ``b``: ``P[a, b] = Σ_j X[j,a] X[j,b] / Σ_j X[j,a]
       seen_v(j)``, entries below ``min_overlap`` dropped, and the row becomes
       ``X P`` (within its own views this is about ``X`` itself). Every Gaussian of an
       object then gets about the same row: the object's masks in every view;
    2. rows are scaled to unit length, so Gaussians seen in many and in few views
       are comparable;
    3. a randomised truncated SVD (Halko et al. 2011, seeded with ``seed``) projects
       the rows onto their ``dims`` main directions (skipped when there are at most
       ``dims`` masks: the rows are then kept exactly, zero-padded). ``X P`` is never
       formed whole: the SVD only multiplies by ``X``, ``P`` and their transposes,
       and row lengths are computed a block of rows at a time, so memory stays
       about that of ``X`` and ``P``;
    4. rows are scaled to unit length again.

    Features therefore lie on the unit sphere: ``‖f_i − f_j‖² = 2 − 2·cos``, near 0
    for Gaussians in the same masks and near √2 for Gaussians of objects no mask
    joins. Gaussians in no mask of any view (never seen, or only ever in unmasked
    pixels) get zeros, at distance 1 from everything else.

    Parameters
    ----------
    backend, scene, cameras, label_maps, top_k, min_share, cache
        As for :func:`membership_matrix`.
    dims
        Feature dimensions D (≥ 1).
    min_overlap
        Mask-to-mask fractions below this are not passed on (they come from shared
        boundaries), in [0, 1).
    propagate
        Whether to apply the consensus step (1); without it the features only link
        Gaussians seen in the same views.
    seed
        Seed of the randomised SVD.
    progress, cancel
        One step per view, plus one for the reduction; cancel between views.

    Returns
    -------
    GaussianFeatures
        ``(N, dims)`` float32, named ``"mask-membership"``.
    """
    dims = _positive_int("dims", dims)
    if not 0.0 <= min_overlap < 1.0:
        raise ValueError(f"min_overlap must lie in [0, 1), got {min_overlap}")
    steps = len(cameras) + 1
    membership = membership_matrix(
        backend,
        scene,
        cameras,
        label_maps,
        top_k=top_k,
        min_share=min_share,
        cache=cache,
        progress=progress if progress is None else lambda d, _t, m: progress(d, steps, m),
        cancel=cancel,
    )
    check_cancelled(cancel)
    matrix = sp.csr_matrix(membership.matrix, dtype=np.float64)
    transfer = None
    if propagate:
        transfer = _transfer_matrix(matrix, membership.columns[:, 0], len(cameras), min_overlap)
    rows = _ScaledRows(matrix, transfer)
    notes = [f"{membership.num_masks} masks in {len(cameras)} views"]
    if membership.num_masks <= dims:
        values = np.zeros((len(scene), dims), dtype=np.float64)
        values[:, : membership.num_masks] = rows.dense()
        notes.append("kept exactly (no more masks than dimensions)")
    else:
        values, kept = _top_singular_projection(rows, dims, seed)
        notes.append(f"SVD kept {100 * kept:.0f}% of the squared length")
    values = _normalise_dense_rows(values)
    unmasked = int(np.count_nonzero(np.diff(membership.matrix.indptr) == 0))
    if unmasked:
        notes.append(f"{unmasked} of {len(scene)} Gaussians are in no mask (zero features)")
    report(progress, steps, steps, "mask-membership features ready")
    return GaussianFeatures(values=values, name="mask-membership", notes=tuple(notes))


# ---------------------------------------------------------------------------- colour and position
def colour_position_features(
    scene: GaussianScene,
    *,
    colour_weight: float = 1.0,
    position_weight: float = 1.0,
    extent_percentile: float = 1.0,
) -> GaussianFeatures:
    """DC colour and normalised position: ``[w_c · rgb, w_p · (μ − centre) / extent]``.

    Parameters
    ----------
    scene
        The Gaussians.
    colour_weight
        Multiplies the colour, ``rgb = clip(0.5 + C0 · f_dc, 0, 1)`` (SH band 0, what
        the Gaussian shows from every side).
    position_weight
        Multiplies the normalised centre.
    extent_percentile
        The box the centres are normalised by spans percentiles
        ``[p, 100 − p]`` of the centres on each axis, so a few far floaters do not
        squash the scene; ``centre`` is its middle and ``extent`` its diagonal length
        (1 when all centres coincide). 0 uses the full bounding box.

    Returns
    -------
    GaussianFeatures
        ``(N, 6)`` float32 (3 colour, 3 position columns), named ``"colour-position"``.

    Raises
    ------
    ValueError
        For negative or non-finite weights, both weights zero, an empty scene, or a
        percentile outside [0, 50).
    """
    for label, value in (("colour_weight", colour_weight), ("position_weight", position_weight)):
        if not np.isfinite(value) or value < 0:
            raise ValueError(f"{label} must be a finite number >= 0, got {value}")
    if colour_weight == 0 and position_weight == 0:
        raise ValueError("colour_weight and position_weight are both 0: the features would be 0")
    if not 0.0 <= extent_percentile < 50.0:
        raise ValueError(f"extent_percentile must lie in [0, 50), got {extent_percentile}")
    if len(scene) == 0:
        raise ValueError("the scene has no Gaussians")
    colours = np.clip(0.5 + SH_C0 * scene.sh[:, 0, :].astype(np.float64), 0.0, 1.0)
    positions = normalised_centres(scene.means, extent_percentile)
    values = np.concatenate([colour_weight * colours, position_weight * positions], axis=1)
    return GaussianFeatures(values=values, name="colour-position")


def central_box(means: np.ndarray, percentile: float = 1.0) -> tuple[np.ndarray, np.ndarray]:
    """(low (3,), high (3,)) float64: the central box of the centres.

    It spans the ``percentile`` to ``100 - percentile`` percentiles per axis (0: the
    centres' min and max).
    """
    means = np.asarray(means, dtype=np.float64)
    if percentile == 0:
        return means.min(axis=0), means.max(axis=0)
    low, high = np.percentile(means, [percentile, 100.0 - percentile], axis=0)
    return low, high


def normalised_centres(means: np.ndarray, percentile: float = 1.0) -> np.ndarray:
    """(N, 3) float64 centres ``(μ − c) / e``, about ``[−0.5, 0.5]`` each.

    ``c`` is the middle and ``e`` the diagonal of :func:`central_box` (1 when all
    centres coincide).
    """
    low, high = central_box(means, percentile)
    extent = float(np.linalg.norm(high - low)) or 1.0
    return (np.asarray(means, dtype=np.float64) - 0.5 * (low + high)) / extent


# ---------------------------------------------------------------------------- uplifted maps
def features_from_maps(
    backend: RenderBackend,
    scene: GaussianScene,
    cameras: Sequence[Camera],
    feature_maps: Iterable[np.ndarray],
    *,
    dims: int | None = None,
    standardise: bool = True,
    min_visibility: float = 0.0,
    fit_samples: int = 200_000,
    seed: int = 0,
    name: str = "uplifted-maps",
    progress: ProgressCallback | None = None,
    cancel: CancelToken | None = None,
) -> GaussianFeatures:
    """Per-Gaussian features uplifted from C-channel 2D feature maps (the DINOv2 path).

    Each map is uplifted with :func:`~liftstudio.lift.uplift.uplift_maps` at the
    map's own size (a 60×80 patch-feature grid is uplifted through the operator of a
    60×80 rendering, so no upsampling is needed). Then, over the visible Gaussians:
    optional standardisation (zero mean, unit variance per channel; constant channels
    are only centred) and optional PCA to ``dims`` components. The PCA scores are the
    projections onto the components, so component ``k`` keeps its own spread (its
    singular value), as LUDVIG scales its DINOv2 components.

    Parameters
    ----------
    backend, scene
        Render backend and Gaussians.
    cameras
        One camera per map.
    feature_maps
        One (H, W, C) (or (H, W)) float map per camera; an iterator keeps one map in
        memory at a time.
    dims
        PCA components to keep (≥ 1, at most C); None keeps the C channels.
    standardise
        Whether to standardise the channels before PCA.
    min_visibility
        Gaussians whose total weight ``β`` is at most this get zeros.
    fit_samples
        PCA is fitted on at most this many visible Gaussians (drawn with ``seed``),
        then applied to all.
    seed
        Seed of the subsample.
    name
        Name of the returned features.
    progress, cancel
        One step per view, plus one for the reduction.

    Returns
    -------
    GaussianFeatures
        ``(N, dims or C)`` float32; zeros for Gaussians no view saw.

    Raises
    ------
    ValueError
        For bad maps (from the uplift, naming the view), ``dims`` above C or below 1,
        or too few visible Gaussians for the PCA.
    """
    if dims is not None:
        dims = _positive_int("dims", dims)
    fit_samples = _positive_int("fit_samples", fit_samples)
    steps = len(cameras) + 1
    uplifted = uplift_maps(
        backend,
        scene,
        cameras,
        feature_maps,
        min_visibility=min_visibility,
        progress=progress if progress is None else lambda d, _t, m: progress(d, steps, m),
        cancel=cancel,
    )
    channels = uplifted.channels
    if dims is not None and dims > channels:
        raise ValueError(f"dims must be at most the {channels} channels of the maps, got {dims}")
    visible = uplifted.visible
    x = uplifted.values[visible].astype(np.float64)
    notes = [f"{int(visible.sum())} of {len(scene)} Gaussians seen"]
    if standardise and len(x):
        std = x.std(axis=0)
        x = (x - x.mean(axis=0)) / np.where(std > 1e-12, std, 1.0)
    if dims is not None and dims < channels:
        if len(x) <= dims:
            raise ValueError(
                f"only {len(x)} Gaussians are visible: too few for PCA to {dims} dimensions"
            )
        rng = np.random.default_rng(seed)
        fit_rows = x if len(x) <= fit_samples else x[rng.choice(len(x), fit_samples, False)]
        x, kept = _pca(x, fit_rows, dims)
        notes.append(f"PCA kept {100 * kept:.0f}% of the variance")
    values = np.zeros((len(scene), x.shape[1] if len(x) else dims or channels), np.float32)
    values[visible] = x
    report(progress, steps, steps, f"{name} features ready")
    return GaussianFeatures(values=values, name=name, notes=tuple(notes))


# ---------------------------------------------------------------------------- files
def load_feature_file(path: str | Path, num_gaussians: int) -> GaussianFeatures:
    """Read a user's per-Gaussian features from a ``.npy`` file.

    Parameters
    ----------
    path
        A file written by ``numpy.save`` holding one ``(N, D)`` (or ``(N,)``) numeric
        array, rows in the scene's Gaussian order.
    num_gaussians
        N, the scene's number of Gaussians.

    Returns
    -------
    GaussianFeatures
        Named after the file.

    Raises
    ------
    liftstudio.errors.InputFileError
        If the file is missing or unreadable, holds pickled objects, several arrays or
        a non-numeric array, has the wrong shape, or holds NaN/inf (with the count and
        the first bad row).
    """
    path = Path(path)
    save_hint = "save one (N, D) array with numpy.save"
    data = read_npy(path, save_hint)
    if data.dtype.kind not in "biuf":
        raise InputFileError(path, f"holds a {data.dtype} array, not numbers; {save_hint}")
    if data.ndim == 1:
        data = data[:, None]
    if data.ndim != 2 or data.shape[1] == 0:
        raise InputFileError(path, f"must hold an (N, D) array, got shape {data.shape}")
    if data.shape[0] != num_gaussians:
        raise InputFileError(
            path,
            f"has {data.shape[0]} rows but the scene has {num_gaussians} Gaussians; the "
            "features must be for this scene, one row per Gaussian in file order",
        )
    with np.errstate(over="ignore", invalid="ignore"):
        values = data.astype(np.float32)
    bad = ~np.isfinite(values).all(axis=1)
    if bad.any():
        raise InputFileError(
            path,
            f"{int(bad.sum())} of {num_gaussians} rows hold NaN or inf (or values too large "
            f"for float32), first at row {int(np.argmax(bad))}; fix or drop those values",
        )
    return GaussianFeatures(values=values, name=path.stem, notes=(f"read from {path.name}",))


def concatenate_features(
    *features: GaussianFeatures, weights: Sequence[float] | None = None
) -> GaussianFeatures:
    """Stack feature blocks side by side, each multiplied by its weight.

    The blocks are not rescaled otherwise: :func:`mask_membership_features` gives
    unit-length rows, :func:`colour_position_features` values of about 0–1, so a
    weight of 1 each gives them similar pull; use ``weights`` to change the balance.

    Parameters
    ----------
    *features
        One or more blocks with the same number of Gaussians.
    weights
        One finite weight ≥ 0 per block (default all 1).

    Returns
    -------
    GaussianFeatures
        Named ``"a+b+..."``, with the blocks' notes.

    Raises
    ------
    ValueError
        For no blocks, blocks of different N, or weights of the wrong count or value.
    """
    if not features:
        raise ValueError("give at least one feature block to concatenate")
    counts = {block.num_gaussians for block in features}
    if len(counts) != 1:
        raise ValueError(f"feature blocks have different numbers of Gaussians: {sorted(counts)}")
    weights = [1.0] * len(features) if weights is None else [float(w) for w in weights]
    if len(weights) != len(features):
        raise ValueError(f"{len(features)} feature blocks but {len(weights)} weights")
    if not all(np.isfinite(w) and w >= 0 for w in weights):
        raise ValueError(f"weights must be finite numbers >= 0, got {weights}")
    values = np.concatenate(
        [w * block.values for w, block in zip(weights, features, strict=True)], axis=1
    )
    notes = tuple(f"{block.name}: {note}" for block in features for note in block.notes)
    return GaussianFeatures(
        values=values, name="+".join(block.name for block in features), notes=notes
    )


# ---------------------------------------------------------------------------- sources
@dataclass(frozen=True)
class MaskMembershipSource:
    """:func:`mask_membership_features` of a job's label maps (seeded by ``inputs.seed``)."""

    dims: int = 32
    top_k: int = 16
    min_share: float = 0.05
    min_overlap: float = 0.05
    name: str = "mask-membership"

    def __call__(
        self,
        inputs: LiftInputs,
        *,
        progress: ProgressCallback | None = None,
        cancel: CancelToken | None = None,
    ) -> GaussianFeatures:
        """Compute the features of ``inputs.gaussians`` from ``inputs.label_maps``."""
        return mask_membership_features(
            inputs.backend,
            inputs.gaussians,
            inputs.cameras,
            inputs.label_maps,
            dims=self.dims,
            top_k=self.top_k,
            min_share=self.min_share,
            min_overlap=self.min_overlap,
            seed=inputs.seed,
            progress=progress,
            cancel=cancel,
        )


@dataclass(frozen=True)
class ColourPositionSource:
    """:func:`colour_position_features` of a job's Gaussians."""

    colour_weight: float = 1.0
    position_weight: float = 1.0
    name: str = "colour-position"

    def __call__(
        self,
        inputs: LiftInputs,
        *,
        progress: ProgressCallback | None = None,
        cancel: CancelToken | None = None,
    ) -> GaussianFeatures:
        """Compute the features of ``inputs.gaussians``."""
        check_cancelled(cancel)
        features = colour_position_features(
            inputs.gaussians, colour_weight=self.colour_weight, position_weight=self.position_weight
        )
        report(progress, 1, 1, "colour-position features ready")
        return features


@dataclass(frozen=True)
class FeatureFileSource:
    """Features read from a user's ``.npy`` file (:func:`load_feature_file`)."""

    path: Path
    name: str = "feature-file"

    def __call__(
        self,
        inputs: LiftInputs,
        *,
        progress: ProgressCallback | None = None,
        cancel: CancelToken | None = None,
    ) -> GaussianFeatures:
        """Read the file, checking it has one row per Gaussian of ``inputs``."""
        check_cancelled(cancel)
        features = load_feature_file(self.path, len(inputs.gaussians))
        report(progress, 1, 1, f"read {Path(self.path).name}")
        return features


# ---------------------------------------------------------------------------- helpers
def _positive_int(name: str, value: int) -> int:
    if isinstance(value, bool) or int(value) != value or value < 1:
        raise ValueError(f"{name} must be a positive integer, got {value!r}")
    return int(value)


def _pca(x: np.ndarray, fit_rows: np.ndarray, dims: int) -> tuple[np.ndarray, float]:
    """Scores of ``x`` on the top ``dims`` principal axes of ``fit_rows``, and variance kept.

    scikit-learn's exact PCA; each axis's sign is fixed so that its largest loading is
    positive, so the result does not depend on the LAPACK build.
    """
    from sklearn.decomposition import PCA  # imported on use: scikit-learn loads slowly

    pca = PCA(n_components=dims, svd_solver="full").fit(fit_rows)
    axes = pca.components_.T
    signs = np.sign(axes[np.argmax(np.abs(axes), axis=0), np.arange(dims)])
    axes = axes * np.where(signs == 0, 1.0, signs)
    kept = float(pca.explained_variance_ratio_.sum()) if pca.explained_variance_.sum() > 0 else 1.0
    return (x - pca.mean_) @ axes, kept


def _normalise_dense_rows(values: np.ndarray) -> np.ndarray:
    """Rows scaled to unit L2 length; zero rows stay zero."""
    norms = np.linalg.norm(values, axis=1, keepdims=True)
    return np.divide(values, norms, out=np.zeros_like(values), where=norms > 1e-12)


def _transfer_matrix(
    matrix: sp.csr_matrix, column_views: np.ndarray, num_views: int, min_overlap: float
) -> sp.csr_matrix:
    """``P[a, b] = Σ_j X[j,a] X[j,b] / Σ_j X[j,a] seen(j, view(b))`` (entries ≥ ``min_overlap``).

    ``seen`` marks the Gaussians with any share in a view: ``P[a, b]`` is the fraction
    of mask ``a``'s Gaussians, among those seen in ``b``'s view, that lie in ``b``.
    """
    rows = np.repeat(np.arange(matrix.shape[0]), np.diff(matrix.indptr))
    seen = sp.csr_matrix(
        (np.ones(matrix.nnz), (rows, column_views[matrix.indices])),
        shape=(matrix.shape[0], num_views),
    )
    seen.data[:] = 1.0  # duplicates (several masks in one view) were summed
    overlap = sp.coo_matrix(matrix.T @ matrix)
    seen_mass = np.asarray((matrix.T @ seen).todense())
    denominator = seen_mass[overlap.row, column_views[overlap.col]]
    fraction = np.divide(
        overlap.data, denominator, out=np.zeros_like(overlap.data), where=denominator > 0
    )
    keep = fraction >= max(min_overlap, np.finfo(np.float32).tiny)
    return sp.csr_matrix(
        (fraction[keep], (overlap.row[keep], overlap.col[keep])), shape=overlap.shape
    )


class _ScaledRows:
    """``A = diag(s) X P`` with unit-length rows (``P`` optional), never formed whole."""

    _BLOCK_ROWS = 32_768

    def __init__(self, matrix: sp.csr_matrix, transfer: sp.csr_matrix | None) -> None:
        self.matrix = matrix
        self.transfer = transfer
        squared = np.zeros(matrix.shape[0])
        for start in range(0, matrix.shape[0], self._BLOCK_ROWS):
            block = self._product(matrix[start : start + self._BLOCK_ROWS])
            squared[start : start + block.shape[0]] = np.asarray(
                block.multiply(block).sum(axis=1)
            ).ravel()
        norms = np.sqrt(squared)
        self.scale = np.divide(1.0, norms, out=np.zeros_like(norms), where=norms > 0)

    @property
    def shape(self) -> tuple[int, int]:
        return self.matrix.shape

    @property
    def squared_norm(self) -> float:
        """``‖A‖_F²``: the number of non-zero rows."""
        return float(np.count_nonzero(self.scale))

    def _product(self, rows: sp.csr_matrix) -> sp.csr_matrix:
        return rows if self.transfer is None else sp.csr_matrix(rows @ self.transfer)

    def matmat(self, q: np.ndarray) -> np.ndarray:
        """``A q`` for an (M, k) array."""
        if self.transfer is not None:
            q = self.transfer @ q
        return self.scale[:, None] * (self.matrix @ q)

    def rmatmat(self, q: np.ndarray) -> np.ndarray:
        """``Aᵀ q`` for an (N, k) array."""
        out = self.matrix.T @ (self.scale[:, None] * q)
        return out if self.transfer is None else self.transfer.T @ out

    def dense(self) -> np.ndarray:
        """``A`` as a dense (N, M) array (only for small M)."""
        return self.matmat(np.eye(self.shape[1]))


def _top_singular_projection(rows: _ScaledRows, dims: int, seed: int) -> tuple[np.ndarray, float]:
    """Rows of ``A`` projected onto its top ``dims`` right singular vectors: ``A V``.

    ``scipy.sparse.linalg.svds`` (ARPACK, start vector seeded) on ``A`` as a linear
    operator, so ``A`` is never formed. Returns the (N, dims) projection and the share
    of ``‖A‖_F²`` it keeps.
    """
    operator = spla.LinearOperator(
        rows.shape,
        matvec=lambda v: rows.matmat(v.reshape(-1, 1)).ravel(),
        rmatvec=lambda v: rows.rmatmat(v.reshape(-1, 1)).ravel(),
        matmat=rows.matmat,
        rmatmat=rows.rmatmat,
        dtype=np.float64,
    )
    start = np.random.default_rng(seed).standard_normal(min(rows.shape))
    u, singular, _ = spla.svds(operator, k=dims, v0=start, solver="arpack")
    order = np.argsort(singular)[::-1]
    u, singular = u[:, order], singular[order]
    # Fix each vector's sign (largest entry positive) so results do not depend on ARPACK.
    signs = np.sign(u[np.argmax(np.abs(u), axis=0), np.arange(dims)])
    values = u * (singular * np.where(signs == 0, 1.0, signs))
    kept = float(np.sum(singular**2)) / max(rows.squared_norm, 1e-12)
    return values, min(kept, 1.0)
