"""The built-in demo scene: a generated tabletop with images, SAM-like masks and truth.

``resources/demo/`` is made once by ``python -m liftstudio.evaluate.demo_scene`` and
committed (a few MB). It is an ordinary 3DGS output folder that every 3DGS tool opens:

```
resources/demo/
  point_cloud/iteration_30000/point_cloud.ply   ~50k Gaussians (SH degree 0)
  train_cameras.json, test_cameras.json         24 training and 8 held-out views (320×240)
  cameras.json, cfg_args                        the training cameras, for older tools
  images/<camera>.jpg                           rendered images of every view
  masks/sam-like/<camera>.png                   simulated SAM masks (uint16 ids)
  ground_truth/                                 truth, kept apart from the scene:
    instances.npy        per-Gaussian instance id
    classes.json         instance id → class name
    maps.npz             train and test ground-truth instance maps
```
"""

from __future__ import annotations

import argparse
import json
import sys
from dataclasses import replace
from pathlib import Path

import numpy as np
from PIL import Image

from liftstudio.errors import InputFileError, LiftStudioError, OutputFileError
from liftstudio.evaluate.mask_simulation import make_masks
from liftstudio.evaluate.scenes import BenchmarkScene, make
from liftstudio.fileio import atomic_output, make_folder
from liftstudio.render.registry import resolve_backend
from liftstudio.scene.camera_formats.gs_json import write_3dgs_cameras
from liftstudio.scene.discovery import open_scene
from liftstudio.scene.output_folder import write_3dgs_output
from liftstudio.sources.images import load_rgb

DEMO_NOISE = "sam-like"
DEMO_GAUSSIANS = 50_000


def demo_dir() -> Path:
    """Where the committed demo scene lives (``resources/demo`` in the source tree)."""
    return Path(__file__).resolve().parents[2] / "resources" / "demo"


def write_demo_scene(out: str | Path, *, seed: int = 0, overwrite: bool = False) -> Path:
    """Generate the demo scene and write it to ``out`` (see the module docstring).

    Parameters
    ----------
    out
        Destination folder.
    seed
        Scene and mask seed.
    overwrite
        Replace the files of an earlier demo in ``out``.
    """
    out = Path(out)
    if (out / "ground_truth" / "instances.npy").exists() and not overwrite:
        raise OutputFileError(out, "already holds a demo scene; pass --overwrite to replace it")
    backend = resolve_backend("cpu")
    scene = make(
        "tabletop", seed, num_gaussians=DEMO_GAUSSIANS, width=320, height=240, backend=backend
    )
    masks = make_masks(DEMO_NOISE, scene.train_gt, scene.train_images, seed)
    write_3dgs_output(out, scene.gaussians, scene.train_cameras, overwrite=overwrite)
    images = make_folder(out / "images")
    mask_dir = make_folder(out / "masks" / DEMO_NOISE)
    truth = make_folder(out / "ground_truth")
    write_3dgs_cameras(scene.train_cameras, out / "train_cameras.json", overwrite=overwrite)
    write_3dgs_cameras(scene.test_cameras, out / "test_cameras.json", overwrite=overwrite)
    test_images = [
        np.clip(backend.render(scene.gaussians, camera).rgb, 0.0, 1.0)
        for camera in scene.test_cameras
    ]
    views = zip(
        scene.train_cameras + scene.test_cameras, scene.train_images + test_images, strict=True
    )
    for camera, image in views:
        with atomic_output(images / f"{camera.name}.jpg", overwrite=overwrite) as tmp:
            Image.fromarray((image * 255 + 0.5).astype(np.uint8)).save(tmp, "JPEG", quality=92)
    for camera, mask in zip(scene.train_cameras, masks, strict=True):
        with atomic_output(mask_dir / f"{camera.name}.png", overwrite=overwrite) as tmp:
            Image.fromarray(mask.astype(np.uint16)).save(tmp, "PNG")
    with atomic_output(truth / "instances.npy", overwrite=overwrite) as tmp, open(tmp, "wb") as f:
        np.save(f, scene.instance_ids)
    with atomic_output(truth / "classes.json", overwrite=overwrite) as tmp:
        tmp.write_text(json.dumps({str(k): v for k, v in scene.class_names.items()}, indent=1))
    with atomic_output(truth / "maps.npz", overwrite=overwrite) as tmp, open(tmp, "wb") as f:
        np.savez_compressed(
            f, train=np.stack(scene.train_gt).astype(np.uint16),
            test=np.stack(scene.test_gt).astype(np.uint16),
        )  # fmt: skip
    return out


def load_demo_scene(folder: str | Path | None = None) -> tuple[BenchmarkScene, list[np.ndarray]]:
    """Read a demo folder back: the scene with its truth, and the masks it ships.

    Raises
    ------
    InputFileError
        Naming the missing or unreadable part.
    """
    folder = Path(folder) if folder is not None else demo_dir()
    truth = folder / "ground_truth"
    if not (truth / "instances.npy").is_file():
        raise InputFileError(
            folder, "is not a demo scene (ground_truth/instances.npy is missing); "
            "make one with: python -m liftstudio.evaluate.demo_scene --out FOLDER",
        )  # fmt: skip
    opened = open_scene(folder)
    cameras = opened.cameras.train
    images, masks = [], []
    for camera in cameras:
        if camera.image_path is None:
            raise InputFileError(folder / "images", f"has no image for camera {camera.name!r}")
        images.append(load_rgb(camera.image_path))
        mask_file = folder / "masks" / DEMO_NOISE / f"{camera.name}.png"
        if not mask_file.is_file():
            raise InputFileError(mask_file, "is missing")
        masks.append(np.asarray(Image.open(mask_file)).astype(np.int32))
    instance_ids = np.load(truth / "instances.npy")
    if instance_ids.shape != (len(opened.gaussians),):
        raise InputFileError(
            truth / "instances.npy",
            f"has {instance_ids.shape[0]} ids for {len(opened.gaussians)} Gaussians",
        )
    classes = json.loads((truth / "classes.json").read_text(encoding="utf-8"))
    maps = np.load(truth / "maps.npz")
    scene = BenchmarkScene(
        kind="tabletop",
        seed=0,
        gaussians=opened.gaussians,
        instance_ids=instance_ids.astype(np.int32),
        class_names={int(k): v for k, v in classes.items()},
        train_cameras=[replace(c, image_path=None) for c in cameras],
        test_cameras=[replace(c, image_path=None) for c in opened.cameras.test],
        train_images=images,
        train_gt=list(maps["train"].astype(np.int32)),
        test_gt=list(maps["test"].astype(np.int32)),
    )
    return scene, masks


def main(argv: list[str] | None = None) -> int:
    """``python -m liftstudio.evaluate.demo_scene --out resources/demo [--overwrite]``."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=demo_dir())
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--overwrite", action="store_true")
    args = parser.parse_args(argv)
    try:
        out = write_demo_scene(args.out, seed=args.seed, overwrite=args.overwrite)
    except LiftStudioError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    size = sum(f.stat().st_size for f in out.rglob("*") if f.is_file())
    print(f"wrote the demo scene to {out} ({size / 1e6:.1f} MB)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
