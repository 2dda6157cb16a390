"""DINOv2 backend: checkpoint loading and conversion, sliding windows, PCA maps.

Real DINOv2 weights cannot be downloaded here: every model is a tiny randomly
initialised ViT (hidden 32 or 128, 2 blocks, patch 14), or a stub module whose output
is known in closed form.
"""

from __future__ import annotations

import sys
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from liftstudio.errors import InputFileError
from liftstudio.jobs import CancelToken, JobCancelled
from liftstudio.sources.dino import (
    IMAGENET_MEAN,
    IMAGENET_STD,
    DinoConfig,
    DinoModel,
    DinoUnavailable,
    architecture_name,
    dino_feature_maps,
    load_dino,
    output_size,
    patch_features,
    resolve_device,
    sliding_windows,
)

CPU = torch.device("cpu")


# ---------------------------------------------------------------------------- helpers
def _hf_model(*, hidden=32, heads=2, registers=0, swiglu=False, seed=0):
    """A tiny transformers DINOv2 with every parameter random (norms and scales too)."""
    transformers = pytest.importorskip("transformers")
    common = dict(
        hidden_size=hidden,
        num_hidden_layers=2,
        num_attention_heads=heads,
        image_size=28,
        patch_size=14,
        use_swiglu_ffn=swiglu,
    )
    if registers:
        config = transformers.Dinov2WithRegistersConfig(num_register_tokens=registers, **common)
        model = transformers.Dinov2WithRegistersModel(config)
    else:
        model = transformers.Dinov2Model(transformers.Dinov2Config(**common))
    generator = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for name, parameter in model.named_parameters():
            noise = 0.2 * torch.randn(parameter.shape, generator=generator)
            ones = name.endswith(("norm1.weight", "norm2.weight", "layernorm.weight", "lambda1"))
            parameter.copy_(noise + 1.0 if ones else noise)
    return model.eval()


def _hub_state_dict(model, *, depth=2, registers=0, swiglu=False):
    """Official torch-hub keys for a transformers model, written out by hand.

    Every tensor of the model must be used exactly once.
    """
    sd = dict(model.state_dict())
    hub = {
        "cls_token": sd.pop("embeddings.cls_token"),
        "mask_token": sd.pop("embeddings.mask_token"),
        "pos_embed": sd.pop("embeddings.position_embeddings"),
        "patch_embed.proj.weight": sd.pop("embeddings.patch_embeddings.projection.weight"),
        "patch_embed.proj.bias": sd.pop("embeddings.patch_embeddings.projection.bias"),
        "norm.weight": sd.pop("layernorm.weight"),
        "norm.bias": sd.pop("layernorm.bias"),
    }
    if registers:
        hub["register_tokens"] = sd.pop("embeddings.register_tokens")
    for i in range(depth):
        b, t = f"blocks.{i}.", f"encoder.layer.{i}."
        hub[b + "ls1.gamma"] = sd.pop(t + "layer_scale1.lambda1")
        hub[b + "ls2.gamma"] = sd.pop(t + "layer_scale2.lambda1")
        for kind in ("weight", "bias"):
            hub[b + f"norm1.{kind}"] = sd.pop(t + f"norm1.{kind}")
            hub[b + f"norm2.{kind}"] = sd.pop(t + f"norm2.{kind}")
            hub[b + f"attn.qkv.{kind}"] = torch.cat(
                [
                    sd.pop(t + f"attention.q_proj.{kind}"),
                    sd.pop(t + f"attention.k_proj.{kind}"),
                    sd.pop(t + f"attention.v_proj.{kind}"),
                ]
            )
            hub[b + f"attn.proj.{kind}"] = sd.pop(t + f"attention.o_proj.{kind}")
            if swiglu:
                hub[b + f"mlp.w12.{kind}"] = torch.cat(
                    [sd.pop(t + f"mlp.gate_proj.{kind}"), sd.pop(t + f"mlp.up_proj.{kind}")]
                )
                hub[b + f"mlp.w3.{kind}"] = sd.pop(t + f"mlp.down_proj.{kind}")
            else:
                hub[b + f"mlp.fc1.{kind}"] = sd.pop(t + f"mlp.fc1.{kind}")
                hub[b + f"mlp.fc2.{kind}"] = sd.pop(t + f"mlp.fc2.{kind}")
    assert not sd, f"tensors left out of the hub table: {sorted(sd)}"
    return {k: v.clone() for k, v in hub.items()}


def _random_hub_state_dict(*, hidden=32, depth=2, registers=0, swiglu=False, seed=0):
    """Random tensors with the shapes of an official checkpoint (2×2 position grid)."""
    g = torch.Generator().manual_seed(seed)

    def rand(*shape, centre=0.0):
        return centre + 0.2 * torch.randn(shape, generator=g)

    mlp = (int(hidden * 4 * 2 / 3) + 7) // 8 * 8 if swiglu else 4 * hidden
    hub = {
        "cls_token": rand(1, 1, hidden),
        "mask_token": rand(1, hidden),
        "pos_embed": rand(1, 5, hidden),
        "patch_embed.proj.weight": rand(hidden, 3, 14, 14),
        "patch_embed.proj.bias": rand(hidden),
        "norm.weight": rand(hidden, centre=1.0),
        "norm.bias": rand(hidden),
    }
    if registers:
        hub["register_tokens"] = rand(1, registers, hidden)
    for i in range(depth):
        b = f"blocks.{i}."
        hub |= {
            b + "norm1.weight": rand(hidden, centre=1.0),
            b + "norm1.bias": rand(hidden),
            b + "attn.qkv.weight": rand(3 * hidden, hidden),
            b + "attn.qkv.bias": rand(3 * hidden),
            b + "attn.proj.weight": rand(hidden, hidden),
            b + "attn.proj.bias": rand(hidden),
            b + "ls1.gamma": rand(hidden, centre=1.0),
            b + "norm2.weight": rand(hidden, centre=1.0),
            b + "norm2.bias": rand(hidden),
            b + "ls2.gamma": rand(hidden, centre=1.0),
        }
        if swiglu:
            hub[b + "mlp.w12.weight"] = rand(2 * mlp, hidden)
            hub[b + "mlp.w12.bias"] = rand(2 * mlp)
            hub[b + "mlp.w3.weight"] = rand(hidden, mlp)
            hub[b + "mlp.w3.bias"] = rand(hidden)
        else:
            hub[b + "mlp.fc1.weight"] = rand(mlp, hidden)
            hub[b + "mlp.fc1.bias"] = rand(mlp)
            hub[b + "mlp.fc2.weight"] = rand(hidden, mlp)
            hub[b + "mlp.fc2.bias"] = rand(hidden)
    return hub


def _official_forward(hub, pixels, heads):
    """The official DINOv2 ViT (Block, MemEffAttention, SwiGLUFFNFused) in plain torch.

    Only for inputs whose patch grid equals the position grid (no interpolation).
    """
    dim = hub["cls_token"].shape[-1]
    patch = hub["patch_embed.proj.weight"].shape[-1]
    x = F.conv2d(pixels, hub["patch_embed.proj.weight"], hub["patch_embed.proj.bias"], stride=patch)
    x = x.flatten(2).transpose(1, 2)
    x = torch.cat([hub["cls_token"].expand(len(x), -1, -1), x], dim=1) + hub["pos_embed"]
    if "register_tokens" in hub:
        registers = hub["register_tokens"].expand(len(x), -1, -1)
        x = torch.cat([x[:, :1], registers, x[:, 1:]], dim=1)
    depth = 1 + max(int(k.split(".")[1]) for k in hub if k.startswith("blocks."))
    for i in range(depth):
        b = f"blocks.{i}."
        y = F.layer_norm(x, (dim,), hub[b + "norm1.weight"], hub[b + "norm1.bias"], eps=1e-6)
        n = y.shape[1]
        qkv = F.linear(y, hub[b + "attn.qkv.weight"], hub[b + "attn.qkv.bias"])
        q, k, v = qkv.reshape(len(x), n, 3, heads, dim // heads).permute(2, 0, 3, 1, 4)
        attention = ((q * (dim // heads) ** -0.5) @ k.transpose(-2, -1)).softmax(dim=-1)
        y = (attention @ v).transpose(1, 2).reshape(len(x), n, dim)
        y = F.linear(y, hub[b + "attn.proj.weight"], hub[b + "attn.proj.bias"])
        x = x + hub[b + "ls1.gamma"] * y
        y = F.layer_norm(x, (dim,), hub[b + "norm2.weight"], hub[b + "norm2.bias"], eps=1e-6)
        if b + "mlp.w12.weight" in hub:
            x1, x2 = F.linear(y, hub[b + "mlp.w12.weight"], hub[b + "mlp.w12.bias"]).chunk(2, -1)
            y = F.linear(F.silu(x1) * x2, hub[b + "mlp.w3.weight"], hub[b + "mlp.w3.bias"])
        else:
            y = F.gelu(F.linear(y, hub[b + "mlp.fc1.weight"], hub[b + "mlp.fc1.bias"]))
            y = F.linear(y, hub[b + "mlp.fc2.weight"], hub[b + "mlp.fc2.bias"])
        x = x + hub[b + "ls2.gamma"] * y
    return F.layer_norm(x, (dim,), hub["norm.weight"], hub["norm.bias"], eps=1e-6)


def _normalised(image):
    pixels = torch.from_numpy(image.transpose(2, 0, 1).copy())[None]
    mean = torch.tensor(IMAGENET_MEAN).view(1, 3, 1, 1)
    std = torch.tensor(IMAGENET_STD).view(1, 3, 1, 1)
    return (pixels - mean) / std


def _image(height, width, seed=0):
    return np.random.default_rng(seed).random((height, width, 3), dtype=np.float32)


class _PatchMeanStub(torch.nn.Module):
    """Position-independent: each patch's token is the mean of its normalised pixels."""

    def __init__(self, registers=0):
        super().__init__()
        self.registers = registers
        self.calls = 0

    def forward(self, pixel_values):
        self.calls += 1
        tokens = F.avg_pool2d(pixel_values, 14).flatten(2).transpose(1, 2)
        extra = torch.full((len(tokens), 1 + self.registers, 3), 99.0)
        return SimpleNamespace(last_hidden_state=torch.cat([extra, tokens], dim=1))


class _LocalIndexStub(torch.nn.Module):
    """Each patch's token is (row in the window, column in the window, 1)."""

    def forward(self, pixel_values):
        b, _, height, width = pixel_values.shape
        rows, cols = torch.meshgrid(
            torch.arange(height // 14.0), torch.arange(width // 14.0), indexing="ij"
        )
        tokens = torch.stack([rows, cols, torch.ones_like(rows)], dim=-1).reshape(1, -1, 3)
        tokens = torch.cat([torch.full((1, 1, 3), -7.0), tokens], dim=1)
        return SimpleNamespace(last_hidden_state=tokens.expand(b, -1, -1))


def _stub(module, registers=0):
    return DinoModel(
        module=module,
        architecture="stub",
        patch_size=14,
        hidden_size=3,
        num_register_tokens=registers,
        path=Path("stub"),
        device=CPU,
    )


@pytest.fixture(scope="module")
def hf_folder(tmp_path_factory):
    model = _hf_model()
    folder = tmp_path_factory.mktemp("dinov2-tiny")
    model.save_pretrained(folder)
    return folder, model


@pytest.fixture(scope="module")
def tiny(hf_folder):
    return load_dino(hf_folder[0], device="cpu")


# ---------------------------------------------------------------------------- loading
def test_load_hf_folder_from_folder_config_or_weights_path(hf_folder):
    folder, original = hf_folder
    pixels = _normalised(_image(70, 98))
    expected = original(pixel_values=pixels).last_hidden_state
    for path in (folder, folder / "config.json", folder / "model.safetensors", str(folder)):
        model = load_dino(path, device="cpu")
        assert model.path == folder
        assert (model.architecture, model.patch_size, model.hidden_size) == (
            "vit_h32_l2_p14",
            14,
            32,
        )
        assert model.num_register_tokens == 0
        assert model.device == CPU
        assert not model.module.training
        assert not any(p.requires_grad for p in model.module.parameters())
        got = model.module(pixel_values=pixels).last_hidden_state
        torch.testing.assert_close(got, expected, atol=1e-6, rtol=0)


def test_load_hf_folder_with_registers(tmp_path):
    _hf_model(registers=4, seed=1).save_pretrained(tmp_path)
    model = load_dino(tmp_path, device="cpu")
    assert model.num_register_tokens == 4
    assert model.architecture == "vit_h32_l2_p14_reg4"


def test_hub_checkpoint_reproduces_the_transformers_model_it_was_written_from(tmp_path):
    original = _hf_model(hidden=128, heads=2, seed=2)  # heads inferred as 128 / 64
    path = tmp_path / "dinov2_tiny_pretrain.pth"
    torch.save(_hub_state_dict(original), path)
    model = load_dino(path, device="cpu")
    assert (model.architecture, model.path, model.num_register_tokens) == (
        "vit_h128_l2_p14",
        path,
        0,
    )
    assert model.module.config.num_attention_heads == 2
    pixels = _normalised(_image(70, 98, seed=3))  # 5×7 patches: position interpolation
    torch.testing.assert_close(
        model.module(pixel_values=pixels).last_hidden_state,
        original(pixel_values=pixels).last_hidden_state,
        atol=1e-5,
        rtol=0,
    )


@pytest.mark.parametrize(("registers", "swiglu"), [(0, False), (4, True), (0, True), (4, False)])
def test_hub_checkpoint_matches_the_official_forward(tmp_path, registers, swiglu):
    hub = _random_hub_state_dict(registers=registers, swiglu=swiglu, seed=registers + swiglu)
    path = tmp_path / "dinov2_vitx14_pretrain.pth"
    torch.save(hub, path)
    model = load_dino(path, device="cpu", num_heads=2)
    assert model.num_register_tokens == registers
    assert model.module.config.use_swiglu_ffn is swiglu
    pixels = torch.randn(2, 3, 28, 28, generator=torch.Generator().manual_seed(5))
    torch.testing.assert_close(
        model.module(pixel_values=pixels).last_hidden_state,
        _official_forward(hub, pixels, heads=2),
        atol=1e-5,
        rtol=0,
    )


def test_hub_checkpoint_in_training_wrappers_and_safetensors(tmp_path):
    hub = _random_hub_state_dict(seed=7)
    pixels = torch.randn(1, 3, 28, 28, generator=torch.Generator().manual_seed(1))
    expected = _official_forward(hub, pixels, heads=2)
    wrapped = {"teacher": {f"backbone.{k}": v for k, v in hub.items()}, "iteration": 3}
    torch.save(wrapped, tmp_path / "teacher_checkpoint.pth")
    from safetensors.torch import save_file

    save_file(hub, tmp_path / "dinov2_tiny.safetensors")
    for name in ("teacher_checkpoint.pth", "dinov2_tiny.safetensors"):
        model = load_dino(tmp_path / name, device="cpu", num_heads=2)
        got = model.module(pixel_values=pixels).last_hidden_state
        torch.testing.assert_close(got, expected, atol=1e-5, rtol=0)


def test_official_architecture_names():
    assert architecture_name(384, 12, 14, 0) == "vits14"
    assert architecture_name(768, 12, 14, 4) == "vitb14_reg4"
    assert architecture_name(1024, 24, 14, 0) == "vitl14"
    assert architecture_name(1536, 40, 14, 4) == "vitg14_reg4"
    assert architecture_name(1536, 12, 14, 0) == "vit_h1536_l12_p14"


def test_default_device_follows_cuda_availability(monkeypatch):
    expected = "cuda" if torch.cuda.is_available() else "cpu"
    assert resolve_device(None).type == expected
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    assert resolve_device(None) == CPU
    assert resolve_device("cpu") == CPU


def _assert_names(error, path, *words):
    message = str(error.value)
    assert error.value.path == Path(path)
    assert str(path) in message
    for word in words:
        assert word in message, message


def test_missing_file_and_folder_without_config(tmp_path):
    with pytest.raises(InputFileError) as error:
        load_dino(tmp_path / "dinov2_vitg14_reg4_pretrain.pth")
    _assert_names(error, tmp_path / "dinov2_vitg14_reg4_pretrain.pth", "does not exist")
    (tmp_path / "empty").mkdir()
    with pytest.raises(InputFileError) as error:
        load_dino(tmp_path / "empty")
    _assert_names(error, tmp_path / "empty", "without config.json", "expected")


@pytest.mark.filterwarnings("ignore:Detected pickle protocol")
def test_truncated_and_garbage_checkpoints(tmp_path):
    path = tmp_path / "dinov2_vits14_pretrain.pth"
    torch.save(_random_hub_state_dict(), path)
    data = path.read_bytes()
    path.write_bytes(data[: len(data) // 2])
    with pytest.raises(InputFileError) as error:
        load_dino(path, num_heads=2)
    _assert_names(error, path, "truncated or corrupt")
    garbage = tmp_path / "garbage.pth"
    garbage.write_bytes(b"\x80\x04not a checkpoint at all" * 10)
    with pytest.raises(InputFileError) as error:
        load_dino(garbage)
    _assert_names(error, garbage, "cannot be read as a checkpoint")


@pytest.mark.parametrize(
    ("content", "words"),
    [
        (
            {
                "image_encoder.patch_embed.proj.weight": torch.zeros(8, 3, 16, 16),
                "image_encoder.blocks.0.attn.qkv.weight": torch.zeros(24, 8),
                "mask_decoder.iou_token.weight": torch.zeros(1, 8),
            },
            ["is not a DINOv2 checkpoint", "found keys like image_encoder", "expected"],
        ),
        ({"weight": torch.zeros(3), "bias": torch.zeros(3)}, ["not a DINOv2", "weight"]),
        ([1, 2, 3], ["not a DINOv2 checkpoint", "list"]),
    ],
    ids=["sam", "random-state-dict", "list"],
)
def test_checkpoints_that_are_not_dinov2(tmp_path, content, words):
    path = tmp_path / "sam_vit_b_01ec64.pth"
    torch.save(content, path)
    with pytest.raises(InputFileError) as error:
        load_dino(path)
    _assert_names(error, path, *words)


def test_incomplete_hub_checkpoint_and_unknown_heads(tmp_path):
    hub = _random_hub_state_dict()
    del hub["blocks.1.ls2.gamma"]
    path = tmp_path / "incomplete.pth"
    torch.save(hub, path)
    with pytest.raises(InputFileError) as error:
        load_dino(path, num_heads=2)
    _assert_names(error, path, "lacks 1 tensors", "encoder.layer.1.layer_scale2.lambda1")
    full = tmp_path / "tiny.pth"
    torch.save(_random_hub_state_dict(), full)
    with pytest.raises(InputFileError) as error:  # hidden 32: heads cannot be 32 / 64
        load_dino(full)
    _assert_names(error, full, "pass num_heads")


def test_bad_hugging_face_folders(tmp_path, hf_folder):
    folder, _ = hf_folder
    sam = tmp_path / "sam"
    sam.mkdir()
    (sam / "config.json").write_text('{"model_type": "sam"}')
    with pytest.raises(InputFileError) as error:
        load_dino(sam)
    _assert_names(error, sam / "config.json", "not a DINOv2 model config", "'sam'")

    bare = tmp_path / "bare"
    bare.mkdir()
    (bare / "config.json").write_bytes((folder / "config.json").read_bytes())
    with pytest.raises(InputFileError) as error:
        load_dino(bare)
    _assert_names(error, bare, "no weights")

    truncated = tmp_path / "truncated"
    truncated.mkdir()
    (truncated / "config.json").write_bytes((folder / "config.json").read_bytes())
    weights = (folder / "model.safetensors").read_bytes()
    (truncated / "model.safetensors").write_bytes(weights[: len(weights) // 2])
    with pytest.raises(InputFileError) as error:
        load_dino(truncated)
    _assert_names(error, truncated, "truncated or corrupt")

    from safetensors.torch import load_file, save_file

    partial = tmp_path / "partial"
    partial.mkdir()
    (partial / "config.json").write_bytes((folder / "config.json").read_bytes())
    tensors = load_file(folder / "model.safetensors")
    del tensors["layernorm.weight"]
    save_file(tensors, partial / "model.safetensors")
    with pytest.raises(InputFileError) as error:
        load_dino(partial)
    _assert_names(error, partial, "lack 1 tensors", "layernorm.weight")

    alone = tmp_path / "alone"
    alone.mkdir()
    (alone / "model.safetensors").write_bytes(weights)
    with pytest.raises(InputFileError) as error:
        load_dino(alone / "model.safetensors")
    _assert_names(error, alone / "model.safetensors", "Hugging Face weight names", "config.json")


def test_missing_transformers_says_what_to_install(tmp_path, monkeypatch, hf_folder):
    path = tmp_path / "dinov2.pth"
    torch.save(_random_hub_state_dict(), path)
    monkeypatch.setitem(sys.modules, "transformers", None)
    for source in (path, hf_folder[0]):
        with pytest.raises(DinoUnavailable, match=r"pip install 'liftstudio\[dino\]'"):
            load_dino(source, num_heads=2)


# ---------------------------------------------------------------------------- windows
def test_config_validation():
    assert DinoConfig().crop == 840 and DinoConfig().stride == 200
    for bad in (
        {"crop": 0},
        {"stride": 0},
        {"crop": 100, "stride": 200},
        {"pca_dims": 0},
        {"fit_samples": 1.5},
        {"max_side": 0},
        {"batch_size": True},
        {"seed": -1},
        {"reference_side": 0},
    ):
        with pytest.raises(ValueError):
            DinoConfig(**bad)


def test_output_size():
    assert output_size(70, 98, 640) == (70, 98)
    assert output_size(756, 1008, 640) == (480, 640)
    assert output_size(1008, 756, 640) == (640, 480)
    assert output_size(1000, 1, 10) == (10, 1)


def test_sliding_windows_scaling_rule():
    # At the reference size: 840 px = 60 patches, 200 px -> 14 patches; last one flush.
    assert sliding_windows((54, 72), 14, DinoConfig()) == [(0, 0, 54, 60), (0, 12, 54, 60)]
    # Larger images keep the full-size windows: more of them.
    big = sliding_windows((100, 150), 14, DinoConfig())
    assert sorted({t for t, _, _, _ in big}) == [0, 14, 28, 40]
    assert sorted({c for _, c, _, _ in big}) == [0, 14, 28, 42, 56, 70, 84, 90]
    assert {(h, w) for _, _, h, w in big} == {(60, 60)}
    # A 70×98 image (98 px long side): crop 840·98/1008 ≈ 82 px -> 6 patches, stride 1.
    assert sliding_windows((5, 7), 14, DinoConfig()) == [(0, 0, 5, 6), (0, 1, 5, 6)]
    # Hand case: 3-patch windows every 2 patches over 5×8 patches.
    config = DinoConfig(crop=42, stride=28, reference_side=98)
    windows = sliding_windows((5, 8), 14, config)
    assert [(t, c) for t, c, _, _ in windows] == [(t, c) for t in (0, 2) for c in (0, 2, 4, 5)]
    assert {(h, w) for _, _, h, w in windows} == {(3, 3)}


@pytest.mark.parametrize("grid", [(1, 1), (3, 40), (17, 9), (61, 60), (200, 7)])
def test_sliding_windows_cover_the_grid(grid):
    for config in (DinoConfig(), DinoConfig(crop=100, stride=30, reference_side=200)):
        covered = np.zeros(grid, dtype=int)
        windows = sliding_windows(grid, 14, config)
        assert len({(h, w) for _, _, h, w in windows}) == 1
        for top, left, h, w in windows:
            assert top >= 0 and left >= 0 and top + h <= grid[0] and left + w <= grid[1]
            covered[top : top + h, left : left + w] += 1
        assert covered.min() >= 1


# ---------------------------------------------------------------------------- patch features
def test_one_window_equals_one_forward_pass(tiny, tmp_path):
    single = DinoConfig(reference_side=98)  # 840 px windows: the 5×7 grid fits in one
    image = _image(70, 98, seed=4)
    assert len(sliding_windows((5, 7), 14, single)) == 1
    features = patch_features(tiny, image, single)
    assert features.shape == (5, 7, 32) and features.dtype == np.float32
    tokens = tiny.module(pixel_values=_normalised(image)).last_hidden_state[0, 1:]
    np.testing.assert_allclose(features, tokens.reshape(5, 7, 32).detach().numpy(), atol=1e-6)

    _hf_model(registers=4, seed=3).save_pretrained(tmp_path)
    with_registers = load_dino(tmp_path, device="cpu")
    features = patch_features(with_registers, image, single)
    tokens = with_registers.module(pixel_values=_normalised(image)).last_hidden_state[0, 5:]
    np.testing.assert_allclose(features, tokens.reshape(5, 7, 32).detach().numpy(), atol=1e-6)


def test_sliding_windows_of_a_position_independent_model_equal_a_full_pass():
    stub = _PatchMeanStub(registers=2)
    config = DinoConfig(crop=42, stride=14, reference_side=98, batch_size=4)
    image = _image(70, 98, seed=5)
    features = patch_features(_stub(stub, registers=2), image, config)
    assert stub.calls == 4  # 3 × 5 = 15 windows of 3×3 patches, 4 per batch
    expected = F.avg_pool2d(_normalised(image), 14)[0].permute(1, 2, 0).numpy()
    np.testing.assert_allclose(features, expected, atol=1e-6)


def test_overlapping_windows_are_averaged_per_patch():
    config = DinoConfig(crop=42, stride=28, reference_side=98, batch_size=3)
    features = patch_features(_stub(_LocalIndexStub()), _image(70, 112), config)
    # Windows start at rows 0, 2 and columns 0, 2, 4, 5 (3×3 patches each); a patch's
    # value is the mean of its in-window positions.
    rows = np.array([0, 1, 1, 1, 2], dtype=np.float32)
    cols = np.array([0, 1, 1, 1, 1, 0.5, 1.5, 2], dtype=np.float32)
    np.testing.assert_allclose(features[..., 0], np.repeat(rows[:, None], 8, axis=1))
    np.testing.assert_allclose(features[..., 1], np.repeat(cols[None, :], 5, axis=0))
    np.testing.assert_allclose(features[..., 2], 1.0)


def test_images_are_resized_to_whole_patches():
    features = patch_features(_stub(_PatchMeanStub()), _image(75, 100), DinoConfig())
    assert features.shape == (5, 7, 3)


@pytest.mark.parametrize(
    "image",
    [
        np.zeros((70, 98), np.float32),
        np.zeros((70, 98, 4), np.float32),
        np.zeros((70, 98, 3), np.uint8),
        np.full((70, 98, 3), 1.5, np.float32),
        np.full((70, 98, 3), np.nan, np.float32),
        np.zeros((10, 98, 3), np.float32),
    ],
    ids=["gray", "rgba", "uint8", "above-one", "nan", "smaller-than-a-patch"],
)
def test_bad_images(image):
    with pytest.raises(ValueError):
        patch_features(_stub(_PatchMeanStub()), image)
    with pytest.raises(ValueError, match="image 1"):
        dino_feature_maps(_stub(_PatchMeanStub()), [_image(28, 28), image], DinoConfig(pca_dims=2))


# ---------------------------------------------------------------------------- maps and PCA
def test_feature_maps_shapes_and_progress(tiny):
    images = [_image(70, 98, 1), _image(98, 70, 2), _image(84, 84, 3)]
    calls = []
    result = dino_feature_maps(
        tiny,
        images,
        DinoConfig(pca_dims=8, max_side=60),
        progress=lambda done, total, message: calls.append((done, total)),
    )
    assert [m.shape for m in result.maps] == [(43, 60, 8), (60, 43, 8), (60, 60, 8)]
    assert all(m.dtype == np.float16 and np.isfinite(m).all() for m in result.maps)
    assert result.grid_shapes == [(5, 7), (7, 5), (6, 6)]
    assert (result.total_tokens, result.fit_count) == (106, 106)
    assert result.components.shape == (8, 32)
    assert result.architecture == "vit_h32_l2_p14"
    assert calls == [(1, 4), (2, 4), (3, 4), (4, 4)]


def test_pca_and_eigenvalue_weighting_match_numpy_eigh(tiny):
    config = DinoConfig(pca_dims=6, max_side=7)  # 70×98 views -> 5×7 maps: the patch grid
    images = [_image(70, 98, 10), _image(70, 98, 11)]
    result = dino_feature_maps(tiny, images, config)
    tokens = np.concatenate([patch_features(tiny, im, config).reshape(-1, 32) for im in images])
    tokens = tokens.astype(np.float64)
    z = (tokens - tokens.mean(axis=0)) / tokens.std(axis=0)
    eigenvalues, eigenvectors = np.linalg.eigh(np.cov(z, rowvar=False))
    order = np.argsort(eigenvalues)[::-1][:6]
    eigenvalues, axes = eigenvalues[order], eigenvectors[:, order]
    axes *= np.sign(axes[np.argmax(np.abs(axes), axis=0), np.arange(6)])
    weights = np.sqrt(eigenvalues / eigenvalues[0])
    expected = ((z - z.mean(axis=0)) @ axes) * weights

    np.testing.assert_allclose(result.explained_variance, eigenvalues, rtol=1e-6)
    assert np.all(np.diff(result.explained_variance) <= 0)
    np.testing.assert_allclose(result.weights, weights, rtol=1e-6)
    np.testing.assert_allclose(result.components, axes.T, atol=1e-6)
    got = np.concatenate([m.reshape(-1, 6) for m in result.maps]).astype(np.float64)
    np.testing.assert_allclose(got, expected, atol=2e-3 * np.abs(expected).max())
    np.testing.assert_allclose(result.project(tokens), expected, atol=1e-4)
    # Weighted component k spreads with standard deviation λ_k / sqrt(λ_1).
    np.testing.assert_allclose(
        expected.std(axis=0, ddof=1), eigenvalues / np.sqrt(eigenvalues[0]), rtol=1e-6
    )


def test_without_weighting_scores_keep_their_variance(tiny):
    config = DinoConfig(pca_dims=4, max_side=7, weighting=False)
    result = dino_feature_maps(tiny, [_image(70, 98, 12)], config)
    np.testing.assert_array_equal(result.weights, np.ones(4))
    scores = result.maps[0].reshape(-1, 4).astype(np.float64)
    np.testing.assert_allclose(scores.var(axis=0, ddof=1), result.explained_variance, rtol=1e-2)
    assert np.argmax(scores.var(axis=0)) == 0


def test_subsampled_fit_is_deterministic_for_a_seed(tiny):
    images = [_image(70, 98, 20), _image(70, 98, 21)]
    first = dino_feature_maps(tiny, images, DinoConfig(pca_dims=4, fit_samples=30, seed=3))
    again = dino_feature_maps(tiny, images, DinoConfig(pca_dims=4, fit_samples=30, seed=3))
    other = dino_feature_maps(tiny, images, DinoConfig(pca_dims=4, fit_samples=30, seed=4))
    assert (first.fit_count, first.total_tokens) == (30, 70)
    for a, b in zip(first.maps, again.maps, strict=True):
        np.testing.assert_array_equal(a, b)
    assert not np.allclose(first.components, other.components)


def test_pca_dims_must_fit_the_model_and_the_tokens(tiny):
    with pytest.raises(ValueError, match="at most the 32 channels"):
        dino_feature_maps(tiny, [_image(70, 98)], DinoConfig(pca_dims=33))
    with pytest.raises(ValueError, match="fewer than pca_dims"):
        dino_feature_maps(tiny, [_image(14, 28)], DinoConfig(pca_dims=3))
    with pytest.raises(ValueError, match="no images"):
        dino_feature_maps(tiny, [], DinoConfig())


def test_cancel_between_views_and_between_window_batches():
    stub = _PatchMeanStub()
    token = CancelToken()
    token.cancel()
    with pytest.raises(JobCancelled):
        dino_feature_maps(_stub(stub), [_image(70, 98)], DinoConfig(pca_dims=2), cancel=token)
    assert stub.calls == 0

    token = CancelToken()
    seen = []

    def progress(done, total, message):
        seen.append(done)
        token.cancel()

    with pytest.raises(JobCancelled):
        dino_feature_maps(
            _stub(stub),
            [_image(70, 98), _image(70, 98)],
            DinoConfig(pca_dims=2),
            progress=progress,
            cancel=token,
        )
    assert seen == [1]

    token = CancelToken()

    class Cancelling(_PatchMeanStub):
        def forward(self, pixel_values):
            token.cancel()
            return super().forward(pixel_values)

    cancelling = Cancelling()
    config = DinoConfig(crop=42, stride=14, reference_side=98, batch_size=1)
    with pytest.raises(JobCancelled):
        patch_features(_stub(cancelling), _image(70, 98), config, cancel=token)
    assert cancelling.calls == 1
