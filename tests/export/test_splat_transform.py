"""A real client reads our labeled PLY: PlayCanvas ``splat-transform`` (issue 10, item 3).

The module fixture installs ``@playcanvas/splat-transform`` (pinned, :data:`PACKAGE`)
into a temporary folder with ``npm``. The tests then run the real tool on labeled PLYs
written by :func:`write_labeled_ply` and read what it writes with ``plyfile`` (not with
our reader):

- ``splat-transform labeled.ply out.ply`` keeps every Gaussian and every column;
- ``splat-transform labeled.ply -V instance,eq,K out.ply`` keeps exactly the Gaussians
  of instance K (count, positions, every other column).

Skips, with the reason, when ``node``/``npm`` are absent or the npm registry cannot be
reached; any failure of the tool on our file fails. ``LIFTSTUDIO_NPM_CACHE`` names an
npm cache folder to use instead of npm's default one; with a warm cache the install
takes a few seconds (``--prefer-offline``).

What splat-transform 3.7.0 does with our columns (found by these tests): float32
columns, standard or extra (``confidence``, NaN included), come back bit-exact and in
the same row order; every integer column is held and written as ``uint32`` (``property
uint instance``, ``property uint label``; negative values of a signed column would
wrap), and a ``double`` column becomes float32. Our ``instance`` and ``label`` columns
are int32 ≥ 0, so their values survive. The sidecar is ours alone: splat-transform
neither reads nor writes it.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
from pathlib import Path

import numpy as np
import pytest
from plyfile import PlyData

from liftstudio.evaluate import scenes
from liftstudio.export import read_labeled_ply, write_labeled_ply
from liftstudio.scene.formats import read_gaussians

VERSION = "3.7.0"
PACKAGE = f"@playcanvas/splat-transform@{VERSION}"
INSTALL_TIMEOUT_S = 180
RUN_TIMEOUT_S = 120

# npm error codes that mean "the registry could not be reached", not "npm is broken".
_NETWORK_CODES = re.compile(
    r"npm (?:error|ERR!) code (ENOTFOUND|EAI_AGAIN|ECONNREFUSED|ECONNRESET|ETIMEDOUT|"
    r"ESOCKETTIMEDOUT|ENETUNREACH|EHOSTUNREACH|ENETDOWN|EPROTO|E5\d\d|"
    r"SELF_SIGNED_CERT_IN_CHAIN|UNABLE_TO_GET_ISSUER_CERT_LOCALLY|"
    r"UNABLE_TO_VERIFY_LEAF_SIGNATURE|CERT_HAS_EXPIRED)\b"
)


# ---------------------------------------------------------------------------- the tool
@pytest.fixture(scope="module")
def splat_transform(tmp_path_factory) -> list[str]:
    """The command that runs the installed CLI: ``[node, .../bin/cli.mjs]``."""
    node, npm = shutil.which("node"), shutil.which("npm")
    if node is None or npm is None:
        missing = " and ".join(name for name, path in (("node", node), ("npm", npm)) if not path)
        pytest.skip(f"{missing} not found on PATH: cannot install {PACKAGE}")
    prefix = tmp_path_factory.mktemp("splat_transform")
    command = [
        npm, "install", "--no-audit", "--no-fund", "--no-save", "--prefer-offline",
        "--ignore-scripts", "--fetch-retries=1", "--prefix", str(prefix), PACKAGE,
    ]  # fmt: skip
    cache = os.environ.get("LIFTSTUDIO_NPM_CACHE")
    if cache:
        command[2:2] = ["--cache", cache]
    try:
        result = subprocess.run(
            command, capture_output=True, text=True, timeout=INSTALL_TIMEOUT_S, check=False
        )
    except subprocess.TimeoutExpired:
        pytest.skip(
            f"npm install {PACKAGE} took over {INSTALL_TIMEOUT_S} s: "
            "the npm registry cannot be reached (or is too slow)"
        )
    output = result.stdout + result.stderr
    if result.returncode != 0:
        network = _NETWORK_CODES.search(output) or "npm error network" in output
        if network:
            pytest.skip(
                f"npm registry cannot be reached, {PACKAGE} not installed: {_npm_error(output)}"
            )
        pytest.fail(f"npm install {PACKAGE} failed (exit {result.returncode}):\n{output}")
    cli = prefix / "node_modules" / "@playcanvas" / "splat-transform" / "bin" / "cli.mjs"
    assert cli.is_file(), f"npm install succeeded but {cli} is missing:\n{output}"
    tool = [node, str(cli)]
    version = subprocess.run(
        [*tool, "--version"], capture_output=True, text=True, timeout=60, check=False
    )
    if version.returncode != 0:
        node_version = subprocess.run(
            [node, "--version"], capture_output=True, text=True, check=False
        ).stdout.strip()
        major = re.match(r"v(\d+)", node_version)
        if (
            major is None or int(major.group(1)) < 22
        ):  # package.json: "engines": {"node": ">=22.0.0"}
            pytest.skip(f"node {node_version} cannot run {PACKAGE} (it asks for node >= 22)")
        pytest.fail(f"{PACKAGE} --version failed:\n{version.stdout}{version.stderr}")
    banner = version.stdout + version.stderr  # 3.7.0 prints it on stderr
    assert f"v{VERSION}" in banner, banner
    return tool


def _npm_error(output: str) -> str:
    """The error code and the failed request from npm's output, in one line."""
    code = re.search(r"npm (?:error|ERR!) code (\S+)", output)
    reason = re.search(r"(request to \S+ failed.*)", output)
    parts = [code.group(1) if code else None, reason.group(1).strip() if reason else None]
    return "; ".join(p for p in parts if p) or output.strip().splitlines()[-1]


def _run(tool: list[str], *args: str | Path) -> None:
    """Run splat-transform; any failure (our file rejected) fails the test."""
    command = [*tool, *map(str, args)]
    result = subprocess.run(
        command, capture_output=True, text=True, timeout=RUN_TIMEOUT_S, check=False
    )
    if result.returncode != 0:
        pytest.fail(
            f"splat-transform failed (exit {result.returncode}) on our file:\n"
            f"  {' '.join(command)}\n{result.stdout}{result.stderr}"
        )


# ---------------------------------------------------------------------------- the scenes
class Labeled:
    """A labeled PLY we wrote, and the labels we wrote into it."""

    def __init__(self, path: Path, labels: np.ndarray):
        self.path = path
        self.labels = labels
        ids, counts = np.unique(labels[labels > 0], return_counts=True)
        by_size = ids[np.argsort(counts, kind="stable")]
        self.instances = {
            "largest": int(by_size[-1]),
            "smallest": int(by_size[0]),
            "median": int(by_size[len(by_size) // 2]),
        }


@pytest.fixture(scope="module")
def tabletop(tmp_path_factory) -> Labeled:
    """A generated tabletop: 4,000 Gaussians, 16 instances with classes, 4 % unlabeled."""
    scene = scenes.make("tabletop", seed=0, num_gaussians=4000, num_train=1, num_test=1,
                        width=16, height=12)  # fmt: skip
    labels = scene.instance_ids.astype(np.int32)
    labels[::25] = 0
    confidence = np.random.default_rng(0).random(len(labels)).astype(np.float32)
    confidence[labels == 0] = np.nan  # unknown; splat-transform drops NaN rows only with -N
    path = tmp_path_factory.mktemp("tabletop") / "labeled.ply"
    names = {i: {"name": f"{name}_{i}", "class": name} for i, name in scene.class_names.items()}
    write_labeled_ply(scene.gaussians, labels, path, confidence=confidence, instances=names)
    return Labeled(path, labels)


@pytest.fixture(scope="module")
def guitar(tmp_path_factory, real_data) -> Labeled:
    """The real guitar (90,854 Gaussians; columns x y z f_dc opacity rot scale), in slabs."""
    source = real_data / "guitar.decoded-by-splat-transform.ply"
    scene = read_gaussians(source)
    x = scene.means[:, 0]
    # unlabeled 2 %, then instances of 8 %, 30 %, 50 % and 10 % of the Gaussians
    edges = np.quantile(x, [0.02, 0.10, 0.40, 0.90])
    labels = np.digitize(x, edges).astype(np.int32)
    path = tmp_path_factory.mktemp("guitar") / "guitar.labeled.ply"
    write_labeled_ply(scene, labels, path, input_path=source)
    return Labeled(path, labels)


SCENES = ["tabletop", "guitar"]


# ---------------------------------------------------------------------------- comparison
def _vertex(path: Path) -> dict[str, np.ndarray]:
    vertex = PlyData.read(str(path))["vertex"]
    return {p.name: np.asarray(vertex[p.name]) for p in vertex.properties}


def _rows(columns: dict[str, np.ndarray], names: list[str]) -> np.ndarray:
    """(N, C) bit patterns of 4-byte columns, rows in lexicographic order."""
    bits = np.stack([np.ascontiguousarray(columns[n]).view(np.uint32) for n in names], axis=1)
    return bits[np.lexsort(bits.T[::-1])]


def _assert_same_rows(ours: dict, theirs: dict, keep: np.ndarray) -> None:
    """``theirs`` holds exactly our rows ``keep``, bit for bit, in any order."""
    names = list(ours)
    assert sorted(theirs) == sorted(names), "splat-transform changed the set of columns"
    for name in names:
        assert ours[name].dtype.itemsize == 4, f"{name}: test expects 4-byte columns"
    kept = {name: column[keep] for name, column in ours.items()}
    positions = ["x", "y", "z"]
    np.testing.assert_array_equal(_rows(theirs, positions), _rows(kept, positions))
    if not np.array_equal(_rows(theirs, names), _rows(kept, names)):
        changed = [
            name
            for name in names
            if not np.array_equal(
                _rows(theirs, [*positions, name]), _rows(kept, [*positions, name])
            )
        ]
        pytest.fail(f"splat-transform changed the values of columns {changed}")


# ---------------------------------------------------------------------------- the tests
@pytest.mark.parametrize("scene_name", SCENES)
def test_pass_through_keeps_every_gaussian_and_column(
    splat_transform, scene_name, request, tmp_path
):
    labeled: Labeled = request.getfixturevalue(scene_name)
    out = tmp_path / "out.ply"
    _run(splat_transform, labeled.path, out)
    ours, theirs = _vertex(labeled.path), _vertex(out)
    assert len(theirs["x"]) == len(ours["x"]) == len(labeled.labels)
    # splat-transform 3.7.0 holds every integer column as uint32 ("property uint")
    assert theirs["instance"].dtype == np.uint32
    np.testing.assert_array_equal(np.sort(theirs["instance"]), np.sort(labeled.labels))
    _assert_same_rows(ours, theirs, np.ones(len(labeled.labels), dtype=bool))


@pytest.mark.parametrize("which", ["largest", "smallest", "median"])
@pytest.mark.parametrize("scene_name", SCENES)
def test_filter_value_keeps_exactly_one_instance(
    splat_transform, scene_name, which, request, tmp_path
):
    labeled: Labeled = request.getfixturevalue(scene_name)
    k = labeled.instances[which]
    out = tmp_path / f"instance_{k}.ply"
    _run(splat_transform, labeled.path, "-V", f"instance,eq,{k}", out)
    ours, theirs = _vertex(labeled.path), _vertex(out)
    keep = labeled.labels == k
    assert len(theirs["x"]) == int(keep.sum()) > 0
    assert set(np.unique(theirs["instance"]).tolist()) == {k}
    _assert_same_rows(ours, theirs, keep)


def test_liftstudio_reads_the_filtered_file_back(splat_transform, tabletop, tmp_path):
    k = tabletop.instances["median"]
    out = tmp_path / "one.ply"
    _run(splat_transform, tabletop.path, "-V", f"instance,eq,{k}", out)
    back = read_labeled_ply(out)  # no sidecar beside it: splat-transform writes none
    assert back.sidecar is None
    assert np.all(back.labels == k)
    assert [(info.id, info.count) for info in back.instances] == [
        (k, int(np.sum(tabletop.labels == k)))
    ]
