"""Drawing Gaussians with OpenGL 3.3: the GPU data of one scene and the two passes.

:class:`SplatRenderer` owns the textures of one scene (geometry, 3D covariance, SH,
labels, selection, instance palette) and draws them into a float target in the order
a :class:`~liftstudio.app.viewport.depth_sort.DepthSorter` produced, then composites
the target over the background. It knows nothing of widgets, so the viewport and
``liftstudio bench viewport`` share it. Call it with an OpenGL context current.
"""

from __future__ import annotations

import math

import numpy as np
from OpenGL import GL

from liftstudio.app.viewport.gl_resources import (
    FloatTarget,
    InstanceOrder,
    RowTexture,
    UploadStats,
    build_program,
)
from liftstudio.app.viewport.settings import ViewMode, ViewportSettings
from liftstudio.labels.palette import palette
from liftstudio.render.backend import SplatArrays
from liftstudio.render.rules import INRIA_RULES, RasterRules
from liftstudio.scene.camera import Camera
from liftstudio.scene.rotations import quats_to_matrices
from liftstudio.scene.sh import sh_degree_from_coeffs

ID_TEXTURE_WIDTH = 1024
"""Texels per row of the label, selection and palette textures (small rows: an edit
of a few thousand Gaussians re-sends a few rows)."""

_MODES = {ViewMode.COLOUR: 0, ViewMode.LABELS: 1, ViewMode.DEPTH: 2}
_UNITS = {"u_geometry": 0, "u_covariance": 1, "u_sh": 2, "u_labels": 3, "u_selected": 4,
          "u_palette": 5}  # fmt: skip


def covariances(splats: SplatArrays) -> np.ndarray:
    """Upper triangles ``(c00, c01, c02, c11, c12, c22)`` of ``Σ = R S² Rᵀ``, ``(N, 6)``."""
    rotation = quats_to_matrices(splats.quats)
    m = rotation * splats.scales.astype(np.float64)[:, None, :]
    sigma = m @ np.transpose(m, (0, 2, 1))
    rows, cols = np.triu_indices(3)
    return sigma[:, rows, cols].astype(np.float32)


class SplatRenderer:
    """The GPU copy of one scene and the draw calls (an OpenGL 3.3 context must be current).

    Parameters
    ----------
    splats
        Activated Gaussians.
    labels : (N,) int32
        Instance ids.
    selected : (N,) bool
        Selection.
    rules
        The compositing constants (the CPU renderer's by default, so images agree).
    """

    def __init__(
        self,
        splats: SplatArrays,
        labels: np.ndarray,
        selected: np.ndarray,
        *,
        rules: RasterRules = INRIA_RULES,
    ) -> None:
        self.rules = rules
        self.stats = UploadStats()
        self.count = len(splats)
        max_size = int(GL.glGetIntegerv(GL.GL_MAX_TEXTURE_SIZE))
        self.data_width = min(max_size, 16384)
        self.max_rows = max_size
        self.scene_sh_degree = sh_degree_from_coeffs(splats.sh.shape[1])
        self.sh_degree = self._fitting_sh_degree()
        self.sh_texels = _sh_texels(self.sh_degree)
        n = self.count
        geometry = np.concatenate([splats.means, splats.opacities[:, None]], axis=1)
        cov = np.zeros((n, 8), dtype=np.float32)
        cov[:, :6] = covariances(splats)
        coefficients = (self.sh_degree + 1) ** 2
        sh = np.zeros((n, self.sh_texels * 4), dtype=np.float32)
        sh[:, : coefficients * 3] = splats.sh[:, :coefficients, :].reshape(n, -1)
        stats = self.stats
        self.geometry = RowTexture("geometry", "rgba32f", self.data_width, geometry, stats)
        self.covariance = RowTexture(
            "covariance", "rgba32f", self.data_width, cov.reshape(-1, 4), stats
        )
        self.sh = RowTexture("sh", "rgba32f", self.data_width, sh.reshape(-1, 4), stats)
        self.labels = RowTexture("labels", "r32i", ID_TEXTURE_WIDTH, labels.astype(np.int32), stats)
        self.selected = RowTexture(
            "selection", "r8ui", ID_TEXTURE_WIDTH, selected.astype(np.uint8), stats
        )
        self.palette_size = 0
        self.palette: RowTexture | None = None
        self.set_instance_colours(np.zeros((0, 4), np.uint8))
        self.order = InstanceOrder(stats)
        self.splat_program = build_program("splat.vert", "splat.frag")
        self.present_program = build_program("present.vert", "present.frag")
        self.empty_vertex_array = GL.glGenVertexArrays(1)
        self._locations: dict[tuple[int, str], int] = {}

    # ------------------------------------------------------------------ data
    def _fitting_sh_degree(self) -> int:
        """The scene's SH degree, lowered until its texture fits the GPU's size limit."""
        degree = self.scene_sh_degree
        while degree > 0 and self.count * _sh_texels(degree) > self.data_width * self.max_rows:
            degree -= 1
        return degree

    def set_labels(self, labels: np.ndarray, indices: np.ndarray | None) -> None:
        """Upload the ids of ``indices`` (None: all)."""
        labels = np.asarray(labels, dtype=np.int32)
        if indices is None:
            indices = np.arange(self.count)
        indices = np.asarray(indices, dtype=np.int64)
        self.labels.update(indices, labels[indices])

    def set_selected(self, selected: np.ndarray, indices: np.ndarray) -> None:
        """Upload the selection state of ``indices``."""
        indices = np.asarray(indices, dtype=np.int64)
        self.selected.update(indices, np.asarray(selected, dtype=np.uint8)[indices])

    def set_instance_colours(self, colours: np.ndarray) -> None:
        """Colours of ids ``0 .. M-1`` as ``(M, 4)`` uint8; alpha 0 hides the instance.

        Ids beyond ``M`` get their default colour and stay visible.
        """
        colours = np.asarray(colours, dtype=np.uint8)
        size = max(256, 1 << math.ceil(math.log2(max(colours.shape[0], 1))))
        table = np.zeros((size, 4), dtype=np.uint8)
        table[:, :3] = palette(size - 1)
        table[:, 3] = 255
        table[: colours.shape[0]] = colours
        if self.palette is not None and self.palette_size == size:
            self.palette.update(np.arange(size), table)
            return
        if self.palette is not None:
            self.palette.delete()
        self.palette = RowTexture("palette", "rgba8", ID_TEXTURE_WIDTH, table, self.stats)
        self.palette_size = size

    def set_order(self, order: np.ndarray) -> None:
        """Upload a back-to-front order from the depth sort."""
        self.order.upload(order)

    # ------------------------------------------------------------------ drawing
    def draw(
        self,
        camera: Camera,
        settings: ViewportSettings,
        target: FloatTarget,
        *,
        depth_shading: tuple[float, float] = (0.0, 1.0),
    ) -> None:
        """Blend every Gaussian of the current order into ``target`` (cleared first)."""
        GL.glBindFramebuffer(GL.GL_FRAMEBUFFER, target.framebuffer)
        GL.glViewport(0, 0, target.width, target.height)
        GL.glDisable(GL.GL_DEPTH_TEST)
        GL.glClearColor(0.0, 0.0, 0.0, 0.0)
        GL.glClear(GL.GL_COLOR_BUFFER_BIT)
        if self.order.count == 0:
            return
        GL.glEnable(GL.GL_BLEND)
        GL.glBlendEquation(GL.GL_FUNC_ADD)
        GL.glBlendFunc(GL.GL_ONE, GL.GL_ONE_MINUS_SRC_ALPHA)
        program = self.splat_program
        GL.glUseProgram(program)
        for name, unit in _UNITS.items():
            GL.glUniform1i(self._location(program, name), unit)
        for unit, texture in enumerate(
            (self.geometry, self.covariance, self.sh, self.labels, self.selected, self.palette)
        ):
            texture.bind(unit)
        self._set_camera_uniforms(program, camera, settings, depth_shading)
        GL.glBindVertexArray(self.order.vertex_array)
        GL.glDrawArraysInstanced(GL.GL_TRIANGLE_STRIP, 0, 4, self.order.count)
        GL.glBindVertexArray(0)
        GL.glDisable(GL.GL_BLEND)

    def present(
        self, target: FloatTarget, framebuffer: int, width: int, height: int,
        background: tuple[float, float, float],
    ) -> None:  # fmt: skip
        """Composite ``target`` over ``background`` into ``framebuffer``."""
        GL.glBindFramebuffer(GL.GL_FRAMEBUFFER, framebuffer)
        GL.glViewport(0, 0, width, height)
        GL.glDisable(GL.GL_BLEND)
        program = self.present_program
        GL.glUseProgram(program)
        GL.glActiveTexture(GL.GL_TEXTURE0)
        GL.glBindTexture(GL.GL_TEXTURE_2D, target.texture)
        GL.glUniform1i(self._location(program, "u_image"), 0)
        GL.glUniform3f(self._location(program, "u_background"), *background)
        GL.glBindVertexArray(self.empty_vertex_array)
        GL.glDrawArrays(GL.GL_TRIANGLES, 0, 3)
        GL.glBindVertexArray(0)

    def _set_camera_uniforms(
        self, program: int, camera: Camera, settings: ViewportSettings, depth_shading
    ) -> None:
        rules = self.rules
        fx, fy, cx, cy = (
            float(v) for v in (camera.K[0, 0], camera.K[1, 1], camera.K[0, 2], camera.K[1, 2])
        )
        width, height = float(camera.width), float(camera.height)
        m = rules.clamp_margin
        limits = ((width - cx) / fx + m * width / fx, cx / fx + m * width / fx,
                  (height - cy) / fy + m * height / fy, cy / fy + m * height / fy)  # fmt: skip
        viewmat = np.asarray(camera.viewmat, dtype=np.float64)
        eye = -viewmat[:3, :3].T @ viewmat[:3, 3]
        loc = self._location
        GL.glUniformMatrix4fv(loc(program, "u_viewmat"), 1, GL.GL_TRUE, viewmat.astype(np.float32))
        GL.glUniform4f(loc(program, "u_intrinsics"), fx, fy, cx, cy)
        GL.glUniform2f(loc(program, "u_image_size"), width, height)
        GL.glUniform3f(loc(program, "u_eye"), *(float(v) for v in eye))
        GL.glUniform4f(loc(program, "u_limits"), *limits)
        GL.glUniform1f(loc(program, "u_dilation"), rules.cov2d_dilation)
        GL.glUniform1f(loc(program, "u_footprint_q"), rules.footprint_sigmas**2)
        GL.glUniform1f(loc(program, "u_min_alpha"), rules.min_alpha)
        GL.glUniform1f(loc(program, "u_alpha_max"), rules.alpha_max)
        GL.glUniform2f(loc(program, "u_depth_range"), rules.near_plane, min(rules.far_plane, 3e38))
        GL.glUniform1i(loc(program, "u_texture_width"), self.data_width)
        GL.glUniform1i(loc(program, "u_id_width"), ID_TEXTURE_WIDTH)
        GL.glUniform1i(loc(program, "u_palette_size"), self.palette_size)
        GL.glUniform1i(loc(program, "u_sh_texels"), self.sh_texels)
        GL.glUniform1i(loc(program, "u_sh_degree"), min(settings.sh_degree, self.sh_degree))
        GL.glUniform1i(loc(program, "u_mode"), _MODES[settings.mode])
        GL.glUniform1f(loc(program, "u_label_opacity"), settings.label_opacity)
        GL.glUniform1i(loc(program, "u_highlight"), int(settings.highlight_selection))
        GL.glUniform2f(loc(program, "u_depth_shading"), *depth_shading)
        GL.glUniform1i(loc(program, "u_point_mode"), int(settings.point_mode))
        GL.glUniform1f(loc(program, "u_point_radius"), settings.point_size / 2.0)

    def _location(self, program: int, name: str) -> int:
        key = (program, name)
        if key not in self._locations:
            self._locations[key] = GL.glGetUniformLocation(program, name)
        return self._locations[key]

    def delete(self) -> None:
        """Free every GPU object."""
        for texture in (self.geometry, self.covariance, self.sh, self.labels, self.selected,
                        self.palette):  # fmt: skip
            if texture is not None:
                texture.delete()
        self.order.delete()
        GL.glDeleteVertexArrays(1, [self.empty_vertex_array])
        GL.glDeleteProgram(self.splat_program)
        GL.glDeleteProgram(self.present_program)


def _sh_texels(degree: int) -> int:
    """RGBA texels that hold ``(degree + 1)²`` RGB coefficients."""
    return -(-((degree + 1) ** 2 * 3) // 4)
