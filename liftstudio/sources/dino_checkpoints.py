"""Loading DINOv2 weights from local files into Hugging Face ``transformers`` modules.

Two layouts are accepted (nothing is ever downloaded):

- a Hugging Face model folder, as ``facebook/dinov2-small`` or
  ``facebook/dinov2-with-registers-giant`` ship it: ``config.json`` beside
  ``model.safetensors`` or ``pytorch_model.bin`` (the folder, its ``config.json`` or its
  weights file may be given);
- an official torch-hub checkpoint, ``dinov2_vit{s,b,l,g}14[_reg4]_pretrain.pth``: a
  plain state dict (``cls_token``, ``pos_embed``, ``blocks.N.attn.qkv.weight``...). Its
  architecture is read off the tensors and its keys renamed to the ``transformers``
  module's own (:func:`convert_hub_state_dict`).

``transformers`` is an optional extra (``pip install 'liftstudio[dino]'``) and is only
imported when a model is loaded.
"""

from __future__ import annotations

import json
import math
import re
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch

from liftstudio.errors import InputFileError, LiftStudioError

#: Names of the official models, by (hidden size, depth).
_OFFICIAL_NAMES = {(384, 12): "vits", (768, 12): "vitb", (1024, 24): "vitl", (1536, 40): "vitg"}
#: Model types of the Hugging Face folders that hold a DINOv2 backbone.
_HF_MODEL_TYPES = ("dinov2", "dinov2_with_registers")
_HF_WEIGHT_FILES = ("model.safetensors", "pytorch_model.bin", "model.safetensors.index.json")
_EXPECTED = (
    "expected a Hugging Face DINOv2 model folder (config.json + model.safetensors) or an "
    "official torch-hub checkpoint such as dinov2_vitb14_pretrain.pth (keys cls_token, "
    "pos_embed, patch_embed.proj.weight, blocks.N.attn.qkv.weight, ...)"
)
_BLOCK_KEY = re.compile(r"^blocks\.(?:\d+\.)?(\d+)\.(.+)$")
#: Hub block key suffix -> ``transformers`` layer key suffix(es); tuples are split in
#: equal parts along dim 0 (``qkv`` into q, k, v; SwiGLU's ``w12`` into gate, up).
_BLOCK_RENAMES: dict[str, str | tuple[str, ...]] = {
    "norm1.weight": "norm1.weight",
    "norm1.bias": "norm1.bias",
    "attn.qkv.weight": (
        "attention.q_proj.weight",
        "attention.k_proj.weight",
        "attention.v_proj.weight",
    ),
    "attn.qkv.bias": ("attention.q_proj.bias", "attention.k_proj.bias", "attention.v_proj.bias"),
    "attn.proj.weight": "attention.o_proj.weight",
    "attn.proj.bias": "attention.o_proj.bias",
    "ls1.gamma": "layer_scale1.lambda1",
    "norm2.weight": "norm2.weight",
    "norm2.bias": "norm2.bias",
    "mlp.fc1.weight": "mlp.fc1.weight",
    "mlp.fc1.bias": "mlp.fc1.bias",
    "mlp.fc2.weight": "mlp.fc2.weight",
    "mlp.fc2.bias": "mlp.fc2.bias",
    "mlp.w12.weight": ("mlp.gate_proj.weight", "mlp.up_proj.weight"),
    "mlp.w12.bias": ("mlp.gate_proj.bias", "mlp.up_proj.bias"),
    "mlp.w3.weight": "mlp.down_proj.weight",
    "mlp.w3.bias": "mlp.down_proj.bias",
    "ls2.gamma": "layer_scale2.lambda1",
}
_TOP_RENAMES = {
    "cls_token": "embeddings.cls_token",
    "mask_token": "embeddings.mask_token",
    "pos_embed": "embeddings.position_embeddings",
    "register_tokens": "embeddings.register_tokens",
    "patch_embed.proj.weight": "embeddings.patch_embeddings.projection.weight",
    "patch_embed.proj.bias": "embeddings.patch_embeddings.projection.bias",
    "norm.weight": "layernorm.weight",
    "norm.bias": "layernorm.bias",
}


class DinoUnavailable(LiftStudioError):
    """The DINOv2 backend cannot run here (``transformers`` missing or incompatible)."""


@dataclass(frozen=True, eq=False)
class DinoModel:
    """A frozen DINOv2 backbone ready for feature extraction.

    Attributes
    ----------
    module
        The ``transformers`` ``Dinov2Model`` / ``Dinov2WithRegistersModel`` in eval mode
        with gradients off (any module called as ``module(pixel_values=x)`` that returns
        ``.last_hidden_state`` of shape ``(B, 1 + registers + h·w, C)`` works).
    architecture
        ``"vits14"``, ``"vitg14_reg4"``...; other sizes read ``"vit_h<C>_l<depth>_p<patch>"``.
    patch_size
        Patch edge in pixels (14 for every official model).
    hidden_size
        Feature channels C of a patch token.
    num_register_tokens
        Register tokens between the CLS token and the patch tokens (0 or 4).
    path
        The file or folder the weights came from.
    device
        Where the module lives.
    """

    module: torch.nn.Module
    architecture: str
    patch_size: int
    hidden_size: int
    num_register_tokens: int
    path: Path
    device: torch.device


def resolve_device(device: str | torch.device | None) -> torch.device:
    """``device`` as a torch device; None gives CUDA when torch sees a GPU, else the CPU."""
    if device is None:
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    return torch.device(device)


def architecture_name(hidden: int, depth: int, patch: int, registers: int) -> str:
    """The torch-hub style name of a DINOv2 ViT (``"vitl14"``, ``"vitg14_reg4"``...)."""
    base = _OFFICIAL_NAMES.get((hidden, depth))
    name = f"{base}{patch}" if base else f"vit_h{hidden}_l{depth}_p{patch}"
    return f"{name}_reg{registers}" if registers else name


def load_dino(
    checkpoint: str | Path,
    *,
    device: str | torch.device | None = None,
    num_heads: int | None = None,
) -> DinoModel:
    """Load a DINOv2 backbone from a local folder or checkpoint file.

    Parameters
    ----------
    checkpoint
        A Hugging Face model folder (``config.json`` + ``model.safetensors`` or
        ``pytorch_model.bin``), that folder's ``config.json`` or weights file, or an
        official torch-hub checkpoint ``dinov2_vit{s,b,l,g}14[_reg4]_pretrain.pth``
        (also accepted: the same state dict in a ``.safetensors`` file, wrapped in a
        ``{"model": ...}``/``{"teacher": ...}`` dict, or with a ``backbone.`` prefix).
    device
        Torch device; None uses CUDA when available, else the CPU.
    num_heads
        Attention heads, for torch-hub checkpoints only (their tensors do not say);
        None uses hidden size / 64, as every official DINOv2 model does.

    Returns
    -------
    DinoModel
        The module in eval mode, float32, gradients off, on ``device``.

    Raises
    ------
    InputFileError
        Naming the file when it is missing, truncated or corrupt, not a DINOv2 model
        (e.g. a SAM checkpoint), or a folder without ``config.json``.
    DinoUnavailable
        When ``transformers`` is not installed.
    """
    path = Path(checkpoint)
    target = resolve_device(device)
    if not path.exists():
        raise InputFileError(path, f"does not exist; {_EXPECTED}")
    folder = _hf_folder(path)
    if folder is not None:
        module, registers = _load_hf_folder(folder)
        source = folder
    else:
        module, registers = _load_hub_file(path, num_heads)
        source = path
    module = module.to(device=target, dtype=torch.float32).eval().requires_grad_(False)
    config = module.config
    patch = int(config.patch_size if isinstance(config.patch_size, int) else config.patch_size[0])
    return DinoModel(
        module=module,
        architecture=architecture_name(
            int(config.hidden_size), int(config.num_hidden_layers), patch, registers
        ),
        patch_size=patch,
        hidden_size=int(config.hidden_size),
        num_register_tokens=registers,
        path=source,
        device=target,
    )


# ---------------------------------------------------------------------------- Hugging Face
def _transformers() -> Any:
    try:
        import transformers
    except ImportError as exc:
        raise DinoUnavailable(
            f"the DINOv2 backend needs the 'transformers' package ({exc}); "
            "install it with: pip install 'liftstudio[dino]'"
        ) from None
    return transformers


def _hf_folder(path: Path) -> Path | None:
    """The Hugging Face model folder ``path`` names, or None for a single checkpoint file."""
    if path.is_dir():
        if not (path / "config.json").is_file():
            raise InputFileError(path, f"is a folder without config.json; {_EXPECTED}")
        return path
    if path.name == "config.json":
        return path.parent
    if path.name in _HF_WEIGHT_FILES and (path.parent / "config.json").is_file():
        return path.parent
    if path.suffix == ".safetensors" and (path.parent / "config.json").is_file():
        return path.parent
    return None


def _load_hf_folder(folder: Path) -> tuple[torch.nn.Module, int]:
    config_path = folder / "config.json"
    try:
        config = json.loads(config_path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise InputFileError(config_path, f"cannot be read as JSON ({exc})") from None
    model_type = config.get("model_type") if isinstance(config, dict) else None
    if model_type not in _HF_MODEL_TYPES:
        raise InputFileError(
            config_path,
            f"is not a DINOv2 model config (model_type {model_type!r}, expected one of "
            f"{', '.join(_HF_MODEL_TYPES)}); {_EXPECTED}",
        )
    if not any((folder / name).is_file() for name in _HF_WEIGHT_FILES):
        raise InputFileError(
            folder,
            f"has config.json but no weights ({' or '.join(_HF_WEIGHT_FILES[:2])}); "
            "copy the model's weights file into it",
        )
    transformers = _transformers()
    cls = (
        transformers.Dinov2Model
        if model_type == "dinov2"
        else transformers.Dinov2WithRegistersModel
    )
    try:
        module, info = cls.from_pretrained(
            folder, local_files_only=True, output_loading_info=True, dtype=torch.float32
        )
    except Exception as exc:  # safetensors, pickle, zip and shape errors all mean "bad file"
        raise InputFileError(
            folder,
            f"cannot be loaded as a DINOv2 model ({_short(exc)}); the weights may be "
            "truncated or corrupt: download them again",
        ) from None
    missing = sorted(info.get("missing_keys", ()))
    if missing:
        raise InputFileError(
            folder,
            f"weights lack {len(missing)} tensors of the model (e.g. {', '.join(missing[:3])}); "
            "the folder does not hold a complete DINOv2 model",
        )
    return module, int(getattr(module.config, "num_register_tokens", 0) or 0)


# ---------------------------------------------------------------------------- torch hub
def _load_hub_file(path: Path, num_heads: int | None) -> tuple[torch.nn.Module, int]:
    state = _read_state_dict(path)
    transformers = _transformers()
    converted, spec = convert_hub_state_dict(state, path=path, num_heads=num_heads)
    registers = spec.pop("num_register_tokens")
    if registers:
        config = transformers.Dinov2WithRegistersConfig(num_register_tokens=registers, **spec)
        cls = transformers.Dinov2WithRegistersModel
    else:
        config = transformers.Dinov2Config(**spec)
        cls = transformers.Dinov2Model
    with torch.device("meta"):
        module = cls(config)
    expected = set(module.state_dict())
    if "embeddings.mask_token" in expected and "embeddings.mask_token" not in converted:
        converted["embeddings.mask_token"] = torch.zeros(1, spec["hidden_size"])  # unused here
    if set(converted) - expected:
        raise DinoUnavailable(
            f"transformers {transformers.__version__} names the DINOv2 weights differently "
            f"than LiftStudio expects (unknown: {sorted(set(converted) - expected)[:3]}); "
            "install the transformers version pinned in constraints.txt"
        )
    missing = sorted(expected - set(converted))
    if missing:
        raise InputFileError(
            path,
            f"lacks {len(missing)} tensors of a {spec['num_hidden_layers']}-block DINOv2 ViT "
            f"(e.g. {', '.join(missing[:3])}); the checkpoint is incomplete",
        )
    try:
        module.load_state_dict(converted, strict=True, assign=True)
    except RuntimeError as exc:
        raise InputFileError(
            path, f"has tensors of inconsistent shapes for a DINOv2 ViT ({_short(exc)})"
        ) from None
    return module, registers


def _read_state_dict(path: Path) -> dict[str, torch.Tensor]:
    try:
        if path.suffix == ".safetensors":
            from safetensors.torch import load_file

            loaded: Any = load_file(str(path), device="cpu")
        else:
            loaded = torch.load(path, weights_only=True, map_location="cpu")
    except Exception as exc:  # zip, pickle, EOF, safetensors errors: all mean "bad file"
        raise InputFileError(
            path,
            f"cannot be read as a checkpoint ({_short(exc)}); the file may be truncated or "
            "corrupt: download it again",
        ) from None
    state = _unwrap(loaded)
    if state is None:
        raise InputFileError(
            path, f"is not a DINOv2 checkpoint (it holds a {type(loaded).__name__}); {_EXPECTED}"
        )
    return state


def _unwrap(loaded: Any) -> dict[str, torch.Tensor] | None:
    """The tensor state dict inside ``loaded`` (training wrappers and prefixes removed)."""
    for _ in range(2):
        if isinstance(loaded, Mapping):
            inner = next(
                (
                    loaded[k]
                    for k in ("model", "state_dict", "teacher")
                    if isinstance(loaded.get(k), Mapping)
                ),
                None,
            )
            if inner is not None:
                loaded = inner
    if not isinstance(loaded, Mapping):
        return None
    state = {str(k): v for k, v in loaded.items() if isinstance(v, torch.Tensor)}
    for prefix in ("module.", "backbone."):
        if any(k.startswith(prefix) for k in state):
            state = {k[len(prefix) :]: v for k, v in state.items() if k.startswith(prefix)}
    return state


def convert_hub_state_dict(
    state: Mapping[str, torch.Tensor],
    *,
    path: str | Path = "checkpoint",
    num_heads: int | None = None,
) -> tuple[dict[str, torch.Tensor], dict[str, Any]]:
    """Rename an official DINOv2 state dict to ``transformers`` keys and infer its config.

    Parameters
    ----------
    state
        The torch-hub state dict (``cls_token``, ``pos_embed``, ``blocks.N.*``...).
    path
        Named in errors.
    num_heads
        Attention heads; None uses hidden size / 64 (every official model).

    Returns
    -------
    converted
        Tensors under the ``Dinov2Model`` / ``Dinov2WithRegistersModel`` state-dict keys.
    config
        Keyword arguments of the ``transformers`` config (``hidden_size``,
        ``num_hidden_layers``, ``num_attention_heads``, ``mlp_ratio``, ``image_size``,
        ``patch_size``, ``qkv_bias``, ``use_swiglu_ffn``, ``layer_norm_eps``) plus
        ``num_register_tokens``.

    Raises
    ------
    InputFileError
        When the tensors are not those of a DINOv2 ViT (naming ``path``).
    """
    required = ("cls_token", "pos_embed", "patch_embed.proj.weight", "norm.weight")
    if not all(k in state for k in required) or not any(_BLOCK_KEY.match(k) for k in state):
        found = ", ".join(sorted(state)[:4]) or "none"
        hint = (
            " (these are Hugging Face weight names: give the model folder with its config.json)"
            if any(k.startswith("embeddings.") for k in state)
            else ""
        )
        raise InputFileError(
            path, f"is not a DINOv2 checkpoint (found keys like {found}){hint}; {_EXPECTED}"
        )
    hidden = int(state["cls_token"].shape[-1])
    proj = state["patch_embed.proj.weight"]
    if proj.ndim != 4 or proj.shape[1] != 3 or proj.shape[2] != proj.shape[3]:
        raise InputFileError(
            path, f"has a patch embedding of shape {tuple(proj.shape)}; {_EXPECTED}"
        )
    patch = int(proj.shape[-1])
    positions = int(state["pos_embed"].shape[1]) - 1
    grid = math.isqrt(max(positions, 0))
    if grid < 1 or grid * grid != positions:
        raise InputFileError(path, f"has {positions} position embeddings, not a square grid")
    converted: dict[str, torch.Tensor] = {}
    depth = 0
    unknown: list[str] = []
    for key, tensor in state.items():
        block = _BLOCK_KEY.match(key)
        if block is not None:
            index, suffix = int(block.group(1)), block.group(2)
            target = _BLOCK_RENAMES.get(suffix)
            depth = max(depth, index + 1)
            names = (target,) if isinstance(target, str) else target
        else:
            names = (_TOP_RENAMES[key],) if key in _TOP_RENAMES else None
        if names is None:
            unknown.append(key)
            continue
        prefix = f"encoder.layer.{index}." if block is not None else ""
        if tensor.ndim == 0 or tensor.shape[0] % len(names):
            raise InputFileError(
                path, f"tensor {key} of shape {tuple(tensor.shape)} cannot be split"
            )
        for name, part in zip(names, torch.chunk(tensor, len(names), dim=0), strict=True):
            converted[prefix + name] = part.contiguous()
    if unknown:
        raise InputFileError(
            path,
            f"has tensors a DINOv2 backbone does not ({', '.join(sorted(unknown)[:4])}); "
            f"{_EXPECTED}",
        )
    swiglu = "encoder.layer.0.mlp.gate_proj.weight" in converted
    ratio = _mlp_ratio(converted, hidden, swiglu)
    if ratio is None:
        raise InputFileError(path, f"has an MLP whose width fits no integer ratio to {hidden}")
    if num_heads is None and hidden % 64:
        raise InputFileError(
            path,
            f"has hidden size {hidden}, not a multiple of 64, so its attention heads cannot "
            "be inferred (official DINOv2 models use hidden size / 64): pass num_heads",
        )
    heads = num_heads if num_heads is not None else hidden // 64
    if heads < 1 or hidden % heads:
        raise ValueError(f"num_heads must divide the hidden size {hidden}, got {heads}")
    registers = int(state["register_tokens"].shape[1]) if "register_tokens" in state else 0
    config = {
        "hidden_size": hidden,
        "num_hidden_layers": depth,
        "num_attention_heads": heads,
        "mlp_ratio": ratio,
        "image_size": grid * patch,
        "patch_size": patch,
        "qkv_bias": "encoder.layer.0.attention.q_proj.bias" in converted,
        "use_swiglu_ffn": swiglu,
        "layer_norm_eps": 1e-6,
        "num_register_tokens": registers,
    }
    return converted, config


def _mlp_ratio(converted: Mapping[str, torch.Tensor], hidden: int, swiglu: bool) -> int | None:
    """The integer ``mlp_ratio`` that gives the checkpoint's MLP width in ``transformers``."""
    if swiglu:
        width = int(converted["encoder.layer.0.mlp.gate_proj.weight"].shape[0])
        for ratio in range(1, 17):  # transformers: 2/3 of ratio·hidden, rounded up to 8
            if (int(hidden * ratio * 2 / 3) + 7) // 8 * 8 == width:
                return ratio
        return None
    key = "encoder.layer.0.mlp.fc1.weight"
    if key not in converted:
        return None
    width = int(converted[key].shape[0])
    return width // hidden if width % hidden == 0 else None


def _short(exc: BaseException) -> str:
    """First line of an exception's message, at most 160 characters."""
    text = str(exc).strip().splitlines()[0] if str(exc).strip() else ""
    text = f"{type(exc).__name__}: {text}" if text else type(exc).__name__
    return text if len(text) <= 160 else text[:157] + "..."
