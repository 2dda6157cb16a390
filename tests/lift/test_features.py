"""Per-Gaussian features: mask membership, colour/position, uplifted maps, files."""

from __future__ import annotations

import numpy as np
import pytest
import scipy.sparse as sp

from liftstudio.errors import InputFileError
from liftstudio.evaluate.mask_simulation import make_masks
from liftstudio.evaluate.scenes import make
from liftstudio.jobs import CancelToken, JobCancelled
from liftstudio.lift.features import (
    ColourPositionSource,
    FeatureFileSource,
    FeatureSource,
    GaussianFeatures,
    MaskMembershipSource,
    colour_position_features,
    concatenate_features,
    features_from_maps,
    load_feature_file,
    mask_membership_features,
    membership_matrix,
)
from liftstudio.lift.registry import LiftInputs
from liftstudio.render.registry import resolve_backend
from liftstudio.scene.gaussians import GaussianScene
from liftstudio.scene.sh import SH_C0


@pytest.fixture(scope="module")
def backend():
    return resolve_backend("cpu")


@pytest.fixture(scope="module")
def scene(backend):
    return make("tabletop", 0, num_gaussians=12_000, num_train=6, num_test=2, width=160, height=120)


@pytest.fixture(scope="module")
def clean_masks(scene):
    return make_masks("clean", scene.train_gt, scene.train_images, 0)


@pytest.fixture(scope="module")
def sam_masks(scene):
    return make_masks("sam-like", scene.train_gt, scene.train_images, 0)


@pytest.fixture(scope="module")
def clean_features(backend, scene, clean_masks):
    return mask_membership_features(backend, scene.gaussians, scene.train_cameras, clean_masks)


def _intra_inter(values: np.ndarray, ids: np.ndarray) -> tuple[float, float]:
    """Mean feature distance of random same-object pairs and of different-object pairs."""
    rng = np.random.default_rng(0)
    seen = np.flatnonzero(np.linalg.norm(values, axis=1) > 0)
    a, b = rng.choice(seen, 30_000), rng.choice(seen, 30_000)
    distance = np.linalg.norm(values[a] - values[b], axis=1)
    same = ids[a] == ids[b]
    return float(distance[same].mean()), float(distance[~same].mean())


# ---------------------------------------------------------------------------- membership
def test_membership_features_separate_objects_with_clean_masks(clean_features, scene):
    assert clean_features.values.shape == (len(scene.gaussians), 32)
    intra, inter = _intra_inter(clean_features.values, scene.instance_ids)
    assert intra < 0.4 * inter  # measured 0.35 vs 1.31


def test_membership_features_separate_objects_with_sam_like_masks(backend, scene, sam_masks):
    features = mask_membership_features(backend, scene.gaussians, scene.train_cameras, sam_masks)
    intra, inter = _intra_inter(features.values, scene.instance_ids)
    assert intra < 0.6 * inter  # measured 0.45 vs 1.03


def test_consensus_links_gaussians_seen_from_different_views(backend, scene, clean_masks):
    plain = mask_membership_features(
        backend, scene.gaussians, scene.train_cameras, clean_masks, propagate=False
    )
    intra, inter = _intra_inter(plain.values, scene.instance_ids)
    assert intra > 0.5 * inter  # without it, an object's far sides share no mask


def test_membership_features_are_unit_rows_or_zero_rows(clean_features, backend, scene):
    matrix = membership_matrix(
        backend, scene.gaussians, scene.train_cameras, [np.zeros((120, 160), int)] * 6
    )
    assert matrix.matrix.nnz == 0  # nothing masked: no entries at all
    nothing = mask_membership_features(
        backend, scene.gaussians, scene.train_cameras, [np.zeros((120, 160), int)] * 6
    )
    assert not nothing.values.any()
    norms = np.linalg.norm(clean_features.values, axis=1)
    assert np.all((np.abs(norms - 1) < 1e-4) | (norms == 0))
    assert (norms > 0).mean() > 0.9


def test_unmasked_gaussians_get_zero_features(backend, scene, clean_masks):
    matrix = membership_matrix(backend, scene.gaussians, scene.train_cameras, clean_masks)
    features = mask_membership_features(backend, scene.gaussians, scene.train_cameras, clean_masks)
    empty = np.diff(matrix.matrix.indptr) == 0
    assert empty.any()
    np.testing.assert_array_equal(np.linalg.norm(features.values, axis=1) == 0, empty)


def test_membership_matrix_is_sparse_with_one_column_per_mask(backend, scene, clean_masks):
    result = membership_matrix(
        backend, scene.gaussians, scene.train_cameras, clean_masks, min_share=0.0
    )
    expected_columns = [
        (view, label)
        for view, labels in enumerate(clean_masks)
        for label in np.unique(labels)
        if label >= 1
    ]
    assert sp.issparse(result.matrix)
    assert result.matrix.shape == (len(scene.gaussians), len(expected_columns))
    assert [tuple(c) for c in result.columns.tolist()] == expected_columns
    n, m = result.matrix.shape
    assert result.matrix.nnz < 0.1 * n * m  # about one share per Gaussian and view
    assert result.matrix.nnz > 0.5 * n
    assert result.matrix.data.min() > 0 and result.matrix.data.max() <= 1 + 1e-6


def test_membership_shares_match_the_operator_rows(backend, scene, clean_masks):
    """Shares of view 0 recomputed directly from the top-K operator rows."""
    result = membership_matrix(
        backend, scene.gaussians, scene.train_cameras, clean_masks, min_share=0.0
    )
    rows = backend.operator_rows(scene.gaussians, scene.train_cameras[0], top_k=16)
    ids = rows.ids.reshape(-1, rows.top_k)
    weights = rows.weights.reshape(-1, rows.top_k).astype(np.float64)
    labels = np.broadcast_to(clean_masks[0].reshape(-1, 1), ids.shape)
    valid = ids >= 0
    n = len(scene.gaussians)
    beta = np.bincount(ids[valid], weights[valid], minlength=n)
    view0 = result.columns[:, 0] == 0
    got = result.matrix[:, np.flatnonzero(view0)].toarray()
    for column, label in enumerate(result.columns[view0, 1]):
        inside = valid & (labels == label)
        mask_weight = np.bincount(ids[inside], weights[inside], minlength=n)
        expected = np.divide(mask_weight, beta, out=np.zeros(n), where=beta > 0)
        np.testing.assert_allclose(got[:, column], expected, atol=2e-3)


def test_min_share_drops_small_shares(backend, scene, clean_masks):
    low = membership_matrix(
        backend, scene.gaussians, scene.train_cameras, clean_masks, min_share=0.0
    )
    high = membership_matrix(
        backend, scene.gaussians, scene.train_cameras, clean_masks, min_share=0.3
    )
    assert high.matrix.nnz < low.matrix.nnz
    assert high.matrix.data.min() >= 0.3


def test_membership_features_are_deterministic(backend, scene, clean_masks, clean_features):
    again = mask_membership_features(backend, scene.gaussians, scene.train_cameras, clean_masks)
    np.testing.assert_array_equal(again.values, clean_features.values)


def test_few_masks_are_kept_exactly(backend, scene, clean_masks):
    features = mask_membership_features(
        backend, scene.gaussians, scene.train_cameras[:1], clean_masks[:1], dims=64
    )
    assert features.values.shape == (len(scene.gaussians), 64)
    assert any("exactly" in note for note in features.notes)


def test_membership_checks_its_inputs(backend, scene, clean_masks):
    with pytest.raises(ValueError, match="label maps"):
        membership_matrix(backend, scene.gaussians, scene.train_cameras, clean_masks[:2])
    with pytest.raises(ValueError, match="min_share"):
        membership_matrix(backend, scene.gaussians, scene.train_cameras, clean_masks, min_share=1.0)
    with pytest.raises(ValueError, match="dims"):
        mask_membership_features(backend, scene.gaussians, scene.train_cameras, clean_masks, dims=0)


def test_membership_cancel_and_progress(backend, scene, clean_masks):
    token = CancelToken()
    token.cancel()
    with pytest.raises(JobCancelled):
        mask_membership_features(
            backend, scene.gaussians, scene.train_cameras, clean_masks, cancel=token
        )
    steps = []
    mask_membership_features(
        backend,
        scene.gaussians,
        scene.train_cameras,
        clean_masks,
        progress=lambda d, t, m: steps.append((d, t)),
    )
    assert steps[-1] == (7, 7) and [d for d, _ in steps] == list(range(1, 8))


# ---------------------------------------------------------------------------- colour/position
def _hand_scene() -> GaussianScene:
    means = np.array([[0, 0, 0], [2, 0, 0], [0, 4, 0], [2, 4, 0]], dtype=np.float32)
    rgb = np.array([[0.5, 0.5, 0.5], [1.0, 0.0, 0.25], [0.1, 0.2, 0.3], [1.4, -0.2, 0.9]])
    n = len(means)
    return GaussianScene(
        means=means,
        raw_quats=np.tile([1.0, 0, 0, 0], (n, 1)),
        log_scales=np.zeros((n, 3)),
        logit_opacities=np.zeros(n),
        sh=((rgb - 0.5) / SH_C0)[:, None, :],
    )


def test_colour_position_closed_form():
    features = colour_position_features(
        _hand_scene(), colour_weight=2.0, position_weight=0.5, extent_percentile=0.0
    )
    rgb = np.array([[0.5, 0.5, 0.5], [1.0, 0.0, 0.25], [0.1, 0.2, 0.3], [1.0, 0.0, 0.9]])
    # box [0,2]x[0,4]x[0,0]: centre (1,2,0), diagonal √20
    pos = np.array([[-1, -2, 0], [1, -2, 0], [-1, 2, 0], [1, 2, 0]]) / np.sqrt(20.0)
    expected = np.concatenate([2.0 * rgb, 0.5 * pos], axis=1)
    np.testing.assert_allclose(features.values, expected, atol=1e-6)
    assert features.name == "colour-position"


def test_colour_position_extent_ignores_floaters():
    rng = np.random.default_rng(0)
    n = 1000
    means = np.concatenate([rng.uniform(-1, 1, (n, 3)), [[500.0, 0, 0]]]).astype(np.float32)
    scene = GaussianScene(
        means=means,
        raw_quats=np.tile([1.0, 0, 0, 0], (n + 1, 1)),
        log_scales=np.zeros((n + 1, 3)),
        logit_opacities=np.zeros(n + 1),
        sh=np.zeros((n + 1, 1, 3)),
    )
    robust = colour_position_features(scene, colour_weight=0.0)
    plain = colour_position_features(scene, colour_weight=0.0, extent_percentile=0.0)
    assert np.ptp(robust.values[:n, 3]) > 0.3  # the cube spans a good part of the range
    assert np.ptp(plain.values[:n, 3]) < 0.01  # squashed by the floater


@pytest.mark.parametrize(
    "kwargs",
    [
        {"colour_weight": -1.0},
        {"position_weight": np.nan},
        {"colour_weight": 0.0, "position_weight": 0.0},
        {"extent_percentile": 50.0},
    ],
)
def test_colour_position_checks_weights(kwargs):
    with pytest.raises(ValueError):
        colour_position_features(_hand_scene(), **kwargs)


# ---------------------------------------------------------------------------- uplifted maps
def test_constant_maps_uplift_to_the_constant(backend, scene):
    cameras = scene.train_cameras[:1]
    value = np.array([0.25, -2.0, 7.0], dtype=np.float32)
    maps = [np.broadcast_to(value, (120, 160, 3))]
    features = features_from_maps(backend, scene.gaussians, cameras, maps, standardise=False)
    norms = np.linalg.norm(features.values, axis=1)
    seen = norms > 0
    assert 0 < seen.sum() < len(seen)  # one view: the far side is unseen, zero rows
    np.testing.assert_allclose(features.values[seen], np.tile(value, (seen.sum(), 1)), rtol=1e-5)


def test_uplifted_maps_standardise_and_pca(backend, scene):
    rng = np.random.default_rng(0)
    mixing = rng.normal(size=(2, 8))
    maps = []
    for gt in scene.train_gt:  # 8 channels that are mixtures of 2 object-level signals
        base = np.stack([(gt % 3).astype(np.float32), (gt % 5).astype(np.float32)], axis=-1)
        maps.append(base @ mixing)
    features = features_from_maps(
        backend, scene.gaussians, scene.train_cameras, maps, dims=3, seed=0
    )
    seen = np.linalg.norm(features.values, axis=1) > 0
    assert features.values.shape == (len(scene.gaussians), 3)
    variances = features.values[seen].var(axis=0)
    assert variances[0] >= variances[1] >= variances[2]
    assert variances[2] < 1e-3 * variances[0]  # rank 2: the third component is empty
    np.testing.assert_allclose(features.values[seen].mean(axis=0), 0, atol=1e-4)
    with pytest.raises(ValueError, match="at most the 8 channels"):
        features_from_maps(backend, scene.gaussians, scene.train_cameras, maps, dims=9)


# ---------------------------------------------------------------------------- files
def test_load_feature_file_round_trip(tmp_path):
    values = np.arange(12, dtype=np.float64).reshape(4, 3)
    np.save(tmp_path / "feat.npy", values)
    features = load_feature_file(tmp_path / "feat.npy", 4)
    np.testing.assert_array_equal(features.values, values.astype(np.float32))
    assert features.values.dtype == np.float32 and features.name == "feat"
    np.save(tmp_path / "one.npy", np.arange(4))
    assert load_feature_file(tmp_path / "one.npy", 4).values.shape == (4, 1)


def _bad_files(tmp_path):
    nan = np.zeros((4, 2))
    nan[2, 1] = np.nan
    cases = {
        "rows.npy": (np.zeros((5, 2)), "5 rows but the scene has 4"),
        "nan.npy": (nan, "first at row 2"),
        "cube.npy": (np.zeros((4, 2, 2)), r"\(N, D\)"),
        "text.npy": (np.array(["a", "b", "c", "d"]), "not numbers"),
        "huge.npy": (np.full((4, 1), 1e300), "too large"),
    }
    for name, (array, _) in cases.items():
        np.save(tmp_path / name, array)
    np.save(tmp_path / "objects.npy", np.array([{}, {}, {}, {}], dtype=object), allow_pickle=True)
    cases["objects.npy"] = (None, "cannot be read")
    (tmp_path / "junk.npy").write_text("not numpy at all")
    cases["junk.npy"] = (None, "cannot be read")
    np.savez(tmp_path / "two.npz", a=np.zeros((4, 1)), b=np.zeros((4, 1)))
    cases["two.npz"] = (None, "npz")
    cases["missing.npy"] = (None, "no such file")
    return {name: message for name, (_, message) in cases.items()}


def test_load_feature_file_errors(tmp_path):
    for name, message in _bad_files(tmp_path).items():
        with pytest.raises(InputFileError, match=message) as info:
            load_feature_file(tmp_path / name, 4)
        assert info.value.path == tmp_path / name


# ---------------------------------------------------------------------------- combining
def test_concatenate_features_weights_blocks():
    a = GaussianFeatures(np.ones((3, 2)), "a", ("note a",))
    b = GaussianFeatures(np.full((3, 1), 2.0), "b")
    both = concatenate_features(a, b, weights=[0.5, 3.0])
    np.testing.assert_array_equal(both.values, [[0.5, 0.5, 6.0]] * 3)
    assert both.name == "a+b" and both.notes == ("a: note a",)
    with pytest.raises(ValueError, match="different numbers"):
        concatenate_features(a, GaussianFeatures(np.ones((4, 1)), "c"))
    with pytest.raises(ValueError, match="weights"):
        concatenate_features(a, b, weights=[1.0])
    with pytest.raises(ValueError, match="at least one"):
        concatenate_features()


def test_gaussian_features_refuse_nan():
    with pytest.raises(ValueError, match="NaN"):
        GaussianFeatures(np.array([[np.nan]]), "x")
    with pytest.raises(ValueError, match=r"\(N, D\)"):
        GaussianFeatures(np.zeros(3), "x")


def test_sources_follow_the_protocol(backend, scene, clean_masks, clean_features, tmp_path):
    inputs = LiftInputs(
        gaussians=scene.gaussians,
        cameras=scene.train_cameras,
        label_maps=clean_masks,
        images=scene.train_images,
        backend=backend,
        seed=0,
    )
    np.save(tmp_path / "f.npy", np.zeros((len(scene.gaussians), 2)))
    sources = [
        MaskMembershipSource(),
        ColourPositionSource(),
        FeatureFileSource(tmp_path / "f.npy"),
    ]
    for source in sources:
        assert isinstance(source, FeatureSource)
        assert source(inputs).num_gaussians == len(scene.gaussians)
    np.testing.assert_array_equal(sources[0](inputs).values, clean_features.values)


def test_reduced_features_keep_the_exact_distances(backend, scene, clean_masks, clean_features):
    exact = mask_membership_features(
        backend, scene.gaussians, scene.train_cameras, clean_masks, dims=400
    )
    assert any("exactly" in note for note in exact.notes)
    rng = np.random.default_rng(1)
    a, b = rng.integers(0, len(scene.gaussians), (2, 5000))
    d_exact = np.linalg.norm(exact.values[a] - exact.values[b], axis=1)
    d_reduced = np.linalg.norm(clean_features.values[a] - clean_features.values[b], axis=1)
    difference = np.abs(d_exact - d_reduced)
    assert difference.mean() < 0.01 and difference.max() < 0.1  # measured 0.00003, 0.013
