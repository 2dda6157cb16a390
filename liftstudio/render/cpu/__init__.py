"""The CPU render backend (numba): projection, tile binning, compositing."""

from liftstudio.render.cpu.backend import CpuBackend

__all__ = ["CpuBackend"]
