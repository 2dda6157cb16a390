"""Viewport selection tools: masks, clicks, depth modes, set logic, graph morphology.

References are independent brute-force implementations (pixel-centre loops, homogeneous
projection, Python sets, neighbour loops) and the demo scene's ground truth.
"""

from __future__ import annotations

import itertools

import numpy as np
import pytest
from scipy import sparse

from liftstudio.evaluate.demo_scene import demo_dir
from liftstudio.labels.bench_select_tools import (
    format_select_tools_report,
    run_select_tools_benchmark,
)
from liftstudio.labels.region_select import (
    brush_mask,
    click_select,
    combine,
    crop_camera,
    gaussian_sizes,
    grow,
    opacities,
    polygon_mask,
    rect_mask,
    select_by_range,
    select_in_mask,
    shrink,
)
from liftstudio.lift.knn_graph import build_knn_graph
from liftstudio.render.cpu import CpuBackend
from liftstudio.render.label_maps import render_label_map
from liftstudio.scene.camera import Camera, intrinsics
from liftstudio.scene.discovery import open_scene
from liftstudio.scene.gaussians import GaussianScene


# ---------------------------------------------------------------------------- fixtures
@pytest.fixture(scope="module")
def backend() -> CpuBackend:
    return CpuBackend()


@pytest.fixture(scope="module")
def demo():
    opened = open_scene(demo_dir())
    truth = np.load(demo_dir() / "ground_truth" / "instances.npy")
    assert truth.shape == (len(opened.gaussians),)
    return opened.gaussians, list(opened.cameras.train), truth


def _pixel_centres(width: int, height: int) -> tuple[np.ndarray, np.ndarray]:
    """(H, W) x and y of every pixel centre."""
    return np.meshgrid(np.arange(width) + 0.5, np.arange(height) + 0.5)


def _brute_projection(means: np.ndarray, camera: Camera) -> tuple[np.ndarray, np.ndarray]:
    """Pixel column/row (floor of the projected centre) and a 'projects into the image' mask."""
    full = camera.K @ camera.viewmat[:3]  # 3x4 projection matrix
    homogeneous = np.concatenate([means.astype(np.float64), np.ones((len(means), 1))], axis=1)
    h = homogeneous @ full.T
    with np.errstate(divide="ignore", invalid="ignore"):
        u, v = h[:, 0] / h[:, 2], h[:, 1] / h[:, 2]
    ok = (h[:, 2] > 0) & (u >= 0) & (u < camera.width) & (v >= 0) & (v < camera.height)
    col = np.where(ok, np.floor(np.nan_to_num(u)), -1).astype(np.int64)
    row = np.where(ok, np.floor(np.nan_to_num(v)), -1).astype(np.int64)
    return col, row


# ---------------------------------------------------------------------------- click
def _object_pixel(label_map: np.ndarray, obj: int, centre: np.ndarray) -> tuple[int, int] | None:
    """The pixel nearest ``centre`` whose 5x5 neighbourhood is all ``obj``."""
    ok = label_map == obj
    interior = ok.copy()
    for dy in range(-2, 3):
        for dx in range(-2, 3):
            interior &= np.roll(np.roll(ok, dy, axis=0), dx, axis=1)
    rows, cols = np.nonzero(interior)
    if rows.size == 0:
        return None
    nearest = np.argmin((cols + 0.5 - centre[0]) ** 2 + (rows + 0.5 - centre[1]) ** 2)
    return int(rows[nearest]), int(cols[nearest])


def test_click_with_labels_selects_the_clicked_object(demo, backend):
    scene, cameras, truth = demo
    checked = 0
    for camera in cameras[:2]:
        label_map = render_label_map(backend, scene, camera, truth)
        for obj in range(2, truth.max() + 1):  # skip the table: the objects on it
            members = truth == obj
            col, row = _brute_projection(scene.means[members].mean(axis=0, keepdims=True), camera)
            if col[0] < 0:
                continue
            pixel = _object_pixel(label_map, obj, np.array([col[0] + 0.5, row[0] + 0.5]))
            if pixel is None:
                continue
            i, j = pixel
            selected = click_select(scene, camera, j + 0.5, i + 0.5, labels=truth, backend=backend)
            hit = np.zeros(len(scene), dtype=bool)
            hit[selected] = True
            assert hit[members].mean() >= 0.9, (camera.name, obj)
            assert hit[~members].mean() < 0.05, (camera.name, obj)
            checked += 1
    assert checked >= 8


def test_click_alone_returns_the_pick_argmax(demo, backend):
    scene, cameras, _ = demo
    camera = cameras[3]
    alpha = backend.render(scene, camera, rgb=False).alpha
    rows, cols = np.nonzero(alpha > 0.9)
    chosen = np.random.default_rng(2).choice(rows.size, size=4, replace=False)
    for i, j in zip(rows[chosen], cols[chosen], strict=True):
        x, y = j + 0.3, i + 0.6
        picked = backend.pick(scene, camera, x, y)
        expected = [int(picked.ids[np.argmax(picked.weights)])]
        assert click_select(scene, camera, x, y, backend=backend).tolist() == expected
    i, j = np.argwhere(alpha == 0)[0]
    assert backend.pick(scene, camera, j + 0.5, i + 0.5).ids.size == 0
    assert click_select(scene, camera, j + 0.5, i + 0.5, backend=backend).size == 0


def test_click_with_segments_returns_the_segment(demo, backend):
    scene, cameras, truth = demo
    camera = cameras[5]
    segments = np.random.default_rng(1).integers(0, 40, size=len(scene))
    front = int(backend.pick(scene, camera, 160.5, 120.5).front)
    selected = click_select(
        scene, camera, 160.5, 120.5, labels=truth, segments=segments, backend=backend
    )
    np.testing.assert_array_equal(selected, np.flatnonzero(segments == segments[front]))


def test_click_on_unlabeled_gaussian_returns_it_alone(demo, backend):
    scene, cameras, _ = demo
    camera = cameras[0]
    front = int(backend.pick(scene, camera, 160.5, 120.5).front)
    labels = np.zeros(len(scene), dtype=np.int32)
    assert click_select(scene, camera, 160.5, 120.5, labels=labels, backend=backend).tolist() == [
        front
    ]


def test_click_on_nothing_is_empty(backend):
    scene, camera = _two_blob_scene()
    empty = click_select(scene, camera, 1.5, 1.5, backend=backend)
    assert empty.dtype == np.int64 and empty.size == 0
    assert click_select(scene, camera, -3.0, 10.0, backend=backend).size == 0
    assert click_select(scene, camera, 32.0, 32.0, backend=backend).size == 1


# ---------------------------------------------------------------------------- through
@pytest.mark.parametrize("scale", [1.0, 0.5])
def test_through_rect_equals_brute_force_projection(demo, scale):
    scene, cameras, _ = demo
    rects = [(40, 30, 250, 200), (300, 5, 10.2, 230.7), (0, 0, 320, 240), (150, 100, 151, 101)]
    for camera, (x0, y0, x1, y1) in zip(cameras[:4], rects, strict=True):
        width, height = round(camera.width * scale), round(camera.height * scale)
        mask = rect_mask(width, height, x0 * scale, y0 * scale, x1 * scale, y1 * scale)
        selected = select_in_mask(scene, camera, mask, depth_mode="through")
        col, row = _brute_projection(scene.means, camera.scaled_to(width, height))
        xs, ys = col + 0.5, row + 0.5
        expected = (
            (col >= 0)
            & (xs >= min(x0, x1) * scale) & (xs <= max(x0, x1) * scale)
            & (ys >= min(y0, y1) * scale) & (ys <= max(y0, y1) * scale)
        )  # fmt: skip
        np.testing.assert_array_equal(selected, np.flatnonzero(expected))
        assert selected.dtype == np.int64


def test_through_lasso_equals_brute_force_projection(demo):
    scene, cameras, _ = demo
    camera = cameras[7]
    angle = np.linspace(0, 2 * np.pi, 40, endpoint=False)
    radius = 60 + 25 * np.sin(3 * angle)
    lasso = np.stack([160 + 1.3 * radius * np.cos(angle), 120 + radius * np.sin(angle)], axis=1)
    mask = polygon_mask(camera.width, camera.height, lasso)
    col, row = _brute_projection(scene.means, camera)
    expected = np.flatnonzero((col >= 0) & mask[np.maximum(row, 0), np.maximum(col, 0)])
    assert expected.size > 100
    np.testing.assert_array_equal(
        select_in_mask(scene, camera, mask, depth_mode="through"), expected
    )


# ---------------------------------------------------------------------------- surface
def _two_blob_scene() -> tuple[GaussianScene, Camera]:
    """An opaque square of Gaussians at z=2 hiding a smaller blob at z=4 (camera at the origin)."""
    grid = np.arange(-0.45, 0.4501, 0.05)
    gx, gy = np.meshgrid(grid, grid)
    front = np.stack([gx.ravel(), gy.ravel(), np.full(gx.size, 2.0)], axis=1)
    rng = np.random.default_rng(0)
    back = rng.normal(scale=0.1, size=(60, 3)) * [1, 1, 0.2] + [0.0, 0.0, 4.0]
    means = np.concatenate([front, back])
    n = len(means)
    scene = GaussianScene(
        means=means,
        raw_quats=np.tile([1.0, 0.0, 0.0, 0.0], (n, 1)),
        log_scales=np.full((n, 3), np.log(0.05)),
        logit_opacities=np.full(n, 5.0),
        sh=np.zeros((n, 1, 3)),
    )
    camera = Camera("c.png", np.eye(4), intrinsics(100, 100, 32, 32), 64, 64)
    return scene, camera


def test_surface_excludes_the_hidden_blob_and_through_includes_it(backend):
    scene, camera = _two_blob_scene()
    num_front = 19 * 19
    is_front = np.arange(len(scene)) < num_front
    mask = rect_mask(64, 64, 8, 8, 56, 56)  # around the front square (±22.5 px)
    surface = select_in_mask(scene, camera, mask, depth_mode="surface", backend=backend)
    through = select_in_mask(scene, camera, mask, depth_mode="through")
    assert surface.size > 0.3 * num_front
    assert is_front[surface].all()  # nothing of the hidden blob
    col, _ = _brute_projection(scene.means[~is_front], camera)
    assert (col >= 0).all()  # the back blob projects inside the rectangle ...
    assert set(np.flatnonzero(~is_front)) <= set(through.tolist())  # ... and through gets it
    assert set(np.flatnonzero(is_front)) <= set(through.tolist())


def test_surface_matches_full_operator_rows(demo, backend):
    scene, cameras, _ = demo
    camera = cameras[2]
    stroke = np.array([[60.0, 50.0], [140.0, 170.0], [250.0, 120.0]])
    mask = brush_mask(camera.width, camera.height, stroke, 12)
    rows = backend.operator_rows(scene, camera, top_k=None, weight_dtype=np.float32)
    ids, weights = rows.ids[mask], rows.weights[mask]
    keep = (ids >= 0) & (weights >= 0.05)
    top = np.take_along_axis(ids, np.argmax(weights, axis=1)[:, None], axis=1)[:, 0]
    expected = np.union1d(ids[keep], top[ids[:, 0] >= 0])
    for crop in (True, False):
        selected = select_in_mask(scene, camera, mask, backend=backend, crop=crop)
        np.testing.assert_array_equal(selected, expected)


def test_crop_camera_renders_the_same_pixels(demo, backend):
    scene, cameras, _ = demo
    camera = cameras[1]
    full = backend.render(scene, camera, rgb=False).alpha
    part = backend.render(scene, crop_camera(camera, 100, 40, 180, 130), rgb=False).alpha
    np.testing.assert_allclose(part, full[40:130, 100:180], atol=1e-5)


def test_empty_mask_selects_nothing(demo, backend):
    scene, cameras, _ = demo
    mask = np.zeros((240, 320), dtype=bool)
    for mode in ("surface", "through"):
        out = select_in_mask(scene, cameras[0], mask, depth_mode=mode, backend=backend)
        assert out.size == 0 and out.dtype == np.int64


# ---------------------------------------------------------------------------- shapes
def _brute_polygon(width: int, height: int, points: np.ndarray) -> np.ndarray:
    """Even-odd ray casting (ray towards -x) at every pixel centre."""
    xs, ys = _pixel_centres(width, height)
    inside = np.zeros((height, width), dtype=bool)
    for k in range(len(points)):
        (xa, ya), (xb, yb) = points[k], points[(k + 1) % len(points)]
        if ya == yb:
            continue
        crosses = (np.minimum(ya, yb) <= ys) & (ys < np.maximum(ya, yb))
        x_cross = xa + (ys - ya) / (yb - ya) * (xb - xa)
        inside ^= crosses & (x_cross < xs)
    return inside


def test_polygon_mask_matches_point_in_polygon():
    rng = np.random.default_rng(3)
    for trial in range(6):
        count = int(rng.integers(3, 30))
        angle = np.sort(rng.uniform(0, 2 * np.pi, count))
        radius = rng.uniform(5, 40, count)
        points = np.stack([35 + radius * np.cos(angle), 25 + radius * np.sin(angle)], axis=1)
        if trial == 5:
            points = rng.uniform(-10, 80, size=(12, 2))  # self-intersecting, leaves the image
        np.testing.assert_array_equal(polygon_mask(70, 50, points), _brute_polygon(70, 50, points))


def test_polygon_mask_of_a_pentagram_uses_even_odd():
    angle = np.pi / 2 + 4 * np.pi / 5 * np.arange(5)  # every second vertex of a pentagon
    points = np.stack([20 + 18 * np.cos(angle), 20 - 18 * np.sin(angle)], axis=1)
    mask = polygon_mask(40, 40, points)
    np.testing.assert_array_equal(mask, _brute_polygon(40, 40, points))
    assert not mask[20, 20] and mask[5, 20]  # the centre pentagon is outside, a tip inside


def _distance_to_polyline(width: int, height: int, points: np.ndarray) -> np.ndarray:
    xs, ys = _pixel_centres(width, height)
    best = np.full((height, width), np.inf)
    segments = list(itertools.pairwise(points)) or [(points[0], points[0])]
    for a, b in segments:
        d = b - a
        length_sq = float(d @ d)
        t = (
            0.0
            if length_sq == 0
            else np.clip(((xs - a[0]) * d[0] + (ys - a[1]) * d[1]) / length_sq, 0, 1)
        )
        best = np.minimum(best, np.hypot(xs - a[0] - t * d[0], ys - a[1] - t * d[1]))
    return best


@pytest.mark.parametrize(
    ("points", "radius"),
    [
        ([[5.0, 5.0], [75.0, 45.0]], 3.0),  # a fast drag: two far-apart samples
        ([[10.0, 40.0], [30.0, 10.0], [31.0, 11.0], [31.0, 11.0], [70.0, 30.0]], 5.5),
        ([[40.3, 25.7]], 7.0),  # a single dab
        ([[-5.0, -5.0], [90.0, 20.0]], 2.2),  # leaves the image
    ],
)
def test_brush_mask_covers_the_stroke_and_no_more(points, radius):
    points = np.array(points)
    mask = brush_mask(80, 50, points, radius)
    distance = _distance_to_polyline(80, 50, points)
    assert mask[distance <= radius].all()
    assert (distance[mask] <= radius + 1).all()


def test_rect_mask_matches_pixel_centres():
    xs, ys = _pixel_centres(30, 20)
    for x0, y0, x1, y1 in [(3.2, 4.7, 12.5, 15.5), (29.9, 19.9, 0.1, 0.1), (-5, -5, 50, 3)]:
        expected = (
            (xs >= min(x0, x1)) & (xs <= max(x0, x1)) & (ys >= min(y0, y1)) & (ys <= max(y0, y1))
        )
        np.testing.assert_array_equal(rect_mask(30, 20, x0, y0, x1, y1), expected)


# ---------------------------------------------------------------------------- set logic
@pytest.mark.parametrize("mode", ["replace", "add", "subtract", "intersect"])
def test_combine_matches_python_sets(mode):
    rng = np.random.default_rng(7)
    for _ in range(5):
        current = rng.integers(0, 50, size=int(rng.integers(0, 30)))
        new = rng.integers(0, 50, size=int(rng.integers(0, 30)))
        a, b = set(current.tolist()), set(new.tolist())
        expected = {"replace": b, "add": a | b, "subtract": a - b, "intersect": a & b}[mode]
        out = combine(current, new, mode)
        assert out.dtype == np.int64
        assert out.tolist() == sorted(expected)


# ---------------------------------------------------------------------------- graph
def _neighbour_sets(neighbors: np.ndarray) -> list[set[int]]:
    sets = [set() for _ in range(len(neighbors))]
    for i, row in enumerate(neighbors):
        for j in row:
            sets[i].add(int(j))
            sets[int(j)].add(i)
    return sets


def _brute_grow(selected: set[int], adjacent: list[set[int]]) -> set[int]:
    return selected | {j for i in selected for j in adjacent[i]}


def _brute_shrink(selected: set[int], adjacent: list[set[int]]) -> set[int]:
    return {i for i in selected if adjacent[i] <= selected}


def test_grow_and_shrink_match_a_neighbour_loop():
    rng = np.random.default_rng(11)
    graph = build_knn_graph(rng.uniform(size=(150, 3)), k=4)
    adjacent = _neighbour_sets(graph.neighbors)
    rows = np.repeat(np.arange(150), 4)
    adjacency = sparse.csr_array((np.ones(rows.size), (rows, graph.neighbors.ravel())), (150, 150))
    for _ in range(4):
        start = rng.choice(150, size=int(rng.integers(1, 60)), replace=False)
        for steps in (0, 1, 3):
            grown, shrunk = set(start.tolist()), set(start.tolist())
            for _ in range(steps):
                grown, shrunk = _brute_grow(grown, adjacent), _brute_shrink(shrunk, adjacent)
            for g in (graph, adjacency):
                assert grow(start, g, steps).tolist() == sorted(grown)
                assert shrink(start, g, steps).tolist() == sorted(shrunk)
            as_mask = np.zeros(150, dtype=bool)
            as_mask[start] = True
            assert grow(as_mask, graph, steps).tolist() == sorted(grown)


# ---------------------------------------------------------------------------- ranges
def test_select_by_range_sizes_and_opacities(demo):
    scene, _, _ = demo
    sizes = gaussian_sizes(scene)
    np.testing.assert_allclose(sizes, np.exp(scene.log_scales).max(axis=1), rtol=1e-6)
    geomean = gaussian_sizes(scene, measure="geomean")
    volume = np.prod(np.exp(scene.log_scales.astype(np.float64)), axis=1)
    np.testing.assert_allclose(geomean, volume ** (1 / 3), rtol=1e-5)
    alpha = opacities(scene)
    logits = scene.logit_opacities.astype(np.float64)
    np.testing.assert_allclose(alpha, 1 / (1 + np.exp(-logits)), rtol=1e-6)
    lo, hi = np.quantile(alpha, [0.2, 0.6])
    expected = [i for i, a in enumerate(alpha) if lo <= a <= hi]
    assert select_by_range(alpha, lo, hi).tolist() == expected
    values = np.array([0.0, np.nan, 2.0, 5.0, -np.inf])
    assert select_by_range(values, -np.inf, 2.0).tolist() == [0, 2, 4]


# ---------------------------------------------------------------------------- validation
def test_bad_inputs_raise_value_errors_naming_the_argument(demo, backend):
    scene, cameras, _ = demo
    camera = cameras[0]
    mask = np.ones((240, 320), dtype=bool)
    cases = [
        ("mask", lambda: select_in_mask(scene, camera, np.ones(5, bool))),
        ("depth_mode", lambda: select_in_mask(scene, camera, mask, depth_mode="xray")),
        ("min_weight", lambda: select_in_mask(scene, camera, mask, min_weight=2.0)),
        ("labels", lambda: click_select(scene, camera, 5, 5, labels=np.zeros(3), backend=backend)),
        ("x and y", lambda: click_select(scene, camera, np.nan, 5, backend=backend)),
        ("points", lambda: polygon_mask(10, 10, np.zeros((2, 2)))),
        ("radius", lambda: brush_mask(10, 10, np.zeros((1, 2)), 0)),
        ("width and height", lambda: rect_mask(0, 10, 0, 0, 1, 1)),
        ("mode", lambda: combine(np.arange(2), np.arange(3), "xor")),
        ("new", lambda: combine(np.arange(2), np.array([0.5]), "add")),
        ("steps", lambda: grow(np.arange(2), build_knn_graph(np.eye(5, 3), k=2), -1)),
        ("selection", lambda: shrink(np.array([9]), build_knn_graph(np.eye(5, 3), k=2))),
        ("graph", lambda: grow(np.arange(2), np.zeros((5, 2)))),
        ("lo and hi", lambda: select_by_range(np.arange(3), 2, 1)),
        ("measure", lambda: gaussian_sizes(scene, measure="min")),
    ]
    for name, call in cases:
        with pytest.raises(ValueError, match=name):
            call()


# ---------------------------------------------------------------------------- benchmark
def test_select_tools_benchmark_runs_small():
    result = run_select_tools_benchmark(20_000, width=320, height=180, repeats=1, backend="cpu")
    assert result["gaussians"] == 20_000 and result["backend"] == "cpu"
    for key in ("click", "lasso_through", "brush_surface", "brush_surface_full_view"):
        assert result[key]["median_ms"] > 0
    assert result["click"]["selected"] >= 1 and result["lasso_through"]["selected"] > 0
    assert result["brush_surface"]["selected"] == result["brush_surface_full_view"]["selected"]
    report = format_select_tools_report(result)
    assert "20,000 Gaussians" in report and "lasso, through" in report
