"""RadDino image features for FD, KD and PRDC, with CheXGenBench's preprocessing.

CheXGenBench (and UniX, which copies it) feeds RadDino as follows, and so do we:

1. ``PIL.Image.convert("RGB")``; an unreadable image becomes a black 299 x 299 image (logged);
2. ``Resize((299, 299))``: PIL bilinear, aspect ratio not kept (torchvision's Resize on a PIL image);
3. ``ToTensor`` then ``(x * 255).to(uint8)``: the cast truncates, but for 8-bit pixels x / 255 * 255 is exact
   in float32 (checked for all 256 values), so this step leaves the resized pixels unchanged;
4. the model's own image processor (rad-dino: resize shortest edge 518 bicubic, centre crop 518, rescale
   1/255, normalise mean 0.5307 std 0.2583), the PIL processor (``backend="pil"``, formerly ``use_fast=False`` as the rad-dino
   package sets; the fast one needs torchvision and may resize differently);
5. ``AutoModel`` forward; the feature is ``pooler_output`` (the CLS token after the final layer norm, 768-d).

Weights come from a local directory (config ``weights.raddino``: microsoft/rad-dino with config.json,
model weights and preprocessor_config.json). Nothing is downloaded. For the demo and tests,
`write_demo_raddino` saves a tiny randomly initialised model of the same architecture (DINOv2).
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Iterable, Sequence

import numpy as np
import torch
from PIL import Image

log = logging.getLogger(__name__)

CHEXGENBENCH_SIZE = 299
RADDINO_MEAN, RADDINO_STD = 0.5307, 0.2583


class WeightsNotFoundError(FileNotFoundError):
    """Pretrained weights are not where the config says; the message names the config key and the fix."""


def require_dir(path: str | Path, key: str, what: str, needed: Sequence[str] = ("config.json",)) -> Path:
    """`path` as a directory holding `needed`, or WeightsNotFoundError naming config `key`."""
    if not str(path):
        raise WeightsNotFoundError(f"{what}: config weights.{key} is empty; set it to a local copy of the weights")
    p = Path(path)
    missing = [n for n in needed if not (p / n).exists()]
    if not p.is_dir() or missing:
        raise WeightsNotFoundError(
            f"{what}: no weights at {p} (config weights.{key}; missing: {missing or [str(p)]}). Put a local copy "
            "there (nothing is downloaded at run time) or correct the path"
        )
    return p


def chexgenbench_pixels(images: Sequence[Image.Image | None]) -> torch.Tensor:
    """CheXGenBench's uint8 batch (B, 3, 299, 299): RGB, bilinear resize to 299 x 299, ToTensor, x255, truncate.

    ``None`` (an unreadable image) becomes black, as CheXGenBench does.
    """
    out = torch.empty((len(images), 3, CHEXGENBENCH_SIZE, CHEXGENBENCH_SIZE), dtype=torch.uint8)
    for i, img in enumerate(images):
        if img is None:
            out[i] = 0
            continue
        rgb = img.convert("RGB").resize((CHEXGENBENCH_SIZE, CHEXGENBENCH_SIZE), Image.BILINEAR)
        x = torch.from_numpy(np.asarray(rgb).copy()).permute(2, 0, 1).float().div(255)  # ToTensor
        out[i] = (x * 255).to(torch.uint8)  # truncation, as the reference (exact for 8-bit input)
    return out


def load_raddino(path: str | Path, device: str | torch.device = "cpu"):
    """(model in eval mode, image processor) from a local rad-dino directory."""
    from transformers import AutoImageProcessor, AutoModel

    p = require_dir(path, "raddino", "RadDino feature extractor", ("config.json", "preprocessor_config.json"))
    model = AutoModel.from_pretrained(p, local_files_only=True).to(device).eval()
    processor = AutoImageProcessor.from_pretrained(p, local_files_only=True, backend="pil")
    return model, processor


@torch.no_grad()
def raddino_features(
    images: Iterable[Image.Image | None],
    model: torch.nn.Module,
    processor,
    batch_size: int = 32,
) -> np.ndarray:
    """(N, D) float32 pooler features of `images` with CheXGenBench's preprocessing."""
    device = next(model.parameters()).device
    feats: list[np.ndarray] = []
    batch: list[Image.Image | None] = []

    def flush() -> None:
        pixels = chexgenbench_pixels(batch)
        inputs = processor(images=list(pixels), return_tensors="pt")
        out = model(pixel_values=inputs["pixel_values"].to(device))
        feats.append(out.pooler_output.float().cpu().numpy())
        batch.clear()

    for img in images:
        batch.append(img)
        if len(batch) == batch_size:
            flush()
    if batch:
        flush()
    if not feats:
        raise ValueError("no images to extract RadDino features from")
    return np.concatenate(feats).astype(np.float32)


def write_demo_raddino(path: str | Path, seed: int = 0, hidden_size: int = 32, image_size: int = 56,
                       initializer_range: float = 0.2) -> Path:
    """Save a tiny randomly initialised RadDino-architecture model (DINOv2, patch 14) with its processor.

    The processor has rad-dino's settings except the size (`image_size` instead of 518) so that the CPU
    demo stays fast. Its features mean nothing medically; it exists to run the pipeline end to end.
    """
    from transformers import Dinov2Config, Dinov2Model
    from transformers.models.bit.image_processing_pil_bit import BitImageProcessorPil

    torch.manual_seed(seed)
    config = Dinov2Config(hidden_size=hidden_size, num_hidden_layers=2, num_attention_heads=2, mlp_ratio=2,
                          image_size=image_size, patch_size=14, layerscale_value=1.0,
                          initializer_range=initializer_range)
    p = Path(path)
    p.mkdir(parents=True, exist_ok=True)
    Dinov2Model(config).eval().save_pretrained(p)
    BitImageProcessorPil(
        do_resize=True, size={"shortest_edge": image_size}, resample=3, do_center_crop=True,
        crop_size={"height": image_size, "width": image_size}, do_rescale=True, rescale_factor=1 / 255,
        do_normalize=True, image_mean=[RADDINO_MEAN] * 3, image_std=[RADDINO_STD] * 3, do_convert_rgb=True,
    ).save_pretrained(p)
    return p
