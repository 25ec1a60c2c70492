"""Tiny randomly initialised stand-ins for RadDino and the KL-f16 VAE, in their real formats, so the demo
runs offline. They have the real architectures (DINOv2 ViT / AutoencoderKL with 16 latent channels and
16x downsampling) at toy widths; they carry no pretrained knowledge. The RadDino stand-in also serves the
evaluation's tests (`unix.evaluation.raddino` loads it like the real rad-dino)."""

from __future__ import annotations

from pathlib import Path

import torch

from unix.model.config import UniXConfig


# rad-dino's image normalisation (its preprocessor_config.json), kept in the stand-in's processor.
RADDINO_MEAN, RADDINO_STD = 0.5307, 0.2583


def write_demo_raddino(path: str | Path, seed: int = 0, hidden_size: int | None = None, image_size: int | None = None,
                       initializer_range: float = 0.2) -> Path:
    """Save a tiny randomly initialised RadDino-architecture model (DINOv2, patch 14) with its processor.

    One stand-in serves as the REPA target of the tiny UniX config and as the evaluation's feature extractor
    (`unix.evaluation.raddino`). Widths default to the tiny config's `repa_encoder` (hidden 32, images 56).
    The processor has rad-dino's settings except the size (`image_size` instead of 518) so that the CPU
    demo stays fast. Its features mean nothing medically; it exists to run the pipeline end to end.
    """
    from transformers import Dinov2Config, Dinov2Model
    from transformers.models.bit.image_processing_pil_bit import BitImageProcessorPil

    enc = UniXConfig.from_name("tiny").repa_encoder
    hidden_size = enc["hidden_size"] if hidden_size is None else hidden_size
    image_size = enc["image_size"] if image_size is None else image_size
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
