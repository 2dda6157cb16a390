"""The ``coseg`` lifting method: decoder input, consistency weights, training, labels."""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass

import numpy as np
import pytest
import torch

from liftstudio.evaluate.bench_lift import score_labels
from liftstudio.evaluate.mask_simulation import make_masks
from liftstudio.evaluate.scenes import make
from liftstudio.jobs import CancelToken, JobCancelled
from liftstudio.lift.coseg_method import (
    METHOD,
    CosegMethod,
    CosegTrainingConfig,
    DecoderConfig,
    IdentityDecoder,
    consistency_weights,
    decoder_inputs,
    neighbourhood_means,
    position_encoding,
    standardise_columns,
)
from liftstudio.lift.features import GaussianFeatures
from liftstudio.lift.knn_graph import build_knn_graph
from liftstudio.lift.registry import LiftInputs
from liftstudio.render.registry import resolve_backend


@pytest.fixture(scope="module")
def backend():
    return resolve_backend("cpu")


@pytest.fixture(scope="module")
def scene():
    return make("tabletop", 0, num_gaussians=8000, num_train=12, num_test=4, width=96, height=72)


@pytest.fixture(scope="module")
def clean_inputs(scene, backend):
    masks = make_masks("clean", scene.train_gt, scene.train_images, 0)
    return LiftInputs(
        scene.gaussians, scene.train_cameras, masks, scene.train_images, backend, seed=0
    )


def _quick(method: CosegMethod, steps: int, pixels: int = 2048) -> CosegMethod:
    return dataclasses.replace(
        method,
        training=dataclasses.replace(method.training, steps=steps, pixels_per_step=pixels),
    )


@dataclass(frozen=True)
class TruthSource:
    """A feature source giving each Gaussian the one-hot code of its true instance."""

    instance_ids: np.ndarray
    name: str = "truth"

    def __call__(self, inputs, *, progress=None, cancel=None) -> GaussianFeatures:
        values = np.eye(int(self.instance_ids.max()) + 1, dtype=np.float32)[self.instance_ids]
        return GaussianFeatures(values=values, name=self.name)


# ---------------------------------------------------------------------------- decoder input
def test_neighbourhood_means_match_a_brute_force_loop():
    rng = np.random.default_rng(3)
    points = rng.normal(size=(40, 3))
    values = rng.normal(size=(40, 5)).astype(np.float32)
    graph = build_knn_graph(points, k=7)
    sizes = (1, 4, 8)
    means = neighbourhood_means(values, graph.neighbors, sizes)
    assert [m.shape for m in means] == [(40, 5)] * 3
    for i in range(40):
        nearest = np.argsort(np.linalg.norm(points - points[i], axis=1))  # itself first
        for size, mean in zip(sizes, means, strict=True):
            expected = values[nearest[:size]].mean(axis=0)
            np.testing.assert_allclose(mean[i], expected, rtol=1e-5, atol=1e-6)


def test_neighbourhood_means_reject_sizes_beyond_the_graph():
    graph = build_knn_graph(np.random.default_rng(0).normal(size=(10, 3)), k=3)
    with pytest.raises(ValueError, match="neighbourhood size 5"):
        neighbourhood_means(np.zeros((10, 2)), graph.neighbors, (2, 5))


def test_position_encoding_shape_and_values():
    rng = np.random.default_rng(1)
    means = rng.uniform(-2.0, 3.0, size=(500, 3))
    encoded = position_encoding(means, 3)
    assert encoded.shape == (500, 3 + 6 * 3) and encoded.dtype == np.float32
    low, high = np.percentile(means, [1, 99], axis=0)
    unit = (means - (low + high) / 2) / np.linalg.norm(high - low)
    np.testing.assert_allclose(encoded[:, :3], unit, atol=1e-6)
    for octave in range(3):
        block = encoded[:, 3 + 6 * octave : 9 + 6 * octave]
        angle = 2.0**octave * np.pi * unit
        np.testing.assert_allclose(block[:, :3], np.sin(angle), atol=1e-5)
        np.testing.assert_allclose(block[:, 3:], np.cos(angle), atol=1e-5)
    assert position_encoding(means, 0).shape == (500, 3)
    # All centres in one spot: no division by zero.
    assert np.all(np.isfinite(position_encoding(np.ones((4, 3)), 2)))


def test_decoder_inputs_are_standardised_blocks(scene):
    features = np.random.default_rng(0).normal(size=(len(scene.gaussians), 4))
    config = DecoderConfig(neighbourhoods=(4, 16), frequencies=2)
    seen = np.ones(len(scene.gaussians), dtype=bool)
    rows = decoder_inputs(features, scene.gaussians, config, seen)
    assert rows.shape == (len(scene.gaussians), 4 * 3 + 3 + 6 * 2)
    np.testing.assert_allclose(rows.mean(axis=0), 0.0, atol=1e-4)
    np.testing.assert_allclose(rows.std(axis=0), 1.0, atol=1e-3)


def test_standardise_columns_uses_the_chosen_rows_and_keeps_constant_columns():
    values = np.array([[1.0, 5.0], [3.0, 5.0], [100.0, 5.0]])
    out = standardise_columns(values, np.array([True, True, False]))
    np.testing.assert_allclose(out[:2, 0], [-1.0, 1.0])
    np.testing.assert_allclose(out[:, 1], 0.0)


def test_the_decoder_has_no_per_gaussian_parameters():
    config = DecoderConfig(identities=10, hidden=8, layers=2)
    decoder = IdentityDecoder(6, config, torch.Generator().manual_seed(0))
    count = sum(p.numel() for p in decoder.parameters())
    assert count == (6 * 8 + 8) + (8 * 8 + 8) + (8 * 10 + 10)
    assert decoder(torch.zeros(3, 6)).shape == (3, 10)


# ---------------------------------------------------------------------------- consistency
def test_consistency_weights_lower_contradicted_labels():
    # Four identities; the view has two masks, matched to identities 0 and 1.
    probabilities = torch.tensor(
        [
            [0.9, 0.05, 0.05, 0.0],  # mask 0: the model agrees
            [0.7, 0.2, 0.1, 0.0],  # mask 0: agrees less
            [0.05, 0.05, 0.0, 0.9],  # mask 1 swallowed another object (identity 3)
            [0.0, 0.6, 0.4, 0.0],  # mask 1: mostly agrees
            [0.5, 0.5, 0.0, 0.0],  # outside every mask
        ]
    )
    pixel_mask = torch.tensor([0, 0, 1, 1, -1])
    matched = torch.tensor([0, 1])
    weights = consistency_weights(probabilities, pixel_mask, matched, floor=0.0)
    np.testing.assert_allclose(weights.numpy(), [0.9, 0.7, 0.05, 0.6, 0.0], atol=1e-6)
    # The contradicted label gets the lowest weight of the labelled pixels.
    assert weights[2] < weights[3] < weights[1] < weights[0]
    floored = consistency_weights(probabilities, pixel_mask, matched, floor=0.2)
    np.testing.assert_allclose(floored.numpy(), [0.9, 0.7, 0.2, 0.6, 0.0], atol=1e-6)
    squared = consistency_weights(probabilities, pixel_mask, matched, floor=0.2, power=2.0)
    np.testing.assert_allclose(squared.numpy(), floored.numpy() ** 2, atol=1e-6)


def test_consistency_weights_are_zero_for_masks_without_an_identity():
    probabilities = torch.full((2, 2), 0.5)
    weights = consistency_weights(probabilities, torch.tensor([0, 1]), torch.tensor([0, -1]))
    assert weights[1] == 0.0 and weights[0] == pytest.approx(0.5)


# ---------------------------------------------------------------------------- configuration
@pytest.mark.parametrize(
    ("make_config", "message"),
    [
        (lambda: DecoderConfig(identities=1), "identities"),
        (lambda: DecoderConfig(hidden=0), "hidden"),
        (lambda: DecoderConfig(layers=0), "layers"),
        (lambda: DecoderConfig(layers=1.5), "layers"),
        (lambda: DecoderConfig(neighbourhoods=(8, 1)), "neighbourhoods"),
        (lambda: DecoderConfig(frequencies=-1), "frequencies"),
        (lambda: CosegTrainingConfig(steps=0), "steps"),
        (lambda: CosegTrainingConfig(pixels_per_step=True), "pixels_per_step"),
        (lambda: CosegTrainingConfig(learning_rate=0.0), "learning_rate"),
        (lambda: CosegTrainingConfig(consistency_start=1.5), "consistency_start"),
        (lambda: CosegTrainingConfig(consistency_floor=1.2), "consistency_floor"),
        (lambda: CosegTrainingConfig(consistency_power=-1.0), "consistency_power"),
        (lambda: CosegMethod(decoding="nearest"), "decoding"),
        (lambda: CosegMethod(min_visibility=-0.1), "min_visibility"),
        (lambda: CosegMethod(features=object()), "FeatureSource"),
    ],
)
def test_bad_settings_are_rejected(make_config, message):
    with pytest.raises(ValueError, match=message):
        make_config()


def test_method_identity():
    assert METHOD.name == "coseg"
    assert METHOD.description
    assert METHOD.decoder.identities >= 200  # cluttered scenes hold 200+ objects


def test_a_feature_source_with_the_wrong_row_count_is_rejected(clean_inputs):
    method = dataclasses.replace(METHOD, features=TruthSource(np.zeros(5, dtype=np.int64)))
    with pytest.raises(ValueError, match="5 rows"):
        method(clean_inputs)


# ---------------------------------------------------------------------------- end to end
def test_consistent_masks_give_near_perfect_panoptic_quality(scene, clean_inputs, backend):
    output = _quick(METHOD, steps=300)(clean_inputs)
    labels = output.labels
    assert labels.shape == (len(scene.gaussians),) and labels.dtype == np.int32
    pq, miou, accuracy = score_labels(scene, labels, backend)
    assert pq > 0.95 and miou > 0.95, (pq, miou, accuracy)  # measured 0.994, 0.995
    assert output.confidence is not None and output.confidence.shape == labels.shape
    assert np.all((output.confidence >= 0) & (output.confidence <= 1))
    assert output.features is not None and output.features.shape[0] == len(labels)
    history = output.history
    assert history is not None and history.steps == 300
    assert history.last("cross_entropy") < history.losses["cross_entropy"][0]


def test_same_seed_gives_the_same_labels_with_argmax_decoding(scene, clean_inputs):
    method = dataclasses.replace(
        _quick(METHOD, steps=20, pixels=512),
        features=TruthSource(scene.instance_ids),
        decoding="argmax",
    )
    first = method(clean_inputs)
    second = method(clean_inputs)
    np.testing.assert_array_equal(first.labels, second.labels)
    np.testing.assert_array_equal(first.features, second.features)
    assert len(np.unique(first.labels)) > 2
    assert first.confidence is not None and np.all(first.confidence <= 1)


def test_cancel_during_training_raises(clean_inputs):
    token = CancelToken()
    seen: list[str] = []

    def progress(done: int, total: int, message: str) -> None:
        seen.append(message)
        if message.startswith("coseg: step"):
            token.cancel()

    method = dataclasses.replace(_quick(METHOD, steps=400, pixels=512), features=TruthSource(
        np.zeros(len(clean_inputs.gaussians), dtype=np.int64)))  # fmt: skip
    with pytest.raises(JobCancelled):
        method(clean_inputs, progress=progress, cancel=token)
    assert sum(m.startswith("coseg: step") for m in seen) == 1


def test_a_cancelled_token_stops_before_any_work(clean_inputs):
    token = CancelToken()
    token.cancel()
    with pytest.raises(JobCancelled):
        METHOD(clean_inputs, cancel=token)
