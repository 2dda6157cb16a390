"""Selection tools of the viewport, without Qt: masks, clicks, grow/shrink, ranges.

The app's tools turn what the user drew on the viewport (a rectangle, a lasso, a brush
stroke, a click) into Gaussian indices with these functions, given the viewport's
current :class:`~liftstudio.scene.camera.Camera` (OpenCV axes, pixel centres at +0.5):

- :func:`rect_mask`, :func:`polygon_mask`, :func:`brush_mask` rasterise a shape into an
  (H, W) boolean mask; a pixel belongs to the shape when its *centre* does;
- :func:`select_in_mask` picks the Gaussians under a mask, either every Gaussian whose
  centre projects into it (``"through"``, an X-ray selection) or only those visible
  there (``"surface"``: their blending weight at a masked pixel, read off the render
  operator rows, DESIGN §4);
- :func:`click_select` picks the front Gaussian under a click and expands it to its
  segment or instance;
- :func:`grow` and :func:`shrink` dilate or erode a selection over the kNN graph of
  Gaussian centres;
- :func:`select_by_range` with :func:`gaussian_sizes` or :func:`opacities` selects
  from a histogram;
- :func:`combine` merges a new selection into the current one (replace, add,
  subtract, intersect).

Every selection is a sorted ``int64`` array of Gaussian indices.
"""

from __future__ import annotations

import itertools
import math
from dataclasses import replace
from typing import Literal

import numpy as np
from scipy import sparse

from liftstudio.lift.knn_graph import KnnGraph
from liftstudio.render.backend import RenderBackend, camera_at
from liftstudio.scene.camera import Camera
from liftstudio.scene.gaussians import GaussianScene

DepthMode = Literal["surface", "through"]
DEPTH_MODES: tuple[str, ...] = ("surface", "through")
"""``"surface"``: only what is visible under the mask; ``"through"``: everything behind it."""

CombineMode = Literal["replace", "add", "subtract", "intersect"]
COMBINE_MODES: tuple[str, ...] = ("replace", "add", "subtract", "intersect")

SizeMeasure = Literal["max", "geomean"]
SIZE_MEASURES: tuple[str, ...] = ("max", "geomean")

SURFACE_MAX_TOP_K = 64
"""Most contributions per pixel a ``"surface"`` selection looks at (the largest first)."""

Graph = KnnGraph | sparse.sparray | sparse.spmatrix
"""A :class:`~liftstudio.lift.knn_graph.KnnGraph` or an (N, N) sparse adjacency matrix."""

_EMPTY = np.zeros(0, dtype=np.int64)


# ---------------------------------------------------------------------------- masks → Gaussians
def select_in_mask(
    scene: GaussianScene,
    camera: Camera,
    mask: np.ndarray,
    *,
    depth_mode: DepthMode = "surface",
    backend: RenderBackend | None = None,
    min_weight: float = 0.05,
    crop: bool = True,
) -> np.ndarray:
    """The Gaussians under the True pixels of ``mask`` seen from ``camera``.

    Parameters
    ----------
    scene
        The Gaussians.
    camera
        The view the mask was drawn on. A mask whose size differs from the camera's
        image is taken to cover the whole image (the intrinsics are scaled to it).
    mask : (H, W) array
        Bool (any other dtype: nonzero is True).
    depth_mode
        ``"through"``: every Gaussian whose centre projects, in front of the camera,
        into a True pixel (pixel ``(i, j)`` holds the positions ``j <= x < j + 1``,
        ``i <= y < i + 1``), however deep. ``"surface"``: only the Gaussians visible
        there: those whose blending weight ``α_i T_i`` at some True pixel is at least
        ``min_weight``, and the largest contributor of every True pixel. This renders
        the operator rows of the view (one render pass).
    backend
        Render backend for ``"surface"``; None resolves ``"auto"``. Unused by
        ``"through"``.
    min_weight
        Smallest blending weight, in ``[0, 1]``, that counts as visible (``"surface"``).
        Only the :data:`SURFACE_MAX_TOP_K` largest contributions of a pixel are looked
        at, so weights below ``1 / SURFACE_MAX_TOP_K`` may be missed.
    crop
        ``"surface"`` renders only the bounding box of the True pixels (a camera with
        a shifted principal point). The per-pixel footprint rule is unchanged, but the
        projection Jacobian's field-of-view clamp follows the smaller image, so very
        large Gaussians centred far outside the box may get slightly different
        weights; False renders the whole view.

    Returns
    -------
    (M,) int64
        Sorted Gaussian indices.

    Raises
    ------
    ValueError
        For a mask that is not 2-D, an unknown ``depth_mode`` or ``min_weight`` outside
        ``[0, 1]``.
    """
    mask = _check_mask(mask)
    if depth_mode not in DEPTH_MODES:
        raise ValueError(f"depth_mode must be one of {', '.join(DEPTH_MODES)}, got {depth_mode!r}")
    min_weight = float(min_weight)
    if not 0.0 <= min_weight <= 1.0:
        raise ValueError(f"min_weight must lie in [0, 1], got {min_weight}")
    view = camera_at(camera, (mask.shape[1], mask.shape[0]))
    if not mask.any() or len(scene) == 0:
        return _EMPTY.copy()
    if depth_mode == "through":
        return centres_in_mask(scene.means, view, mask)
    backend = _backend(backend)
    return _visible_in_mask(scene, view, mask, backend, min_weight, crop)


def centres_in_mask(means: np.ndarray, camera: Camera, mask: np.ndarray) -> np.ndarray:
    """Indices of the points that project, in front of ``camera``, into True pixels.

    Parameters
    ----------
    means : (N, 3) array
        World positions (Gaussian centres).
    camera
        The view; its size must equal the mask's.
    mask : (H, W) bool
        ``mask.shape == (camera.height, camera.width)``.

    Returns
    -------
    (M,) int64
        Sorted indices.
    """
    if mask.shape != (camera.height, camera.width):
        raise ValueError(
            f"mask of shape {mask.shape} does not match the {camera.width}x{camera.height} camera"
        )
    rows, cols = np.nonzero(mask)
    if rows.size == 0:
        return _EMPTY.copy()
    # Only the mask's bounding box matters: test it before the per-pixel lookup.
    x_lo, x_hi = cols.min(), cols.max() + 1
    y_lo, y_hi = rows.min(), rows.max() + 1
    points = np.asarray(means, dtype=np.float64)
    cam = points @ camera.viewmat[:3, :3].T + camera.viewmat[:3, 3]
    depth = cam[:, 2]
    front = depth > 0
    with np.errstate(divide="ignore", invalid="ignore"):
        x = camera.fx * cam[:, 0] / depth + camera.cx
        y = camera.fy * cam[:, 1] / depth + camera.cy
    inside = front & (x >= x_lo) & (x < x_hi) & (y >= y_lo) & (y < y_hi)
    candidates = np.flatnonzero(inside)
    hit = mask[y[candidates].astype(np.int64), x[candidates].astype(np.int64)]
    return candidates[hit].astype(np.int64)


def _visible_in_mask(
    scene: GaussianScene,
    camera: Camera,
    mask: np.ndarray,
    backend: RenderBackend,
    min_weight: float,
    crop: bool,
) -> np.ndarray:
    """``"surface"`` selection: the Gaussians carrying weight at the mask's pixels."""
    if crop:
        rows, cols = np.nonzero(mask)
        x0, x1, y0, y1 = cols.min(), cols.max() + 1, rows.min(), rows.max() + 1
        camera = crop_camera(camera, int(x0), int(y0), int(x1), int(y1))
        mask = mask[y0:y1, x0:x1]
    top_k = None if min_weight == 0.0 else min(SURFACE_MAX_TOP_K, math.ceil(1.0 / min_weight))
    operator = backend.operator_rows(scene, camera, top_k=top_k, weight_dtype=np.float32)
    ids = operator.ids[mask]  # (P, K), largest weight first
    keep = (ids >= 0) & (operator.weights[mask] >= min_weight)
    keep[:, 0] |= ids[:, 0] >= 0  # the top contributor of every pixel
    return np.unique(ids[keep]).astype(np.int64)


def crop_camera(camera: Camera, x0: int, y0: int, x1: int, y1: int) -> Camera:
    """The part ``[x0, x1) × [y0, y1)`` (pixels) of ``camera``'s image, as a camera.

    Pixel ``(i, j)`` of the crop is pixel ``(y0 + i, x0 + j)`` of ``camera``.

    Raises
    ------
    ValueError
        For an empty box or one that leaves the image.
    """
    if not (0 <= x0 < x1 <= camera.width and 0 <= y0 < y1 <= camera.height):
        raise ValueError(
            f"crop box x [{x0}, {x1}), y [{y0}, {y1}) must be non-empty and inside the "
            f"{camera.width}x{camera.height} image"
        )
    if (x0, y0, x1, y1) == (0, 0, camera.width, camera.height):
        return camera
    K = camera.K.copy()
    K[0, 2] -= x0
    K[1, 2] -= y0
    return replace(camera, K=K, width=x1 - x0, height=y1 - y0)


# ---------------------------------------------------------------------------- click
def click_select(
    scene: GaussianScene,
    camera: Camera,
    x: float,
    y: float,
    *,
    labels: np.ndarray | None = None,
    segments: np.ndarray | None = None,
    backend: RenderBackend | None = None,
) -> np.ndarray:
    """Select what is under a click: the front Gaussian, its segment or its instance.

    The Gaussian with the largest blending weight at ``(x, y)`` (``backend.pick``) is
    expanded to every Gaussian sharing its id in ``segments`` when given, else to its
    instance in ``labels`` when that is not 0 (unlabeled), else returned alone.

    Parameters
    ----------
    scene
        The Gaussians.
    camera
        The view clicked on.
    x, y
        Continuous pixel position; the centre of pixel ``(i, j)`` is ``(j + 0.5, i + 0.5)``.
    labels : (N,) int, optional
        Instance id per Gaussian (0: unlabeled).
    segments : (N,) int, optional
        Any grouping of the Gaussians (e.g. a codebook's per-Gaussian code).
    backend
        Render backend; None resolves ``"auto"``.

    Returns
    -------
    (M,) int64
        Sorted indices; empty when nothing is under the click or it is outside the image.

    Raises
    ------
    ValueError
        For a non-finite position or ``labels``/``segments`` of the wrong shape.
    """
    x, y = float(x), float(y)
    if not (math.isfinite(x) and math.isfinite(y)):
        raise ValueError(f"x and y must be finite, got ({x}, {y})")
    n = len(scene)
    labels = _check_per_gaussian(labels, n, "labels")
    segments = _check_per_gaussian(segments, n, "segments")
    if not (0 <= x < camera.width and 0 <= y < camera.height):
        return _EMPTY.copy()
    front = _backend(backend).pick(scene, camera, x, y).front
    if front is None:
        return _EMPTY.copy()
    if segments is not None:
        return np.flatnonzero(segments == segments[front]).astype(np.int64)
    if labels is not None and labels[front] != 0:
        return np.flatnonzero(labels == labels[front]).astype(np.int64)
    return np.array([front], dtype=np.int64)


# ---------------------------------------------------------------------------- shapes → masks
def rect_mask(width: int, height: int, x0: float, y0: float, x1: float, y1: float) -> np.ndarray:
    """The pixels whose centre lies in the rectangle with corners ``(x0, y0)``, ``(x1, y1)``.

    Parameters
    ----------
    width, height
        Image size.
    x0, y0, x1, y1
        Opposite corners in continuous pixel coordinates, in any order; the edges
        belong to the rectangle.

    Returns
    -------
    (height, width) bool
    """
    width, height = _check_size(width, height)
    corners = np.array([x0, y0, x1, y1], dtype=np.float64)
    if not np.all(np.isfinite(corners)):
        raise ValueError(f"rectangle corners must be finite, got {corners.tolist()}")
    x_lo, x_hi = sorted((corners[0], corners[2]))
    y_lo, y_hi = sorted((corners[1], corners[3]))
    mask = np.zeros((height, width), dtype=bool)
    # pixel j is in when x_lo <= j + 0.5 <= x_hi
    j0, j1 = _pixel_span(x_lo, x_hi, width)
    i0, i1 = _pixel_span(y_lo, y_hi, height)
    mask[i0:i1, j0:j1] = True
    return mask


def polygon_mask(width: int, height: int, points: np.ndarray) -> np.ndarray:
    """The pixels whose centre lies inside a polygon (a lasso), by the even-odd rule.

    A scanline fill: for each pixel row, the polygon's edges crossing the row's centre
    line (an edge from ``y_a`` to ``y_b`` crosses line ``y`` when
    ``min(y_a, y_b) <= y < max(y_a, y_b)``) toggle inside/outside for the pixels whose
    centre lies strictly right of the crossing. The cost is one pass over the image
    plus one entry per crossing, whatever the number of vertices.

    Parameters
    ----------
    width, height
        Image size.
    points : (M, 2) array
        Vertices ``(x, y)`` in continuous pixel coordinates, M >= 3; the polygon is
        closed from the last vertex back to the first. Vertices may lie outside the image.

    Returns
    -------
    (height, width) bool
    """
    width, height = _check_size(width, height)
    points = _check_points(points, "points", min_count=3)
    xa, ya = points[:, 0], points[:, 1]
    xb, yb = np.roll(xa, -1), np.roll(ya, -1)
    y_lo, y_hi = np.minimum(ya, yb), np.maximum(ya, yb)
    # rows i whose centre line i + 0.5 lies in [y_lo, y_hi)
    first = np.clip(np.ceil(y_lo - 0.5), 0, height).astype(np.int64)
    stop = np.clip(np.ceil(y_hi - 0.5), 0, height).astype(np.int64)
    counts = np.maximum(stop - first, 0)
    edge = np.repeat(np.arange(len(points)), counts)
    offsets = np.cumsum(counts) - counts
    row = first[edge] + (np.arange(edge.size) - offsets[edge])
    t = (row + 0.5 - ya[edge]) / (yb[edge] - ya[edge])
    x_cross = xa[edge] + t * (xb[edge] - xa[edge])
    # first column whose centre j + 0.5 lies strictly right of the crossing
    col = np.clip(np.floor(x_cross - 0.5) + 1, 0, width).astype(np.int64)
    toggles = np.bincount(row * (width + 1) + col, minlength=height * (width + 1))
    parity = np.cumsum(toggles.reshape(height, width + 1)[:, :width], axis=1) & 1
    return parity.astype(bool)


def brush_mask(width: int, height: int, points: np.ndarray, radius: float) -> np.ndarray:
    """The pixels whose centre lies within ``radius`` of a brush stroke.

    The stroke is the polyline through ``points``: the union of discs centred on every
    point of every segment, so a fast drag (points far apart) leaves no gaps.

    Parameters
    ----------
    width, height
        Image size.
    points : (M, 2) array
        Stroke positions ``(x, y)`` in continuous pixel coordinates, M >= 1 (one point
        paints a disc).
    radius
        Brush radius in pixels, > 0.

    Returns
    -------
    (height, width) bool
    """
    width, height = _check_size(width, height)
    points = _check_points(points, "points", min_count=1)
    radius = float(radius)
    if not (math.isfinite(radius) and radius > 0):
        raise ValueError(f"radius must be a positive number of pixels, got {radius}")
    mask = np.zeros((height, width), dtype=bool)
    keep = np.ones(len(points), dtype=bool)
    keep[1:] = np.any(points[1:] != points[:-1], axis=1)  # drop repeated positions
    points = points[keep]
    if len(points) == 1:
        points = np.concatenate([points, points])
    for a, b in itertools.pairwise(points):
        _paint_capsule(mask, a, b, radius)
    return mask


def _paint_capsule(mask: np.ndarray, a: np.ndarray, b: np.ndarray, radius: float) -> None:
    """Set the pixels whose centre lies within ``radius`` of segment ``a``–``b``."""
    height, width = mask.shape
    j0, j1 = _pixel_span(min(a[0], b[0]) - radius, max(a[0], b[0]) + radius, width)
    i0, i1 = _pixel_span(min(a[1], b[1]) - radius, max(a[1], b[1]) + radius, height)
    if j0 >= j1 or i0 >= i1:
        return
    px = np.arange(j0, j1, dtype=np.float64)[None, :] + 0.5 - a[0]
    py = np.arange(i0, i1, dtype=np.float64)[:, None] + 0.5 - a[1]
    dx, dy = b[0] - a[0], b[1] - a[1]
    length_sq = dx * dx + dy * dy
    t = 0.0 if length_sq == 0 else np.clip((px * dx + py * dy) / length_sq, 0.0, 1.0)
    ex, ey = px - t * dx, py - t * dy
    mask[i0:i1, j0:j1] |= ex * ex + ey * ey <= radius * radius


def _pixel_span(lo: float, hi: float, size: int) -> tuple[int, int]:
    """Half-open index range of the pixels ``k`` with ``lo <= k + 0.5 <= hi``, clipped."""
    first = min(max(math.ceil(lo - 0.5), 0), size)
    stop = min(max(math.floor(hi - 0.5) + 1, first), size)
    return first, stop


# ---------------------------------------------------------------------------- set logic
def combine(current: np.ndarray, new: np.ndarray, mode: CombineMode = "replace") -> np.ndarray:
    """Merge a new selection into the current one.

    Parameters
    ----------
    current, new : (M,) int arrays
        Gaussian indices (any order, repeats allowed).
    mode
        ``"replace"`` (just ``new``), ``"add"`` (union), ``"subtract"`` (``current``
        without ``new``) or ``"intersect"``.

    Returns
    -------
    (K,) int64
        Sorted, unique indices.
    """
    if mode not in COMBINE_MODES:
        raise ValueError(f"mode must be one of {', '.join(COMBINE_MODES)}, got {mode!r}")
    current = _check_indices(current, "current")
    new = _check_indices(new, "new")
    if mode == "replace":
        return np.unique(new)
    if mode == "add":
        return np.union1d(current, new)
    if mode == "subtract":
        return np.setdiff1d(current, new)
    return np.intersect1d(current, new)


# ---------------------------------------------------------------------------- graph morphology
def grow(selection: np.ndarray, graph: Graph, steps: int = 1) -> np.ndarray:
    """Add the graph neighbours of the selection, ``steps`` times.

    The kNN graph is taken as undirected: ``j`` neighbours ``i`` when either is among
    the other's k nearest. :func:`shrink` is the dual operation.

    Parameters
    ----------
    selection
        Sorted or unsorted int indices, or an (N,) bool mask.
    graph
        A :class:`~liftstudio.lift.knn_graph.KnnGraph` of the Gaussian centres
        (:func:`~liftstudio.lift.knn_graph.cached_knn_graph`) or an (N, N) sparse
        adjacency matrix (any nonzero is an edge, either direction).
    steps
        Number of dilations, >= 0.

    Returns
    -------
    (M,) int64
        Sorted indices.
    """
    mask, adjacency = _morphology_inputs(selection, graph, steps)
    for _ in range(steps):
        grown = mask | _touching(mask, adjacency)
        if np.array_equal(grown, mask):
            break
        mask = grown
    return np.flatnonzero(mask).astype(np.int64)


def shrink(selection: np.ndarray, graph: Graph, steps: int = 1) -> np.ndarray:
    """Remove the selected Gaussians that have an unselected neighbour, ``steps`` times.

    Neighbours as in :func:`grow` (undirected kNN graph);
    ``shrink(S) == complement(grow(complement(S)))``.

    Parameters
    ----------
    selection
        Int indices or an (N,) bool mask.
    graph
        As for :func:`grow`.
    steps
        Number of erosions, >= 0.

    Returns
    -------
    (M,) int64
        Sorted indices.
    """
    mask, adjacency = _morphology_inputs(selection, graph, steps)
    for _ in range(steps):
        shrunk = mask & ~_touching(~mask, adjacency)
        if np.array_equal(shrunk, mask):
            break
        mask = shrunk
    return np.flatnonzero(mask).astype(np.int64)


def _morphology_inputs(
    selection: np.ndarray, graph: Graph, steps: int
) -> tuple[np.ndarray, np.ndarray | sparse.csr_array]:
    """Validate and return the selection mask and the neighbours (array or CSR)."""
    if isinstance(steps, bool) or int(steps) != steps or steps < 0:
        raise ValueError(f"steps must be a non-negative integer, got {steps!r}")
    if isinstance(graph, KnnGraph):
        adjacency: np.ndarray | sparse.csr_array = graph.neighbors
        n = graph.num_nodes
    elif sparse.issparse(graph):
        if graph.shape[0] != graph.shape[1]:
            raise ValueError(f"graph adjacency must be square, got shape {graph.shape}")
        adjacency = sparse.csr_array(graph)
        n = graph.shape[0]
    else:
        raise ValueError(
            f"graph must be a KnnGraph or a sparse adjacency matrix, got {type(graph).__name__}"
        )
    return _selection_mask(selection, n), adjacency


def _touching(mask: np.ndarray, adjacency: np.ndarray | sparse.csr_array) -> np.ndarray:
    """Nodes with an edge (either direction) to a node of ``mask``."""
    if isinstance(adjacency, np.ndarray):  # (N, k) neighbour lists
        out = mask[adjacency].any(axis=1)
        out[adjacency[mask].ravel()] = True
        return out
    weights = mask.astype(np.float32)
    return ((adjacency @ weights) != 0) | ((adjacency.T @ weights) != 0)


# ---------------------------------------------------------------------------- ranges
def select_by_range(values: np.ndarray, lo: float, hi: float) -> np.ndarray:
    """Indices of the values in ``[lo, hi]`` (NaN is never selected).

    Parameters
    ----------
    values : (N,) array
        A per-Gaussian quantity (e.g. :func:`gaussian_sizes`, :func:`opacities`).
    lo, hi
        Inclusive bounds, ``lo <= hi``; ±inf are allowed.

    Returns
    -------
    (M,) int64
        Sorted indices.
    """
    values = np.asarray(values)
    if values.ndim != 1:
        raise ValueError(f"values must be a 1-D per-Gaussian array, got shape {values.shape}")
    lo, hi = float(lo), float(hi)
    if math.isnan(lo) or math.isnan(hi) or lo > hi:
        raise ValueError(f"lo and hi must be numbers with lo <= hi, got lo={lo}, hi={hi}")
    return np.flatnonzero((values >= lo) & (values <= hi)).astype(np.int64)


def gaussian_sizes(scene: GaussianScene, *, measure: SizeMeasure = "max") -> np.ndarray:
    """Each Gaussian's size in world units, from its activated scales.

    Parameters
    ----------
    scene
        The Gaussians.
    measure
        ``"max"``: the largest standard deviation; ``"geomean"``: the geometric mean
        of the three (the radius of the sphere of equal volume).

    Returns
    -------
    (N,) float32
    """
    if measure not in SIZE_MEASURES:
        raise ValueError(f"measure must be one of {', '.join(SIZE_MEASURES)}, got {measure!r}")
    log_scales = np.asarray(scene.log_scales, dtype=np.float32)
    if measure == "max":
        return np.exp(log_scales.max(axis=1, initial=-np.inf))
    return np.exp(log_scales.mean(axis=1, dtype=np.float64)).astype(np.float32)


def opacities(scene: GaussianScene) -> np.ndarray:
    """Each Gaussian's activated opacity (N,) float32, in ``[0, 1]``."""
    return np.asarray(scene.opacities, dtype=np.float32)


# ---------------------------------------------------------------------------- validation
def _backend(backend: RenderBackend | None) -> RenderBackend:
    if backend is not None:
        return backend
    from liftstudio.render.registry import resolve_backend

    return resolve_backend("auto")


def _check_mask(mask: np.ndarray) -> np.ndarray:
    mask = np.asarray(mask)
    if mask.ndim != 2 or mask.shape[0] == 0 or mask.shape[1] == 0:
        raise ValueError(f"mask must be a non-empty (H, W) array, got shape {mask.shape}")
    return mask if mask.dtype == bool else mask != 0


def _check_size(width: int, height: int) -> tuple[int, int]:
    if int(width) != width or int(height) != height or width <= 0 or height <= 0:
        raise ValueError(f"width and height must be positive integers, got {width}x{height}")
    return int(width), int(height)


def _check_points(points: np.ndarray, name: str, *, min_count: int) -> np.ndarray:
    points = np.asarray(points, dtype=np.float64)
    if points.ndim != 2 or points.shape[1] != 2 or points.shape[0] < min_count:
        raise ValueError(
            f"{name} must be an (M, 2) array of (x, y) positions with M >= {min_count}, "
            f"got shape {points.shape}"
        )
    if not np.all(np.isfinite(points)):
        raise ValueError(f"{name} must be finite")
    return points


def _check_indices(indices: np.ndarray, name: str) -> np.ndarray:
    indices = np.asarray(indices)
    if indices.size == 0:
        return _EMPTY.copy()
    if indices.ndim != 1 or not np.issubdtype(indices.dtype, np.integer):
        raise ValueError(
            f"{name} must be a 1-D integer index array, got shape {indices.shape} "
            f"dtype {indices.dtype}"
        )
    return indices.astype(np.int64, copy=False)


def _check_per_gaussian(values: np.ndarray | None, n: int, name: str) -> np.ndarray | None:
    if values is None:
        return None
    values = np.asarray(values)
    if values.shape != (n,):
        raise ValueError(f"{name} must have one value per Gaussian ({n},), got {values.shape}")
    return values


def _selection_mask(selection: np.ndarray, n: int) -> np.ndarray:
    """An (N,) bool mask from an index array or a mask."""
    selection = np.asarray(selection)
    if selection.dtype == bool:
        if selection.shape != (n,):
            raise ValueError(
                f"a boolean selection must have one entry per node ({n},), got {selection.shape}"
            )
        return selection.copy()
    indices = _check_indices(selection, "selection")
    if indices.size and (indices.min() < 0 or indices.max() >= n):
        raise ValueError(f"selection indices must lie in [0, {n})")
    mask = np.zeros(n, dtype=bool)
    mask[indices] = True
    return mask
