"""Scenes, label models and projects on disk for the export tests (not collected)."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
from plyfile import PlyData

from liftstudio.evaluate.synthetic import orbit_cameras, random_gaussians
from liftstudio.labels import LabelModel
from liftstudio.labels.project import project_path, save_project
from liftstudio.scene.discovery import OpenedScene, open_scene
from liftstudio.scene.gaussians import GaussianScene
from liftstudio.scene.output_folder import write_3dgs_output


def input_scene(n: int = 600, seed: int = 3) -> GaussianScene:
    """SH degree 1, normals, and extra columns of several dtypes with odd bit patterns."""
    scene = random_gaussians(n, sh_degree=1, seed=seed)
    rng = np.random.default_rng(seed)
    scene.extras = {
        "segment_u8": rng.integers(0, 255, n).astype(np.uint8),
        "weight_f64": rng.normal(size=n),
        "flag_i16": rng.integers(-500, 500, n).astype(np.int16),
    }
    scene.extras["weight_f64"][:3] = [np.nan, -0.0, np.inf]
    return scene


def edited_model(n: int, seed: int = 0) -> LabelModel:
    """A model as a user leaves it: a lift, names, classes, a colour, a hidden, a
    locked, a deleted and an empty instance, and a hostile name.

    Ids: 1 "table" (class furniture, locked), 2 "chair" (furniture), 3 "mug" (class
    kitchen, colour (10, 200, 30)), 4 hidden, 5 deleted, 6 unnamed, 7 "../../evil name"
    (from a brush stroke), 9 an empty row "nothing yet".
    """
    rng = np.random.default_rng(seed)
    model = LabelModel(n)
    ids = rng.integers(0, 7, n)
    confidence = rng.random(n).astype(np.float32)
    confidence[::5] = np.nan
    model.replace_all(ids, confidence=confidence, names={1: "table", 2: "chair", 3: "mug"},
                      source="lift:vote")  # fmt: skip
    model.update_instances([1, 2], class_name="furniture")
    model.update_instance(3, class_name="kitchen", colour=(10, 200, 30))
    model.update_instance(4, visible=False)
    model.delete_instance(5)
    model.new_instance(rng.choice(n, n // 12, replace=False), name="../../evil name",
                       source="brush")  # fmt: skip
    model.update_instance(9, name="nothing yet")
    model.update_instance(1, locked=True)
    return model


@dataclass
class ProjectOnDisk:
    """A 3DGS output folder, its saved project, and what was saved."""

    folder: Path
    project: Path
    ply: Path
    scene: GaussianScene
    model: LabelModel
    opened: OpenedScene


def project_on_disk(root: Path, n: int = 600, seed: int = 0) -> ProjectOnDisk:
    """Write a scene folder (4 cameras) and save :func:`edited_model` as its project."""
    folder = root / "scene"
    scene = input_scene(n)
    write_3dgs_output(folder, scene, orbit_cameras(4, width_px=64, height_px=48))
    opened = open_scene(folder)
    model = edited_model(n, seed)
    project = save_project(project_path(folder), model, scene=opened)
    return ProjectOnDisk(folder, project, opened.gaussians_path, opened.gaussians, model, opened)


def ply_rows(path: Path) -> np.ndarray:
    """The vertex rows of a PLY as one structured array, read with plyfile directly."""
    return PlyData.read(str(path))["vertex"].data


def same_rows(a: np.ndarray, b: np.ndarray) -> bool:
    """Whether two structured arrays hold the same columns with the same bytes."""
    return a.dtype.names == b.dtype.names and all(
        a[name].tobytes() == b[name].tobytes() for name in a.dtype.names
    )
