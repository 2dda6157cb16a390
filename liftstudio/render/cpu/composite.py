"""Front-to-back compositing of binned Gaussians, one tile per task, in numba.

One kernel serves the three products of the render operator ``W`` (DESIGN §4):

- ``MODE_RENDER``: ``F = W X`` for per-Gaussian values ``X`` (colour, depth, features);
- ``MODE_TRANSPOSE``: ``Wᵀ F`` for a per-pixel map ``F``, written per tile entry and
  summed per Gaussian afterwards (no two threads write the same memory, so results do
  not depend on the thread count);
- ``MODE_TOPK``: the K largest weights of each row of ``W``.

Inside a tile the loop runs over the tile's Gaussians front to back, and for each
over exactly the pixels its footprint ellipse covers (solved per row), so no pixel is
tested against a Gaussian that cannot reach it. A tile stops once all its pixels are
saturated (transmittance below the stop value).
"""

from __future__ import annotations

import math

import numba
import numpy as np

MODE_RENDER = 0
MODE_TRANSPOSE = 1
MODE_TOPK = 2

_SPAN_SLACK = 1e-3  # px; the per-pixel test decides, the span only has to contain it


@numba.njit(parallel=True, cache=True, nogil=True)
def composite_tiles(
    mode, width, height, tile_size, tiles_x, tile_start, entry_gaussian,
    mean2d, conic, qmax, opacities, box, alpha_max, transmittance_stop,
    values, out_values, out_transmittance, out_counts, out_entry_values, out_entry_weight,
    top_ids, top_weights, top_order,
):  # fmt: skip
    """Composite every tile; see the module docstring for the modes.

    Parameters
    ----------
    values
        ``(N, C)`` per-Gaussian values (render) or ``(H·W, C)`` per-pixel map (transpose).
    out_values : (H·W, C)
        Render output ``Σ w X``.
    out_transmittance : (H·W,)
        Final transmittance of every pixel (all modes).
    out_counts : (H·W,)
        Number of Gaussians composited into every pixel (all modes).
    out_entry_values : (E, C), out_entry_weight : (E,)
        Transpose output per tile entry: ``Σ_p w F_p`` and ``Σ_p w``.
    top_ids, top_weights, top_order : (H·W, K)
        Top-K output; ``top_order`` is the compositing position (for stable ties).
    """
    num_tiles = tile_start.shape[0] - 1
    channels = values.shape[1]
    top_k = top_ids.shape[1]
    for tile in numba.prange(num_tiles):
        x_origin = (tile % tiles_x) * tile_size
        y_origin = (tile // tiles_x) * tile_size
        x_end = min(x_origin + tile_size, width)
        y_end = min(y_origin + tile_size, height)
        tile_w = x_end - x_origin
        num_px = tile_w * (y_end - y_origin)
        trans = np.ones(num_px, dtype=np.float64)
        done = np.zeros(num_px, dtype=np.bool_)
        counts = np.zeros(num_px, dtype=np.int32)
        acc = np.zeros((num_px if mode == MODE_RENDER else 0, channels), dtype=np.float32)
        active = num_px
        for e in range(tile_start[tile], tile_start[tile + 1]):
            g = entry_gaussian[e]
            mx = mean2d[g, 0]
            my = mean2d[g, 1]
            ca = conic[g, 0]
            cb = conic[g, 1]
            cc = conic[g, 2]
            qm = qmax[g]
            opacity = opacities[g]
            row_lo = max(box[g, 2], y_origin)
            row_hi = min(box[g, 3], y_end)
            col_lo = max(box[g, 0], x_origin)
            col_hi = min(box[g, 1], x_end)
            entry_weight = 0.0
            for row in range(row_lo, row_hi):
                dy = row + 0.5 - my
                # Columns where ca·dx² + 2cb·dx·dy + cc·dy² <= qm.
                disc = cb * cb * dy * dy - ca * (cc * dy * dy - qm)
                if disc < 0.0:
                    continue
                root = math.sqrt(disc)
                centre = mx - cb * dy / ca - 0.5
                first = max(col_lo, math.ceil(centre - root / ca - _SPAN_SLACK))
                last = min(col_hi, math.floor(centre + root / ca + _SPAN_SLACK) + 1)
                base = (row - y_origin) * tile_w - x_origin
                for col in range(first, last):
                    li = base + col
                    if done[li]:
                        continue
                    dx = col + 0.5 - mx
                    q = ca * dx * dx + 2 * cb * dx * dy + cc * dy * dy
                    if q > qm:
                        continue
                    alpha = min(alpha_max, opacity * math.exp(-0.5 * q))
                    t = trans[li]
                    next_t = t * (1.0 - alpha)
                    if next_t < transmittance_stop:
                        done[li] = True
                        active -= 1
                        continue
                    weight = alpha * t
                    trans[li] = next_t
                    if mode == MODE_RENDER:
                        for ch in range(channels):
                            acc[li, ch] += weight * values[g, ch]
                    elif mode == MODE_TRANSPOSE:
                        pixel = row * width + col
                        for ch in range(channels):
                            out_entry_values[e, ch] += weight * values[pixel, ch]
                        entry_weight += weight
                    elif top_k > 0:
                        pixel = row * width + col
                        _keep_top(top_ids, top_weights, top_order, pixel, counts[li], g, weight,
                                  top_k)  # fmt: skip
                    counts[li] += 1
            if mode == MODE_TRANSPOSE:
                out_entry_weight[e] = entry_weight
            if active == 0:
                break
        for li in range(num_px):
            pixel = (y_origin + li // tile_w) * width + x_origin + li % tile_w
            out_transmittance[pixel] = trans[li]
            out_counts[pixel] = counts[li]
            if mode == MODE_RENDER:
                for ch in range(channels):
                    out_values[pixel, ch] = acc[li, ch]


@numba.njit(cache=True, inline="always")
def _keep_top(top_ids, top_weights, top_order, pixel, position, gaussian, weight, top_k):
    """Insert a contribution into the pixel's top-K (ties: the earlier one stays)."""
    if position < top_k:
        top_ids[pixel, position] = gaussian
        top_weights[pixel, position] = weight
        top_order[pixel, position] = position
        return
    # Find the weakest kept entry (on equal weights, the latest composited).
    weakest = 0
    for k in range(1, top_k):
        w = top_weights[pixel, k]
        if w < top_weights[pixel, weakest] or (
            w == top_weights[pixel, weakest] and top_order[pixel, k] > top_order[pixel, weakest]
        ):
            weakest = k
    if weight > top_weights[pixel, weakest]:
        top_ids[pixel, weakest] = gaussian
        top_weights[pixel, weakest] = weight
        top_order[pixel, weakest] = position


@numba.njit(cache=True, inline="always")
def _insertion_sort_pixel(top_ids, top_weights, top_order, pixel, n):
    for i in range(1, n):
        w, o, g = top_weights[pixel, i], top_order[pixel, i], top_ids[pixel, i]
        j = i - 1
        while j >= 0 and (
            top_weights[pixel, j] < w or (top_weights[pixel, j] == w and top_order[pixel, j] > o)
        ):
            top_weights[pixel, j + 1] = top_weights[pixel, j]
            top_order[pixel, j + 1] = top_order[pixel, j]
            top_ids[pixel, j + 1] = top_ids[pixel, j]
            j -= 1
        top_weights[pixel, j + 1] = w
        top_order[pixel, j + 1] = o
        top_ids[pixel, j + 1] = g


@numba.njit(parallel=True, cache=True, nogil=True)
def finish_top(top_ids, top_weights, top_order, counts, transmittance, residual):
    """Sort each pixel's kept entries (largest weight first) and write its residual.

    Ties keep compositing order; ``residual`` gets the weight mass left out,
    ``(1 - T) - Σ kept``. Only the first ``min(count, K)`` slots of a pixel are
    filled; the rest is padding.
    """
    top_k = top_ids.shape[1]
    for pixel in numba.prange(top_ids.shape[0]):
        n = min(counts[pixel], top_k)
        if n == 0:
            residual[pixel] = 0.0
            continue
        if n <= 32:
            _insertion_sort_pixel(top_ids, top_weights, top_order, pixel, n)
        else:
            # Stable sort by compositing order, then a stable sort by descending weight.
            by_order = np.argsort(top_order[pixel, :n], kind="mergesort")
            weights = top_weights[pixel, :n][by_order]
            by_weight = by_order[np.argsort(-weights, kind="mergesort")]
            ids = top_ids[pixel, :n][by_weight]
            order = top_order[pixel, :n][by_weight]
            weights = top_weights[pixel, :n][by_weight]
            for k in range(n):
                top_ids[pixel, k] = ids[k]
                top_order[pixel, k] = order[k]
                top_weights[pixel, k] = weights[k]
        kept = 0.0
        for k in range(n):
            kept += top_weights[pixel, k]
        residual[pixel] = max((1.0 - transmittance[pixel]) - kept, 0.0)


@numba.njit(cache=True, nogil=True)
def sum_entries_per_gaussian(entry_gaussian, entry_values, entry_weight, out_values, out_weight):
    """Add each tile entry's partial ``Wᵀ F`` and ``Wᵀ 1`` to its Gaussian (float64 sums)."""
    channels = entry_values.shape[1]
    for e in range(entry_gaussian.shape[0]):
        g = entry_gaussian[e]
        out_weight[g] += entry_weight[e]
        for ch in range(channels):
            out_values[g, ch] += entry_values[e, ch]
