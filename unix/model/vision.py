"""Understanding-branch image path: SigLIP vision encoder (transformers) and the connector MLP."""

from __future__ import annotations

import numpy as np
import torch
from PIL import Image
from torch import nn

from unix.model.config import UniXConfig


def build_siglip(config: UniXConfig) -> nn.Module:
    """transformers' `SiglipVisionModel` without the pooling head; its `last_hidden_state` (after the
    final LayerNorm) equals Janus's timm `forward_features` with select_layer -1."""
    from transformers import SiglipVisionConfig, SiglipVisionModel

    return SiglipVisionModel(SiglipVisionConfig(**{"vision_use_head": False, **config.vision}))


class Connector(nn.Module):
    """Linear(vision -> hidden), GELU, Linear(hidden -> hidden) (Janus MlpProjector, depth 2).

    Exact GELU, as in training; the reference inference code swaps in the tanh approximation.
    """

    def __init__(self, vision_dim: int, hidden: int) -> None:
        super().__init__()
        self.fc1 = nn.Linear(vision_dim, hidden)
        self.act = nn.GELU()
        self.fc2 = nn.Linear(hidden, hidden)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.fc2(self.act(self.fc1(x)))


def preprocess_understanding_images(images: list[Image.Image], config: UniXConfig) -> torch.Tensor:
    """PIL images -> SigLIP pixel values (B, 3, S, S).

    As in the reference evaluation: LANCZOS thumbnail to S x S keeping the aspect ratio, pasted centred
    on a white canvas, then normalised with UniX's SigLIP mean/std.
    """
    size = config.understanding_image_size
    out = []
    for image in images:
        image = image.convert("RGB")
        image.thumbnail((size, size), Image.LANCZOS)
        canvas = Image.new("RGB", (size, size), (255, 255, 255))
        canvas.paste(image, ((size - image.width) // 2, (size - image.height) // 2))
        array = np.asarray(canvas, dtype=np.float32) / 255.0
        out.append(torch.from_numpy(array).permute(2, 0, 1))
    pixels = torch.stack(out)
    return (pixels - config.image_mean) / config.image_std
