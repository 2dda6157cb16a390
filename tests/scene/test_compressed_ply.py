"""PlayCanvas compressed PLY, checked against PlayCanvas's own decoder.

``guitar.compressed.ply`` and ``biker.compressed.ply`` are decoded here and compared,
Gaussian by Gaussian, with ``*.decoded-by-splat-transform.ply`` (the same files decoded
to plain PLY by ``splat-transform``, read here with plyfile by column name). Both
decoders read the same bits with the same float64 arithmetic and round to float32, so
they must agree to float32 rounding. Tolerances (observed maxima in brackets, both
scenes):

- positions: max |Δ| ≤ 1e-6 × bounding-box diagonal of the reference centres
  (a float32 ulp here is ≤ 5e-7 absolute, ~1e-7 of the diagonal) [observed 0];
- base colour ``0.5 + C0·f_dc``: max |Δ| ≤ 1e-6 [observed 0];
- opacity, activated: max |Δ| ≤ ALPHA_EPS + 1e-7, because the alpha byte 255 is
  clamped to 1 - 1e-6 here while splat-transform writes a logit of +inf [observed
  1.01e-6]; where the reference logit is finite the logits agree to 1e-6 [observed 0];
- scales, activated: max relative |Δ| ≤ 1e-6 [observed 0];
- rotations as unit quaternions up to sign: ``1 - |dot| ≤ 1e-6`` [observed 6e-16].
"""

from __future__ import annotations

import re

import numpy as np
import pytest
from plyfile import PlyData

from liftstudio.errors import InputFileError
from liftstudio.scene.formats.compressed_ply import (
    ALPHA_EPS,
    is_compressed_ply,
    read_compressed_ply,
)
from liftstudio.scene.formats.ply_header import read_ply_header
from liftstudio.scene.sh import SH_C0

SCENES = {"guitar": 90_854, "biker": 152_746}

POSITION_TOL = 1e-6  # × bbox diagonal
COLOR_TOL = 1e-6
OPACITY_TOL = ALPHA_EPS + 1e-7
LOGIT_TOL = 1e-6
SCALE_REL_TOL = 1e-6
ROTATION_TOL = 1e-6  # on 1 - |dot|

_TYPE_NAMES = {"f4": "float", "f8": "double", "u1": "uchar", "u4": "uint", "i4": "int"}


def _reference(path):
    vertex = PlyData.read(str(path))["vertex"].data

    def cols(*names):
        return np.stack([np.asarray(vertex[n], dtype=np.float64) for n in names], axis=1)

    return {
        "means": cols("x", "y", "z"),
        "f_dc": cols("f_dc_0", "f_dc_1", "f_dc_2"),
        "logit": np.asarray(vertex["opacity"], dtype=np.float64),
        "log_scales": cols("scale_0", "scale_1", "scale_2"),
        "quats": cols("rot_0", "rot_1", "rot_2", "rot_3"),
    }


def _unit(q):
    q = np.asarray(q, dtype=np.float64)
    return q / np.linalg.norm(q, axis=1, keepdims=True)


@pytest.mark.parametrize("name", sorted(SCENES))
def test_matches_splat_transform(real_data, name):
    scene = read_compressed_ply(real_data / f"{name}.compressed.ply")
    ref = _reference(real_data / f"{name}.decoded-by-splat-transform.ply")
    assert len(scene) == SCENES[name] == len(ref["means"])
    assert scene.sh_degree == 0 and scene.normals is None and not scene.extras

    diagonal = np.linalg.norm(ref["means"].max(0) - ref["means"].min(0))
    position_err = np.abs(scene.means - ref["means"]).max() / diagonal
    assert position_err <= POSITION_TOL

    colour = 0.5 + SH_C0 * scene.sh[:, 0, :].astype(np.float64)
    assert np.abs(colour - (0.5 + SH_C0 * ref["f_dc"])).max() <= COLOR_TOL

    with np.errstate(over="ignore"):
        ref_alpha = 1.0 / (1.0 + np.exp(-ref["logit"]))
    assert np.abs(scene.opacities - ref_alpha).max() <= OPACITY_TOL
    finite = np.isfinite(ref["logit"])
    assert (~finite).any(), "the reference should hold +inf logits (alpha byte 255)"
    assert np.abs(scene.logit_opacities[finite] - ref["logit"][finite]).max() <= LOGIT_TOL
    assert np.isfinite(scene.logit_opacities).all()
    assert np.abs(scene.logit_opacities).max() <= np.log((1 - ALPHA_EPS) / ALPHA_EPS) + 1e-4

    scale_err = np.abs(scene.scales.astype(np.float64) / np.exp(ref["log_scales"]) - 1.0)
    assert scale_err.max() <= SCALE_REL_TOL

    dots = np.abs(np.einsum("ij,ij->i", _unit(scene.raw_quats), _unit(ref["quats"])))
    assert (1.0 - dots).max() <= ROTATION_TOL


def test_is_compressed_ply(real_data):
    assert is_compressed_ply(read_ply_header(real_data / "guitar.compressed.ply"))
    assert not is_compressed_ply(
        read_ply_header(real_data / "guitar.decoded-by-splat-transform.ply")
    )
    assert not is_compressed_ply(read_ply_header(real_data / "donut.ply"))


# ---------------------------------------------------------------------- small files
def _write_ply(path, elements: dict[str, dict[str, np.ndarray]], counts: dict | None = None):
    """Independent multi-element binary PLY writer: header text plus raw rows."""
    lines = ["ply", "format binary_little_endian 1.0"]
    blobs = []
    for name, columns in elements.items():
        n = len(next(iter(columns.values())))
        lines.append(f"element {name} {(counts or {}).get(name, n)}")
        lines += [f"property {_TYPE_NAMES[c.dtype.str[1:]]} {p}" for p, c in columns.items()]
        table = np.empty(n, dtype=[(p, "<" + c.dtype.str[1:]) for p, c in columns.items()])
        for p, c in columns.items():
            table[p] = c
        blobs.append(table.tobytes())
    lines.append("end_header")
    path.write_bytes(("\n".join(lines) + "\n").encode() + b"".join(blobs))
    return path


def _real_subset(real_data, vertices: int = 300):
    """The first ``vertices`` rows of guitar.compressed.ply and their chunks, as columns."""
    ply = PlyData.read(str(real_data / "guitar.compressed.ply"))
    chunk = ply["chunk"].data[: -(-vertices // 256)]
    vertex = ply["vertex"].data[:vertices]
    return (
        {n: np.asarray(chunk[n]) for n in chunk.dtype.names},
        {n: np.asarray(vertex[n]) for n in vertex.dtype.names},
    )


def test_subset_file_decodes_like_the_whole(real_data, tmp_path):
    chunk, vertex = _real_subset(real_data)
    vertex["instance"] = np.arange(300, dtype=np.int32)
    path = _write_ply(tmp_path / "part.compressed.ply", {"chunk": chunk, "vertex": vertex})
    assert is_compressed_ply(read_ply_header(path))
    part = read_compressed_ply(path)
    whole = read_compressed_ply(real_data / "guitar.compressed.ply")
    np.testing.assert_array_equal(part.means, whole.means[:300])
    np.testing.assert_array_equal(part.raw_quats, whole.raw_quats[:300])
    np.testing.assert_array_equal(part.sh, whole.sh[:300])
    assert part.extras["instance"].dtype == np.int32
    np.testing.assert_array_equal(part.extras["instance"], np.arange(300))


def test_sh_element_and_colour_without_chunk_bounds(real_data, tmp_path):
    chunk, vertex = _real_subset(real_data)
    for bound in ("min_r", "min_g", "min_b", "max_r", "max_g", "max_b"):
        del chunk[bound]
    rng = np.random.default_rng(0)
    codes = rng.integers(0, 256, size=(300, 9), dtype=np.uint8)
    codes[0] = 0
    codes[1] = 255
    sh = {f"f_rest_{i}": codes[:, i] for i in range(9)}
    path = _write_ply(tmp_path / "sh.compressed.ply", {"chunk": chunk, "vertex": vertex, "sh": sh})
    scene = read_compressed_ply(path)
    assert scene.sh_degree == 1
    # Spec: byte q → (v - 0.5)·8, v = 0 for 0, 1 for 255, (q + 0.5)/256 otherwise;
    # f_rest is channel-major: columns 0-2 red, 3-5 green, 6-8 blue.
    v = (codes + 0.5) / 256.0
    v[codes == 0] = 0.0
    v[codes == 255] = 1.0
    expected = ((v - 0.5) * 8.0).reshape(300, 3, 3).transpose(0, 2, 1)
    np.testing.assert_allclose(scene.sh[:, 1:, :], expected, rtol=0, atol=1e-6)
    assert (scene.sh[0, 1:] == -4).all() and (scene.sh[1, 1:] == 4).all()
    # Without colour bounds the 8-bit colour maps straight onto [0, 1].
    red = (vertex["packed_color"] >> 24) / 255.0
    np.testing.assert_allclose(0.5 + SH_C0 * scene.sh[:, 0, 0], red, rtol=0, atol=1e-6)


# ---------------------------------------------------------------------- bad input
def test_truncated_file(real_data, tmp_path):
    source = real_data / "guitar.compressed.ply"
    path = tmp_path / "cut.compressed.ply"
    with source.open("rb") as stream:
        path.write_bytes(stream.read(source.stat().st_size // 2))
    with pytest.raises(InputFileError, match=re.escape("cut.compressed.ply")) as info:
        read_compressed_ply(path)
    assert "truncated" in str(info.value)


def test_header_only_prefix(real_data, tmp_path):
    path = tmp_path / "stub.compressed.ply"
    with (real_data / "guitar.compressed.ply").open("rb") as stream:
        path.write_bytes(stream.read(200))  # cut inside the header
    with pytest.raises(InputFileError, match=re.escape("stub.compressed.ply")):
        read_compressed_ply(path)


def test_missing_vertex_property(real_data, tmp_path):
    chunk, vertex = _real_subset(real_data)
    del vertex["packed_rotation"]
    path = _write_ply(tmp_path / "norot.compressed.ply", {"chunk": chunk, "vertex": vertex})
    assert is_compressed_ply(read_ply_header(path))  # still routed to this reader
    with pytest.raises(InputFileError, match=re.escape("norot.compressed.ply")) as info:
        read_compressed_ply(path)
    assert "packed_rotation" in str(info.value)


def test_missing_chunk_property(real_data, tmp_path):
    chunk, vertex = _real_subset(real_data)
    del chunk["max_scale_y"]
    path = _write_ply(tmp_path / "noscale.compressed.ply", {"chunk": chunk, "vertex": vertex})
    with pytest.raises(InputFileError, match=re.escape("noscale.compressed.ply")) as info:
        read_compressed_ply(path)
    assert "max_scale_y" in str(info.value)


def test_missing_chunk_element(real_data, tmp_path):
    _, vertex = _real_subset(real_data)
    path = _write_ply(tmp_path / "nochunk.compressed.ply", {"vertex": vertex})
    assert not is_compressed_ply(read_ply_header(path))
    with pytest.raises(InputFileError, match=re.escape("nochunk.compressed.ply")) as info:
        read_compressed_ply(path)
    assert "'chunk'" in str(info.value)


def test_wrong_chunk_count(real_data, tmp_path):
    chunk, vertex = _real_subset(real_data, vertices=600)  # needs 3 chunks
    chunk = {name: column[:2] for name, column in chunk.items()}
    path = _write_ply(tmp_path / "few.compressed.ply", {"chunk": chunk, "vertex": vertex})
    with pytest.raises(InputFileError, match=re.escape("few.compressed.ply")) as info:
        read_compressed_ply(path)
    assert "3 chunks" in str(info.value)


def test_wrong_property_type(real_data, tmp_path):
    chunk, vertex = _real_subset(real_data)
    vertex["packed_scale"] = vertex["packed_scale"].astype(np.float32)
    path = _write_ply(tmp_path / "float.compressed.ply", {"chunk": chunk, "vertex": vertex})
    with pytest.raises(InputFileError, match=re.escape("float.compressed.ply")) as info:
        read_compressed_ply(path)
    assert "packed_scale" in str(info.value)


def test_bad_sh_element(real_data, tmp_path):
    chunk, vertex = _real_subset(real_data)
    sh = {f"f_rest_{i}": np.zeros(300, dtype=np.uint8) for i in range(10)}
    path = _write_ply(
        tmp_path / "sh10.compressed.ply", {"chunk": chunk, "vertex": vertex, "sh": sh}
    )
    with pytest.raises(InputFileError, match=re.escape("sh10.compressed.ply")):
        read_compressed_ply(path)
    sh = {f"f_rest_{i}": np.zeros(299, dtype=np.uint8) for i in range(9)}
    path = _write_ply(
        tmp_path / "short.compressed.ply", {"chunk": chunk, "vertex": vertex, "sh": sh}
    )
    with pytest.raises(InputFileError, match=re.escape("short.compressed.ply")):
        read_compressed_ply(path)


def test_nan_bounds_error_or_drop(real_data, tmp_path):
    chunk, vertex = _real_subset(real_data)
    chunk["min_x"] = chunk["min_x"].copy()
    chunk["min_x"][1] = np.nan  # poisons vertices 256..299
    path = _write_ply(tmp_path / "nan.compressed.ply", {"chunk": chunk, "vertex": vertex})
    with pytest.raises(InputFileError, match=re.escape("nan.compressed.ply")):
        read_compressed_ply(path)
    assert len(read_compressed_ply(path, on_invalid="drop")) == 256
