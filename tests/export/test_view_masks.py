"""Per-view 2D mask exports: read back by LiftStudio's own importers, COCO by pycocotools.

The reference maps are rendered here with ``render_label_map`` (the exporter's job is the
file layout and encoding); what was written is read back through the mask importers of
``liftstudio.sources`` (written for other people's files) or decoded with pycocotools,
and must equal them pixel for pixel.
"""

from __future__ import annotations

import json
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image
from pycocotools import mask as mask_utils
from pycocotools.coco import COCO

from liftstudio.errors import LiftStudioError, OutputFileError, SceneDataError
from liftstudio.evaluate.scenes import make
from liftstudio.export.view_masks import ViewMaskExport, export_view_masks
from liftstudio.jobs import CancelToken, JobCancelled
from liftstudio.render.label_maps import render_label_map
from liftstudio.render.registry import resolve_backend
from liftstudio.sources.label_files import read_label_maps
from liftstudio.sources.mask_import import import_masks

WIDTH, HEIGHT = 64, 48
#: The file stems the cameras of ``views`` must get (their image names, no folder/suffix).
STEMS = ["frame_000", "frame_001", "frame.002", "frame_003", "frame_004"]
FORMATS = ["label-maps", "object-mask", "saga", "coco"]

# pycocotools' decode under numpy 2 (its copy= keyword), not ours
pytestmark = pytest.mark.filterwarnings("ignore:__array__ implementation:DeprecationWarning")


@pytest.fixture(scope="module")
def backend():
    return resolve_backend("cpu")


@pytest.fixture(scope="module")
def tabletop(backend):
    return make(
        "tabletop", 0, num_gaussians=3_000, num_train=4, num_test=0, width=WIDTH,
        height=HEIGHT, backend=backend,
    )  # fmt: skip


@pytest.fixture(scope="module")
def scene(tabletop):
    return tabletop.gaussians


@pytest.fixture(scope="module")
def views(tabletop):
    """Cameras named as scenes name them, and a fifth one looking away (an empty view)."""
    a, b, c, d = tabletop.train_cameras
    backwards = np.diag([-1.0, 1.0, -1.0, 1.0]) @ a.viewmat  # 180° about the camera's y
    return [
        replace(a, name="images/frame_000.jpg"),
        replace(b, name="frame_001.JPG"),
        replace(c, name="frame.002", image_path=Path("/nowhere/images/frame.002.png")),
        replace(d, name="sub\\frame_003.png"),
        replace(a, name="frame_004.jpeg", viewmat=backwards),
    ]


@pytest.fixture(scope="module")
def labels(tabletop):
    """Ground-truth instances with the table left unlabeled (0)."""
    table = next(i for i, name in tabletop.class_names.items() if name == "table")
    labels = tabletop.instance_ids.astype(np.int32)
    labels[labels == table] = 0
    return labels


def _render(backend, scene, views, labels):
    return [render_label_map(backend, scene, camera, labels) for camera in views]


@pytest.fixture(scope="module")
def reference(backend, scene, views, labels):
    maps = _render(backend, scene, views, labels)
    assert all(len(np.unique(m[m > 0])) >= 3 for m in maps[:4]), "views should show objects"
    assert not maps[4].any(), "the fifth view should be empty"
    assert (maps[0] == 0).any()
    return maps


def _tree(folder: Path) -> dict[str, bytes | None]:
    """Every path under ``folder`` with its bytes (None for folders)."""
    return {
        str(p.relative_to(folder)): (p.read_bytes() if p.is_file() else None)
        for p in sorted(folder.rglob("*"))
    }


def _assert_maps_equal(got, want):
    assert len(got) == len(want)
    for index, (a, b) in enumerate(zip(got, want, strict=True)):
        assert a is not None, f"view {index} was not read back"
        np.testing.assert_array_equal(a, b, err_msg=f"view {index}")


# ---------------------------------------------------------------------------- label maps
def test_label_maps_read_back_by_both_readers(tmp_path, scene, views, labels, reference, backend):
    out = tmp_path / "maps"
    result = export_view_masks(scene, views, labels, out, "label-maps", backend=backend)
    assert isinstance(result, ViewMaskExport)
    assert (result.format, result.folder, result.views) == ("label-maps", out, 5)
    assert result.files == [out / f"{stem}.png" for stem in STEMS]
    assert result.sidecar == out / "liftstudio_masks.json"
    assert result.instances == len(np.unique(np.concatenate([m[m > 0] for m in reference])))
    assert any("no labeled instance" in note for note in result.notes)
    for file in result.files:
        with Image.open(file) as image:
            assert image.mode == "I;16"
    imported = import_masks(out, views)
    assert imported.format == "label-maps"
    assert imported.report.missing == () and imported.report.unmatched_files == ()
    _assert_maps_equal(imported.maps, reference)
    _assert_maps_equal(read_label_maps(out, views).maps, reference)
    manifest = json.loads(result.sidecar.read_text())
    assert manifest["views"] == 5 and manifest["format"] == "label-maps"
    assert manifest["files"] == {c.name: f"{s}.png" for c, s in zip(views, STEMS, strict=True)}
    assert sorted(p.name for p in tmp_path.iterdir()) == ["maps"]  # no staging left


def test_ids_above_65535_are_written_as_int32_npy(tmp_path, scene, views, labels, backend):
    big = np.where(labels % 2 == 1, labels + 70_000, labels).astype(np.int32)
    want = _render(backend, scene, views, big)
    large = [int(m.max()) > 65_535 for m in want]
    assert any(large) and not all(large)
    result = export_view_masks(scene, views, big, tmp_path / "big", "label-maps", backend=backend)
    for file, label_map, is_large in zip(result.files, want, large, strict=True):
        if is_large:
            assert file.suffix == ".npy"
            array = np.load(file)
            assert array.dtype == np.int32
            np.testing.assert_array_equal(array, label_map)
        else:
            assert file.suffix == ".png"
            with Image.open(file) as image:
                assert image.mode == "I;16"
    assert any(".npy" in note and "65,535" in note for note in result.notes)
    _assert_maps_equal(import_masks(tmp_path / "big", views, format="label-maps").maps, want)


# ---------------------------------------------------------------------------- object masks
def test_object_masks_keep_ids_and_leave_the_dataset_alone(
    tmp_path, scene, views, labels, reference, backend
):
    dataset = tmp_path / "dataset"
    (dataset / "images").mkdir(parents=True)
    (dataset / "images" / "frame_000.jpg").write_bytes(b"a photo")
    (dataset / "cameras.json").write_text("[]")
    before = _tree(dataset)
    result = export_view_masks(scene, views, labels, dataset, "object-mask", backend=backend)
    folder = dataset / "object_mask"
    assert result.folder == folder
    assert result.files == [folder / f"{stem}.png" for stem in STEMS]
    after = _tree(dataset)
    assert {k: v for k, v in after.items() if k in before} == before
    assert set(after) - set(before) == {
        "object_mask", "object_mask_ids.json", *(f"object_mask/{s}.png" for s in STEMS)
    }  # fmt: skip
    for file in result.files:
        with Image.open(file) as image:
            assert image.mode == "L"
    imported = import_masks(dataset, views)
    assert imported.format == "object-mask" and imported.report.layout == "object_mask"
    _assert_maps_equal(imported.maps, reference)
    ids = json.loads((dataset / "object_mask_ids.json").read_text())
    present = np.unique(labels[labels > 0])
    assert ids["remapped"] is False
    assert ids["values"] == [{"value": int(i), "instance": int(i)} for i in present]


def test_object_masks_renumber_ids_above_255(tmp_path, scene, views, labels, backend):
    wide = (labels * 1000).astype(np.int32)
    want = _render(backend, scene, views, wide)
    out = tmp_path / "gg"
    result = export_view_masks(scene, views, wide, out, "object-mask", backend=backend)
    assert any("object_mask_ids.json" in note for note in result.notes)
    ids = json.loads((out / "object_mask_ids.json").read_text())
    assert ids["remapped"] is True
    lookup = {entry["value"]: entry["instance"] for entry in ids["values"]}
    present = sorted(int(i) for i in np.unique(wide[wide > 0]))
    assert sorted(lookup) == list(range(1, len(present) + 1))
    assert sorted(lookup.values()) == present
    table = np.zeros(256, dtype=np.int64)
    for value, instance in lookup.items():
        table[value] = instance
    imported = import_masks(out, views, format="object-mask")
    assert all(int(m.max()) <= 255 for m in imported.maps)
    _assert_maps_equal([table[m] for m in imported.maps], want)


def test_more_than_255_instances_are_refused_before_writing(tmp_path, scene, views, backend):
    many = np.random.default_rng(0).integers(1, 301, len(scene)).astype(np.int32)
    assert len(np.unique(many)) == 300
    out = tmp_path / "gg"
    progress = []
    with pytest.raises(OutputFileError, match="255") as caught:
        export_view_masks(
            scene, views, many, out, "object-mask", backend=backend,
            progress=lambda *args: progress.append(args),
        )  # fmt: skip
    assert "object_mask" in str(caught.value) and "label-maps" in str(caught.value)
    assert progress == []  # refused before rendering
    assert list(tmp_path.iterdir()) == []


# ---------------------------------------------------------------------------- SAGA
def test_saga_masks_read_back_with_their_ids(tmp_path, scene, views, labels, reference, backend):
    out = tmp_path / "saga"
    result = export_view_masks(scene, views, labels, out, "saga", backend=backend)
    folder = out / "sam_masks"
    assert result.files == [folder / f"{stem}.pt" for stem in STEMS]
    sidecar = json.loads((out / "sam_masks_ids.json").read_text())
    entries = sidecar["views"]
    assert [e["file"] for e in entries] == [f"{s}.pt" for s in STEMS]
    assert [e["camera"] for e in entries] == [c.name for c in views]
    for entry, file, want in zip(entries, result.files, reference, strict=True):
        masks = torch.load(file, weights_only=True)
        present = [int(i) for i in np.unique(want[want > 0])]
        assert entry["instance_ids"] == present
        assert masks.dtype == torch.bool and tuple(masks.shape) == (len(present), HEIGHT, WIDTH)
        for mask, instance in zip(masks.numpy(), present, strict=True):
            np.testing.assert_array_equal(mask, want == instance)
    imported = import_masks(out, views)
    assert imported.format == "saga"
    for entry, got, want in zip(entries, imported.maps, reference, strict=True):
        table = np.array([0, *entry["instance_ids"]], dtype=np.int64)
        np.testing.assert_array_equal(table[got], want)


# ---------------------------------------------------------------------------- COCO
def _numpy_bbox(mask):
    rows, cols = np.nonzero(mask)
    x, y = int(cols.min()), int(rows.min())
    return [x, y, int(cols.max()) - x + 1, int(rows.max()) - y + 1]


def test_coco_files_decode_to_the_rendered_instances(tmp_path, scene, views, labels, reference):
    out = tmp_path / "coco"
    result = export_view_masks(scene, views, labels, out, "coco", backend="cpu")
    assert result.files == [out / f"{stem}.json" for stem in STEMS]
    annotation_ids = []
    for index, (file, camera, want) in enumerate(zip(result.files, views, reference, strict=True)):
        data = json.loads(file.read_text())
        assert data["images"] == [
            {"id": index + 1, "file_name": camera.name, "height": HEIGHT, "width": WIDTH}
        ]
        present = sorted(int(i) for i in np.unique(want[want > 0]))
        assert sorted(a["instance_id"] for a in data["annotations"]) == present
        assert sorted(c["id"] for c in data["categories"]) == present
        for annotation in data["annotations"]:
            annotation_ids.append(annotation["id"])
            instance = annotation["instance_id"]
            expected = want == instance
            segmentation = annotation["segmentation"]
            assert segmentation["size"] == [HEIGHT, WIDTH]
            assert isinstance(segmentation["counts"], str)
            decoded = mask_utils.decode(segmentation)
            np.testing.assert_array_equal(decoded.astype(bool), expected)
            assert annotation["category_id"] == instance
            assert annotation["image_id"] == index + 1
            assert annotation["area"] == int(np.count_nonzero(expected))
            assert annotation["bbox"] == _numpy_bbox(expected)
        coco = COCO(str(file))  # pycocotools' own dataset loader accepts the file
        for annotation in coco.loadAnns(coco.getAnnIds()):
            np.testing.assert_array_equal(
                coco.annToMask(annotation).astype(bool), want == annotation["instance_id"]
            )
    assert json.loads(result.files[4].read_text())["annotations"] == []
    assert len(set(annotation_ids)) == len(annotation_ids)  # unique across views
    imported = import_masks(out, views)
    assert imported.format == "sam-json"
    for file, got, want in zip(result.files, imported.maps, reference, strict=True):
        ids = [a["instance_id"] for a in json.loads(file.read_text())["annotations"]]
        np.testing.assert_array_equal(np.array([0, *ids], dtype=np.int64)[got], want)


# ---------------------------------------------------------------------------- safety
def _occupied(out: Path, fmt: str) -> Path:
    """Put a file where ``fmt`` writes in ``out``; return the folder holding it."""
    folder = out / {"object-mask": "object_mask", "saga": "sam_masks"}.get(fmt, "")
    folder.mkdir(parents=True)
    (folder / "mine.txt").write_text("the user's notes")
    return folder


@pytest.mark.parametrize("fmt", FORMATS)
def test_existing_output_is_refused_untouched(tmp_path, scene, views, labels, backend, fmt):
    out = tmp_path / "out"
    _occupied(out, fmt)
    before = _tree(tmp_path)
    with pytest.raises(OutputFileError, match="already holds"):
        export_view_masks(scene, views, labels, out, fmt, backend=backend)
    with pytest.raises(OutputFileError, match=r"mine\.txt.*not a mask file"):
        export_view_masks(scene, views, labels, out, fmt, backend=backend, overwrite=True)
    assert _tree(tmp_path) == before


def test_an_existing_id_file_is_refused_without_overwrite(tmp_path, scene, views, labels):
    (tmp_path / "object_mask_ids.json").write_text("{}")
    with pytest.raises(OutputFileError, match=r"object_mask_ids\.json"):
        export_view_masks(scene, views, labels, tmp_path, "object-mask", backend="cpu")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["object_mask_ids.json"]


def test_an_empty_existing_folder_is_used(tmp_path, scene, views, labels, reference, backend):
    out = tmp_path / "made-by-the-caller"
    out.mkdir()
    export_view_masks(scene, views, labels, out, "label-maps", backend=backend)
    _assert_maps_equal(import_masks(out, views).maps, reference)


def test_overwrite_replaces_an_earlier_export_whole(
    tmp_path, scene, views, labels, reference, backend
):
    out = tmp_path / "maps"
    big = np.where(labels > 0, labels + 70_000, 0).astype(np.int32)
    export_view_masks(scene, views, big, out, "label-maps", backend=backend)
    assert any(p.suffix == ".npy" for p in out.iterdir())
    export_view_masks(scene, views, labels, out, "label-maps", backend=backend, overwrite=True)
    assert sorted(p.name for p in out.iterdir()) == sorted(
        [*(f"{s}.png" for s in STEMS), "liftstudio_masks.json"]
    )
    _assert_maps_equal(import_masks(out, views).maps, reference)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["maps"]


def test_the_training_images_folder_is_never_replaced(tmp_path, scene, views, labels, backend):
    images = tmp_path / "images"
    images.mkdir()
    cameras = []
    for camera, stem in zip(views, STEMS, strict=True):
        path = images / f"{stem}.png"
        Image.fromarray(np.zeros((HEIGHT, WIDTH), dtype=np.uint8)).save(path)
        cameras.append(replace(camera, image_path=path))
    before = _tree(tmp_path)
    with pytest.raises(OutputFileError, match="training images"):
        export_view_masks(scene, cameras, labels, images, "label-maps", overwrite=True)
    assert _tree(tmp_path) == before


def test_cameras_sharing_a_file_name_are_refused(tmp_path, scene, views, labels):
    cameras = [replace(views[0], name="a/x.jpg"), replace(views[1], name="b/X.png")]
    with pytest.raises(OutputFileError, match="would share"):
        export_view_masks(scene, cameras, labels, tmp_path / "out", "coco", backend="cpu")
    assert list(tmp_path.iterdir()) == []


@pytest.mark.parametrize("fmt", FORMATS)
def test_cancel_mid_way_leaves_nothing(tmp_path, scene, views, labels, backend, fmt):
    token = CancelToken()
    seen = []

    def progress(done, total, message):
        seen.append((done, total))
        if done == 2:
            token.cancel()

    out = tmp_path / "deeper" / "out"
    with pytest.raises(JobCancelled):
        export_view_masks(
            scene, views, labels, out, fmt, backend=backend, progress=progress, cancel=token
        )
    assert seen == [(1, 5), (2, 5)]
    assert list(tmp_path.iterdir()) == []  # not even the folders made for it


def test_cancel_keeps_an_earlier_export(tmp_path, scene, views, labels, backend):
    out = tmp_path / "saga"
    export_view_masks(scene, views, labels, out, "saga", backend=backend)
    before = _tree(tmp_path)
    token = CancelToken()
    token.cancel()
    with pytest.raises(JobCancelled):
        export_view_masks(
            scene, views, labels * 2, out, "saga", backend=backend, overwrite=True, cancel=token
        )
    assert _tree(tmp_path) == before


def test_progress_reports_every_view(tmp_path, scene, views, labels, backend):
    seen = []
    export_view_masks(
        scene, views, labels, tmp_path / "o", "coco", backend=backend,
        progress=lambda done, total, message: seen.append((done, total, message)),
    )  # fmt: skip
    assert [(d, t) for d, t, _ in seen] == [(i, 5) for i in range(1, 6)]
    assert [m for _, _, m in seen] == [f"rendered {c.name}" for c in views]


def test_bad_arguments_are_named(tmp_path, scene, views, labels):
    out = tmp_path / "o"
    with pytest.raises(LiftStudioError, match="unknown view mask format 'png'"):
        export_view_masks(scene, views, labels, out, "png")
    with pytest.raises(SceneDataError, match="shape"):
        export_view_masks(scene, views, labels[:-1], out, "coco")
    with pytest.raises(SceneDataError, match=">= 0"):
        export_view_masks(scene, views, labels - 5, out, "coco")
    with pytest.raises(SceneDataError, match="no cameras"):
        export_view_masks(scene, [], labels, out, "coco")
    assert list(tmp_path.iterdir()) == []
