"""Shared fixtures: where the real scenes live, small generated scenes, SAM's imports.

``segment_anything`` imports ``torchvision`` at package import, and there is no CPU
build of torchvision on the development/CI machines. :func:`sam_imports` puts the
test-only stand-in (``tests/support/torchvision_standin``) on ``sys.path`` **only when
``import torchvision`` fails**, for the tests that request it, and takes it away again
afterwards, together with every module imported through it.
"""

from __future__ import annotations

import importlib
import sys
from collections.abc import Iterator
from functools import partial
from pathlib import Path

import pytest

from liftstudio.evaluate.real_data import default_real_data_dir


@pytest.fixture(scope="session")
def real_data() -> Path:
    """Folder of real trained scenes (``../shared/data/real``).

    Skips with a reason in a user's clone, where that folder does not exist; CI
    always has it. ``LIFTSTUDIO_REAL_DATA`` points elsewhere.
    """
    folder = default_real_data_dir()
    if folder is None:
        pytest.skip(
            "real scenes not found: ../shared/data/real is absent (a user's clone); "
            "set LIFTSTUDIO_REAL_DATA to a folder holding them"
        )
    return folder


@pytest.fixture(autouse=True)
def no_user_config(tmp_path_factory, monkeypatch):
    """Tests never read the developer's own ``~/.config/liftstudio/config.toml``."""
    folder = tmp_path_factory.mktemp("config")
    monkeypatch.setenv("LIFTSTUDIO_CONFIG", str(folder / "config.toml"))
    return folder / "config.toml"


STANDIN_PATH = Path(__file__).resolve().parent / "support" / "torchvision_standin"


def _drop_modules(*roots: str) -> None:
    for name in list(sys.modules):
        if name.split(".")[0] in roots:
            del sys.modules[name]


@pytest.fixture(scope="module")
def sam_imports() -> Iterator[str]:
    """``"real"`` or ``"stand-in"``: which torchvision serves ``segment_anything`` here.

    Skips when ``segment_anything`` itself is not installed.
    """
    try:
        import torchvision
    except ImportError:
        pass
    else:
        pytest.importorskip("segment_anything")
        yield "real"
        return
    entry = str(STANDIN_PATH)
    _drop_modules("torchvision", "segment_anything")
    sys.path.insert(0, entry)
    importlib.invalidate_caches()
    try:
        import torchvision

        assert Path(torchvision.__file__).resolve().is_relative_to(STANDIN_PATH)
        pytest.importorskip("segment_anything")
        yield "stand-in"
    finally:
        sys.path.remove(entry)
        _drop_modules("torchvision", "segment_anything")
        importlib.invalidate_caches()


def build_tiny_sam():
    """A tiny SAM from segment_anything's classes, with every weight random."""
    import torch
    from segment_anything.modeling import (
        ImageEncoderViT,
        MaskDecoder,
        PromptEncoder,
        Sam,
        TwoWayTransformer,
    )

    grid = 128 // 16
    torch.manual_seed(0)
    model = Sam(
        image_encoder=ImageEncoderViT(
            img_size=128, patch_size=16, embed_dim=32, depth=3, num_heads=2, mlp_ratio=2.0,
            out_chans=32, qkv_bias=True, norm_layer=partial(torch.nn.LayerNorm, eps=1e-6),
            use_rel_pos=True, window_size=4, global_attn_indexes=(1,),
        ),
        prompt_encoder=PromptEncoder(
            embed_dim=32, image_embedding_size=(grid, grid), input_image_size=(128, 128),
            mask_in_chans=8,
        ),
        mask_decoder=MaskDecoder(
            transformer_dim=32,
            transformer=TwoWayTransformer(depth=2, embedding_dim=32, num_heads=8, mlp_dim=48),
            num_multimask_outputs=3, iou_head_depth=3, iou_head_hidden_dim=24,
        ),
    )  # fmt: skip
    with torch.no_grad():  # position embeddings start at zero: make them count
        for name, parameter in model.named_parameters():
            if "rel_pos" in name or "pos_embed" in name:
                parameter.normal_(0.0, 0.5)
    return model.eval()


@pytest.fixture(scope="module")
def tiny_sam(sam_imports, tmp_path_factory):
    """A tiny SAM with random weights (``image_size`` 128, patch 16, width 32, depth 3)
    and its checkpoint file: ``(model, path)``. Runs with one torch thread."""
    import torch

    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    model = build_tiny_sam()
    path = tmp_path_factory.mktemp("sam") / "tiny_sam.pth"
    torch.save(model.state_dict(), path)
    yield model, path
    torch.set_num_threads(threads)
