"""Reading per-view label-map folders and matching them to cameras by name."""

from __future__ import annotations

import numpy as np
import pytest
from PIL import Image

from liftstudio.errors import InputFileError
from liftstudio.evaluate.demo_scene import demo_dir
from liftstudio.scene.camera import Camera, intrinsics
from liftstudio.scene.discovery import open_scene
from liftstudio.sources.label_files import read_label_map, read_label_maps, same_aspect

W, H = 40, 30


def _camera(name: str, width: int = W, height: int = H) -> Camera:
    return Camera(name, np.eye(4), intrinsics(50.0, 50.0, width / 2, height / 2), width, height)


def _ids(seed: int, high: int, shape=(H, W)) -> np.ndarray:
    return np.random.default_rng(seed).integers(0, high, size=shape)


def _png_bit_depth(path) -> int:
    data = path.read_bytes()
    assert data[12:16] == b"IHDR"
    return data[24]


def test_png_8_and_16_bit_and_npy_dtypes_are_read_as_int32(tmp_path):
    expected = {
        "a": _ids(1, 256).astype(np.uint8),
        "b": _ids(2, 65536).astype(np.uint16),
        "c": _ids(3, 256).astype(np.uint8),
        "d": _ids(4, 65536).astype(np.uint16),
        "e": _ids(5, 2**31 - 1).astype(np.int32),
        "f": _ids(6, 2**31 - 1).astype(np.int64),
    }
    expected["b"][0, 0] = 65535  # the top of the 16-bit range survives
    Image.fromarray(expected["a"]).save(tmp_path / "a.png")
    Image.fromarray(expected["b"]).save(tmp_path / "b.png")
    assert _png_bit_depth(tmp_path / "a.png") == 8
    assert _png_bit_depth(tmp_path / "b.png") == 16
    for name in "cdef":
        np.save(tmp_path / f"{name}.npy", expected[name])
    result = read_label_maps(tmp_path, [_camera(n) for n in "abcdef"])
    assert result.report.matched == 6 and not result.report.missing
    for name, label_map in zip("abcdef", result.maps, strict=True):
        assert label_map.dtype == np.int32 and label_map.shape == (H, W)
        np.testing.assert_array_equal(label_map, expected[name])


def test_bool_and_single_channel_3d_npy_are_accepted(tmp_path):
    mask = _ids(7, 2).astype(bool)
    np.save(tmp_path / "m.npy", mask)
    np.testing.assert_array_equal(read_label_map(tmp_path / "m.npy"), mask.astype(np.int32))
    ids = _ids(8, 9).astype(np.uint16)[:, :, None]
    np.save(tmp_path / "n.npy", ids)
    np.testing.assert_array_equal(read_label_map(tmp_path / "n.npy"), ids[:, :, 0])


def test_palette_png_gives_its_indices_and_rgb_png_is_refused(tmp_path):
    ids = _ids(9, 12).astype(np.uint8)
    image = Image.fromarray(ids, mode="L").convert("P")
    image.putpalette(np.random.default_rng(0).integers(0, 256, 768).astype(np.uint8).tobytes())
    image.putdata(ids.ravel().tolist())  # the indices are the ids; the colours are arbitrary
    image.save(tmp_path / "pal.png")
    with Image.open(tmp_path / "pal.png") as check:
        assert check.mode == "P"
    np.testing.assert_array_equal(read_label_map(tmp_path / "pal.png"), ids)

    rgb = np.stack([ids * 20, ids, ids], axis=-1).astype(np.uint8)
    Image.fromarray(rgb).save(tmp_path / "rgb.png")
    with pytest.raises(InputFileError, match=r"rgb\.png: is a RGB image; label maps must be"):
        read_label_map(tmp_path / "rgb.png")


def test_maps_land_on_the_camera_they_are_named_for_not_by_order(tmp_path):
    # Cameras in a shuffled order; files named with other suffixes and case.
    names = ["DSC_0003.JPG", "DSC_0001.JPG", "frame.b.jpg", "DSC_0002.JPG", "Cam_C"]
    cameras = [_camera(n) for n in names]
    files = {
        "DSC_0001.JPG": "DSC_0001.png",
        "DSC_0002.JPG": "DSC_0002.JPG.png",  # <image>.<ext>.png
        "DSC_0003.JPG": "dsc_0003.npy",  # case differs
        "frame.b.jpg": "frame.b.png",
        "Cam_C": "Cam_C.png",
    }
    for value, file_name in enumerate(files.values(), start=1):
        label_map = np.full((H, W), 10 * value, dtype=np.uint8)
        if file_name.endswith(".npy"):
            np.save(tmp_path / file_name, label_map)
        else:
            Image.fromarray(label_map).save(tmp_path / file_name)
    result = read_label_maps(tmp_path, cameras)
    assert result.report.matched == 5
    for value, camera_name in enumerate(files, start=1):
        label_map = result.map_for(camera_name)
        assert label_map is not None and np.all(label_map == 10 * value), camera_name
    assert [f.name for f in result.files] == [files[n] for n in names]
    assert result.matched_cameras == cameras  # same size: the cameras themselves


def test_report_lists_missing_cameras_unmatched_and_ignored_files(tmp_path):
    Image.fromarray(_ids(1, 5).astype(np.uint8)).save(tmp_path / "a.png")
    np.save(tmp_path / "c.npy", _ids(2, 5).astype(np.int32))
    Image.fromarray(_ids(3, 5).astype(np.uint8)).save(tmp_path / "zzz.png")
    (tmp_path / "notes.txt").write_text("hello")
    (tmp_path / ".DS_Store").write_bytes(b"x")
    calls = []
    result = read_label_maps(
        tmp_path, [_camera(n) for n in "abc"], progress=lambda *a: calls.append(a)
    )
    report = result.report
    assert (report.matched, report.total_cameras, report.missing) == (2, 3, ("b",))
    assert [f.name for f in report.unmatched_files] == ["zzz.png"]
    assert [f.name for f in report.ignored_files] == ["notes.txt"]
    assert result.maps[1] is None and result.matched_indices == [0, 2]
    assert [done for done, _, _ in calls] == [1, 2] and {t for _, t, _ in calls} == {2}
    text = "\n".join(report.lines())
    assert "2 of 3 cameras matched" in text and "no map for 1 camera(s): b" in text
    assert "zzz.png" in text and "notes.txt" in text


def test_same_aspect_rescale_is_reported_and_another_aspect_is_an_error(tmp_path):
    Image.fromarray(_ids(1, 4, shape=(15, 20)).astype(np.uint8)).save(tmp_path / "half.png")
    result = read_label_maps(tmp_path, [_camera("half.jpg")])
    (resized,) = result.report.resized
    assert (resized.map_size, resized.camera_size) == ((20, 15), (W, H))
    (camera,) = result.matched_cameras
    assert (camera.width, camera.height) == (20, 15) and camera.fx == pytest.approx(25.0)
    assert "differ in size" in "\n".join(result.report.lines())

    Image.fromarray(_ids(1, 4, shape=(20, 40)).astype(np.uint8)).save(tmp_path / "wide.png")
    with pytest.raises(InputFileError, match=r"wide\.png: is 40x20 but camera 'wide' is 40x30"):
        read_label_maps(tmp_path, [_camera("half.jpg"), _camera("wide")])


def test_same_aspect_allows_a_pixel_of_rounding():
    assert same_aspect((648, 420), (1297, 840))  # INRIA's /2 downscale of an odd width
    assert same_aspect((160, 120), (320, 240))
    assert not same_aspect((240, 320), (320, 240))
    assert not same_aspect((320, 200), (320, 240))


def test_truncated_files_are_errors_naming_the_file(tmp_path):
    Image.fromarray(_ids(1, 200).astype(np.uint8)).save(tmp_path / "a.png")
    data = (tmp_path / "a.png").read_bytes()
    (tmp_path / "a.png").write_bytes(data[: len(data) // 2])
    with pytest.raises(InputFileError, match=r"a\.png: cannot be read as a PNG .*truncated"):
        read_label_maps(tmp_path, [_camera("a")])
    np.save(tmp_path / "b.npy", _ids(2, 9).astype(np.int32))
    data = (tmp_path / "b.npy").read_bytes()
    (tmp_path / "b.npy").write_bytes(data[:-100])
    with pytest.raises(InputFileError, match=r"b\.npy: cannot be read as a \.npy"):
        read_label_map(tmp_path / "b.npy")
    (tmp_path / "c.png").write_bytes(b"not a png at all")
    with pytest.raises(InputFileError, match=r"c\.png: cannot be read"):
        read_label_map(tmp_path / "c.png")


def test_bad_values_and_shapes_are_refused(tmp_path):
    bad = {
        "neg.npy": (np.array([[0, -1], [2, 3]], dtype=np.int32), "negative ids"),
        "float.npy": (np.zeros((4, 4), dtype=np.float32), "float32 values"),
        "rgb.npy": (np.zeros((4, 4, 3), dtype=np.uint8), r"shape \(4, 4, 3\)"),
        "big.npy": (np.full((2, 2), 2**40, dtype=np.int64), "beyond int32"),
    }
    for name, (array, message) in bad.items():
        np.save(tmp_path / name, array)
        with pytest.raises(InputFileError, match=f"{name.replace('.', r'.')}: .*{message}"):
            read_label_map(tmp_path / name)
    Image.new("RGB", (4, 4)).save(tmp_path / "photo.png", "JPEG")
    with pytest.raises(InputFileError, match="is a JPEG file, not a PNG"):
        read_label_map(tmp_path / "photo.png")


def test_two_maps_for_one_view_are_an_error(tmp_path):
    Image.fromarray(_ids(1, 5).astype(np.uint8)).save(tmp_path / "a.png")
    np.save(tmp_path / "a.npy", _ids(1, 5).astype(np.uint8))
    with pytest.raises(InputFileError, match=r"a\.npy and a\.png are two maps for the same view"):
        read_label_maps(tmp_path, [_camera("a.jpg")])
    (tmp_path / "a.npy").unlink()
    Image.fromarray(_ids(1, 5).astype(np.uint8)).save(tmp_path / "a.jpg.png")
    with pytest.raises(InputFileError, match=r"are both maps for camera 'a\.jpg'"):
        read_label_maps(tmp_path, [_camera("a.jpg")])


def test_gaussian_grouping_object_mask_layout(tmp_path):
    (tmp_path / "images").mkdir()
    (tmp_path / "object_mask").mkdir()
    expected = _ids(3, 30).astype(np.uint8)
    Image.fromarray(expected).save(tmp_path / "object_mask" / "IMG_7.png")
    result = read_label_maps(tmp_path, [_camera("IMG_7.JPG"), _camera("IMG_8.JPG")])
    assert result.report.layout == "object_mask"
    assert result.report.folder == tmp_path / "object_mask"
    np.testing.assert_array_equal(result.maps[0], expected)
    assert result.report.missing == ("IMG_8.JPG",)


def test_folder_errors(tmp_path):
    with pytest.raises(InputFileError, match="no such folder"):
        read_label_maps(tmp_path / "nope", [_camera("a")])
    (tmp_path / "sub").mkdir()
    with pytest.raises(InputFileError, match=r"holds no label maps .*subfolders sub"):
        read_label_maps(tmp_path, [_camera("a")])
    Image.fromarray(_ids(1, 5).astype(np.uint8)).save(tmp_path / "x.png")
    with pytest.raises(InputFileError, match="no label map matches a camera by name"):
        read_label_maps(tmp_path, [_camera("a"), _camera("b")])


def test_demo_scene_masks_match_its_training_cameras():
    folder = demo_dir() / "masks" / "sam-like"
    cameras = open_scene(demo_dir()).cameras.train
    result = read_label_maps(folder, cameras)
    assert result.report.matched == len(cameras) == 24
    for camera, label_map in zip(cameras, result.maps, strict=True):
        expected = np.asarray(Image.open(folder / f"{camera.name}.png")).astype(np.int32)
        np.testing.assert_array_equal(label_map, expected)
