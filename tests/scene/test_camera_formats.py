"""Camera readers: round trips through independent writers, real cameras, bad input."""

from __future__ import annotations

import json
import logging
import math
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pycolmap
import pytest
from PIL import Image
from scipy.spatial.transform import Rotation

from liftstudio.errors import InputFileError
from liftstudio.scene.camera import Camera, intrinsics
from liftstudio.scene.camera_formats import (
    CAMERA_FORMATS,
    read_3dgs_cameras,
    read_cameras,
    read_colmap,
    read_dataparser_transform,
    read_nerf_synthetic,
    read_nerfstudio,
    write_3dgs_cameras,
)

# ---------------------------------------------------------------------- known cameras


def random_cameras(
    seed: int,
    count: int,
    *,
    centred: bool = False,
    square_pixels: bool = False,
    size: tuple[int, int] = (640, 480),
    prefix: str = "img_",
) -> list[Camera]:
    """Cameras with random poses and intrinsics (principal point off-centre unless told)."""
    rng = np.random.default_rng(seed)
    width, height = size
    cameras = []
    for index in range(count):
        rotation = Rotation.random(random_state=rng).as_matrix()  # world-to-camera
        centre = rng.uniform(-4.0, 4.0, 3)
        viewmat = np.eye(4)
        viewmat[:3, :3] = rotation
        viewmat[:3, 3] = -rotation @ centre
        fx = rng.uniform(300.0, 900.0)
        fy = fx if square_pixels else fx * rng.uniform(0.9, 1.1)
        cx, cy = width / 2.0, height / 2.0
        if not centred:
            cx += rng.uniform(-25.0, 25.0)
            cy += rng.uniform(-25.0, 25.0)
        name = f"{prefix}{index:03d}.png"
        cameras.append(Camera(name, viewmat, intrinsics(fx, fy, cx, cy), width, height))
    return cameras


def assert_same_cameras(read: list[Camera], expected: list[Camera], atol: float = 1e-9) -> None:
    assert [c.name for c in read] == [c.name for c in expected]
    for got, want in zip(read, expected, strict=True):
        np.testing.assert_allclose(got.viewmat, want.viewmat, atol=atol, rtol=0)
        np.testing.assert_allclose(got.K, want.K, atol=atol, rtol=1e-12)
        assert (got.width, got.height) == (want.width, want.height)


def opengl_camtoworld(camera: Camera) -> np.ndarray:
    """Camera-to-world in OpenGL axes, computed from the viewmat without library helpers."""
    camtoworld = np.linalg.inv(camera.viewmat)
    camtoworld[:3, 1] *= -1.0  # y down -> y up
    camtoworld[:3, 2] *= -1.0  # z forward -> z backward
    return camtoworld


# ---------------------------------------------------------------------- independent writers


def write_3dgs_by_hand(cameras: list[Camera], path: Path) -> None:
    entries = []
    for index, camera in enumerate(cameras):
        world_to_camera = camera.viewmat[:3, :3]
        entries.append(
            {
                "id": index,
                "img_name": camera.name,
                "width": camera.width,
                "height": camera.height,
                "position": (-world_to_camera.T @ camera.viewmat[:3, 3]).tolist(),
                "rotation": world_to_camera.T.tolist(),
                "fy": camera.fy,
                "fx": camera.fx,
            }
        )
    path.write_text(json.dumps(entries))


def colmap_quaternion(camera: Camera) -> list[float]:
    x, y, z, w = Rotation.from_matrix(camera.viewmat[:3, :3]).as_quat()
    return [w, x, y, z]


def write_colmap_text_by_hand(
    cameras: list[Camera], folder: Path, models: list[str] | None = None, points: bool = True
) -> None:
    """One COLMAP camera per image; ``models`` picks PINHOLE/SIMPLE_PINHOLE/SIMPLE_RADIAL."""
    folder.mkdir(parents=True, exist_ok=True)
    models = models or ["PINHOLE"] * len(cameras)
    camera_lines, image_lines = ["# Camera list"], ["# Image list"]
    for index, (camera, model) in enumerate(zip(cameras, models, strict=True), start=1):
        if model == "PINHOLE":
            params = [camera.fx, camera.fy, camera.cx, camera.cy]
        elif model == "SIMPLE_PINHOLE":
            params = [camera.fx, camera.cx, camera.cy]
        else:  # SIMPLE_RADIAL with zero distortion
            params = [camera.fx, camera.cx, camera.cy, 0.0]
        numbers = " ".join(repr(float(p)) for p in params)
        camera_lines.append(f"{index} {model} {camera.width} {camera.height} {numbers}")
        pose = colmap_quaternion(camera) + camera.viewmat[:3, 3].tolist()
        image_lines.append(
            f"{index} {' '.join(repr(float(v)) for v in pose)} {index} {camera.name}"
        )
        image_lines.append("")  # no 2D points
    (folder / "cameras.txt").write_text("\n".join(camera_lines) + "\n")
    (folder / "images.txt").write_text("\n".join(image_lines) + "\n")
    if points:
        (folder / "points3D.txt").write_text("# 3D point list\n")


def write_colmap_binary_with_pycolmap(
    cameras: list[Camera], folder: Path, models: list[str] | None = None
) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    models = models or ["PINHOLE"] * len(cameras)
    reconstruction = pycolmap.Reconstruction()
    for index, (camera, model) in enumerate(zip(cameras, models, strict=True), start=1):
        if model == "PINHOLE":
            params = [camera.fx, camera.fy, camera.cx, camera.cy]
        elif model == "SIMPLE_PINHOLE":
            params = [camera.fx, camera.cx, camera.cy]
        else:
            params = [camera.fx, camera.fy, camera.cx, camera.cy, 0.0, 0.0, 0.0, 0.0]  # OPENCV
        reconstruction.add_camera_with_trivial_rig(
            pycolmap.Camera(
                model=model,
                width=camera.width,
                height=camera.height,
                params=params,
                camera_id=index,
            )
        )
        image = pycolmap.Image(name=camera.name, camera_id=index, image_id=index)
        pose = pycolmap.Rigid3d(
            pycolmap.Rotation3d(camera.viewmat[:3, :3]), camera.viewmat[:3, 3].copy()
        )
        reconstruction.add_image_with_trivial_frame(image, pose)
    reconstruction.write_binary(str(folder))


def nerf_frames(cameras: list[Camera], folder: str, *, intrinsics_per_frame: bool) -> list[dict]:
    frames = []
    for camera in cameras:
        frame = {
            "file_path": f"./{folder}/{Path(camera.name).stem}",
            "transform_matrix": opengl_camtoworld(camera).tolist(),
        }
        if intrinsics_per_frame:
            frame.update(
                fl_x=camera.fx, fl_y=camera.fy, cx=camera.cx, cy=camera.cy,
                w=camera.width, h=camera.height,
            )  # fmt: skip
        frames.append(frame)
    return frames


def write_nerf_synthetic_by_hand(train: list[Camera], test: list[Camera], folder: Path) -> None:
    """``camera_angle_x`` only: cameras must have square pixels and a centred principal point."""
    folder.mkdir(parents=True, exist_ok=True)
    for split, cameras in (("train", train), ("test", test)):
        camera = cameras[0]
        document = {
            "camera_angle_x": 2.0 * math.atan(camera.width / (2.0 * camera.fx)),
            "w": camera.width,
            "h": camera.height,
            "frames": nerf_frames(cameras, split, intrinsics_per_frame=False),
        }
        (folder / f"transforms_{split}.json").write_text(json.dumps(document, indent=1))


def write_nerfstudio_by_hand(cameras: list[Camera], path: Path, *, shared: int = 0) -> None:
    """The first ``shared`` cameras take the top-level intrinsics, the rest their own."""
    path.parent.mkdir(parents=True, exist_ok=True)
    document: dict = {"camera_model": "OPENCV", "k1": 0.0, "k2": 0.0, "p1": 0.0, "p2": 0.0}
    frames = []
    for index, camera in enumerate(cameras):
        frame = {
            "file_path": f"images/{camera.name}",
            "transform_matrix": opengl_camtoworld(camera).tolist(),
        }
        intrinsic = {
            "fl_x": camera.fx, "fl_y": camera.fy, "cx": camera.cx, "cy": camera.cy,
            "w": camera.width, "h": camera.height,
        }  # fmt: skip
        if index < shared:
            document.update(intrinsic)  # all shared cameras have equal intrinsics
        else:
            frame.update(intrinsic)
        frames.append(frame)
    document["frames"] = frames
    path.write_text(json.dumps(document, indent=1))


def with_intrinsics(cameras: list[Camera], like: Camera) -> list[Camera]:
    return [Camera(c.name, c.viewmat, like.K, like.width, like.height) for c in cameras]


# ---------------------------------------------------------------------- round trips


def test_3dgs_json_round_trip(tmp_path: Path) -> None:
    cameras = random_cameras(1, 6, centred=True)  # the format has no principal point
    write_3dgs_by_hand(cameras, tmp_path / "cameras.json")
    result = read_cameras(tmp_path)
    assert result.format == "3dgs-json"
    assert result.test == []
    assert_same_cameras(result.train, cameras)
    assert read_cameras(tmp_path / "cameras.json").format == "3dgs-json"


def test_3dgs_split_files(tmp_path: Path) -> None:
    cameras = random_cameras(2, 5, centred=True)
    write_3dgs_by_hand(cameras[:3], tmp_path / "train_cameras.json")
    write_3dgs_by_hand(cameras[3:], tmp_path / "test_cameras.json")
    for path in (tmp_path, tmp_path / "test_cameras.json"):
        result = read_cameras(path)
        assert_same_cameras(result.train, cameras[:3])
        assert_same_cameras(result.test, cameras[3:])


def test_3dgs_writer_round_trip_and_layout(tmp_path: Path) -> None:
    cameras = random_cameras(3, 4, centred=True)
    out = write_3dgs_cameras(cameras, tmp_path / "cameras.json")
    assert out == tmp_path / "cameras.json"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["cameras.json"]  # no temp file left
    assert_same_cameras(read_3dgs_cameras(out).train, cameras)
    # Check the layout against the format's definition, not against our reader.
    entry = json.loads(out.read_text())[2]
    camera = cameras[2]
    np.testing.assert_allclose(entry["position"], camera.center, atol=1e-12)
    np.testing.assert_allclose(entry["rotation"], camera.viewmat[:3, :3].T, atol=1e-15)
    assert (entry["id"], entry["img_name"], entry["fx"]) == (2, camera.name, camera.fx)


def test_3dgs_writer_warns_when_principal_point_is_lost(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    cameras = random_cameras(4, 2)  # off-centre
    with caplog.at_level(logging.WARNING):
        write_3dgs_cameras(cameras, tmp_path / "cameras.json")
    assert "principal point" in caplog.text
    back = read_3dgs_cameras(tmp_path / "cameras.json").train
    assert back[0].cx == cameras[0].width / 2


def test_3dgs_finds_images(tmp_path: Path) -> None:
    cameras = random_cameras(5, 2, centred=True)
    entries_cameras = [
        Camera(Path(c.name).stem, c.viewmat, c.K, c.width, c.height) for c in cameras
    ]  # 3DGS writes img_name without extension
    write_3dgs_by_hand(entries_cameras, tmp_path / "cameras.json")
    (tmp_path / "images").mkdir()
    Image.new("RGB", (4, 3)).save(tmp_path / "images" / cameras[0].name)
    result = read_cameras(tmp_path)
    assert result.train[0].image_path == tmp_path / "images" / cameras[0].name
    assert result.train[1].image_path is None


def test_colmap_text_round_trip(tmp_path: Path) -> None:
    cameras = random_cameras(6, 6)
    cameras[1] = with_intrinsics([cameras[1]], random_cameras(60, 1, square_pixels=True)[0])[0]
    cameras[4] = with_intrinsics([cameras[4]], random_cameras(61, 1, square_pixels=True)[0])[0]
    models = ["PINHOLE", "SIMPLE_PINHOLE", "PINHOLE", "PINHOLE", "SIMPLE_RADIAL", "PINHOLE"]
    order = [3, 0, 5, 1, 4, 2]  # written out of name order
    scene = tmp_path / "scene"
    write_colmap_text_by_hand(
        [cameras[i] for i in order], scene / "sparse" / "0", [models[i] for i in order]
    )
    (scene / "images").mkdir()
    Image.new("RGB", (4, 3)).save(scene / "images" / cameras[2].name)
    result = read_cameras(scene)
    assert result.format == "colmap"
    assert_same_cameras(result.train, cameras, atol=1e-9)  # sorted by name again
    assert result.train[2].image_path == scene / "images" / cameras[2].name
    assert result.train[0].image_path is None


def test_colmap_text_without_points3d(tmp_path: Path) -> None:
    cameras = random_cameras(7, 3)
    write_colmap_text_by_hand(cameras, tmp_path, points=False)
    assert_same_cameras(read_colmap(tmp_path).train, cameras)


def test_colmap_binary_round_trip(tmp_path: Path) -> None:
    cameras = random_cameras(8, 5)
    cameras[0] = with_intrinsics([cameras[0]], random_cameras(80, 1, square_pixels=True)[0])[0]
    models = ["SIMPLE_PINHOLE", "PINHOLE", "OPENCV", "PINHOLE", "PINHOLE"]
    write_colmap_binary_with_pycolmap(cameras, tmp_path / "sparse" / "0", models)
    assert_same_cameras(read_cameras(tmp_path).train, cameras)
    # A COLMAP 3.x model has no rigs.bin / frames.bin and may lack points3D.bin.
    for stem in ("rigs", "frames", "points3D"):
        (tmp_path / "sparse" / "0" / f"{stem}.bin").unlink()
    assert_same_cameras(read_cameras(tmp_path / "sparse" / "0" / "cameras.bin").train, cameras)


def test_nerf_synthetic_round_trip(tmp_path: Path) -> None:
    train = random_cameras(9, 4, centred=True, square_pixels=True, prefix="r_")
    train = with_intrinsics(train, train[0])  # one camera_angle_x per file
    test = with_intrinsics(random_cameras(10, 3, prefix="r_"), train[0])
    write_nerf_synthetic_by_hand(train, test, tmp_path)
    result = read_cameras(tmp_path)
    assert result.format == "nerf-synthetic"
    renamed = lambda cams, split: [  # noqa: E731
        Camera(f"{split}/{Path(c.name).stem}", c.viewmat, c.K, c.width, c.height) for c in cams
    ]
    assert_same_cameras(result.train, renamed(train, "train"), atol=1e-9)
    assert_same_cameras(result.test, renamed(test, "test"), atol=1e-9)
    assert read_cameras(tmp_path / "transforms_test.json").format == "nerf-synthetic"


def test_nerf_optional_intrinsics_and_image_size_from_file(tmp_path: Path) -> None:
    cameras = random_cameras(11, 3, size=(40, 30))
    document = {
        "camera_angle_x": 0.7,  # overridden by fl_x per frame
        "frames": nerf_frames(cameras, "train", intrinsics_per_frame=True),
    }
    for frame in document["frames"]:
        del frame["w"], frame["h"]  # size must come from the first image
    (tmp_path / "transforms_train.json").write_text(json.dumps(document))
    (tmp_path / "train").mkdir()
    for camera in cameras:
        Image.new("RGB", (40, 30)).save(tmp_path / "train" / camera.name)
    result = read_nerf_synthetic(tmp_path / "transforms_train.json")
    expected = [
        Camera(f"train/{Path(c.name).stem}", c.viewmat, c.K, c.width, c.height) for c in cameras
    ]
    assert_same_cameras(result.train, expected)
    assert result.train[1].image_path == tmp_path / "train" / cameras[1].name


def test_nerfstudio_round_trip(tmp_path: Path) -> None:
    cameras = random_cameras(12, 5)
    shared = with_intrinsics(cameras[:2], cameras[0])
    cameras = shared + cameras[2:]
    write_nerfstudio_by_hand(cameras, tmp_path / "transforms.json", shared=2)
    result = read_cameras(tmp_path)
    assert result.format == "nerfstudio"
    expected = [Camera(f"images/{c.name}", c.viewmat, c.K, c.width, c.height) for c in cameras]
    assert_same_cameras(result.train, expected)


def test_nerfstudio_test_split(tmp_path: Path) -> None:
    cameras = random_cameras(13, 4)
    write_nerfstudio_by_hand(cameras, tmp_path / "transforms.json")
    document = json.loads((tmp_path / "transforms.json").read_text())
    document["test_filenames"] = [f"./images/{cameras[1].name}"]
    (tmp_path / "transforms.json").write_text(json.dumps(document))
    result = read_nerfstudio(tmp_path / "transforms.json")
    assert [c.name for c in result.test] == [f"images/{cameras[1].name}"]
    assert len(result.train) == 3


def _dataparser(seed: int) -> tuple[np.ndarray, float]:
    rng = np.random.default_rng(seed)
    transform = np.zeros((3, 4))
    transform[:, :3] = Rotation.random(random_state=rng).as_matrix()
    transform[:, 3] = rng.uniform(-2.0, 2.0, 3)
    return transform, float(rng.uniform(0.1, 0.5))


def _points_in_view(camera: Camera, rng: np.random.Generator, count: int) -> np.ndarray:
    """World points that project inside the camera's image."""
    uv = rng.uniform([0, 0], [camera.width, camera.height], (count, 2))
    depth = rng.uniform(1.0, 10.0, count)
    xy = (uv - [camera.cx, camera.cy]) / [camera.fx, camera.fy] * depth[:, None]
    in_camera = np.column_stack([xy, depth])
    rotation, t = camera.viewmat[:3, :3], camera.viewmat[:3, 3]
    return (in_camera - t) @ rotation  # R^T (p_cam - t)


def test_nerfstudio_dataparser_transform_keeps_projections(tmp_path: Path) -> None:
    cameras = random_cameras(14, 4)
    write_nerfstudio_by_hand(cameras, tmp_path / "data" / "transforms.json")
    transform, scale = _dataparser(15)
    dataparser_file = tmp_path / "outputs" / "dataparser_transforms.json"
    dataparser_file.parent.mkdir()
    dataparser_file.write_text(json.dumps({"transform": transform.tolist(), "scale": scale}))

    original = read_nerfstudio(tmp_path / "data").train
    moved = read_nerfstudio(tmp_path / "data" / "transforms.json", dataparser_file).train
    rng = np.random.default_rng(16)
    for before, after in zip(original, moved, strict=True):
        points = _points_in_view(before, rng, 200)
        normalised = scale * (points @ transform[:, :3].T + transform[:, 3])  # independent map
        uv, depth = before.project(points)
        uv_moved, depth_moved = after.project(normalised)
        np.testing.assert_allclose(uv_moved, uv, atol=1e-7)
        np.testing.assert_allclose(depth_moved, scale * depth, rtol=1e-9)
        assert before.in_image(uv, depth).all()
    parsed = read_dataparser_transform(dataparser_file)
    np.testing.assert_allclose(parsed.apply_to_points(points), normalised, atol=1e-12)

    # read_cameras applies a dataparser_transforms.json lying beside transforms.json.
    (tmp_path / "data" / "dataparser_transforms.json").write_text(dataparser_file.read_text())
    beside = read_cameras(tmp_path / "data").train
    assert_same_cameras(beside, moved)


# ---------------------------------------------------------------------- real cameras


def _garden_3dgs(cameras: list[Camera], folder: Path) -> Path:
    write_3dgs_by_hand(cameras, folder / "cameras.json")
    return folder


def _garden_colmap_text(cameras: list[Camera], folder: Path) -> Path:
    write_colmap_text_by_hand(cameras, folder / "sparse" / "0")
    return folder


def _garden_colmap_binary(cameras: list[Camera], folder: Path) -> Path:
    write_colmap_binary_with_pycolmap(cameras, folder / "sparse" / "0")
    return folder


def _garden_nerf(cameras: list[Camera], folder: Path) -> Path:
    document = {
        "camera_angle_x": 2.0 * math.atan(cameras[0].width / (2.0 * cameras[0].fx)),
        "frames": nerf_frames(cameras, "train", intrinsics_per_frame=True),
    }
    (folder / "transforms_train.json").write_text(json.dumps(document))
    return folder


def _garden_nerfstudio(cameras: list[Camera], folder: Path) -> Path:
    write_nerfstudio_by_hand(cameras, folder / "transforms.json")
    return folder


GARDEN_WRITERS: dict[str, Callable[[list[Camera], Path], Path]] = {
    "3dgs-json": _garden_3dgs,
    "colmap-text": _garden_colmap_text,
    "colmap-binary": _garden_colmap_binary,
    "nerf-synthetic": _garden_nerf,
    "nerfstudio": _garden_nerfstudio,
}


@pytest.fixture(scope="module")
def garden(real_data: Path) -> tuple[list[Camera], np.ndarray]:
    data = np.load(real_data / "garden_points_cameras.npz")
    width, height = int(data["width"]), int(data["height"])
    cameras = [
        Camera(f"garden_{i}.JPG", data["viewmats"][i], data["Ks"][i], width, height)
        for i in range(len(data["viewmats"]))
    ]
    return cameras, np.asarray(data["means3d"], dtype=np.float64)


@pytest.mark.parametrize("writer", sorted(GARDEN_WRITERS))
def test_garden_points_project_into_real_cameras(
    writer: str, garden: tuple[list[Camera], np.ndarray], tmp_path: Path, record_property
) -> None:
    """Real garden points through the 3 real cameras, after a trip through each format.

    Each garden camera sees about half of this 360° scene (43-54% of the points land
    in its image, 87% are in front of it, 70% are seen by at least one camera), so the
    checks are: most points in front (an axis flip would put ~87% behind), the
    in-image fraction that the original camera gives, and per-point agreement with it.
    """
    cameras, points = garden
    read = read_cameras(GARDEN_WRITERS[writer](cameras, tmp_path)).train
    assert len(read) == len(cameras)
    seen_by_any = np.zeros(len(points), dtype=bool)
    fractions = []
    for original, camera in zip(cameras, read, strict=True):
        uv, depth = camera.project(points)
        inside = camera.in_image(uv, depth)
        expected = original.in_image(*original.project(points))
        seen_by_any |= inside
        fractions.append(round(float(inside.mean()), 4))
        assert (depth > 0).mean() > 0.8
        assert inside.mean() > 0.4
        assert (inside == expected).mean() > 0.999  # 3DGS moves cx by 0.19 px: edge points
    record_property("in_image_fractions", fractions)
    print(f"{writer}: in-image fractions {fractions}, seen by any {seen_by_any.mean():.4f}")
    assert seen_by_any.mean() > 0.65


# ---------------------------------------------------------------------- bad input


def _expect_error(path: Path, *fragments: str, target: Path | None = None) -> str:
    with pytest.raises(InputFileError) as info:
        read_cameras(target or path)
    message = str(info.value)
    assert path.name in message
    for fragment in fragments:
        assert fragment in message, message
    assert "\n" not in message
    return message


def _good_3dgs(tmp_path: Path) -> list[dict]:
    write_3dgs_by_hand(random_cameras(20, 3, centred=True), tmp_path / "cameras.json")
    return json.loads((tmp_path / "cameras.json").read_text())


def test_3dgs_not_utf8(tmp_path: Path) -> None:
    (tmp_path / "cameras.json").write_bytes(b'[{"img_name": "\xff\xfe\x00"}]')
    _expect_error(tmp_path / "cameras.json", "UTF-8")


def test_3dgs_malformed_json(tmp_path: Path) -> None:
    (tmp_path / "cameras.json").write_text('[{"id": 0, "img_name": "a",')
    _expect_error(tmp_path / "cameras.json", "malformed JSON", "line 1")


def test_3dgs_not_a_list(tmp_path: Path) -> None:
    (tmp_path / "cameras.json").write_text('{"cameras": []}')
    _expect_error(tmp_path / "cameras.json", "list")


def test_3dgs_missing_field(tmp_path: Path) -> None:
    entries = _good_3dgs(tmp_path)
    del entries[1]["fx"]
    (tmp_path / "cameras.json").write_text(json.dumps(entries))
    _expect_error(tmp_path / "cameras.json", "camera 1", "'fx'")


@pytest.mark.parametrize(
    ("field", "value", "fragment"),
    [
        ("fy", float("nan"), "not finite"),
        ("position", [0.0, float("inf"), 1.0], "NaN or infinity"),
        ("rotation", (2.0 * np.eye(3)).tolist(), "not a rotation"),
        ("width", 12.5, "whole number"),
        ("fx", "500", "must be a number"),
        ("fx", -3.0, "positive"),
    ],
)
def test_3dgs_bad_values(tmp_path: Path, field: str, value: object, fragment: str) -> None:
    entries = _good_3dgs(tmp_path)
    entries[2][field] = value
    (tmp_path / "cameras.json").write_text(json.dumps(entries))
    _expect_error(tmp_path / "cameras.json", "camera 2", field, fragment)


def test_colmap_without_images_file(tmp_path: Path) -> None:
    model = tmp_path / "sparse" / "0"
    write_colmap_binary_with_pycolmap(random_cameras(21, 2), model)
    (model / "images.bin").unlink()
    _expect_error(model, "images.bin", target=tmp_path)


def test_colmap_truncated_binary(tmp_path: Path) -> None:
    model = tmp_path / "sparse" / "0"
    write_colmap_binary_with_pycolmap(random_cameras(22, 2), model)
    data = (model / "images.bin").read_bytes()
    (model / "images.bin").write_bytes(data[:30])
    _expect_error(model, "COLMAP cannot read", target=tmp_path)


def test_colmap_distorted_model(tmp_path: Path) -> None:
    cameras = random_cameras(23, 2)
    write_colmap_text_by_hand(cameras, tmp_path)
    lines = (tmp_path / "cameras.txt").read_text().splitlines()
    camera = cameras[1]
    lines[2] = f"2 OPENCV 640 480 {camera.fx} {camera.fy} {camera.cx} {camera.cy} 0.05 -0.01 0 0"
    (tmp_path / "cameras.txt").write_text("\n".join(lines) + "\n")
    _expect_error(tmp_path / "cameras.txt", "OPENCV", "colmap image_undistorter", "k1=0.05")


def test_colmap_fisheye_model_even_without_distortion(tmp_path: Path) -> None:
    write_colmap_text_by_hand(random_cameras(24, 1), tmp_path)
    (tmp_path / "cameras.txt").write_text("1 OPENCV_FISHEYE 640 480 500 500 320 240 0 0 0 0\n")
    _expect_error(tmp_path / "cameras.txt", "OPENCV_FISHEYE", "colmap image_undistorter")


def test_nerfstudio_without_intrinsics(tmp_path: Path) -> None:
    cameras = random_cameras(25, 2)
    document = {
        "w": 640,
        "h": 480,
        "frames": [
            {"file_path": "images/a.png", "transform_matrix": opengl_camtoworld(c).tolist()}
            for c in cameras
        ],
    }
    (tmp_path / "transforms.json").write_text(json.dumps(document))
    _expect_error(tmp_path / "transforms.json", "focal length", "fl_x")


def test_nerfstudio_distortion_refused(tmp_path: Path) -> None:
    write_nerfstudio_by_hand(random_cameras(26, 2), tmp_path / "transforms.json", shared=1)
    document = json.loads((tmp_path / "transforms.json").read_text())
    document["k1"] = 0.02
    (tmp_path / "transforms.json").write_text(json.dumps(document))
    _expect_error(tmp_path / "transforms.json", "k1=0.02", "undistort")


def test_nerf_without_size_or_images(tmp_path: Path) -> None:
    cameras = random_cameras(27, 2, centred=True, square_pixels=True)
    document = {
        "camera_angle_x": 0.69,
        "frames": nerf_frames(cameras, "train", intrinsics_per_frame=False),
    }
    (tmp_path / "transforms_train.json").write_text(json.dumps(document))
    _expect_error(tmp_path / "transforms_train.json", "'w'", "img_000")


def test_unknown_folder_lists_what_was_looked_for(tmp_path: Path) -> None:
    (tmp_path / "notes.txt").write_text("hello")
    message = _expect_error(tmp_path, "cameras.json", "transforms.json", "sparse/0")
    assert all(name in message for name in CAMERA_FORMATS)
    _expect_error(tmp_path / "missing", "does not exist")


def test_nerfstudio_frame_without_pose_names_frame(tmp_path: Path) -> None:
    write_nerfstudio_by_hand(random_cameras(28, 3), tmp_path / "transforms.json", shared=1)
    document = json.loads((tmp_path / "transforms.json").read_text())
    del document["frames"][2]["transform_matrix"]
    document["frames"][1]["fl_x"] = 10**400  # an integer too big for a float
    (tmp_path / "transforms.json").write_text(json.dumps(document))
    _expect_error(tmp_path / "transforms.json", "frame 1", "fl_x", "not finite")
    document["frames"][1]["fl_x"] = 500.0
    (tmp_path / "transforms.json").write_text(json.dumps(document))
    _expect_error(tmp_path / "transforms.json", "frame 2", "transform_matrix")


def test_dataparser_with_scaled_transform_refused(tmp_path: Path) -> None:
    path = tmp_path / "dataparser_transforms.json"
    path.write_text(json.dumps({"transform": (3.0 * np.eye(4))[:3].tolist(), "scale": 1.0}))
    with pytest.raises(InputFileError, match=r"dataparser_transforms\.json.*not a rotation"):
        read_dataparser_transform(path)
    path.write_text(json.dumps({"transform": np.eye(4)[:3].tolist(), "scale": 0}))
    with pytest.raises(InputFileError, match="'scale' must be positive"):
        read_dataparser_transform(path)


def test_colmap_mixed_binary_and_text(tmp_path: Path) -> None:
    cameras = random_cameras(29, 1)
    write_colmap_text_by_hand(cameras, tmp_path / "model")
    write_colmap_binary_with_pycolmap(cameras, tmp_path / "binary")
    (tmp_path / "model" / "cameras.txt").unlink()
    (tmp_path / "binary" / "cameras.bin").rename(tmp_path / "model" / "cameras.bin")
    _expect_error(tmp_path / "model", "images.bin is missing", "model_converter")


def test_read_cameras_with_explicit_format(tmp_path: Path) -> None:
    cameras = random_cameras(30, 2, centred=True)
    write_3dgs_by_hand(cameras, tmp_path / "my_cameras.json")
    assert read_cameras(tmp_path / "my_cameras.json", format_name="3dgs-json").format == "3dgs-json"
    _expect_error(tmp_path / "my_cameras.json", "no cameras found")
    with pytest.raises(ValueError, match="unknown camera format"):
        read_cameras(tmp_path, format_name="ply")
