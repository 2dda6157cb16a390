"""Checks of the optional compute parts: CUDA and gsplat, SAM, DINOv2, and the settings file.

Model checkpoints are found the way the commands find them, through the user's
settings file (:mod:`liftstudio.user_config`); the doctor says which file it read, and
checks that a named checkpoint exists and what kind it is, without loading a model.
"""

from __future__ import annotations

import importlib.metadata
import importlib.util
import json
from pathlib import Path

from liftstudio.doctor.dependencies import (
    dino_install_fix,
    gsplat_install_fix,
    sam_install_fix,
    torchvision_install_fix,
)
from liftstudio.doctor.installation import Installation
from liftstudio.doctor.report import CheckItem, Status, format_bytes
from liftstudio.errors import InputFileError
from liftstudio.user_config import UserConfig, load_user_config

GPU = "GPU"
SAM = "SAM"
DINO = "DINOv2"
FILES = "Files"

#: Where the official SAM checkpoints are listed.
SAM_CHECKPOINTS_URL = "https://github.com/facebookresearch/segment-anything#model-checkpoints"
#: Where the official DINOv2 torch-hub checkpoints are listed.
DINO_CHECKPOINTS_URL = "https://github.com/facebookresearch/dinov2#pretrained-models"

ConfigState = UserConfig | InputFileError
"""The settings read from the file, or why the file cannot be used."""


# ---------------------------------------------------------------------------- settings
def read_config() -> ConfigState:
    """The user's settings, or the :class:`InputFileError` naming the broken file."""
    try:
        return load_user_config()
    except InputFileError as exc:
        return exc


def config_item(state: ConfigState) -> CheckItem:
    """Where the settings file is looked for, whether it exists, and whether it is valid."""
    if isinstance(state, InputFileError):
        return CheckItem(
            FILES,
            "Settings file",
            Status.ERROR,
            str(state),
            f"fix or remove {state.path} (it may hold [sam] checkpoint, [sam] model_type "
            "and [dino] checkpoint)",
            {"path": str(state.path), "exists": state.path.exists(), "error": state.problem},
        )
    exists = state.path.is_file()
    detail = f"{state.path} ({'read' if exists else 'not present: no settings'})"
    return CheckItem(
        FILES, "Settings file", Status.OK, detail, data={"path": str(state.path), "exists": exists}
    )


def _where_looked(state: ConfigState) -> str:
    path = state.path
    return f"settings file {path} ({'exists' if path.is_file() else 'does not exist'})"


def _unknown_checkpoint(section: str, name: str, state: InputFileError) -> CheckItem:
    return CheckItem(
        section,
        name,
        Status.WARNING,
        f"unknown: the settings file {state.path} cannot be read",
        f"fix or remove {state.path} (it may hold [sam] checkpoint, [sam] model_type "
        "and [dino] checkpoint)",
        {"config": str(state.path)},
    )


# ---------------------------------------------------------------------------- CUDA, gsplat
def cuda_fix(installation: Installation) -> str:
    """The fix line for a missing CUDA GPU (the gsplat backend's needs)."""
    return installation.pip(
        "for the GPU render backend: a CUDA GPU with its driver, a CUDA build of torch "
        "(pip install torch --index-url https://download.pytorch.org/whl/cu121, or the CUDA "
        "version of your driver) and gsplat (pip install gsplat); without them the CPU "
        "backend is used",
        "the GPU backend",
    )


def cuda_item(installation: Installation) -> CheckItem:
    """Whether torch sees a CUDA GPU, and which."""
    import torch

    build = "a CPU-only build" if torch.version.cuda is None else f"CUDA {torch.version.cuda}"
    if not torch.cuda.is_available():
        return CheckItem(
            GPU,
            "CUDA",
            Status.MISSING,
            f"no CUDA GPU available to torch {torch.__version__} ({build}); the CPU render "
            "backend is used",
            cuda_fix(installation),
            {"available": False, "torch": torch.__version__, "torch_cuda": torch.version.cuda},
        )
    devices = []
    for index in range(torch.cuda.device_count()):
        properties = torch.cuda.get_device_properties(index)
        devices.append(f"{properties.name} ({format_bytes(properties.total_memory)})")
    return CheckItem(
        GPU,
        "CUDA",
        Status.OK,
        f"{len(devices)} GPU(s): {', '.join(devices)}; torch {torch.__version__} ({build})",
        data={
            "available": True,
            "devices": devices,
            "torch": torch.__version__,
            "torch_cuda": torch.version.cuda,
        },
    )


def gsplat_item(installation: Installation) -> CheckItem:
    """Whether the gsplat backend can render here (its own smoke test, CUDA only)."""
    import torch

    from liftstudio.render.gsplat_backend import gsplat_unavailable_reason

    reason = gsplat_unavailable_reason()
    if reason is None:
        version = importlib.metadata.version("gsplat")
        return CheckItem(
            GPU,
            "gsplat backend",
            Status.OK,
            f"gsplat {version} renders on CUDA (--backend auto uses it)",
            data={"usable": True},
        )
    if not torch.cuda.is_available():
        return CheckItem(
            GPU,
            "gsplat backend",
            Status.MISSING,
            f"not usable: {reason}",
            cuda_fix(installation),
            {"usable": False, "reason": reason},
        )
    if importlib.util.find_spec("gsplat") is None:
        fix = gsplat_install_fix(installation)
    else:
        fix = installation.pip(
            f"pip install --force-reinstall gsplat  (built for torch {torch.__version__}, "
            f"CUDA {torch.version.cuda})",
            "the gsplat backend",
        )
    return CheckItem(
        GPU,
        "gsplat backend",
        Status.WARNING,
        f"CUDA works but gsplat does not: {reason}; the CPU backend is used",
        fix,
        {"usable": False, "reason": reason},
    )


# ---------------------------------------------------------------------------- SAM
def sam_package_item(installation: Installation) -> CheckItem:
    """Whether segment-anything (with torchvision) imports."""
    from liftstudio.sources.sam import sam_available

    reason = sam_available()
    if reason is None:
        versions = {
            name: _version(name) for name in ("segment-anything", "torchvision")
        }  # both import, so both are installed
        return CheckItem(
            SAM,
            "SAM",
            Status.OK,
            f"imports (segment-anything {versions['segment-anything']}, torchvision "
            f"{versions['torchvision']})",
            data={"available": True, **versions},
        )
    if "torchvision" in reason and importlib.util.find_spec("segment_anything") is not None:
        fix = torchvision_install_fix(installation)
    else:
        fix = sam_install_fix(installation)
    return CheckItem(SAM, "SAM", Status.MISSING, reason, fix, {"available": False})


def _version(distribution: str) -> str:
    try:
        return importlib.metadata.version(distribution)
    except importlib.metadata.PackageNotFoundError:
        return "unknown"


def sam_checkpoint_item(state: ConfigState) -> CheckItem:
    """The SAM checkpoint named in the settings file: set? exists? size."""
    name = "SAM checkpoint"
    if isinstance(state, InputFileError):
        return _unknown_checkpoint(SAM, name, state)
    where = _where_looked(state)
    example = (
        f"download a checkpoint, e.g. sam_vit_h_4b8939.pth from {SAM_CHECKPOINTS_URL}, and "
        f'add  [sam] checkpoint = "/path/to/sam_vit_h_4b8939.pth"  to {state.path}'
    )
    data = {"config": str(state.path), "config_exists": state.path.is_file()}
    path = state.sam_checkpoint
    if path is None:
        return CheckItem(SAM, name, Status.MISSING, f"not set; looked in {where}", example, data)
    data["checkpoint"] = str(path)
    if not path.is_file():
        what = "is a folder, not a checkpoint file" if path.is_dir() else "does not exist"
        return CheckItem(
            SAM,
            name,
            Status.MISSING,
            f"{path} {what} (set in {state.path})",
            f"put the checkpoint file at {path}, or change [sam] checkpoint in {state.path} "
            f"(checkpoints: {SAM_CHECKPOINTS_URL})",
            data,
        )
    size = path.stat().st_size
    data["size_bytes"] = size
    return CheckItem(
        SAM,
        name,
        Status.OK,
        f"{path} exists ({format_bytes(size)}, model_type {state.sam_model_type}); "
        f"set in {state.path}",
        data=data,
    )


# ---------------------------------------------------------------------------- DINOv2
def dino_package_item(installation: Installation) -> CheckItem:
    """Whether ``transformers`` (and ``safetensors``) are installed, without importing them."""
    found = {
        name: importlib.util.find_spec(name) is not None for name in ("transformers", "safetensors")
    }
    if all(found.values()):
        return CheckItem(
            DINO,
            "DINOv2",
            Status.OK,
            f"installed (transformers {_version('transformers')}, safetensors "
            f"{_version('safetensors')}; imported only when a model is loaded)",
            data={"available": True},
        )
    missing = [name for name, present in found.items() if not present]
    return CheckItem(
        DINO,
        "DINOv2",
        Status.MISSING,
        f"{' and '.join(missing)} not installed: DINOv2 features cannot be computed",
        dino_install_fix(installation),
        {"available": False, "missing": missing},
    )


def dino_checkpoint_item(state: ConfigState) -> CheckItem:
    """The DINOv2 model named in the settings file, and how the DINOv2 source would load it."""
    name = "DINOv2 checkpoint"
    if isinstance(state, InputFileError):
        return _unknown_checkpoint(DINO, name, state)
    data: dict[str, object] = {"config": str(state.path), "config_exists": state.path.is_file()}
    path = state.dino_checkpoint
    if path is None:
        return CheckItem(
            DINO,
            name,
            Status.MISSING,
            f"not set; looked in {_where_looked(state)}",
            "download a DINOv2 model, e.g. the Hugging Face folder facebook/dinov2-small "
            "(config.json + model.safetensors) or dinov2_vits14_pretrain.pth from "
            f'{DINO_CHECKPOINTS_URL}, and add  [dino] checkpoint = "/path/to/it"  to '
            f"{state.path}",
            data,
        )
    data["checkpoint"] = str(path)
    change = f"or change [dino] checkpoint in {state.path}"
    if not path.exists():
        return CheckItem(
            DINO,
            name,
            Status.MISSING,
            f"{path} does not exist (set in {state.path})",
            f"put the model folder or .pth file at {path}, {change}",
            data,
        )
    status, how, fix = describe_dino_checkpoint(path)
    data["loads_as"] = how
    return CheckItem(
        DINO,
        name,
        status,
        f"{how}; set in {state.path}",
        f"{fix}, {change}" if fix else "",
        data,
    )


def describe_dino_checkpoint(path: Path) -> tuple[Status, str, str]:
    """How :func:`liftstudio.sources.dino.load_dino` would load ``path`` (it exists).

    The decision is the loader's own (folder or single file); only ``config.json`` is
    read, no weights.

    Returns
    -------
    status, description, fix
        ``fix`` is empty when the checkpoint looks loadable.
    """
    # The loader's private helpers decide folder vs file; reusing them keeps the
    # doctor's answer the loader's answer.
    from liftstudio.sources.dino_checkpoints import _HF_MODEL_TYPES, _HF_WEIGHT_FILES, _hf_folder

    try:
        folder = _hf_folder(path)
    except InputFileError as exc:
        return Status.WARNING, str(exc), "give a folder holding config.json and the weights"
    if folder is None:
        size = format_bytes(path.stat().st_size)
        reader = "safetensors" if path.suffix == ".safetensors" else "torch.load(weights_only=True)"
        return (
            Status.OK,
            f"torch-hub checkpoint file {path} ({size}): its state dict is read with {reader}, "
            "renamed to transformers' Dinov2Model keys, the architecture read off the tensors",
            "",
        )
    config_file = folder / "config.json"
    try:
        model_type = json.loads(config_file.read_text(encoding="utf-8")).get("model_type")
    except (OSError, UnicodeDecodeError, ValueError, AttributeError) as exc:
        return (
            Status.WARNING,
            f"{config_file} cannot be read as JSON ({exc})",
            "download the model folder again",
        )
    if model_type not in _HF_MODEL_TYPES:
        return (
            Status.WARNING,
            f"{config_file} is not a DINOv2 config (model_type {model_type!r})",
            "give a DINOv2 model folder (model_type dinov2 or dinov2_with_registers)",
        )
    weights = [name for name in _HF_WEIGHT_FILES if (folder / name).is_file()]
    if not weights:
        return (
            Status.WARNING,
            f"Hugging Face folder {folder} has config.json but no weights file",
            "copy the model's model.safetensors (or pytorch_model.bin) into it",
        )
    size = format_bytes(sum((folder / name).stat().st_size for name in weights))
    cls = "Dinov2Model" if model_type == "dinov2" else "Dinov2WithRegistersModel"
    return (
        Status.OK,
        f"Hugging Face model folder {folder} (model_type {model_type}, {weights[0]}, {size}): "
        f"loaded with transformers' {cls}, local files only",
        "",
    )
