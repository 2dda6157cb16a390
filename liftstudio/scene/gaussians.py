"""The Gaussians of a trained 3DGS scene: :class:`GaussianScene`.

Raw values are stored as the INRIA PLY keeps them (log scales, opacity logits,
unnormalised w-first quaternions) so that load → save is lossless; activated values
(``scales``, ``opacities``, ``quats``) are computed on access. Every per-Gaussian
column a file carries beyond the 3DGS ones lives in ``extras`` and is written back
untouched.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Literal

import numpy as np

from liftstudio.errors import SceneDataError
from liftstudio.scene.rotations import is_rotation_matrix, matrix_to_quat, quat_multiply
from liftstudio.scene.sh import SH_C0, num_sh_coeffs, sh_degree_from_coeffs, sh_rotation_matrices

OnInvalid = Literal["error", "drop"]

#: Names of the 3DGS columns in the order the INRIA code writes them.
POSITION_COLUMNS = ("x", "y", "z")
NORMAL_COLUMNS = ("nx", "ny", "nz")
DC_COLUMNS = ("f_dc_0", "f_dc_1", "f_dc_2")
OPACITY_COLUMN = "opacity"
SCALE_COLUMNS = ("scale_0", "scale_1", "scale_2")
ROTATION_COLUMNS = ("rot_0", "rot_1", "rot_2", "rot_3")


def rest_columns(sh_degree: int) -> tuple[str, ...]:
    """Names of the ``f_rest_*`` columns for an SH degree (channel-major layout)."""
    return tuple(f"f_rest_{i}" for i in range(3 * (num_sh_coeffs(sh_degree) - 1)))


def _float32(name: str, array: np.ndarray, shape: tuple[int | None, ...]) -> np.ndarray:
    array = np.asarray(array)
    if not np.issubdtype(array.dtype, np.number):
        raise SceneDataError(f"{name} must be numeric, got dtype {array.dtype}")
    array = array.astype(np.float32, copy=False)
    expected = tuple(array.shape[i] if s is None else s for i, s in enumerate(shape))
    if array.ndim != len(shape) or array.shape != expected:
        pretty = "(" + ", ".join("N" if s is None else str(s) for s in shape) + ")"
        raise SceneDataError(f"{name} must have shape {pretty}, got {array.shape}")
    return array


@dataclass(eq=False)
class GaussianScene:
    """Trained 3D Gaussians, stored as raw (PLY) values.

    Parameters
    ----------
    means : (N, 3) float32
        Centres in world coordinates.
    raw_quats : (N, 4) float32
        Rotations as stored in the PLY: w, x, y, z, not necessarily unit length.
    log_scales : (N, 3) float32
        Natural log of the per-axis standard deviations.
    logit_opacities : (N,) float32
        Opacity before the sigmoid. ±inf is allowed (opacity exactly 1 or 0: PlayCanvas
        ``splat-transform`` writes such values); NaN is not.
    sh : (N, K, 3) float32
        SH coefficients, ``K = (degree+1)²``; ``sh[:, 0]`` is ``f_dc``.
    normals : (N, 3) float32 or None
        The ``nx, ny, nz`` columns when the file has them (3DGS writes zeros).
    extras : dict of str to (N,) arrays
        Every other per-Gaussian column, any numeric dtype, kept bit-exactly.

    Raises
    ------
    SceneDataError
        On wrong shapes, NaN or infinite values, or zero quaternions.
    """

    means: np.ndarray
    raw_quats: np.ndarray
    log_scales: np.ndarray
    logit_opacities: np.ndarray
    sh: np.ndarray
    normals: np.ndarray | None = None
    extras: dict[str, np.ndarray] = field(default_factory=dict)

    def __post_init__(self) -> None:
        self.means = _float32("means", self.means, (None, 3))
        n = self.means.shape[0]
        self.raw_quats = _float32("raw_quats", self.raw_quats, (n, 4))
        self.log_scales = _float32("log_scales", self.log_scales, (n, 3))
        self.logit_opacities = _float32("logit_opacities", self.logit_opacities, (n,))
        self.sh = _float32("sh", self.sh, (n, None, 3))
        try:
            sh_degree_from_coeffs(self.sh.shape[1])
        except ValueError as exc:
            raise SceneDataError(f"sh: {exc}") from None
        if self.normals is not None:
            self.normals = _float32("normals", self.normals, (n, 3))
        self.extras = dict(self.extras)
        reserved = set(self.core_columns())
        for name, column in self.extras.items():
            column = np.asarray(column)
            if column.shape != (n,):
                raise SceneDataError(
                    f"extra column {name!r} must have shape ({n},), got {column.shape}"
                )
            if name in reserved:
                raise SceneDataError(f"extra column {name!r} clashes with a 3DGS column name")
            self.extras[name] = column
        problems = self.invalid_rows()
        if problems:
            raise SceneDataError(_describe_invalid(problems))

    # ------------------------------------------------------------------ construction
    @classmethod
    def from_columns(cls, *, on_invalid: OnInvalid = "error", **columns) -> GaussianScene:
        """Build a scene, dropping invalid Gaussians when ``on_invalid="drop"``.

        Parameters
        ----------
        on_invalid
            ``"error"`` raises :class:`SceneDataError` naming the first problem;
            ``"drop"`` removes every Gaussian with NaN/inf values or a zero quaternion.
        **columns
            The constructor's arguments.
        """
        if on_invalid not in ("error", "drop"):
            raise ValueError(f"on_invalid must be 'error' or 'drop', got {on_invalid!r}")
        if on_invalid == "drop":
            bad = np.zeros(np.asarray(columns["means"]).shape[0], dtype=bool)
            for _, mask in _invalid_masks(columns):
                bad |= mask
            if bad.any():
                keep = ~bad
                columns = {
                    key: (
                        {k: v[keep] for k, v in value.items()}
                        if key == "extras"
                        else None
                        if value is None
                        else np.asarray(value)[keep]
                    )
                    for key, value in columns.items()
                }
        return cls(**columns)

    # ------------------------------------------------------------------ activated values
    def __len__(self) -> int:
        return self.means.shape[0]

    @property
    def num_gaussians(self) -> int:
        """Number of Gaussians N."""
        return self.means.shape[0]

    @property
    def sh_degree(self) -> int:
        """SH degree 0 to 3."""
        return sh_degree_from_coeffs(self.sh.shape[1])

    @property
    def quats(self) -> np.ndarray:
        """Unit quaternions (N, 4), w, x, y, z."""
        norms = np.linalg.norm(self.raw_quats, axis=1, keepdims=True)
        return self.raw_quats / norms

    @property
    def scales(self) -> np.ndarray:
        """Activated scales (N, 3): ``exp(log_scales)``."""
        return np.exp(self.log_scales)

    @property
    def opacities(self) -> np.ndarray:
        """Activated opacities (N,): ``sigmoid(logit_opacities)``."""
        return (1.0 / (1.0 + np.exp(-self.logit_opacities.astype(np.float64)))).astype(np.float32)

    @property
    def base_colors(self) -> np.ndarray:
        """View-independent RGB (N, 3) from the DC term: ``0.5 + C0·f_dc`` (unclamped)."""
        return 0.5 + SH_C0 * self.sh[:, 0, :]

    # ------------------------------------------------------------------ columns
    def core_columns(self) -> tuple[str, ...]:
        """The 3DGS column names this scene writes, in INRIA order."""
        normals = NORMAL_COLUMNS if self.normals is not None else ()
        return (
            POSITION_COLUMNS
            + normals
            + DC_COLUMNS
            + rest_columns(self.sh_degree)
            + (OPACITY_COLUMN,)
            + SCALE_COLUMNS
            + ROTATION_COLUMNS
        )

    @property
    def columns(self) -> tuple[str, ...]:
        """Every per-Gaussian column name: 3DGS columns, then extras."""
        return self.core_columns() + tuple(self.extras)

    def core_column_arrays(self) -> Iterable[tuple[str, np.ndarray]]:
        """Yield ``(name, (N,) float32 view)`` for each 3DGS column in INRIA order."""
        yield from zip(POSITION_COLUMNS, self.means.T, strict=True)
        if self.normals is not None:
            yield from zip(NORMAL_COLUMNS, self.normals.T, strict=True)
        yield from zip(DC_COLUMNS, self.sh[:, 0, :].T, strict=True)
        rest = self.sh[:, 1:, :]  # (N, K-1, 3) → channel-major f_rest
        names = iter(rest_columns(self.sh_degree))
        for channel in range(3):
            for k in range(rest.shape[1]):
                yield next(names), rest[:, k, channel]
        yield OPACITY_COLUMN, self.logit_opacities
        yield from zip(SCALE_COLUMNS, self.log_scales.T, strict=True)
        yield from zip(ROTATION_COLUMNS, self.raw_quats.T, strict=True)

    # ------------------------------------------------------------------ operations
    def bounding_box(self) -> tuple[np.ndarray, np.ndarray]:
        """Axis-aligned box of the centres: ``(min (3,), max (3,))``.

        Raises
        ------
        SceneDataError
            If the scene is empty.
        """
        if len(self) == 0:
            raise SceneDataError("an empty scene has no bounding box")
        return self.means.min(axis=0), self.means.max(axis=0)

    def subset(self, selection: np.ndarray | Sequence[int]) -> GaussianScene:
        """Return the Gaussians picked by a boolean mask (N,) or integer indices."""
        selection = np.asarray(selection)
        if selection.dtype == bool:
            if selection.shape != (len(self),):
                raise ValueError(
                    f"boolean selection must have shape ({len(self)},), got {selection.shape}"
                )
        elif selection.size and not np.issubdtype(selection.dtype, np.integer):
            raise ValueError(f"selection must be booleans or integers, got {selection.dtype}")
        else:
            selection = selection.astype(np.int64, copy=False)
        return GaussianScene(
            means=self.means[selection],
            raw_quats=self.raw_quats[selection],
            log_scales=self.log_scales[selection],
            logit_opacities=self.logit_opacities[selection],
            sh=self.sh[selection],
            normals=None if self.normals is None else self.normals[selection],
            extras={name: column[selection] for name, column in self.extras.items()},
        )

    def transformed(
        self,
        rotation: np.ndarray | None = None,
        translation: np.ndarray | None = None,
        scale: float = 1.0,
    ) -> GaussianScene:
        """Apply ``x ↦ scale · rotation · x + translation`` to the whole scene.

        Positions, orientations, sizes, normals and view-dependent colour (SH bands
        1-3, rotated exactly) all follow; opacities and extras are unchanged.

        Parameters
        ----------
        rotation : (3, 3) array, optional
            Proper rotation (orthonormal, determinant +1). Reflections are refused
            because they would turn the Gaussians' frames left-handed.
        translation : (3,) array, optional
        scale
            Uniform scale factor, > 0.
        """
        rot = np.eye(3) if rotation is None else np.asarray(rotation, dtype=np.float64)
        if not is_rotation_matrix(rot):
            raise ValueError(
                "rotation must be a proper 3x3 rotation matrix (orthonormal, det +1); "
                "split a mirror or non-uniform scale off before transforming Gaussians"
            )
        shift = np.zeros(3) if translation is None else np.asarray(translation, dtype=np.float64)
        if shift.shape != (3,):
            raise ValueError(f"translation must have shape (3,), got {shift.shape}")
        if not (np.isfinite(scale) and scale > 0):
            raise ValueError(f"scale must be a finite positive number, got {scale}")

        means = (scale * (self.means.astype(np.float64) @ rot.T) + shift).astype(np.float32)
        q_rot = matrix_to_quat(rot)
        raw_quats = quat_multiply(q_rot[None, :], self.raw_quats.astype(np.float64))
        sh = self.sh.copy()
        for band, matrix in enumerate(sh_rotation_matrices(rot, self.sh_degree), start=1):
            cols = slice(band * band, (band + 1) * (band + 1))
            sh[:, cols, :] = np.einsum(
                "ij,njc->nic", matrix, self.sh[:, cols, :].astype(np.float64)
            )
        normals = None if self.normals is None else (self.normals @ rot.T).astype(np.float32)
        return GaussianScene(
            means=means,
            raw_quats=raw_quats.astype(np.float32),
            log_scales=self.log_scales + np.float32(np.log(scale)),
            logit_opacities=self.logit_opacities.copy(),
            sh=sh,
            normals=normals,
            extras={name: column.copy() for name, column in self.extras.items()},
        )

    def content_hash(self) -> str:
        """A hex digest of every column (names, dtypes and bytes), for cache keys."""
        digest = hashlib.blake2b(digest_size=16)
        digest.update(f"n={len(self)};deg={self.sh_degree}".encode())
        arrays = [
            ("means", self.means),
            ("raw_quats", self.raw_quats),
            ("log_scales", self.log_scales),
            ("logit_opacities", self.logit_opacities),
            ("sh", self.sh),
        ]
        if self.normals is not None:
            arrays.append(("normals", self.normals))
        arrays.extend(self.extras.items())
        for name, array in arrays:
            digest.update(f"|{name}:{array.dtype.str}:{array.shape}|".encode())
            digest.update(np.ascontiguousarray(array).data)
        return digest.hexdigest()

    def invalid_rows(self) -> list[tuple[str, np.ndarray]]:
        """List ``(problem, mask (N,))`` for each kind of invalid value present."""
        return _invalid_masks(
            {
                "means": self.means,
                "raw_quats": self.raw_quats,
                "log_scales": self.log_scales,
                "logit_opacities": self.logit_opacities,
                "sh": self.sh,
            }
        )


def concatenate(scenes: Sequence[GaussianScene]) -> GaussianScene:
    """Join scenes into one, in order.

    SH is padded with zero bands to the highest degree (exact: the missing bands
    contribute nothing); normals are filled with zeros where a part has none.
    Extra columns must agree in name and dtype across all parts.
    """
    if not scenes:
        raise ValueError("concatenate needs at least one scene")
    names = [tuple((k, v.dtype.str) for k, v in s.extras.items()) for s in scenes]
    if any(n != names[0] for n in names):
        differing = sorted(set().union(*map(set, names)) - set.intersection(*map(set, names)))
        raise ValueError(
            "scenes carry different extra columns and cannot be joined: "
            + ", ".join(f"{name} ({dtype})" for name, dtype in differing)
        )
    k_max = max(s.sh.shape[1] for s in scenes)

    def padded_sh(s: GaussianScene) -> np.ndarray:
        pad = np.zeros((len(s), k_max - s.sh.shape[1], 3), dtype=np.float32)
        return np.concatenate([s.sh, pad], axis=1)

    any_normals = any(s.normals is not None for s in scenes)
    return GaussianScene(
        means=np.concatenate([s.means for s in scenes]),
        raw_quats=np.concatenate([s.raw_quats for s in scenes]),
        log_scales=np.concatenate([s.log_scales for s in scenes]),
        logit_opacities=np.concatenate([s.logit_opacities for s in scenes]),
        sh=np.concatenate([padded_sh(s) for s in scenes]),
        normals=(
            np.concatenate(
                [
                    s.normals if s.normals is not None else np.zeros((len(s), 3), np.float32)
                    for s in scenes
                ]
            )
            if any_normals
            else None
        ),
        extras={
            name: np.concatenate([s.extras[name] for s in scenes]) for name in scenes[0].extras
        },
    )


def _normals_or_zeros(scene: GaussianScene) -> np.ndarray:
    if scene.normals is not None:
        return scene.normals
    return np.zeros((len(scene), 3), np.float32)


def _invalid_masks(columns: dict) -> list[tuple[str, np.ndarray]]:
    checks = [
        ("means", "NaN/inf position (x, y, z)"),
        ("raw_quats", "NaN/inf rotation (rot_*)"),
        ("log_scales", "NaN/inf scale (scale_*)"),
        ("logit_opacities", "NaN opacity"),
        ("sh", "NaN/inf colour (f_dc_*, f_rest_*)"),
    ]
    problems = []
    for key, problem in checks:
        array = np.asarray(columns[key])
        # ±inf opacity logits are saturated opacities (1 or 0): real files carry them.
        finite = ~np.isnan(array) if key == "logit_opacities" else np.isfinite(array)
        if not finite.all():
            problems.append((problem, ~finite.reshape(array.shape[0], -1).all(axis=1)))
    quats = np.asarray(columns["raw_quats"])
    zero = ~np.any(quats != 0, axis=1)
    if zero.any():
        problems.append(("zero quaternion (rot_0..3 all 0)", zero))
    return problems


def _describe_invalid(problems: list[tuple[str, np.ndarray]]) -> str:
    parts = []
    for problem, mask in problems:
        count = int(mask.sum())
        first = int(np.flatnonzero(mask)[0])
        parts.append(
            f"{count} Gaussian{'s' if count != 1 else ''} with {problem} (first at index {first})"
        )
    return "; ".join(parts) + "; open with on_invalid='drop' (CLI: --drop-invalid) to skip them"
