"""Generating masks for many views: caching per view, resuming after a cancel, writing."""

from __future__ import annotations

import json
import os

import numpy as np
import pytest

from liftstudio.errors import InputFileError, OutputFileError
from liftstudio.jobs import CancelToken, JobCancelled
from liftstudio.scene.camera import Camera, intrinsics
from liftstudio.sources.label_files import read_label_maps
from liftstudio.sources.mask_generation import FelzenszwalbSource, SamSource, generate_masks
from liftstudio.sources.mask_stacks import FlatMasks
from liftstudio.sources.mask_writing import MANIFEST_NAME, write_label_maps
from liftstudio.sources.source_cache import FeatureCache, MaskCache, image_digest


class BlocksSource:
    """A real (if simple) mask source: 8×8 pixel blocks numbered from 1; counts its calls."""

    name = "blocks"

    def __init__(self, block: int = 8) -> None:
        self.block = block
        self.calls = 0

    def identity(self) -> str:
        return f"blocks/{self.block}"

    def segment(self, image: np.ndarray) -> FlatMasks:
        self.calls += 1
        rows, cols = np.indices(image.shape[:2]) // self.block
        label_map = (rows * (image.shape[1] // self.block + 1) + cols + 1).astype(np.int32)
        return FlatMasks(label_map, np.full(int(label_map.max()), -1, np.int32))


def _images(count: int, seed: int = 0) -> list[np.ndarray]:
    rng = np.random.default_rng(seed)
    return [rng.random((24, 32, 3), dtype=np.float32) for _ in range(count)]


def test_views_are_cached_by_content_and_source_settings(tmp_path):
    cache = MaskCache(tmp_path / "cache")
    images = _images(4)
    source = BlocksSource()
    first = generate_masks(source, images, cache=cache)
    assert source.calls == 4 and first.cached == 0 and len(cache) == 4
    second = generate_masks(source, images, cache=cache)
    assert source.calls == 4 and second.cached == 4
    for a, b in zip(first.label_maps, second.label_maps, strict=True):
        np.testing.assert_array_equal(a, b)
    changed = [image.copy() for image in images]
    changed[2][0, 0, 0] += 0.01  # one pixel of one view
    generate_masks(source, changed, cache=cache)
    assert source.calls == 5
    other = BlocksSource(block=4)  # other settings: other entries
    generate_masks(other, images, cache=cache)
    assert other.calls == 4


def test_a_cancelled_run_keeps_finished_views_and_resumes(tmp_path):
    cache = MaskCache(tmp_path / "cache")
    images = _images(5)
    source = BlocksSource()
    token = CancelToken()

    def cancel_after_two(done: int, total: int, message: str) -> None:
        if done == 2:
            token.cancel()

    with pytest.raises(JobCancelled):
        generate_masks(source, images, cache=cache, progress=cancel_after_two, cancel=token)
    assert source.calls == 2 and len(cache) == 2
    resumed = generate_masks(source, images, cache=cache)
    assert source.calls == 5 and resumed.cached == 2


def test_masks_of_the_wrong_size_are_refused():
    class Cropping(BlocksSource):
        def segment(self, image):
            flat = super().segment(image)
            return FlatMasks(flat.label_map[:-1], flat.parents)

    with pytest.raises(ValueError, match="shape"):
        generate_masks(Cropping(), _images(1), cache=None)


def test_an_unwritable_cache_costs_speed_not_the_run(tmp_path):
    blocker = tmp_path / "file"
    blocker.write_text("in the way")
    result = generate_masks(BlocksSource(), _images(2), cache=MaskCache(blocker / "cache"))
    assert len(result.masks) == 2


def test_mask_cache_round_trips_large_ids_and_hierarchy(tmp_path):
    cache = MaskCache(tmp_path)
    label_map = np.arange(12, dtype=np.int32).reshape(3, 4) * 20_000  # above uint16
    entry = FlatMasks(label_map, np.array([-1, 0, 1], np.int32))
    key = MaskCache.key("x", image_digest(label_map))
    cache.put(key, entry)
    back = MaskCache(tmp_path).get(key)
    np.testing.assert_array_equal(back.label_map, label_map)
    np.testing.assert_array_equal(back.parents, entry.parents)
    assert back.label_map.dtype == np.int32


def test_feature_cache_stores_float16_maps_in_order(tmp_path):
    cache = FeatureCache(tmp_path)
    maps = [np.random.default_rng(i).random((3 + i, 5, 4)).astype(np.float32) for i in range(3)]
    key = FeatureCache.key("dino", [image_digest(m) for m in maps])
    cache.put(key, maps)
    back = cache.get(key)
    assert [m.shape for m in back] == [m.shape for m in maps]
    assert all(m.dtype == np.float16 for m in back)
    np.testing.assert_allclose(back[1], maps[1], atol=1e-3)
    assert FeatureCache.key("dino", ["a", "b"]) != FeatureCache.key("dino", ["b", "a"])


def test_image_digest_sees_one_pixel_and_the_dtype():
    image = np.zeros((4, 4, 3), np.float32)
    changed = image.copy()
    changed[3, 3, 2] = 1e-6
    assert image_digest(image) != image_digest(changed)
    assert image_digest(image) != image_digest(image.astype(np.float64))
    assert image_digest(image) == image_digest(image.copy())


def test_felzenszwalb_identity_names_its_settings():
    assert "scale" in FelzenszwalbSource().identity()


def test_sam_source_with_a_missing_checkpoint_names_the_file(tmp_path):
    with pytest.raises(InputFileError, match=r"nothing\.pth"):
        SamSource(tmp_path / "nothing.pth").identity()


# ---------------------------------------------------------------------------- writing
def _camera(name: str, width: int = 32, height: int = 24) -> Camera:
    return Camera(name, np.eye(4), intrinsics(30.0, 30.0, width / 2, height / 2), width, height)


def test_written_maps_read_back_by_name(tmp_path):
    names = ["DSC_0002.JPG", "sub/DSC_0001.jpg", "frame.png"]
    rng = np.random.default_rng(0)
    maps = [rng.integers(0, 300, (24, 32)).astype(np.int32) for _ in names]
    maps[2][0, 0] = 70_000  # beyond 16 bits: written as .npy
    files = write_label_maps(tmp_path / "out", names, maps, manifest={"source": "test"})
    assert [f.name for f in files] == ["DSC_0002.png", "DSC_0001.png", "frame.npy"]
    cameras = [_camera(n) for n in reversed(names)]  # matched by name, not order
    read = read_label_maps(tmp_path / "out", cameras)
    assert read.report.matched == 3
    for name, label_map in zip(names, maps, strict=True):
        np.testing.assert_array_equal(read.map_for(name), label_map)
    manifest = json.loads((tmp_path / "out" / MANIFEST_NAME).read_text())
    assert manifest["source"] == "test" and manifest["views"] == 3
    assert manifest["files"]["frame.png"] == "frame.npy"


def test_a_folder_with_files_is_only_written_with_overwrite(tmp_path):
    out = tmp_path / "out"
    out.mkdir()
    (out / "notes.txt").write_text("mine")
    maps = [np.ones((24, 32), np.int32)]
    with pytest.raises(OutputFileError, match="already holds"):
        write_label_maps(out, ["a.jpg"], maps, manifest={})
    assert sorted(os.listdir(out)) == ["notes.txt"]
    write_label_maps(out, ["a.jpg", "b.jpg"], maps * 2, manifest={}, overwrite=True)
    write_label_maps(out, ["b.jpg"], maps, manifest={}, overwrite=True)
    # the earlier run's a.png is gone, the user's file stays
    assert sorted(os.listdir(out)) == ["b.png", MANIFEST_NAME, "notes.txt"]


def test_the_image_folder_and_colliding_names_are_refused(tmp_path):
    images = tmp_path / "images"
    images.mkdir()
    maps = [np.ones((24, 32), np.int32)] * 2
    with pytest.raises(OutputFileError, match="training images"):
        write_label_maps(images, ["a.jpg"], maps[:1], manifest={}, protected_folders=[images])
    with pytest.raises(OutputFileError, match="share one mask file"):
        write_label_maps(tmp_path / "o", ["x/a.jpg", "y/a.jpg"], maps, manifest={})
    assert not (tmp_path / "o").exists() or not any((tmp_path / "o").iterdir())
