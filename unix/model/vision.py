"""Understanding-branch image path: SigLIP vision encoder (transformers) and the connector MLP."""

from __future__ import annotations

import numpy as np
import torch
import torch.nn.functional as F
from PIL import Image
from torch import nn

from unix.model.config import UniXConfig


def build_siglip(config: UniXConfig) -> nn.Module:
    """transformers' `SiglipVisionModel` without the pooling head; its `last_hidden_state` (after the
    final LayerNorm) equals Janus's timm `forward_features` with select_layer -1 (exact GELU: the presets
    set `hidden_act='gelu'`, since transformers' SigLIP default is the tanh approximation)."""
    from transformers import SiglipVisionConfig, SiglipVisionModel

    return SiglipVisionModel(SiglipVisionConfig(**{"vision_use_head": False, **config.vision}))


CONNECTOR_ACTIVATIONS = ("upstream", "gelu", "gelu_tanh")


class Connector(nn.Module):
    """Linear(vision -> hidden), GELU, Linear(hidden -> hidden) (Janus MlpProjector, depth 2).

    activation (config `connector_act`):
      upstream   UniX's behaviour, the default: exact GELU while training (Janus's MlpProjector, which the
                 checkpoint's `connector.layers.0/2` come from) and the tanh approximation in eval mode
                 (the reference inference code loads them into `MLPconnector(..., 'gelu_pytorch_tanh')`);
      gelu       exact GELU always (training and inference agree);
      gelu_tanh  the tanh approximation always.
    """

    def __init__(self, vision_dim: int, hidden: int, activation: str = "upstream") -> None:
        super().__init__()
        if activation not in CONNECTOR_ACTIVATIONS:
            raise ValueError(f"connector activation {activation!r} is not one of {CONNECTOR_ACTIVATIONS} "
                             "(config model.connector_act)")
        self.activation = activation
        self.fc1 = nn.Linear(vision_dim, hidden)
        self.fc2 = nn.Linear(hidden, hidden)

    def approximate(self) -> str:
        """The `approximate` argument of GELU now: 'none' (exact) or 'tanh'."""
        if self.activation == "upstream":
            return "none" if self.training else "tanh"
        return "none" if self.activation == "gelu" else "tanh"

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.fc2(F.gelu(self.fc1(x), approximate=self.approximate()))


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
