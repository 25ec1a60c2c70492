"""Tiny randomly initialised stand-ins for RadDino and the KL-f16 VAE, in their real formats, so the demo
runs offline. They have the real architectures (DINOv2 ViT / AutoencoderKL with 16 latent channels and
16x downsampling) at toy widths; they carry no pretrained knowledge."""

from __future__ import annotations

from pathlib import Path

import torch

from unix.model.config import UniXConfig


def write_demo_raddino(out_dir: str | Path, seed: int = 0) -> None:
    """The tiny RadDino of the tiny UniX config (REPA target and evaluation features), written by the
    evaluation package's writer so the demo and the metric tests share one stand-in."""
    from unix.evaluation.raddino import write_demo_raddino as write

    enc = UniXConfig.from_name("tiny").repa_encoder
    write(out_dir, seed=seed, hidden_size=enc["hidden_size"], image_size=enc["image_size"])


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
