"""open_scene: every folder layout a user brings, and what it reports."""

from __future__ import annotations

import json
import shutil

import numpy as np
import pytest
from PIL import Image

from liftstudio.errors import InputFileError
from liftstudio.evaluate.synthetic import orbit_cameras, random_gaussians
from liftstudio.scene.discovery import open_scene
from liftstudio.scene.formats.ply import write_ply
from liftstudio.scene.output_folder import write_3dgs_output


def _save_png(path, width=8, height=6):
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(np.zeros((height, width, 3), np.uint8)).save(path)


@pytest.fixture
def gaussians():
    return random_gaussians(200, sh_degree=1, seed=4)


def test_3dgs_output_picks_latest_iteration_and_finds_images(tmp_path, gaussians):
    cameras = orbit_cameras(5, width_px=8, height_px=6)
    out = write_3dgs_output(
        tmp_path / "output", random_gaussians(50, seed=1), cameras, iteration=7000
    )
    (out / "point_cloud" / "iteration_30000").mkdir()
    write_ply(gaussians, out / "point_cloud" / "iteration_30000" / "point_cloud.ply")
    source = tmp_path / "source"
    # 3DGS writes img_name without an extension; images carry one
    for camera in cameras[:3]:
        _save_png(source / "images" / camera.name.replace(".png", ".jpg"))
    (out / "cfg_args").write_text(
        f"Namespace(sh_degree=1, source_path='{source}', images='images', eval=False)"
    )
    json_path = out / "cameras.json"
    entries = json.loads(json_path.read_text())
    for entry in entries:
        entry["img_name"] = entry["img_name"].removesuffix(".png")
    json_path.write_text(json.dumps(entries))

    scene = open_scene(out)
    assert scene.kind == "3dgs-output"
    assert len(scene.gaussians) == 200
    assert scene.gaussians_path.parent.name == "iteration_30000"
    assert len(scene.cameras.train) == 5
    assert set(scene.images) == {c.name.removesuffix(".png") for c in cameras[:3]}
    assert all(scene.cameras.by_name()[n].image_path == p for n, p in scene.images.items())
    assert any("3 of 5 training images found" in note for note in scene.notes)


def test_ply_inside_an_output_folder_brings_its_cameras(tmp_path, gaussians):
    out = write_3dgs_output(tmp_path / "out", gaussians, orbit_cameras(4), iteration=100)
    ply = out / "point_cloud" / "iteration_100" / "point_cloud.ply"
    scene = open_scene(ply)
    assert scene.path == ply and scene.kind == "3dgs-output"
    assert len(scene.cameras.all) == 4


def test_bare_file_reports_missing_cameras(real_data):
    scene = open_scene(real_data / "guitar.compressed.ply")
    assert scene.kind == "gaussian-file" and len(scene.gaussians) == 90_854
    assert scene.cameras is None
    assert any("no cameras" in note for note in scene.notes)


def test_colmap_folder_without_gaussians(tmp_path):
    names = ["img0.png", "img1.png", "img2.png"]
    _colmap_model(tmp_path / "scene" / "sparse" / "0", "PINHOLE", [10.0, 11.0, 4.0, 3.0], names)
    _save_png(tmp_path / "scene" / "images" / "img1.png")

    scene = open_scene(tmp_path / "scene")
    assert scene.kind == "colmap" and scene.gaussians is None
    assert [c.name for c in scene.cameras.train] == ["img0.png", "img1.png", "img2.png"]
    assert set(scene.images) == {"img1.png"}
    assert any("no trained Gaussians" in note for note in scene.notes)


def test_nerfstudio_folder_applies_dataparser_transform(tmp_path, gaussians):
    folder = tmp_path / "ns"
    frames = []
    for camera in orbit_cameras(3, width_px=8, height_px=6):
        c2w = camera.camtoworld @ np.diag([1.0, -1.0, -1.0, 1.0])  # OpenCV → OpenGL axes
        frames.append({"file_path": f"images/{camera.name}", "transform_matrix": c2w.tolist()})
    meta = {"fl_x": 5.0, "fl_y": 5.0, "cx": 4.0, "cy": 3.0, "w": 8, "h": 6, "frames": frames}
    folder.mkdir()
    (folder / "transforms.json").write_text(json.dumps(meta))
    run = folder / "outputs" / "ns" / "splatfacto" / "2026-01-01"
    run.mkdir(parents=True)
    transform = {"transform": np.eye(4)[:3].tolist(), "scale": 0.5}
    (run / "dataparser_transforms.json").write_text(json.dumps(transform))
    (folder / "exports").mkdir()
    write_ply(gaussians, folder / "exports" / "splat.ply")

    scene = open_scene(folder)
    assert scene.kind == "nerfstudio" and len(scene.gaussians) == 200
    original = orbit_cameras(3)[0].center
    np.testing.assert_allclose(scene.cameras.train[0].center, 0.5 * original, atol=1e-9)
    assert any("normalised frame" in note for note in scene.notes)


def test_folder_with_one_splat_file_opens_it(tmp_path, real_data):
    shutil.copy(real_data / "donut.ply", tmp_path / "donut.ply")
    scene = open_scene(tmp_path)
    assert len(scene.gaussians) == 45_624


def test_unrecognised_folder_and_missing_path(tmp_path):
    (tmp_path / "notes.txt").write_text("hello")
    with pytest.raises(InputFileError, match="not a scene folder: expected a 3DGS output"):
        open_scene(tmp_path)
    with pytest.raises(InputFileError, match="no such file or folder"):
        open_scene(tmp_path / "nope")


def _colmap_model(folder, model, params, names):
    pycolmap = pytest.importorskip("pycolmap")
    folder.mkdir(parents=True)
    rec = pycolmap.Reconstruction()
    cam = pycolmap.Camera(model=model, width=8, height=6, params=params, camera_id=1)
    rec.add_camera_with_trivial_rig(cam)
    for i, name in enumerate(names):
        pose = pycolmap.Rigid3d(pycolmap.Rotation3d(np.eye(3)), np.array([0.0, 0.0, i + 1.0]))
        image = pycolmap.Image(name=name, camera_id=1, image_id=i + 1)
        rec.add_image_with_trivial_frame(image, pose)
    rec.write(str(folder))


def test_distorted_colmap_uses_an_undistorted_copy_when_there_is_one(tmp_path):
    scene_dir = tmp_path / "scene"
    opencv = [10.0, 11.0, 4.0, 3.0, 0.1, -0.02, 0.0, 0.0]  # fx fy cx cy k1 k2 p1 p2
    _colmap_model(scene_dir / "sparse" / "0", "OPENCV", opencv, ["a.png", "b.png"])
    with pytest.raises(InputFileError, match=r"OPENCV.*colmap image_undistorter"):
        open_scene(scene_dir)

    _colmap_model(
        scene_dir / "dense" / "sparse", "PINHOLE", [9.5, 9.5, 4.0, 3.0], ["a.png", "b.png"]
    )
    _save_png(scene_dir / "dense" / "images" / "a.png")
    scene = open_scene(scene_dir)
    assert scene.cameras.train[0].fx == 9.5
    assert scene.images["a.png"] == scene_dir / "dense" / "images" / "a.png"
    assert any("undistorted copy" in note for note in scene.notes)


def test_require_gaussians_and_cameras_name_the_scene(tmp_path):
    from liftstudio.errors import InputFileError
    from liftstudio.scene.discovery import OpenedScene, require_cameras, require_gaussians

    bare = OpenedScene(path=tmp_path / "x.ply", kind="gaussian-file")
    with pytest.raises(InputFileError, match=r"x\.ply.*no trained Gaussians to label"):
        require_gaussians(bare, "to label")
    with pytest.raises(InputFileError, match=r"no training cameras: lifting needs them; open"):
        require_cameras(bare, "lifting needs them")
    with pytest.raises(InputFileError, match=r"has no cameras: "):
        require_cameras(bare, "why", training=False)
