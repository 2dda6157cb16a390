"""The reference backend against closed forms of the rasterization rule."""

from __future__ import annotations

import numpy as np
import pytest

from liftstudio.evaluate.synthetic import random_gaussians
from liftstudio.jobs import CancelToken, JobCancelled
from liftstudio.render import GSPLAT_RULES, INRIA_RULES, RasterRules, RenderBackend
from liftstudio.render.reference import ReferenceBackend
from liftstudio.scene.camera import Camera, intrinsics
from liftstudio.scene.camera_rigs import ring_cameras
from liftstudio.scene.gaussians import GaussianScene
from liftstudio.scene.sh import SH_C0

# ---------------------------------------------------------------------------- helpers


def make_scene(means, scales, opacities, *, quats=None, dc=None, sh_rest=None) -> GaussianScene:
    """Gaussians from activated values (scales: scalar, (N,) isotropic or (N, 3))."""
    means = np.asarray(means, dtype=np.float64).reshape(-1, 3)
    n = len(means)
    scales = np.asarray(scales, dtype=np.float64)
    scales = np.broadcast_to(scales.reshape(-1, 1) if scales.ndim < 2 else scales, (n, 3))
    opacities = np.broadcast_to(np.asarray(opacities, dtype=np.float64), (n,))
    with np.errstate(divide="ignore"):
        logits = np.log(opacities) - np.log1p(-opacities)
    quats = np.tile([1.0, 0.0, 0.0, 0.0], (n, 1)) if quats is None else np.asarray(quats)
    dc = np.zeros((n, 3)) if dc is None else np.asarray(dc, dtype=np.float64).reshape(n, 3)
    sh = dc[:, None, :] if sh_rest is None else np.concatenate([dc[:, None, :], sh_rest], axis=1)
    return GaussianScene(
        means=means,
        raw_quats=quats.reshape(n, 4),
        log_scales=np.log(scales),
        logit_opacities=logits,
        sh=sh,
    )


def axis_camera(width=33, height=33, f=40.0, cx=None, cy=None) -> Camera:
    """Camera at the origin looking down +z (so camera axes = world axes)."""
    cx = width / 2 if cx is None else cx
    cy = height / 2 if cy is None else cy
    return Camera("axis", np.eye(4), intrinsics(f, f, cx, cy), width, height)


def expected_alpha(q, opacity, rules=INRIA_RULES):
    """The rule for one Gaussian alone: its alpha where it contributes, else 0."""
    q = np.asarray(q, dtype=np.float64)
    alpha = np.minimum(rules.alpha_max, opacity * np.exp(-0.5 * q))
    return np.where((q <= rules.footprint_sigmas**2) & (alpha >= rules.min_alpha), alpha, 0.0)


def pixel_grid(width, height):
    """(x, y) pixel centres, each (H, W)."""
    return np.meshgrid(np.arange(width) + 0.5, np.arange(height) + 0.5)


def quad_form(cov2d, dx, dy):
    inv = np.linalg.inv(cov2d)
    return inv[0, 0] * dx * dx + (inv[0, 1] + inv[1, 0]) * dx * dy + inv[1, 1] * dy * dy


@pytest.fixture(scope="module")
def backend() -> ReferenceBackend:
    return ReferenceBackend()


@pytest.fixture(scope="module")
def small_scene() -> GaussianScene:
    return random_gaussians(400, sh_degree=1, seed=3)


@pytest.fixture(scope="module")
def small_cameras() -> list[Camera]:
    return ring_cameras((0.0, 0.0, 0.0), 3.0, 3, width=40, height=30)


# ---------------------------------------------------------------------------- projection


def test_backend_satisfies_protocol(backend):
    assert isinstance(backend, RenderBackend)
    assert backend.name == "reference"
    assert backend.rules is INRIA_RULES
    assert ReferenceBackend(GSPLAT_RULES).rules is GSPLAT_RULES


def test_isotropic_gaussian_off_axis_matches_closed_form(backend):
    # Isotropic Σ = s² I is rotation invariant, so Σ2D = s² J Jᵀ + 0.3 I with
    # J Jᵀ = (f/z)² (I + u uᵀ), u = (x/z, y/z) (unclamped here).
    scene = make_scene([0.03, -0.02, 2.0], 0.08, 0.7)
    camera = axis_camera()
    mx, my, z = scene.means[0].astype(np.float64)
    s = float(scene.scales[0, 0])
    o = float(scene.opacities[0])
    f, u = camera.fx, np.array([mx / z, my / z])
    cov2d = s**2 * (f / z) ** 2 * (np.eye(2) + np.outer(u, u)) + 0.3 * np.eye(2)
    center = (f * mx / z + camera.cx, f * my / z + camera.cy)
    xs, ys = pixel_grid(camera.width, camera.height)
    q = quad_form(cov2d, xs - center[0], ys - center[1])

    result = backend.render(scene, camera, features=np.array([[2.0, -1.0]]))
    want = expected_alpha(q, o)
    np.testing.assert_allclose(result.alpha, want, rtol=1e-5, atol=1e-7)
    assert (want > 0).sum() > 20 and (want == 0).sum() > 20  # both sides of the footprint
    np.testing.assert_allclose(result.depth, np.where(want > 0, z, 0.0), rtol=1e-6)
    np.testing.assert_allclose(result.features[..., 0], 2 * want, rtol=1e-5, atol=1e-7)
    np.testing.assert_allclose(result.features[..., 1], -want, rtol=1e-5, atol=1e-7)


def test_centre_pixel_alpha_is_clamped_opacity(backend):
    camera = axis_camera(cx=16.5, cy=16.5)  # on-axis centre = centre of pixel (16, 16)
    low = make_scene([0.0, 0.0, 2.0], 0.1, 0.6)
    high = make_scene([0.0, 0.0, 2.0], 0.1, 0.9995)
    assert backend.render(low, camera).alpha[16, 16] == pytest.approx(low.opacities[0])
    assert backend.render(high, camera).alpha[16, 16] == pytest.approx(0.99, abs=1e-7)
    gs = ReferenceBackend(GSPLAT_RULES).render(high, camera).alpha[16, 16]
    assert gs == pytest.approx(min(0.999, float(high.opacities[0])), abs=1e-7)


@pytest.mark.parametrize(
    ("axis", "angle"), [("z", np.radians(30.0)), ("z", np.radians(-65.0)), ("x", 0.7)]
)
def test_rotated_anisotropic_gaussian_matches_closed_form(backend, axis, angle):
    # On the optical axis J = (f/z) [I₂ | 0], so Σ2D = (f/z)² Σ[:2, :2] + 0.3 I.
    a, b, c = 0.15, 0.05, 0.1
    if axis == "z":
        quat = [np.cos(angle / 2), 0.0, 0.0, np.sin(angle / 2)]
        rot2 = np.array([[np.cos(angle), -np.sin(angle)], [np.sin(angle), np.cos(angle)]])
        top = rot2 @ np.diag([a**2, b**2]) @ rot2.T
    else:
        quat = [np.cos(angle / 2), np.sin(angle / 2), 0.0, 0.0]
        top = np.diag([a**2, b**2 * np.cos(angle) ** 2 + c**2 * np.sin(angle) ** 2])
    scene = make_scene([0.0, 0.0, 2.5], [[a, b, c]], 0.8, quats=quat)
    camera = axis_camera(width=41, height=37, f=50.0)
    cov2d = (camera.fx / 2.5) ** 2 * top + 0.3 * np.eye(2)
    xs, ys = pixel_grid(camera.width, camera.height)
    q = quad_form(cov2d, xs - camera.cx, ys - camera.cy)

    alpha = backend.render(scene, camera).alpha
    np.testing.assert_allclose(alpha, expected_alpha(q, float(scene.opacities[0])), atol=2e-6)


@pytest.mark.parametrize("rules", [INRIA_RULES, GSPLAT_RULES])
def test_jacobian_is_evaluated_at_the_clamped_direction(rules):
    # Centre at x/z = 1, beyond the clamp limit (W - cx)/fx + m·W/fx = 0.5 + m: the
    # Jacobian sees x/z = 0.5 + m, while mean2d stays unclamped at x = 48.
    scene = make_scene([2.0, 0.0, 2.0], 0.5, 0.9)
    camera = axis_camera(width=32, height=32, f=32.0)
    s, o, z, f = float(scene.scales[0, 0]), float(scene.opacities[0]), 2.0, 32.0
    limit = 0.5 + rules.clamp_margin
    cov2d = s**2 * (f / z) ** 2 * np.diag([1 + limit**2, 1.0]) + 0.3 * np.eye(2)
    unclamped = s**2 * (f / z) ** 2 * np.diag([2.0, 1.0]) + 0.3 * np.eye(2)
    dx, dy = 31.5 - 48.0, 16.5 - 16.0
    want = expected_alpha(quad_form(cov2d, dx, dy), o, rules)
    wrong = expected_alpha(quad_form(unclamped, dx, dy), o, rules)
    assert abs(want - wrong) > 1e-2 and want > 0

    alpha = ReferenceBackend(rules).render(scene, camera).alpha
    assert alpha[16, 31] == pytest.approx(want, rel=1e-5)


def test_culling_by_depth(backend):
    camera = axis_camera()
    behind = make_scene([[0.0, 0.0, -2.0], [0.0, 0.0, 0.005]], 0.1, 0.9)
    assert backend.render(behind, camera).alpha.max() == 0.0
    far = make_scene([0.0, 0.0, 50.0], 1.0, 0.9)
    assert backend.render(far, camera).alpha.max() > 0.5
    assert ReferenceBackend(RasterRules(far_plane=40.0)).render(far, camera).alpha.max() == 0.0


# ---------------------------------------------------------------------------- per-pixel rule


def _scale_for(sigma2, f=40.0, z=2.0):
    """Isotropic scale whose on-axis 2D variance is ``sigma2`` (INRIA dilation 0.3)."""
    return z / f * np.sqrt(sigma2 - 0.3)


@pytest.mark.parametrize(("q_target", "inside"), [(8.99, True), (9.01, False)])
def test_footprint_is_cut_at_three_sigma(backend, q_target, inside):
    # Centre at pixel (16, 16); pixel (16, 19) is 3 px away: q = 9 / σ².
    scene = make_scene([0.0, 0.0, 2.0], _scale_for(9.0 / q_target), 0.99)
    camera = axis_camera(cx=16.5, cy=16.5)
    sigma2 = (40.0 * float(scene.scales[0, 0]) / 2.0) ** 2 + 0.3
    q = 9.0 / sigma2
    assert (q <= 9.0) == inside  # float32 rounding of the scale kept the side
    alpha = backend.render(scene, camera).alpha
    o = float(scene.opacities[0])
    assert alpha[16, 19] == pytest.approx(o * np.exp(-q / 2) if inside else 0.0, rel=1e-5)
    assert alpha[19, 16] == alpha[16, 19]


def test_footprint_boundary_follows_footprint_sigmas():
    scene = make_scene([0.0, 0.0, 2.0], 0.1, 0.99)
    camera = axis_camera(cx=16.5, cy=16.5)
    sigma2 = (40.0 * float(scene.scales[0, 0]) / 2.0) ** 2 + 0.3
    k = np.sqrt(16.0 / sigma2)  # pixel (16, 20) sits exactly k sigmas away
    just_in = ReferenceBackend(RasterRules(footprint_sigmas=k * (1 + 1e-7))).render(scene, camera)
    just_out = ReferenceBackend(RasterRules(footprint_sigmas=k * (1 - 1e-7))).render(scene, camera)
    o = float(scene.opacities[0])
    assert just_in.alpha[16, 20] == pytest.approx(o * np.exp(-8.0 / sigma2), rel=1e-5)
    assert just_out.alpha[16, 20] == 0.0
    assert just_out.alpha[16, 19] > 0.0


def test_contributions_below_min_alpha_are_skipped(backend):
    scene = make_scene([0.0, 0.0, 2.0], _scale_for(25.0), 1.01 / 255)
    camera = axis_camera(cx=16.5, cy=16.5)
    o = float(scene.opacities[0])
    sigma2 = (40.0 * float(scene.scales[0, 0]) / 2.0) ** 2 + 0.3
    neighbour = o * np.exp(-0.5 / sigma2)  # pixel (16, 17): q = 1/σ², well inside 3σ
    assert neighbour < 1 / 255 <= o
    alpha = backend.render(scene, camera).alpha
    assert alpha[16, 16] == pytest.approx(o)
    assert alpha[16, 17] == 0.0
    assert alpha.sum() == pytest.approx(o)  # nothing else passes
    loose = ReferenceBackend(RasterRules(min_alpha=0.0)).render(scene, camera).alpha
    assert loose[16, 17] == pytest.approx(neighbour, rel=1e-5)


@pytest.mark.parametrize("near_first", [True, False])
def test_two_gaussians_composite_in_depth_order(backend, near_first):
    means = [[0.0, 0.0, 2.0], [0.0, 0.0, 4.0]]
    opacities = [0.6, 0.5]
    order = [0, 1] if near_first else [1, 0]
    scene = make_scene(np.array(means)[order], [0.05, 0.1], np.array(opacities)[order])
    camera = axis_camera(cx=16.5, cy=16.5)
    o_near, o_far = (float(v) for v in scene.opacities[np.argsort(order)])
    w_near, w_far = o_near, o_far * (1 - o_near)

    features = np.eye(2)[order]  # channel 0 marks the near Gaussian, channel 1 the far
    result = backend.render(scene, camera, features=features)
    np.testing.assert_allclose(result.features[16, 16], [w_near, w_far], rtol=1e-6)
    assert result.alpha[16, 16] == pytest.approx(w_near + w_far)
    assert result.depth[16, 16] == pytest.approx((2 * w_near + 4 * w_far) / (w_near + w_far))

    picked = backend.pick(scene, camera, 16.5, 16.5)
    assert picked.ids.tolist() == [order.index(0), order.index(1)]
    np.testing.assert_allclose(picked.weights, [w_near, w_far], rtol=1e-6)
    np.testing.assert_allclose(picked.depths, [2.0, 4.0])
    assert picked.ids.dtype == np.int32 and picked.weights.dtype == np.float32


def test_equal_depths_composite_by_index(backend):
    scene = make_scene([[0.0, 0.0, 2.0]] * 2, 0.1, [0.3, 0.8])
    camera = axis_camera(cx=16.5, cy=16.5)
    o0, o1 = (float(v) for v in scene.opacities)
    picked = backend.pick(scene, camera, 16.5, 16.5)
    assert picked.ids.tolist() == [0, 1]
    np.testing.assert_allclose(picked.weights, [o0, o1 * (1 - o0)], rtol=1e-6)


@pytest.mark.parametrize(
    ("clamp", "stop", "kept"), [(0.8, 1e-4, 5), (0.8, 1e-2, 2), (0.8, 0.0, 8), (0.5, 0.5**3, 3)]
)
def test_compositing_stops_before_transmittance_drops_below_threshold(clamp, stop, kept):
    # Eight fully opaque Gaussians clamped to α: T_k = (1-α)^k, and the k-th is refused
    # once (1-α)^(k+1) < stop. α = 0.8: 0.2^5 = 3.2e-4 ≥ 1e-4 > 0.2^6 and
    # 0.2^2 ≥ 1e-2 > 0.2^3. α = 0.5 is exact in binary: 0.5^3 = stop is not below it,
    # so the third is added and the fourth (0.5^4 < stop) is not.
    depths = np.array([5.0, 2.0, 7.0, 3.0, 9.0, 4.0, 8.0, 6.0])
    means = np.stack([np.zeros(8), np.zeros(8), depths], axis=1)
    colors = np.linspace(0.1, 0.9, 24).reshape(8, 3)
    scene = make_scene(means, 0.1, 1.0, dc=(colors - 0.5) / SH_C0)
    assert (scene.opacities == 1.0).all()
    backend = ReferenceBackend(RasterRules(alpha_max=clamp, transmittance_stop=stop))
    camera = axis_camera(cx=16.5, cy=16.5)
    rest = 1.0 - clamp
    weights = clamp * rest ** np.arange(kept)
    front = np.argsort(depths)[:kept]

    picked = backend.pick(scene, camera, 16.5, 16.5)
    assert picked.ids.tolist() == front.tolist()
    np.testing.assert_allclose(picked.weights, weights, rtol=1e-6)

    background = np.array([0.2, 0.5, 1.0])
    result = backend.render(scene, camera, background=background, features=np.ones((8, 1)))
    assert result.alpha[16, 16] == pytest.approx(1 - rest**kept, rel=1e-6)
    assert result.features[16, 16, 0] == pytest.approx(weights.sum(), rel=1e-6)
    rgb = weights @ colors[front] + rest**kept * background
    np.testing.assert_allclose(result.rgb[16, 16], rgb, rtol=1e-5)


def test_background_mixes_by_transmittance(backend):
    color = np.array([0.9, 0.4, 0.1])
    scene = make_scene([0.0, 0.0, 2.0], 0.1, 0.7, dc=(color - 0.5) / SH_C0)
    camera = axis_camera(cx=16.5, cy=16.5)
    background = np.array([0.1, 0.2, 0.3])
    result = backend.render(scene, camera, background=background)
    alpha = result.alpha[..., None].astype(np.float64)
    np.testing.assert_allclose(result.rgb, alpha * color + (1 - alpha) * background, atol=1e-6)
    np.testing.assert_array_equal(result.rgb[0, 0], background.astype(np.float32))
    assert backend.render(scene, camera, rgb=False).rgb is None


def test_sh_degree_zero_colour_is_dc_term(backend):
    dc = np.array([[0.8, -0.3, -2.5]])  # the last channel clamps to 0
    rest = np.zeros((1, 3, 3))
    rest[0, 1] = [0.5, 0.5, 0.5]  # band-1 z term: visible straight ahead
    scene = make_scene([0.0, 0.0, 2.0], 0.1, 0.9, dc=dc, sh_rest=rest)
    camera = axis_camera(cx=16.5, cy=16.5)
    alpha = float(scene.opacities[0])
    base = np.maximum(0.5 + SH_C0 * dc[0].astype(np.float32), 0.0)
    flat = backend.render(scene, camera, sh_degree=0).rgb[16, 16]
    np.testing.assert_allclose(flat, alpha * base, rtol=1e-5, atol=1e-7)
    full = backend.render(scene, camera).rgb[16, 16]
    assert not np.allclose(full, flat, atol=1e-3)
    with pytest.raises(ValueError, match="sh_degree"):
        backend.render(scene, camera, sh_degree=-1)


def test_rendering_at_a_lower_resolution_scales_the_intrinsics(backend):
    scene = make_scene([0.0, 0.0, 2.0], 0.1, 0.8)
    camera = axis_camera(width=64, height=48, f=60.0)
    half = backend.render(scene, camera, resolution=(32, 24)).alpha
    assert half.shape == (24, 32)
    sigma2 = (30.0 * float(scene.scales[0, 0]) / 2.0) ** 2 + 0.3  # f' = 30
    xs, ys = pixel_grid(32, 24)
    q = ((xs - 16.0) ** 2 + (ys - 12.0) ** 2) / sigma2  # c' = (16, 12)
    np.testing.assert_allclose(half, expected_alpha(q, float(scene.opacities[0])), atol=1e-6)
    # the centre lands on the corner shared by pixels (11, 15), (11, 16), (12, 15), (12, 16)
    assert half[11, 15] == half[11, 16] == half[12, 15] == half[12, 16] == half.max()
    full = backend.render(scene, camera, resolution=(64, 48)).alpha
    np.testing.assert_array_equal(full, backend.render(scene, camera).alpha)


def test_empty_scene_renders_background(backend):
    scene = make_scene(np.zeros((0, 3)), np.zeros(0) + 1.0, np.zeros(0) + 0.5)
    result = backend.render(scene, axis_camera(), background=(1.0, 0.0, 0.5))
    assert result.alpha.max() == 0.0 and result.depth.max() == 0.0
    np.testing.assert_array_equal(result.rgb[3, 4], [1.0, 0.0, 0.5])


# ---------------------------------------------------------------------------- linear operator


def test_feature_rendering_is_linear(backend, small_scene, small_cameras):
    rng = np.random.default_rng(0)
    x, y = rng.normal(size=(2, len(small_scene), 3))
    camera = small_cameras[0]
    rx = backend.render(small_scene, camera, features=x, rgb=False).features
    ry = backend.render(small_scene, camera, features=y, rgb=False).features
    rxy = backend.render(small_scene, camera, features=2.0 * x - 0.5 * y, rgb=False).features
    assert np.abs(rx).max() > 0.1
    np.testing.assert_allclose(rxy, 2.0 * rx - 0.5 * ry, atol=2e-5)
    ones = backend.render(small_scene, camera, features=np.ones(len(small_scene))).features
    np.testing.assert_allclose(ones[..., 0], backend.render(small_scene, camera).alpha, atol=1e-6)


def test_uplift_is_the_adjoint_of_rendering(backend, small_scene, small_cameras):
    rng = np.random.default_rng(1)
    x = rng.normal(size=(len(small_scene), 2))
    sizes = [(40, 30), (20, 15), (40, 30)]  # one map at half resolution
    maps = [rng.normal(size=(h, w, 2)) for w, h in sizes]
    lhs = 0.0
    alpha_total = 0.0
    for camera, values, size in zip(small_cameras, maps, sizes, strict=True):
        result = backend.render(small_scene, camera, resolution=size, features=x, rgb=False)
        lhs += float(np.sum(result.features.astype(np.float64) * values))
        alpha_total += float(result.alpha.sum(dtype=np.float64))

    calls = []
    lifted = backend.uplift(
        small_scene, small_cameras, iter(maps), progress=lambda *a: calls.append(a[:2])
    )
    assert lifted.weighted_sum.shape == (len(small_scene), 2)
    assert lifted.weighted_sum.dtype == np.float32 and lifted.beta.dtype == np.float32
    rhs = float(np.sum(x * lifted.weighted_sum.astype(np.float64)))
    assert abs(lhs) > 1.0
    assert rhs == pytest.approx(lhs, rel=1e-4, abs=1e-3)
    assert float(lifted.beta.sum(dtype=np.float64)) == pytest.approx(alpha_total, rel=1e-5)
    assert calls == [(1, 3), (2, 3), (3, 3)]


def test_uplift_beta_of_one_gaussian_is_its_alpha_mass(backend):
    scene = make_scene([0.0, 0.0, 2.0], 0.1, 0.8)
    camera = axis_camera(width=32, height=24, f=40.0)
    sigma2 = (40.0 * float(scene.scales[0, 0]) / 2.0) ** 2 + 0.3
    xs, ys = pixel_grid(32, 24)
    alpha = expected_alpha(((xs - 16) ** 2 + (ys - 12) ** 2) / sigma2, float(scene.opacities[0]))
    lifted = backend.uplift(scene, [camera], [xs])  # the map holds each pixel's x
    assert lifted.beta[0] == pytest.approx(alpha.sum(), rel=1e-5)
    assert lifted.weighted_sum[0, 0] == pytest.approx((alpha * xs).sum(), rel=1e-5)
    assert lifted.mean()[0, 0] == pytest.approx(16.0, rel=1e-5)  # symmetric about x = 16


def test_uplift_can_be_cancelled(backend, small_scene, small_cameras):
    maps = [np.ones((30, 40))] * 3
    token = CancelToken()
    token.cancel()
    with pytest.raises(JobCancelled):
        backend.uplift(small_scene, small_cameras, maps, cancel=token)

    token = CancelToken()
    calls = []

    def progress(done, total, message):
        calls.append(done)
        token.cancel()

    with pytest.raises(JobCancelled):
        backend.uplift(small_scene, small_cameras, maps, progress=progress, cancel=token)
    assert calls == [1]


def test_operator_rows_keeping_everything_reproduce_the_render(backend, small_scene, small_cameras):
    rng = np.random.default_rng(2)
    x = rng.normal(size=(len(small_scene), 3)).astype(np.float32)
    camera = small_cameras[1]
    rows = backend.operator_rows(small_scene, camera, top_k=None, weight_dtype=np.float32)
    result = backend.render(small_scene, camera, features=x)
    assert rows.ids.shape[:2] == (30, 40) and rows.top_k > 1
    assert rows.ids.dtype == np.int32 and rows.weights.dtype == np.float32
    np.testing.assert_allclose(rows.apply(x), result.features, atol=1e-5)
    np.testing.assert_allclose(rows.residual, 0.0, atol=1e-6)
    np.testing.assert_allclose(rows.weights.sum(axis=2), result.alpha, atol=1e-6)
    pads = rows.ids < 0
    assert (rows.weights[pads] == 0).all()
    assert (np.diff(rows.weights, axis=2) <= 0).all()  # largest weight first
    # padding sits after the real entries
    assert not (pads[..., :-1] & ~pads[..., 1:]).any()


def test_operator_rows_residual_is_the_mass_left_out(backend, small_scene, small_cameras):
    camera = small_cameras[2]
    rows = backend.operator_rows(small_scene, camera, top_k=2)
    alpha = backend.render(small_scene, camera).alpha.astype(np.float64)
    assert rows.top_k == 2 and rows.weights.dtype == np.float16
    kept = rows.weights.astype(np.float64).sum(axis=2)
    assert rows.residual.max() > 0.05  # some pixels have more than two contributors
    assert (rows.residual >= 0).all()
    np.testing.assert_allclose(rows.residual, alpha - kept, atol=2e-3)  # float16 weights
    exact = backend.operator_rows(small_scene, camera, top_k=2, weight_dtype=np.float32)
    kept = exact.weights.astype(np.float64).sum(axis=2)
    np.testing.assert_allclose(exact.residual, alpha - kept, atol=1e-6)
    np.testing.assert_array_equal(exact.ids, rows.ids)


def test_operator_rows_keep_the_largest_weights_first():
    # On-axis: the near Gaussian (o=0.3) gets 0.3, the far one (o=0.9) 0.9·0.7 = 0.63.
    scene = make_scene([[0.0, 0.0, 2.0], [0.0, 0.0, 3.0]], 0.1, [0.3, 0.9])
    camera = axis_camera(cx=16.5, cy=16.5)
    rows = ReferenceBackend().operator_rows(scene, camera, top_k=3, weight_dtype=np.float32)
    o0, o1 = (float(v) for v in scene.opacities)
    assert rows.ids[16, 16].tolist() == [1, 0, -1]
    np.testing.assert_allclose(rows.weights[16, 16], [o1 * (1 - o0), o0, 0.0], rtol=1e-6)
    single = ReferenceBackend().operator_rows(scene, camera, top_k=1)
    assert single.ids[16, 16].tolist() == [1]
    assert single.residual[16, 16] == pytest.approx(o0, rel=1e-6)
    assert (single.ids[0, 0] == -1).all()


def test_pick_at_a_pixel_centre_is_that_pixels_operator_row(backend, small_scene, small_cameras):
    camera = small_cameras[0]
    rows = backend.operator_rows(small_scene, camera, top_k=None, weight_dtype=np.float32)
    checked = 0
    for i, j in [(15, 20), (10, 12), (20, 25), (14, 18), (0, 0)]:
        picked = backend.pick(small_scene, camera, j + 0.5, i + 0.5)
        valid = rows.ids[i, j] >= 0
        assert sorted(picked.ids.tolist()) == sorted(rows.ids[i, j][valid].tolist())
        by_id = dict(zip(rows.ids[i, j][valid].tolist(), rows.weights[i, j][valid], strict=True))
        for gid, weight in zip(picked.ids.tolist(), picked.weights, strict=True):
            assert weight == pytest.approx(by_id[gid], rel=1e-6)
        assert (np.diff(picked.depths) >= 0).all()  # compositing order is depth order
        checked += len(picked.ids)
    assert checked > 5


def test_pick_between_pixel_centres_evaluates_that_point(backend):
    scene = make_scene([0.0, 0.0, 2.0], 0.1, 0.8)
    camera = axis_camera(cx=16.5, cy=16.5)
    sigma2 = (40.0 * float(scene.scales[0, 0]) / 2.0) ** 2 + 0.3
    picked = backend.pick(scene, camera, 17.25, 15.9)
    q = (0.75**2 + 0.6**2) / sigma2
    assert picked.weights.tolist() == pytest.approx([float(scene.opacities[0]) * np.exp(-q / 2)])
    assert picked.front == 0
    assert backend.pick(scene, camera, 0.0, 0.0).front is None


# ---------------------------------------------------------------------------- bad input


def test_bad_inputs_raise_value_errors(backend, small_scene, small_cameras):
    camera = small_cameras[0]
    n = len(small_scene)
    with pytest.raises(ValueError, match="features"):
        backend.render(small_scene, camera, features=np.ones((n + 1, 2)))
    with pytest.raises(ValueError, match="background"):
        backend.render(small_scene, camera, background=(0.0, 1.0))
    with pytest.raises(ValueError, match="resolution"):
        backend.render(small_scene, camera, resolution=(0, 10))
    with pytest.raises(ValueError, match="maps"):
        backend.uplift(small_scene, small_cameras, [np.ones((30, 40))] * 2)
    with pytest.raises(ValueError, match="maps"):
        backend.uplift(small_scene, small_cameras, [np.ones((30, 40))] * 4)
    with pytest.raises(ValueError, match="channels"):
        backend.uplift(small_scene, small_cameras[:2], [np.ones((30, 40, 2)), np.ones((30, 40))])
    with pytest.raises(ValueError, match="camera"):
        backend.uplift(small_scene, [], [])
    for top_k in (0, -3, 2.5, True):
        with pytest.raises(ValueError, match="top_k"):
            backend.operator_rows(small_scene, camera, top_k=top_k)
    with pytest.raises(ValueError, match="weight_dtype"):
        backend.operator_rows(small_scene, camera, weight_dtype=np.int32)
    for x, y in [(-0.1, 5.0), (40.0, 5.0), (5.0, 30.0), (np.nan, 1.0)]:
        with pytest.raises(ValueError, match="pick"):
            backend.pick(small_scene, camera, x, y)
