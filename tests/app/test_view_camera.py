"""The viewport camera's controls as geometry (no Qt)."""

from __future__ import annotations

import numpy as np

from liftstudio.app.viewport.view_camera import Lens, ViewCamera, up_from_cameras
from liftstudio.evaluate.synthetic import orbit_cameras


def _project(camera, points):
    cam = (np.asarray(camera.viewmat)[:3, :3] @ points.T).T + camera.viewmat[:3, 3]
    return cam[:, :2] / cam[:, 2:3] * np.diag(camera.K)[:2] + camera.K[:2, 2], cam[:, 2]


def test_snap_reproduces_the_camera_and_the_lens_survives_resizing():
    camera = orbit_cameras(4, width_px=200, height_px=100)[1]
    view = ViewCamera()
    view.snap_to(camera, orbit_depth=3.0)
    copy = view.camera(200, 100)
    np.testing.assert_allclose(copy.viewmat, camera.viewmat, atol=1e-12)
    np.testing.assert_allclose(copy.K, camera.K, atol=1e-12)
    np.testing.assert_allclose(Lens.of(camera).K(400, 200)[:2, :2], 2 * camera.K[:2, :2])
    assert np.isclose(np.linalg.norm(view.eye - view.target), 3.0)


def test_orbit_keeps_the_centre_distance_and_up_and_turns_by_the_drag():
    view = ViewCamera(up=(0.0, 0.0, 1.0))
    view.reset(np.random.default_rng(0).normal(size=(500, 3)))
    target, distance, eye = view.target.copy(), view.distance, view.eye.copy()
    view.orbit(dx=50.0, dy=0.0, height=100)  # half the height: 90° about up
    np.testing.assert_allclose(view.target, target)
    assert np.isclose(np.linalg.norm(view.eye - target), distance)
    before, after = (eye - target)[:2], (view.eye - target)[:2]
    angle = np.degrees(np.arccos(before @ after / np.linalg.norm(before) / np.linalg.norm(after)))
    assert np.isclose(angle, 90.0, atol=1e-6)
    assert abs(view.right @ view.up) < 1e-9  # no roll
    for _ in range(20):  # never flips over the pole
        view.orbit(dx=0.0, dy=100.0, height=100)
    assert view.forward @ view.up > -1.0 and abs(view.right @ view.up) < 1e-9


def test_pan_moves_the_point_under_the_cursor_with_the_drag():
    view = ViewCamera()
    view.reset(np.random.default_rng(1).normal(size=(200, 3)))
    camera = view.camera(300, 200)
    (before,), _ = _project(camera, view.target[None])
    point = view.target.copy()
    view.pan(12.0, -7.0, 200)
    (after,), _ = _project(view.camera(300, 200), point[None])
    np.testing.assert_allclose(after - before, [12.0, -7.0], atol=1e-6)


def test_zoom_fly_and_orbit_centre():
    view = ViewCamera()
    view.distance = 10.0
    view.zoom(2)
    assert np.isclose(view.distance, 10.0 * 0.85**2)
    eye, forward = view.eye.copy(), view.forward
    view.fly(np.array([0.0, 0.0, 1.5]))
    np.testing.assert_allclose(view.eye, eye + 1.5 * forward)
    eye = view.eye.copy()
    point = eye + 4.0 * view.forward + 0.3 * view.right
    view.set_orbit_centre(point)
    np.testing.assert_allclose(view.eye, eye)  # the camera does not jump
    assert np.isclose(view.distance, 4.0)


def test_frame_fits_the_points():
    rng = np.random.default_rng(2)
    points = rng.normal(size=(2000, 3)) * [3.0, 1.0, 0.5] + [10.0, -4.0, 2.0]
    for width, height in ((320, 240), (600, 200), (200, 400)):
        view = ViewCamera()
        view.frame(points, fill=0.8, aspect=width / height)
        pixels, depth = _project(view.camera(width, height), points)
        inside = (pixels >= 0).all(axis=1) & (pixels[:, 0] < width) & (pixels[:, 1] < height)
        assert (depth > 0).all() and inside.mean() > 0.97
        # Tight: the points reach near 80 % of the half-size in one direction.
        spread = np.percentile(np.abs(pixels - [width / 2, height / 2]) / [width / 2, height / 2],
                               98, axis=0)  # fmt: skip
        assert 0.7 < spread.max() <= 0.85


def test_up_comes_from_the_training_cameras():
    cameras = orbit_cameras(6)  # z-up rig
    np.testing.assert_allclose(up_from_cameras(cameras), [0.0, 0.0, 1.0], atol=0.35)
    assert up_from_cameras([]) is None
