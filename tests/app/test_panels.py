"""The dock panels on the demo scene: scene summary and settings, views, instances."""

from __future__ import annotations

import dataclasses
import threading
import time

import numpy as np
import pytest
from PySide6.QtCore import Qt

from liftstudio.app.document import SceneDocument
from liftstudio.app.panels import InstancesPanel, InstanceTableModel, ScenePanel, ViewsPanel
from liftstudio.app.viewport.settings import ViewMode, ViewportSettings
from liftstudio.evaluate.demo_scene import demo_dir
from liftstudio.labels import LabelModel, instance_colour
from liftstudio.render.label_maps import render_label_map
from liftstudio.render.registry import resolve_backend
from liftstudio.sources.images import load_rgb

WAIT_MS = 15_000


@pytest.fixture(autouse=True)
def threads_joined():
    before = threading.active_count()
    yield
    assert threading.active_count() == before, [t.name for t in threading.enumerate()]


@pytest.fixture
def doc(demo_document):
    return demo_document


@pytest.fixture
def views(qtbot, doc):
    panel = ViewsPanel()
    qtbot.addWidget(panel)
    panel.set_document(doc)
    yield panel
    panel.shutdown()


def wait_shown(qtbot, panel: ViewsPanel) -> np.ndarray:
    qtbot.waitUntil(panel.is_up_to_date, timeout=WAIT_MS)
    image = panel.displayed_image()
    assert image is not None, panel.status_text()
    return image.copy()


# ---------------------------------------------------------------------------- Scene panel
def test_scene_panel_summarises_the_scene(qtbot, doc, demo_opened):
    panel = ScenePanel()
    qtbot.addWidget(panel)
    panel.set_document(doc)
    info = panel.info()
    assert info["Gaussians"] == f"{len(demo_opened.gaussians):,}"
    assert info["Train cameras"] == str(len(demo_opened.cameras.train)) == "24"
    assert info["Test cameras"] == str(len(demo_opened.cameras.test))
    assert info["Format"] == demo_opened.gaussians_format
    assert info["SH degree"] == str(demo_opened.gaussians.sh_degree)
    assert panel.sh_spin.maximum() == demo_opened.gaussians.sh_degree
    panel.set_document(None)
    assert panel.info()["Gaussians"] == "—"


def test_scene_panel_emits_the_settings_the_controls_choose(qtbot, doc):
    panel = ScenePanel()
    qtbot.addWidget(panel)
    panel.set_document(doc)
    with qtbot.waitSignal(panel.settingsChanged) as mode_changed:
        panel.mode_combo.setCurrentIndex(panel.mode_combo.findText("Depth"))
    assert mode_changed.args[0].mode is ViewMode.DEPTH
    with qtbot.waitSignal(panel.settingsChanged) as opacity_changed:
        panel.opacity_slider.setValue(25)
    settings = opacity_changed.args[0]
    assert isinstance(settings, ViewportSettings)
    assert (settings.mode, settings.label_opacity) == (ViewMode.DEPTH, 0.25)
    assert panel.settings() == settings
    with qtbot.waitSignal(panel.settingsChanged) as points_changed:
        panel.point_check.setChecked(True)
    assert points_changed.args[0].point_mode and panel.point_size_spin.isEnabled()


def test_scene_panel_set_settings_shows_them_silently(qtbot):
    panel = ScenePanel()
    qtbot.addWidget(panel)
    wanted = ViewportSettings(mode=ViewMode.COLOUR, label_opacity=0.4, background=(1.0, 1.0, 1.0))
    with qtbot.assertNotEmitted(panel.settingsChanged):
        panel.set_settings(wanted)
    assert panel.settings() == wanted
    assert panel.mode_combo.currentText() == "Colour"
    assert panel.opacity_slider.value() == 40
    assert panel.background_button.colour().name() == "#ffffff"


# ---------------------------------------------------------------------------- Views panel
def test_views_panel_lists_the_cameras_with_thumbnails(qtbot, views, demo_opened):
    names = [views.camera_list.item(i).text() for i in range(views.camera_list.count())]
    assert names == [camera.name for camera in demo_opened.cameras.train]
    assert len(names) == 24
    qtbot.waitUntil(lambda: views.thumbnails_loaded() == 24, timeout=WAIT_MS)
    size = views.camera_list.item(0).icon().availableSizes()[0]
    assert size.width() == 96


def test_views_panel_calls_return_quickly(qtbot, views, doc):
    start = time.perf_counter()
    views.set_document(doc)
    views.select_camera(4)
    views.set_source("render")
    views.set_overlay("labels")
    assert time.perf_counter() - start < 0.1
    wait_shown(qtbot, views)


def test_selecting_a_camera_shows_its_training_image(qtbot, views, doc):
    with qtbot.waitSignal(views.cameraSelected) as selected:
        views.select_camera(5)
    assert selected.args == [5] and views.current_camera_index() == 5
    shown = wait_shown(qtbot, views)
    expected = load_rgb(doc.image_path(doc.train_cameras[5]))
    assert shown.shape == expected.shape
    np.testing.assert_allclose(shown / 255.0, expected, atol=0.5 / 255 + 1e-6)


def test_render_source_shows_the_cpu_render(qtbot, views, doc):
    views.set_source("render")
    views.select_camera(3)
    shown = wait_shown(qtbot, views)
    camera = doc.train_cameras[3]
    expected = resolve_backend("cpu").render(doc.gaussians, camera).rgb
    assert shown.shape == (camera.height, camera.width, 3)
    assert np.abs(shown / 255.0 - np.clip(expected, 0, 1)).max() <= 2 / 255


def test_image_source_falls_back_to_the_render(qtbot, demo_opened):
    train = list(demo_opened.cameras.train)
    train[1] = dataclasses.replace(train[1], image_path=None)
    images = {k: v for k, v in demo_opened.images.items() if k != train[1].name}
    cameras = dataclasses.replace(demo_opened.cameras, train=train)
    document = SceneDocument(dataclasses.replace(demo_opened, cameras=cameras, images=images))
    panel = ViewsPanel()
    qtbot.addWidget(panel)
    try:
        panel.set_document(document)
        qtbot.waitUntil(lambda: panel.thumbnails_loaded() == 23, timeout=WAIT_MS)
        panel.select_camera(1)
        from_image = wait_shown(qtbot, panel)
        assert "render" in panel.status_text()
        panel.set_source("render")
        np.testing.assert_array_equal(wait_shown(qtbot, panel), from_image)
    finally:
        panel.shutdown()
        document.close()


def test_labels_overlay_blends_the_rendered_labels(qtbot, views, doc, demo_truth):
    views.select_camera(2)
    plain = wait_shown(qtbot, views)
    views.set_overlay("labels")
    np.testing.assert_array_equal(wait_shown(qtbot, views), plain)  # nothing labeled yet
    doc.labels.replace_all(demo_truth)
    assert not views.is_up_to_date()
    overlaid = wait_shown(qtbot, views)
    changed = np.any(overlaid != plain, axis=-1)
    label_map = render_label_map(
        resolve_backend("cpu"), doc.gaussians, doc.train_cameras[2], demo_truth
    )
    assert changed.mean() > 0.05
    assert not changed[label_map == 0].any()


def test_masks_overlay_colours_the_mask_file(qtbot, views):
    views.select_camera(0)
    plain = wait_shown(qtbot, views)
    views.set_masks_folder(demo_dir() / "masks" / "sam-like")
    views.set_overlay("masks")
    overlaid = wait_shown(qtbot, views)
    assert np.any(overlaid != plain)
    views.set_masks_folder(None)
    assert views.overlay().value == "none"
    np.testing.assert_array_equal(wait_shown(qtbot, views), plain)


def test_double_click_and_snap_button_request_a_snap(qtbot, views):
    views.resize(500, 700)
    views.show()
    qtbot.waitExposed(views)
    item_list = views.camera_list
    qtbot.wait(50)  # the icon grid settles after the first show
    item_list.doItemsLayout()
    centre = item_list.visualItemRect(item_list.item(2)).center()
    assert item_list.row(item_list.itemAt(centre)) == 2
    qtbot.mouseClick(item_list.viewport(), Qt.MouseButton.LeftButton, pos=centre)
    with qtbot.waitSignal(views.snapRequested) as snapped:
        qtbot.mouseDClick(item_list.viewport(), Qt.MouseButton.LeftButton, pos=centre)
    assert snapped.args == [2]
    views.select_camera(7)
    with qtbot.waitSignal(views.snapRequested) as snapped:
        qtbot.mouseClick(views.snap_button, Qt.MouseButton.LeftButton)
    assert snapped.args == [7]


def test_changing_the_document_drops_the_old_work(qtbot, views, doc):
    views.select_camera(0)
    views.set_document(None)
    assert views.camera_list.count() == 0
    assert views.displayed_image() is None and views.is_up_to_date()
    qtbot.wait(200)  # late results of the old document are ignored
    assert views.thumbnails_loaded() == 0 and views.displayed_image() is None


# ---------------------------------------------------------------------------- Instances panel
@pytest.fixture
def instances(qtbot, doc):
    panel = InstancesPanel()
    qtbot.addWidget(panel)
    panel.set_document(doc)
    return panel


def table_rows(panel: InstancesPanel) -> tuple[list[int], list[int]]:
    model = panel.model
    ids = [int(model.index(r, model.ID).data()) for r in range(model.rowCount())]
    counts = [int(model.index(r, model.COUNT).data().replace(",", "")) for r in range(len(ids))]
    return ids, counts


def test_instance_rows_match_the_labels(qtbot, instances, doc, demo_truth):
    assert instances.model.rowCount() == 0
    with qtbot.waitSignal(instances.refreshed):
        doc.labels.replace_all(demo_truth)
    ids, counts = table_rows(instances)
    expected_ids = np.unique(demo_truth[demo_truth > 0])
    assert ids == expected_ids.tolist()
    assert counts == np.bincount(demo_truth)[expected_ids].tolist()
    colour = instances.model.index(0, 0).data(Qt.ItemDataRole.DecorationRole)
    assert colour.getRgb()[:3] == instance_colour(int(expected_ids[0]))
    labeled, total = int((demo_truth > 0).sum()), demo_truth.size
    assert instances.summary.text() == (
        f"{expected_ids.size} instances, {labeled:,} of {total:,} Gaussians labeled"
    )


def test_instance_table_refreshes_once_per_burst(qtbot, instances, doc, demo_truth):
    doc.labels.replace_all(demo_truth)
    refreshes = []
    instances.refreshed.connect(lambda: refreshes.append(1))
    moved = np.flatnonzero(demo_truth == 1)
    with qtbot.waitSignal(instances.refreshed):
        for chunk in np.array_split(moved, 5):
            doc.labels.assign(chunk, 99)
    qtbot.wait(20)
    assert len(refreshes) == 1
    ids, counts = table_rows(instances)
    assert 1 not in ids and ids[-1] == 99 and counts[-1] == moved.size


def test_selecting_rows_selects_their_gaussians(qtbot, instances, doc, demo_truth):
    with qtbot.waitSignal(instances.refreshed):
        doc.labels.replace_all(demo_truth)
    row = instances.model.row_of(3)
    instances.table.selectRow(row)
    np.testing.assert_array_equal(doc.selection.indices(), np.flatnonzero(demo_truth == 3))
    instances.select_ids([2, 5])
    assert instances.selected_ids() == [2, 5]
    wanted = np.flatnonzero((demo_truth == 2) | (demo_truth == 5))
    np.testing.assert_array_equal(doc.selection.indices(), wanted)
    with qtbot.waitSignal(instances.refreshed):  # a refresh keeps the rows and the selection
        doc.labels.rename(2, "chair")
    assert instances.selected_ids() == [2, 5]
    np.testing.assert_array_equal(doc.selection.indices(), wanted)
    instances.table.clearSelection()
    assert doc.selection.indices().size == 0


def test_instance_table_shows_class_visibility_and_lock(qtbot, instances, doc, demo_truth):
    model = instances.model
    assert model.COLUMNS == ("", "ID", "Name", "Class", "Gaussians", "Visible", "Locked")
    with qtbot.waitSignal(instances.refreshed):
        doc.labels.replace_all(demo_truth)
    with qtbot.waitSignal(instances.refreshed):  # table edits refresh it too
        doc.labels.update_instance(2, class_name="chair", visible=False, locked=True)
    row, other = model.row_of(2), model.row_of(3)
    check = Qt.ItemDataRole.CheckStateRole
    assert model.index(row, model.CLASS).data() == "chair"
    assert model.index(other, model.CLASS).data() == ""
    assert model.index(row, model.VISIBLE).data(check) == Qt.CheckState.Unchecked
    assert model.index(row, model.LOCKED).data(check) == Qt.CheckState.Checked
    assert model.index(other, model.VISIBLE).data(check) == Qt.CheckState.Checked
    foreground = Qt.ItemDataRole.ForegroundRole
    assert model.index(row, model.NAME).data(foreground) is not None  # hidden: greyed
    assert model.index(other, model.NAME).data(foreground) is None


def test_instance_table_without_labels_is_read_only(qtbot):
    labels = LabelModel(4)
    labels.assign(np.arange(2), 1)
    model = InstanceTableModel()
    model.set_instances(labels.instances())
    name = model.index(0, model.NAME)
    assert not model.flags(name) & Qt.ItemFlag.ItemIsEditable
    assert not model.setData(name, "chair")
    model.set_labels(labels)
    assert model.flags(name) & Qt.ItemFlag.ItemIsEditable
    assert model.setData(name, "chair") and labels.instance(1).name == "chair"
