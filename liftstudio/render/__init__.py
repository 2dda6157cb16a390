"""Rasterizer backends (reference, CPU numba, gsplat CUDA) and the render operator.

Start with :func:`resolve_backend`; every backend offers the operations of
:class:`RenderBackend`. The rules each follows are in :mod:`liftstudio.render.rules`.
"""

from liftstudio.render.backend import RenderBackend, SplatArrays, camera_at
from liftstudio.render.operator_cache import OperatorCache, cached_operator_rows
from liftstudio.render.registry import BACKEND_NAMES, resolve_backend
from liftstudio.render.results import OperatorRows, PickResult, RenderResult, UpliftResult
from liftstudio.render.rules import GSPLAT_RULES, INRIA_RULES, RasterRules

__all__ = [
    "BACKEND_NAMES",
    "GSPLAT_RULES",
    "INRIA_RULES",
    "OperatorCache",
    "OperatorRows",
    "PickResult",
    "RasterRules",
    "RenderBackend",
    "RenderResult",
    "SplatArrays",
    "UpliftResult",
    "cached_operator_rows",
    "camera_at",
    "resolve_backend",
]
