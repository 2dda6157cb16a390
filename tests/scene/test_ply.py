"""INRIA PLY reading and writing, checked against files written byte by byte here."""

from __future__ import annotations

import tracemalloc

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

from liftstudio.errors import InputFileError, OutputFileError, SceneDataError
from liftstudio.evaluate.synthetic import random_gaussians
from liftstudio.scene.formats import read_gaussians
from liftstudio.scene.formats.ply import read_ply, write_ply
from liftstudio.scene.gaussians import GaussianScene

CORE = ["x", "y", "z", "f_dc_0", "f_dc_1", "f_dc_2", "opacity"] + [
    "scale_0",
    "scale_1",
    "scale_2",
    "rot_0",
    "rot_1",
    "rot_2",
    "rot_3",
]
_TYPE_NAMES = {
    "f4": "float",
    "f8": "double",
    "u1": "uchar",
    "i1": "char",
    "u2": "ushort",
    "i2": "short",
    "u4": "uint",
    "i4": "int",
}


def write_raw_ply(
    path,
    columns: dict[str, np.ndarray],
    fmt: str = "binary_little_endian",
    count: int | None = None,
) -> None:
    """Independent PLY writer for tests: header text plus raw bytes or text rows."""
    n = len(next(iter(columns.values())))
    lines = [
        "ply",
        f"format {fmt} 1.0",
        "comment written by the test suite",
        f"element vertex {n if count is None else count}",
    ]
    lines += [f"property {_TYPE_NAMES[c.dtype.str[1:]]} {name}" for name, c in columns.items()]
    lines.append("end_header")
    with open(path, "wb") as stream:
        stream.write(("\n".join(lines) + "\n").encode())
        if fmt == "ascii":
            for i in range(n):
                stream.write(
                    (" ".join(repr(c[i].item()) for c in columns.values()) + "\n").encode()
                )
        else:
            order = "<" if fmt == "binary_little_endian" else ">"
            table = np.empty(n, dtype=[(k, order + v.dtype.str[1:]) for k, v in columns.items()])
            for k, v in columns.items():
                table[k] = v
            stream.write(table.tobytes())


def raw_columns(n: int, rng: np.random.Generator, rest: int = 0) -> dict[str, np.ndarray]:
    cols = {name: rng.normal(size=n).astype("f4") for name in CORE}
    cols.update({f"f_rest_{i}": rng.normal(size=n).astype("f4") for i in range(rest)})
    return cols


def test_donut_matches_its_raw_bytes(real_data):
    path = real_data / "donut.ply"
    scene = read_ply(path)
    assert len(scene) == 45_624 and scene.sh_degree == 0 and scene.normals is None
    assert scene.columns == tuple(CORE[:3] + ["f_dc_0", "f_dc_1", "f_dc_2", "opacity"] + CORE[7:])
    blob = path.read_bytes()
    start = blob.index(b"end_header\n") + len(b"end_header\n")
    # donut's file order is x y z f_dc_0..2 opacity scale_0..2 rot_0..3
    raw = np.frombuffer(blob[start:], dtype="<f4").reshape(45_624, 14)
    np.testing.assert_array_equal(scene.means, raw[:, 0:3])
    np.testing.assert_array_equal(scene.sh[:, 0, :], raw[:, 3:6])
    np.testing.assert_array_equal(scene.logit_opacities, raw[:, 6])
    np.testing.assert_array_equal(scene.log_scales, raw[:, 7:10])
    np.testing.assert_array_equal(scene.raw_quats, raw[:, 10:14])


@pytest.mark.parametrize("fmt", ["binary_little_endian", "binary_big_endian", "ascii"])
def test_any_column_order_normals_rest_and_extras(tmp_path, fmt):
    rng = np.random.default_rng(7)
    n = 20
    cols = raw_columns(n, rng, rest=24)
    cols.update(
        nx=rng.normal(size=n).astype("f4"),
        ny=rng.normal(size=n).astype("f4"),
        nz=rng.normal(size=n).astype("f4"),
    )
    cols["segment"] = rng.integers(0, 255, n).astype("u1")
    cols["weight"] = rng.normal(size=n)  # float64
    cols["id"] = rng.integers(-(2**31), 2**31 - 1, n).astype("i4")
    names = list(cols)
    rng.shuffle(names)
    shuffled = {k: cols[k] for k in names}
    path = tmp_path / "scene.ply"
    write_raw_ply(path, shuffled, fmt)

    scene = read_ply(path)
    assert scene.sh_degree == 2
    np.testing.assert_array_equal(scene.means, np.stack([cols[c] for c in "xyz"], 1))
    np.testing.assert_array_equal(scene.normals, np.stack([cols[c] for c in ("nx", "ny", "nz")], 1))
    # f_rest is channel-major: the 8 R coefficients, then 8 G, then 8 B
    for k in range(8):
        for c in range(3):
            np.testing.assert_array_equal(scene.sh[:, 1 + k, c], cols[f"f_rest_{c * 8 + k}"])
    assert list(scene.extras) == [k for k in names if k in ("segment", "weight", "id")]
    for name in ("segment", "weight", "id"):
        assert scene.extras[name].dtype == cols[name].dtype
        np.testing.assert_array_equal(scene.extras[name], cols[name])

    out = tmp_path / "out.ply"
    write_ply(scene, out)
    again = read_ply(out)
    for name in ("segment", "weight", "id"):
        assert again.extras[name].tobytes() == cols[name].tobytes()


def test_extras_survive_bit_exactly_including_nan_payloads(tmp_path):
    rng = np.random.default_rng(0)
    cols = raw_columns(6, rng)
    odd = np.array([0x7FC00001, 0x7F800001, 0xFFFFFFFF, 0x00000001, 0x80000000, 0], "<u4")
    cols["feature"] = odd.view("<f4")
    write_raw_ply(tmp_path / "in.ply", cols)
    write_ply(read_ply(tmp_path / "in.ply"), tmp_path / "out.ply")
    back = read_ply(tmp_path / "out.ply").extras["feature"]
    assert back.view("<u4").tolist() == odd.tolist()


@st.composite
def gaussian_scenes(draw):
    n = draw(st.integers(0, 40))
    degree = draw(st.integers(0, 3))
    finite = st.floats(-1e6, 1e6, width=32, allow_subnormal=False)

    def arr(shape):
        return draw(hnp.arrays(np.float32, shape, elements=finite))

    quats = arr((n, 4))
    quats[np.all(quats == 0, axis=1), 0] = 1.0
    extras = {}
    for i, dtype in enumerate(
        draw(st.lists(st.sampled_from(["u1", "i2", "u4", "f4", "f8"]), max_size=3))
    ):
        extras[f"extra_{i}"] = draw(hnp.arrays(np.dtype(dtype), n))
    return GaussianScene(
        means=arr((n, 3)),
        raw_quats=quats,
        log_scales=arr((n, 3)),
        logit_opacities=arr((n,)),
        sh=arr((n, (degree + 1) ** 2, 3)),
        normals=arr((n, 3)) if draw(st.booleans()) else None,
        extras=extras,
    )


@settings(
    max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(scene=gaussian_scenes(), binary=st.booleans())
def test_round_trip_is_lossless(tmp_path, scene, binary):
    path = tmp_path / "round.ply"
    write_ply(scene, path, binary=binary, overwrite=True)
    back = read_ply(path)
    assert back.columns == scene.columns
    for field in ("means", "raw_quats", "log_scales", "logit_opacities", "sh", "normals"):
        a, b = getattr(scene, field), getattr(back, field)
        assert (a is None and b is None) or a.tobytes() == b.tobytes(), field
    for name, column in scene.extras.items():
        assert back.extras[name].dtype == column.dtype
        if binary or column.dtype.kind != "f":
            assert back.extras[name].tobytes() == column.tobytes(), name
        else:
            # Text PLY writes every NaN as "nan": values survive, NaN sign bits cannot.
            assert np.array_equal(back.extras[name], column, equal_nan=True), name


def test_writer_refuses_to_overwrite_and_64_bit_overflow(tmp_path):
    scene = random_gaussians(10, seed=1)
    path = write_ply(scene, tmp_path / "a.ply")
    before = path.read_bytes()
    with pytest.raises(OutputFileError, match="already exists"):
        write_ply(random_gaussians(3, seed=2), path)
    big = random_gaussians(10, seed=1, extras={"big": np.int64})
    big.extras["big"][0] = 2**40
    with pytest.raises(SceneDataError, match="big"):
        write_ply(big, path, overwrite=True)
    assert path.read_bytes() == before
    assert sorted(p.name for p in tmp_path.iterdir()) == ["a.ply"]
    small = random_gaussians(4, seed=1, extras={"idx": np.int64})
    small.extras["idx"][:] = np.arange(4)
    write_ply(small, tmp_path / "b.ply")
    assert read_ply(tmp_path / "b.ply").extras["idx"].tolist() == [0, 1, 2, 3]


# ---------------------------------------------------------------------- bad input
@pytest.fixture
def good_ply(tmp_path):
    path = tmp_path / "good.ply"
    write_raw_ply(path, raw_columns(100, np.random.default_rng(3)))
    return path


def test_truncated_file(good_ply):
    data = good_ply.read_bytes()
    good_ply.write_bytes(data[: len(data) - 100])
    with pytest.raises(InputFileError, match=r"good\.ply: truncated: .*100 'vertex'"):
        read_ply(good_ply)


def test_header_count_too_small(tmp_path):
    path = tmp_path / "liar.ply"
    write_raw_ply(path, raw_columns(100, np.random.default_rng(3)), count=60)
    with pytest.raises(InputFileError, match=r"liar\.ply: .*bytes follow the declared 60"):
        read_ply(path)


@pytest.mark.parametrize("fmt", ["binary_little_endian", "ascii"])
def test_absurd_count_fails_before_allocating(tmp_path, fmt):
    path = tmp_path / "huge.ply"
    write_raw_ply(path, raw_columns(3, np.random.default_rng(3)), fmt=fmt, count=10**12)
    tracemalloc.start()
    try:
        with pytest.raises(InputFileError, match=r"huge\.ply: .*1,000,000,000,000 'vertex'"):
            read_ply(path)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert peak < 5_000_000


def test_missing_columns_are_named(tmp_path):
    cols = raw_columns(5, np.random.default_rng(0))
    del cols["rot_2"], cols["opacity"]
    path = tmp_path / "partial.ply"
    write_raw_ply(path, cols)
    with pytest.raises(InputFileError, match=r"partial\.ply: missing 3DGS columns: opacity, rot_2"):
        read_ply(path)


def test_point_cloud_is_recognised(tmp_path):
    rng = np.random.default_rng(0)
    cols = {c: rng.normal(size=5).astype("f4") for c in "xyz"}
    cols.update({c: rng.integers(0, 255, 5).astype("u1") for c in ("red", "green", "blue")})
    path = tmp_path / "points3D.ply"
    write_raw_ply(path, cols)
    with pytest.raises(InputFileError, match="point cloud, not trained Gaussians"):
        read_gaussians(path)


def test_nan_positions_named_and_droppable(tmp_path):
    cols = raw_columns(50, np.random.default_rng(0))
    cols["y"][[11, 30]] = np.nan
    path = tmp_path / "nan.ply"
    write_raw_ply(path, cols)
    with pytest.raises(
        InputFileError, match=r"nan\.ply: 2 Gaussians with NaN/inf position.*index 11"
    ):
        read_ply(path)
    assert len(read_ply(path, on_invalid="drop")) == 48


def test_wrong_rest_count_and_not_a_ply(tmp_path):
    path = tmp_path / "rest.ply"
    write_raw_ply(path, raw_columns(4, np.random.default_rng(0), rest=10))
    with pytest.raises(InputFileError, match="10 f_rest columns"):
        read_ply(path)
    junk = tmp_path / "junk.ply"
    junk.write_bytes(b"\x89PNG\r\n\x1a\n" + bytes(100))
    with pytest.raises(InputFileError, match=r"junk\.ply: not a PLY file"):
        read_gaussians(junk)
    empty = tmp_path / "empty.ply"
    empty.write_bytes(b"")
    with pytest.raises(InputFileError, match=r"empty\.ply: not a PLY file"):
        read_gaussians(empty)
    with pytest.raises(InputFileError, match="no such file"):
        read_gaussians(tmp_path / "missing.ply")


def test_malformed_header_lines(tmp_path):
    path = tmp_path / "bad.ply"
    path.write_bytes(b"ply\nformat binary_little_endian 1.0\nelement vertex many\nend_header\n")
    with pytest.raises(InputFileError, match=r"bad\.ply: PLY header line 3"):
        read_ply(path)
    path.write_bytes(b"ply\nformat binary_little_endian 1.0\nelement vertex 1\nproperty float x\n")
    with pytest.raises(InputFileError, match="no 'end_header'"):
        read_ply(path)
