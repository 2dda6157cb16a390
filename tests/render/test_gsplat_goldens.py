"""The CPU backend (with gsplat's rules) against goldens rendered by gsplat on a GPU.

CI has no GPU, so gsplat's outputs on the real-scene cases are committed under
``tests/render/goldens`` (made by ``python -m liftstudio.evaluate.gsplat_goldens``).
Until they are, the comparison skips; the goldens script and the comparison itself
are exercised on every run with goldens made by the CPU backend.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path

import numpy as np
import pytest

from liftstudio.errors import OutputFileError
from liftstudio.evaluate.gsplat_goldens import (
    MANIFEST_NAME,
    case_outputs,
    golden_inputs,
    load_golden_case,
    load_manifest,
    main,
    make_goldens,
)
from liftstudio.evaluate.render_cases import REAL_CASE_NAMES, real_render_case
from liftstudio.render import GSPLAT_RULES
from liftstudio.render.cpu import CpuBackend

GOLDENS_DIR = Path(__file__).parent / "goldens"
NO_GOLDENS_REASON = (
    "no gsplat goldens committed yet: run "
    "`python -m liftstudio.evaluate.gsplat_goldens --out tests/render/goldens` on a CUDA machine"
)

# Tolerances. The CPU backend with GSPLAT_RULES follows gsplat's constants (eps2d 0.3,
# alpha clamp 0.999, 1/255 cut, exclusive 1e-4 stop, clamp margin 0.3), but:
# - gsplat does its projection and compositing in float32 (and recomputes nothing in
#   float64), while our projection runs in float64, so alphas and weights differ by
#   float32 rounding that accumulates over a pixel's Gaussians;
# - gsplat bins Gaussians with a 3.33σ box and keeps whatever passes alpha >= 1/255,
#   while we evaluate only inside the exact 3.33σ ellipse (GSPLAT_RULES
#   footprint_sigmas=3.33). For opacity <= 1 the two agree in exact arithmetic, but at
#   the ellipse boundary float32 rounding can flip a contribution either way, and a
#   near-tie in depth can swap two Gaussians' compositing order.
# Both make differences of the order of 1e-3 at a few pixels, never systematic ones;
# the goldens' images are stored as float16 (error <= 2.5e-4), well inside these.
RGB_PSNR_MIN_DB = 40.0
ALPHA_MAX_ERROR = 5e-3
FEATURES_PSNR_MIN_DB = 40.0
UPLIFT_MAX_RELATIVE_ERROR = 1e-2
ROWS_ID_AGREEMENT_MIN = 0.99
ROWS_WEIGHT_FLOOR = 1e-3
# Extra checks beyond the list, as loose as the alpha tolerance: depth's
# relative error at the 99th percentile of solid pixels, and the operator rows'
# weights (where the ids agree) and residuals.
DEPTH_P99_RELATIVE_ERROR = 1e-2
ROWS_WEIGHT_MAX_ERROR = 5e-3


def psnr(a: np.ndarray, b: np.ndarray, peak: float = 1.0) -> float:
    mse = float(np.mean((np.asarray(a, np.float64) - np.asarray(b, np.float64)) ** 2))
    return np.inf if mse == 0 else 10 * np.log10(peak**2 / mse)


def _relative_max_error(actual: np.ndarray, golden: np.ndarray) -> float:
    scale = float(np.abs(golden).max())
    return float(np.abs(actual.astype(np.float64) - golden).max()) / max(scale, 1e-30)


def assert_matches_goldens(
    golden: Mapping[str, np.ndarray], actual: Mapping[str, np.ndarray], case: str
) -> None:
    """Raise AssertionError naming the case and quantity where ``actual`` misses ``golden``."""
    for key in golden:
        assert key in actual, f"{case}: {key} missing from the outputs"
        assert actual[key].shape == golden[key].shape, (
            f"{case}: {key} has shape {actual[key].shape}, the goldens {golden[key].shape}"
        )
    np.testing.assert_allclose(
        actual["viewmats"], golden["viewmats"], rtol=1e-6, atol=1e-9,
        err_msg=f"{case}: the cameras changed since the goldens were made; regenerate them",
    )  # fmt: skip
    np.testing.assert_allclose(
        actual["Ks"], golden["Ks"], rtol=1e-6,
        err_msg=f"{case}: the intrinsics changed since the goldens were made; regenerate them",
    )  # fmt: skip

    for view in range(golden["rgb"].shape[0]):
        where = f"{case} view {view}"
        assert golden["alpha"][view].max() > 0.5, f"{where}: the camera sees nothing; void test"
        rgb_db = psnr(actual["rgb"][view], golden["rgb"][view])
        assert rgb_db >= RGB_PSNR_MIN_DB, f"{where}: RGB PSNR {rgb_db:.1f} dB"
        alpha_error = float(np.abs(actual["alpha"][view] - golden["alpha"][view]).max())
        assert alpha_error <= ALPHA_MAX_ERROR, f"{where}: alpha max error {alpha_error:.2e}"
        features_db = psnr(actual["features"][view], golden["features"][view])
        assert features_db >= FEATURES_PSNR_MIN_DB, f"{where}: features PSNR {features_db:.1f} dB"
        solid = (golden["alpha"][view] > 0.5) & (actual["alpha"][view] > 0.5)
        depth_error = (
            np.abs(actual["depth"][view] - golden["depth"][view])[solid]
            / (golden["depth"][view][solid])
        )
        depth_p99 = float(np.percentile(depth_error, 99))
        assert depth_p99 <= DEPTH_P99_RELATIVE_ERROR, f"{where}: depth p99 error {depth_p99:.2e}"

    for key in ("uplift_sum", "uplift_beta"):
        error = _relative_max_error(actual[key], golden[key])
        assert error <= UPLIFT_MAX_RELATIVE_ERROR, f"{case}: {key} relative error {error:.2e}"

    strong = golden["rows_weights"] > ROWS_WEIGHT_FLOOR
    assert strong.any(), f"{case}: the operator rows are empty; void test"
    same = actual["rows_ids"] == golden["rows_ids"]
    agreement = float(same[strong].mean())
    assert agreement >= ROWS_ID_AGREEMENT_MIN, f"{case}: operator row ids agree {agreement:.2%}"
    weight_error = float(np.abs(actual["rows_weights"] - golden["rows_weights"])[same].max())
    assert weight_error <= ROWS_WEIGHT_MAX_ERROR, f"{case}: row weight error {weight_error:.2e}"
    residual_error = float(np.abs(actual["rows_residual"] - golden["rows_residual"]).max())
    assert residual_error <= ROWS_WEIGHT_MAX_ERROR, (
        f"{case}: row residual error {residual_error:.2e}"
    )


# ---------------------------------------------------------------------------- committed goldens
@pytest.fixture(scope="module")
def committed_manifest():
    if not (GOLDENS_DIR / MANIFEST_NAME).is_file():
        pytest.skip(NO_GOLDENS_REASON)
    return load_manifest(GOLDENS_DIR)


def test_committed_goldens_recipe(committed_manifest):
    assert committed_manifest["inputs"] == golden_inputs(), (
        "the goldens' input recipe differs from liftstudio.evaluate.gsplat_goldens; regenerate them"
    )
    assert set(committed_manifest["cases"]) == set(REAL_CASE_NAMES), "goldens incomplete"


@pytest.mark.parametrize("name", REAL_CASE_NAMES)
def test_cpu_matches_gsplat_goldens(committed_manifest, real_data, name):
    golden = load_golden_case(GOLDENS_DIR, name)
    scene, cameras = real_render_case(real_data, name)
    actual = case_outputs(CpuBackend(rules=GSPLAT_RULES), scene, cameras)
    assert_matches_goldens(golden, actual, name)


# ---------------------------------------------------------------------------- the machinery
@pytest.fixture(scope="module")
def cpu_goldens(real_data, tmp_path_factory):
    """Goldens of the donut case made by the CPU backend, and the CPU outputs again."""
    out = tmp_path_factory.mktemp("goldens")
    manifest = make_goldens(real_data, out, "cpu", cases=("donut",))
    scene, cameras = real_render_case(real_data, "donut")
    actual = case_outputs(CpuBackend(rules=GSPLAT_RULES), scene, cameras)
    return out, manifest, actual


def test_cpu_goldens_pass_and_perturbed_ones_fail(cpu_goldens):
    out, manifest, actual = cpu_goldens
    assert sorted(p.name for p in out.iterdir()) == ["donut.npz", MANIFEST_NAME]
    assert load_manifest(out) == manifest
    assert manifest["backend"] == "cpu"
    assert manifest["rules"]["footprint_sigmas"] == GSPLAT_RULES.footprint_sigmas
    assert manifest["inputs"] == golden_inputs()
    arrays = manifest["cases"]["donut"]["arrays"]
    assert arrays["rgb"] == {"shape": [2, 60, 80, 3], "dtype": "float16"}
    assert arrays["uplift_sum"]["dtype"] == "float32"
    golden = load_golden_case(out, "donut")
    assert golden["rgb"].dtype == np.float32
    assert_matches_goldens(golden, actual, "donut")

    def perturbed(key, change):
        copy = {k: v.copy() for k, v in golden.items()}
        change(copy[key])
        return copy

    def shift_first_image(a):
        a[0] += 0.05

    def scale_uplift(a):
        a *= 1.05

    def roll_ids(a):
        a[:] = np.roll(a, 1, axis=-1)

    cases = [
        ("rgb", shift_first_image, "RGB PSNR"),
        ("alpha", shift_first_image, "alpha max error"),
        ("features", shift_first_image, "features PSNR"),
        ("uplift_sum", scale_uplift, "uplift_sum relative error"),
        ("rows_ids", roll_ids, "operator row ids"),
    ]
    for key, change, message in cases:
        with pytest.raises(AssertionError, match=message):
            assert_matches_goldens(perturbed(key, change), actual, "donut")


def test_goldens_refuse_to_overwrite(cpu_goldens, real_data, capsys):
    out, manifest, _ = cpu_goldens
    before = (out / "donut.npz").read_bytes()
    with pytest.raises(OutputFileError, match="already exist"):
        make_goldens(real_data, out, "cpu", cases=("donut",))
    assert main(["--out", str(out), "--real-data", str(real_data), "--backend", "cpu"]) == 2
    assert "--overwrite" in capsys.readouterr().err
    assert (out / "donut.npz").read_bytes() == before
    assert load_manifest(out) == manifest
    assert sorted(p.name for p in out.iterdir()) == ["donut.npz", MANIFEST_NAME]
    # --overwrite replaces them, atomically (no temporary files left).
    make_goldens(real_data, out, "cpu", cases=("donut",), overwrite=True)
    assert sorted(p.name for p in out.iterdir()) == ["donut.npz", MANIFEST_NAME]
    assert_matches_goldens(load_golden_case(out, "donut"), cpu_goldens[2], "donut")
