"""Understanding-branch image path: SigLIP vision encoder (transformers) and the connector MLP."""

from __future__ import annotations

from types import SimpleNamespace

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


# SiglipVisionConfig's defaults, for the keys a config's `vision` may leave out
_SIGLIP_DEFAULTS = dict(hidden_size=768, intermediate_size=3072, num_hidden_layers=12, num_attention_heads=12,
                        num_channels=3, image_size=224, patch_size=16, hidden_act="gelu_pytorch_tanh",
                        layer_norm_eps=1e-6)
_GELU_APPROXIMATE = {"gelu": "none", "gelu_pytorch_tanh": "tanh"}


class _SiglipLayer(nn.Module):
    def __init__(self, D: int, inner: int, heads: int, eps: float, approximate: str) -> None:
        super().__init__()
        self.heads, self.approximate = heads, approximate
        self.layer_norm1, self.layer_norm2 = nn.LayerNorm(D, eps=eps), nn.LayerNorm(D, eps=eps)
        self.self_attn = nn.Module()
        for name in ("q_proj", "k_proj", "v_proj", "out_proj"):
            setattr(self.self_attn, name, nn.Linear(D, D))
        self.mlp = nn.Module()
        self.mlp.fc1, self.mlp.fc2 = nn.Linear(D, inner), nn.Linear(inner, D)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        B, L, D = x.shape
        h = self.layer_norm1(x)
        a = self.self_attn

        def heads(t: torch.Tensor) -> torch.Tensor:
            return t.view(B, L, self.heads, D // self.heads).transpose(1, 2)

        o = F.scaled_dot_product_attention(heads(a.q_proj(h)), heads(a.k_proj(h)), heads(a.v_proj(h)))
        x = x + a.out_proj(o.transpose(1, 2).reshape(B, L, D))
        return x + self.mlp.fc2(F.gelu(self.mlp.fc1(self.layer_norm2(x)), approximate=self.approximate))


class LightSiglip(nn.Module):
    """SigLIP's vision tower without transformers, for inference: the same parameter names as
    `SiglipVisionModel` (without its pooling head), so it loads the same weights, and the same output
    (`last_hidden_state`, after the final LayerNorm; tested against transformers'). It exists because
    importing transformers' modelling code costs seconds at every `unix report`; training and `init_model`
    keep transformers' class (and its weight initialisation)."""

    def __init__(self, vision: dict) -> None:
        super().__init__()
        c = {**_SIGLIP_DEFAULTS, **vision}
        if c["hidden_act"] not in _GELU_APPROXIMATE:
            raise ValueError(f"SigLIP hidden_act {c['hidden_act']!r} is not one of {sorted(_GELU_APPROXIMATE)} "
                             "(config model vision.hidden_act)")
        D, n = c["hidden_size"], (c["image_size"] // c["patch_size"]) ** 2
        emb = self.embeddings = nn.Module()
        emb.patch_embedding = nn.Conv2d(c["num_channels"], D, c["patch_size"], stride=c["patch_size"])
        emb.position_embedding = nn.Embedding(n, D)
        self.encoder = nn.Module()
        self.encoder.layers = nn.ModuleList(
            _SiglipLayer(D, c["intermediate_size"], c["num_attention_heads"], c["layer_norm_eps"],
                         _GELU_APPROXIMATE[c["hidden_act"]]) for _ in range(c["num_hidden_layers"]))
        self.post_layernorm = nn.LayerNorm(D, eps=c["layer_norm_eps"])

    def forward(self, pixel_values: torch.Tensor) -> SimpleNamespace:
        emb = self.embeddings
        patches = emb.patch_embedding(pixel_values.to(emb.patch_embedding.weight.dtype))
        x = patches.flatten(2).transpose(1, 2) + emb.position_embedding.weight
        for layer in self.encoder.layers:
            x = layer(x)
        return SimpleNamespace(last_hidden_state=self.post_layernorm(x))


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
