"""REPA: align latent-token hidden states of one decoder layer with a frozen image encoder's patch features.

As the reference (ZrH42/UniX `modeling/unix/repa_utils.py`):
- targets: the image (in [0, 1]) bicubic-resized to `repa_image_size` (224), cast to uint8 (truncating),
  then the RadDino image processor (PIL bicubic resize of the shortest edge to `repa_processor_size`,
  centre crop `repa_processor_crop`, rescale 1/255, normalise with the RadDino mean/std), then the
  encoder's `last_hidden_state` patch tokens (CLS dropped). One deviation: the reference casts without
  clamping, so bicubic overshoot below 0 or above 1 wraps around in uint8; we clamp to [0, 1] first.
- projector: MLP hidden -> hidden -> hidden -> encoder width with SiLU.
- loss: both sides L2-normalised; when the token counts differ, the model's normalised token sequence is
  resized to the target count (`repa_interpolation`, below); the loss is the mean over tokens and images
  of -<p, f>, divided once more by the batch size (the reference's `proj_loss /= bsz`).
- `repa_interpolation: 1d` (the reference) stretches the flattened h*w sequence by 1-D linear interpolation,
  which mixes the end of one latent row with the start of the next; `2d` resizes the latent grid
  bilinearly to the target patch grid, keeping rows and columns aligned (our documented alternative).
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


def processor_overrides(preprocessor_config: dict) -> dict[str, int]:
    """UniXConfig fields from a RadDino `preprocessor_config.json` (resize shortest edge, centre crop)."""
    out: dict[str, int] = {}
    size = preprocessor_config.get("size") or {}
    if "shortest_edge" in size:
        out["repa_processor_size"] = int(size["shortest_edge"])
    crop = preprocessor_config.get("crop_size") or {}
    if "height" in crop:
        if crop.get("width", crop["height"]) != crop["height"]:
            raise ValueError(f"RadDino preprocessor_config.json: crop_size {crop} is not square")
        out["repa_processor_crop"] = int(crop["height"])
    return out


def _processor(config: UniXConfig):
    from transformers.models.bit.image_processing_pil_bit import BitImageProcessorPil

    return BitImageProcessorPil(
        do_resize=True, size={"shortest_edge": config.repa_processor_size}, resample=3, do_center_crop=True,
        crop_size={"height": config.repa_processor_crop, "width": config.repa_processor_crop}, do_rescale=True,
        rescale_factor=1 / 255, do_normalize=True, image_mean=list(config.repa_encoder_mean),
        image_std=list(config.repa_encoder_std), do_convert_rgb=True)


class RepaProjector(nn.Module):
    def __init__(self, hidden: int, target_dim: int) -> None:
        super().__init__()
        self.mlp = nn.Sequential(nn.Linear(hidden, hidden), nn.SiLU(), nn.Linear(hidden, hidden), nn.SiLU(),
                                 nn.Linear(hidden, target_dim))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.mlp(x)


def encoder_inputs(images_BCHW: torch.Tensor, config: UniXConfig) -> torch.Tensor:
    """Images in [-1, 1] -> RadDino pixel values: bicubic to repa_image_size, uint8, the RadDino processor."""
    from PIL import Image

    size = config.repa_image_size
    x = F.interpolate(((images_BCHW.float() + 1) / 2), size=(size, size), mode="bicubic", align_corners=False)
    u8 = (x.clamp(0, 1) * 255).to(torch.uint8).permute(0, 2, 3, 1).cpu().numpy()
    pil = [Image.fromarray(a, mode="RGB") for a in u8]
    return _processor(config)(images=pil, return_tensors="pt")["pixel_values"]


@torch.no_grad()
def encoder_targets(encoder: nn.Module, images_BCHW: torch.Tensor, config: UniXConfig) -> torch.Tensor:
    """RadDino patch features (B, N_target, C) of images in [-1, 1] (CLS dropped)."""
    pixels = encoder_inputs(images_BCHW, config)
    ref = next(encoder.parameters())
    return encoder(pixel_values=pixels.to(ref.device, ref.dtype)).last_hidden_state[:, 1:]


def _resize_tokens(tokens_BNC: torch.Tensor, n_target: int, interpolation: str) -> torch.Tensor:
    B, N, C = tokens_BNC.shape
    if interpolation == "1d":
        return F.interpolate(tokens_BNC.transpose(1, 2), size=n_target, mode="linear",
                             align_corners=False).transpose(1, 2)
    side, target_side = int(round(N**0.5)), int(round(n_target**0.5))
    if side * side != N or target_side * target_side != n_target:
        raise ValueError(f"repa_interpolation '2d' needs square grids; got {N} latent and {n_target} target tokens")
    grid = tokens_BNC.transpose(1, 2).reshape(B, C, side, side)
    grid = F.interpolate(grid, size=(target_side, target_side), mode="bilinear", align_corners=False)
    return grid.flatten(2).transpose(1, 2)


def repa_loss(projected_BNC: torch.Tensor, targets_BMC: torch.Tensor, interpolation: str = "1d") -> torch.Tensor:
    """mean over images and target tokens of -<normalise(proj) resized, normalise(target)>, divided by B."""
    p = F.normalize(projected_BNC.float(), dim=-1)
    f = F.normalize(targets_BMC.float(), dim=-1)
    if p.shape[1] != f.shape[1]:
        p = _resize_tokens(p, f.shape[1], interpolation)
    return -(p * f).sum(dim=-1).mean() / projected_BNC.shape[0]
