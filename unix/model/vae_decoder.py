"""The decoding half of diffusers' `AutoencoderKL` without diffusers, for `unix generate` and the image
rules: importing diffusers costs seconds at every command, and decoding needs only convolutions, group
norms and one attention. Parameter names are diffusers' (`post_quant_conv`, `decoder.*`), so it loads the
`vae.*` weights of a UniX checkpoint as they are (the encoder's are not needed); its images equal
diffusers' (tested). Training and `init_model` keep diffusers' class.
"""

from __future__ import annotations

from types import SimpleNamespace

import torch
import torch.nn.functional as F
from torch import nn

EPS = 1e-6  # diffusers' resnet and attention eps in the VAE decoder
UP_BLOCKS = ("UpDecoderBlock2D", "AttnUpDecoderBlock2D")  # the second adds an attention after each resnet


def supported(vae: dict) -> bool:
    """Whether a config's `vae` is the architecture this module reproduces (UniX's KL-f16 and the tiny one)."""
    return (all(t in UP_BLOCKS for t in vae.get("up_block_types", ["UpDecoderBlock2D"]))
            and vae.get("act_fn", "silu") == "silu" and vae.get("norm_type", "group") == "group"
            and vae.get("mid_block_add_attention", True))


class _Resnet(nn.Module):
    def __init__(self, cin: int, cout: int, groups: int) -> None:
        super().__init__()
        self.norm1 = nn.GroupNorm(groups, cin, eps=EPS)
        self.conv1 = nn.Conv2d(cin, cout, 3, padding=1)
        self.norm2 = nn.GroupNorm(groups, cout, eps=EPS)
        self.conv2 = nn.Conv2d(cout, cout, 3, padding=1)
        self.conv_shortcut = nn.Conv2d(cin, cout, 1) if cin != cout else None

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        h = self.conv2(F.silu(self.norm2(self.conv1(F.silu(self.norm1(x))))))
        return (x if self.conv_shortcut is None else self.conv_shortcut(x)) + h


class _Attention(nn.Module):
    """Single-head self-attention over the pixels, with a residual (diffusers' VAE mid-block attention)."""

    def __init__(self, channels: int, groups: int) -> None:
        super().__init__()
        self.group_norm = nn.GroupNorm(groups, channels, eps=EPS)
        self.to_q, self.to_k, self.to_v = (nn.Linear(channels, channels) for _ in range(3))
        self.to_out = nn.ModuleList([nn.Linear(channels, channels)])

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        B, C, H, W = x.shape
        h = self.group_norm(x.view(B, C, H * W)).transpose(1, 2)
        q, k, v = (proj(h)[:, None] for proj in (self.to_q, self.to_k, self.to_v))
        o = F.scaled_dot_product_attention(q, k, v)[:, 0]
        return x + self.to_out[0](o).transpose(1, 2).reshape(B, C, H, W)


class _Upsample(nn.Module):
    def __init__(self, channels: int) -> None:
        super().__init__()
        self.conv = nn.Conv2d(channels, channels, 3, padding=1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.conv(F.interpolate(x, scale_factor=2.0, mode="nearest"))


class _UpBlock(nn.Module):
    def __init__(self, cin: int, cout: int, layers: int, groups: int, upsample: bool, attention: bool) -> None:
        super().__init__()
        self.resnets = nn.ModuleList(_Resnet(cin if i == 0 else cout, cout, groups) for i in range(layers))
        self.attentions = nn.ModuleList(_Attention(cout, groups) for _ in range(layers)) if attention else None
        self.upsamplers = nn.ModuleList([_Upsample(cout)]) if upsample else None

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        for i, resnet in enumerate(self.resnets):
            x = resnet(x)
            x = x if self.attentions is None else self.attentions[i](x)
        return x if self.upsamplers is None else self.upsamplers[0](x)


class VAEDecoder(nn.Module):
    """`AutoencoderKL.decode` of the configured architecture (config `vae`, diffusers' keyword arguments)."""

    def __init__(self, vae: dict) -> None:
        super().__init__()
        if not supported(vae):
            raise ValueError(f"VAEDecoder reproduces {' and '.join(UP_BLOCKS)} decoders with SiLU, group norms and a "
                             f"mid-block attention only; config model vae is {vae}")
        channels = list(vae.get("block_out_channels", [64]))
        groups, latent = vae.get("norm_num_groups", 32), vae.get("latent_channels", 4)
        layers = vae.get("layers_per_block", 1) + 1
        self.post_quant_conv = nn.Conv2d(latent, latent, 1) if vae.get("use_post_quant_conv", True) else None
        d = self.decoder = nn.Module()
        d.conv_in = nn.Conv2d(latent, channels[-1], 3, padding=1)
        d.mid_block = nn.Module()
        d.mid_block.resnets = nn.ModuleList(_Resnet(channels[-1], channels[-1], groups) for _ in range(2))
        d.mid_block.attentions = nn.ModuleList([_Attention(channels[-1], groups)])
        rev = channels[::-1]
        types = vae.get("up_block_types", ["UpDecoderBlock2D"] * len(rev))
        d.up_blocks = nn.ModuleList(_UpBlock(rev[max(i - 1, 0)], rev[i], layers, groups, i < len(rev) - 1,
                                             types[i] == "AttnUpDecoderBlock2D") for i in range(len(rev)))
        d.conv_norm_out = nn.GroupNorm(groups, channels[0], eps=EPS)
        d.conv_out = nn.Conv2d(channels[0], vae.get("out_channels", 3), 3, padding=1)

    def decode(self, z: torch.Tensor) -> SimpleNamespace:
        d = self.decoder
        if self.post_quant_conv is not None:
            z = self.post_quant_conv(z)
        x = d.mid_block.resnets[0](d.conv_in(z))
        x = d.mid_block.resnets[1](d.mid_block.attentions[0](x))
        for block in d.up_blocks:
            x = block(x)
        return SimpleNamespace(sample=d.conv_out(F.silu(d.conv_norm_out(x))))
