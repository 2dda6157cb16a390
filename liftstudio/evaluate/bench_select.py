"""The single-object protocol of ``liftstudio bench lift``: select one object from a scribble.

For the methods in :data:`SINGLE_OBJECT_METHODS` (LUDVIG graph diffusion and the
label-propagation variant) a row of the lift benchmark is, per object of the scene
(every instance except supports such as the table, floor and walls):

1. (at most :data:`MAX_OBJECTS` objects per scene) the reference view is the
   training view showing most of the object; the scribble
   is the skeleton of its ground-truth mask there, eroded first (a stroke drawn along
   the object, as a user would; :func:`scribble_from_mask`);
2. the features are the mask-membership features of the row's 2D masks (the masks
   of the noise level being benchmarked; colour and position are left out: position
   varies across an object, so it would make the gate fade towards the object's far
   side); the kNN graph is built once per scene;
3. the bandwidths are chosen by IoU on the reference view against the object's
   reference mask (SPIn-NeRF gives a reference mask, DESIGN §6);
4. the per-Gaussian scores are rendered into the reference view and every test view,
   and scored with :func:`~liftstudio.evaluate.metrics.single_object_iou`: threshold
   chosen on the reference view alone, reference left out of the mean.

The row's ``object_iou`` is the mean over objects; ``seconds`` is the mean time of one
selection (seeds, bandwidth choice and the final run), not counting the features and
the graph, which a session computes once per scene and masks.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
from scipy import ndimage
from skimage.morphology import skeletonize

from liftstudio.evaluate.metrics import single_object_iou
from liftstudio.evaluate.scenes import BenchmarkScene
from liftstudio.lift.diffusion import feature_graph
from liftstudio.lift.features import mask_membership_features
from liftstudio.lift.knn_graph import build_knn_graph
from liftstudio.lift.selection import Scribble, choose_bandwidths, resolve_seeds, select_object
from liftstudio.render.backend import RenderBackend

#: Bench method name → method of :func:`~liftstudio.lift.selection.select_object`.
SINGLE_OBJECT_METHODS: dict[str, str] = {
    "diffusion": "diffusion",
    "diffusion-lp": "diffusion-lp",
}

#: Instances of these classes are supports, not objects a user would select.
SUPPORT_CLASSES = frozenset({"table", "floor", "wall", "ceiling"})

#: Objects selected per scene at most (an evenly spaced subset of the ids beyond that).
MAX_OBJECTS = 20

#: Erosion (pixels) before the mask is thinned to a scribble.
SCRIBBLE_EROSION_PX = 2
#: kNN graph degree used by the benchmark.
GRAPH_K = 16


@dataclass(frozen=True)
class ObjectScore:
    """One object of a single-object row."""

    instance: int
    reference_view: int
    iou: float
    reference_iou: float
    seconds: float


def scribble_from_mask(mask: np.ndarray, erosion_px: int = SCRIBBLE_EROSION_PX) -> np.ndarray:
    """A thin stroke inside ``mask``: the skeleton of the eroded mask.

    Falls back to the un-eroded skeleton, then to the mask's most interior pixel,
    for objects too thin to erode.
    """
    mask = np.asarray(mask, dtype=bool)
    if not mask.any():
        raise ValueError("cannot draw a scribble on an empty mask")
    eroded = ndimage.binary_erosion(mask, iterations=erosion_px) if erosion_px > 0 else mask
    for region in (eroded, mask):
        if region.any():
            stroke = skeletonize(region)
            if stroke.any():
                return stroke
    stroke = np.zeros_like(mask)
    stroke[np.unravel_index(np.argmax(ndimage.distance_transform_edt(mask)), mask.shape)] = True
    return stroke


def benchmark_objects(scene: BenchmarkScene, limit: int = MAX_OBJECTS) -> list[int]:
    """Instance ids the protocol selects: the instances that are not supports.

    At most ``limit`` of them, evenly spaced over the sorted ids (the cluttered scene
    has 240 objects; 20 give a stable mean at a tenth of the time).
    """
    present = set(np.unique(scene.instance_ids).tolist()) - {0}
    objects = [i for i in sorted(present) if scene.class_names.get(i) not in SUPPORT_CLASSES]
    if len(objects) > limit:
        objects = [objects[i] for i in np.linspace(0, len(objects) - 1, limit).round().astype(int)]
    return objects


def score_single_object_method(
    scene: BenchmarkScene,
    method: str,
    masks: Sequence[np.ndarray],
    backend: RenderBackend,
) -> list[ObjectScore]:
    """Run the protocol of the module docstring for every object; one score each."""
    if method not in SINGLE_OBJECT_METHODS:
        raise ValueError(
            f"unknown single-object method {method!r}; choose from "
            f"{', '.join(SINGLE_OBJECT_METHODS)}"
        )
    gaussians = scene.gaussians
    features = mask_membership_features(backend, gaussians, scene.train_cameras, masks)
    graph = build_knn_graph(gaussians.means, k=GRAPH_K)
    prepared = feature_graph(graph, features.values)
    scores = []
    for instance in benchmark_objects(scene):
        areas = [int(np.count_nonzero(gt == instance)) for gt in scene.train_gt]
        view = int(np.argmax(areas))
        if areas[view] == 0:
            continue  # no training view shows it: nothing to scribble on
        camera = scene.train_cameras[view]
        reference = scene.train_gt[view] == instance
        # Uplifted once, shared by the bandwidth search and the final run.
        seeds = resolve_seeds(backend, gaussians, Scribble(camera, scribble_from_mask(reference)))
        start = time.perf_counter()
        choice = choose_bandwidths(
            backend, gaussians, graph, prepared, seeds, camera, reference,
            method=SINGLE_OBJECT_METHODS[method],
        )  # fmt: skip
        selection = select_object(
            backend, gaussians, graph, prepared, seeds,
            method=SINGLE_OBJECT_METHODS[method], config=choice.config,
        )  # fmt: skip
        seconds = time.perf_counter() - start
        cameras = [camera, *scene.test_cameras]
        gt_masks = [reference, *(gt == instance for gt in scene.test_gt)]
        score_maps = [
            backend.render(gaussians, c, features=selection.scores[:, None], rgb=False).features[
                ..., 0
            ]
            for c in cameras
        ]
        result = single_object_iou(score_maps, gt_masks, reference_index=0)
        scores.append(ObjectScore(instance, view, result.mean_iou, result.reference_iou, seconds))
    return scores
