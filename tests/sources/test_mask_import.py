"""Importing 2D masks in every registered format, matched to cameras by name."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st
from PIL import Image
from pycocotools import mask as coco_mask

from liftstudio.errors import InputFileError
from liftstudio.jobs import CancelToken, JobCancelled
from liftstudio.scene.camera import Camera, intrinsics
from liftstudio.sources.label_files import LabelMapSet, read_label_maps
from liftstudio.sources.mask_formats import masks_from_patch_correlation
from liftstudio.sources.mask_import import (
    ImportedMasks,
    detect_mask_format,
    import_masks,
    mask_formats,
)

W, H = 40, 30


def _camera(name: str, width: int = W, height: int = H) -> Camera:
    return Camera(name, np.eye(4), intrinsics(50.0, 50.0, width / 2, height / 2), width, height)


def _box(y0, y1, x0, x1, shape=(H, W)) -> np.ndarray:
    mask = np.zeros(shape, dtype=bool)
    mask[y0:y1, x0:x1] = True
    return mask


# A 2-level scene: a big box, a small box 100 % inside it, a box overlapping it by
# a quarter (no parent), and the expected flattened map for the order [big, small, side].
BIG = _box(5, 25, 5, 25)  # 400 px
SMALL = _box(10, 15, 10, 15)  # 25 px, inside BIG
SIDE = _box(20, 30, 20, 30)  # 100 px, 25 inside BIG


def _expected_three() -> np.ndarray:
    expected = np.zeros((H, W), dtype=np.int32)
    expected[BIG] = 1
    expected[SIDE] = 3  # smaller than BIG: wins in their overlap
    expected[SMALL] = 2
    return expected


# ---------------------------------------------------------------------------- writers
def _rle(mask: np.ndarray) -> dict:
    rle = coco_mask.encode(np.asfortranarray(mask.astype(np.uint8)))
    return {"size": [int(v) for v in rle["size"]], "counts": rle["counts"].decode("ascii")}


def _uncompressed_rle(mask: np.ndarray) -> dict:
    """COCO uncompressed RLE written by hand: column-major runs, starting with zeros."""
    counts, current, run = [], False, 0
    for value in mask.ravel(order="F"):
        if bool(value) == current:
            run += 1
        else:
            counts.append(run)
            current, run = bool(value), 1
    counts.append(run)
    return {"size": list(mask.shape), "counts": counts}


def _annotation(mask: np.ndarray, iou: float = 0.9, rle=_rle) -> dict:
    ys, xs = np.nonzero(mask)
    return {
        "segmentation": rle(mask),
        "area": int(mask.sum()),
        "bbox": [int(xs.min()), int(ys.min()), int(np.ptp(xs) + 1), int(np.ptp(ys) + 1)],
        "predicted_iou": iou,
        "point_coords": [[float(xs.mean()), float(ys.mean())]],
        "stability_score": 0.95,
        "crop_box": [0, 0, mask.shape[1], mask.shape[0]],
    }


def _write_json(path, data) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(data))


def _write_omniseg(path, masks: np.ndarray) -> None:
    """What OmniSeg3D's run_sam.py saves: patch ids and shared-mask counts per patch."""
    path.parent.mkdir(parents=True, exist_ok=True)
    columns = masks.reshape(len(masks), -1)
    unique, inverse = np.unique(columns, axis=1, return_inverse=True)
    correlation = (unique.T.astype(np.int64) @ unique.astype(np.int64)).astype(np.uint8)
    indices = inverse.reshape(masks.shape[1:]).astype(np.int16)
    np.savez_compressed(path, indices=indices, correlation=correlation)


def _same_partition(actual: np.ndarray, expected: np.ndarray) -> dict[int, int]:
    """Assert the two maps are equal up to renaming ids (0 stays 0); return expected → actual."""
    pairs = set(zip(expected.ravel().tolist(), actual.ravel().tolist(), strict=True))
    forward = dict(pairs)
    assert len(forward) == len(pairs), "an expected id is split"
    assert len(set(forward.values())) == len(forward), "two expected ids merged"
    assert forward.get(0, 0) == 0
    return forward


# ---------------------------------------------------------------------------- formats
def test_registry_lists_every_format_and_is_not_shared_state():
    formats = mask_formats()
    assert list(formats) == ["object-mask", "label-maps", "sam-json", "saga", "omniseg3d"]
    for name, entry in formats.items():
        assert entry.name == name and callable(entry.detect) and callable(entry.read)
        assert entry.stacked == (name in {"sam-json", "saga", "omniseg3d"})
    formats.clear()
    assert len(mask_formats()) == 5


def test_sam_json_smaller_mask_wins_and_hierarchy_by_name_not_order(tmp_path):
    folder = tmp_path / "sam_json"
    _write_json(folder / "b.json", [_annotation(BIG, 0.8), _annotation(SMALL), _annotation(SIDE)])
    _write_json(folder / "a.json", {"annotations": [_annotation(SIDE, 0.7)]})
    _write_json(folder / "c.json", [])  # SAM found nothing in this view
    assert detect_mask_format(folder) == "sam-json"
    cameras = [_camera("c.jpg"), _camera("b.JPG"), _camera("a.png")]
    result = import_masks(folder, cameras)
    assert isinstance(result, ImportedMasks) and isinstance(result, LabelMapSet)
    assert result.format == "sam-json" and not result.associated
    assert [f.name for f in result.files] == ["c.json", "b.json", "a.json"]
    np.testing.assert_array_equal(result.map_for("b.JPG"), _expected_three())
    np.testing.assert_array_equal(result.map_for("a.png"), SIDE.astype(np.int32))
    assert result.map_for("c.jpg").shape == (H, W) and not result.map_for("c.jpg").any()
    tree = result.hierarchy_for("b.JPG")
    assert tree.parents.tolist() == [-1, 0, -1]  # SMALL in BIG; SIDE only 25 % inside
    assert tree.areas.tolist() == [400, 25, 100]
    np.testing.assert_allclose(tree.scores, [0.8, 0.9, 0.9])
    assert tree.parent_ids.tolist() == [0, 0, 1, 0] and tree.exact
    coarse = tree.parent_ids[result.map_for("b.JPG")]  # one level up: SMALL -> BIG
    assert (coarse[SMALL] == 1).all() and not coarse[BIG & ~SMALL].any()
    assert len(result.hierarchy_for("c.jpg")) == 0


def test_sam_json_uncompressed_rle_gives_the_same_map(tmp_path):
    compressed = [_annotation(m) for m in (BIG, SMALL, SIDE)]
    raw = [_annotation(m, rle=_uncompressed_rle) for m in (BIG, SMALL, SIDE)]
    assert isinstance(raw[0]["segmentation"]["counts"], list)
    _write_json(tmp_path / "x" / "v.json", compressed)
    _write_json(tmp_path / "y" / "v.json", raw)
    one = import_masks(tmp_path / "x", [_camera("v")])
    two = import_masks(tmp_path / "y", [_camera("v")], format="sam-json")
    np.testing.assert_array_equal(one.maps[0], _expected_three())
    np.testing.assert_array_equal(two.maps[0], _expected_three())


def test_three_level_hierarchy_roots():
    from liftstudio.sources.mask_formats import flatten_stack
    from liftstudio.sources.mask_stacks import MaskStack

    leaf, mid, root = _box(11, 13, 11, 13), SMALL, BIG
    label_map, tree = flatten_stack(MaskStack(np.stack([leaf, root, mid])))
    assert tree.parents.tolist() == [2, -1, 1]
    assert tree.parent_ids.tolist() == [0, 3, 0, 2]
    assert tree.root_ids.tolist() == [0, 2, 2, 2]
    assert label_map[12, 12] == 1 and label_map[10, 10] == 3 and label_map[6, 6] == 2


@pytest.mark.parametrize("dtype", [torch.bool, torch.uint8, torch.float32])
def test_saga_tensor_in_sam_masks_subfolder(tmp_path, dtype):
    masks = torch.from_numpy(np.stack([BIG, SMALL, SIDE])).to(dtype)
    (tmp_path / "sam_masks").mkdir()
    (tmp_path / "images").mkdir()
    torch.save(masks, tmp_path / "sam_masks" / "IMG_2.pt")
    torch.save(masks[[2]], tmp_path / "sam_masks" / "IMG_1.pt")
    assert detect_mask_format(tmp_path) == "saga"
    cameras = [_camera("IMG_2.JPG"), _camera("IMG_1.JPG"), _camera("IMG_3.JPG")]
    result = import_masks(tmp_path, cameras)
    assert result.format == "saga" and result.report.layout == "sam_masks"
    np.testing.assert_array_equal(result.maps[0], _expected_three())
    np.testing.assert_array_equal(result.maps[1], SIDE.astype(np.int32))
    assert result.maps[2] is None and result.report.missing == ("IMG_3.JPG",)
    assert result.hierarchies[0].parents.tolist() == [-1, 0, -1]
    assert result.hierarchies[0].scores is None


def test_omniseg3d_masks_are_rebuilt_from_patches(tmp_path):
    leaf = _box(11, 13, 11, 13)
    masks = np.stack([BIG, SMALL, SIDE, leaf])
    _write_omniseg(tmp_path / "sam" / "frame_001.npz", masks)
    _write_omniseg(tmp_path / "sam" / "frame_000.npz", masks[[2]])
    assert detect_mask_format(tmp_path) == "omniseg3d"
    result = import_masks(tmp_path, [_camera("frame_000.jpg"), _camera("frame_001.jpg")])
    expected = _expected_three()
    expected[leaf] = 4
    forward = _same_partition(result.maps[1], expected)
    tree = result.hierarchies[1]
    assert tree.exact and len(tree) == 4 and sorted(tree.areas.tolist()) == [4, 25, 100, 400]
    parent = tree.parent_ids
    assert parent[forward[2]] == forward[1]  # SMALL in BIG
    assert parent[forward[4]] == forward[2]  # leaf in SMALL
    assert parent[forward[1]] == 0 and parent[forward[3]] == 0
    _same_partition(result.maps[0], SIDE.astype(np.int32))
    assert not result.report.notes


def test_omniseg3d_overlapping_masks_that_do_not_nest():
    # A and B overlap partially; the peeling still finds both exactly.
    correlation = np.array([[1, 0, 1], [0, 1, 1], [1, 1, 2]])
    members, exact = masks_from_patch_correlation(correlation)
    assert exact and sorted(map(tuple, members.astype(int).tolist())) == [(0, 1, 1), (1, 0, 1)]


@settings(max_examples=100, deadline=None)
@given(st.lists(st.tuples(st.integers(0, 23), st.integers(1, 12)), min_size=1, max_size=8))
def test_omniseg3d_rebuild_recovers_any_nested_family_exactly(spans):
    # Keep the intervals that nest in or avoid every kept one: a laminar family.
    kept: list[tuple[int, int]] = []
    for start, length in spans:
        a, b = start, min(start + length, 24)
        if all(b <= c or d <= a or (c <= a and b <= d) or (a <= c and d <= b) for c, d in kept):
            kept.append((a, b))
    masks = np.zeros((len(kept), 24), dtype=bool)
    for row, (a, b) in enumerate(kept):
        masks[row, a:b] = True
    unique, inverse = np.unique(masks, axis=1, return_inverse=True)
    correlation = unique.T.astype(np.int64) @ unique.astype(np.int64)
    members, exact = masks_from_patch_correlation(correlation)
    rebuilt = members[:, inverse.ravel()]
    assert exact
    assert sorted(map(tuple, rebuilt.tolist())) == sorted(map(tuple, masks.tolist()))


def test_omniseg3d_approximate_rebuild_is_reported(tmp_path):
    # Four masks over four stripes that no nesting family reproduces exactly.
    membership = np.array([[0, 1, 1, 1], [0, 0, 1, 1], [1, 1, 0, 1], [1, 0, 1, 1]], dtype=bool)
    stripes = np.repeat(np.arange(4), W // 4)[None, :].repeat(H, axis=0)
    _write_omniseg(tmp_path / "v.npz", membership[:, stripes])
    result = import_masks(tmp_path, [_camera("v")])
    assert result.format == "omniseg3d" and not result.hierarchies[0].exact
    assert "rebuilt from the patch correlation approximately" in "\n".join(result.report.lines())


def test_object_mask_and_label_map_formats(tmp_path):
    dataset = tmp_path / "gg"
    (dataset / "object_mask").mkdir(parents=True)
    (dataset / "images").mkdir()
    ids = np.random.default_rng(1).integers(0, 40, size=(H, W)).astype(np.uint8)
    Image.fromarray(ids).save(dataset / "object_mask" / "0001.png")
    assert detect_mask_format(dataset) == "object-mask"
    assert detect_mask_format(dataset / "object_mask") == "object-mask"
    result = import_masks(dataset, [_camera("0001.jpg"), _camera("0002.jpg")])
    assert result.format == "object-mask" and result.associated
    assert result.report.layout == "object_mask" and result.hierarchies == (None, None)
    np.testing.assert_array_equal(result.maps[0], ids)

    flat = tmp_path / "maps"
    flat.mkdir()
    wide = np.random.default_rng(2).integers(0, 70000, size=(H, W)).astype(np.int32)
    Image.fromarray(ids.astype(np.uint16) * 300).save(flat / "a.png")
    np.save(flat / "b.npy", wide)
    assert detect_mask_format(flat) == "label-maps"
    result = import_masks(flat, [_camera("b"), _camera("a")])
    np.testing.assert_array_equal(result.maps[0], wide)
    np.testing.assert_array_equal(result.maps[1], ids.astype(np.int32) * 300)
    legacy = read_label_maps(flat, [_camera("b"), _camera("a")])
    assert legacy.report == result.report


def test_report_unmatched_files_rescale_and_progress(tmp_path):
    small = np.stack([_box(2, 5, 2, 5, (15, 20))])
    torch.save(torch.from_numpy(small), tmp_path / "half.pt")
    torch.save(torch.from_numpy(small), tmp_path / "stranger.pt")
    (tmp_path / "notes.txt").write_text("x")
    calls = []
    result = import_masks(
        tmp_path, [_camera("half.jpg"), _camera("gone.jpg")], progress=lambda *a: calls.append(a)
    )
    report = result.report
    assert report.format == "saga" and report.matched == 1 and report.missing == ("gone.jpg",)
    assert [f.name for f in report.unmatched_files] == ["stranger.pt"]
    assert [f.name for f in report.ignored_files] == ["notes.txt"]
    (resized,) = report.resized
    assert (resized.map_size, resized.camera_size) == ((20, 15), (W, H))
    (camera,) = result.matched_cameras
    assert (camera.width, camera.height) == (20, 15)
    text = "\n".join(report.lines())
    assert "saga masks: 1 of 2 cameras matched" in text and "not .pt" in text
    assert "stranger.pt" in text and "differ in size" in text
    assert calls == [(1, 1, "read half.pt")]
    token = CancelToken()
    token.cancel()
    with pytest.raises(JobCancelled):
        import_masks(tmp_path, [_camera("half.jpg")], cancel=token)


# ---------------------------------------------------------------------------- errors
def test_folder_detection_errors(tmp_path):
    with pytest.raises(InputFileError, match="no such folder"):
        detect_mask_format(tmp_path / "nope")
    (tmp_path / "notes.txt").write_text("x")
    (tmp_path / "cameras.json").write_text('{"fx": 1}')  # JSON, but not SAM's
    with pytest.raises(InputFileError, match=r"no mask files in a known layout; known .*sam-json"):
        import_masks(tmp_path, [_camera("a")])
    with pytest.raises(InputFileError, match=r"holds no SAGA mask tensors \(\.pt files\)"):
        import_masks(tmp_path, [_camera("a")], format="saga")
    with pytest.raises(InputFileError, match="unknown mask format 'coco'; choose auto or one of"):
        import_masks(tmp_path, [_camera("a")], format="coco")
    (tmp_path / "object_mask").mkdir()
    Image.fromarray(SIDE.astype(np.uint8)).save(tmp_path / "object_mask" / "a.png")
    (tmp_path / "sam_masks").mkdir()
    torch.save(torch.from_numpy(SIDE[None]), tmp_path / "sam_masks" / "a.pt")
    with pytest.raises(InputFileError, match=r"more than one layout \(object-mask, saga\)"):
        import_masks(tmp_path, [_camera("a")])
    assert import_masks(tmp_path, [_camera("a")], format="saga").report.layout == "sam_masks"


def test_nothing_matches_and_two_files_for_one_camera(tmp_path):
    _write_json(tmp_path / "a.json", [_annotation(SIDE)])
    with pytest.raises(InputFileError, match="no SAM JSON mask file matches a camera by name"):
        import_masks(tmp_path, [_camera("x.jpg"), _camera("y.jpg")])
    _write_json(tmp_path / "a.jpg.json", [_annotation(SIDE)])
    with pytest.raises(
        InputFileError, match=r"a\.jpg\.json and a\.json are both maps for camera 'a\.jpg'"
    ):
        import_masks(tmp_path, [_camera("a.jpg")])


def test_wrong_size_for_its_camera_names_the_file(tmp_path):
    torch.save(torch.zeros(2, 200, 200, dtype=torch.bool), tmp_path / "v.pt")
    with pytest.raises(InputFileError, match=r"v\.pt: is 200x200 but camera 'v' is 40x30.*200x200"):
        import_masks(tmp_path, [_camera("v")])
    _write_json(tmp_path / "j" / "v.json", [_annotation(_box(0, 2, 0, 3, (20, 10)))])
    with pytest.raises(InputFileError, match=r"v\.json: is 10x20 but camera 'v' is 40x30"):
        import_masks(tmp_path / "j", [_camera("v")])


def test_corrupt_png_is_an_error_naming_it(tmp_path):
    (tmp_path / "object_mask").mkdir()
    Image.fromarray(SIDE.astype(np.uint8) * 9).save(tmp_path / "object_mask" / "v.png")
    data = (tmp_path / "object_mask" / "v.png").read_bytes()
    (tmp_path / "object_mask" / "v.png").write_bytes(data[: len(data) // 2])
    with pytest.raises(InputFileError, match=r"v\.png: cannot be read as a PNG .*truncated"):
        import_masks(tmp_path, [_camera("v")])


@pytest.mark.parametrize(
    ("content", "message"),
    [
        ('[{"segmentation": {"size": [30, 4', r"is not valid JSON .*truncated"),
        ('{"images": []}', r"holds an object without an 'annotations' list; expected"),
        ('"text"', r"holds a JSON str; expected a list of SAM annotations"),
        ("[1, 2]", r"annotation 0 is not an object with a 'segmentation'"),
        (
            '[{"segmentation": [[1, 2, 3, 4, 5, 6]]}]',
            r"annotation 0: its segmentation is a polygon list, not COCO RLE.*--convert-to-rle",
        ),
        ('[{"segmentation": {"size": [30], "counts": ""}}]', r"RLE 'size' is \[30\]"),
        (
            '[{"segmentation": {"size": [30, 40], "counts": "!!corrupt"}}]',
            r"RLE counts cannot be decoded",
        ),
        (
            '[{"segmentation": {"size": [3, 4], "counts": [5, 2]}}]',
            r"uncompressed RLE counts sum to 7, not 3x4 = 12",
        ),
    ],
)
def test_bad_sam_json_is_an_error_naming_the_file(tmp_path, content, message):
    (tmp_path / "v.json").write_text(content)
    with pytest.raises(InputFileError, match=r"v\.json: (annotation 0: )?(its )?" + message):
        import_masks(tmp_path, [_camera("v")], format="sam-json")


def test_sam_json_rle_sizes_must_agree_within_a_view(tmp_path):
    other = _annotation(_box(0, 2, 0, 2, (10, 20)))
    _write_json(tmp_path / "v.json", [_annotation(SIDE), other])
    with pytest.raises(InputFileError, match=r"annotation 1 has RLE size 20x10 but annotation 0"):
        import_masks(tmp_path, [_camera("v")])


class _Pickled:
    """Not a tensor: loading it would need arbitrary unpickling."""


@pytest.mark.parametrize(
    ("value", "message"),
    [
        ({"masks": torch.zeros(1, H, W)}, r"a dict, not a tensor"),
        (torch.zeros(H, W, dtype=torch.bool), r"shape \(30, 40\), not \[M, H, W\]"),
        (torch.full((1, H, W), 2, dtype=torch.uint8), r"uint8 values other than 0 and 1"),
        (torch.full((1, H, W), 0.5), r"float32 values other than 0 and 1"),
        (_Pickled(), r"pickled Python objects .*weights_only=True.*re-save the masks"),
    ],
)
def test_bad_saga_tensors(tmp_path, value, message):
    torch.save(value, tmp_path / "v.pt")
    with pytest.raises(InputFileError, match=r"v\.pt: holds (a tensor of )?" + message):
        import_masks(tmp_path, [_camera("v")], format="saga")


def test_truncated_pt_and_npz(tmp_path):
    torch.save(torch.from_numpy(np.stack([BIG, SIDE])), tmp_path / "v.pt")
    data = (tmp_path / "v.pt").read_bytes()
    (tmp_path / "v.pt").write_bytes(data[: len(data) // 2])
    with pytest.raises(InputFileError, match=r"v\.pt: cannot be read as a PyTorch \.pt file"):
        import_masks(tmp_path, [_camera("v")])
    _write_omniseg(tmp_path / "sam" / "v.npz", np.stack([BIG, SIDE]))
    data = (tmp_path / "sam" / "v.npz").read_bytes()
    (tmp_path / "sam" / "v.npz").write_bytes(data[: len(data) // 2])
    with pytest.raises(InputFileError, match=r"v\.npz: cannot be read.*truncated"):
        import_masks(tmp_path, [_camera("v")], format="omniseg3d")


@pytest.mark.parametrize(
    ("arrays", "message"),
    [
        (
            {"indices": np.zeros((H, W), np.int16), "masks": np.zeros(1)},
            r"lacks the array\(s\) correlation \(it holds: indices, masks\).*run_sam\.py",
        ),
        (
            {"indices": np.full((H, W), 3, np.int16), "correlation": np.eye(2, dtype=np.uint8)},
            r"patch ids 3\.\.3 but 'correlation' has 2 patches",
        ),
        (
            {"indices": np.zeros((H, W), np.int16), "correlation": np.array([[1, 2], [2, 1]])},
            r"'correlation' is not a shared-mask count matrix",
        ),
        (
            {"indices": np.zeros((H, W), np.float32), "correlation": np.eye(1, dtype=np.uint8)},
            r"'indices' is float32 of shape \(30, 40\), not \(H, W\) integer patch ids",
        ),
    ],
)
def test_bad_omniseg3d_files(tmp_path, arrays, message):
    np.savez(tmp_path / "v.npz", **arrays)
    with pytest.raises(InputFileError, match=r"v\.npz: ('indices' holds )?" + message):
        import_masks(tmp_path, [_camera("v")])
