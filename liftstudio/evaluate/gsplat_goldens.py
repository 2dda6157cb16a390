"""Golden outputs of a render backend on the real-scene cases (made with gsplat on a GPU).

``python -m liftstudio.evaluate.gsplat_goldens --out tests/render/goldens`` on a CUDA
machine renders every case of :mod:`liftstudio.evaluate.render_cases` with the gsplat
backend and writes what CI (which has no GPU) compares the CPU backend against, with
gsplat's rules (:data:`~liftstudio.render.rules.GSPLAT_RULES`); see
``tests/render/test_gsplat_goldens.py``. ``--backend cpu`` writes the same files from
the CPU backend with gsplat's rules, so the script can be exercised anywhere.

Per case, one compressed ``<name>.npz`` (:func:`case_outputs` says what each array is)
holding, for V cameras of H×W pixels and N Gaussians:

==================  ===============  =========================================================
key                 dtype            contents
==================  ===============  =========================================================
``rgb``             float16          (V, H, W, 3) colour over a black background
``alpha``           float16          (V, H, W)
``depth``           float32          (V, H, W) expected depth, 0 where nothing rendered
``features``        float16          (V, H, W, 5) :func:`golden_features` rendered
``uplift_sum``      float32          (N, 3) ``Σ_v W_vᵀ F_v`` of :func:`golden_maps`
``uplift_beta``     float32          (N,) ``Σ_v W_vᵀ 1`` at the maps' (half) resolution
``rows_ids``        int32            (H, W, 8) top-8 operator rows of the first camera
``rows_weights``    float32          (H, W, 8) their weights
``rows_residual``   float32          (H, W) the weight mass left out
``viewmats``        float64          (V, 4, 4) the cameras, to detect a changed rig
``Ks``              float64          (V, 3, 3)
==================  ===============  =========================================================

Images are stored as float16 (rounding error ≤ 2.5e-4 on [0, 1], far below the
comparison's tolerances) to keep the goldens a few MB; :func:`load_golden_case` returns
them as float32. ``manifest.json`` is written last, so its presence means the set is
complete; it records the backend, its rules, the versions of gsplat, torch, numpy and
liftstudio, the GPU, the date, the input recipe and every array's shape and dtype.
"""

from __future__ import annotations

import argparse
import dataclasses
import datetime
import json
import sys
from collections.abc import Sequence
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path
from typing import Any

import numpy as np

from liftstudio.errors import InputFileError, LiftStudioError, OutputFileError
from liftstudio.evaluate.real_data import default_real_data_dir
from liftstudio.evaluate.render_cases import (
    REAL_CASE_NAMES,
    golden_features,
    golden_maps,
    real_render_case,
)
from liftstudio.fileio import atomic_output, make_folder
from liftstudio.render.backend import RenderBackend
from liftstudio.render.rules import GSPLAT_RULES
from liftstudio.scene.camera import Camera
from liftstudio.scene.gaussians import GaussianScene

MANIFEST_NAME = "manifest.json"
"""File name of the manifest in a goldens folder."""

GOLDEN_BACKENDS: tuple[str, ...] = ("gsplat", "cpu")
"""Backends :func:`make_goldens` can be given by name."""

FEATURE_CHANNELS = 5
FEATURE_SEED = 0
MAP_CHANNELS = 3
MAP_SEED = 1
TOP_K = 8

STORED_DTYPES: dict[str, np.dtype] = {
    "rgb": np.dtype(np.float16),
    "alpha": np.dtype(np.float16),
    "depth": np.dtype(np.float32),
    "features": np.dtype(np.float16),
    "uplift_sum": np.dtype(np.float32),
    "uplift_beta": np.dtype(np.float32),
    "rows_ids": np.dtype(np.int32),
    "rows_weights": np.dtype(np.float32),
    "rows_residual": np.dtype(np.float32),
    "viewmats": np.dtype(np.float64),
    "Ks": np.dtype(np.float64),
}
"""The dtype each array is stored as (see the module docstring)."""


def golden_inputs() -> dict[str, Any]:
    """The recipe of the inputs every case is rendered with, as stored in the manifest."""
    return {
        "features": {"channels": FEATURE_CHANNELS, "seed": FEATURE_SEED},
        "maps": {"channels": MAP_CHANNELS, "seed": MAP_SEED, "resolution": "half"},
        "operator_rows": {"top_k": TOP_K, "weight_dtype": "float32", "camera": 0},
        "background": [0.0, 0.0, 0.0],
    }


def golden_backend(name: str) -> RenderBackend:
    """The backend called ``name`` for goldens: ``"gsplat"``, or ``"cpu"`` with gsplat's rules.

    Raises
    ------
    ValueError
        For another name.
    liftstudio.render.gsplat_backend.GsplatUnavailable
        When ``"gsplat"`` cannot run here (says why).
    """
    if name == "gsplat":
        from liftstudio.render.gsplat_backend import GsplatBackend

        return GsplatBackend()
    if name == "cpu":
        from liftstudio.render.cpu import CpuBackend

        return CpuBackend(rules=GSPLAT_RULES)
    raise ValueError(
        f"unknown goldens backend {name!r}; choose one of {', '.join(GOLDEN_BACKENDS)}"
    )


def case_outputs(
    backend: RenderBackend, scene: GaussianScene, cameras: Sequence[Camera]
) -> dict[str, np.ndarray]:
    """Everything the goldens hold for one case, at full precision (float32 images).

    Every camera is rendered with colour and :func:`golden_features`; the
    :func:`golden_maps` are uplifted over all cameras; the first camera's operator rows
    are taken with ``top_k=8`` in float32.

    Parameters
    ----------
    backend
        The renderer.
    scene
        The Gaussians.
    cameras
        The views, all of one size.

    Returns
    -------
    dict of str to array
        The arrays of the module docstring's table, before the cast to their stored dtype.
    """
    sizes = {(camera.width, camera.height) for camera in cameras}
    if len(sizes) != 1:
        raise ValueError(f"the cameras of a case must share one size, got {sorted(sizes)}")
    features = golden_features(len(scene), FEATURE_CHANNELS, FEATURE_SEED)
    renders = [backend.render(scene, camera, features=features) for camera in cameras]
    uplift = backend.uplift(scene, cameras, golden_maps(cameras, MAP_CHANNELS, MAP_SEED))
    rows = backend.operator_rows(scene, cameras[0], top_k=TOP_K, weight_dtype=np.float32)
    return {
        "rgb": np.stack([r.rgb for r in renders]).astype(np.float32),
        "alpha": np.stack([r.alpha for r in renders]).astype(np.float32),
        "depth": np.stack([r.depth for r in renders]).astype(np.float32),
        "features": np.stack([r.features for r in renders]).astype(np.float32),
        "uplift_sum": np.asarray(uplift.weighted_sum, np.float32),
        "uplift_beta": np.asarray(uplift.beta, np.float32),
        "rows_ids": np.asarray(rows.ids, np.int32),
        "rows_weights": np.asarray(rows.weights, np.float32),
        "rows_residual": np.asarray(rows.residual, np.float32),
        "viewmats": np.stack([np.asarray(c.viewmat, np.float64) for c in cameras]),
        "Ks": np.stack([np.asarray(c.K, np.float64) for c in cameras]),
    }


def _environment(backend: RenderBackend) -> dict[str, Any]:
    """Versions and GPU for the manifest (torch is only asked when already imported)."""

    def installed(package: str) -> str | None:
        try:
            return version(package)
        except PackageNotFoundError:
            return None

    gpu = None
    torch = sys.modules.get("torch")  # imported by the gsplat backend; never imported here
    if torch is not None:
        try:
            if torch.cuda.is_available():
                device = getattr(backend, "device", None)
                gpu = torch.cuda.get_device_name(device if device is not None else None)
        except Exception:  # a manifest without a GPU name is still useful
            gpu = None
    return {
        "versions": {
            "gsplat": installed("gsplat"),
            "torch": installed("torch"),
            "numpy": np.__version__,
            "liftstudio": installed("liftstudio"),
            "python": sys.version.split()[0],
        },
        "gpu": gpu,
    }


def make_goldens(
    real_data_dir: Path,
    out_dir: Path,
    backend: RenderBackend | str,
    *,
    cases: Sequence[str] = REAL_CASE_NAMES,
    overwrite: bool = False,
) -> dict[str, Any]:
    """Render the real-scene cases with ``backend`` and write goldens into ``out_dir``.

    Parameters
    ----------
    real_data_dir
        Folder holding the real scenes (see :func:`real_render_case`).
    out_dir
        Folder to write ``<case>.npz`` and ``manifest.json`` into (created if missing).
    backend
        A backend, or a name of :data:`GOLDEN_BACKENDS` (see :func:`golden_backend`).
    cases
        Which of :data:`~liftstudio.evaluate.render_cases.REAL_CASE_NAMES` to make.
    overwrite
        Replace existing goldens; otherwise any existing target file is an error,
        raised before anything is rendered.

    Returns
    -------
    dict
        The manifest written.

    Raises
    ------
    OutputFileError
        When a target file exists and ``overwrite`` is false, or ``out_dir`` cannot be
        written.
    InputFileError
        When ``real_data_dir`` is not a folder.
    ValueError
        For an unknown case or backend name.
    """
    real_data_dir = Path(real_data_dir)
    out_dir = Path(out_dir)
    cases = tuple(cases)
    unknown = [name for name in cases if name not in REAL_CASE_NAMES]
    if unknown or not cases:
        raise ValueError(
            f"cases must be some of {', '.join(REAL_CASE_NAMES)}, got {', '.join(cases) or 'none'}"
        )
    if not real_data_dir.is_dir():
        raise InputFileError(real_data_dir, "is not a folder of real scenes")
    targets = [out_dir / f"{name}.npz" for name in cases] + [out_dir / MANIFEST_NAME]
    if not overwrite:
        for path in targets:
            if path.exists():
                raise OutputFileError(
                    path, "goldens already exist; pass --overwrite (overwrite=True) to replace them"
                )
    if isinstance(backend, str):
        backend = golden_backend(backend)
    make_folder(out_dir)

    manifest: dict[str, Any] = {
        "format": 1,
        "created": datetime.datetime.now(datetime.UTC).isoformat(timespec="seconds"),
        "backend": backend.name,
        "rules": dataclasses.asdict(backend.rules),
        **_environment(backend),
        "inputs": golden_inputs(),
        "cases": {},
    }
    for name in cases:
        scene, cameras = real_render_case(real_data_dir, name)
        outputs = case_outputs(backend, scene, cameras)
        stored = {key: outputs[key].astype(STORED_DTYPES[key]) for key in STORED_DTYPES}
        path = out_dir / f"{name}.npz"
        with atomic_output(path, overwrite=overwrite) as tmp, open(tmp, "wb") as handle:
            np.savez_compressed(handle, **stored)  # a handle: savez would append ".npz"
        manifest["cases"][name] = {
            "file": path.name,
            "num_gaussians": len(scene),
            "cameras": [camera.name for camera in cameras],
            "image_size": [cameras[0].width, cameras[0].height],
            "arrays": {
                key: {"shape": list(array.shape), "dtype": str(array.dtype)}
                for key, array in stored.items()
            },
        }
    with atomic_output(out_dir / MANIFEST_NAME, overwrite=overwrite) as tmp:
        tmp.write_text(json.dumps(manifest, indent=2) + "\n", encoding="utf-8")
    return manifest


def load_manifest(goldens_dir: Path) -> dict[str, Any]:
    """The manifest of a goldens folder."""
    return json.loads((Path(goldens_dir) / MANIFEST_NAME).read_text(encoding="utf-8"))


def load_golden_case(goldens_dir: Path, name: str) -> dict[str, np.ndarray]:
    """One case's golden arrays, float16 ones widened to float32.

    Raises
    ------
    InputFileError
        When the case's file is missing.
    """
    path = Path(goldens_dir) / f"{name}.npz"
    if not path.is_file():
        raise InputFileError(path, "golden file missing; regenerate the goldens")
    with np.load(path) as data:
        return {
            key: data[key].astype(np.float32) if data[key].dtype == np.float16 else data[key]
            for key in data.files
        }


def main(argv: Sequence[str] | None = None) -> int:
    """Command line: write the goldens; returns the process exit status."""
    parser = argparse.ArgumentParser(
        prog="python -m liftstudio.evaluate.gsplat_goldens",
        description=(
            "Render the real-scene cases with gsplat (on a CUDA GPU) and write the goldens "
            "the CPU backend is compared against in tests/render/test_gsplat_goldens.py."
        ),
    )
    parser.add_argument("--out", required=True, type=Path, help="goldens folder to write")
    parser.add_argument(
        "--real-data",
        type=Path,
        default=None,
        help="folder of real scenes (default: $LIFTSTUDIO_REAL_DATA or ../shared/data/real)",
    )
    parser.add_argument(
        "--backend",
        choices=GOLDEN_BACKENDS,
        default="gsplat",
        help="renderer (default gsplat; cpu uses gsplat's rules, to exercise the script)",
    )
    parser.add_argument("--overwrite", action="store_true", help="replace existing goldens")
    args = parser.parse_args(argv)
    real_data = args.real_data if args.real_data is not None else default_real_data_dir()
    if real_data is None:
        print(
            "error: real scenes not found; pass --real-data or set LIFTSTUDIO_REAL_DATA",
            file=sys.stderr,
        )
        return 2
    try:
        manifest = make_goldens(real_data, args.out, args.backend, overwrite=args.overwrite)
    except LiftStudioError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    total = sum((args.out / case["file"]).stat().st_size for case in manifest["cases"].values())
    print(
        f"wrote {len(manifest['cases'])} cases ({total / 1e6:.1f} MB) and {MANIFEST_NAME} "
        f"to {args.out} with {manifest['backend']} "
        f"(gsplat {manifest['versions']['gsplat']}, GPU {manifest['gpu']})"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
