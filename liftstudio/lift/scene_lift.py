"""From an opened scene and a masks folder to a lifting method's inputs.

These are the steps the CLI's ``lift`` command and the app's lift job share.

:func:`configured_method` picks a registered method and applies the user's options;
:func:`prepare_lift` checks the scene, reads the masks, pairs them with cameras and
images and builds the :class:`~liftstudio.lift.registry.LiftInputs`; the caller runs
the method with its own progress display and cancel token.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from pathlib import Path

from liftstudio.errors import InputFileError, LiftStudioError
from liftstudio.jobs import ProgressCallback
from liftstudio.lift import registry
from liftstudio.lift.registry import LiftInputs, LiftMethod
from liftstudio.render.registry import resolve_backend
from liftstudio.scene.discovery import OpenedScene, require_cameras, require_gaussians
from liftstudio.sources.images import ViewImages
from liftstudio.sources.mask_import import ImportedMasks, import_masks


class LiftSetupError(LiftStudioError):
    """A method name or option that does not fit (``steps`` for a method that does not train)."""


@dataclass
class PreparedLift:
    """Everything a lifting method needs, and what was found on the way.

    Attributes
    ----------
    inputs
        The method's inputs.
    masks
        The imported masks (format, report, whether ids agree across views).
    notes
        One line each: the import report, held-out views, missing images.
    """

    inputs: LiftInputs
    masks: ImportedMasks
    notes: list[str] = field(default_factory=list)


def configured_method(
    name: str, *, steps: int | None = None, features: str | Path | None = None
) -> LiftMethod:
    """The registered method ``name`` with the user's options applied.

    Parameters
    ----------
    name
        A key of :func:`~liftstudio.lift.registry.lift_methods`.
    steps
        Training steps (learned methods only).
    features
        A ``.npy`` of lifted features (methods that take features, like ``coseg``).

    Raises
    ------
    LiftSetupError
        For an unknown name or an option the method does not take.
    InputFileError
        When ``features`` does not exist.
    """
    from liftstudio.lift.features import FeatureFileSource

    methods = registry.lift_methods()
    if name not in methods:
        available = ", ".join(sorted(methods)) or "none"
        raise LiftSetupError(f"no lifting method named {name!r} (available: {available})")
    method = methods[name]
    if steps is not None:
        training = getattr(method, "training", None)
        if not (dataclasses.is_dataclass(method) and hasattr(training, "steps")):
            raise LiftSetupError(f"--steps applies to learned methods; {name!r} does not train")
        method = dataclasses.replace(method, training=dataclasses.replace(training, steps=steps))
    if features is not None:
        path = Path(features)
        if not (dataclasses.is_dataclass(method) and hasattr(method, "features")):
            raise LiftSetupError(
                f"--features applies to methods that use features (coseg); not {name!r}"
            )
        if not path.is_file():
            raise InputFileError(path, "does not exist; make it with 'liftstudio features'")
        method = dataclasses.replace(method, features=FeatureFileSource(path))
    return method


def prepare_lift(
    opened: OpenedScene,
    masks: str | Path,
    *,
    method_name: str,
    mask_format: str = "auto",
    backend: str = "auto",
    seed: int = 0,
    progress: ProgressCallback | None = None,
) -> PreparedLift:
    """Check the scene, read the masks and build the method's inputs.

    Parameters
    ----------
    opened
        The scene (it needs Gaussians and training cameras).
    masks
        Folder of per-view masks in any supported layout.
    method_name
        The method that will run (``vote`` refuses per-view ids).
    mask_format
        The layout, or ``"auto"``.
    backend
        Render backend name.
    seed
        Seed of the method's randomness.
    progress
        Reports the mask import.

    Raises
    ------
    InputFileError
        When the scene has no Gaussians or no training cameras, or the masks are bad.
    LiftSetupError
        When ``vote`` meets masks whose ids do not agree across views.
    """
    gaussians = require_gaussians(opened, "to label")
    training_cameras = require_cameras(opened, "lifting needs them")
    label_set = import_masks(masks, training_cameras, format=mask_format, progress=progress)
    notes = list(label_set.report.lines())
    if method_name == "vote" and not label_set.associated:
        raise LiftSetupError(
            f"'vote' needs ids that agree across views; {label_set.format} masks are numbered "
            "per view: choose a method that associates them (codebook, unic, coseg, contrastive)"
        )
    test_names = {c.name for c in opened.cameras.test} | {
        Path(c.name).stem for c in opened.cameras.test
    }
    held_out = [f for f in label_set.report.unmatched_files if f.stem in test_names]
    if held_out:
        notes.append(f"  ({len(held_out)} of the unmatched files are for held-out test views)")
    cameras, maps = label_set.matched_cameras, label_set.matched_maps
    image_paths = [opened.images.get(label_set.cameras[i].name) for i in label_set.matched_indices]
    images = None
    if all(p is not None for p in image_paths):
        images = ViewImages(image_paths, [(c.width, c.height) for c in cameras])
    else:
        found = sum(p is not None for p in image_paths)
        notes.append(f"training images: {found} of {len(cameras)} found; lifting without images")
    inputs = LiftInputs(gaussians, cameras, maps, images, resolve_backend(backend), seed=seed)
    return PreparedLift(inputs, label_set, notes)
