"""REPA: align latent-token hidden states of one decoder layer with a frozen image encoder's patch features.

The target encoder is RadDino (a DINOv2 ViT-B/14, transformers `Dinov2Model`); its `last_hidden_state`
patch tokens (CLS dropped) of the image, bicubic-resized and normalised with the RadDino processor's
mean/std, are the targets. The projector is an MLP hidden -> hidden -> hidden -> encoder width with
SiLU. Loss = mean over tokens of -cos(proj(h), f) (the reference's extra 1/batch factor is not kept).
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from unix.model.config import UniXConfig


def build_repa_encoder(config: UniXConfig) -> nn.Module:
    from transformers import Dinov2Config, Dinov2Model

    encoder = Dinov2Model(Dinov2Config(**config.repa_encoder))
    encoder.requires_grad_(False)
    return encoder


class RepaProjector(nn.Module):
    def __init__(self, hidden: int, target_dim: int) -> None:
        super().__init__()
        self.mlp = nn.Sequential(nn.Linear(hidden, hidden), nn.SiLU(), nn.Linear(hidden, hidden), nn.SiLU(),
                                 nn.Linear(hidden, target_dim))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.mlp(x)


@torch.no_grad()
def encoder_targets(encoder: nn.Module, images_BCHW: torch.Tensor, config: UniXConfig,
                    grid_hw: tuple[int, int]) -> torch.Tensor:
    """Patch features (B, h*w, C) of images in [-1, 1], resampled to the latent grid when it differs."""
    size = config.repa_image_size
    x = F.interpolate(images_BCHW.float(), size=(size, size), mode="bicubic", align_corners=False)
    x = ((x + 1) / 2).clamp(0, 1)
    mean = torch.tensor(config.repa_encoder_mean, device=x.device).view(1, 3, 1, 1)
    std = torch.tensor(config.repa_encoder_std, device=x.device).view(1, 3, 1, 1)
    feats = encoder(pixel_values=(x - mean) / std).last_hidden_state[:, 1:]
    B, N, C = feats.shape
    side = int(round(N**0.5))
    assert side * side == N, "REPA encoder features are not a square patch grid"
    if (side, side) != tuple(grid_hw):
        # The reference interpolates the flattened sequence in 1-D; a 2-D resize keeps rows and columns aligned.
        grid = feats.transpose(1, 2).reshape(B, C, side, side)
        feats = F.interpolate(grid, size=grid_hw, mode="bilinear", align_corners=False).flatten(2).transpose(1, 2)
    return feats


def repa_loss(projected_BNC: torch.Tensor, targets_BNC: torch.Tensor) -> torch.Tensor:
    """Mean negative cosine similarity over all latent tokens."""
    return -F.cosine_similarity(projected_BNC.float(), targets_BNC.float(), dim=-1).mean()
