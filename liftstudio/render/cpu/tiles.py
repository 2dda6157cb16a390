"""Binning projected Gaussians into screen tiles, depth-ordered within each tile.

Gaussians are sorted once by depth; each emits one entry per tile its exact
footprint ellipse reaches (an ellipse–rectangle test on the tile's pixel centres,
not the bounding box); a stable counting sort by tile then leaves every tile's
entries in depth order without sorting per tile.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numba
import numpy as np

from liftstudio.render.cpu.projection import Projected

TILE_SIZE = 16


@dataclass(frozen=True)
class TileBins:
    """Entries of every tile, front to back.

    Attributes
    ----------
    tile_start : (num_tiles + 1,) int64
        Entries of tile ``t`` are ``entry_gaussian[tile_start[t]:tile_start[t + 1]]``.
    entry_gaussian : (E,) int32
        Gaussian id of each entry.
    tiles_x, tiles_y
        Tile grid size.
    """

    tile_start: np.ndarray
    entry_gaussian: np.ndarray
    tiles_x: int
    tiles_y: int

    @property
    def num_entries(self) -> int:
        """Total number of (tile, Gaussian) entries."""
        return int(self.entry_gaussian.shape[0])


@numba.njit(cache=True, inline="always")
def _min_q_on_segment(fixed, lo, hi, a_fixed, b, c_free):
    """Minimum over t in [lo, hi] of a_fixed·fixed² + 2b·fixed·t + c_free·t²."""
    t = -b * fixed / c_free
    t = min(hi, max(lo, t))
    return a_fixed * fixed * fixed + 2.0 * b * fixed * t + c_free * t * t


@numba.njit(cache=True, nogil=True)
def ellipse_touches_rect(mx, my, conic_a, conic_b, conic_c, qmax, x_lo, x_hi, y_lo, y_hi):
    """Whether ``dᵀ Σ⁻¹ d <= qmax`` holds somewhere in ``[x_lo, x_hi] × [y_lo, y_hi]``.

    The minimum of a positive definite quadratic over a rectangle is 0 when the centre
    is inside, else it lies on one of the four edges, each a clamped 1D minimum.
    """
    ax, bx = x_lo - mx, x_hi - mx
    ay, by = y_lo - my, y_hi - my
    if ax <= 0.0 <= bx and ay <= 0.0 <= by:
        return True
    best = _min_q_on_segment(ax, ay, by, conic_a, conic_b, conic_c)
    best = min(best, _min_q_on_segment(bx, ay, by, conic_a, conic_b, conic_c))
    best = min(best, _min_q_on_segment(ay, ax, bx, conic_c, conic_b, conic_a))
    best = min(best, _min_q_on_segment(by, ax, bx, conic_c, conic_b, conic_a))
    return best <= qmax


@numba.njit(parallel=True, cache=True, nogil=True)
def _count_or_emit(mean2d, conic, qmax, box, tile_size, tiles_x, offsets, emit_tile):
    """Count the tiles each Gaussian's ellipse reaches, or (``emit_tile`` non-empty) list them.

    Runs in Gaussian index order so every per-Gaussian array is read sequentially;
    invisible Gaussians (empty box) reach no tile.
    """
    emit = emit_tile.shape[0] > 0
    counts = np.zeros(box.shape[0], dtype=np.int64)
    for g in numba.prange(box.shape[0]):
        if box[g, 0] >= box[g, 1] or box[g, 2] >= box[g, 3]:
            continue
        tx0 = box[g, 0] // tile_size
        tx1 = (box[g, 1] - 1) // tile_size + 1
        ty0 = box[g, 2] // tile_size
        ty1 = (box[g, 3] - 1) // tile_size + 1
        single = (tx1 - tx0) * (ty1 - ty0) == 1
        n = 0
        for ty in range(ty0, ty1):
            for tx in range(tx0, tx1):
                # Pixel centres of the tile span [tx·s + 0.5, (tx+1)·s - 0.5].
                if single or ellipse_touches_rect(
                    mean2d[g, 0], mean2d[g, 1], conic[g, 0], conic[g, 1], conic[g, 2],
                    qmax[g] * 1.0001 + 1e-6,
                    tx * tile_size + 0.5, (tx + 1) * tile_size - 0.5,
                    ty * tile_size + 0.5, (ty + 1) * tile_size - 0.5,
                ):  # fmt: skip
                    if emit:
                        emit_tile[offsets[g] + n] = ty * tiles_x + tx
                    n += 1
        counts[g] = n
    return counts


@numba.njit(cache=True, nogil=True)
def _scatter_in_depth_order(order, offsets, emit_tile, num_tiles):
    """Stable counting sort of the entries by tile, Gaussians taken front to back."""
    tile_start = np.zeros(num_tiles + 1, dtype=np.int64)
    for e in range(emit_tile.shape[0]):
        tile_start[emit_tile[e] + 1] += 1
    for t in range(num_tiles):
        tile_start[t + 1] += tile_start[t]
    cursor = tile_start[:-1].copy()
    entry_gaussian = np.empty(emit_tile.shape[0], dtype=np.int32)
    for k in range(order.shape[0]):
        g = order[k]
        for e in range(offsets[g], offsets[g + 1]):
            t = emit_tile[e]
            entry_gaussian[cursor[t]] = g
            cursor[t] += 1
    return tile_start, entry_gaussian


def bin_tiles(
    projected: Projected, width: int, height: int, tile_size: int = TILE_SIZE
) -> TileBins:
    """Bin the visible Gaussians of ``projected`` into ``tile_size`` tiles, front to back.

    Ties in depth keep the Gaussians' index order (a stable sort), as the reference does.
    """
    tiles_x = math.ceil(width / tile_size)
    tiles_y = math.ceil(height / tile_size)
    args = (projected.mean2d, projected.conic, projected.qmax, projected.box, tile_size, tiles_x)
    counts = _count_or_emit(*args, np.zeros(1, dtype=np.int64), np.zeros(0, dtype=np.int32))
    offsets = np.zeros(counts.shape[0] + 1, dtype=np.int64)
    np.cumsum(counts, out=offsets[1:])
    emit_tile = np.empty(int(offsets[-1]), dtype=np.int32)
    if emit_tile.shape[0] > 0:
        _count_or_emit(*args, offsets, emit_tile)
    visible = np.flatnonzero(counts).astype(np.int32)
    # Depths of visible Gaussians are > near_plane > 0, and positive float64 values
    # order like their bit patterns: a stable uint64 sort is faster than a float one.
    keys = np.ascontiguousarray(projected.depth[visible]).view(np.uint64)
    order = visible[np.argsort(keys, kind="stable")]
    tile_start, entry_gaussian = _scatter_in_depth_order(
        order, offsets, emit_tile, tiles_x * tiles_y
    )
    return TileBins(tile_start, entry_gaussian, tiles_x, tiles_y)
