"""Training the demo's tiny KL VAE (used only when config `weights.vae` is empty).

The real VAE (KL-f16, 16 latent channels) is pretrained; the demo has none, and a random VAE decodes every
latent to grey noise, so nothing the generation branch learns would show. This module trains the tiny
`AutoencoderKL` of the `tiny` model config on the synthetic training images for a fixed budget: pixel MSE
plus a small KL term (latent-diffusion's first stage without its perceptual and adversarial losses), at
each of the configured resolutions in turn.

Latent normalisation: UniX feeds the flow model z' = vae_scale * (z + vae_shift) with the real VAE's
constants (config `model.vae_shift`, `model.vae_scale`). After training, :func:`calibrate_latents` measures
the demo VAE's own per-channel latent mean and standard deviation on the training images and folds an affine
map into its `quant_conv` / `post_quant_conv`, so that with the unchanged upstream constants the normalised
latents have mean 0 and standard deviation 1 per channel. The config keeps upstream's values and the model
code stays the same for the real and the demo VAE; the measured statistics go into the summary.
"""

from __future__ import annotations

import logging
import math
import time
from pathlib import Path
from typing import Any, Sequence

import numpy as np
import torch
from torch import nn

log = logging.getLogger(__name__)


def load_split_images(split_path: str | Path, shard_paths: Sequence[str | Path], split: str,
                      resolution: int, limit: int = 0) -> torch.Tensor:
    """The `split` rows' images of the generation split table, (N, 3, R, R) in [-1, 1] (BICUBIC resize)."""
    import pandas as pd

    from unix.training.data import ImageStore, image_to_tensor

    table = pd.read_parquet(split_path, columns=["dicom_id", "split"])
    ids = [str(d) for d in table.loc[table["split"] == split, "dicom_id"]]
    store = ImageStore(shard_paths)
    ids = [d for d in ids if d in store]
    if limit:
        ids = ids[:limit]
    if not ids:
        raise ValueError(f"no {split} images of {split_path} are in the prepared shards "
                         f"{[str(p) for p in shard_paths]}; run prepare_images")
    return torch.stack([image_to_tensor(store.get(d), resolution) * 2 - 1 for d in ids])


def kl_loss(posterior) -> torch.Tensor:
    """Mean KL(q(z|x) || N(0, I)) per latent element."""
    mean, logvar = posterior.mean, posterior.logvar
    return 0.5 * (mean.pow(2) + logvar.exp() - 1.0 - logvar).mean()


def train_vae(vae: nn.Module, images: dict[int, torch.Tensor], steps: int, batch_size: int, lr: float,
              kl_weight: float, seed: int) -> list[dict[str, float]]:
    """Train `vae` in place: step i uses the resolution `sorted(images)[i % len(images)]`, a random batch
    of it, loss = MSE(x, decode(sample z)) + kl_weight * KL, AdamW with a cosine decay to lr / 10."""
    g = torch.Generator().manual_seed(seed)
    torch.manual_seed(seed)
    vae.requires_grad_(True)
    vae.train()
    opt = torch.optim.AdamW(vae.parameters(), lr=lr, weight_decay=0.0)
    sizes = sorted(images)
    rows = []
    for step in range(steps):
        for group in opt.param_groups:
            group["lr"] = lr * (0.1 + 0.9 * 0.5 * (1 + math.cos(math.pi * step / max(1, steps))))
        pool = images[sizes[step % len(sizes)]]
        x = pool[torch.randint(len(pool), (min(batch_size, len(pool)),), generator=g)]
        posterior = vae.encode(x).latent_dist
        recon = vae.decode(posterior.sample(generator=g)).sample
        mse = (recon - x).pow(2).mean()
        kl = kl_loss(posterior)
        loss = mse + kl_weight * kl
        opt.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(vae.parameters(), 1.0)
        opt.step()
        rows.append({"step": step + 1, "mse": mse.item(), "kl": kl.item(), "resolution": x.shape[-1]})
    vae.eval()
    vae.requires_grad_(False)
    return rows


@torch.no_grad()
def reconstruction_psnr(vae: nn.Module, images: torch.Tensor, batch_size: int = 32) -> float:
    """Mean PSNR (dB, peak-to-peak 2 of [-1, 1] images) of decode(posterior mode) against the input."""
    values = []
    for i in range(0, len(images), batch_size):
        x = images[i:i + batch_size]
        recon = vae.decode(vae.encode(x).latent_dist.mode()).sample.clamp(-1, 1)
        mse = (recon - x).pow(2).flatten(1).mean(1).clamp_min(1e-10)
        values.extend((10 * torch.log10(4.0 / mse)).tolist())
    return float(np.mean(values))


@torch.no_grad()
def calibrate_latents(vae: nn.Module, images: torch.Tensor, shift: float, scale: float) -> dict[str, Any]:
    """Fold a per-channel affine map into the VAE so that scale * (z + shift) is standardised.

    With m, s the per-channel mean and standard deviation of posterior samples on `images` (UniX encodes by
    sampling; s^2 = variance of the posterior means + mean posterior variance), the new
    latents are z_new = a z + b with a = 1 / (s * scale), b = -a m - shift; `quant_conv` (posterior mean
    and log-variance) and `post_quant_conv` (which must see the old z = (z_new - b) / a) absorb the map, so
    reconstructions are unchanged.
    """
    dist = vae.encode(images).latent_dist
    mean = dist.mean.mean(dim=(0, 2, 3))
    std = (dist.mean.var(dim=(0, 2, 3)) + dist.var.mean(dim=(0, 2, 3))).sqrt().clamp_min(1e-6)
    a = 1.0 / (std * scale)
    b = -a * mean - shift
    channels = mean.numel()
    qc, pqc = vae.quant_conv, vae.post_quant_conv
    qc.weight[:channels] *= a[:, None, None, None]
    qc.bias[:channels] = qc.bias[:channels] * a + b
    qc.bias[channels:] += 2 * torch.log(a)  # logvar of a z + b = logvar(z) + 2 log a
    pqc.bias -= (pqc.weight * (b / a)[None, :, None, None]).sum(dim=(1, 2, 3))
    pqc.weight /= a[None, :, None, None]
    return {"latent_mean_before": [round(float(v), 4) for v in mean],
            "latent_std_before": [round(float(v), 4) for v in std]}


def build_tiny_vae(seed: int) -> nn.Module:
    """The `tiny` model config's AutoencoderKL (real architecture, toy widths), seeded."""
    from diffusers import AutoencoderKL

    from unix.model.config import UniXConfig

    torch.manual_seed(seed)
    kwargs = {k: tuple(v) if isinstance(v, list) else v for k, v in UniXConfig.from_name("tiny").vae.items()}
    return AutoencoderKL(**kwargs)


def write_trained_demo_vae(out_dir: str | Path, split_path: str | Path, shard_paths: Sequence[str | Path],
                           settings: dict[str, Any], vae_shift: float, vae_scale: float, seed: int = 0
                           ) -> dict[str, Any]:
    """Train the tiny VAE on the generation split's train images, calibrate it to (vae_shift, vae_scale),
    write it as a diffusers directory and return the summary (PSNR on test images before and after)."""
    start = time.process_time()
    torch.set_num_threads(max(1, torch.get_num_threads()))
    sizes = [int(r) for r in settings["resolutions"]]
    train = {r: load_split_images(split_path, shard_paths, "train", r) for r in sizes}
    test = {r: load_split_images(split_path, shard_paths, "test", r, limit=int(settings["eval_images"]))
            for r in sizes}
    vae = build_tiny_vae(seed)
    vae.eval()
    before = {r: reconstruction_psnr(vae, x) for r, x in test.items()}
    rows = train_vae(vae, train, steps=int(settings["steps"]), batch_size=int(settings["batch_size"]),
                     lr=float(settings["lr"]), kl_weight=float(settings["kl_weight"]), seed=seed)
    after = {r: reconstruction_psnr(vae, x) for r, x in test.items()}
    stats = calibrate_latents(vae, train[sizes[0]], vae_shift, vae_scale)
    calibrated = {r: reconstruction_psnr(vae, x) for r, x in test.items()}
    vae.save_pretrained(str(out_dir))
    summary = {
        "demo_vae": "trained on the synthetic training images (config training.demo_vae)",
        "settings": dict(settings), "train_images": len(train[sizes[0]]), "test_images": len(test[sizes[0]]),
        "psnr_test_db": {str(r): round(v, 2) for r, v in calibrated.items()},
        "psnr_test_db_random_init": {str(r): round(v, 2) for r, v in before.items()},
        "psnr_test_db_before_calibration": {str(r): round(v, 2) for r, v in after.items()},
        "final_mse": round(float(np.mean([r["mse"] for r in rows[-10:]])), 5),
        "latent_normalisation": (f"per-channel mean/std folded into the VAE so that {vae_scale} * (z + "
                                 f"{vae_shift}) (config model.vae_scale, vae_shift) is standardised"),
        **stats, "cpu_seconds": round(time.process_time() - start, 1),
    }
    log.info("demo VAE: test PSNR %s dB (random init %s dB)", summary["psnr_test_db"],
             summary["psnr_test_db_random_init"])
    return summary
