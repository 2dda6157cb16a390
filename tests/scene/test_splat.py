"""antimatter15 ``.splat``, checked against an encoder written here from the format spec.

Spec (antimatter15/splat ``main.js``): 32 bytes per Gaussian, little-endian, no header —
position (3 × float32), linear scale ``exp(scale_i)`` (3 × float32), colour
``(0.5 + C0·f_dc)·255`` and alpha ``sigmoid(opacity)·255`` (4 × uint8), rotation
``q/|q|·128 + 128`` in PLY order w, x, y, z (4 × uint8); bytes are clamped to
[0, 255] and rounded to nearest (a ``Uint8ClampedArray``); a reader takes ``u/255``
for colour and alpha and ``(u - 128)/128`` for the rotation.

Tolerances against the encoded scene (observed maxima for donut.ply in brackets):

- positions exact; scales relative ≤ 2e-6 (float32 rounding of exp and log) [2.4e-7];
- colour and opacity, activated and clamped to [0, 1]: ≤ 0.5/255 + 1e-6 (rounding to
  a byte; opacity also ≤ 1e-6 from the alpha clamp) [1.96e-3];
- rotation: each component is off by ≤ 0.5/128, or 1/128 where 1·128 + 128 = 256 is
  clamped to 255, so ``|e| ≤ √(1 + 3/4)/128`` and ``1 - |dot| ≤ 1 - √(1 - |e|²)``
  ≈ 5.3e-5 [2.6e-5].
"""

from __future__ import annotations

import re

import numpy as np
import pytest
from plyfile import PlyData

from liftstudio.errors import InputFileError, OutputFileError
from liftstudio.scene.formats.compressed_ply import ALPHA_EPS
from liftstudio.scene.formats.splat import read_splat, write_splat
from liftstudio.scene.gaussians import GaussianScene
from liftstudio.scene.sh import SH_C0

SCALE_REL_TOL = 2e-6
BYTE_TOL = 0.5 / 255 + 1e-6
_ROT_ERR = np.sqrt(1.0 + 3 * 0.25) / 128
ROTATION_TOL = 1.0 - np.sqrt(1.0 - _ROT_ERR**2)

# Field-by-field layout (deliberately not the reader's dtype).
_RECORD = np.dtype(
    [(n, "<f4") for n in ("x", "y", "z", "sx", "sy", "sz")]
    + [(n, "u1") for n in ("r", "g", "b", "a", "qw", "qx", "qy", "qz")]
)


def _byte(values):
    return np.rint(np.clip(values, 0.0, 255.0)).astype(np.uint8)


def encode(scene: GaussianScene) -> bytes:
    """Independent .splat encoder following the spec in the module docstring."""
    out = np.zeros(len(scene), dtype=_RECORD)
    for i, name in enumerate(("x", "y", "z")):
        out[name] = scene.means[:, i]
    for i, name in enumerate(("sx", "sy", "sz")):
        out[name] = np.exp(np.float64(1.0) * scene.log_scales[:, i]).astype(np.float32)
    for i, name in enumerate(("r", "g", "b")):
        out[name] = _byte((0.5 + SH_C0 * scene.sh[:, 0, i].astype(np.float64)) * 255.0)
    out["a"] = _byte(255.0 / (1.0 + np.exp(-scene.logit_opacities.astype(np.float64))))
    q = scene.raw_quats.astype(np.float64)
    q = q / np.sqrt((q**2).sum(axis=1, keepdims=True))
    for i, name in enumerate(("qw", "qx", "qy", "qz")):
        out[name] = _byte(q[:, i] * 128.0 + 128.0)
    assert out.itemsize == 32
    return out.tobytes()


def decode(blob: bytes) -> dict[str, np.ndarray]:
    """Independent decoder of the spec (activated values)."""
    rec = np.frombuffer(blob, dtype=_RECORD)
    q = np.stack([rec[n] for n in ("qw", "qx", "qy", "qz")], 1).astype(np.float64)
    q = (q - 128.0) / 128.0
    return {
        "means": np.stack([rec[n] for n in ("x", "y", "z")], 1),
        "scales": np.stack([rec[n] for n in ("sx", "sy", "sz")], 1),
        "colors": np.stack([rec[n] for n in ("r", "g", "b")], 1) / 255.0,
        "alpha": rec["a"] / 255.0,
        "quats": q / np.linalg.norm(q, axis=1, keepdims=True),
    }


@pytest.fixture(scope="module")
def donut(real_data) -> GaussianScene:
    v = PlyData.read(str(real_data / "donut.ply"))["vertex"].data

    def cols(*names):
        return np.stack([np.asarray(v[n], dtype=np.float32) for n in names], axis=1)

    return GaussianScene.from_columns(
        means=cols("x", "y", "z"),
        raw_quats=cols("rot_0", "rot_1", "rot_2", "rot_3"),
        log_scales=cols("scale_0", "scale_1", "scale_2"),
        logit_opacities=np.asarray(v["opacity"], dtype=np.float32),
        sh=cols("f_dc_0", "f_dc_1", "f_dc_2")[:, None, :],
    )


def random_scene(n: int = 2000, seed: int = 0) -> GaussianScene:
    rng = np.random.default_rng(seed)
    quats = rng.normal(size=(n, 4)) * rng.uniform(0.1, 3.0, size=(n, 1))
    quats[:4] = [[1, 0, 0, 0], [0, 1, 0, 0], [-1, 0, 0, 0], [0.5, -0.5, 0.5, -0.5]]
    logits = rng.normal(scale=4.0, size=n)
    logits[4:6] = [-30.0, 30.0]  # alpha bytes 0 and 255
    return GaussianScene.from_columns(
        means=rng.normal(scale=5.0, size=(n, 3)),
        raw_quats=quats,
        log_scales=rng.uniform(-9.0, 1.0, size=(n, 3)),
        logit_opacities=logits,
        sh=rng.normal(scale=1.5, size=(n, 1, 3)),  # colours well outside [0, 1] too
    )


def _unit(q):
    q = np.asarray(q, dtype=np.float64)
    return q / np.linalg.norm(q, axis=1, keepdims=True)


def assert_close_to(read: GaussianScene, truth: GaussianScene) -> dict[str, float]:
    """Check ``read`` against the scene that was encoded; return the max errors."""
    assert len(read) == len(truth) and read.sh_degree == 0
    np.testing.assert_array_equal(read.means, truth.means)
    errors = {
        "scale": np.abs(read.scales.astype(np.float64) / truth.scales - 1.0).max(),
        "colour": np.abs(read.base_colors - np.clip(truth.base_colors, 0, 1)).max(),
        "opacity": np.abs(read.opacities - truth.opacities).max(),
        "rotation": (1 - np.abs(np.einsum("ij,ij->i", _unit(read.raw_quats), truth.quats))).max(),
    }
    assert errors["scale"] <= SCALE_REL_TOL
    assert errors["colour"] <= BYTE_TOL
    assert errors["opacity"] <= BYTE_TOL + ALPHA_EPS
    assert errors["rotation"] <= ROTATION_TOL
    return errors


@pytest.mark.parametrize("which", ["donut", "random"])
def test_reads_independently_encoded_file(request, tmp_path, which):
    scene = request.getfixturevalue("donut") if which == "donut" else random_scene()
    blob = encode(scene)
    path = tmp_path / f"{which}.splat"
    path.write_bytes(blob)
    read = read_splat(path)
    assert_close_to(read, scene)
    # The reader follows the spec's decoding exactly (to float32 rounding).
    ref = decode(blob)
    np.testing.assert_array_equal(read.means, ref["means"])
    np.testing.assert_allclose(read.scales, ref["scales"], rtol=SCALE_REL_TOL)
    np.testing.assert_allclose(read.base_colors, ref["colors"], rtol=0, atol=1e-6)
    np.testing.assert_allclose(
        read.opacities, np.clip(ref["alpha"], ALPHA_EPS, 1 - ALPHA_EPS), rtol=0, atol=1e-7
    )
    np.testing.assert_allclose(read.raw_quats, ref["quats"], rtol=0, atol=1e-6)


def test_donut_size_and_extremes(donut, tmp_path):
    assert len(donut) == 45_624
    path = write_splat(donut, tmp_path / "donut.splat")
    assert path.stat().st_size == 32 * 45_624
    read = read_splat(path)
    assert np.isfinite(read.logit_opacities).all()


@pytest.mark.parametrize("which", ["donut", "random"])
def test_writer_bytes_equal_independent_encoder(request, tmp_path, which):
    scene = request.getfixturevalue("donut") if which == "donut" else random_scene(seed=1)
    path = write_splat(scene, tmp_path / "out.splat")
    assert path.read_bytes() == encode(scene)


def test_write_read_round_trip(donut, tmp_path):
    for scene in (donut, random_scene(seed=2)):
        first = write_splat(scene, tmp_path / "a.splat", overwrite=True)
        read = read_splat(first)
        assert_close_to(read, scene)
        # A second cycle keeps every colour and alpha byte and moves no rotation byte
        # by more than one step.
        second = write_splat(read, tmp_path / "b.splat", overwrite=True)
        a = np.frombuffer(first.read_bytes(), dtype=_RECORD)
        b = np.frombuffer(second.read_bytes(), dtype=_RECORD)
        for name in ("x", "y", "z", "r", "g", "b", "a"):
            np.testing.assert_array_equal(a[name], b[name])
        for name in ("sx", "sy", "sz"):
            np.testing.assert_allclose(a[name], b[name], rtol=SCALE_REL_TOL)
        for name in ("qw", "qx", "qy", "qz"):
            assert np.abs(a[name].astype(int) - b[name].astype(int)).max() <= 1


def test_writer_drops_what_splat_cannot_hold(tmp_path, caplog):
    base = random_scene(50)
    sh = np.concatenate([base.sh, np.ones((50, 3, 3), dtype=np.float32)], axis=1)
    scene = GaussianScene(
        means=base.means,
        raw_quats=base.raw_quats,
        log_scales=base.log_scales,
        logit_opacities=base.logit_opacities,
        sh=sh,
        extras={"instance": np.arange(50, dtype=np.int32)},
    )
    path = write_splat(scene, tmp_path / "deg1.splat")
    assert "SH degree 1" in caplog.text and "instance" in caplog.text
    assert path.read_bytes() == encode(base)


def test_refuses_to_overwrite(tmp_path):
    scene = random_scene(10)
    path = write_splat(scene, tmp_path / "once.splat")
    before = path.read_bytes()
    with pytest.raises(OutputFileError, match=re.escape("once.splat")):
        write_splat(random_scene(10, seed=5), path)
    assert path.read_bytes() == before
    write_splat(random_scene(10, seed=5), path, overwrite=True)
    assert path.read_bytes() == encode(random_scene(10, seed=5))
    assert sorted(p.name for p in tmp_path.iterdir()) == ["once.splat"]  # no temp files left


def test_refuses_empty_scene(tmp_path):
    with pytest.raises(ValueError, match="empty"):
        write_splat(random_scene(10).subset(np.zeros(10, dtype=bool)), tmp_path / "none.splat")
    assert not (tmp_path / "none.splat").exists()


# ---------------------------------------------------------------------- bad input
def test_size_not_multiple_of_32(tmp_path):
    path = tmp_path / "cut.splat"
    path.write_bytes(encode(random_scene(10))[:-5])
    with pytest.raises(InputFileError, match=re.escape("cut.splat")) as info:
        read_splat(path)
    assert "multiple of the 32-byte" in str(info.value)


def test_empty_file(tmp_path):
    path = tmp_path / "empty.splat"
    path.write_bytes(b"")
    with pytest.raises(InputFileError, match=re.escape("empty.splat")) as info:
        read_splat(path)
    assert "empty" in info.value.problem


def test_missing_file(tmp_path):
    with pytest.raises(InputFileError, match=re.escape("absent.splat")):
        read_splat(tmp_path / "absent.splat")


@pytest.mark.parametrize("bad_scale", [0.0, -0.5, np.nan])
def test_non_positive_scale(tmp_path, bad_scale):
    records = np.frombuffer(encode(random_scene(10)), dtype=_RECORD).copy()
    records["sy"][3] = bad_scale
    path = tmp_path / "badscale.splat"
    path.write_bytes(records.tobytes())
    with pytest.raises(InputFileError, match=re.escape("badscale.splat")) as info:
        read_splat(path)
    assert "index 3" in str(info.value)
    kept = read_splat(path, on_invalid="drop")
    assert len(kept) == 9


def test_zero_rotation(tmp_path):
    records = np.frombuffer(encode(random_scene(10)), dtype=_RECORD).copy()
    for name in ("qw", "qx", "qy", "qz"):
        records[name][7] = 128
    path = tmp_path / "zerorot.splat"
    path.write_bytes(records.tobytes())
    with pytest.raises(InputFileError, match=re.escape("zerorot.splat")) as info:
        read_splat(path)
    assert "zero quaternion" in str(info.value)
    assert len(read_splat(path, on_invalid="drop")) == 9
