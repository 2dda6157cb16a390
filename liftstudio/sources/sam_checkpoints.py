"""Load Segment Anything (SAM) checkpoints, inferring the architecture from the weights.

A SAM checkpoint (``sam_vit_h_4b8939.pth`` and friends) is a bare ``state_dict``; which
architecture it belongs to is not written anywhere in it. :func:`load_sam` reads it
with ``torch.load(..., weights_only=True)`` (no arbitrary unpickling), infers every
size the tensors tell (:func:`infer_sam_architecture`), builds the model from
``segment_anything``'s own classes with those sizes and loads the weights strictly.
The three official checkpoints are recognised and named ``vit_h``, ``vit_l`` and
``vit_b``; anything else built from SAM's modules (a smaller fine-tune, the tiny
random models of the tests) is ``"custom"``.

Inference rules (``E`` = encoder width, ``G`` = patch grid side):

- ``image_encoder.patch_embed.proj.weight`` ``(E, C, P, P)``: width, input channels,
  patch size ``P``.
- ``image_encoder.pos_embed`` ``(1, G, G, E)``: grid side; image size = ``G·P``.
- ``image_encoder.blocks.<i>.*``: depth = number of blocks (numbered 0..depth-1).
- ``blocks.<i>.attn.rel_pos_h`` ``(L, head_dim)``: heads = ``E / head_dim``; a block
  with ``L = 2G-1`` attends globally, the others attend in windows of
  ``(L+1)/2`` (they must all agree). A window as large as the grid is taken as global
  (the two compute the same thing).
- ``blocks.0.mlp.lin1.weight`` ``(hidden, E)``: MLP ratio; ``attn.qkv.bias``: qkv bias.
- ``image_encoder.neck.0.weight`` ``(D, E, 1, 1)``: prompt/embedding width ``D``, which
  ``prompt_encoder.no_mask_embed`` and ``mask_decoder.iou_token`` must share.
- ``prompt_encoder.mask_downscaling.3.weight``: mask-input channels.
- ``mask_decoder.transformer.layers.<i>``: decoder depth; ``layers.0.mlp.lin1``: its MLP
  width; ``cross_attn_token_to_image.q_proj`` ``(D/r, D)``: attention downsample ``r``.
- ``mask_decoder.mask_tokens.weight`` ``(K+1, D)``: ``K`` multimask outputs;
  ``iou_prediction_head.layers.<i>``: IoU head depth and hidden width.

Assumptions (not visible in the tensors, SAM's values everywhere): the decoder
transformer has 8 heads (it only sees products of heads and head widths), LayerNorm
eps 1e-6 in the encoder, GELU/ReLU activations as in SAM's classes, and SAM's pixel
mean and std (non-persistent buffers, never saved). A checkpoint whose sizes break
these assumptions cannot be told apart from the tensors alone; the official ones and
their fine-tunes follow them.
"""

from __future__ import annotations

import pickle
import re
from collections.abc import Mapping
from dataclasses import dataclass, replace
from functools import partial
from pathlib import Path
from types import ModuleType
from typing import Any

import torch

from liftstudio.errors import InputFileError, LiftStudioError

#: ``model_type`` values :func:`load_sam` accepts (``"default"`` is SAM's name for vit_h).
MODEL_TYPES = ("auto", "vit_h", "vit_l", "vit_b", "default")

#: Heads of SAM's decoder transformer (not inferable from the weights).
DECODER_NUM_HEADS = 8
#: SAM's input normalisation (RGB, 0-255 scale); never stored in checkpoints.
PIXEL_MEAN = (123.675, 116.28, 103.53)
PIXEL_STD = (58.395, 57.12, 57.375)

_INSTALL_HINT = "install it with: pip install 'liftstudio[sam]'"
_TORCHVISION_HINT = (
    "segment-anything needs torchvision, which is not installed: install the torchvision "
    "build matching your torch (a CUDA install of torch brings it: pip install torch "
    "torchvision --index-url https://download.pytorch.org/whl/<your CUDA, e.g. cu121>), "
    "then pip install 'liftstudio[sam]'"
)


class SamUnavailable(LiftStudioError, ImportError):
    """SAM cannot run here: ``segment_anything`` or ``torchvision`` does not import."""


@dataclass(frozen=True)
class SamArchitecture:
    """Every size of a SAM model (see the module docstring for where each comes from).

    Attributes
    ----------
    name
        ``"vit_h"``, ``"vit_l"``, ``"vit_b"`` for the official architectures, else
        ``"custom"``.
    image_size, patch_size, in_chans
        Encoder input side (pixels), patch side, input channels.
    encoder_embed_dim, encoder_depth, encoder_num_heads, encoder_mlp_ratio
        ViT width, blocks, heads and MLP ratio.
    encoder_qkv_bias
        Whether the attention projections have a bias.
    encoder_global_attn_indexes
        Blocks that attend globally; the others use windows.
    encoder_window_size
        Window side of the windowed blocks (0 when every block is global).
    prompt_embed_dim, mask_in_chans
        Embedding width shared by prompt encoder and decoder; mask-input channels.
    decoder_depth, decoder_mlp_dim, decoder_num_heads, decoder_attention_downsample_rate
        The two-way transformer (heads assumed, see :data:`DECODER_NUM_HEADS`).
    num_multimask_outputs, iou_head_depth, iou_head_hidden_dim
        Mask decoder outputs and IoU head.
    """

    name: str
    image_size: int
    patch_size: int
    in_chans: int
    encoder_embed_dim: int
    encoder_depth: int
    encoder_num_heads: int
    encoder_mlp_ratio: float
    encoder_qkv_bias: bool
    encoder_global_attn_indexes: tuple[int, ...]
    encoder_window_size: int
    prompt_embed_dim: int
    mask_in_chans: int
    decoder_depth: int
    decoder_mlp_dim: int
    decoder_num_heads: int
    decoder_attention_downsample_rate: int
    num_multimask_outputs: int
    iou_head_depth: int
    iou_head_hidden_dim: int

    @property
    def image_embedding_size(self) -> int:
        """Side of the image embedding grid (``image_size // patch_size``)."""
        return self.image_size // self.patch_size

    def summary(self) -> str:
        """One line naming the main sizes."""
        return (
            f"{self.name}: image {self.image_size}px, patch {self.patch_size}, width "
            f"{self.encoder_embed_dim}, depth {self.encoder_depth}, heads "
            f"{self.encoder_num_heads}, global blocks {list(self.encoder_global_attn_indexes)}, "
            f"window {self.encoder_window_size}, prompt width {self.prompt_embed_dim}"
        )


def _official(name: str, width: int, depth: int, heads: int, globals_: tuple[int, ...]):
    return SamArchitecture(
        name=name, image_size=1024, patch_size=16, in_chans=3, encoder_embed_dim=width,
        encoder_depth=depth, encoder_num_heads=heads, encoder_mlp_ratio=4.0,
        encoder_qkv_bias=True, encoder_global_attn_indexes=globals_, encoder_window_size=14,
        prompt_embed_dim=256, mask_in_chans=16, decoder_depth=2, decoder_mlp_dim=2048,
        decoder_num_heads=DECODER_NUM_HEADS, decoder_attention_downsample_rate=2,
        num_multimask_outputs=3, iou_head_depth=3, iou_head_hidden_dim=256,
    )  # fmt: skip


#: The architectures of Meta's three released SAM checkpoints.
OFFICIAL_ARCHITECTURES = {
    "vit_h": _official("vit_h", 1280, 32, 16, (7, 15, 23, 31)),
    "vit_l": _official("vit_l", 1024, 24, 16, (5, 11, 17, 23)),
    "vit_b": _official("vit_b", 768, 12, 12, (2, 5, 8, 11)),
}


@dataclass(frozen=True, eq=False)
class SamModel:
    """A loaded SAM model and what was inferred about it.

    Attributes
    ----------
    module
        The ``segment_anything.modeling.Sam`` module, in eval mode.
    architecture
        Its sizes and name.
    path
        The checkpoint it was loaded from.
    """

    module: Any
    architecture: SamArchitecture
    path: Path

    @property
    def name(self) -> str:
        """``"vit_h"``, ``"vit_l"``, ``"vit_b"`` or ``"custom"``."""
        return self.architecture.name

    @property
    def device(self) -> torch.device:
        """Where the model's weights live."""
        return self.module.device


# ---------------------------------------------------------------------------- imports
def import_segment_anything() -> ModuleType:
    """Import ``segment_anything`` or say what to install.

    Returns
    -------
    module
        The ``segment_anything`` package.

    Raises
    ------
    SamUnavailable
        When it (or the ``torchvision`` it imports) cannot be imported.
    """
    try:
        import segment_anything
    except ModuleNotFoundError as error:
        missing = (error.name or "").split(".")[0]
        if missing == "torchvision":
            raise SamUnavailable(_TORCHVISION_HINT) from error
        if missing == "segment_anything":
            raise SamUnavailable(f"segment-anything is not installed; {_INSTALL_HINT}") from error
        raise SamUnavailable(
            f"segment-anything cannot be imported ({error}); {_INSTALL_HINT}"
        ) from error
    except Exception as error:  # a torch/torchvision version mismatch raises RuntimeError
        raise SamUnavailable(
            f"segment-anything cannot be imported: {type(error).__name__}: {error} (is "
            "torchvision built for the installed torch?)"
        ) from error
    return segment_anything


# ---------------------------------------------------------------------------- loading
def load_sam(
    checkpoint: str | Path,
    *,
    model_type: str = "auto",
    device: str | torch.device | None = None,
) -> SamModel:
    """Load a SAM checkpoint, inferring its architecture from the weights.

    Parameters
    ----------
    checkpoint
        A ``.pth`` state dict as Meta released them (a dict nested under ``"model"``
        or ``"state_dict"``, or with DataParallel's ``module.`` prefix, is accepted).
    model_type
        ``"auto"`` (default) to accept any SAM architecture, or ``"vit_h"`` (alias
        ``"default"``), ``"vit_l"``, ``"vit_b"`` to insist on that one.
    device
        Where to put the model; ``None`` picks CUDA when available, else the CPU.

    Returns
    -------
    SamModel
        The model in eval mode, with its inferred architecture.

    Raises
    ------
    ValueError
        For an unknown ``model_type``.
    SamUnavailable
        When ``segment_anything`` or ``torchvision`` cannot be imported.
    liftstudio.errors.InputFileError
        Naming the file: missing, a folder, truncated or corrupt, holding pickled
        objects ``weights_only`` refuses, not a SAM checkpoint (DINOv2, SAM 2, ...), or
        another architecture than ``model_type``.
    """
    if model_type not in MODEL_TYPES:
        raise ValueError(f"model_type must be one of {', '.join(MODEL_TYPES)}; got {model_type!r}")
    sam = import_segment_anything()
    path = Path(checkpoint)
    state = read_sam_state_dict(path)
    try:
        architecture = infer_sam_architecture(state)
    except ValueError as error:
        raise InputFileError(path, f"not a SAM checkpoint: {error}") from None
    wanted = "vit_h" if model_type == "default" else model_type
    if wanted != "auto" and architecture.name != wanted:
        found = (
            f"a {architecture.name} checkpoint"
            if architecture.name != "custom"
            else f"a custom SAM checkpoint ({architecture.summary()})"
        )
        accept = "'auto'" if architecture.name == "custom" else f"'auto' or '{architecture.name}'"
        raise InputFileError(
            path,
            f"is {found}, not {wanted}; pass model_type={accept} or choose a {wanted} checkpoint",
        )
    module = _build_and_load(sam, architecture, state, path)
    module.to(_resolve_device(device))
    module.eval()
    return SamModel(module=module, architecture=architecture, path=path)


def read_sam_state_dict(path: str | Path) -> dict[str, torch.Tensor]:
    """Read a checkpoint's tensors with ``weights_only=True``, refusing non-SAM files.

    Parameters
    ----------
    path
        The checkpoint file.

    Returns
    -------
    dict
        Parameter name → CPU tensor, as stored.

    Raises
    ------
    liftstudio.errors.InputFileError
        As for :func:`load_sam` (everything except the architecture mismatch).
    """
    path = Path(path)
    if not path.exists():
        raise InputFileError(path, "no such file (give the path of a SAM .pth checkpoint)")
    if path.is_dir():
        raise InputFileError(path, "is a folder; give the path of a SAM .pth checkpoint file")
    try:
        loaded = torch.load(path, map_location="cpu", weights_only=True)
    except pickle.UnpicklingError as error:
        refused = re.search(r"Unsupported global: GLOBAL ([\w.]+)", str(error))
        if refused:
            raise InputFileError(
                path,
                f"holds pickled Python objects besides tensors ({refused.group(1)}), which "
                "LiftStudio does not unpickle (torch.load weights_only=True: unpickling can "
                "run code); re-save the weights alone with torch.save(model.state_dict(), path)",
            ) from None
        raise InputFileError(path, _corrupt(error)) from None
    except OSError as error:
        raise InputFileError(path, f"cannot be read: {error.strerror or error}") from None
    except Exception as error:  # truncated zips, foreign files: RuntimeError, KeyError...
        raise InputFileError(path, _corrupt(error)) from None
    return _sam_state_dict(loaded, path)


def _corrupt(error: BaseException) -> str:
    text = str(error).strip()
    unpickler = re.search(r"WeightsUnpickler error:\s*([^\n]+)", text)
    detail = unpickler.group(1) if unpickler else (text.splitlines() or [""])[0]
    detail = detail.strip().split(". ")[0].rstrip(".") or type(error).__name__
    return (
        f"cannot be read as a PyTorch checkpoint (truncated or corrupt? {detail[:160]}); "
        "download it again"
    )


def _sam_state_dict(loaded: Any, path: Path) -> dict[str, torch.Tensor]:
    """Unwrap a loaded checkpoint into a SAM state dict, naming foreign checkpoints."""
    if not isinstance(loaded, Mapping):
        raise InputFileError(
            path, f"holds a {type(loaded).__name__}, not a state dict of named tensors"
        )
    if _is_sam2(loaded):
        raise InputFileError(
            path, "is a SAM 2 checkpoint (image_encoder.trunk...); SAM 2 is not supported, "
            "use a SAM (v1) checkpoint: sam_vit_h/l/b"
        )  # fmt: skip
    for key in ("model", "state_dict"):
        inner = loaded.get(key)
        if isinstance(inner, Mapping) and not any(
            str(k).startswith("image_encoder.") for k in loaded
        ):
            loaded = inner
            break
    keys = [str(k) for k in loaded]
    if keys and all(k.startswith("module.") for k in keys):
        loaded = {k[len("module.") :]: v for k, v in loaded.items()}
    state: dict[str, torch.Tensor] = {}
    for key, value in loaded.items():
        if not isinstance(value, torch.Tensor):
            raise InputFileError(
                path,
                f"entry {key!r} is a {type(value).__name__}, not a tensor: not a SAM state dict",
            )
        state[str(key)] = value
    problem = _foreign_checkpoint(list(state))
    if problem is not None:
        raise InputFileError(path, problem)
    return state


def _is_sam2(loaded: Mapping) -> bool:
    for candidate in (loaded, loaded.get("model")):
        if isinstance(candidate, Mapping) and any(
            str(k).startswith(("image_encoder.trunk.", "sam_mask_decoder.", "memory_attention."))
            for k in candidate
        ):
            return True
    return False


def _foreign_checkpoint(keys: list[str]) -> str | None:
    """Why these keys are not a SAM (v1) state dict, or None when they may be."""
    if not keys:
        return "holds no tensors"
    parts = ("image_encoder.", "prompt_encoder.", "mask_decoder.")
    if any(k.startswith(parts) for k in keys):
        if "image_encoder.patch_embed.proj.weight" not in keys:
            return (
                "is not a SAM ViT checkpoint: its image encoder has no "
                "patch_embed.proj.weight (MobileSAM/EfficientSAM-style encoders are not "
                "supported)"
            )
        return None
    if any(k.startswith(("vision_encoder.", "sam.vision_encoder.")) for k in keys):
        return (
            "is a Hugging Face transformers SAM checkpoint; use Meta's original .pth "
            "(sam_vit_h_4b8939.pth, sam_vit_l_0b3195.pth or sam_vit_b_01ec64.pth)"
        )
    if "cls_token" in keys and any(k.startswith("blocks.") for k in keys):
        kind = "DINOv2" if "mask_token" in keys or "register_tokens" in keys else "plain ViT"
        return (
            f"looks like a {kind} backbone (cls_token, blocks...), not a SAM checkpoint: "
            "give a SAM checkpoint (image_encoder/prompt_encoder/mask_decoder weights)"
        )
    return (
        "is not a SAM checkpoint: none of its keys belongs to image_encoder, "
        f"prompt_encoder or mask_decoder (first keys: {', '.join(keys[:3])})"
    )


# ---------------------------------------------------------------------------- inference
def infer_sam_architecture(state: Mapping[str, torch.Tensor]) -> SamArchitecture:
    """Infer a SAM model's sizes from its state dict (rules in the module docstring).

    Parameters
    ----------
    state
        Parameter name → tensor (only shapes are read; meta tensors work).

    Returns
    -------
    SamArchitecture
        Named after the official architecture it equals, else ``"custom"``.

    Raises
    ------
    ValueError
        When a needed tensor is missing or the shapes do not fit SAM's modules.
    """
    enc = "image_encoder."
    width, in_chans, patch, patch_w = _shape(state, enc + "patch_embed.proj.weight", 4)
    if patch != patch_w:
        raise ValueError(f"non-square patches {patch}x{patch_w}")
    pos = _shape(state, enc + "pos_embed", 4)
    if pos[0] != 1 or pos[1] != pos[2] or pos[3] != width:
        raise ValueError(f"image_encoder.pos_embed has shape {pos}, expected (1, G, G, {width})")
    grid = pos[1]
    depth = _count(state, enc + "blocks.")
    if depth == 0:
        raise ValueError("the image encoder has no blocks")
    lengths, head_dims = [], set()
    for index in range(depth):
        length, head_dim = _shape(state, f"{enc}blocks.{index}.attn.rel_pos_h", 2)
        if _shape(state, f"{enc}blocks.{index}.attn.rel_pos_w", 2) != (length, head_dim):
            raise ValueError(f"block {index}: rel_pos_w and rel_pos_h differ in shape")
        if length % 2 == 0:
            raise ValueError(f"block {index}: rel_pos_h has even length {length}")
        lengths.append(length)
        head_dims.add(head_dim)
    if len(head_dims) != 1 or width % next(iter(head_dims)):
        raise ValueError(f"head widths {sorted(head_dims)} do not divide the width {width}")
    global_indexes = tuple(i for i, length in enumerate(lengths) if length == 2 * grid - 1)
    windows = {(length + 1) // 2 for length in lengths if length != 2 * grid - 1}
    if len(windows) > 1:
        raise ValueError(f"windowed blocks disagree on the window size: {sorted(windows)}")
    hidden = _shape(state, f"{enc}blocks.0.mlp.lin1.weight", 2)[0]
    out_chans = _shape(state, enc + "neck.0.weight", 4)[0]
    prompt_dim = _shape(state, "prompt_encoder.no_mask_embed.weight", 2)[1]
    decoder_dim = _shape(state, "mask_decoder.iou_token.weight", 2)[1]
    if not out_chans == prompt_dim == decoder_dim:
        raise ValueError(
            f"embedding widths disagree: encoder neck {out_chans}, prompt encoder "
            f"{prompt_dim}, mask decoder {decoder_dim}"
        )
    dec = "mask_decoder.transformer."
    decoder_depth = _count(state, dec + "layers.")
    internal = _shape(state, dec + "final_attn_token_to_image.q_proj.weight", 2)[0]
    if internal == 0 or prompt_dim % internal:
        raise ValueError(f"decoder attention width {internal} does not divide {prompt_dim}")
    if prompt_dim % DECODER_NUM_HEADS or internal % DECODER_NUM_HEADS:
        raise ValueError(
            f"SAM's decoder has {DECODER_NUM_HEADS} heads, which do not divide its widths "
            f"{prompt_dim} and {internal}"
        )
    mlp_dim = _shape(state, dec + "layers.0.mlp.lin1.weight", 2)[0] if decoder_depth else 1
    iou_depth = _count(state, "mask_decoder.iou_prediction_head.layers.")
    if iou_depth == 0:
        raise ValueError("the mask decoder has no IoU prediction head")
    iou_hidden = _shape(state, "mask_decoder.iou_prediction_head.layers.0.weight", 2)[0]
    mask_tokens = _shape(state, "mask_decoder.mask_tokens.weight", 2)[0]
    if mask_tokens < 2:
        raise ValueError(f"the mask decoder has {mask_tokens} mask token(s), SAM has >= 2")
    inferred = SamArchitecture(
        name="custom",
        image_size=grid * patch,
        patch_size=patch,
        in_chans=in_chans,
        encoder_embed_dim=width,
        encoder_depth=depth,
        encoder_num_heads=width // next(iter(head_dims)),
        encoder_mlp_ratio=hidden / width,
        encoder_qkv_bias=f"{enc}blocks.0.attn.qkv.bias" in state,
        encoder_global_attn_indexes=global_indexes,
        encoder_window_size=next(iter(windows)) if windows else 0,
        prompt_embed_dim=prompt_dim,
        mask_in_chans=_shape(state, "prompt_encoder.mask_downscaling.3.weight", 4)[0],
        decoder_depth=decoder_depth,
        decoder_mlp_dim=mlp_dim,
        decoder_num_heads=DECODER_NUM_HEADS,
        decoder_attention_downsample_rate=prompt_dim // internal,
        num_multimask_outputs=mask_tokens - 1,
        iou_head_depth=iou_depth,
        iou_head_hidden_dim=iou_hidden if iou_depth > 1 else prompt_dim,
    )
    for name, official in OFFICIAL_ARCHITECTURES.items():
        if replace(inferred, name=name) == official:
            return official
    return inferred


def _shape(state: Mapping[str, torch.Tensor], key: str, ndim: int) -> tuple[int, ...]:
    if key not in state:
        raise ValueError(f"missing tensor {key}")
    shape = tuple(int(n) for n in state[key].shape)
    if len(shape) != ndim:
        raise ValueError(f"{key} has shape {shape}, expected {ndim} dimensions")
    return shape


def _count(state: Mapping[str, torch.Tensor], prefix: str) -> int:
    """Number of consecutive numbered children ``prefix<i>.`` (0..n-1)."""
    pattern = re.compile(re.escape(prefix) + r"(\d+)\.")
    found = {int(m.group(1)) for key in state if (m := pattern.match(key))}
    if found and found != set(range(len(found))):
        raise ValueError(f"{prefix}<i> are not numbered 0..{len(found) - 1}: {sorted(found)}")
    return len(found)


# ---------------------------------------------------------------------------- building
def build_sam_module(sam: ModuleType, architecture: SamArchitecture) -> torch.nn.Module:
    """Build an untrained ``Sam`` of ``architecture`` from segment_anything's classes.

    Parameters
    ----------
    sam
        The ``segment_anything`` package (:func:`import_segment_anything`).
    architecture
        The sizes.

    Returns
    -------
    torch.nn.Module
        A ``segment_anything.modeling.Sam``, randomly initialised, on the current
        default device.
    """
    arch = architecture
    grid = arch.image_embedding_size
    modeling = sam.modeling
    encoder = modeling.ImageEncoderViT(
        img_size=arch.image_size,
        patch_size=arch.patch_size,
        in_chans=arch.in_chans,
        embed_dim=arch.encoder_embed_dim,
        depth=arch.encoder_depth,
        num_heads=arch.encoder_num_heads,
        mlp_ratio=arch.encoder_mlp_ratio,
        out_chans=arch.prompt_embed_dim,
        qkv_bias=arch.encoder_qkv_bias,
        norm_layer=partial(torch.nn.LayerNorm, eps=1e-6),
        use_abs_pos=True,
        use_rel_pos=True,
        window_size=arch.encoder_window_size,
        global_attn_indexes=arch.encoder_global_attn_indexes,
    )
    prompt_encoder = modeling.PromptEncoder(
        embed_dim=arch.prompt_embed_dim,
        image_embedding_size=(grid, grid),
        input_image_size=(arch.image_size, arch.image_size),
        mask_in_chans=arch.mask_in_chans,
    )
    decoder = modeling.MaskDecoder(
        transformer_dim=arch.prompt_embed_dim,
        transformer=modeling.TwoWayTransformer(
            depth=arch.decoder_depth,
            embedding_dim=arch.prompt_embed_dim,
            num_heads=arch.decoder_num_heads,
            mlp_dim=arch.decoder_mlp_dim,
            attention_downsample_rate=arch.decoder_attention_downsample_rate,
        ),
        num_multimask_outputs=arch.num_multimask_outputs,
        iou_head_depth=arch.iou_head_depth,
        iou_head_hidden_dim=arch.iou_head_hidden_dim,
    )
    return modeling.Sam(
        image_encoder=encoder,
        prompt_encoder=prompt_encoder,
        mask_decoder=decoder,
        pixel_mean=list(PIXEL_MEAN),
        pixel_std=list(PIXEL_STD),
    )


def _build_and_load(
    sam: ModuleType, architecture: SamArchitecture, state: dict[str, torch.Tensor], path: Path
) -> torch.nn.Module:
    """Build on the meta device (no wasted random init) and assign the checkpoint's tensors."""
    try:
        with torch.device("meta"):
            module = build_sam_module(sam, architecture)
    except Exception as error:
        raise InputFileError(
            path, f"SAM cannot be built with the sizes inferred from it ({error})"
        ) from None
    # The module takes these very tensors (assign=True): make them float32 and dense.
    state = {
        key: (value.float() if value.is_floating_point() else value).contiguous()
        for key, value in state.items()
    }
    try:
        module.load_state_dict(state, strict=True, assign=True)
    except RuntimeError as error:
        detail = " ".join(str(error).split())[:400]
        raise InputFileError(
            path,
            f"does not match the SAM architecture inferred from it ({architecture.summary()}); "
            f"fine-tuned variants with extra modules (HQ-SAM...) are not supported: {detail}",
        ) from None
    # Non-persistent buffers are not in any checkpoint: give them SAM's values.
    saved = set(state)
    for name, buffer in list(module.named_buffers()):
        if name in saved or not buffer.is_meta:
            continue
        owner_name, _, attr = name.rpartition(".")
        owner = module.get_submodule(owner_name)
        if attr == "pixel_mean":
            setattr(owner, attr, torch.tensor(PIXEL_MEAN).view(-1, 1, 1))
        elif attr == "pixel_std":
            setattr(owner, attr, torch.tensor(PIXEL_STD).view(-1, 1, 1))
        else:
            raise RuntimeError(f"unexpected unsaved buffer {name} in segment_anything's Sam")
    leftover = [n for n, t in [*module.named_parameters(), *module.named_buffers()] if t.is_meta]
    if leftover:
        raise RuntimeError(f"tensors left uninitialised after loading: {leftover[:5]}")
    return module


def _resolve_device(device: str | torch.device | None) -> torch.device:
    """``device`` as a torch.device; None → CUDA when available, else the CPU."""
    if device is not None:
        return torch.device(device)
    return torch.device("cuda" if torch.cuda.is_available() else "cpu")
