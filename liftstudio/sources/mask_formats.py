"""Readers for per-view files that hold *overlapping* masks: SAM JSON, SAGA, OmniSeg3D.

Each reader turns one file into the view's flattened (H, W) int32 label map (painted
largest mask first, see :func:`~liftstudio.sources.mask_stacks.flatten_masks`) and a
:class:`MaskHierarchy` saying how its ids relate to the file's masks. The importers of
:mod:`liftstudio.sources.mask_import` match these files to cameras.

- **SAM JSON** (:func:`read_sam_json`): segment-anything's ``scripts/amg.py
  --convert-to-rle`` writes ``<image stem>.json``, a list of annotations whose
  ``segmentation`` is COCO RLE ``{"size": [h, w], "counts": str}``; uncompressed RLE
  (``counts`` a list of run lengths) and ``{"annotations": [...]}`` are accepted too.
  Mask ``i`` is annotation ``i``; its score is ``predicted_iou``.
- **SAGA** (:func:`read_saga_masks`): ``sam_masks/<image stem>.pt``, one tensor
  ``[M, H, W]`` of bool (or 0/1 numbers) written by SAGA's
  ``extract_segment_everything_masks.py``. Mask ``i`` is row ``i``.
- **OmniSeg3D** (:func:`read_omniseg3d_npz`): ``sam/<image stem>.npz`` written by
  OmniSeg3D's ``run_sam.py`` with ``numpy.savez_compressed(indices=, correlation=)``:
  ``indices`` (H, W) int16 gives each pixel its *patch* (a set of pixels covered by
  exactly the same SAM masks, numbered as ``torch.unique(dim=1)`` orders those sets, so
  patch 0 is the uncovered background when there is one) and ``correlation`` (P, P)
  uint8 counts the masks two patches share (its diagonal: how many masks cover a
  patch). The masks themselves are not stored; they are rebuilt from the correlation
  (:func:`masks_from_patch_correlation`): exactly when the masks nest (``run_sam.py``
  grows a larger mask to contain a smaller one it already covers by 90 %, so they
  mostly do), approximately otherwise (reported through :attr:`MaskHierarchy.exact`).
"""

from __future__ import annotations

import json
import pickle
import re
import warnings
import zipfile
import zlib
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from liftstudio.errors import InputFileError
from liftstudio.scene.camera import Camera
from liftstudio.sources.mask_stacks import MaskStack, flatten_masks

_SAM_JSON_HINT = (
    "expected a list of SAM annotations with COCO RLE segmentations, as segment-anything's "
    'scripts/amg.py --convert-to-rle writes (or {"annotations": [...]})'
)
_SAGA_HINT = (
    "SAGA's extract_segment_everything_masks.py writes one [M, H, W] bool tensor per image "
    "(torch.save(masks.bool().cpu(), path))"
)
_OMNISEG_HINT = (
    "OmniSeg3D's run_sam.py writes sam/<image>.npz with numpy.savez_compressed(indices=(H, W) "
    "patch ids, correlation=(P, P) shared-mask counts)"
)


@dataclass(frozen=True)
class MaskHierarchy:
    """How the ids of one view's flattened label map relate to the masks of its file.

    Id ``k >= 1`` in the label map is mask ``k - 1`` of the view (annotation ``k - 1``
    of a SAM JSON list, row ``k - 1`` of a SAGA tensor, the ``k - 1``-th mask rebuilt
    from an OmniSeg3D file); it owns the pixels where that mask is the smallest one.
    Ids are per view: id 3 of one view has nothing to do with id 3 of another.

    Attributes
    ----------
    parents : (M,) int32
        Per mask, the index of its parent (the smallest larger mask holding at least
        90 % of it, see :func:`~liftstudio.sources.mask_stacks.mask_parents`), -1 for
        a root.
    areas : (M,) int64
        Pixel count of each whole mask (before flattening), at the map's size.
    scores : (M,) float32 or None
        A quality score per mask when the file has one (SAM's ``predicted_iou``).
    exact : bool
        False when masks rebuilt from an OmniSeg3D file do not reproduce its patch
        correlation (masks that overlap without nesting); True for every other format.
    """

    parents: np.ndarray
    areas: np.ndarray
    scores: np.ndarray | None = None
    exact: bool = True

    def __len__(self) -> int:
        return len(self.parents)

    @property
    def parent_ids(self) -> np.ndarray:
        """(M + 1,) int32 lookup: ``parent_ids[k]`` is the id of id ``k``'s parent.

        0 for roots and for id 0, so ``parent_ids[label_map]`` is the label map one
        level coarser.
        """
        return np.concatenate([[0], self.parents + 1]).astype(np.int32)

    @property
    def root_ids(self) -> np.ndarray:
        """(M + 1,) int32 lookup: the id of each id's top ancestor (0 for id 0)."""
        roots = np.arange(len(self) + 1, dtype=np.int32)
        parent = self.parent_ids
        for _ in range(len(self)):  # parents are strictly larger: no cycles
            step = np.where(parent[roots] > 0, parent[roots], roots)
            if np.array_equal(step, roots):
                break
            roots = step
        return roots


def flatten_stack(stack: MaskStack, *, exact: bool = True) -> tuple[np.ndarray, MaskHierarchy]:
    """Flatten one view's masks (larger first) and keep their hierarchy.

    Parameters
    ----------
    stack
        The view's masks.
    exact
        Recorded in the hierarchy (False for approximately rebuilt masks).

    Returns
    -------
    label_map : (H, W) int32
        Mask ``i`` has id ``i + 1``; 0 where no mask is.
    hierarchy : MaskHierarchy
        Parents, areas and scores of the masks.
    """
    flat = flatten_masks(stack)
    hierarchy = MaskHierarchy(
        parents=flat.parents, areas=stack.areas, scores=stack.scores, exact=exact
    )
    return flat.label_map, hierarchy


# ---------------------------------------------------------------------------- SAM JSON
def read_sam_json(path: Path, camera: Camera) -> tuple[np.ndarray, MaskHierarchy]:
    """Read one view's SAM automatic-mask-generator JSON (COCO RLE).

    Parameters
    ----------
    path
        The ``.json`` file.
    camera
        Its camera; an empty annotation list gives an all-zero map of its size.

    Returns
    -------
    label_map, hierarchy
        As :func:`flatten_stack`.

    Raises
    ------
    InputFileError
        Naming the file: not JSON or truncated, not a list of annotations, an
        annotation without a COCO RLE ``segmentation``, RLE sizes that disagree within
        the file, corrupt RLE counts, or pycocotools missing.
    """
    annotations = _sam_annotations(path)
    if not annotations:
        return _empty(camera.height, camera.width)
    try:
        from pycocotools import mask as mask_utils
    except ImportError:
        raise InputFileError(
            path, "reading SAM RLE masks needs pycocotools; install it: pip install pycocotools"
        ) from None
    rles = [_rle(path, i, a) for i, a in enumerate(annotations)]
    height, width = rles[0]["size"]
    for i, rle in enumerate(rles):
        if tuple(rle["size"]) != (height, width):
            raise InputFileError(
                path,
                f"annotation {i} has RLE size {rle['size'][1]}x{rle['size'][0]} but annotation "
                f"0 has {width}x{height}; all masks of a view must have the view's size",
            )
    masks = np.empty((len(rles), height, width), dtype=bool)
    with warnings.catch_warnings():  # pycocotools' numpy-2 copy= deprecation, not ours
        warnings.simplefilter("ignore", DeprecationWarning)
        for i, rle in enumerate(rles):
            try:
                if isinstance(rle["counts"], list):
                    rle = mask_utils.frPyObjects(rle, height, width)
                masks[i] = mask_utils.decode(rle).astype(bool)
            except (ValueError, TypeError, OverflowError) as exc:
                raise InputFileError(
                    path,
                    f"annotation {i}: its RLE counts cannot be decoded ({exc}); the file is "
                    "corrupt: re-run the mask generator",
                ) from None
    scores = [a.get("predicted_iou") for a in annotations]
    valid = all(isinstance(s, int | float) and not isinstance(s, bool) for s in scores)
    return flatten_stack(MaskStack(masks, np.asarray(scores) if valid else None))


def _sam_annotations(path: Path) -> list:
    try:
        data = json.loads(path.read_bytes())
    except OSError as exc:
        raise InputFileError(path, f"cannot be read ({exc.strerror or exc})") from None
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise InputFileError(
            path, f"is not valid JSON ({exc}); the file may be truncated; {_SAM_JSON_HINT}"
        ) from None
    if isinstance(data, dict) and isinstance(data.get("annotations"), list):
        data = data["annotations"]
    if not isinstance(data, list):
        kind = (
            "an object without an 'annotations' list"
            if isinstance(data, dict)
            else (f"a JSON {type(data).__name__}")
        )
        raise InputFileError(path, f"holds {kind}; {_SAM_JSON_HINT}")
    return data


def _rle(path: Path, index: int, annotation: object) -> dict:
    where = f"annotation {index}"
    if not isinstance(annotation, dict) or "segmentation" not in annotation:
        raise InputFileError(
            path, f"{where} is not an object with a 'segmentation'; {_SAM_JSON_HINT}"
        )
    segmentation = annotation["segmentation"]
    if not isinstance(segmentation, dict) or "counts" not in segmentation:
        kind = "a polygon list" if isinstance(segmentation, list) else type(segmentation).__name__
        raise InputFileError(
            path,
            f"{where}: its segmentation is {kind}, not COCO RLE {{'size': [h, w], 'counts': ...}}; "
            "run amg.py with --convert-to-rle",
        )
    size, counts = segmentation.get("size"), segmentation["counts"]
    if not (
        isinstance(size, list)
        and len(size) == 2
        and all(isinstance(v, int) and not isinstance(v, bool) and v > 0 for v in size)
    ):
        raise InputFileError(path, f"{where}: RLE 'size' is {size!r}, not [height, width]")
    if isinstance(counts, str):
        try:
            return {"size": size, "counts": counts.encode("ascii")}
        except UnicodeEncodeError:
            pass
    elif isinstance(counts, list) and all(
        isinstance(v, int) and not isinstance(v, bool) and v >= 0 for v in counts
    ):
        if sum(counts) != size[0] * size[1]:
            raise InputFileError(
                path,
                f"{where}: its uncompressed RLE counts sum to {sum(counts)}, not "
                f"{size[0]}x{size[1]} = {size[0] * size[1]} pixels; the file is corrupt",
            )
        return {"size": size, "counts": counts}
    raise InputFileError(
        path, f"{where}: RLE 'counts' must be a COCO string or a list of run lengths"
    )


# ---------------------------------------------------------------------------- SAGA
def read_saga_masks(path: Path, camera: Camera) -> tuple[np.ndarray, MaskHierarchy]:
    """Read one view's SAGA ``.pt`` mask tensor ``[M, H, W]``.

    Loaded with ``torch.load(weights_only=True)``: a file that would need arbitrary
    Python objects unpickled is refused, never executed.

    Parameters
    ----------
    path
        The ``.pt`` file.
    camera
        Its camera (unused: the tensor carries its size).

    Returns
    -------
    label_map, hierarchy
        As :func:`flatten_stack`.

    Raises
    ------
    InputFileError
        Naming the file: truncated or not a PyTorch file, pickled objects, not a
        tensor, not 3-D, or values other than 0/1.
    """
    import torch

    try:
        masks = torch.load(path, weights_only=True, map_location="cpu")
    except pickle.UnpicklingError as exc:
        text = str(exc)
        found = re.search(r"Unsupported global: GLOBAL (\S+)", text)
        if found or "global" in text.lower():
            what = f" ({found.group(1)})" if found else ""
            raise InputFileError(
                path,
                f"holds pickled Python objects{what}, not plain tensors; LiftStudio loads .pt "
                "files with weights_only=True and will not unpickle arbitrary objects (that can "
                f"run code); re-save the masks as a tensor: {_SAGA_HINT}",
            ) from None
        raise InputFileError(path, _unreadable_pt(exc)) from None
    except (RuntimeError, EOFError, OSError, ValueError) as exc:
        raise InputFileError(path, _unreadable_pt(exc)) from None
    if not isinstance(masks, torch.Tensor):
        raise InputFileError(path, f"holds a {type(masks).__name__}, not a tensor; {_SAGA_HINT}")
    if masks.layout != torch.strided:
        masks = masks.to_dense()
    if masks.ndim != 3:
        raise InputFileError(
            path, f"holds a tensor of shape {tuple(masks.shape)}, not [M, H, W]; {_SAGA_HINT}"
        )
    if masks.dtype != torch.bool:
        if masks.is_complex() or not bool(((masks == 0) | (masks == 1)).all()):
            raise InputFileError(
                path,
                f"holds {str(masks.dtype).removeprefix('torch.')} values other than 0 and 1; "
                f"masks must be boolean; {_SAGA_HINT}",
            )
        masks = masks != 0
    return flatten_stack(MaskStack(masks.numpy()))


def _unreadable_pt(exc: BaseException) -> str:
    first = str(exc).strip().splitlines()[0][:160] if str(exc).strip() else type(exc).__name__
    return (
        f"cannot be read as a PyTorch .pt file ({first}); it may be truncated or corrupt; "
        + _SAGA_HINT
    )


# ---------------------------------------------------------------------------- OmniSeg3D
def read_omniseg3d_npz(path: Path, camera: Camera) -> tuple[np.ndarray, MaskHierarchy]:
    """Read one view's OmniSeg3D ``.npz`` (patch ids + patch correlation).

    Parameters
    ----------
    path
        The ``.npz`` file.
    camera
        Its camera (unused: ``indices`` carries the size).

    Returns
    -------
    label_map, hierarchy
        As :func:`flatten_stack`, over the masks rebuilt by
        :func:`masks_from_patch_correlation`; ``hierarchy.exact`` tells whether they
        reproduce the file's correlation exactly.

    Raises
    ------
    InputFileError
        Naming the file: truncated or not an .npz, ``indices`` or ``correlation``
        missing, of the wrong shape or type, or inconsistent with each other.
    """
    indices, correlation = _load_omniseg(path)
    members, exact = masks_from_patch_correlation(correlation)
    masks = members[:, indices] if len(members) else np.zeros((0, *indices.shape), dtype=bool)
    return flatten_stack(MaskStack(masks), exact=exact)


def _load_omniseg(path: Path) -> tuple[np.ndarray, np.ndarray]:
    unreadable = (OSError, ValueError, EOFError, zipfile.BadZipFile, zlib.error)
    try:
        archive = np.load(path, allow_pickle=False)
    except unreadable as exc:
        raise InputFileError(
            path, f"cannot be read as an .npz archive ({exc}); it may be truncated; {_OMNISEG_HINT}"
        ) from None
    if not isinstance(archive, np.lib.npyio.NpzFile):
        raise InputFileError(path, f"is a single .npy array, not an .npz; {_OMNISEG_HINT}")
    with archive:
        missing = {"indices", "correlation"} - set(archive.files)
        if missing:
            found = ", ".join(sorted(archive.files)) or "none"
            raise InputFileError(
                path,
                f"lacks the array(s) {', '.join(sorted(missing))} (it holds: {found}); "
                + _OMNISEG_HINT,
            )
        try:
            indices, correlation = archive["indices"], archive["correlation"]
        except unreadable as exc:
            raise InputFileError(
                path, f"cannot be read ({exc}); the archive may be truncated; {_OMNISEG_HINT}"
            ) from None
    if indices.ndim != 2 or indices.size == 0 or indices.dtype.kind not in "iu":
        raise InputFileError(
            path,
            f"'indices' is {indices.dtype} of shape {indices.shape}, not (H, W) integer patch ids",
        )
    count = len(correlation)
    if (
        correlation.ndim != 2
        or correlation.shape != (count, count)
        or (correlation.dtype.kind not in "iu")
    ):
        raise InputFileError(
            path,
            f"'correlation' is {correlation.dtype} of shape {correlation.shape}, not a square "
            "(P, P) integer matrix",
        )
    low, high = int(indices.min()), int(indices.max())
    if low < 0 or high >= count:
        raise InputFileError(
            path,
            f"'indices' holds patch ids {low}..{high} but 'correlation' has {count} patches; "
            "the two arrays do not belong together",
        )
    correlation = correlation.astype(np.int64)
    diagonal = np.diag(correlation)
    if (
        not np.array_equal(correlation, correlation.T)
        or correlation.min() < 0
        or (correlation > np.minimum.outer(diagonal, diagonal)).any()
    ):
        raise InputFileError(
            path,
            "'correlation' is not a shared-mask count matrix (it must be symmetric, with no "
            "entry above the diagonal entries of its row and column)",
        )
    return indices.astype(np.intp), correlation


def masks_from_patch_correlation(correlation: np.ndarray) -> tuple[np.ndarray, bool]:
    """Rebuild masks (as sets of patches) from OmniSeg3D's patch correlation.

    ``correlation[i, j]`` counts the masks that hold both patch ``i`` and patch ``j``.
    The masks are peeled off outermost first: a patch's row, thresholded at 1, is the
    union of the masks holding it; when every pair of patches in that union still
    shares a mask it is one mask (its outermost), and is subtracted. For masks that
    nest (a laminar family) this recovers them exactly; when masks overlap without
    nesting and no such union is left, the innermost group of a patch is taken instead
    (an approximation, reported by the returned flag).

    Parameters
    ----------
    correlation : (P, P) integer
        Symmetric shared-mask counts.

    Returns
    -------
    members : (M, P) bool
        Per mask, the patches it holds (outermost masks first).
    exact : bool
        Whether ``members.T @ members`` reproduces ``correlation``.
    """
    residual = np.array(correlation, dtype=np.int64)
    masks: list[np.ndarray] = []
    while True:
        active = np.flatnonzero(np.diag(residual) > 0)
        if not len(active):
            break
        support = residual > 0
        sizes = support[active].sum(axis=1)
        taken = np.zeros(len(residual), dtype=bool)
        accepted = []
        for patch in active[np.argsort(sizes, kind="stable")]:
            group = support[patch]
            if taken[group].any() or not support[np.ix_(group, group)].all():
                continue
            accepted.append(group)
            taken |= group
        if not accepted:  # overlapping masks that do not nest: take an inner group
            patch = active[np.argmin(sizes)]
            accepted = [residual[patch] >= residual[patch, patch]]
        for group in accepted:
            residual[np.ix_(group, group)] -= 1
            masks.append(group.copy())
        np.maximum(residual, 0, out=residual)
    members = np.array(masks, dtype=bool).reshape(len(masks), len(residual))
    counts = members.T.astype(np.int64) @ members.astype(np.int64)
    return members, bool(np.array_equal(counts, correlation))


def _empty(height: int, width: int) -> tuple[np.ndarray, MaskHierarchy]:
    return flatten_stack(MaskStack(np.zeros((0, height, width), dtype=bool)))
