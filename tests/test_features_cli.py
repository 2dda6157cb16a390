"""``liftstudio features``: DINOv2 maps of the training views, lifted onto the Gaussians."""

from __future__ import annotations

import json

import numpy as np
import pytest

from liftstudio.cli import EXIT_USER_ERROR, main
from liftstudio.evaluate.demo_scene import demo_dir

transformers = pytest.importorskip("transformers", reason="the dino extra is not installed")


@pytest.fixture(autouse=True)
def private_cache(tmp_path, monkeypatch):
    monkeypatch.setenv("LIFTSTUDIO_CACHE_DIR", str(tmp_path / "cache"))


@pytest.fixture(scope="module")
def tiny_dino(tmp_path_factory):
    """A randomly initialised DINOv2 (hidden 32, 2 layers) saved as a Hugging Face folder."""
    import torch

    torch.manual_seed(0)
    config = transformers.Dinov2Config(
        hidden_size=32, num_hidden_layers=2, num_attention_heads=2, intermediate_size=64,
        image_size=56, patch_size=14,
    )  # fmt: skip
    folder = tmp_path_factory.mktemp("dino") / "tiny-dinov2"
    transformers.Dinov2Model(config).save_pretrained(folder)
    return folder


def test_features_of_the_demo_scene_feed_select_and_coseg(tmp_path, tiny_dino, capsys):
    out = tmp_path / "dino.npy"
    code = main(["features", str(demo_dir()), "--checkpoint", str(tiny_dino), "--out", str(out),
                 "--dims", "8", "--max-side", "80"])  # fmt: skip
    assert code == 0, capsys.readouterr().err
    printed = capsys.readouterr().out
    assert "24 views" in printed and "x 8 features" in printed
    features = np.load(out)
    assert features.dtype == np.float32 and features.shape[1] == 8
    seen = np.abs(features).sum(axis=1) > 0
    assert seen.mean() > 0.5 and np.isfinite(features).all()
    assert features[seen].std(axis=0).min() > 0  # every dimension carries signal
    # a second run reads the maps from the cache and writes the same features
    again = tmp_path / "again.npy"
    code = main(["features", str(demo_dir()), "--checkpoint", str(tiny_dino), "--out", str(again),
                 "--dims", "8", "--max-side", "80"])  # fmt: skip
    assert code == 0 and "cached DINOv2 maps" in capsys.readouterr().out
    np.testing.assert_array_equal(np.load(again), features)
    # coseg lifts with them
    ply = tmp_path / "coseg.ply"
    code = main(["lift", str(demo_dir()), "--masks", str(demo_dir() / "masks" / "sam-like"),
                 "--method", "coseg", "--features", str(out), "--steps", "30",
                 "--out", str(ply)])  # fmt: skip
    assert code == 0, capsys.readouterr().err
    sidecar = json.loads(ply.with_suffix(".instances.json").read_text())
    assert sidecar["provenance"]["features"] == str(out.resolve())


def test_features_errors(tmp_path, tiny_dino, capsys):
    args = ["features", str(demo_dir()), "--out", str(tmp_path / "f.npy")]
    assert main([*args, "--checkpoint", str(tmp_path / "none")]) == EXIT_USER_ERROR
    assert "does not exist" in capsys.readouterr().err
    sam_like = tmp_path / "sam.pth"
    import torch

    torch.save({"image_encoder.patch_embed.proj.weight": torch.zeros(2, 3, 16, 16)}, sam_like)
    assert main([*args, "--checkpoint", str(sam_like)]) == EXIT_USER_ERROR
    assert "not a DINOv2" in capsys.readouterr().err
    code = main(["features", str(demo_dir()), "--checkpoint", str(tiny_dino),
                 "--out", str(tmp_path / "f.txt")])  # fmt: skip
    assert code == EXIT_USER_ERROR and ".npy" in capsys.readouterr().err
    code = main(["lift", str(demo_dir()), "--masks", str(demo_dir() / "masks" / "sam-like"),
                 "--method", "vote", "--features", str(tmp_path / "f.npy"),
                 "--out", str(tmp_path / "x.ply")])  # fmt: skip
    assert code == EXIT_USER_ERROR and "coseg" in capsys.readouterr().err
