r"""Mixture-of-transformers decoder: one attention over the joint sequence, modality-specific weights.

The sequence is laid out as S = [T_in, N]: understanding tokens (text, BOI/EOI, SigLIP tokens) first,
then the noisy latent tokens of the generation branch. Following the paper (Sec. 3.3),

    {Q_i, K_i, V_i} = \delta^u(i) W^u_{q,k,v} S_i + \delta^g(i) W^g_{q,k,v} S_i          (3)
    \delta^u(i) = 1 if S_i \in T_in, 0 if S_i \in N;   \delta^g(i) = 1 - \delta^u(i)        (4)
    Attn(S) = softmax(Q K^T / sqrt(d)) V                                                  (5)

The modality index \delta is a split point (every sequence is [understanding | generation]), so the
gather/scatter of Eq. (3) is a slice and costs no copy; the softmax of Eq. (5) is a single
`scaled_dot_product_attention` call per layer over all tokens. The o-projection, both RMSNorms, the
q/k norms and the MLP are modality-specific too; embeddings and RoPE are shared.

Attention mask (reference `prepare_attention_mask_per_sample`): text is causal; an understanding image
block [BOI, ViT tokens, EOI] attends fully within itself; the generation block [BOI, latents, EOI]
(BOI/EOI use the understanding weights, the latents the generation weights) sees the whole valid prefix
and, bidirectionally, itself; no token outside the block attends into it. Because of the last rule the
caption's keys and values do not depend on the latents, so they are computed once (`KVCache`) and
reused at every sampling step.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import torch
import torch.nn.functional as F
from torch import nn
from torch.utils.checkpoint import checkpoint

from unix.model.config import UniXConfig
from unix.model.layers import BranchWeights, RMSNorm, RotaryEmbedding


@dataclass
class KVCache:
    """Keys and values (after q/k-norm and RoPE) of the understanding tokens seen so far, per layer.

    `valid_BL` marks real (non-padding) keys; `next_pos_B` is the RoPE position of the next text token.
    """

    keys: list[torch.Tensor] = field(default_factory=list)
    values: list[torch.Tensor] = field(default_factory=list)
    valid_BL: torch.Tensor | None = None
    next_pos_B: torch.Tensor | None = None

    @property
    def length(self) -> int:
        return 0 if self.valid_BL is None else int(self.valid_BL.shape[1])


class MoTLayer(nn.Module):
    """A decoder layer with an understanding copy (`und`) and a generation copy (`gen`) of its weights."""

    def __init__(self, config: UniXConfig) -> None:
        super().__init__()
        args = (config.hidden_size, config.intermediate_size, config.num_heads, config.rms_eps,
                config.qkv_bias, config.qk_norm)
        self.und = BranchWeights(*args)
        self.gen = BranchWeights(*args)

    def forward(self, und_BLD: torch.Tensor | None, gen_BND: torch.Tensor | None, rope_und, rope_gen,
                mask_B1QK: torch.Tensor, past: tuple[torch.Tensor, torch.Tensor] | None
                ) -> tuple[torch.Tensor | None, torch.Tensor | None, tuple[torch.Tensor, torch.Tensor] | None]:
        qs, ks, vs = [], [], []
        if past is not None:
            ks.append(past[0])
            vs.append(past[1])
        new_und_kv = None
        if und_BLD is not None:
            q, k, v = self.und.qkv(und_BLD, *rope_und)
            qs.append(q), ks.append(k), vs.append(v)
            new_und_kv = (k, v)
        if gen_BND is not None:
            q, k, v = self.gen.qkv(gen_BND, *rope_gen)
            qs.append(q), ks.append(k), vs.append(v)
        q = torch.cat(qs, dim=2) if len(qs) > 1 else qs[0]
        k = torch.cat(ks, dim=2) if len(ks) > 1 else ks[0]
        v = torch.cat(vs, dim=2) if len(vs) > 1 else vs[0]
        attn = F.scaled_dot_product_attention(q, k, v, attn_mask=mask_B1QK)  # Eq. (5), one call
        n_und = 0 if und_BLD is None else und_BLD.shape[1]
        und_out = self.und.finish(und_BLD, attn[:, :, :n_und]) if und_BLD is not None else None
        gen_out = self.gen.finish(gen_BND, attn[:, :, n_und:]) if gen_BND is not None else None
        return und_out, gen_out, new_und_kv


def build_mask(und_valid_BL: torch.Tensor | None, n_gen: int, past_valid_BL: torch.Tensor | None = None,
               und_block_BL: torch.Tensor | None = None, und_in_gen_BL: torch.Tensor | None = None) -> torch.Tensor:
    """Boolean mask (B, 1, Q, K), True = may attend; queries [und, gen], keys [past, und, gen].

    und_valid_BL: which new understanding tokens are real (False = padding).
    und_block_BL: 0 for causal text; tokens sharing a positive id (one image) attend fully to each other.
    und_in_gen_BL: understanding tokens inside the generation block (its BOI and EOI): they also see the
        latents (and, through `und_block_BL`, each other).
    """
    ref = und_valid_BL if und_valid_BL is not None else past_valid_BL
    assert ref is not None, "a mask needs understanding tokens or a cached prefix"
    B, device = ref.shape[0], ref.device
    n_und = 0 if und_valid_BL is None else und_valid_BL.shape[1]
    n_past = 0 if past_valid_BL is None else past_valid_BL.shape[1]
    Q, K = n_und + n_gen, n_past + n_und + n_gen
    mask = torch.zeros(B, Q, K, dtype=torch.bool, device=device)
    prefix_valid = torch.cat([v for v in (past_valid_BL, und_valid_BL) if v is not None], dim=1)
    if n_und:
        causal = torch.ones(n_und, n_und, dtype=torch.bool, device=device).tril()
        und_und = causal[None].expand(B, -1, -1)
        if und_block_BL is not None:
            same = (und_block_BL[:, :, None] == und_block_BL[:, None, :]) & (und_block_BL[:, :, None] > 0)
            und_und = und_und | same
        if n_past:
            mask[:, :n_und, :n_past] = past_valid_BL[:, None, :]
        mask[:, :n_und, n_past:n_past + n_und] = und_und & und_valid_BL[:, None, :]
    if n_gen:
        mask[:, n_und:, :n_past + n_und] = prefix_valid[:, None, :]
        mask[:, n_und:, n_past + n_und:] = True
        if und_in_gen_BL is not None:
            mask[:, :n_und, n_past + n_und:] = und_in_gen_BL[:, :, None]
    # Every query sees itself, so padding rows never produce NaN (their outputs are ignored).
    idx = torch.arange(Q, device=device)
    mask[:, idx, n_past + idx] = True
    return mask[:, None]


class MoTDecoder(nn.Module):
    """Shared embeddings and RoPE, `num_layers` MoT layers, and a final RMSNorm per branch."""

    def __init__(self, config: UniXConfig) -> None:
        super().__init__()
        self.config = config
        self.embed_tokens = nn.Embedding(config.vocab_size, config.hidden_size)
        self.layers = nn.ModuleList(MoTLayer(config) for _ in range(config.num_layers))
        self.norm = RMSNorm(config.hidden_size, config.rms_eps)
        self.norm_gen = RMSNorm(config.hidden_size, config.rms_eps)
        self.rotary = RotaryEmbedding(config.head_dim, config.rope_theta)
        # Training option (recipe activation_checkpointing): keep only each layer's inputs and recompute its
        # activations in the backward pass. Non-reentrant checkpointing restores the RNG state and gives the
        # same gradients; it is skipped when no graph is built (inference).
        self.activation_checkpointing = False

    def forward(self, und_BLD: torch.Tensor | None = None, und_pos_BL: torch.Tensor | None = None,
                und_valid_BL: torch.Tensor | None = None, und_block_BL: torch.Tensor | None = None,
                und_in_gen_BL: torch.Tensor | None = None,
                gen_BND: torch.Tensor | None = None, gen_pos_BN: torch.Tensor | None = None,
                cache: KVCache | None = None, update_cache: bool = False, capture_gen_layer: int | None = None,
                ) -> dict[str, torch.Tensor | KVCache | None]:
        """Run the decoder on new understanding tokens and/or latent tokens.

        Returns the final-normed hidden states `und` (B, L, D) and `gen` (B, N, D), the generation
        hidden state after layer `capture_gen_layer` (`gen_layer`, un-normed, for REPA) and the cache
        (extended with the new understanding tokens when `update_cache`).
        """
        past_valid = cache.valid_BL if cache is not None and cache.length else None
        n_gen = 0 if gen_BND is None else gen_BND.shape[1]
        mask = build_mask(und_valid_BL, n_gen, past_valid, und_block_BL, und_in_gen_BL)
        rope_und = self.rotary(und_pos_BL) if und_BLD is not None else None
        rope_gen = self.rotary(gen_pos_BN) if gen_BND is not None else None
        new_keys, new_values, gen_layer = [], [], None
        for i, layer in enumerate(self.layers):
            past = (cache.keys[i], cache.values[i]) if past_valid is not None else None
            if self.activation_checkpointing and self.training and torch.is_grad_enabled():
                und_BLD, gen_BND, kv = checkpoint(layer, und_BLD, gen_BND, rope_und, rope_gen, mask, past,
                                                  use_reentrant=False)
            else:
                und_BLD, gen_BND, kv = layer(und_BLD, gen_BND, rope_und, rope_gen, mask, past)
            if update_cache and kv is not None:
                new_keys.append(kv[0] if past is None else torch.cat([past[0], kv[0]], dim=2))
                new_values.append(kv[1] if past is None else torch.cat([past[1], kv[1]], dim=2))
            if capture_gen_layer == i:
                gen_layer = gen_BND
        out_cache = cache
        if update_cache and und_valid_BL is not None:
            valid = und_valid_BL if past_valid is None else torch.cat([past_valid, und_valid_BL], dim=1)
            next_pos = (und_pos_BL * und_valid_BL).amax(dim=1) + 1
            if cache is not None and cache.next_pos_B is not None:
                next_pos = torch.maximum(next_pos, cache.next_pos_B)
            out_cache = KVCache(new_keys, new_values, valid, next_pos)
        return {
            "und": self.norm(und_BLD) if und_BLD is not None else None,
            "gen": self.norm_gen(gen_BND) if gen_BND is not None else None,
            "gen_layer": gen_layer,
            "cache": out_cache,
        }
