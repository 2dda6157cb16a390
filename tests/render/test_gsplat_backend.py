"""The gsplat backend: lazy import, a clear reason without CUDA, and its operations.

Every operation test runs twice: on a real CUDA GPU (skipped without one) and on the
CPU with gsplat's kernels emulated densely in torch (:class:`EmulatedGsplat`), which
checks the backend's own logic (camera and channel plumbing, depth normalisation,
the autograd adjoint, band-wise operator rows, picks) on every machine.
"""

from __future__ import annotations

import dataclasses
import subprocess
import sys

import numpy as np
import pytest

from liftstudio.evaluate.synthetic import orbit_cameras, random_gaussians
from liftstudio.render.gsplat_backend import (
    GsplatBackend,
    GsplatUnavailable,
    gsplat_unavailable_reason,
)
from liftstudio.render.registry import resolve_backend
from liftstudio.render.rules import GSPLAT_RULES

torch = pytest.importorskip("torch")

_REASON = gsplat_unavailable_reason()
needs_cuda = pytest.mark.skipif(_REASON is not None, reason=f"needs a CUDA GPU: {_REASON}")


# ---------------------------------------------------------------------------- emulated gsplat
class EmulatedGsplat:
    """gsplat's functions emulated in torch, dense over pixels: small images only.

    Same projection as gsplat (its pure-torch ``_fully_fused_projection``), same
    per-pixel rule as its kernels (α = min(0.999, o·exp(-σ)), skip below 1/255, stop
    exclusively once T would reach 1e-4), compositing in depth order.
    """

    def fully_fused_projection(
        self, means, covars, quats, scales, viewmats, Ks, width, height, *, eps2d,
        near_plane, far_plane, packed, calc_compensations, opacities=None,
    ):  # fmt: skip
        from gsplat.cuda._torch_impl import _fully_fused_projection, _quat_scale_to_covar_preci

        assert covars is None and not packed and not calc_compensations
        covars, _ = _quat_scale_to_covar_preci(quats, scales, True, False, triu=False)
        radii, means2d, depths, conics, _ = _fully_fused_projection(
            means, covars, viewmats, Ks, width, height, eps2d=eps2d,
            near_plane=near_plane, far_plane=far_plane,
        )  # fmt: skip
        return radii, means2d, depths, conics, None

    def isect_tiles(self, means2d, radii, depths, tile_size, tiles_x, tiles_y, **kwargs):
        visible = torch.nonzero((radii[0] > 0).all(dim=-1))[:, 0]
        order = torch.argsort(depths[0, visible], stable=True)
        flatten_ids = visible[order].int()
        return None, torch.zeros_like(flatten_ids, dtype=torch.int64), flatten_ids

    def isect_offset_encode(self, isect_ids, n_images, tiles_x, tiles_y):
        return torch.zeros((n_images, tiles_y, tiles_x), dtype=torch.int32)

    @staticmethod
    def _composite(means2d, conics, opacities, order, width, height, start_t):
        """Front-to-back compositing of every pixel: dense weights and ordered pairs."""
        n = means2d.shape[1]
        ys, xs = torch.meshgrid(
            torch.arange(height, dtype=torch.float32),
            torch.arange(width, dtype=torch.float32),
            indexing="ij",
        )
        px, py = xs.flatten() + 0.5, ys.flatten() + 0.5
        trans = start_t.flatten().clone()
        done = torch.zeros_like(trans, dtype=torch.bool)
        weights = torch.zeros((trans.numel(), n), dtype=torch.float32)
        pairs = []
        for g in order.tolist():
            dx, dy = means2d[0, g, 0] - px, means2d[0, g, 1] - py
            a, b, c = conics[0, g]
            sigma = 0.5 * (a * dx * dx + c * dy * dy) + b * dx * dy
            alpha = torch.clamp_max(opacities[g] * torch.exp(-sigma), 0.999)
            hit = (sigma >= 0) & (alpha >= 1.0 / 255.0) & ~done
            next_t = trans * (1.0 - alpha)
            finish = hit & (next_t <= 1e-4)
            done |= finish
            add = hit & ~finish
            weights[add, g] = alpha[add] * trans[add]
            trans = torch.where(add, next_t, trans)
            pixels = torch.nonzero(add)[:, 0]
            pairs.append((pixels, torch.full_like(pixels, g)))
        pixels = torch.cat([p for p, _ in pairs]) if pairs else torch.zeros(0, dtype=torch.long)
        gauss = torch.cat([g for _, g in pairs]) if pairs else torch.zeros(0, dtype=torch.long)
        grouped = torch.argsort(pixels, stable=True)
        return weights, gauss[grouped], pixels[grouped]

    def rasterize_to_indices_in_range(
        self, range_start, range_end, transmittances, means2d, conics, opacities,
        width, height, tile_size, isect_offsets, flatten_ids,
    ):  # fmt: skip
        assert range_start == 0 and range_end >= 2**31 - 1
        _, gauss, pixels = self._composite(
            means2d, conics, opacities[0], flatten_ids, width, height, transmittances[0]
        )
        return gauss, pixels, torch.zeros_like(pixels)

    def rasterization(
        self, means, quats, scales, opacities, colors, viewmats, Ks, width, height, *,
        near_plane, far_plane, eps2d, sh_degree, packed, tile_size, backgrounds,
        render_mode, rasterize_mode, channel_chunk,
    ):  # fmt: skip
        assert sh_degree is None and not packed and rasterize_mode == "classic"
        radii, means2d, depths, conics, _ = self.fully_fused_projection(
            means, None, quats, scales, viewmats, Ks, width, height, eps2d=eps2d,
            near_plane=near_plane, far_plane=far_plane, packed=False, calc_compensations=False,
        )  # fmt: skip
        _, _, order = self.isect_tiles(means2d, radii, depths, tile_size, 1, 1)
        ones = torch.ones((height, width))
        weights, _, _ = self._composite(means2d, conics, opacities, order, width, height, ones)
        values = {
            "RGB": colors,
            "ED": depths[0, :, None],
            "RGB+ED": torch.cat([colors, depths[0, :, None]], dim=1),
        }[render_mode]
        out = weights @ values
        alpha = weights.sum(dim=1, keepdim=True)
        if backgrounds is not None:
            if render_mode == "RGB+ED":
                backgrounds = torch.cat([backgrounds, torch.zeros((1, 1))], dim=1)
            out = out + (1.0 - alpha) * backgrounds
        if render_mode != "RGB":
            out = torch.cat([out[:, :-1], out[:, -1:] / alpha.clamp(min=1e-10)], dim=1)
        return out.reshape(1, height, width, -1), alpha.reshape(1, height, width, 1), {}


@pytest.fixture(params=[pytest.param("cuda", marks=needs_cuda), "emulated"])
def backend(request) -> GsplatBackend:
    if request.param == "cuda":
        return GsplatBackend()
    return GsplatBackend._with_api(EmulatedGsplat(), "cpu")


@pytest.fixture(scope="module")
def scene():
    base = random_gaussians(48, sh_degree=1, num_blobs=4, seed=3)
    return dataclasses.replace(base, log_scales=base.log_scales + np.float32(np.log(5.0)))


@pytest.fixture(scope="module")
def cameras():
    return orbit_cameras(3, radius=3.0, height=1.0, width_px=45, height_px=34)


def _twin():
    """A LiftStudio backend following gsplat's rule: reference, else cpu."""
    for name in ("reference", "cpu"):
        try:
            return resolve_backend(name, rules=GSPLAT_RULES)
        except ImportError:
            continue
    pytest.skip("neither the reference nor the cpu backend can be imported")


# ---------------------------------------------------------------------------- availability
def test_importing_the_module_loads_neither_gsplat_nor_torch():
    script = (
        "import sys\n"
        "import liftstudio.render, liftstudio.render.backend\n"
        "before = 'torch' in sys.modules\n"
        "import liftstudio.render.gsplat_backend\n"
        "print('gsplat' in sys.modules, 'torch' in sys.modules and not before)\n"
    )
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
    assert done.stdout.split() == ["False", "False"]


@pytest.mark.skipif(_REASON is None, reason="this machine can run gsplat")
def test_without_cuda_the_reason_is_given_and_the_backend_refuses():
    reason = gsplat_unavailable_reason()
    assert isinstance(reason, str) and len(reason) > 20
    assert gsplat_unavailable_reason() is reason  # computed once
    with pytest.raises(GsplatUnavailable) as info:
        GsplatBackend()
    assert str(info.value) == reason
    with pytest.raises(GsplatUnavailable):
        resolve_backend("gsplat")


@needs_cuda
def test_with_cuda_the_backend_is_made():
    backend = GsplatBackend()
    assert backend.name == "gsplat" and backend.rules is GSPLAT_RULES
    assert backend.device.type == "cuda"


# ---------------------------------------------------------------------------- render
def test_render_matches_a_backend_following_the_same_rule(backend, scene, cameras):
    twin = _twin()
    features = np.random.default_rng(0).normal(size=(len(scene), 5)).astype(np.float32)
    for camera in cameras:
        ours = backend.render(scene, camera, features=features, background=(0.1, 0.2, 0.3))
        theirs = twin.render(scene, camera, features=features, background=(0.1, 0.2, 0.3))
        assert ours.alpha.shape == (34, 45) and ours.alpha.dtype == np.float32
        assert ours.rgb.shape == (34, 45, 3) and ours.features.shape == (34, 45, 5)
        assert ours.alpha.max() > 0.5
        np.testing.assert_allclose(ours.alpha, theirs.alpha, atol=1e-3)
        np.testing.assert_allclose(ours.rgb, theirs.rgb, atol=1e-3)
        np.testing.assert_allclose(ours.features, theirs.features, atol=3e-3)
        seen = theirs.alpha > 0.05
        np.testing.assert_allclose(ours.depth[seen], theirs.depth[seen], rtol=1e-3)


def test_render_depth_background_and_channels(backend, scene, cameras):
    camera = cameras[0]
    plain = backend.render(scene, camera)
    assert plain.features is None
    empty = plain.alpha == 0
    assert empty.any() and (~empty).any()
    assert np.all(plain.depth[empty] == 0)
    near, far = 3.0 - 2.5, 3.0 + 2.5
    assert np.all((plain.depth[~empty] > near) & (plain.depth[~empty] < far))
    bg = np.array([0.2, 0.4, 0.6], dtype=np.float32)
    backed = backend.render(scene, camera, background=bg)
    expected = plain.rgb + (1.0 - plain.alpha)[..., None] * bg
    np.testing.assert_allclose(backed.rgb, expected, atol=1e-5)
    np.testing.assert_allclose(backed.depth, plain.depth, atol=1e-5)
    rng = np.random.default_rng(1)
    for channels in (1, 7, 40):
        features = rng.normal(size=(len(scene), channels)).astype(np.float32)
        only = backend.render(scene, camera, features=features, rgb=False)
        assert only.rgb is None and only.features.shape == (34, 45, channels)
        np.testing.assert_allclose(only.alpha, plain.alpha, atol=1e-6)
        np.testing.assert_allclose(only.depth, plain.depth, atol=1e-5)
    nothing = backend.render(scene, camera, rgb=False)
    assert nothing.rgb is None and nothing.features is None
    np.testing.assert_allclose(nothing.depth, plain.depth, atol=1e-5)
    small = backend.render(scene, camera, resolution=(23, 17))
    assert small.alpha.shape == (17, 23)


def test_render_of_an_empty_scene(backend, scene, cameras):
    none = scene.subset(np.zeros(len(scene), dtype=bool))
    result = backend.render(none, cameras[0], features=np.zeros((0, 2)), background=(1, 0, 0))
    assert np.all(result.alpha == 0) and np.all(result.depth == 0)
    assert np.all(result.rgb == [1, 0, 0]) and result.features.shape == (34, 45, 2)
    rows = backend.operator_rows(none, cameras[0], top_k=3)
    assert rows.ids.shape == (34, 45, 3) and np.all(rows.ids == -1)
    assert np.all(rows.residual == 0)
    assert len(backend.pick(none, cameras[0], 3.0, 4.0).ids) == 0


def test_bad_arguments_are_refused(backend, scene, cameras):
    with pytest.raises(ValueError, match="background"):
        backend.render(scene, cameras[0], background=(0.0, 0.0))
    with pytest.raises(ValueError, match="top_k"):
        backend.operator_rows(scene, cameras[0], top_k=0)
    with pytest.raises(ValueError, match="weight_dtype"):
        backend.operator_rows(scene, cameras[0], weight_dtype=np.int32)
    with pytest.raises(ValueError, match="outside"):
        backend.pick(scene, cameras[0], 45.0, 3.0)


# ---------------------------------------------------------------------------- operator
def test_uplift_is_the_adjoint_of_render(backend, scene, cameras):
    rng = np.random.default_rng(2)
    maps = [rng.uniform(size=(34, 45, 3)).astype(np.float32) for _ in cameras[:2]]
    maps.append(rng.uniform(size=(17, 23, 3)).astype(np.float32))  # a smaller map
    steps = []
    result = backend.uplift(scene, cameras, iter(maps), progress=lambda *a: steps.append(a))
    assert [s[:2] for s in steps] == [(1, 3), (2, 3), (3, 3)]
    assert result.weighted_sum.shape == (len(scene), 3) and result.beta.shape == (len(scene),)
    values = rng.normal(size=(len(scene), 3)).astype(np.float32)
    lhs = 0.0
    beta = np.zeros(len(scene))
    for camera, values_map in zip(cameras, maps, strict=True):
        size = (values_map.shape[1], values_map.shape[0])
        rendered = backend.render(scene, camera, resolution=size, features=values, rgb=False)
        lhs += float(np.sum(rendered.features.astype(np.float64) * values_map))
        rows = backend.operator_rows(scene, camera, resolution=size, top_k=None)
        beta += rows.transpose_apply(np.ones(values_map.shape[:2]), len(scene))[:, 0]
    rhs = float(np.sum(values.astype(np.float64) * result.weighted_sum))
    assert lhs == pytest.approx(rhs, rel=1e-3)
    # gsplat's backward pass recovers T by division: allow for its rounding.
    np.testing.assert_allclose(result.beta, beta, rtol=1e-3, atol=1e-3 * beta.max())
    assert result.beta.max() > 1.0


def test_uplift_checks_its_inputs(backend, scene, cameras):
    with pytest.raises(ValueError, match="channels"):
        backend.uplift(scene, cameras[:2], [np.zeros((34, 45, 2)), np.zeros((34, 45, 3))])
    with pytest.raises(ValueError, match="at least one view"):
        backend.uplift(scene, [], [])
    from liftstudio.jobs import CancelToken, JobCancelled

    token = CancelToken()
    token.cancel()
    with pytest.raises(JobCancelled):
        backend.uplift(scene, cameras, [np.zeros((34, 45))] * 3, cancel=token)


def test_operator_rows_reproduce_the_render(backend, scene, cameras):
    camera = cameras[1]
    rendered = backend.render(scene, camera)
    full = backend.operator_rows(scene, camera, top_k=None, weight_dtype=np.float32)
    assert full.ids.dtype == np.int32 and full.weights.dtype == np.float32
    assert full.top_k > 2
    np.testing.assert_allclose(full.residual, 0.0, atol=1e-5)
    features = np.random.default_rng(4).normal(size=(len(scene), 4)).astype(np.float32)
    with_features = backend.render(scene, camera, features=features, rgb=False)
    np.testing.assert_allclose(full.apply(features), with_features.features, atol=1e-4)
    np.testing.assert_allclose(full.apply(np.ones(len(scene)))[..., 0], rendered.alpha, atol=1e-5)
    # Largest first, padding last; a smaller K keeps the largest weights.
    assert np.all(np.diff(full.weights, axis=2) <= 0)
    assert np.all((full.ids >= 0) == (full.weights > 0))
    top = backend.operator_rows(scene, camera, top_k=2)
    assert top.weights.dtype == np.float16
    np.testing.assert_array_equal(top.ids, full.ids[..., :2])
    kept = full.weights[..., :2].sum(axis=2)
    np.testing.assert_allclose(top.residual, rendered.alpha - kept, atol=1e-5)


def test_operator_rows_in_bands_equal_one_pass(backend, scene, cameras):
    camera = cameras[2]
    whole = backend.operator_rows(scene, camera, top_k=5, weight_dtype=np.float32)
    backend.pixels_per_pass = 1  # one 16-row band at a time
    banded = backend.operator_rows(scene, camera, top_k=5, weight_dtype=np.float32)
    np.testing.assert_array_equal(banded.ids, whole.ids)
    np.testing.assert_allclose(banded.weights, whole.weights, atol=1e-7)
    np.testing.assert_allclose(banded.residual, whole.residual, atol=1e-7)
    all_banded = backend.operator_rows(scene, camera, top_k=None)
    assert all_banded.top_k == backend.operator_rows(scene, camera, top_k=None).top_k


def test_pick_is_the_row_of_the_pixel_under_the_point(backend, scene, cameras):
    camera = cameras[0]
    rows = backend.operator_rows(scene, camera, top_k=None, weight_dtype=np.float32)
    row, column = np.unravel_index(np.argmax((rows.ids >= 0).sum(axis=2)), rows.ids.shape[:2])
    picked = backend.pick(scene, camera, column + 0.9, row + 0.1)
    assert picked.ids.dtype == np.int32 and len(picked.ids) > 2
    assert np.all(np.diff(picked.depths) >= 0)  # front to back
    valid = rows.ids[row, column] >= 0
    assert sorted(picked.ids.tolist()) == sorted(rows.ids[row, column][valid].tolist())
    order = np.argsort(-picked.weights, kind="stable")
    np.testing.assert_allclose(picked.weights[order], rows.weights[row, column][valid], atol=1e-6)
    assert picked.front == rows.ids[row, column, 0]
