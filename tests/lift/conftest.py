"""Fixtures shared by the lifting tests: one small generated scene with its masks."""

from __future__ import annotations

import numpy as np
import pytest

from liftstudio.evaluate.mask_simulation import make_masks
from liftstudio.evaluate.scenes import BenchmarkScene, make
from liftstudio.render.backend import RenderBackend
from liftstudio.render.registry import resolve_backend


@pytest.fixture(scope="session")
def cpu_backend() -> RenderBackend:
    """The CPU render backend."""
    return resolve_backend("cpu")


@pytest.fixture(scope="session")
def small_tabletop(cpu_backend: RenderBackend) -> BenchmarkScene:
    """A tabletop of 8,000 Gaussians, 12 training and 4 test views at 96×72."""
    return make(
        "tabletop", 0, num_gaussians=8_000, num_train=12, num_test=4, width=96, height=72,
        backend=cpu_backend,
    )  # fmt: skip


@pytest.fixture(scope="session")
def small_tabletop_clean_masks(small_tabletop: BenchmarkScene) -> list[np.ndarray]:
    """Masks of ``small_tabletop`` whose ids agree across views (the ground truth)."""
    return make_masks("clean", small_tabletop.train_gt, small_tabletop.train_images, 0)


@pytest.fixture(scope="session")
def small_tabletop_sam_masks(small_tabletop: BenchmarkScene) -> list[np.ndarray]:
    """SAM-like masks of ``small_tabletop``: ids permuted per view, over/under-segmented."""
    return make_masks("sam-like", small_tabletop.train_gt, small_tabletop.train_images, 0)
