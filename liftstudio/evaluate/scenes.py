"""Benchmark scenes with ground truth: ``make(kind, seed)``.

Every scene is a :class:`BenchmarkScene`: Gaussians with a ground-truth instance id and
class name per Gaussian, training and held-out test cameras, rendered training images,
and ground-truth instance maps for both (the one-hot labels rendered through the render
operator; label = argmax, void (0) where alpha < 0.5).

Kinds (DESIGN §6; the segmentation regimes the seed papers evaluate):

- ``tabletop``: 8–20 objects of varied shapes, sizes and colours on a table, some
  touching, some sharing a colour; hemisphere cameras.
- ``room``: floor and four walls plus 30–60 objects, some stacked (occlusions); a ring
  of cameras inside the room.
- ``cluttered``: ≥ 200 small objects packed on a floor (the Messy Rooms regime);
  hemisphere cameras.
- ``composite``: real trained objects from ``../shared/data/real`` (guitar, biker,
  donut; each scaled and placed on a table) plus generated ones; forward-facing
  cameras. Raises :class:`SceneUnavailable` where the real scenes are absent.

Every Gaussian belongs to an instance (ids from 1; tables, floors and walls are
instances too); id 0 in a map is void.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from liftstudio.errors import LiftStudioError
from liftstudio.evaluate.real_data import default_real_data_dir
from liftstudio.evaluate.shapes import SHAPES, plane, surface_area
from liftstudio.render.backend import RenderBackend
from liftstudio.render.label_maps import render_label_maps
from liftstudio.render.registry import resolve_backend
from liftstudio.scene.camera import Camera
from liftstudio.scene.camera_rigs import forward_cameras, hemisphere_cameras, ring_cameras
from liftstudio.scene.formats import read_gaussians
from liftstudio.scene.gaussians import GaussianScene, concatenate
from liftstudio.scene.sh import SH_C0

SCENE_KINDS: tuple[str, ...] = ("tabletop", "room", "cluttered", "composite")


class SceneUnavailable(LiftStudioError):
    """A scene kind cannot be built here (e.g. the real scenes it uses are absent)."""


@dataclass
class BenchmarkScene:
    """A generated scene with ground truth.

    Attributes
    ----------
    kind, seed
        How it was made (``make(kind, seed)`` makes it again).
    gaussians
        The Gaussians.
    instance_ids : (N,) int32
        Ground-truth instance per Gaussian (≥ 1).
    class_names
        Instance id → class name (``"sphere"``, ``"table"``, ``"guitar"``, ...).
    train_cameras, test_cameras
        Training views and held-out test views.
    train_images
        Rendered RGB per training view, (H, W, 3) float32 in [0, 1].
    train_gt, test_gt
        Ground-truth instance maps per view, (H, W) int32, 0 = void.
    """

    kind: str
    seed: int
    gaussians: GaussianScene
    instance_ids: np.ndarray
    class_names: dict[int, str]
    train_cameras: list[Camera]
    test_cameras: list[Camera]
    train_images: list[np.ndarray] = field(default_factory=list)
    train_gt: list[np.ndarray] = field(default_factory=list)
    test_gt: list[np.ndarray] = field(default_factory=list)

    @property
    def num_instances(self) -> int:
        """Number of ground-truth instances."""
        return len(self.class_names)


@dataclass
class _Part:
    """One instance before it becomes Gaussians."""

    points: np.ndarray
    normals: np.ndarray
    colour: np.ndarray
    class_name: str
    area: float


@dataclass
class _Layout:
    parts: list[_Part]
    real_objects: list[tuple[GaussianScene, str]]
    rig: Callable[[int, int, int], list[Camera]]


# ---------------------------------------------------------------------------- public entry
def make(
    kind: str,
    seed: int = 0,
    *,
    num_gaussians: int | None = None,
    num_train: int = 24,
    num_test: int = 8,
    width: int = 320,
    height: int = 240,
    backend: RenderBackend | None = None,
    real_data_dir: Path | None = None,
) -> BenchmarkScene:
    """Build a benchmark scene with ground truth.

    Parameters
    ----------
    kind
        One of :data:`SCENE_KINDS`.
    seed
        Random seed; the same seed gives the same scene.
    num_gaussians
        Generated-Gaussian budget (default per kind: 50k tabletop, 100k room and
        cluttered, 40k plus the real objects for composite).
    num_train, num_test
        Training and held-out test views (interleaved on the same rig).
    width, height
        Image size of every view.
    backend
        Render backend for images and ground-truth maps (default ``cpu``).
    real_data_dir
        Folder of the real scenes for ``composite`` (default: ``$LIFTSTUDIO_REAL_DATA``
        or ``../shared/data/real`` beside the checkout).

    Raises
    ------
    ValueError
        For an unknown kind.
    SceneUnavailable
        For ``composite`` when the real scenes are not found.
    """
    builders = {"tabletop": _tabletop, "room": _room, "cluttered": _cluttered}
    if kind not in SCENE_KINDS:
        raise ValueError(f"unknown scene kind {kind!r}; choose one of {', '.join(SCENE_KINDS)}")
    rng = np.random.default_rng([seed, SCENE_KINDS.index(kind)])
    budget = num_gaussians or {"tabletop": 50_000, "composite": 40_000}.get(kind, 100_000)
    layout = _composite(rng, real_data_dir) if kind == "composite" else builders[kind](rng)
    gaussians, instance_ids, class_names = _assemble(layout, budget, rng)
    cameras = layout.rig(num_train + num_test, width, height)
    test_index = set(_interleaved(num_train + num_test, num_test))
    train_cameras = [c for i, c in enumerate(cameras) if i not in test_index]
    test_cameras = [c for i, c in enumerate(cameras) if i in test_index]
    scene = BenchmarkScene(
        kind=kind,
        seed=seed,
        gaussians=gaussians,
        instance_ids=instance_ids,
        class_names=class_names,
        train_cameras=train_cameras,
        test_cameras=test_cameras,
    )
    render_ground_truth(scene, backend or resolve_backend("cpu"))
    return scene


def render_ground_truth(scene: BenchmarkScene, backend: RenderBackend) -> None:
    """Fill ``train_images``, ``train_gt`` and ``test_gt`` by rendering ``scene``."""
    scene.train_images = [
        np.clip(backend.render(scene.gaussians, camera).rgb, 0.0, 1.0)
        for camera in scene.train_cameras
    ]
    scene.train_gt = render_label_maps(
        backend, scene.gaussians, scene.train_cameras, scene.instance_ids
    )
    scene.test_gt = render_label_maps(
        backend, scene.gaussians, scene.test_cameras, scene.instance_ids
    )


def _interleaved(total: int, count: int) -> list[int]:
    """``count`` indices spread evenly over ``range(total)``, none at the ends."""
    if count <= 0:
        return []
    step = total / count
    return [int(step * (i + 0.5)) for i in range(count)]


# ---------------------------------------------------------------------------- assembly
def _assemble(
    layout: _Layout, budget: int, rng: np.random.Generator
) -> tuple[GaussianScene, np.ndarray, dict[int, str]]:
    areas = np.array([part.area for part in layout.parts])
    counts = np.maximum(50, np.round(budget * areas / areas.sum()).astype(int))
    scenes, ids, names = [], [], {}
    for number, (part, count) in enumerate(zip(layout.parts, counts, strict=True), start=1):
        chosen = rng.choice(len(part.points), size=min(count, len(part.points)), replace=False)
        spacing = np.sqrt(part.area / len(chosen))
        scenes.append(
            _surface_gaussians(part.points[chosen], part.normals[chosen], part.colour, spacing, rng)
        )
        ids.append(np.full(len(chosen), number, dtype=np.int32))
        names[number] = part.class_name
    for real, name in layout.real_objects:
        number = len(names) + 1
        scenes.append(real)
        ids.append(np.full(len(real), number, dtype=np.int32))
        names[number] = name
    return concatenate(scenes), np.concatenate(ids), names


def _surface_gaussians(
    points: np.ndarray,
    normals: np.ndarray,
    colour: np.ndarray,
    spacing: float,
    rng: np.random.Generator,
) -> GaussianScene:
    """Flat, nearly opaque Gaussians lying in the surface, coloured ``colour`` ± a little."""
    n = len(points)
    tangent = 0.8 * spacing
    log_scales = np.log(np.array([tangent, tangent, 0.15 * tangent]))[None, :] + rng.normal(
        scale=0.1, size=(n, 3)
    )
    colours = np.clip(colour + rng.normal(scale=0.03, size=(n, 3)), 0.0, 1.0)
    return GaussianScene(
        means=points,
        raw_quats=_quats_from_normals(normals),
        log_scales=log_scales,
        logit_opacities=rng.normal(loc=2.5, scale=0.3, size=n),
        sh=((colours - 0.5) / SH_C0)[:, None, :],
    )


def _quats_from_normals(normals: np.ndarray) -> np.ndarray:
    """Quaternions (w, x, y, z) turning +z onto each normal."""
    n = normals / np.linalg.norm(normals, axis=1, keepdims=True)
    quats = np.stack([1.0 + n[:, 2], -n[:, 1], n[:, 0], np.zeros(len(n))], axis=1)
    flipped = quats[:, 0] < 1e-6
    quats[flipped] = [0.0, 1.0, 0.0, 0.0]
    return quats / np.linalg.norm(quats, axis=1, keepdims=True)


# Parts are sampled densely, then subsampled to the budget by area.
_DENSITY = 40_000.0  # samples per unit area before subsampling
_MAX_SAMPLES = 400_000


def _sample(
    rng: np.random.Generator,
    shape: str,
    size: np.ndarray,
    position: np.ndarray,
    colour: np.ndarray,
    class_name: str | None = None,
    rotation_z: float = 0.0,
) -> _Part:
    size = np.asarray(size, dtype=np.float64)
    count = int(np.clip(surface_area(shape, size) * _DENSITY, 200, _MAX_SAMPLES))
    sampler = plane if shape == "plane" else SHAPES[shape]
    points, normals = sampler(rng, count, size)
    c, s = np.cos(rotation_z), np.sin(rotation_z)
    turn = np.array([[c, -s, 0.0], [s, c, 0.0], [0.0, 0.0, 1.0]])
    area = surface_area(shape, size)
    return _Part(points @ turn.T + position, normals @ turn.T, colour, class_name or shape, area)


def _palette(rng: np.random.Generator, count: int, shared_fraction: float = 0.3) -> np.ndarray:
    """``count`` colours, about ``shared_fraction`` of them repeating an earlier one."""
    distinct = max(1, round(count * (1 - shared_fraction)))
    base = rng.uniform(0.1, 0.95, size=(distinct, 3))
    return base[np.concatenate([np.arange(distinct), rng.integers(0, distinct, count - distinct)])]


def _place_objects(
    rng: np.random.Generator,
    count: int,
    area: tuple[float, float],
    size_range: tuple[float, float],
    touching_fraction: float,
    base_z: float = 0.0,
    stack_fraction: float = 0.0,
) -> list[_Part]:
    """Objects on the rectangle ``area`` (centred at the origin) without overlaps, some touching."""
    shapes = list(SHAPES)
    colours = _palette(rng, count)
    placed: list[tuple[np.ndarray, float, float]] = []  # (xy, footprint radius, top z)
    parts = []
    for index in range(count):
        shape = shapes[rng.integers(len(shapes))]
        extent = rng.uniform(*size_range)
        size = np.array([extent, extent * rng.uniform(0.6, 1.0), extent * rng.uniform(0.5, 1.5)])
        if shape in ("sphere", "cylinder", "cone", "torus"):
            size[1] = size[0]
        if shape == "torus":
            size[2] = size[0] * 0.3
        radius = 0.5 * float(np.hypot(size[0], size[1]))
        z = base_z
        xy = None
        if placed and rng.random() < stack_fraction:
            below = placed[rng.integers(len(placed))]
            xy, z = below[0].copy(), below[2]
        elif placed and rng.random() < touching_fraction:
            other = placed[rng.integers(len(placed))]
            angle = rng.uniform(0, 2 * np.pi)
            candidate = other[0] + (other[1] + radius) * 0.98 * np.array(
                [np.cos(angle), np.sin(angle)]
            )
            if _free(candidate, radius, placed, area, ignore=other):
                xy = candidate
        for _ in range(200):
            if xy is not None:
                break
            candidate = (rng.random(2) - 0.5) * (np.array(area) - 2 * radius)
            if _free(candidate, radius, placed, area):
                xy = candidate
        if xy is None:
            continue  # no room left
        placed.append((xy, radius, z + size[2]))
        parts.append(
            _sample(rng, shape, size, np.array([xy[0], xy[1], z]), colours[index],
                    rotation_z=rng.uniform(0, 2 * np.pi))
        )  # fmt: skip
    return parts


def _free(xy, radius, placed, area, ignore=None) -> bool:
    half = np.array(area) / 2
    if np.any(np.abs(xy) + radius > half):
        return False
    for other in placed:
        if other is ignore:
            continue
        if np.linalg.norm(other[0] - xy) < other[1] + radius:
            return False
    return True


# ---------------------------------------------------------------------------- kinds
def _tabletop(rng: np.random.Generator) -> _Layout:
    table = _sample(
        rng, "plane", np.array([2.0, 1.4, 0.0]), np.zeros(3), np.array([0.55, 0.4, 0.3]), "table"
    )
    count = int(rng.integers(8, 21))
    objects = _place_objects(rng, count, (1.9, 1.3), (0.12, 0.32), touching_fraction=0.3)
    centre = np.array([0.0, 0.0, 0.1])
    return _Layout(
        parts=[table, *objects],
        real_objects=[],
        rig=lambda n, w, h: hemisphere_cameras(centre, 2.0, n, width=w, height=h),
    )


def _room(rng: np.random.Generator) -> _Layout:
    side, wall_h = 6.0, 2.5
    floor = _sample(
        rng, "plane", np.array([side, side, 0.0]), np.zeros(3), np.array([0.6, 0.6, 0.55]), "floor"
    )
    walls = []
    wall_colours = _palette(rng, 4, shared_fraction=0.5)
    for index, angle in enumerate(np.arange(4) * np.pi / 2):
        # A vertical plane: sample a horizontal rectangle, then stand it up facing inward.
        part = _sample(
            rng, "plane", np.array([side, wall_h, 0.0]), np.zeros(3), wall_colours[index], "wall"
        )
        stand = np.array([[1.0, 0.0, 0.0], [0.0, 0.0, -1.0], [0.0, 1.0, 0.0]])  # +z → -y
        c, s = np.cos(angle), np.sin(angle)
        turn = np.array([[c, -s, 0.0], [s, c, 0.0], [0.0, 0.0, 1.0]])
        points = part.points @ stand.T + [0.0, 0.0, wall_h / 2]
        points = (points + [0.0, side / 2, 0.0]) @ turn.T
        normals = (part.normals @ stand.T) @ turn.T
        walls.append(_Part(points, normals, part.colour, "wall", part.area))
    count = int(rng.integers(30, 61))
    objects = _place_objects(
        rng, count, (side - 0.6, side - 0.6), (0.25, 0.7), touching_fraction=0.25,
        stack_fraction=0.15,
    )  # fmt: skip
    centre = np.array([0.0, 0.0, 0.6])
    return _Layout(
        parts=[floor, *walls, *objects],
        real_objects=[],
        rig=lambda n, w, h: ring_cameras(
            centre, 2.2, n, elevation_degrees=12.0, width=w, height=h, fov_x_degrees=75.0
        ),
    )


def _cluttered(rng: np.random.Generator) -> _Layout:
    floor = _sample(
        rng, "plane", np.array([3.0, 3.0, 0.0]), np.zeros(3), np.array([0.5, 0.5, 0.5]), "floor"
    )
    objects = _place_objects(
        rng, 240, (2.9, 2.9), (0.05, 0.14), touching_fraction=0.5, stack_fraction=0.1
    )
    centre = np.array([0.0, 0.0, 0.05])
    return _Layout(
        parts=[floor, *objects],
        real_objects=[],
        rig=lambda n, w, h: hemisphere_cameras(
            centre,
            3.2,
            n,
            min_elevation_degrees=30.0,
            max_elevation_degrees=75.0,
            width=w,
            height=h,
        ),
    )


# Real objects: file, up axis of the trained scene, height after scaling, class name.
_REAL_OBJECTS = (
    ("guitar.compressed.ply", "y-down", 0.9, "guitar"),
    ("biker.compressed.ply", "y-down", 1.1, "biker"),
    ("donut.ply", "z-up", 0.25, "donut"),
)


def _composite(rng: np.random.Generator, real_data_dir: Path | None) -> _Layout:
    folder = real_data_dir or default_real_data_dir()
    missing = [
        name for name, *_ in _REAL_OBJECTS if folder is None or not (folder / name).is_file()
    ]
    if missing:
        raise SceneUnavailable(
            "the composite scene needs the real trained scenes "
            f"({', '.join(missing)}) from ../shared/data/real or $LIFTSTUDIO_REAL_DATA"
        )
    table = _sample(
        rng, "plane", np.array([3.2, 1.6, 0.0]), np.zeros(3), np.array([0.5, 0.42, 0.35]), "table"
    )
    real_objects = []
    y_down_to_z_up = np.array([[1.0, 0.0, 0.0], [0.0, 0.0, 1.0], [0.0, -1.0, 0.0]])
    x_positions = (-1.0, 0.0, 1.0)
    for (name, up, target_height, class_name), x in zip(_REAL_OBJECTS, x_positions, strict=True):
        gaussians = read_gaussians(folder / name)
        rotation = y_down_to_z_up if up == "y-down" else np.eye(3)
        means = gaussians.means.astype(np.float64) @ rotation.T
        low, high = np.percentile(means, [1, 99], axis=0)
        scale = target_height / (high[2] - low[2])
        centre = (low + high) / 2
        shift = np.array([x, 0.2, 0.0]) - scale * np.array([centre[0], centre[1], low[2]])
        real_objects.append((gaussians.transformed(rotation, shift, scale), class_name))
    objects = _place_objects(rng, 5, (3.0, 0.5), (0.12, 0.25), touching_fraction=0.3)
    for part in objects:
        part.points[:, 1] -= 0.5
    target = np.array([0.0, 0.0, 0.4])
    return _Layout(
        parts=[table, *objects],
        real_objects=real_objects,
        rig=lambda n, w, h: forward_cameras(
            target, (0.0, 1.0, -0.35), 3.6, n, spread=0.3, width=w, height=h
        ),
    )
