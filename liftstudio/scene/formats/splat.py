"""antimatter15 ``.splat``: read and write.

A ``.splat`` file has no header: it is a flat array of 32-byte little-endian records,
one per Gaussian::

    bytes  0-11   position x, y, z      3 × float32
    bytes 12-23   scale x, y, z         3 × float32, *linear* (exp of the PLY value)
    bytes 24-27   r, g, b, alpha        4 × uint8: colour 0.5 + C0·f_dc and the
                                        activated opacity, times 255
    bytes 28-31   rotation w, x, y, z   4 × uint8: the unit quaternion (PLY order
                                        rot_0..rot_3) as q·128 + 128

Only the base colour survives: SH bands 1-3, normals and extra columns are not
stored. Gaussians keep their order (the antimatter15 converter sorts by size ×
opacity for progressive loading; this writer does not, so per-Gaussian labels still
line up).

Quantisation follows the format author's web converter and viewer: encoding clamps
to [0, 255] and rounds to nearest (ties to even, as a JavaScript
``Uint8ClampedArray`` does); decoding reads colour and alpha as ``u/255`` and the
rotation as ``(u - 128)/128`` (then normalised). Files from converters that
truncate instead (antimatter15's ``convert.py``, PlayCanvas ``splat-transform``) read
with at most one step of bias (1/255 in colour and opacity). Write → read → write
reproduces the colour and opacity bytes exactly.
"""

from __future__ import annotations

import logging
from pathlib import Path

import numpy as np

from liftstudio.errors import InputFileError, SceneDataError
from liftstudio.fileio import atomic_output
from liftstudio.scene.formats.compressed_ply import alpha_to_logit
from liftstudio.scene.gaussians import GaussianScene, OnInvalid
from liftstudio.scene.sh import SH_C0

logger = logging.getLogger(__name__)

#: One record: position, linear scale, RGBA bytes, rotation bytes (w, x, y, z).
SPLAT_DTYPE = np.dtype(
    [("position", "<f4", (3,)), ("scale", "<f4", (3,)), ("rgba", "u1", (4,)), ("rot", "u1", (4,))]
)
RECORD_BYTES = SPLAT_DTYPE.itemsize  # 32


def read_splat(path: str | Path, *, on_invalid: OnInvalid = "error") -> GaussianScene:
    """Read an antimatter15 ``.splat`` file.

    Parameters
    ----------
    path
        The ``.splat`` file.
    on_invalid
        ``"error"`` (default) refuses Gaussians with non-positive or non-finite
        scales, NaN/inf positions or an all-128 (zero) rotation; ``"drop"`` skips them.

    Returns
    -------
    GaussianScene
        SH degree 0, no normals; opacity logits from ``alpha = u/255`` clamped to
        ``[1e-6, 1 - 1e-6]``; unit quaternions w, x, y, z.

    Raises
    ------
    InputFileError
        Unreadable or empty files, a size that is not a multiple of 32 bytes, or
        invalid values (``on_invalid="error"``).
    """
    path = Path(path)
    try:
        size = path.stat().st_size
    except OSError as exc:
        raise InputFileError(path, f"cannot be read ({exc.strerror or exc})") from None
    if size == 0:
        raise InputFileError(path, "empty .splat file: it holds no Gaussians")
    if size % RECORD_BYTES:
        raise InputFileError(
            path,
            f"size {size:,} bytes is not a multiple of the {RECORD_BYTES}-byte .splat record "
            f"({size // RECORD_BYTES:,} whole records and {size % RECORD_BYTES} stray bytes): "
            "the file is truncated or not a .splat file",
        )
    try:
        records = np.fromfile(path, dtype=SPLAT_DTYPE)
    except (OSError, ValueError) as exc:
        raise InputFileError(path, f"cannot be read ({exc})") from None
    if records.shape[0] * RECORD_BYTES != size:
        raise InputFileError(path, "the file changed size while it was being read")

    scales = records["scale"].astype(np.float64)
    if on_invalid == "error":
        bad = ~(scales > 0).all(axis=1)  # also catches NaN
        if bad.any():
            first = int(np.flatnonzero(bad)[0])
            raise InputFileError(
                path,
                f"{int(bad.sum())} Gaussian{'s' if bad.sum() != 1 else ''} with a non-positive "
                f"or NaN scale (first at index {first}: {records['scale'][first].tolist()}); "
                "open with on_invalid='drop' (CLI: --drop-invalid) to skip them",
            )
    with np.errstate(divide="ignore", invalid="ignore"):
        log_scales = np.log(scales)  # 0 → -inf, < 0 → NaN: dropped by from_columns

    rgba = records["rgba"].astype(np.float64) / 255.0
    quats = (records["rot"].astype(np.float64) - 128.0) / 128.0
    norms = np.linalg.norm(quats, axis=1, keepdims=True)
    with np.errstate(divide="ignore", invalid="ignore"):
        quats = np.where(norms > 0, quats / norms, 0.0)  # zero stays zero: reported invalid
    try:
        return GaussianScene.from_columns(
            on_invalid=on_invalid,
            means=records["position"],
            raw_quats=quats.astype(np.float32),
            log_scales=log_scales.astype(np.float32),
            logit_opacities=alpha_to_logit(rgba[:, 3]).astype(np.float32),
            sh=((rgba[:, None, :3] - 0.5) / SH_C0).astype(np.float32),
        )
    except SceneDataError as exc:
        raise InputFileError(path, str(exc)) from None


def encode_splat(scene: GaussianScene) -> np.ndarray:
    """Encode a scene as ``.splat`` records (no file written).

    Parameters
    ----------
    scene
        The Gaussians; only positions, scales, base colour, opacity and rotation
        are stored.

    Returns
    -------
    (N,) structured array of :data:`SPLAT_DTYPE`
        ``records.tobytes()`` is the file content.

    Raises
    ------
    ValueError
        If a scale overflows float32 (``exp(log_scale)`` is infinite).
    """
    records = np.empty(len(scene), dtype=SPLAT_DTYPE)
    records["position"] = scene.means
    scales = np.exp(scene.log_scales.astype(np.float64)).astype(np.float32)
    if not np.isfinite(scales).all():
        first = int(np.flatnonzero(~np.isfinite(scales).all(axis=1))[0])
        raise ValueError(
            f"Gaussian {first} has a scale too large for float32 "
            f"(log scale {scene.log_scales[first].tolist()}); it cannot be written as .splat"
        )
    records["scale"] = scales
    colour = 0.5 + SH_C0 * scene.sh[:, 0, :].astype(np.float64)
    alpha = 1.0 / (1.0 + np.exp(-scene.logit_opacities.astype(np.float64)))
    records["rgba"][:, :3] = _to_byte(colour * 255.0)
    records["rgba"][:, 3] = _to_byte(alpha * 255.0)
    quats = scene.raw_quats.astype(np.float64)
    quats = quats / np.linalg.norm(quats, axis=1, keepdims=True)
    records["rot"] = _to_byte(quats * 128.0 + 128.0)
    return records


def write_splat(scene: GaussianScene, path: str | Path, *, overwrite: bool = False) -> Path:
    """Write ``scene`` as an antimatter15 ``.splat`` file.

    The write is atomic (a temporary file in the same folder, then a rename). SH
    bands above 0, normals and extra columns are not representable and are left out
    (a warning is logged).

    Parameters
    ----------
    scene
        The Gaussians.
    path
        Destination ``.splat``.
    overwrite
        Replace an existing file; by default an existing file is an error.

    Returns
    -------
    Path
        ``path``.

    Raises
    ------
    OutputFileError
        If ``path`` exists (and ``overwrite`` is false) or cannot be written.
    ValueError
        If the scene is empty or a scale overflows float32.
    """
    path = Path(path)
    if len(scene) == 0:
        raise ValueError(
            f"{path}: an empty scene cannot be written as .splat (an empty file is not valid)"
        )
    lost = []
    if scene.sh_degree > 0:
        lost.append(f"SH degree {scene.sh_degree} (only the base colour is kept)")
    if scene.normals is not None:
        lost.append("normals")
    if scene.extras:
        lost.append("columns " + ", ".join(scene.extras))
    if lost:
        logger.warning("%s: .splat cannot store %s; they are left out", path, "; ".join(lost))
    data = encode_splat(scene).tobytes()
    with atomic_output(path, overwrite=overwrite) as tmp:
        tmp.write_bytes(data)
    return path


def _to_byte(values: np.ndarray) -> np.ndarray:
    """Clamp to [0, 255] and round half to even, like a ``Uint8ClampedArray``."""
    return np.rint(np.clip(values, 0.0, 255.0)).astype(np.uint8)
