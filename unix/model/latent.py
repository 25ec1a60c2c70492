"""Generation-branch latent space: the frozen VAE with UniX's shift/scale, latent <-> hidden projections,
2-D sin-cos latent positions and the timestep embedder."""

from __future__ import annotations

import math

import numpy as np
import torch
from torch import nn

from unix.model.config import UniXConfig


def build_vae(config: UniXConfig) -> nn.Module:
    """A diffusers `AutoencoderKL` of the configured architecture (random weights until loaded)."""
    from diffusers import AutoencoderKL

    kwargs = dict(config.vae)
    for key in ("block_out_channels", "down_block_types", "up_block_types"):
        kwargs[key] = tuple(kwargs[key])
    vae = AutoencoderKL(**kwargs)
    vae.requires_grad_(False)
    return vae


def vae_encode(vae: nn.Module, images_BCHW: torch.Tensor, config: UniXConfig,
               generator: torch.Generator | None = None, sample: bool = True) -> torch.Tensor:
    """Images in [-1, 1] -> normalised latents z' = scale * (z + shift), z drawn from the posterior."""
    dist = vae.encode(images_BCHW).latent_dist
    z = dist.sample(generator=generator) if sample else dist.mode()
    return config.vae_scale * (z + config.vae_shift)


def vae_decode(vae: nn.Module, latents: torch.Tensor, config: UniXConfig) -> torch.Tensor:
    """Normalised latents -> images in [-1, 1] (clamped)."""
    z = latents / config.vae_scale - config.vae_shift
    return vae.decode(z).sample.clamp(-1, 1)


def sincos_2d(embed_dim: int, grid: int) -> torch.Tensor:
    """Fixed 2-D sin-cos table (grid*grid, D) of MAE/DiT, as UniX's `get_2d_sincos_pos_embed`; row id = r * grid + c.

    As in the reference, the first half of the channels encodes the column (w) coordinate and the second
    half the row (h), each as [sin | cos] over D/4 frequencies 1 / 10000^(i / (D/4)). A value depends only
    on (r, c), so growing the grid (Stage 3) keeps the existing positions' embeddings unchanged.
    """
    assert embed_dim % 4 == 0, "latent position embedding needs hidden_size % 4 == 0"

    def one_d(dim: int, pos: np.ndarray) -> np.ndarray:
        omega = 1.0 / 10000 ** (np.arange(dim // 2, dtype=np.float64) / (dim / 2.0))
        out = np.einsum("m,d->md", pos.reshape(-1), omega)
        return np.concatenate([np.sin(out), np.cos(out)], axis=1)

    rows, cols = np.meshgrid(np.arange(grid, dtype=np.float64), np.arange(grid, dtype=np.float64), indexing="ij")
    emb = np.concatenate([one_d(embed_dim // 2, cols), one_d(embed_dim // 2, rows)], axis=1)
    return torch.from_numpy(emb).float()


def timestep_features(t_B: torch.Tensor, dim: int, max_period: float = 10000.0) -> torch.Tensor:
    """DiT sinusoid [cos | sin] of raw t in [0, 1] (not scaled by 1000, as in UniX)."""
    half = dim // 2
    freqs = torch.exp(-math.log(max_period) * torch.arange(half, dtype=torch.float32, device=t_B.device) / half)
    args = t_B.float()[:, None] * freqs[None]
    return torch.cat([torch.cos(args), torch.sin(args)], dim=-1)


class TimestepEmbedder(nn.Module):
    """Sinusoidal features -> Linear -> SiLU -> Linear."""

    def __init__(self, hidden: int, freq_dim: int = 256) -> None:
        super().__init__()
        self.freq_dim = freq_dim
        self.mlp = nn.Sequential(nn.Linear(freq_dim, hidden), nn.SiLU(), nn.Linear(hidden, hidden))

    def forward(self, t_B: torch.Tensor) -> torch.Tensor:
        return self.mlp(timestep_features(t_B, self.freq_dim).to(self.mlp[0].weight.dtype))


class LatentHeads(nn.Module):
    """Input embedding of latent tokens (vae2llm(x_t) + t_emb + pos) and the velocity head llm2vae."""

    def __init__(self, config: UniXConfig) -> None:
        super().__init__()
        self.patch = config.latent_patch_size
        dim = config.latent_channels * self.patch**2
        self.max_latent_size = config.max_latent_size
        self.vae2llm = nn.Linear(dim, config.hidden_size)
        self.llm2vae = nn.Linear(config.hidden_size, dim)
        nn.init.zeros_(self.llm2vae.weight)  # start as the zero velocity (UniX/BAGEL init)
        nn.init.zeros_(self.llm2vae.bias)
        self.time_embedder = TimestepEmbedder(config.hidden_size, config.timestep_freq_dim)
        # Saved with the model: the released checkpoint's table (`latent_pos_embed.pos_embed`) is loaded into
        # it, so a model started from the release keeps exactly the positions the release was trained with.
        self.register_buffer("pos_table", sincos_2d(config.hidden_size, config.max_latent_size))

    def extend(self, grid: int) -> None:
        """Grow the position table to grid x grid (never shrinks); the existing rows keep their values."""
        if grid > self.max_latent_size:
            old, old_grid = self.pos_table, self.max_latent_size
            table = sincos_2d(self.vae2llm.out_features, grid).to(old.device, old.dtype)
            table.view(grid, grid, -1)[:old_grid, :old_grid] = old.view(old_grid, old_grid, -1)
            self.max_latent_size = grid
            self.pos_table = table

    def patchify(self, x_BCHW: torch.Tensor) -> torch.Tensor:
        B, C, H, W = x_BCHW.shape
        p = self.patch
        x = x_BCHW.reshape(B, C, H // p, p, W // p, p).permute(0, 2, 4, 3, 5, 1)
        return x.reshape(B, (H // p) * (W // p), p * p * C)

    def unpatchify(self, x_BNP: torch.Tensor, h: int, w: int) -> torch.Tensor:
        """Inverse of `patchify`; h, w are the latent-pixel sizes."""
        B = x_BNP.shape[0]
        p = self.patch
        C = x_BNP.shape[-1] // (p * p)
        x = x_BNP.reshape(B, h // p, w // p, p, p, C).permute(0, 5, 1, 3, 2, 4)
        return x.reshape(B, C, h, w)

    def position_ids(self, h: int, w: int, device: torch.device) -> torch.Tensor:
        gh, gw = h // self.patch, w // self.patch
        if max(gh, gw) > self.max_latent_size:
            raise ValueError(f"a {gh}x{gw} latent grid exceeds max_latent_size={self.max_latent_size}; "
                             "call model.extend_latent_positions(grid) first (Stage 3)")
        rows = torch.arange(gh, device=device)[:, None]
        cols = torch.arange(gw, device=device)[None, :]
        return (rows * self.max_latent_size + cols).reshape(-1)

    def embed(self, x_t_BCHW: torch.Tensor, t_B: torch.Tensor) -> torch.Tensor:
        """Latent tokens (B, N, D) = vae2llm(patches) + t_emb + pos."""
        h, w = x_t_BCHW.shape[-2:]
        tokens = self.vae2llm(self.patchify(x_t_BCHW).to(self.vae2llm.weight.dtype))
        pos = self.pos_table[self.position_ids(h, w, x_t_BCHW.device)].to(tokens.dtype)
        return tokens + self.time_embedder(t_B)[:, None] + pos[None]


def preprocess_generation_images(images: list, size: int) -> torch.Tensor:
    """PIL images (grayscale or RGB) -> (B, 3, size, size) in [-1, 1] for `UniX.generation_loss`.

    Images that are not size x size are resized with BICUBIC (the prepared images already are square).
    """
    from PIL import Image

    out = []
    for image in images:
        image = image.convert("RGB")
        if image.size != (size, size):
            image = image.resize((size, size), Image.BICUBIC)
        array = np.asarray(image, dtype=np.float32) / 127.5 - 1.0
        out.append(torch.from_numpy(array).permute(2, 0, 1))
    return torch.stack(out)


def tensor_to_images(images_BCHW: torch.Tensor) -> list:
    """[-1, 1] tensors -> 8-bit RGB PIL images as the reference writes its PNGs: clamp(x / 2 + 0.5, 0, 1) * 255,
    truncated to uint8 (not rounded)."""
    from PIL import Image

    unit = (images_BCHW.float() / 2 + 0.5).clamp(0, 1)
    array = (unit * 255).to(torch.uint8).permute(0, 2, 3, 1).cpu().numpy()
    return [Image.fromarray(a, mode="RGB") for a in array]
