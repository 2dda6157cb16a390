"""What the render backends return: images, uplift sums, operator rows, picks."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True)
class RenderResult:
    """One rendered view.

    Attributes
    ----------
    alpha : (H, W) float32
        Accumulated opacity ``Σ w_i`` with ``w_i = α_i T_i``.
    depth : (H, W) float32
        Expected depth ``Σ w_i z_i / Σ w_i`` (camera-space z of each Gaussian's centre);
        0 where nothing was rendered.
    rgb : (H, W, 3) float32 or None
        View-dependent colour composited over the background (when requested).
    features : (H, W, C) float32 or None
        ``Σ w_i X_i`` for the per-Gaussian features ``X`` (when given); no background.
    """

    alpha: np.ndarray
    depth: np.ndarray
    rgb: np.ndarray | None = None
    features: np.ndarray | None = None


@dataclass(frozen=True)
class UpliftResult:
    """``Σ_v W_vᵀ F_v`` and ``β = Σ_v W_vᵀ 1`` over a set of views.

    Attributes
    ----------
    weighted_sum : (N, C) float32
        Per-Gaussian sum of the maps' values weighted by the Gaussian's blending weights.
    beta : (N,) float32
        Per-Gaussian total blending weight over all views (its total visibility).
    """

    weighted_sum: np.ndarray
    beta: np.ndarray

    @property
    def visible(self) -> np.ndarray:
        """Boolean (N,) mask of Gaussians that received any weight."""
        return self.beta > 0

    def mean(self) -> np.ndarray:
        """The uplifted maps ``D⁻¹ Σ_v W_vᵀ F_v`` (N, C); zero for never-seen Gaussians."""
        out = np.zeros_like(self.weighted_sum)
        seen = self.visible
        out[seen] = self.weighted_sum[seen] / self.beta[seen, None]
        return out


@dataclass(frozen=True)
class OperatorRows:
    """The top-K entries of each row of one view's render operator ``W_v``.

    Attributes
    ----------
    ids : (H, W, K) int32
        Gaussian ids per pixel, largest weight first; -1 pads pixels with fewer than K.
    weights : (H, W, K) float16 or float32
        Their blending weights ``α_i T_i``; 0 where ``ids`` is -1.
    residual : (H, W) float32
        Weight mass of the Gaussians left out (``alpha - Σ kept weights``).
    """

    ids: np.ndarray
    weights: np.ndarray
    residual: np.ndarray

    @property
    def height(self) -> int:
        """Rows of the image."""
        return int(self.ids.shape[0])

    @property
    def width(self) -> int:
        """Columns of the image."""
        return int(self.ids.shape[1])

    @property
    def top_k(self) -> int:
        """Entries kept per pixel."""
        return int(self.ids.shape[2])

    @property
    def nbytes(self) -> int:
        """Memory used by the three arrays."""
        return int(self.ids.nbytes + self.weights.nbytes + self.residual.nbytes)

    @property
    def bytes_per_pixel(self) -> float:
        """Memory per pixel."""
        return self.nbytes / (self.height * self.width)

    def apply(self, values: np.ndarray) -> np.ndarray:
        """Render per-Gaussian ``values`` (N, C) through the kept rows: (H, W, C)."""
        values = np.asarray(values, dtype=np.float32)
        if values.ndim == 1:
            values = values[:, None]
        valid = self.ids >= 0
        gathered = values[np.where(valid, self.ids, 0)]
        weights = np.where(valid, self.weights, 0).astype(np.float32)
        return np.einsum("hwk,hwkc->hwc", weights, gathered)

    def transpose_apply(self, maps: np.ndarray, num_gaussians: int) -> np.ndarray:
        """``W_vᵀ F`` for a map ``F`` (H, W) or (H, W, C) through the kept rows: (N, C)."""
        maps = np.asarray(maps, dtype=np.float64)
        if maps.ndim == 2:
            maps = maps[..., None]
        if maps.shape[:2] != (self.height, self.width):
            raise ValueError(
                f"map of size {maps.shape[1]}x{maps.shape[0]} does not match the operator's "
                f"{self.width}x{self.height}"
            )
        valid = self.ids >= 0
        ids = self.ids[valid]
        contrib = (
            self.weights[valid].astype(np.float64)[:, None]
            * np.broadcast_to(maps[:, :, None, :], (*self.ids.shape, maps.shape[2]))[valid]
        )
        out = np.zeros((num_gaussians, maps.shape[2]), dtype=np.float64)
        np.add.at(out, ids, contrib)
        return out.astype(np.float32)


@dataclass(frozen=True)
class PickResult:
    """The Gaussians under one pixel, front to back.

    Attributes
    ----------
    ids : (M,) int32
        Gaussian ids in compositing order.
    weights : (M,) float32
        Their blending weights ``α_i T_i`` at that pixel.
    depths : (M,) float32
        Their camera-space depths.
    """

    ids: np.ndarray
    weights: np.ndarray
    depths: np.ndarray

    @property
    def front(self) -> int | None:
        """The id with the largest weight, or None when nothing is under the pixel."""
        if len(self.ids) == 0:
            return None
        return int(self.ids[np.argmax(self.weights)])
