"""What a lifting method takes and returns, and the table of available methods.

A method is a callable ``method(inputs, progress=None, cancel=None) -> LiftOutput``
with a ``name`` and a one-line ``description``. Each method module adds itself to
:data:`_METHOD_MODULES`; :func:`lift_methods` imports them on demand, so the benchmark
harness, ``liftstudio lift --method`` and the app all see the same list.
"""

from __future__ import annotations

import importlib
from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Protocol, runtime_checkable

import numpy as np

from liftstudio.jobs import CancelToken, ProgressCallback
from liftstudio.render.backend import RenderBackend
from liftstudio.scene.camera import Camera
from liftstudio.scene.gaussians import GaussianScene

if TYPE_CHECKING:  # torch is imported only by the learned methods
    from liftstudio.lift.feature_training import TrainingHistory


@dataclass(frozen=True)
class LiftInputs:
    """Everything a lifting method may use.

    Attributes
    ----------
    gaussians
        The trained Gaussians (geometry is frozen).
    cameras
        Training cameras, one per label map.
    label_maps
        Per-view int32 label maps (H, W), 0 = no mask; ids need not agree across views.
    images
        Per-view RGB images (H, W, 3) float32 in [0, 1], when available.
    backend
        The render backend to use.
    seed
        Seed for any randomness in the method.
    """

    gaussians: GaussianScene
    cameras: Sequence[Camera]
    label_maps: Sequence[np.ndarray]
    images: Sequence[np.ndarray] | None
    backend: RenderBackend
    seed: int = 0


@dataclass(frozen=True)
class LiftOutput:
    """A method's result.

    Attributes
    ----------
    labels : (N,) int32
        Instance id per Gaussian, 0 = unlabeled.
    confidence : (N,) float32 or None
        Per-Gaussian confidence in [0, 1], when the method has one.
    features : (N, D) float32 or None
        Per-Gaussian features a learned method trained (for similarity tools).
    segments : (N,) int64 or None
        A grouping of the Gaussians other than ``labels``, when the method has one
        (the codebook's code nearest each Gaussian's feature): the app's click tool can
        select a clicked Gaussian's segment instead of its instance.
    history : TrainingHistory or None
        A learned method's loss log (for the app's loss curve and the notes).
    """

    labels: np.ndarray
    confidence: np.ndarray | None = None
    features: np.ndarray | None = None
    history: TrainingHistory | None = None
    segments: np.ndarray | None = None


@runtime_checkable
class LiftMethod(Protocol):
    """A lifting method (see the module docstring)."""

    name: str
    description: str

    def __call__(
        self,
        inputs: LiftInputs,
        *,
        progress: ProgressCallback | None = None,
        cancel: CancelToken | None = None,
    ) -> LiftOutput:
        """Lift ``inputs`` to per-Gaussian labels."""
        ...


# Modules that define one lifting method each, as ``METHOD`` (added by the lifting issues).
_METHOD_MODULES: tuple[str, ...] = (
    "liftstudio.lift.vote_method",
    "liftstudio.lift.codebook_method",
    "liftstudio.lift.contrastive_method",
    "liftstudio.lift.unic_method",
    "liftstudio.lift.coseg_method",
)


def lift_methods() -> dict[str, LiftMethod]:
    """Every available lifting method, by name."""
    methods: dict[str, LiftMethod] = {}
    for module_name in _METHOD_MODULES:
        method = importlib.import_module(module_name).METHOD
        methods[method.name] = method
    return methods
