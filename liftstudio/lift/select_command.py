"""Select one object of a scene from a 2D scribble: the pipeline behind ``liftstudio select``.

The steps, each a plain function the CLI (and the app, or a script) calls in order:

1. :func:`find_view_camera` and :func:`read_view_mask`: the scribble (and the optional
   negative scribble and reference mask) as a boolean image on a named camera of the
   scene, training or test split; the camera is scaled to the image's size;
2. :func:`parse_feature_spec` / :func:`find_default_masks` / :func:`build_features`:
   the per-Gaussian features the diffusion is gated by: mask-membership features of a
   label-map folder (``masks:DIR``), colour and position (``colour``) or a user's
   ``(N, D)`` ``.npy`` file, concatenated;
3. :func:`scribble_seeds` (early, to refuse a scribble that reaches no Gaussian), then
   :func:`select_from_scribble`: the bandwidths chosen on a reference view when one is
   given (:func:`~liftstudio.lift.selection.choose_bandwidths`), then
   :func:`~liftstudio.lift.selection.select_object`;
4. :func:`check_selection_outputs` before the work and :func:`write_selection` after
   it: a bool ``(N,)`` ``.npy`` and optionally the float32 scores, written atomically.

The kNN graph comes from :func:`~liftstudio.lift.knn_graph.cached_knn_graph`.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

import numpy as np
from PIL import Image

from liftstudio.errors import InputFileError, LiftStudioError, OutputFileError
from liftstudio.fileio import atomic_output, read_npy
from liftstudio.jobs import CancelToken, ProgressCallback, check_cancelled
from liftstudio.lift.diffusion import DiffusionConfig, FeatureGraph, feature_graph
from liftstudio.lift.features import (
    GaussianFeatures,
    colour_position_features,
    concatenate_features,
    load_feature_file,
    mask_membership_features,
)
from liftstudio.lift.knn_graph import KnnGraph
from liftstudio.lift.selection import (
    BandwidthChoice,
    Method,
    Scribble,
    Seeds,
    Selection,
    choose_bandwidths,
    resolve_seeds,
    select_object,
)
from liftstudio.render.backend import RenderBackend
from liftstudio.scene.camera import Camera, CameraSet
from liftstudio.scene.discovery import OpenedScene, camera_name_keys
from liftstudio.scene.gaussians import GaussianScene
from liftstudio.sources.label_files import (
    MAP_SUFFIXES,
    LabelMapSet,
    read_label_maps,
    same_aspect,
)

#: File suffixes read as scribbles and reference masks.
VIEW_MASK_SUFFIXES = (".png", ".npy")
#: Folder names searched for label maps when no ``--features`` is given.
DEFAULT_MASK_FOLDERS = ("masks", "object_mask")

FeatureKind = Literal["masks", "colour", "file"]


class SelectInputError(LiftStudioError, ValueError):
    """A selection input the user can fix: unknown camera, a scribble hitting nothing..."""


# ---------------------------------------------------------------------------- views
@dataclass(frozen=True)
class ViewFile:
    """A ``CAMERA=FILE`` argument: a file drawn on a named camera.

    Attributes
    ----------
    camera
        Camera name (or index) as the user wrote it.
    path
        The image or array file.
    """

    camera: str
    path: Path


def parse_view_file(text: str) -> ViewFile:
    """Parse ``CAMERA=FILE`` (split at the first ``=``).

    Raises
    ------
    ValueError
        When either side is empty or there is no ``=``.
    """
    camera, sep, path = text.partition("=")
    if not sep or not camera.strip() or not path.strip():
        raise ValueError(
            f"expected CAMERA=FILE (a camera name of the scene, '=', then a .png or .npy "
            f"file), got {text!r}"
        )
    return ViewFile(camera=camera.strip(), path=Path(path.strip()))


def find_view_camera(cameras: CameraSet, key: str) -> Camera:
    """The camera of the scene (training or test split) named ``key``.

    ``key`` may be the camera's name, its name without the image suffix
    (``DSC0001`` for ``DSC0001.JPG``), the last path component of either, or an index
    into training-then-test cameras.

    Raises
    ------
    SelectInputError
        When nothing matches; the message names a few cameras of each split.
    """
    every = cameras.all
    for level in range(3):
        found = [c for c in every if key in camera_name_keys(c.name)[level]]
        if len(found) == 1:
            return found[0]
        if len(found) > 1:
            names = ", ".join(repr(c.name) for c in found[:3])
            raise SelectInputError(f"camera {key!r} is ambiguous ({names}); give its full name")
    if key.lstrip("-").isdigit():
        index = int(key)
        if -len(every) <= index < len(every):
            return every[index]
    train = ", ".join(c.name for c in cameras.train[:3]) or "none"
    test = ", ".join(c.name for c in cameras.test[:3]) or "none"
    raise SelectInputError(
        f"no camera named {key!r}; the scene has {len(cameras.train)} training cameras "
        f"(e.g. {train}) and {len(cameras.test)} test cameras (e.g. {test}); give one of "
        f"these names or an index 0..{len(every) - 1}"
    )


@dataclass(frozen=True)
class ViewMask:
    """A boolean image drawn on a camera, and the camera scaled to the image's size.

    Attributes
    ----------
    camera
        The named camera, its intrinsics scaled to ``mask``'s size when it differs.
    mask : (H, W) bool
        Non-empty, not every pixel set.
    path
        The file it was read from.
    """

    camera: Camera
    mask: np.ndarray
    path: Path


def read_view_mask(path: str | Path, camera: Camera, *, what: str = "scribble") -> ViewMask:
    """Read a scribble or a mask drawn on ``camera`` from a ``.png`` or ``.npy`` file.

    A pixel belongs to the stroke when it is non-zero: for greyscale, palette (the
    index) and RGB PNGs any non-zero channel; for PNGs with transparency (some alpha
    below 255) the pixels whose alpha is non-zero; for ``.npy`` a 2D (or ``(H, W, 1)``)
    bool or numeric array, non-zero entries. The image may have any size with the
    camera's aspect ratio (up to a pixel of rounding); the camera is then scaled to it.

    Parameters
    ----------
    path
        The file.
    camera
        The camera it was drawn on.
    what
        What the file is, for messages (``"scribble"``, ``"reference mask"``...).

    Returns
    -------
    ViewMask

    Raises
    ------
    InputFileError
        Naming the file: missing, unreadable, another format, another aspect ratio,
        empty, or every pixel set.
    """
    path = Path(path)
    mask = _read_stroke(path, what)
    height, width = mask.shape
    if not same_aspect((width, height), (camera.width, camera.height)):
        raise InputFileError(
            path,
            f"is {width}x{height} but camera {camera.name!r} is {camera.width}x{camera.height}"
            f": another aspect ratio ({width / height:.4g} vs {camera.width / camera.height:.4g})"
            f"; draw the {what} over the whole view, at its size or a uniform rescale of it",
        )
    if not mask.any():
        raise InputFileError(
            path,
            f"the {what} is empty (every pixel is 0); draw it with non-zero pixels on a zero "
            "(black or transparent) background",
        )
    if mask.all():
        raise InputFileError(
            path,
            f"every pixel of the {what} is set; draw it with non-zero pixels on a zero "
            "(black or transparent) background",
        )
    same = (width, height) == (camera.width, camera.height)
    return ViewMask(camera if same else camera.scaled_to(width, height), mask, path)


def scribble_input(positive: ViewMask, negative: ViewMask | None = None) -> Scribble:
    """The :class:`~liftstudio.lift.selection.Scribble` of a scribble and its negative.

    The negative must be drawn on the same camera; a negative of another size (same
    aspect ratio) is resized to the scribble's with nearest-neighbour sampling.

    Raises
    ------
    SelectInputError
        When the negative was drawn on another camera, or is empty once resized.
    """
    if negative is None:
        return Scribble(positive.camera, positive.mask)
    if negative.camera.name != positive.camera.name:
        raise SelectInputError(
            f"the negative scribble is drawn on camera {negative.camera.name!r} but the "
            f"scribble on {positive.camera.name!r}; draw both on the same camera"
        )
    mask = negative.mask
    if mask.shape != positive.mask.shape:
        height, width = positive.mask.shape
        image = Image.fromarray(mask.astype(np.uint8) * 255)
        mask = np.asarray(image.resize((width, height), Image.Resampling.NEAREST)) > 0
        if not mask.any():
            raise SelectInputError(
                f"{negative.path}: the negative scribble vanishes when resized to the "
                f"scribble's {width}x{height}; draw it with thicker strokes or at that size"
            )
    return Scribble(positive.camera, positive.mask, negative=mask)


# ---------------------------------------------------------------------------- features
@dataclass(frozen=True)
class FeatureSpec:
    """One ``--features`` block.

    Attributes
    ----------
    kind
        ``"masks"`` (mask-membership features of a label-map folder), ``"colour"``
        (DC colour and normalised position) or ``"file"`` (a user's ``.npy``).
    path
        The folder or file (None for ``"colour"``).
    label_maps
        The folder's maps when already read (by :func:`find_default_masks`).
    """

    kind: FeatureKind
    path: Path | None = None
    label_maps: LabelMapSet | None = field(default=None, compare=False, repr=False)

    def __str__(self) -> str:
        if self.kind == "masks":
            return f"masks:{self.path}"
        return "colour" if self.kind == "colour" else str(self.path)


def parse_feature_spec(text: str) -> FeatureSpec:
    """Parse ``masks:DIR``, ``colour`` (or ``color``) or ``FILE.npy``.

    Raises
    ------
    ValueError
        For anything else, saying which forms are accepted.
    """
    value = text.strip()
    if value.lower() in ("colour", "color"):
        return FeatureSpec("colour")
    if value.startswith("masks:"):
        folder = value[len("masks:") :].strip()
        if not folder:
            raise ValueError("masks: needs a folder, e.g. masks:scene/masks")
        return FeatureSpec("masks", Path(folder))
    if value.lower().endswith(".npy"):
        return FeatureSpec("file", Path(value))
    raise ValueError(
        f"unknown features {text!r}; give masks:DIR (a label-map folder), colour, or an "
        "(N, D) FILE.npy"
    )


@dataclass(frozen=True)
class DefaultMasks:
    """What :func:`find_default_masks` found.

    Attributes
    ----------
    spec
        A ``masks`` spec with its maps already read, or None when no folder fits.
    notes
        One sentence per folder tried and skipped, or left unused.
    """

    spec: FeatureSpec | None
    notes: tuple[str, ...] = ()


def default_mask_folders(opened: OpenedScene) -> list[Path]:
    """The folders :func:`find_default_masks` tries, in order.

    For each root — the scene folder (for a Gaussian file: the folder its cameras came
    from), then the folder holding the training images' folder (a COLMAP source named
    by ``cfg_args``) — ``ROOT/masks``, each subfolder of ``ROOT/masks`` in name order,
    then ``ROOT/object_mask``. Only existing folders are listed, each once.
    """
    roots: list[Path] = []
    if opened.path.is_dir():
        roots.append(opened.path)
    elif opened.cameras is not None:
        source = opened.cameras.source
        roots.append(source if source.is_dir() else source.parent)
    else:
        roots.append(opened.path.parent)
    if opened.images:
        roots.append(next(iter(opened.images.values())).parent.parent)
    folders: list[Path] = []
    seen: set[Path] = set()

    def add(folder: Path) -> None:
        key = folder.resolve()
        if folder.is_dir() and key not in seen:
            seen.add(key)
            folders.append(folder)

    for root in roots:
        masks = root / DEFAULT_MASK_FOLDERS[0]
        add(masks)
        if masks.is_dir():
            for sub in sorted(masks.iterdir()):
                if sub.is_dir() and not sub.name.startswith("."):
                    add(sub)
        add(root / DEFAULT_MASK_FOLDERS[1])
    return folders


def find_default_masks(
    opened: OpenedScene,
    *,
    progress: ProgressCallback | None = None,
    cancel: CancelToken | None = None,
) -> DefaultMasks:
    """The first of :func:`default_mask_folders` whose label maps match a training camera.

    Folders without ``.png``/``.npy`` files (directly or in ``object_mask/``) are passed
    over in silence; one that holds such files but cannot be used (no name matches a
    camera, a bad file) is skipped with a note saying why; later candidates that were
    not needed are named in a note too.

    Parameters
    ----------
    opened
        The opened scene (its training cameras are matched).
    progress, cancel
        As for :func:`~liftstudio.sources.label_files.read_label_maps`.

    Returns
    -------
    DefaultMasks
    """
    train = [] if opened.cameras is None else opened.cameras.train
    if not train:
        return DefaultMasks(None, ("the scene has no training cameras to match label maps to",))
    notes: list[str] = []
    folders = [f for f in default_mask_folders(opened) if _holds_map_files(f)]
    for index, folder in enumerate(folders):
        check_cancelled(cancel)
        try:
            label_set = read_label_maps(folder, train, progress=progress, cancel=cancel)
        except InputFileError as exc:
            notes.append(f"skipped {folder}: {exc.problem}")
            continue
        rest = folders[index + 1 :]
        if rest:
            notes.append(
                "not used: " + ", ".join(str(f) for f in rest[:3])
                + (f" (+{len(rest) - 3} more)" if len(rest) > 3 else "")
                + "; pass --features masks:DIR to choose"
            )  # fmt: skip
        return DefaultMasks(FeatureSpec("masks", folder, label_set), tuple(notes))
    return DefaultMasks(None, tuple(notes))


def build_features(
    backend: RenderBackend,
    scene: GaussianScene,
    train_cameras: Sequence[Camera],
    specs: Sequence[FeatureSpec],
    *,
    seed: int = 0,
    on_label_maps: Callable[[LabelMapSet], None] | None = None,
    progress: ProgressCallback | None = None,
    cancel: CancelToken | None = None,
) -> GaussianFeatures:
    """The features of every block in ``specs``, concatenated (weights 1).

    - ``masks``: :func:`~liftstudio.sources.label_files.read_label_maps` of the folder
      (unless the spec holds them already) against ``train_cameras``, then
      :func:`~liftstudio.lift.features.mask_membership_features` of the matched views
      (each view at its map's size);
    - ``colour``: :func:`~liftstudio.lift.features.colour_position_features`;
    - ``file``: :func:`~liftstudio.lift.features.load_feature_file`.

    Parameters
    ----------
    backend, scene
        Render backend and Gaussians.
    train_cameras
        Cameras label maps are matched to.
    specs
        One or more blocks.
    seed
        Seed of the mask-membership SVD.
    on_label_maps
        Called with each label-map set once read (to show its match report).
    progress, cancel
        Progress of the mask-membership features; cancel between blocks and views.

    Returns
    -------
    GaussianFeatures

    Raises
    ------
    InputFileError
        For a bad folder or file.
    SelectInputError
        For no blocks, or ``masks`` without training cameras.
    """
    if not specs:
        raise SelectInputError("no features given; use masks:DIR, colour or FILE.npy")
    blocks = []
    for spec in specs:
        check_cancelled(cancel)
        if spec.kind == "colour":
            blocks.append(colour_position_features(scene))
        elif spec.kind == "file":
            blocks.append(load_feature_file(spec.path, len(scene)))
        else:
            if not train_cameras:
                raise SelectInputError(
                    f"--features {spec} needs the scene's training cameras and it has none; "
                    "use colour or FILE.npy"
                )
            label_set = spec.label_maps
            if label_set is None:
                label_set = read_label_maps(spec.path, train_cameras, cancel=cancel)
            if on_label_maps is not None:
                on_label_maps(label_set)
            blocks.append(
                mask_membership_features(
                    backend,
                    scene,
                    label_set.matched_cameras,
                    label_set.matched_maps,
                    seed=seed,
                    progress=progress,
                    cancel=cancel,
                )
            )
    return blocks[0] if len(blocks) == 1 else concatenate_features(*blocks)


# ---------------------------------------------------------------------------- selection
@dataclass(frozen=True)
class ScribbleSelection:
    """What :func:`select_from_scribble` found.

    Attributes
    ----------
    selection
        Scores, threshold and mask.
    config
        The diffusion settings used.
    bandwidths
        The bandwidth choice on the reference view, or None without one.
    seeded
        Gaussians with a positive seed score.
    """

    selection: Selection
    config: DiffusionConfig
    bandwidths: BandwidthChoice | None
    seeded: int


def scribble_seeds(
    backend: RenderBackend,
    scene: GaussianScene,
    scribble: Scribble,
    *,
    config: DiffusionConfig | None = None,
) -> Seeds:
    """Uplift a scribble into per-Gaussian seeds, refusing one that reaches no Gaussian.

    Cheap (one view is rendered): call it before the features and the graph so that a
    scribble drawn beside the object fails at once.

    Parameters
    ----------
    backend, scene
        Render backend and Gaussians.
    scribble
        The scribble (and negative scribble) on its camera.
    config
        Diffusion settings whose ``seed_fraction`` picks the negative anchors (default
        :class:`DiffusionConfig`); use the same config for the selection.

    Returns
    -------
    Seeds

    Raises
    ------
    SelectInputError
        When the scribble, or its negative scribble, covers no visible Gaussian.
    """
    config = DiffusionConfig() if config is None else config
    seeds = resolve_seeds(backend, scene, scribble, seed_fraction=config.seed_fraction)
    if not np.any(seeds.scores > 0):
        raise SelectInputError(
            f"the scribble on camera {scribble.camera.name!r} covers no visible Gaussian; "
            "draw it on the object"
        )
    if scribble.negative is not None and seeds.negatives is None:
        raise SelectInputError(
            f"the negative scribble on camera {scribble.camera.name!r} covers no visible "
            "Gaussian; draw it on what is not the object, or leave it out"
        )
    return seeds


def select_from_scribble(
    backend: RenderBackend,
    scene: GaussianScene,
    graph: KnnGraph,
    features: np.ndarray | FeatureGraph,
    scribble: Scribble | Seeds,
    *,
    method: Method = "diffusion",
    reference: ViewMask | None = None,
    threshold: float | None = None,
    config: DiffusionConfig | None = None,
    progress: ProgressCallback | None = None,
    cancel: CancelToken | None = None,
) -> ScribbleSelection:
    """Select the object a scribble is drawn on.

    The scribble is uplifted once into per-Gaussian seeds (:func:`scribble_seeds`,
    unless given as :class:`Seeds` already); with a ``reference`` mask the bandwidths
    are chosen on its view (:func:`~liftstudio.lift.selection.choose_bandwidths`),
    otherwise ``config``'s are used; then
    :func:`~liftstudio.lift.selection.select_object` runs. The result is the same as
    calling ``select_object`` with the :class:`Scribble` and that config.

    Parameters
    ----------
    backend, scene, graph
        Render backend, Gaussians and their kNN graph.
    features
        (N, D) features, or a :class:`FeatureGraph` of ``graph``.
    scribble
        The scribble (and negative scribble) on its camera, or its seeds.
    method
        ``"diffusion"`` or ``"diffusion-lp"``.
    reference
        The object's mask on some view, to choose the bandwidths with.
    threshold
        Score threshold in [0, 1]; None: the automatic (Li) threshold.
    config
        Diffusion settings (default :class:`DiffusionConfig`); its bandwidths are
        replaced by the reference view's choice when there is one.
    progress, cancel
        Progress of every stage and cancel token.

    Returns
    -------
    ScribbleSelection

    Raises
    ------
    SelectInputError
        When the scribble covers no visible Gaussian, or the threshold is outside [0, 1].
    """
    if threshold is not None and not 0.0 <= threshold <= 1.0:
        raise SelectInputError(f"the threshold must lie in [0, 1], got {threshold}")
    config = DiffusionConfig() if config is None else config
    seeds = (
        scribble
        if isinstance(scribble, Seeds)
        else scribble_seeds(backend, scene, scribble, config=config)
    )
    fgraph = (
        features
        if isinstance(features, FeatureGraph)
        else feature_graph(graph, features, progress=progress, cancel=cancel)
    )
    check_cancelled(cancel)
    choice = None
    if reference is not None:
        choice = choose_bandwidths(
            backend, scene, graph, fgraph, seeds, reference.camera, reference.mask,
            method=method, config=config, progress=progress, cancel=cancel,
        )  # fmt: skip
        config = choice.config
    selection = select_object(
        backend, scene, graph, fgraph, seeds,
        method=method, config=config, threshold=threshold, progress=progress, cancel=cancel,
    )  # fmt: skip
    seeded = int(np.count_nonzero(seeds.scores > 0))
    return ScribbleSelection(selection, config, choice, seeded)


# ---------------------------------------------------------------------------- output
def check_selection_outputs(
    out: str | Path, scores: str | Path | None = None, *, overwrite: bool = False
) -> None:
    """Refuse output paths before any work: wrong suffix, existing, no folder, clash.

    Raises
    ------
    OutputFileError
        Naming the path at fault.
    """
    paths = [Path(out)] + ([] if scores is None else [Path(scores)])
    if len(paths) == 2 and paths[0].resolve() == paths[1].resolve():
        raise OutputFileError(paths[1], "is also the selection output; give --scores another name")
    for path in paths:
        if path.suffix.lower() != ".npy":
            raise OutputFileError(path, "must end in .npy (a NumPy array file)")
        if path.is_dir():
            raise OutputFileError(path, "is a folder; give a file name ending in .npy")
        if path.exists() and not overwrite:
            raise OutputFileError(path, "already exists; choose another name or pass --overwrite")
        if not path.parent.is_dir():
            raise OutputFileError(path, f"folder {path.parent} does not exist")


def write_selection(
    out: str | Path,
    selection: Selection,
    *,
    scores: str | Path | None = None,
    overwrite: bool = False,
) -> None:
    """Write the mask as a bool ``(N,)`` ``.npy`` (and the float32 scores), atomically.

    Both files are written to temporary names first and moved into place together
    at the end, so an error or Ctrl-C leaves neither half-written.

    Raises
    ------
    OutputFileError
        As :func:`check_selection_outputs`, or when writing fails.
    """
    check_selection_outputs(out, scores, overwrite=overwrite)
    arrays = [(Path(out), np.ascontiguousarray(selection.mask, dtype=bool))]
    if scores is not None:
        arrays.append((Path(scores), np.ascontiguousarray(selection.scores, dtype=np.float32)))
    with contextlib.ExitStack() as stack:
        for path, array in arrays:
            tmp = stack.enter_context(atomic_output(path, overwrite=overwrite))
            with open(tmp, "wb") as handle:
                np.save(handle, array, allow_pickle=False)


# ---------------------------------------------------------------------------- helpers
def _holds_map_files(folder: Path) -> bool:
    """Whether ``folder`` (or its ``object_mask/``) has a file named like a label map."""
    for where in (folder, folder / "object_mask"):
        with contextlib.suppress(OSError):
            if any(
                p.suffix.lower() in MAP_SUFFIXES and p.is_file() and not p.name.startswith(".")
                for p in where.iterdir()
            ):
                return True
    return False


def _read_stroke(path: Path, what: str) -> np.ndarray:
    """The boolean stroke of a ``.png`` or ``.npy`` file (see :func:`read_view_mask`)."""
    suffix = path.suffix.lower()
    if suffix not in VIEW_MASK_SUFFIXES:
        raise InputFileError(
            path, f"a {what} must be a .png image or a 2D .npy array, not a {suffix or 'bare'} file"
        )
    if not path.is_file():
        raise InputFileError(path, "no such file")
    if suffix == ".npy":
        return _read_npy_stroke(path)
    try:
        with Image.open(path) as image:
            image.load()
            kind, mode = image.format, image.mode
            if mode in ("LA", "RGBA", "PA", "La", "RGBa"):
                array = np.asarray(image.convert("RGBA"))
            elif mode in ("1", "L", "P", "I", "F", "RGB") or mode.startswith("I;16"):
                array = np.asarray(image)
            else:
                array = np.asarray(image.convert("RGBA"))
    except (OSError, SyntaxError, ValueError, Image.DecompressionBombError) as exc:
        raise InputFileError(
            path, f"cannot be read as a PNG image ({exc}); the file may be truncated or corrupt"
        ) from None
    if kind != "PNG":
        raise InputFileError(path, f"is a {kind} file, not a PNG; save the {what} as .png")
    if array.ndim == 2:
        return np.asarray(array != 0) & np.isfinite(array)
    if array.shape[2] == 4 and array[..., 3].min() < 255:
        return array[..., 3] > 0
    return np.any(array[..., :3] != 0, axis=2)


def _read_npy_stroke(path: Path) -> np.ndarray:
    array = read_npy(path, "save one 2D array with numpy.save")
    if array.ndim == 3 and array.shape[2] == 1:
        array = array[:, :, 0]
    if array.ndim != 2 or array.size == 0:
        raise InputFileError(path, f"has shape {array.shape}; expected a 2D (H, W) array")
    if array.dtype.kind not in "biuf":
        raise InputFileError(path, f"holds {array.dtype} values; expected bool or numbers")
    if array.dtype.kind == "f" and not np.isfinite(array).all():
        raise InputFileError(path, "holds NaN or inf; use 0 for off and 1 for the stroke")
    return np.asarray(array != 0)
