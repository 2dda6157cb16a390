"""Sparse rendering through operator rows, the step loop, and the contrastive losses."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from liftstudio.jobs import CancelToken, JobCancelled
from liftstudio.lift.contrastive_losses import (
    label_confidence,
    mask_prototypes,
    norm_regulariser,
    normalise,
    proto_nce_loss,
)
from liftstudio.lift.feature_training import render_pixels, run_steps, view_schedule
from liftstudio.lift.training_views import TrainingSet, TrainingView


def test_render_and_its_gradient_are_w_and_w_transposed():
    rng = np.random.default_rng(0)
    values = torch.tensor(rng.normal(size=(7, 3)), dtype=torch.float32, requires_grad=True)
    ids = torch.tensor(rng.integers(0, 7, size=(5, 4)))
    weights = torch.tensor(rng.random((5, 4)), dtype=torch.float32)
    rendered = render_pixels(values, ids, weights)
    dense = np.zeros((5, 7))  # W with repeated ids summed
    for p in range(5):
        for k in range(4):
            dense[p, ids[p, k]] += weights[p, k]
    np.testing.assert_allclose(rendered.detach(), dense @ values.detach().numpy(), rtol=1e-5)
    upstream = rng.normal(size=(5, 3))
    (rendered * torch.tensor(upstream, dtype=torch.float32)).sum().backward()
    np.testing.assert_allclose(values.grad, dense.T @ upstream, rtol=1e-5, atol=1e-6)


def _hand_made_features():
    # Mask 0: 30 pixels near e0, mask 1: 25 pixels near e1, mask 2: 5 pixels (no prototype).
    rng = np.random.default_rng(3)
    rows = [np.array([1.0, 0.0, 0.0]) + 0.1 * rng.normal(size=(30, 3)),
            np.array([0.0, 1.0, 0.0]) + 0.1 * rng.normal(size=(25, 3)),
            rng.normal(size=(5, 3))]  # fmt: skip
    features = torch.tensor(np.vstack(rows), dtype=torch.float32)
    masks = torch.tensor([0] * 30 + [1] * 25 + [2] * 5)
    return normalise(features), masks


def test_prototypes_and_temperatures_follow_their_definition():
    unit, masks = _hand_made_features()
    prototypes = mask_prototypes(unit, masks)
    assert prototypes.num_masks == 2
    np.testing.assert_array_equal(prototypes.pixel_mask[-5:], [-1] * 5)
    for k, count in ((0, 30), (1, 25)):
        members = unit[masks == k].numpy()
        mean = members.mean(axis=0)
        np.testing.assert_allclose(prototypes.prototypes[k].detach(), mean, rtol=1e-5)
        spread = np.linalg.norm(members - mean, axis=1).sum() / (count * math.log(count + 10))
        np.testing.assert_allclose(prototypes.spread[k], spread, rtol=1e-5)
    temperatures = prototypes.temperatures(10.0, 0.5, 1.0)
    assert torch.all((temperatures >= 0.5) & (temperatures <= 1.0))


def test_proto_nce_and_label_confidence_by_hand():
    unit, masks = _hand_made_features()
    prototypes = mask_prototypes(unit, masks)
    temperatures = torch.tensor([0.5, 0.8])
    logits = unit[:55].numpy() @ prototypes.prototypes.detach().numpy().T / [0.5, 0.8]
    log_shares = logits - np.log(np.exp(logits).sum(axis=1, keepdims=True))
    own = masks[:55].numpy()
    expected = -log_shares[np.arange(55), own].mean()
    np.testing.assert_allclose(proto_nce_loss(unit, prototypes, temperatures).item(), expected,
                               rtol=1e-5)  # fmt: skip
    confidence = label_confidence(unit, prototypes, temperatures).numpy()
    np.testing.assert_allclose(confidence[:55], np.exp(log_shares[np.arange(55), own]), rtol=1e-5)
    np.testing.assert_array_equal(confidence[55:], 0.0)
    # Relabel a pixel of mask 0 as mask 1: its confidence in that label is low.
    wrong = masks.clone()
    wrong[0] = 1
    assert label_confidence(unit, mask_prototypes(unit, wrong), temperatures)[0] < 0.2


def test_norm_regulariser():
    features = torch.tensor([[3.0, 4.0], [0.0, 1.0]])
    assert norm_regulariser(features).item() == pytest.approx((16 + 0) / 2)


def _training_set(pixels_per_view):
    views = []
    for i, count in enumerate(pixels_per_view):
        views.append(TrainingView(
            name=f"v{i}", height=1, width=max(count, 1),
            pixels=np.arange(count), ids=np.zeros((count, 1), np.int32),
            weights=np.ones((count, 1), np.float32), masks=np.zeros(count, np.int32),
            mask_ids=np.array([1], np.int32), supervised=np.arange(count),
        ))  # fmt: skip
    return TrainingSet(views=views, visibility=np.ones(1, np.float32), num_gaussians=1)


def test_view_schedule_passes_over_every_usable_view():
    schedule = view_schedule(_training_set([5, 0, 3, 4]), 9, np.random.default_rng(0))
    assert sorted(schedule[:3]) == [0, 2, 3] and sorted(schedule[3:6]) == [0, 2, 3]
    assert len(schedule) == 9
    with pytest.raises(ValueError, match="no training view"):
        view_schedule(_training_set([0, 0]), 3, np.random.default_rng(0))


def test_run_steps_logs_reports_and_cancels():
    calls = []
    history = run_steps(250, lambda i: {"total": float(i)}, what="demo",
                        progress=lambda d, t, m: calls.append((d, t, m)))  # fmt: skip
    assert history.steps == 250 and history.losses["total"][-1] == 249.0
    assert len(calls) == 125 and calls[-1][:2] == (250, 250) and "demo" in calls[-1][2]
    token = CancelToken()

    def step(index):
        if index == 3:
            token.cancel()
        return {"total": 0.0}

    with pytest.raises(JobCancelled):
        run_steps(10, step, what="demo", cancel=token)


def test_positional_features_are_smooth_at_the_length_scale():
    from liftstudio.lift.contrastive_training import positional_features

    rng = np.random.default_rng(0)
    positions = rng.uniform(0, 10, size=(2000, 3)).astype(np.float32)
    features = positional_features(positions, 16, 0.05, torch.Generator().manual_seed(0))
    assert features.shape == (2000, 16)
    np.testing.assert_allclose(features.norm(dim=1), 1.0, rtol=1e-5)
    close = positional_features(positions + 0.01, 16, 0.05, torch.Generator().manual_seed(0))
    # 0.01 is 2% of the length scale (0.05 x extent ~ 0.5): nearly the same feature.
    assert (features * close).sum(dim=1).mean() > 0.95
    # Points several length scales apart are nearly unrelated.
    far = (features[:1000] * features[1000:]).sum(dim=1)
    assert abs(far.mean()) < 0.1
