"""The demo VAE (unix.training.demo_vae): training lowers the reconstruction error, and the latent
calibration standardises UniX's normalised latents without changing reconstructions."""

from __future__ import annotations

import torch

from unix.training.demo_vae import build_tiny_vae, calibrate_latents, reconstruction_psnr, train_vae


def _images(n: int, size: int) -> torch.Tensor:
    """Smooth synthetic 'radiographs': a bright vertical band on a dark body outline, with noise."""
    g = torch.Generator().manual_seed(1)
    y, x = torch.meshgrid(torch.linspace(-1, 1, size), torch.linspace(-1, 1, size), indexing="ij")
    out = []
    for _ in range(n):
        w = 0.1 + 0.1 * torch.rand((), generator=g)
        img = -0.8 + 0.8 * (x.abs() < 0.7).float() + 0.8 * (x.abs() < w).float() - 0.5 * (y > 0.6).float()
        out.append((img + 0.05 * torch.randn(size, size, generator=g)).clamp(-1, 1).expand(3, -1, -1))
    return torch.stack(out)


def test_training_raises_reconstruction_psnr():
    images = {32: _images(16, 32)}
    vae = build_tiny_vae(seed=0).eval()
    before = reconstruction_psnr(vae, images[32])
    rows = train_vae(vae, images, steps=40, batch_size=8, lr=3e-3, kl_weight=1e-4, seed=0)
    after = reconstruction_psnr(vae, images[32])
    assert rows[-1]["mse"] < rows[0]["mse"]
    assert after > before + 5, (before, after)
    assert not any(p.requires_grad for p in vae.parameters())


def test_calibration_standardises_latents_and_keeps_reconstructions():
    images = _images(16, 32)
    vae = build_tiny_vae(seed=0).eval()
    train_vae(vae, {32: images}, steps=10, batch_size=8, lr=3e-3, kl_weight=1e-4, seed=0)
    before = reconstruction_psnr(vae, images)
    stats = calibrate_latents(vae, images, shift=0.201906, scale=0.238092)
    assert len(stats["latent_mean_before"]) == 16
    assert abs(reconstruction_psnr(vae, images) - before) < 1e-3
    with torch.no_grad():
        dist = vae.encode(images).latent_dist
    # normalised latents z' = 0.238092 * (z + 0.201906): posterior means centred, sample variance 1 per channel
    mean = 0.238092 * (dist.mean + 0.201906)
    variance = mean.var(dim=(0, 2, 3)) + (0.238092**2 * dist.var).mean(dim=(0, 2, 3))
    assert mean.mean(dim=(0, 2, 3)).abs().max() < 1e-4
    assert ((variance - 1).abs() < 1e-3).all(), variance
