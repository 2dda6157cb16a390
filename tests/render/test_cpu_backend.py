"""The numba CPU backend against the reference backend, on real and generated scenes."""

from __future__ import annotations

import numpy as np
import pytest

from liftstudio.evaluate.render_cases import real_render_case
from liftstudio.evaluate.synthetic import random_gaussians
from liftstudio.jobs import CancelToken, JobCancelled
from liftstudio.render import GSPLAT_RULES, RenderBackend, resolve_backend
from liftstudio.render.cpu import CpuBackend
from liftstudio.render.reference import ReferenceBackend
from liftstudio.scene.camera import Camera, look_at
from liftstudio.scene.camera_rigs import ring_cameras

PSNR_MIN_DB = 45.0
ALPHA_MAX_ERROR = 1e-3


def psnr(a: np.ndarray, b: np.ndarray, peak: float = 1.0) -> float:
    mse = float(np.mean((np.asarray(a, np.float64) - np.asarray(b, np.float64)) ** 2))
    return np.inf if mse == 0 else 10 * np.log10(peak**2 / mse)


@pytest.fixture(scope="module")
def cpu() -> CpuBackend:
    return CpuBackend()


@pytest.fixture(scope="module")
def reference() -> ReferenceBackend:
    return ReferenceBackend()


@pytest.fixture(scope="module", params=["donut", "guitar", "garden"])
def real_case(request, real_data):
    """(name, scene, cameras) for each real scene."""
    return (request.param, *real_render_case(real_data, request.param))


@pytest.fixture(scope="module")
def real_renders(real_case, cpu, reference):
    """Both backends' renders of every camera (with a few random feature channels)."""
    name, scene, cameras = real_case
    features = np.random.default_rng(0).random((len(scene), 5), dtype=np.float32)
    pairs = []
    for camera in cameras:
        pairs.append(
            (
                cpu.render(scene, camera, features=features),
                reference.render(scene, camera, features=features),
            )
        )
    return name, pairs


# ---------------------------------------------------------------------------- render parity
def test_real_scenes_rgb_psnr(real_renders):
    name, pairs = real_renders
    for fast, slow in pairs:
        assert slow.alpha.max() > 0.5, f"{name}: the camera sees nothing; the test is void"
        assert psnr(fast.rgb, slow.rgb) >= PSNR_MIN_DB, name


def test_real_scenes_alpha_error(real_renders):
    name, pairs = real_renders
    for fast, slow in pairs:
        assert np.abs(fast.alpha - slow.alpha).max() <= ALPHA_MAX_ERROR, name


def test_real_scenes_features(real_renders):
    name, pairs = real_renders
    for fast, slow in pairs:
        assert psnr(fast.features, slow.features) >= PSNR_MIN_DB, name
        assert np.abs(fast.features - slow.features).max() <= ALPHA_MAX_ERROR, name


def test_real_scenes_depth(real_renders):
    name, pairs = real_renders
    for fast, slow in pairs:
        solid = slow.alpha > 0.5
        relative = np.abs(fast.depth - slow.depth)[solid] / slow.depth[solid]
        assert np.percentile(relative, 99.9) <= 1e-3, name


@pytest.mark.parametrize("rules_name", ["inria", "gsplat"])
def test_sh3_scene_matches_reference(rules_name):
    rules = GSPLAT_RULES if rules_name == "gsplat" else CpuBackend().rules
    scene = random_gaussians(3000, sh_degree=3, seed=5)
    camera = ring_cameras((0, 0, 0), 3.5, 5, width=72, height=56)[2]
    fast = CpuBackend(rules=rules).render(scene, camera, background=(0.2, 0.4, 0.6))
    slow = ReferenceBackend(rules=rules).render(scene, camera, background=(0.2, 0.4, 0.6))
    assert slow.alpha.max() > 0.9
    assert psnr(fast.rgb, slow.rgb) >= PSNR_MIN_DB
    assert np.abs(fast.alpha - slow.alpha).max() <= ALPHA_MAX_ERROR
    for degree in (0, 1):
        low = CpuBackend(rules=rules).render(scene, camera, sh_degree=degree)
        low_ref = ReferenceBackend(rules=rules).render(scene, camera, sh_degree=degree)
        assert psnr(low.rgb, low_ref.rgb) >= PSNR_MIN_DB


def test_rules_change_the_image():
    """The rule constants reach the kernels: INRIA and gsplat rules give different alphas."""
    scene = random_gaussians(2000, seed=9)
    camera = ring_cameras((0, 0, 0), 3.5, 1, width=48, height=36)[0]
    inria = CpuBackend().render(scene, camera).alpha
    gsplat = CpuBackend(rules=GSPLAT_RULES).render(scene, camera).alpha
    assert np.abs(inria - gsplat).max() > 1e-3


def test_lower_resolution_scales_intrinsics(cpu):
    scene = random_gaussians(2000, seed=2)
    camera = ring_cameras((0, 0, 0), 3.5, 1, width=96, height=64)[0]
    half = cpu.render(scene, camera, resolution=(48, 32))
    direct = cpu.render(scene, camera.scaled_to(48, 32))
    assert half.rgb.shape == (32, 48, 3)
    np.testing.assert_array_equal(half.rgb, direct.rgb)
    reference = ReferenceBackend().render(scene, camera, resolution=(48, 32))
    assert psnr(half.rgb, reference.rgb) >= PSNR_MIN_DB


def test_empty_view_renders_background(cpu):
    scene = random_gaussians(100, seed=1)
    ring = ring_cameras((0, 0, 0), 3.5, 1, width=16, height=12)[0]
    # The same camera turned around: every Gaussian is behind it.
    eye = ring.center
    away = Camera("away", look_at(eye, 2 * eye), ring.K, 16, 12)
    result = cpu.render(scene, away, background=(0.1, 0.2, 0.3))
    assert result.alpha.max() == 0
    np.testing.assert_allclose(result.rgb, np.broadcast_to([0.1, 0.2, 0.3], (12, 16, 3)))
    assert result.depth.max() == 0
    assert result.rgb.dtype == result.alpha.dtype == np.float32


# ---------------------------------------------------------------------------- operator products
@pytest.fixture(scope="module")
def operator_case():
    scene = random_gaussians(4000, sh_degree=0, seed=11)
    cameras = ring_cameras((0, 0, 0), 3.5, 3, width=56, height=40)
    return scene, cameras


def test_uplift_equals_transpose_of_full_operator_rows(cpu, operator_case):
    scene, cameras = operator_case
    rng = np.random.default_rng(4)
    maps = [rng.random((40, 56, 3), dtype=np.float32) for _ in cameras]
    expected = np.zeros((len(scene), 3))
    expected_beta = np.zeros(len(scene))
    for camera, values in zip(cameras, maps, strict=True):
        rows = cpu.operator_rows(scene, camera, top_k=None, weight_dtype=np.float32)
        assert rows.residual.max() <= 1e-6
        expected += rows.transpose_apply(values, len(scene))
        expected_beta += rows.transpose_apply(np.ones((40, 56)), len(scene))[:, 0]
    result = cpu.uplift(scene, cameras, maps)
    assert np.abs(result.weighted_sum - expected).max() <= 1e-4 * np.abs(expected).max()
    assert np.abs(result.beta - expected_beta).max() <= 1e-4 * expected_beta.max()
    assert (result.beta > 0).sum() > len(scene) // 2


def test_uplift_matches_reference(cpu, reference, operator_case):
    scene, cameras = operator_case
    rng = np.random.default_rng(5)
    maps = [rng.random((20, 28, 2), dtype=np.float32) for _ in cameras]  # half resolution
    fast = cpu.uplift(scene, cameras, maps)
    slow = reference.uplift(scene, cameras, maps)
    scale = np.abs(slow.weighted_sum).max()
    assert np.abs(fast.weighted_sum - slow.weighted_sum).max() <= 1e-3 * scale
    assert np.abs(fast.beta - slow.beta).max() <= 1e-3 * slow.beta.max()


def test_adjoint_identity(cpu, operator_case):
    """<W x, y> = <x, Wᵀ y> for random per-Gaussian x and per-pixel y."""
    scene, cameras = operator_case
    rng = np.random.default_rng(6)
    x = rng.normal(size=(len(scene), 4)).astype(np.float32)
    y = rng.normal(size=(40, 56, 4)).astype(np.float32)
    rendered = cpu.render(scene, cameras[0], features=x, rgb=False).features
    lifted = cpu.uplift(scene, cameras[:1], [y]).weighted_sum
    left = float(np.sum(rendered.astype(np.float64) * y))
    right = float(np.sum(x.astype(np.float64) * lifted))
    assert left == pytest.approx(right, rel=1e-4)


def test_operator_rows_match_reference(cpu, reference, operator_case):
    scene, cameras = operator_case
    fast = cpu.operator_rows(scene, cameras[1], top_k=8, weight_dtype=np.float32)
    slow = reference.operator_rows(scene, cameras[1], top_k=8, weight_dtype=np.float32)
    assert fast.ids.shape == slow.ids.shape == (40, 56, 8)
    assert fast.ids.dtype == np.int32
    assert (fast.ids == slow.ids).mean() >= 0.999
    np.testing.assert_allclose(fast.weights, slow.weights, atol=1e-4)
    np.testing.assert_allclose(fast.residual, slow.residual, atol=1e-4)
    assert slow.residual.max() > 0.01  # some pixels have more than 8 Gaussians


def test_operator_rows_render_features(cpu, operator_case):
    scene, cameras = operator_case
    values = np.random.default_rng(7).random((len(scene), 3), dtype=np.float32)
    rows = cpu.operator_rows(scene, cameras[0], top_k=None, weight_dtype=np.float32)
    rendered = cpu.render(scene, cameras[0], features=values, rgb=False)
    np.testing.assert_allclose(rows.apply(values), rendered.features, atol=1e-5)
    half = cpu.operator_rows(scene, cameras[0], top_k=4)  # float16 by default
    assert half.weights.dtype == np.float16
    np.testing.assert_allclose(
        half.weights.astype(np.float32).sum(-1) + half.residual, rendered.alpha, atol=2e-3
    )
    # Weights are sorted, largest first; padding is -1 with weight 0.
    assert (np.diff(half.weights.astype(np.float32), axis=-1) <= 0).all()
    assert (half.weights[half.ids < 0] == 0).all()


def test_pick_agrees_with_operator_rows(cpu, reference, operator_case):
    scene, cameras = operator_case
    camera = cameras[2]
    rows = cpu.operator_rows(scene, camera, top_k=None, weight_dtype=np.float32)
    alpha = cpu.render(scene, camera, rgb=False).alpha
    rng = np.random.default_rng(8)
    covered = np.argwhere(alpha > 0.2)
    for row, col in covered[rng.choice(len(covered), size=12, replace=False)]:
        picked = cpu.pick(scene, camera, col + 0.5, row + 0.5)
        kept = rows.ids[row, col] >= 0
        expected = dict(
            zip(
                rows.ids[row, col][kept].tolist(),
                rows.weights[row, col][kept].tolist(),
                strict=True,
            )
        )
        assert dict(zip(picked.ids.tolist(), picked.weights.tolist(), strict=True)) == (
            pytest.approx(expected, abs=1e-6)
        )
        slow = reference.pick(scene, camera, col + 0.5, row + 0.5)
        np.testing.assert_array_equal(picked.ids, slow.ids)
        np.testing.assert_allclose(picked.weights, slow.weights, atol=1e-6)
    # Off-centre positions are evaluated where they are, not snapped to a pixel centre.
    off = cpu.pick(scene, camera, 20.13, 17.71)
    slow_off = reference.pick(scene, camera, 20.13, 17.71)
    np.testing.assert_array_equal(off.ids, slow_off.ids)


# ---------------------------------------------------------------------------- interface and input
def test_resolve_backend_and_protocol():
    assert isinstance(resolve_backend("cpu"), RenderBackend)
    assert isinstance(resolve_backend("reference"), RenderBackend)
    assert resolve_backend("auto").name == "cpu"  # no CUDA on the CI machine
    with pytest.raises(ValueError, match="unknown render backend"):
        resolve_backend("vulkan")


def test_bad_inputs_are_named(cpu, operator_case):
    scene, cameras = operator_case
    with pytest.raises(ValueError, match="features must have shape"):
        cpu.render(scene, cameras[0], features=np.zeros((3, 2)))
    with pytest.raises(ValueError, match="1 to 256 channels"):
        cpu.render(scene, cameras[0], features=np.zeros((len(scene), 300)))
    with pytest.raises(ValueError, match="NaN"):
        bad = np.zeros((40, 56))
        bad[3, 3] = np.nan
        cpu.uplift(scene, cameras[:1], [bad])
    with pytest.raises(ValueError, match="only 1 maps"):
        cpu.uplift(scene, cameras[:2], [np.zeros((40, 56))])
    with pytest.raises(ValueError, match="channels"):
        cpu.uplift(scene, cameras[:2], [np.zeros((40, 56, 2)), np.zeros((40, 56, 3))])
    with pytest.raises(ValueError, match="outside"):
        cpu.pick(scene, cameras[0], 56.0, 3.0)
    with pytest.raises(ValueError, match="top_k"):
        cpu.operator_rows(scene, cameras[0], top_k=0)


def test_uplift_reports_progress_and_cancels(cpu, operator_case):
    scene, cameras = operator_case
    seen = []
    maps = [np.ones((40, 56), np.float32)] * len(cameras)
    cpu.uplift(scene, cameras, maps, progress=lambda done, total, msg: seen.append((done, total)))
    assert seen == [(1, 3), (2, 3), (3, 3)]
    token = CancelToken()

    def cancel_after_first(done, total, message):
        token.cancel()

    with pytest.raises(JobCancelled):
        cpu.uplift(scene, cameras, maps, progress=cancel_after_first, cancel=token)


def test_kernels_are_cached_on_disk():
    """Every numba kernel of the CPU backend is compiled with cache=True."""
    import numba.core.caching

    from liftstudio.render.cpu import composite, projection, tiles

    dispatchers = [
        value
        for module in (composite, projection, tiles)
        for value in vars(module).values()
        if hasattr(value, "_cache") and hasattr(value, "py_func")
    ]
    assert len(dispatchers) >= 6
    for dispatcher in dispatchers:
        assert isinstance(dispatcher._cache, numba.core.caching.FunctionCache), dispatcher


def test_uplift_of_ones_is_beta_in_every_channel(cpu, operator_case):
    """No 1/C scaling (LUDVIG's kernel bug): a C-channel map of ones lifts to β per channel."""
    scene, cameras = operator_case
    ones = [np.ones((40, 56, 7), np.float32) for _ in cameras]
    result = cpu.uplift(scene, cameras, ones)
    for channel in range(7):
        np.testing.assert_allclose(result.weighted_sum[:, channel], result.beta, rtol=1e-5)
    np.testing.assert_allclose(result.mean()[result.visible], 1.0, rtol=1e-5)
