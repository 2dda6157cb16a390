"""SAM backend: checkpoint loading and architecture inference, automatic masks, prompts.

SAM weights cannot be downloaded here (DESIGN §8): every test builds a tiny randomly
initialised SAM from segment_anything's own classes, saves its state dict and goes
through the real loading path. Random weights give arbitrary masks, so the automatic
mask tests check structure and agreement with segment_anything's own generator, not
segmentation quality. Where torchvision is missing, ``sam_imports`` (conftest) serves
segment_anything a test-only stand-in.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np
import pytest
import scipy.ndimage as ndi
import torch

from liftstudio.errors import InputFileError
from liftstudio.jobs import CancelToken, JobCancelled
from liftstudio.lift.sam_prompt import MaskPredictor
from liftstudio.sources.mask_stacks import MaskStack, flatten_masks
from liftstudio.sources.sam import (
    OFFICIAL_ARCHITECTURES,
    SamAutoConfig,
    SamPromptPredictor,
    SamUnavailable,
    automatic_masks,
    generate_sam_masks,
    infer_sam_architecture,
    load_sam,
    postprocess_small_regions,
    remove_small_regions,
    sam_available,
)

pytestmark = pytest.mark.usefixtures("sam_imports")

#: The tiny model's sizes, as SamArchitecture fields.
TINY = {
    "image_size": 128,
    "patch_size": 16,
    "in_chans": 3,
    "encoder_embed_dim": 32,
    "encoder_depth": 3,
    "encoder_num_heads": 2,
    "encoder_mlp_ratio": 2.0,
    "encoder_qkv_bias": True,
    "encoder_global_attn_indexes": (1,),
    "encoder_window_size": 4,
    "prompt_embed_dim": 32,
    "mask_in_chans": 8,
    "decoder_depth": 2,
    "decoder_mlp_dim": 48,
    "decoder_num_heads": 8,
    "decoder_attention_downsample_rate": 2,
    "num_multimask_outputs": 3,
    "iou_head_depth": 3,
    "iou_head_hidden_dim": 24,
}

#: Loose thresholds so that a random model's masks survive.
LOOSE = {"points_per_side": 8, "pred_iou_thresh": 0.0, "stability_score_thresh": 0.0}


@pytest.fixture(scope="module")
def tiny(tiny_sam) -> tuple[torch.nn.Module, Path]:
    """The tiny random SAM of ``tests/conftest.py`` (sizes as :data:`TINY`) and its file."""
    return tiny_sam


@pytest.fixture(scope="module")
def loaded(tiny):
    return load_sam(tiny[1], device="cpu")


@pytest.fixture(scope="module")
def official_state_dicts() -> dict[str, dict[str, torch.Tensor]]:
    """Shapes-only (meta) state dicts of the three official SAM architectures."""
    from segment_anything import sam_model_registry

    dicts = {}
    for name in OFFICIAL_ARCHITECTURES:
        with torch.device("meta"):
            dicts[name] = sam_model_registry[name]().state_dict()
    return dicts


def _image(height: int = 48, width: int = 80, seed: int = 0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    image = rng.random((height, width, 3)).astype(np.float32) * 0.3
    image[8:30, 10:45] = (0.9, 0.2, 0.1)
    image[20:44, 50:75] = (0.1, 0.3, 0.9)
    return image


# ---------------------------------------------------------------------------- loading
def test_inferred_architecture_is_the_built_one(loaded):
    arch = loaded.architecture
    assert arch.name == "custom"
    for field, value in TINY.items():
        assert getattr(arch, field) == value, field
    assert arch.image_embedding_size == 8


def test_loaded_model_computes_what_the_original_does(tiny, loaded):
    original, _ = tiny
    module = loaded.module
    assert type(module).__module__.startswith("segment_anything")
    assert not module.training
    for (name, a), (other, b) in zip(
        original.state_dict().items(), module.state_dict().items(), strict=True
    ):
        assert name == other and torch.equal(a, b), name
    torch.manual_seed(1)
    image = torch.rand(3, 128, 96) * 255
    batch = [
        {
            "image": image,
            "original_size": (128, 96),
            "point_coords": torch.tensor([[[40.0, 60.0], [10.0, 100.0]]]),
            "point_labels": torch.tensor([[1, 0]]),
        }
    ]
    with torch.no_grad():
        expected = original(batch, multimask_output=True)[0]
        got = module(batch, multimask_output=True)[0]
        features = module.image_encoder(module.preprocess(image[None]))
    assert torch.equal(got["iou_predictions"], expected["iou_predictions"])
    assert torch.equal(got["low_res_logits"], expected["low_res_logits"])
    assert torch.equal(got["masks"], expected["masks"])
    assert features.shape == (1, 32, 8, 8)


def test_default_device(tiny):
    model = load_sam(tiny[1])
    expected = "cuda" if torch.cuda.is_available() else "cpu"
    assert model.device.type == expected
    assert model.name == "custom" and model.path == tiny[1]


def test_official_architectures_are_recognised(official_state_dicts):
    for name, state in official_state_dicts.items():
        arch = infer_sam_architecture(state)
        assert arch == OFFICIAL_ARCHITECTURES[name]
        assert arch.name == name
    vit_h = OFFICIAL_ARCHITECTURES["vit_h"]
    assert (vit_h.encoder_embed_dim, vit_h.encoder_depth, vit_h.encoder_num_heads) == (1280, 32, 16)
    assert vit_h.encoder_global_attn_indexes == (7, 15, 23, 31)
    assert vit_h.encoder_window_size == 14 and vit_h.image_size == 1024


def test_wrong_official_model_type_is_named(official_state_dicts, tmp_path):
    # A vit_b-shaped file kept tiny: every tensor is a broadcast view of one zero.
    shapes = official_state_dicts["vit_b"]
    state = {k: torch.zeros((), dtype=v.dtype).expand(v.shape) for k, v in shapes.items()}
    path = tmp_path / "sam_vit_b.pth"
    torch.save(state, path)
    assert path.stat().st_size < 1_000_000
    with pytest.raises(InputFileError, match="is a vit_b checkpoint, not vit_h") as caught:
        load_sam(path, model_type="vit_h")
    assert caught.value.path == path
    with pytest.raises(InputFileError, match="is a vit_b checkpoint, not vit_l"):
        load_sam(path, model_type="vit_l")


def test_custom_checkpoint_with_a_model_type(tiny):
    with pytest.raises(InputFileError, match=r"custom SAM checkpoint .*not vit_h") as caught:
        load_sam(tiny[1], model_type="vit_h")
    assert str(tiny[1]) in str(caught.value)
    with pytest.raises(InputFileError, match="not vit_h"):
        load_sam(tiny[1], model_type="default")  # SAM's alias of vit_h
    with pytest.raises(ValueError, match="model_type must be one of"):
        load_sam(tiny[1], model_type="vit_g")


def test_wrapped_checkpoints_load(tiny, tmp_path):
    state = tiny[0].state_dict()
    nested = tmp_path / "nested.pth"
    torch.save({"model": state, "epoch": torch.tensor(3)}, nested)
    prefixed = tmp_path / "prefixed.pth"
    torch.save({f"module.{k}": v for k, v in state.items()}, prefixed)
    for path in (nested, prefixed):
        model = load_sam(path, device="cpu")
        assert model.architecture.encoder_global_attn_indexes == (1,)


def _save(obj, path: Path) -> Path:
    torch.save(obj, path)
    return path


def test_dinov2_state_dict_is_refused(tmp_path):
    state = {
        "cls_token": torch.zeros(1, 1, 32),
        "pos_embed": torch.zeros(1, 17, 32),
        "mask_token": torch.zeros(1, 32),
        "register_tokens": torch.zeros(1, 4, 32),
        "patch_embed.proj.weight": torch.zeros(32, 3, 14, 14),
        "blocks.0.attn.qkv.weight": torch.zeros(96, 32),
    }
    path = _save(state, tmp_path / "dinov2_vits14_reg4.pth")
    with pytest.raises(InputFileError, match="DINOv2") as caught:
        load_sam(path)
    assert caught.value.path == path


def test_sam2_checkpoint_is_refused(tmp_path):
    state = {
        "model": {
            "image_encoder.trunk.patch_embed.proj.weight": torch.zeros(8, 3, 7, 7),
            "sam_mask_decoder.iou_token.weight": torch.zeros(1, 8),
        }
    }
    path = _save(state, tmp_path / "sam2_hiera_tiny.pt")
    with pytest.raises(InputFileError, match="SAM 2 is not supported"):
        load_sam(path)


def test_unrelated_state_dicts_are_refused(tmp_path):
    path = _save({"foo.weight": torch.zeros(3), "bar": torch.ones(2)}, tmp_path / "r.pth")
    with pytest.raises(InputFileError, match=r"not a SAM checkpoint.*foo\.weight"):
        load_sam(path)
    path = _save(torch.zeros(4), tmp_path / "tensor.pth")
    with pytest.raises(InputFileError, match="holds a Tensor, not a state dict"):
        load_sam(path)


def test_incomplete_or_extended_sam_state_dicts_are_refused(tiny, tmp_path):
    state = dict(tiny[0].state_dict())
    del state["prompt_encoder.no_mask_embed.weight"]
    path = _save(state, tmp_path / "incomplete.pth")
    with pytest.raises(InputFileError, match=r"missing tensor prompt_encoder\.no_mask_embed"):
        load_sam(path)
    state = dict(tiny[0].state_dict())
    state["mask_decoder.hf_token.weight"] = torch.zeros(1, 32)  # HQ-SAM's extra token
    path = _save(state, tmp_path / "hq.pth")
    with pytest.raises(InputFileError, match=r"does not match.*hf_token"):
        load_sam(path)


def test_truncated_missing_and_unsafe_files(tiny, tmp_path):
    data = tiny[1].read_bytes()
    truncated = tmp_path / "truncated.pth"
    truncated.write_bytes(data[: len(data) // 2])
    with pytest.raises(InputFileError, match="truncated or corrupt") as caught:
        load_sam(truncated)
    assert caught.value.path == truncated
    garbage = tmp_path / "notes.pth"
    garbage.write_text("not a checkpoint at all")
    with pytest.raises(InputFileError, match="truncated or corrupt"):
        load_sam(garbage)
    with pytest.raises(InputFileError, match="no such file"):
        load_sam(tmp_path / "missing.pth")
    with pytest.raises(InputFileError, match="is a folder"):
        load_sam(tmp_path)
    unsafe = _save({"args": argparse.Namespace(lr=1.0), "w": torch.zeros(2)}, tmp_path / "u.pth")
    with pytest.raises(InputFileError, match="weights_only=True") as caught:
        load_sam(unsafe)
    assert caught.value.path == unsafe


def test_sam_unavailable_says_what_to_install(tiny, monkeypatch):
    assert sam_available() is None
    for name in [n for n in sys.modules if n.split(".")[0] == "segment_anything"]:
        monkeypatch.delitem(sys.modules, name)
    for name in ["torchvision", *(n for n in sys.modules if n.startswith("torchvision."))]:
        monkeypatch.setitem(sys.modules, name, None)  # as if torchvision were not installed
    reason = sam_available()
    assert reason is not None and "torchvision" in reason
    with pytest.raises(SamUnavailable, match="torchvision"):
        load_sam(tiny[1])
    monkeypatch.setitem(sys.modules, "segment_anything", None)
    assert "pip install 'liftstudio[sam]'" in sam_available()


# ---------------------------------------------------------------------------- automatic
def test_config_is_validated():
    assert SamAutoConfig() == SamAutoConfig(32, 0.88, 0.95, 100, 64, 0, 0.7)
    for bad in (
        {"points_per_side": 0},
        {"points_per_batch": 2.5},
        {"crop_n_layers": -1},
        {"min_mask_region_area": True},
        {"pred_iou_thresh": 1.5},
        {"stability_score_thresh": -0.1},
        {"box_nms_thresh": 0.0},
    ):
        with pytest.raises(ValueError, match=next(iter(bad))):
            SamAutoConfig(**bad)


def test_automatic_masks_equal_segment_anythings_generator(loaded):
    from segment_anything import SamAutomaticMaskGenerator

    image = _image()
    stack = automatic_masks(loaded, image, SamAutoConfig(**LOOSE, min_mask_region_area=0))
    pixels = np.round(image * 255).astype(np.uint8)
    records = SamAutomaticMaskGenerator(loaded.module, **LOOSE).generate(pixels)
    records = [r for r in records if r["area"] > 0]
    assert len(stack) == len(records) > 0
    for mask, score, record in zip(stack.masks, stack.scores, records, strict=True):
        assert np.array_equal(mask, record["segmentation"])
        assert score == pytest.approx(record["predicted_iou"])
    # uint8 input gives the same result
    again = automatic_masks(loaded, pixels, SamAutoConfig(**LOOSE, min_mask_region_area=0))
    assert np.array_equal(again.masks, stack.masks)


def test_automatic_masks_with_small_region_cleanup(loaded):
    image = _image()
    config = SamAutoConfig(**LOOSE, min_mask_region_area=40, box_nms_thresh=0.95)
    stack = automatic_masks(loaded, image, config)
    raw_config = SamAutoConfig(**LOOSE, box_nms_thresh=0.95, min_mask_region_area=0)
    raw = automatic_masks(loaded, image, raw_config)
    assert isinstance(stack, MaskStack) and len(stack) > 0
    assert stack.masks.dtype == bool and stack.shape == image.shape[:2]
    assert stack.scores is not None and stack.scores.dtype == np.float32
    assert stack.areas.min() >= 40
    for mask in stack.masks:
        islands, count = ndi.label(mask, structure=np.ones((3, 3)))
        assert np.bincount(islands.ravel())[1:].min() >= 40
        holes, count = ndi.label(~mask, structure=np.ones((3, 3)))
        assert count == 0 or np.bincount(holes.ravel())[1:].min() >= 40
    assert any(  # the random masks were noisy: the clean-up had work to do
        remove_small_regions(mask, 40)[1] for mask in raw.masks
    )
    expected = postprocess_small_regions(raw, 40, nms_thresh=0.95)
    assert np.array_equal(stack.masks, expected.masks)
    flat = flatten_masks(stack)
    assert flat.label_map.shape == image.shape[:2]
    assert set(flat.visible_ids()) <= set(range(1, len(stack) + 1))


def test_generate_sam_masks_reports_and_cancels(loaded):
    images = [_image(seed=0), _image(seed=1)]
    config = SamAutoConfig(**LOOSE, min_mask_region_area=0)
    steps = []
    stacks = generate_sam_masks(
        loaded, images, config, progress=lambda done, total, _: steps.append((done, total))
    )
    assert steps == [(1, 2), (2, 2)] and len(stacks) == 2
    assert np.array_equal(stacks[0].masks, automatic_masks(loaded, images[0], config).masks)

    token = CancelToken()

    def cancel_after_first(done, total, message):
        token.cancel()

    with pytest.raises(JobCancelled):
        generate_sam_masks(loaded, images, config, progress=cancel_after_first, cancel=token)

    class CancelOnSecondCheck(CancelToken):
        checks = 0

        def raise_if_cancelled(self) -> None:
            self.checks += 1
            if self.checks == 2:  # the first check inside the generator's batches
                self.cancel()
            super().raise_if_cancelled()

    token = CancelOnSecondCheck()
    with pytest.raises(JobCancelled):
        automatic_masks(loaded, images[0], config, cancel=token)
    assert token.checks == 2
    with pytest.raises(ValueError, match=r"image 1: .*in \[0, 1\]"):
        generate_sam_masks(loaded, [images[0], images[1] * 255], config)


# ---------------------------------------------------------------------------- clean-up
def test_remove_small_regions_on_a_hand_made_mask():
    mask = np.zeros((30, 40), dtype=bool)
    mask[2:22, 2:22] = True  # 400 px square...
    mask[5:7, 5:7] = False  # ...with a 4 px hole (filled)
    mask[10:18, 10:18] = False  # ...and a 64 px hole (kept)
    mask[25:28, 30:33] = True  # a 9 px island (removed)
    mask[2:6, 30:34] = True  # two 16 px blocks touching at a corner: one
    mask[6:10, 34:38] = True  # 8-connected island of 32 px (kept)
    expected = mask.copy()
    expected[5:7, 5:7] = True
    expected[25:28, 30:33] = False
    cleaned, changed = remove_small_regions(mask, 30)
    assert changed and np.array_equal(cleaned, expected)
    again, changed = remove_small_regions(expected, 30)
    assert not changed and np.array_equal(again, expected)
    # SAM also fills small background regions that touch the border
    corner = np.ones((20, 20), dtype=bool)
    corner[:2, :2] = False
    assert remove_small_regions(corner, 10)[0].all()
    # a mask of small islands only becomes empty
    specks = np.zeros((20, 20), dtype=bool)
    specks[2:4, 2:4] = specks[10:13, 10:13] = True
    cleaned, changed = remove_small_regions(specks, 10)
    assert changed and not cleaned.any()


def test_postprocess_small_regions_drops_and_deduplicates():
    base = np.zeros((30, 30), dtype=bool)
    base[5:20, 5:20] = True
    noisy = base.copy()
    noisy[25:27, 25:27] = True  # island: cleaned back to ``base``, so a duplicate
    other = np.zeros_like(base)
    other[3:12, 18:29] = True
    other[6:8, 21:23] = False  # hole: filled, changed, no duplicate of anything
    specks = np.zeros_like(base)
    specks[0:3, 0:3] = True
    stack = MaskStack(np.stack([noisy, base, other, specks]), np.array([0.99, 0.5, 0.7, 0.9]))
    result = postprocess_small_regions(stack, 20, nms_thresh=0.7)
    # the unchanged ``base`` beats the higher-scored ``noisy``; ``specks`` vanishes
    filled = other.copy()
    filled[6:8, 21:23] = True
    assert np.array_equal(result.masks, np.stack([base, filled]))
    assert result.scores.tolist() == pytest.approx([0.5, 0.7])
    # two unchanged duplicates: the higher score wins, stack order is kept
    shifted = np.roll(base, 1, axis=1)
    stack = MaskStack(np.stack([other, base, shifted]), np.array([0.1, 0.6, 0.8]))
    result = postprocess_small_regions(stack, 3, nms_thresh=0.7)
    assert np.array_equal(result.masks, np.stack([other, shifted]))
    assert postprocess_small_regions(stack, 0) is stack


# ---------------------------------------------------------------------------- prompts
def test_prompt_predictor_masks_best_first_and_embedding_reuse(loaded, monkeypatch):
    predictor = SamPromptPredictor(loaded)
    assert isinstance(predictor, MaskPredictor)
    calls = []
    real_set_image = predictor.sam_predictor.set_image

    def counting_set_image(image, *args, **kwargs):
        calls.append(image.shape)
        return real_set_image(image, *args, **kwargs)

    monkeypatch.setattr(predictor.sam_predictor, "set_image", counting_set_image)
    image = _image()
    points = np.array([[20.5, 15.5], [60.5, 30.5]], dtype=np.float32)
    labels = np.array([1, 0], dtype=np.int32)
    masks = predictor.predict(image, points, labels)
    assert masks.shape == (3, 48, 80) and masks.dtype == bool
    masks_again, scores = predictor.segment(image.copy(), points=points, labels=labels)
    assert np.array_equal(masks, masks_again)
    assert np.all(np.diff(scores) <= 0)
    predictor.predict(np.round(image * 255).astype(np.uint8), points, labels)  # same pixels
    assert len(calls) == 1
    predictor.predict(_image(seed=5), points, labels)
    predictor.predict(image, points, labels)
    assert len(calls) == 3
    boxed = predictor.predict_box(image, np.array([10.0, 8.0, 45.0, 30.0]))
    assert boxed.shape == (3, 48, 80) and len(calls) == 3
    with pytest.raises(ValueError, match="labels"):
        predictor.predict(image, points, np.array([1, 2]))
    with pytest.raises(ValueError, match=r"\(P, 2\)"):
        predictor.predict(image, points[:, :1], labels[:1])
    with pytest.raises(ValueError, match="x0 <= x1"):
        predictor.predict_box(image, [30, 0, 10, 5])


def test_prompt_predictor_sorts_segment_anythings_output(loaded):
    from segment_anything import SamPredictor

    image = _image(32, 64)  # resized ×2 exactly: the two conversions agree to the bit
    points = np.array([[12.5, 7.5], [40.5, 20.5], [3.5, 30.5]])
    labels = np.array([1, 1, 0])
    masks, scores = SamPromptPredictor(loaded).segment(image, points=points, labels=labels)
    direct = SamPredictor(loaded.module)
    direct.set_image(np.round(image * 255).astype(np.uint8))
    # SamPredictor scales then adds 0.5; our points are continuous: feed c - 0.5 / scale
    ref_masks, ref_scores, _ = direct.predict(points - 0.25, labels, multimask_output=True)
    order = np.argsort(-ref_scores, kind="stable")
    assert np.array_equal(masks, ref_masks[order])
    assert scores == pytest.approx(ref_scores[order])


def test_prompt_points_reach_sam_at_their_continuous_position(loaded, monkeypatch):
    """The prompt encoder sees point ``c`` at ``c · scale`` in the resized frame."""
    predictor = SamPromptPredictor(loaded)
    pe_layer = loaded.module.prompt_encoder.pe_layer
    seen = []
    real = pe_layer.forward_with_coords

    def spy(coords, image_size):
        seen.append(coords.clone())
        return real(coords, image_size)

    monkeypatch.setattr(pe_layer, "forward_with_coords", spy)
    image = _image(48, 80)  # resized to 77 x 128: scale 128/80 across, 77/48 down
    points = np.array([[0.5, 0.5], [79.5, 47.5], [40.0, 24.0]])
    predictor.predict(image, points, np.array([1, 1, 1]))
    scale = np.array([128 / 80, 77 / 48])
    assert seen[0][0, :3].numpy() == pytest.approx(points * scale, abs=1e-4)
    seen.clear()
    predictor.predict_box(image, np.array([0.0, 0.0, 80.0, 48.0]))
    assert seen[0][0].numpy().ravel() == pytest.approx([0, 0, 128, 77], abs=1e-4)


# ---------------------------------------------------------------------------- stand-in
@pytest.fixture
def standin(sam_imports):
    if sam_imports != "stand-in":
        pytest.skip("the real torchvision is installed: the stand-in is not used")
    import torchvision

    return torchvision


def _reference_batched_nms(boxes, scores, categories, threshold):
    """Brute force: per category, keep a box unless a kept higher-scored one overlaps it."""

    def iou(a, b):
        w = max(0.0, min(a[2], b[2]) - max(a[0], b[0]))
        h = max(0.0, min(a[3], b[3]) - max(a[1], b[1]))
        inter = w * h
        return inter / ((a[2] - a[0]) * (a[3] - a[1]) + (b[2] - b[0]) * (b[3] - b[1]) - inter)

    kept = []
    for i in sorted(range(len(boxes)), key=lambda i: -scores[i]):
        rivals = [j for j in kept if categories[j] == categories[i]]
        if all(iou(boxes[i], boxes[j]) <= threshold for j in rivals):
            kept.append(i)
    return kept


def test_standin_batched_nms_matches_brute_force(standin):
    from torchvision.ops.boxes import batched_nms, box_area

    rng = np.random.default_rng(0)
    for trial in range(6):
        count = 80
        corners = rng.uniform(0, 50, size=(count, 2))
        sizes = rng.uniform(1, 25, size=(count, 2))
        boxes = np.concatenate([corners, corners + sizes], axis=1)
        scores = rng.permutation(count).astype(np.float64) / count
        categories = rng.integers(0, 1 + trial % 3, size=count)
        for threshold in (0.2, 0.5, 0.7):
            got = batched_nms(
                torch.tensor(boxes, dtype=torch.float32),
                torch.tensor(scores, dtype=torch.float32),
                torch.tensor(categories),
                threshold,
            )
            assert got.dtype == torch.int64
            assert got.tolist() == _reference_batched_nms(boxes, scores, categories, threshold)
    areas = box_area(torch.tensor([[0.0, 0.0, 2.0, 3.0], [1.0, 1.0, 1.0, 5.0]]))
    assert areas.tolist() == [6.0, 0.0]
    assert batched_nms(torch.zeros(0, 4), torch.zeros(0), torch.zeros(0), 0.5).numel() == 0


def test_standin_resize_and_to_pil_image(standin):
    from PIL import Image
    from segment_anything.utils.transforms import ResizeLongestSide
    from torchvision.transforms.functional import resize, to_pil_image

    rng = np.random.default_rng(0)
    pixels = rng.integers(0, 256, size=(30, 50, 3), dtype=np.uint8)
    pil = to_pil_image(pixels)
    assert pil.mode == "RGB" and np.array_equal(np.asarray(pil), pixels)
    as_tensor = to_pil_image(torch.from_numpy(pixels).permute(2, 0, 1).float() / 255)
    assert np.abs(np.asarray(as_tensor).astype(int) - pixels).max() <= 1
    assert to_pil_image(pixels[:, :, 0]).mode == "L"
    resized = resize(pil, (12, 20))
    assert resized.size == (20, 12)
    expected = Image.fromarray(pixels).resize((20, 12), Image.Resampling.BILINEAR)
    assert np.array_equal(np.asarray(resized), np.asarray(expected))
    assert resize(pil, 15).size == (25, 15)  # the shorter side
    tensor = torch.from_numpy(pixels).permute(2, 0, 1).contiguous()
    small = resize(tensor, [12, 20])
    reference = torch.nn.functional.interpolate(
        tensor[None].float(), size=(12, 20), mode="bilinear", align_corners=False, antialias=True
    )[0]
    assert small.dtype == torch.uint8 and torch.equal(small, reference.round().to(torch.uint8))
    out = ResizeLongestSide(128).apply_image(pixels)
    assert out.shape == (77, 128, 3) and out.dtype == np.uint8


# ---------------------------------------------------------------------------- end to end
def test_masks_command_runs_sam_on_the_demo_scene(tiny, tmp_path, monkeypatch, capsys):
    """``liftstudio masks --source sam``: the real loading and generation path, cached."""
    import json

    from liftstudio.cli import main
    from liftstudio.evaluate.demo_scene import demo_dir
    from liftstudio.scene.discovery import open_scene
    from liftstudio.sources.label_files import read_label_maps

    monkeypatch.setenv("LIFTSTUDIO_CACHE_DIR", str(tmp_path / "cache"))
    out = tmp_path / "sam"
    args = ["masks", str(demo_dir()), "--source", "sam", "--checkpoint", str(tiny[1]),
            "--max-side", "96", "--out", str(out)]  # fmt: skip
    assert main(args) == 0, capsys.readouterr().err
    assert "24 views" in capsys.readouterr().out
    manifest = json.loads((out / "liftstudio_masks.json").read_text())
    assert manifest["source"] == "sam"
    assert manifest["settings"]["settings"]["points_per_side"] == 32
    assert manifest["settings"]["checkpoint"].startswith(str(tiny[1].resolve()))
    read = read_label_maps(out, open_scene(demo_dir()).cameras.train)
    assert read.report.matched == 24 and all(m.shape == (72, 96) for m in read.maps)
    # the second run takes the checkpoint from the settings file and loads no model:
    # every view comes from the cache
    import os

    Path(os.environ["LIFTSTUDIO_CONFIG"]).write_text(f'[sam]\ncheckpoint = "{tiny[1]}"\n')
    again = ["masks", str(demo_dir()), "--source", "sam", "--max-side", "96"]
    assert main([*again, "--out", str(tmp_path / "again")]) == 0
    assert "24 from the cache" in capsys.readouterr().out


def test_sam_prompt_loop_runs_with_the_sam_predictor(loaded):
    """The LUDVIG SAM-prompt loop drives SamPromptPredictor through a real scene."""
    from liftstudio.evaluate.demo_scene import load_demo_scene
    from liftstudio.lift.sam_prompt import SamPromptConfig, sam_prompt_loop
    from liftstudio.render.registry import resolve_backend

    scene, _ = load_demo_scene()
    cameras = [c.scaled_to(64, 48) for c in scene.train_cameras[:3]]
    backend = resolve_backend("cpu")
    images = [np.clip(backend.render(scene.gaussians, c).rgb, 0, 1) for c in cameras]
    target = np.bincount(scene.instance_ids[scene.instance_ids > 0]).argmax()
    reference = (scene.instance_ids == target).astype(np.float32)
    result = sam_prompt_loop(
        backend, scene.gaussians, cameras, images, reference, SamPromptPredictor(loaded),
        config=SamPromptConfig(draws=2, min_presence=0.0),
    )  # fmt: skip
    assert result.scores.shape == (len(scene.gaussians),)
    assert np.isfinite(result.scores).all() and 0 <= result.scores.min() <= result.scores.max() <= 1
    assert result.prompted.any()
    assert all(m.shape == (48, 64) for m in result.view_masks)


def test_a_view_where_no_mask_survives_gives_an_empty_stack(loaded):
    image = np.random.default_rng(0).random((40, 56, 3)).astype(np.float32)
    strict = SamAutoConfig(points_per_side=4, pred_iou_thresh=1.0, stability_score_thresh=1.0)
    stack = automatic_masks(loaded, image, strict)
    assert len(stack) == 0 and stack.shape == (40, 56)
    flat = flatten_masks(stack)
    assert flat.label_map.shape == (40, 56) and not flat.label_map.any()
