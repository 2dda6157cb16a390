"""Choosing a render backend by name."""

from __future__ import annotations

from typing import Literal

from liftstudio.render.backend import RenderBackend
from liftstudio.render.rules import INRIA_RULES, RasterRules

BackendName = Literal["auto", "reference", "cpu", "gsplat"]
BACKEND_NAMES: tuple[str, ...] = ("auto", "reference", "cpu", "gsplat")


def resolve_backend(name: str = "auto", *, rules: RasterRules = INRIA_RULES) -> RenderBackend:
    """Return the render backend called ``name``.

    Parameters
    ----------
    name
        ``"auto"`` (gsplat when CUDA and gsplat's kernels are usable, else ``"cpu"``),
        ``"reference"`` (slow, for tests), ``"cpu"`` (numba) or ``"gsplat"`` (CUDA).
    rules
        Rasterization constants for the ``reference`` and ``cpu`` backends; gsplat
        always follows its own (:data:`~liftstudio.render.rules.GSPLAT_RULES`).

    Raises
    ------
    ValueError
        For an unknown name.
    liftstudio.render.gsplat_backend.GsplatUnavailable
        When ``"gsplat"`` is asked for and cannot run here (says why).
    """
    if name == "reference":
        from liftstudio.render.reference import ReferenceBackend

        return ReferenceBackend(rules=rules)
    if name == "cpu":
        from liftstudio.render.cpu import CpuBackend

        return CpuBackend(rules=rules)
    if name == "gsplat":
        from liftstudio.render.gsplat_backend import GsplatBackend

        return GsplatBackend()
    if name == "auto":
        from liftstudio.render.gsplat_backend import gsplat_unavailable_reason

        if gsplat_unavailable_reason() is None:
            return resolve_backend("gsplat")
        return resolve_backend("cpu", rules=rules)
    raise ValueError(f"unknown render backend {name!r}; choose one of {', '.join(BACKEND_NAMES)}")
