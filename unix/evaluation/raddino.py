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
`unix.model.demo_weights.write_demo_raddino` saves a tiny randomly initialised model of the same
architecture (DINOv2).
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Iterable, Sequence

import numpy as np
import torch
from PIL import Image

from unix.weights import require_dir

log = logging.getLogger(__name__)

CHEXGENBENCH_SIZE = 299


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

