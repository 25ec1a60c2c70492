"""Tiny randomly initialised stand-ins for RadDino and the KL-f16 VAE, in their real formats, so the demo
runs offline. They have the real architectures (DINOv2 ViT / AutoencoderKL with 16 latent channels and
16x downsampling) at toy widths; they carry no pretrained knowledge."""

from __future__ import annotations

import json
from pathlib import Path

import torch

from unix.model.config import UniXConfig

RADDINO_MEAN = [0.5307, 0.5307, 0.5307]  # microsoft/rad-dino preprocessor_config.json
RADDINO_STD = [0.2583, 0.2583, 0.2583]


def write_demo_raddino(out_dir: str | Path, seed: int = 0) -> None:
    from transformers import Dinov2Config, Dinov2Model

    torch.manual_seed(seed)
    out_dir = Path(out_dir)
    Dinov2Model(Dinov2Config(**UniXConfig.from_name("tiny").repa_encoder)).save_pretrained(str(out_dir))
    (out_dir / "preprocessor_config.json").write_text(json.dumps(
        {"image_processor_type": "BitImageProcessor", "image_mean": RADDINO_MEAN, "image_std": RADDINO_STD,
         "do_normalize": True, "do_resize": True, "size": {"shortest_edge": 518}, "crop_size": {"height": 518, "width": 518}},
        indent=2))


def write_demo_vae(out_dir: str | Path, seed: int = 0) -> None:
    from diffusers import AutoencoderKL

    torch.manual_seed(seed)
    cfg = UniXConfig.from_name("tiny")
    kwargs = {k: tuple(v) if isinstance(v, list) else v for k, v in cfg.vae.items()}
    AutoencoderKL(**kwargs).save_pretrained(str(out_dir))


def write_demo_weights(outputs: dict[str, str], seed: int = 0) -> dict[str, object]:
    """Write the stand-ins named in `outputs` (keys `raddino`, `vae`)."""
    writers = {"raddino": write_demo_raddino, "vae": write_demo_vae}
    for name, path in outputs.items():
        writers[name](path, seed)
    return {"demo_weights": sorted(outputs), "note": "random initialisation; not pretrained"}
