"""Decoder building blocks: RMSNorm, rotary position embedding, and one branch's weights of a decoder
layer (q/k/v with bias, per-head q/k RMSNorm, o without bias, SwiGLU MLP).

The layer here is our own rather than transformers' Qwen2/Qwen3: UniX combines Qwen2's QKV bias with
Qwen3's per-head QK-norm and has no o_proj bias, a combination neither library class offers.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn


class RMSNorm(nn.Module):
    """y = x / sqrt(mean(x^2) + eps) * w, computed in float32 like Qwen2/LLaMA."""

    def __init__(self, dim: int, eps: float = 1e-6) -> None:
        super().__init__()
        self.weight = nn.Parameter(torch.ones(dim))
        self.eps = eps

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        dtype = x.dtype
        x32 = x.float()
        x32 = x32 * torch.rsqrt(x32.pow(2).mean(-1, keepdim=True) + self.eps)
        return self.weight * x32.to(dtype)


class RotaryEmbedding(nn.Module):
    """Rotary position embedding (rotate-half convention of LLaMA/Qwen2) for integer positions."""

    def __init__(self, head_dim: int, theta: float = 10000.0) -> None:
        super().__init__()
        inv_freq = 1.0 / (theta ** (torch.arange(0, head_dim, 2, dtype=torch.float32) / head_dim))
        self.register_buffer("inv_freq", inv_freq, persistent=False)

    def forward(self, positions_BL: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """cos and sin of shape (B, 1, L, head_dim), broadcastable over heads."""
        freqs_BLF = positions_BL.float()[..., None] * self.inv_freq
        emb_BLD = torch.cat([freqs_BLF, freqs_BLF], dim=-1)
        return emb_BLD.cos()[:, None], emb_BLD.sin()[:, None]


def _rotate_half(x: torch.Tensor) -> torch.Tensor:
    half = x.shape[-1] // 2
    return torch.cat([-x[..., half:], x[..., :half]], dim=-1)


def apply_rope(x_BHLD: torch.Tensor, cos: torch.Tensor, sin: torch.Tensor) -> torch.Tensor:
    return (x_BHLD.float() * cos + _rotate_half(x_BHLD.float()) * sin).to(x_BHLD.dtype)


class SwiGLU(nn.Module):
    """down(silu(gate(x)) * up(x)), no biases."""

    def __init__(self, dim: int, hidden: int) -> None:
        super().__init__()
        self.gate_proj = nn.Linear(dim, hidden, bias=False)
        self.up_proj = nn.Linear(dim, hidden, bias=False)
        self.down_proj = nn.Linear(hidden, dim, bias=False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.down_proj(F.silu(self.gate_proj(x)) * self.up_proj(x))


class BranchWeights(nn.Module):
    """One modality's weights of a decoder layer: everything except the attention operation itself.

    A mixture-of-transformers layer holds two of these (understanding and generation); the attention
    softmax runs once over the joint sequence (see `unix.model.mot`).
    """

    def __init__(self, hidden: int, intermediate: int, num_heads: int, eps: float,
                 qkv_bias: bool = True, qk_norm: bool = True, o_bias: bool = False) -> None:
        super().__init__()
        self.num_heads = num_heads
        self.head_dim = hidden // num_heads
        self.input_layernorm = RMSNorm(hidden, eps)
        self.q_proj = nn.Linear(hidden, hidden, bias=qkv_bias)
        self.k_proj = nn.Linear(hidden, hidden, bias=qkv_bias)
        self.v_proj = nn.Linear(hidden, hidden, bias=qkv_bias)
        self.o_proj = nn.Linear(hidden, hidden, bias=o_bias)
        self.q_norm = RMSNorm(self.head_dim, eps) if qk_norm else nn.Identity()
        self.k_norm = RMSNorm(self.head_dim, eps) if qk_norm else nn.Identity()
        self.post_attention_layernorm = RMSNorm(hidden, eps)
        self.mlp = SwiGLU(hidden, intermediate)

    def qkv(self, x_BLD: torch.Tensor, cos: torch.Tensor, sin: torch.Tensor
            ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """Queries, keys, values (B, H, L, hd) of the pre-normed input, q/k normed then rotated."""
        B, L, _ = x_BLD.shape
        h = self.input_layernorm(x_BLD)

        def heads(t: torch.Tensor) -> torch.Tensor:
            return t.view(B, L, self.num_heads, self.head_dim).transpose(1, 2)

        q = self.q_norm(heads(self.q_proj(h)))
        k = self.k_norm(heads(self.k_proj(h)))
        v = heads(self.v_proj(h))
        return apply_rope(q, cos, sin), apply_rope(k, cos, sin), v

    def finish(self, x_BLD: torch.Tensor, attn_BHLD: torch.Tensor) -> torch.Tensor:
        """Residual after attention (o_proj) and the MLP block."""
        B, H, L, hd = attn_BHLD.shape
        x = x_BLD + self.o_proj(attn_BHLD.transpose(1, 2).reshape(B, L, H * hd))
        return x + self.mlp(self.post_attention_layernorm(x))
