"""GaussianScene: validation, activated values, subset/concatenate, transforms, hash."""

from __future__ import annotations

import numpy as np
import pytest

from liftstudio.errors import SceneDataError
from liftstudio.evaluate.synthetic import random_gaussians
from liftstudio.scene.gaussians import GaussianScene, concatenate
from liftstudio.scene.rotations import quats_to_matrices
from liftstudio.scene.sh import sh_basis


def _random_rotation(rng: np.random.Generator) -> np.ndarray:
    q, r = np.linalg.qr(rng.normal(size=(3, 3)))
    q *= np.sign(np.diag(r))
    if np.linalg.det(q) < 0:
        q[:, 0] *= -1
    return q


def _columns(n: int = 5, k: int = 1) -> dict:
    rng = np.random.default_rng(1)
    return {
        "means": rng.normal(size=(n, 3)),
        "raw_quats": rng.normal(size=(n, 4)),
        "log_scales": rng.normal(size=(n, 3)),
        "logit_opacities": rng.normal(size=n),
        "sh": rng.normal(size=(n, k, 3)),
    }


def test_activated_values_follow_the_3dgs_rules():
    cols = _columns()
    scene = GaussianScene(**cols)
    np.testing.assert_allclose(scene.scales, np.exp(cols["log_scales"]), rtol=1e-6)
    np.testing.assert_allclose(
        scene.opacities, 1 / (1 + np.exp(-cols["logit_opacities"])), rtol=1e-6
    )
    q = cols["raw_quats"] / np.linalg.norm(cols["raw_quats"], axis=1, keepdims=True)
    np.testing.assert_allclose(scene.quats, q, rtol=1e-5)
    np.testing.assert_allclose(scene.base_colors, 0.5 + 0.28209479 * cols["sh"][:, 0], rtol=1e-6)
    assert scene.means.dtype == np.float32 and scene.sh_degree == 0


@pytest.mark.parametrize(
    ("column", "row", "value", "message"),
    [
        ("means", 3, np.nan, "NaN/inf position"),
        ("means", 0, np.inf, "NaN/inf position"),
        ("log_scales", 2, np.nan, "NaN/inf scale"),
        ("logit_opacities", 4, np.nan, "NaN opacity"),
        ("sh", 1, np.inf, "NaN/inf colour"),
    ],
)
def test_non_finite_values_are_refused_with_the_index(column, row, value, message):
    cols = _columns()
    cols[column][row] = value
    with pytest.raises(SceneDataError, match=f"1 Gaussian with {message}.*index {row}"):
        GaussianScene(**cols)


def test_saturated_opacity_logits_are_allowed():
    cols = _columns()
    cols["logit_opacities"][[0, 1]] = [np.inf, -np.inf]
    scene = GaussianScene(**cols)
    assert scene.opacities[0] == 1.0 and scene.opacities[1] == 0.0


def test_zero_quaternion_and_bad_shapes_are_refused():
    cols = _columns()
    cols["raw_quats"][2] = 0
    with pytest.raises(SceneDataError, match=r"zero quaternion.*index 2"):
        GaussianScene(**cols)
    cols = _columns()
    cols["log_scales"] = cols["log_scales"][:, :2]
    with pytest.raises(SceneDataError, match=r"log_scales must have shape \(5, 3\)"):
        GaussianScene(**cols)
    cols = _columns(k=5)
    with pytest.raises(SceneDataError, match="not a degree 0-3 layout"):
        GaussianScene(**cols)
    with pytest.raises(SceneDataError, match="extra column 'label' must have shape"):
        GaussianScene(**_columns(), extras={"label": np.zeros(4)})


def test_drop_mode_removes_only_the_bad_gaussians():
    cols = _columns(n=10)
    cols["means"][3, 1] = np.nan
    cols["raw_quats"][7] = 0
    scene = GaussianScene.from_columns(on_invalid="drop", **cols, extras={"id": np.arange(10)})
    assert scene.extras["id"].tolist() == [0, 1, 2, 4, 5, 6, 8, 9]
    np.testing.assert_array_equal(scene.means, cols["means"][[0, 1, 2, 4, 5, 6, 8, 9]].astype("f4"))


def test_subset_and_concatenate_keep_every_column():
    scene = random_gaussians(50, sh_degree=2, seed=3, extras={"label": np.int32})
    mask = np.zeros(50, dtype=bool)
    mask[::3] = True
    part = scene.subset(mask)
    assert len(part) == 17
    np.testing.assert_array_equal(part.extras["label"], scene.extras["label"][::3])
    rest = scene.subset(np.flatnonzero(~mask))
    joined = concatenate([part, rest])
    order = np.concatenate([np.flatnonzero(mask), np.flatnonzero(~mask)])
    np.testing.assert_array_equal(joined.sh, scene.sh[order])
    np.testing.assert_array_equal(joined.extras["label"], scene.extras["label"][order])
    with pytest.raises(ValueError, match="boolean selection must have shape"):
        scene.subset(mask[:10])


def test_concatenate_pads_sh_and_refuses_mismatched_extras():
    low = random_gaussians(4, sh_degree=0, seed=1)
    high = random_gaussians(6, sh_degree=3, seed=2)
    joined = concatenate([low, high])
    assert joined.sh_degree == 3
    np.testing.assert_array_equal(joined.sh[:4, 1:], 0)
    np.testing.assert_array_equal(joined.sh[:4, :1], low.sh)
    labeled = random_gaussians(3, seed=4, extras={"label": np.int32})
    with pytest.raises(ValueError, match="label"):
        concatenate([low, labeled])


@pytest.mark.parametrize("degree", [0, 1, 2, 3])
def test_transform_moves_geometry_and_view_dependent_colour(degree):
    """Closed-form check: after x ↦ sRx+t, the colour seen along R·d equals the old one along d,
    and each Gaussian's covariance becomes s²·R Σ Rᵀ."""
    rng = np.random.default_rng(degree)
    scene = random_gaussians(40, sh_degree=degree, seed=degree)
    scene.sh[:, 1:] = rng.normal(size=scene.sh[:, 1:].shape)  # strong view dependence
    rot, shift, s = _random_rotation(rng), rng.normal(size=3), 1.7
    moved = scene.transformed(rot, shift, s)

    np.testing.assert_allclose(moved.means, s * scene.means @ rot.T + shift, atol=1e-5)

    def covariances(g: GaussianScene) -> np.ndarray:
        rmat = quats_to_matrices(g.quats)
        return rmat @ (g.scales[:, :, None] ** 2 * np.swapaxes(rmat, 1, 2))

    expected = s**2 * rot @ covariances(scene) @ rot.T
    np.testing.assert_allclose(covariances(moved), expected, rtol=1e-4, atol=1e-9)

    dirs = rng.normal(size=(40, 3))
    dirs /= np.linalg.norm(dirs, axis=1, keepdims=True)
    before = np.einsum("nk,nkc->nc", sh_basis(dirs, degree), scene.sh)
    after = np.einsum("nk,nkc->nc", sh_basis(dirs @ rot.T, degree), moved.sh)
    np.testing.assert_allclose(after, before, atol=1e-4)
    np.testing.assert_array_equal(moved.logit_opacities, scene.logit_opacities)


def test_transform_refuses_reflections_and_bad_scales():
    scene = random_gaussians(5, seed=0)
    with pytest.raises(ValueError, match="proper 3x3 rotation"):
        scene.transformed(np.diag([1.0, 1.0, -1.0]))
    with pytest.raises(ValueError, match="positive"):
        scene.transformed(scale=0.0)


def test_content_hash_sees_every_column():
    scene = random_gaussians(30, sh_degree=1, seed=5, extras={"w": np.float32})
    base = scene.content_hash()
    assert (
        random_gaussians(30, sh_degree=1, seed=5, extras={"w": np.float32}).content_hash() == base
    )
    for mutate in (
        lambda g: g.means.__setitem__((4, 0), g.means[4, 0] + 1e-3),
        lambda g: g.sh.__setitem__((2, 3, 1), 0.25),
        lambda g: g.extras["w"].__setitem__(7, 9.0),
        lambda g: g.logit_opacities.__setitem__(0, -3.0),
    ):
        other = random_gaussians(30, sh_degree=1, seed=5, extras={"w": np.float32})
        mutate(other)
        assert other.content_hash() != base


def test_bounding_box():
    scene = random_gaussians(100, seed=2)
    low, high = scene.bounding_box()
    np.testing.assert_array_equal(low, scene.means.min(0))
    np.testing.assert_array_equal(high, scene.means.max(0))
    with pytest.raises(SceneDataError, match="empty"):
        scene.subset(np.zeros(100, dtype=bool)).bounding_box()
