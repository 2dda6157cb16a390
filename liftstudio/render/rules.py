"""The rasterization rules every backend states it follows.

A 3DGS rasterizer is defined by a handful of constants (DESIGN §3). LiftStudio's own
backends (``reference`` and ``cpu``) take them from a :class:`RasterRules` value so that
tests compare like with like, and so that the CPU renderer can reproduce gsplat's
choices when it is compared with gsplat's golden images.

The per-pixel rule, the same in every backend that takes a :class:`RasterRules`:

- the 2D covariance is the EWA projection of the 3D covariance (the Jacobian's
  ``x/z`` and ``y/z`` clamped to the field of view plus ``clamp_margin`` of the image
  width/height, as both INRIA and gsplat do) plus ``cov2d_dilation`` px² on its
  diagonal;
- at pixel centre ``p`` (pixel ``(i, j)`` has centre ``(j + 0.5, i + 0.5)``) with
  ``d = p - mean2d`` the Gaussian's alpha is
  ``min(alpha_max, opacity * exp(-0.5 * dᵀ Σ⁻¹ d))``;
- it contributes only when ``dᵀ Σ⁻¹ d <= footprint_sigmas²`` and ``alpha >= min_alpha``;
- contributions are composited front to back by camera-space depth of the Gaussian's
  centre; before adding a Gaussian, if ``T * (1 - alpha) < transmittance_stop`` the
  pixel is finished and that Gaussian is *not* added (INRIA and gsplat agree);
- Gaussians with camera depth outside ``(near_plane, far_plane)`` are culled.

The INRIA CUDA rasterizer applies its 3σ radius to whole 16×16 tiles (a Gaussian
is evaluated at every pixel of a tile its radius circle touches), so its images
depend on the tile grid. LiftStudio makes the footprint exact and tile-independent:
a Gaussian contributes inside its ``footprint_sigmas`` ellipse and nowhere else.
gsplat bins with a 3.33σ box and then only tests ``alpha >= 1/255``, which for
opacity ≤ 1 already implies ``dᵀ Σ⁻¹ d ≤ 2 ln 255 < 3.33²``: its rule is the ellipse
rule with ``footprint_sigmas = 3.33`` (see :data:`GSPLAT_RULES`).
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class RasterRules:
    """Constants of the per-pixel compositing rule (see the module docstring).

    Parameters
    ----------
    name
        Short name used in reports and cache keys.
    cov2d_dilation
        Added to both diagonal entries of the 2D covariance, in px².
    footprint_sigmas
        A Gaussian contributes only inside the ellipse ``dᵀ Σ⁻¹ d <= footprint_sigmas²``.
    alpha_max
        Upper clamp of a single contribution's alpha.
    min_alpha
        Contributions with a smaller alpha are skipped.
    transmittance_stop
        A pixel stops accepting Gaussians when its transmittance would drop below this.
    near_plane, far_plane
        Camera-space depth range of Gaussian centres that are rendered.
    clamp_margin
        The Jacobian of the projection is evaluated at ``x/z`` clamped to
        ``[-(cx/fx + m*W/fx), (W-cx)/fx + m*W/fx]`` (likewise for y), ``m = clamp_margin``.
        INRIA's ``1.3 * tan(fov/2)`` equals ``m = 0.15`` for a centred principal point;
        gsplat uses ``m = 0.3``.
    """

    name: str = "inria"
    cov2d_dilation: float = 0.3
    footprint_sigmas: float = 3.0
    alpha_max: float = 0.99
    min_alpha: float = 1.0 / 255.0
    transmittance_stop: float = 1e-4
    near_plane: float = 0.01
    far_plane: float = 1e10
    clamp_margin: float = 0.15

    def __post_init__(self) -> None:
        problems = []
        if not 0.0 < self.near_plane < self.far_plane:
            problems.append("need 0 < near_plane < far_plane")
        if not (0.0 <= self.min_alpha <= 1.0 and 0.0 < self.alpha_max <= 1.0):
            problems.append("need min_alpha in [0, 1] and alpha_max in (0, 1]")
        if not 0.0 <= self.transmittance_stop < 1.0:
            problems.append("need 0 <= transmittance_stop < 1")
        if self.footprint_sigmas <= 0.0 or self.cov2d_dilation < 0.0 or self.clamp_margin < 0.0:
            problems.append("need footprint_sigmas > 0, cov2d_dilation >= 0, clamp_margin >= 0")
        if problems:
            raise ValueError(f"invalid raster rules {self.name!r}: {'; '.join(problems)}")

    def cache_key(self) -> str:
        """A string that changes whenever any constant changes."""
        return (
            f"{self.name}:{self.cov2d_dilation!r}:{self.footprint_sigmas!r}:{self.alpha_max!r}:"
            f"{self.min_alpha!r}:{self.transmittance_stop!r}:{self.near_plane!r}:"
            f"{self.far_plane!r}:{self.clamp_margin!r}"
        )


INRIA_RULES = RasterRules()
"""The INRIA 3DGS constants with an exact 3σ elliptical footprint (LiftStudio's default)."""

GSPLAT_RULES = RasterRules(name="gsplat", footprint_sigmas=3.33, alpha_max=0.999, clamp_margin=0.3)
"""gsplat 1.x's constants (``rasterization(..., eps2d=0.3, packed=False)``)."""
