"""The OpenGL viewport against the CPU renderer: two implementations of the same math.

The CPU renderer (``render/cpu``) composites front to back per pixel; the viewport
blends screen-space quads back to front on the GPU (Mesa's llvmpipe here). Their
images of the same camera must agree to PSNR >= 30 dB.
"""

from __future__ import annotations

import numpy as np
import pytest
from PySide6.QtCore import QPoint, Qt

from liftstudio.app.document import SceneDocument
from liftstudio.app.viewport.gl_viewport import SplatViewport
from liftstudio.app.viewport.settings import ViewMode, ViewportSettings
from liftstudio.evaluate.synthetic import orbit_cameras, random_gaussians
from liftstudio.labels.palette import palette
from liftstudio.render.backend import view_colors
from liftstudio.render.registry import resolve_backend
from liftstudio.scene.discovery import OpenedScene

HIGHLIGHT = np.array([1.0, 0.85, 0.2])


def psnr(a: np.ndarray, b: np.ndarray) -> float:
    mse = float(np.mean((np.clip(a, 0, 1) - np.clip(b, 0, 1)) ** 2))
    return 10.0 * np.log10(1.0 / max(mse, 1e-12))


def grab(viewport: SplatViewport) -> np.ndarray:
    image = viewport.grabFramebuffer().convertToFormat(
        viewport.grabFramebuffer().Format.Format_RGB888
    )
    rows = np.frombuffer(image.constBits(), np.uint8).reshape(image.height(), image.bytesPerLine())
    return rows[:, : image.width() * 3].reshape(image.height(), image.width(), 3) / 255.0


def wait_for_full_frame(qtbot, viewport: SplatViewport) -> None:
    viewport.update()
    qtbot.waitUntil(viewport.is_frame_current, timeout=20_000)
    with qtbot.waitSignal(viewport.frameRendered, timeout=20_000) as blocker:
        viewport.update()
    assert blocker.args == [True]


@pytest.fixture
def make_viewport(qtbot):
    created = []

    def make(document: SceneDocument, size: tuple[int, int], settings=None) -> SplatViewport:
        viewport = SplatViewport()
        qtbot.addWidget(viewport)
        viewport.set_settings(settings or ViewportSettings(mode=ViewMode.COLOUR))
        viewport.resize(*size)
        viewport.show()
        qtbot.waitExposed(viewport)
        viewport.set_document(document)
        created.append(viewport)
        return viewport

    yield make
    for viewport in created:
        viewport.shutdown()


def test_the_framebuffer_at_a_training_camera_matches_the_cpu_renderer(
    qtbot, demo_document, make_viewport, no_leaked_threads
):
    camera = demo_document.train_cameras[7]
    viewport = make_viewport(demo_document, (camera.width, camera.height))
    viewport.snap_to_camera(camera)
    wait_for_full_frame(qtbot, viewport)
    shown = grab(viewport)
    expected = resolve_backend("cpu").render(demo_document.gaussians, camera).rgb
    assert shown.shape == expected.shape
    assert psnr(shown, expected) >= 30.0
    # A different view gives a different picture (the comparison can fail).
    other = resolve_backend("cpu").render(demo_document.gaussians, demo_document.train_cameras[0])
    assert psnr(shown, other.rgb) < 25.0


def test_view_dependent_colour_and_background_match_the_cpu_renderer(qtbot, make_viewport):
    scene = random_gaussians(4000, sh_degree=3, seed=3)
    camera = orbit_cameras(3, radius=3.0, width_px=160, height_px=120)[1]
    document = SceneDocument(OpenedScene(path=__import__("pathlib").Path("random.ply"),
                                         kind="gaussian-file", gaussians=scene))  # fmt: skip
    background = (0.2, 0.3, 0.9)
    viewport = make_viewport(
        document, (160, 120), ViewportSettings(mode=ViewMode.COLOUR, background=background)
    )
    image = viewport.render_image(camera)
    expected = resolve_backend("cpu").render(scene, camera, background=background).rgb
    assert psnr(image, expected) >= 30.0
    flat = resolve_backend("cpu").render(scene, camera, background=background, sh_degree=0).rgb
    assert psnr(expected, flat) < psnr(image, expected)  # the SH bands matter here


def _expected_overlay(document, camera, labels, selected, opacity, highlight=True):
    """CPU render of the colour each Gaussian should get in labels mode."""
    colours = view_colors(document.gaussians, camera).astype(np.float64)
    instance = palette(int(labels.max())).astype(np.float64)[labels] / 255.0
    labeled = labels > 0
    colours[labeled] = (1 - opacity) * colours[labeled] + opacity * instance[labeled]
    if highlight:
        colours[selected] = 0.35 * colours[selected] + 0.65 * HIGHLIGHT
    rendered = resolve_backend("cpu").render(
        document.gaussians, camera, features=colours.astype(np.float32), rgb=False
    )
    return rendered.features


def test_label_overlay_and_selection_follow_the_model_and_upload_only_what_changed(
    qtbot, demo_document, demo_truth, make_viewport
):
    camera = demo_document.train_cameras[3]
    settings = ViewportSettings(mode=ViewMode.LABELS, label_opacity=0.8)
    viewport = make_viewport(demo_document, (camera.width, camera.height), settings)
    viewport.snap_to_camera(camera)
    demo_document.labels.replace_all(demo_truth)
    wait_for_full_frame(qtbot, viewport)
    none = np.zeros(len(demo_truth), dtype=bool)
    expected = _expected_overlay(demo_document, camera, demo_truth, none, 0.8)
    assert psnr(grab(viewport), expected) >= 30.0

    scene_bytes = {k: viewport.upload_bytes(k) for k in ("geometry", "covariance", "sh")}
    label_bytes = viewport.upload_bytes("labels")
    rng = np.random.default_rng(0)
    flipped = np.sort(rng.choice(len(demo_truth), 3000, replace=False))
    demo_document.labels.assign(flipped, 1)
    chosen = np.flatnonzero(demo_truth == 5)
    demo_document.selection.replace(chosen)
    wait_for_full_frame(qtbot, viewport)
    labels = demo_truth.copy()
    labels[flipped] = 1
    selected = np.zeros(len(labels), dtype=bool)
    selected[chosen] = True
    shown = grab(viewport)
    now_expected = _expected_overlay(demo_document, camera, labels, selected, 0.8)
    assert psnr(shown, now_expected) >= 30.0
    changed = np.abs(now_expected - expected).max(axis=2) > 0.1
    assert changed.sum() > 500  # the edit shows, and the old picture would not match there
    assert (
        psnr(shown[changed], expected[changed]) < 20.0 < psnr(shown[changed], now_expected[changed])
    )
    assert {k: viewport.upload_bytes(k) for k in scene_bytes} == scene_bytes
    sent = viewport.upload_bytes("labels") - label_bytes
    assert 0 < sent <= -(-len(demo_truth) // 1024) * 1024 * 4  # at most the label texture

    # A local edit (a brush stroke) re-sends the texture rows it touches, not the labels.
    label_bytes = viewport.upload_bytes("labels")
    demo_document.labels.assign(np.arange(20_000, 20_600), 2)
    wait_for_full_frame(qtbot, viewport)
    assert 0 < viewport.upload_bytes("labels") - label_bytes <= 2 * 1024 * 4
    assert {k: viewport.upload_bytes(k) for k in scene_bytes} == scene_bytes


def test_depth_mode_is_brighter_near_the_camera(qtbot, demo_document, make_viewport):
    camera = demo_document.train_cameras[0]
    viewport = make_viewport(
        demo_document, (camera.width, camera.height), ViewportSettings(mode=ViewMode.DEPTH)
    )
    viewport.snap_to_camera(camera)
    wait_for_full_frame(qtbot, viewport)
    shown = grab(viewport).mean(axis=2)
    depth = resolve_backend("cpu").render(demo_document.gaussians, camera).depth
    covered = resolve_backend("cpu").render(demo_document.gaussians, camera).alpha > 0.99
    near = covered & (depth < np.percentile(depth[covered], 20))
    far = covered & (depth > np.percentile(depth[covered], 80))
    assert shown[near].mean() > shown[far].mean() + 0.2


def test_snap_hands_the_core_exactly_the_training_camera(qtbot, demo_document, make_viewport):
    camera = demo_document.train_cameras[11]
    viewport = make_viewport(demo_document, (camera.width, camera.height))
    viewport.snap_to_camera(camera)
    current = viewport.current_camera()
    np.testing.assert_allclose(current.viewmat, camera.viewmat, atol=1e-9)
    np.testing.assert_allclose(current.K, camera.K, atol=1e-9)
    viewport.resize(camera.width * 2, camera.height * 2)
    doubled = viewport.current_camera()
    np.testing.assert_allclose(doubled.K[:2, :2], 2 * camera.K[:2, :2], atol=1e-9)


def test_mouse_orbit_pan_zoom_and_double_click_centre(qtbot, demo_document, make_viewport):
    camera = demo_document.train_cameras[2]
    viewport = make_viewport(demo_document, (camera.width, camera.height))
    viewport.snap_to_camera(camera)
    view = viewport.view
    target, distance = view.target.copy(), view.distance
    qtbot.mousePress(viewport, Qt.MouseButton.LeftButton, pos=QPoint(100, 100))
    qtbot.mouseMove(viewport, QPoint(160, 100))
    qtbot.mouseRelease(viewport, Qt.MouseButton.LeftButton, pos=QPoint(160, 100))
    np.testing.assert_allclose(view.target, target)  # orbiting keeps the centre
    assert abs(np.linalg.norm(view.eye - view.target) - distance) < 1e-9
    assert not np.allclose(view.eye, target - distance * np.asarray(camera.viewmat)[2, :3])

    # Double-click: the new orbit centre is on the surface under the cursor.
    viewport.snap_to_camera(camera)
    point = viewport.surface_point(camera.width / 2, camera.height / 2)
    rendered = resolve_backend("cpu").render(demo_document.gaussians, camera)
    row, col = camera.height // 2, camera.width // 2
    depth = float(np.asarray(camera.viewmat)[2, :3] @ point + camera.viewmat[2, 3])
    assert abs(depth - rendered.depth[row, col] / max(rendered.alpha[row, col], 1e-6)) < 0.05
    qtbot.mouseDClick(viewport, Qt.MouseButton.LeftButton, pos=QPoint(col, row))
    np.testing.assert_allclose(view.target, point, atol=1e-6)


def test_f_frames_the_selection(qtbot, demo_document, demo_truth, make_viewport):
    camera = demo_document.train_cameras[0]
    viewport = make_viewport(demo_document, (camera.width, camera.height))
    chosen = np.flatnonzero(demo_truth == 4)
    demo_document.selection.replace(chosen)
    viewport.setFocus()
    qtbot.keyClick(viewport, Qt.Key.Key_F)
    current = viewport.current_camera()
    means = demo_document.gaussians.means[chosen].astype(np.float64)
    cam = (np.asarray(current.viewmat)[:3, :3] @ means.T).T + current.viewmat[:3, 3]
    pixels = cam[:, :2] / cam[:, 2:3] * current.K[0, 0] + current.K[:2, 2]
    inside = (pixels[:, 0] >= 0) & (pixels[:, 0] < current.width)
    inside &= (pixels[:, 1] >= 0) & (pixels[:, 1] < current.height)
    assert inside.mean() > 0.95
    centre = np.median(pixels, axis=0)
    assert np.linalg.norm(centre - [current.width / 2, current.height / 2]) < 10


def test_point_mode_draws_opaque_dots_of_the_chosen_size(qtbot, demo_document, make_viewport):
    camera = demo_document.train_cameras[0]
    settings = ViewportSettings(mode=ViewMode.COLOUR, point_mode=True, point_size=1.0)
    viewport = make_viewport(demo_document, (camera.width, camera.height), settings)
    small = viewport.render_image(camera)
    viewport.set_settings(ViewportSettings(mode=ViewMode.COLOUR, point_mode=True, point_size=5.0))
    large = viewport.render_image(camera)
    covered_small = (small.max(axis=2) > 0).mean()
    covered_large = (large.max(axis=2) > 0).mean()
    assert 0 < covered_small < covered_large


def test_w_flies_forward_while_held(qtbot, demo_document, make_viewport):
    camera = demo_document.train_cameras[0]
    viewport = make_viewport(demo_document, (camera.width, camera.height))
    viewport.snap_to_camera(camera)
    eye, forward = viewport.view.eye.copy(), viewport.view.forward
    viewport.setFocus()
    qtbot.keyPress(viewport, Qt.Key.Key_W)
    qtbot.wait(200)
    qtbot.keyRelease(viewport, Qt.Key.Key_W)
    moved = viewport.view.eye - eye
    assert moved @ forward > 0.01 * viewport.view.distance
    np.testing.assert_allclose(moved - (moved @ forward) * forward, 0.0, atol=1e-9)
    qtbot.wait(100)
    still = viewport.view.eye.copy()
    qtbot.wait(100)
    np.testing.assert_allclose(viewport.view.eye, still)  # stopped on release


def test_hidden_and_recoloured_instances(qtbot, demo_document, demo_truth, make_viewport):
    camera = demo_document.train_cameras[3]
    settings = ViewportSettings(mode=ViewMode.LABELS, label_opacity=1.0)
    viewport = make_viewport(demo_document, (camera.width, camera.height), settings)
    viewport.snap_to_camera(camera)
    labels = demo_document.labels
    labels.replace_all(demo_truth)
    labels.update_instance(4, visible=False)
    labels.update_instance(5, colour=(255, 0, 255))
    wait_for_full_frame(qtbot, viewport)
    geometry = viewport.upload_bytes("geometry")
    shown = grab(viewport)
    # Independent expectation: the CPU renderer without instance 4's Gaussians, with
    # every Gaussian coloured by its instance (5 in magenta).
    keep = demo_truth != 4
    colours = palette(int(demo_truth.max())).astype(np.float32)[demo_truth] / 255.0
    colours[demo_truth == 5] = (1.0, 0.0, 1.0)
    subset = demo_document.gaussians.subset(np.flatnonzero(keep))
    expected = resolve_backend("cpu").render(subset, camera, features=colours[keep], rgb=False)
    assert psnr(shown, expected.features) >= 30.0
    labels.undo()  # the recolour
    labels.undo()  # the hide
    wait_for_full_frame(qtbot, viewport)
    assert psnr(grab(viewport), shown) < 30.0
    assert viewport.upload_bytes("geometry") == geometry
