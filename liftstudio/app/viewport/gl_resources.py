"""Small OpenGL helpers: shader programs, row-packed data textures, a float framebuffer.

Per-Gaussian data lives in 2D textures read with ``texelFetch`` (texel ``i`` at
``(i % width, i // width)``), because a million Gaussians' SH coefficients do not fit
in vertex attributes. :class:`RowTexture` keeps a CPU mirror so that changing a few
thousand entries uploads only the texture rows that hold them.
"""

from __future__ import annotations

import ctypes
from dataclasses import dataclass, field
from importlib import resources

import numpy as np
from OpenGL import GL

# internal format, pixel format, pixel type, numpy dtype, channels
_FORMATS = {
    "rgba32f": (GL.GL_RGBA32F, GL.GL_RGBA, GL.GL_FLOAT, np.float32, 4),
    "r32i": (GL.GL_R32I, GL.GL_RED_INTEGER, GL.GL_INT, np.int32, 1),
    "r8ui": (GL.GL_R8UI, GL.GL_RED_INTEGER, GL.GL_UNSIGNED_BYTE, np.uint8, 1),
    "rgba8": (GL.GL_RGBA8, GL.GL_RGBA, GL.GL_UNSIGNED_BYTE, np.uint8, 4),
}


class ShaderError(RuntimeError):
    """A shader failed to compile or link; the message holds the driver's log."""


def shader_source(name: str) -> str:
    """The text of ``shaders/<name>`` shipped with the package."""
    return resources.files("liftstudio.app.viewport").joinpath("shaders", name).read_text("utf-8")


def build_program(vertex: str, fragment: str) -> int:
    """Compile and link a program from two shader files in ``shaders/``."""
    program = GL.glCreateProgram()
    shaders = []
    for kind, name in ((GL.GL_VERTEX_SHADER, vertex), (GL.GL_FRAGMENT_SHADER, fragment)):
        shader = GL.glCreateShader(kind)
        GL.glShaderSource(shader, shader_source(name))
        GL.glCompileShader(shader)
        if not GL.glGetShaderiv(shader, GL.GL_COMPILE_STATUS):
            log = GL.glGetShaderInfoLog(shader)
            raise ShaderError(f"{name} does not compile: {_text(log)}")
        GL.glAttachShader(program, shader)
        shaders.append(shader)
    GL.glLinkProgram(program)
    for shader in shaders:
        GL.glDetachShader(program, shader)
        GL.glDeleteShader(shader)
    if not GL.glGetProgramiv(program, GL.GL_LINK_STATUS):
        raise ShaderError(
            f"{vertex} + {fragment} do not link: {_text(GL.glGetProgramInfoLog(program))}"
        )
    return program


def _text(log) -> str:
    return log.decode(errors="replace") if isinstance(log, bytes) else str(log)


@dataclass
class UploadStats:
    """Bytes sent to the GPU per kind of data, so tests can check what was re-sent."""

    bytes: dict[str, int] = field(default_factory=dict)

    def add(self, kind: str, count: int) -> None:
        """Record ``count`` bytes of ``kind``."""
        self.bytes[kind] = self.bytes.get(kind, 0) + int(count)

    def total(self, kind: str) -> int:
        """Bytes of ``kind`` sent so far."""
        return self.bytes.get(kind, 0)


class RowTexture:
    """A 2D texture holding ``count`` entries of ``texels_per_entry`` texels, row-packed.

    Parameters
    ----------
    kind
        Name recorded in :class:`UploadStats`.
    fmt
        ``"rgba32f"``, ``"r32i"``, ``"r8ui"`` or ``"rgba8"``.
    width
        Texels per row.
    data : (count * texels_per_entry, channels)
        Initial contents, one row per texel.
    stats
        Where uploads are counted.
    """

    def __init__(self, kind: str, fmt: str, width: int, data: np.ndarray, stats: UploadStats):
        self.kind = kind
        self.internal, self.pixel_format, self.pixel_type, dtype, self.channels = _FORMATS[fmt]
        self.width = int(width)
        self.stats = stats
        texels = max(1, data.shape[0])
        self.rows = -(-texels // self.width)
        self.mirror = np.zeros((self.rows * self.width, self.channels), dtype=dtype)
        self.mirror[: data.shape[0]] = data.reshape(data.shape[0], self.channels)
        self.texture = GL.glGenTextures(1)
        GL.glBindTexture(GL.GL_TEXTURE_2D, self.texture)
        for parameter in (GL.GL_TEXTURE_MIN_FILTER, GL.GL_TEXTURE_MAG_FILTER):
            GL.glTexParameteri(GL.GL_TEXTURE_2D, parameter, GL.GL_NEAREST)
        GL.glPixelStorei(GL.GL_UNPACK_ALIGNMENT, 1)
        GL.glTexImage2D(
            GL.GL_TEXTURE_2D, 0, self.internal, self.width, self.rows, 0,
            self.pixel_format, self.pixel_type, self.mirror,
        )  # fmt: skip
        stats.add(kind, self.mirror.nbytes)

    def update(self, texel_indices: np.ndarray, values: np.ndarray) -> None:
        """Set ``texel_indices`` to ``values`` and upload only the rows they lie in."""
        texel_indices = np.asarray(texel_indices, dtype=np.int64)
        if texel_indices.size == 0:
            return
        self.mirror[texel_indices] = np.asarray(values).reshape(texel_indices.size, self.channels)
        rows = np.unique(texel_indices // self.width)
        # Contiguous runs of rows go up in one call each.
        breaks = np.flatnonzero(np.diff(rows) > 1) + 1
        GL.glBindTexture(GL.GL_TEXTURE_2D, self.texture)
        GL.glPixelStorei(GL.GL_UNPACK_ALIGNMENT, 1)
        for run in np.split(rows, breaks):
            first, count = int(run[0]), int(run.size)
            block = self.mirror[first * self.width : (first + count) * self.width]
            GL.glTexSubImage2D(
                GL.GL_TEXTURE_2D, 0, 0, first, self.width, count,
                self.pixel_format, self.pixel_type, np.ascontiguousarray(block),
            )  # fmt: skip
            self.stats.add(self.kind, block.nbytes)

    def bind(self, unit: int) -> None:
        """Bind to texture unit ``unit``."""
        GL.glActiveTexture(GL.GL_TEXTURE0 + unit)
        GL.glBindTexture(GL.GL_TEXTURE_2D, self.texture)

    def delete(self) -> None:
        """Free the GPU texture."""
        GL.glDeleteTextures([self.texture])


class FloatTarget:
    """An off-screen RGBA32F colour buffer: splats blend into it at full precision."""

    def __init__(self, width: int, height: int) -> None:
        self.width, self.height = int(width), int(height)
        self.texture = GL.glGenTextures(1)
        GL.glBindTexture(GL.GL_TEXTURE_2D, self.texture)
        for parameter in (GL.GL_TEXTURE_MIN_FILTER, GL.GL_TEXTURE_MAG_FILTER):
            GL.glTexParameteri(GL.GL_TEXTURE_2D, parameter, GL.GL_NEAREST)
        GL.glTexImage2D(
            GL.GL_TEXTURE_2D, 0, GL.GL_RGBA32F, self.width, self.height, 0,
            GL.GL_RGBA, GL.GL_FLOAT, None,
        )  # fmt: skip
        self.framebuffer = GL.glGenFramebuffers(1)
        GL.glBindFramebuffer(GL.GL_FRAMEBUFFER, self.framebuffer)
        GL.glFramebufferTexture2D(
            GL.GL_FRAMEBUFFER, GL.GL_COLOR_ATTACHMENT0, GL.GL_TEXTURE_2D, self.texture, 0
        )
        status = GL.glCheckFramebufferStatus(GL.GL_FRAMEBUFFER)
        if status != GL.GL_FRAMEBUFFER_COMPLETE:
            raise RuntimeError(f"the float render target is incomplete (status 0x{status:x})")

    def read(self) -> np.ndarray:
        """The ``(height, width, 4)`` float32 contents, top row first."""
        GL.glBindFramebuffer(GL.GL_FRAMEBUFFER, self.framebuffer)
        GL.glReadBuffer(GL.GL_COLOR_ATTACHMENT0)
        GL.glPixelStorei(GL.GL_PACK_ALIGNMENT, 1)
        data = GL.glReadPixels(0, 0, self.width, self.height, GL.GL_RGBA, GL.GL_FLOAT)
        image = np.frombuffer(data, dtype=np.float32).reshape(self.height, self.width, 4)
        return image[::-1].copy()

    def delete(self) -> None:
        """Free the framebuffer and its texture."""
        GL.glDeleteFramebuffers(1, [self.framebuffer])
        GL.glDeleteTextures([self.texture])


class InstanceOrder:
    """The per-instance attribute buffer: which Gaussian each quad draws, back to front."""

    def __init__(self, stats: UploadStats) -> None:
        self.stats = stats
        self.count = 0
        self.vertex_array = GL.glGenVertexArrays(1)
        self.buffer = GL.glGenBuffers(1)
        GL.glBindVertexArray(self.vertex_array)
        GL.glBindBuffer(GL.GL_ARRAY_BUFFER, self.buffer)
        GL.glEnableVertexAttribArray(0)
        GL.glVertexAttribIPointer(0, 1, GL.GL_UNSIGNED_INT, 4, ctypes.c_void_p(0))
        GL.glVertexAttribDivisor(0, 1)
        GL.glBindVertexArray(0)

    def upload(self, order: np.ndarray) -> None:
        """Replace the order (uint32 Gaussian indices)."""
        order = np.ascontiguousarray(order, dtype=np.uint32)
        self.count = int(order.size)
        GL.glBindBuffer(GL.GL_ARRAY_BUFFER, self.buffer)
        GL.glBufferData(GL.GL_ARRAY_BUFFER, max(order.nbytes, 4), order if order.size else None,
                        GL.GL_DYNAMIC_DRAW)  # fmt: skip
        self.stats.add("order", order.nbytes)

    def delete(self) -> None:
        """Free the buffer and vertex array."""
        GL.glDeleteBuffers(1, [self.buffer])
        GL.glDeleteVertexArrays(1, [self.vertex_array])
