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
reused at every sampling step; the same preallocated cache holds the image and text of report generation.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn
from torch.utils.checkpoint import checkpoint

from unix.model.config import UniXConfig
from unix.model.layers import BranchWeights, RMSNorm, RotaryEmbedding


class KVCache:
    """Keys and values (after q/k-norm and RoPE) of the understanding tokens seen so far, per layer,
    in buffers allocated once and written in place (never concatenated).

    `keys` and `values` are (layers, B, H, capacity, hd); the first `length` positions hold the cached
    tokens, the positions after them are scratch space where a forward writes its new tokens' keys so
    that attention reads one contiguous range. `valid_BL` marks real (non-padding) cached keys;
    `next_pos_B` is the RoPE position of the next text token; `all_valid` says no cached key is padding
    (attention then needs no mask). A forward that needs more room than `capacity` grows the buffers once.
    """

    def __init__(self, keys: torch.Tensor, values: torch.Tensor, valid: torch.Tensor, length: int = 0,
                 next_pos_B: torch.Tensor | None = None, all_valid: bool = True) -> None:
        self.keys, self.values, self._valid = keys, values, valid
        self.length, self.next_pos_B, self.all_valid = length, next_pos_B, all_valid

    @classmethod
    def allocate(cls, num_layers: int, batch: int, num_heads: int, capacity: int, head_dim: int,
                 dtype: torch.dtype, device: torch.device) -> "KVCache":
        shape = (num_layers, batch, num_heads, capacity, head_dim)
        return cls(torch.empty(shape, dtype=dtype, device=device), torch.empty(shape, dtype=dtype, device=device),
                   torch.zeros(batch, capacity, dtype=torch.bool, device=device))

    @property
    def capacity(self) -> int:
        return self.keys.shape[3]

    @property
    def valid_BL(self) -> torch.Tensor:
        return self._valid[:, :self.length]

    def key_valid(self, total: int) -> torch.Tensor:
        """Validity of the first `total` key slots (cached + new)."""
        return self._valid[:, :total]

    def ensure(self, capacity: int) -> None:
        """Grow the buffers (one copy) so that `capacity` positions fit."""
        if capacity <= self.capacity:
            return
        capacity = max(capacity, self.capacity * 3 // 2)  # amortised: growing one token at a time stays linear
        grown = KVCache.allocate(self.keys.shape[0], self.keys.shape[1], self.keys.shape[2], capacity,
                                 self.keys.shape[4], self.keys.dtype, self.keys.device)
        grown.keys[:, :, :, :self.length] = self.keys[:, :, :, :self.length]
        grown.values[:, :, :, :self.length] = self.values[:, :, :, :self.length]
        grown._valid[:, :self.length] = self.valid_BL
        self.keys, self.values, self._valid = grown.keys, grown.values, grown._valid

    def select(self, rows: slice) -> "KVCache":
        """The cache of a slice of the batch, sharing the buffers (a view, no copy)."""
        return KVCache(self.keys[:, rows], self.values[:, rows], self._valid[rows], self.length,
                       None if self.next_pos_B is None else self.next_pos_B[rows], self.all_valid)


class MoTLayer(nn.Module):
    """A decoder layer with an understanding copy (`und`) and a generation copy (`gen`) of its weights."""

    def __init__(self, config: UniXConfig) -> None:
        super().__init__()
        args = (config.hidden_size, config.intermediate_size, config.num_heads, config.rms_eps,
                config.qkv_bias, config.qk_norm)
        self.und = BranchWeights(*args)
        self.gen = BranchWeights(*args)

    def forward(self, und_BLD: torch.Tensor | None, gen_BND: torch.Tensor | None, rope_und, rope_gen,
                mask_B1QK: torch.Tensor | None, slot: tuple[torch.Tensor, torch.Tensor, int] | None = None,
                prefix_block: int = 0) -> tuple[torch.Tensor | None, torch.Tensor | None]:
        """slot: this layer's cache buffers (keys, values) and their first free position; the new tokens'
        keys and values are written there (understanding first, then latents) and attention reads the
        buffers up to the last written position. Without a slot the new tokens attend to themselves.
        prefix_block: see `attend`."""
        qs, ks, vs = [], [], []
        if und_BLD is not None:
            q, k, v = self.und.qkv(und_BLD, *rope_und)
            qs.append(q), ks.append(k), vs.append(v)
        if gen_BND is not None:
            q, k, v = self.gen.qkv(gen_BND, *rope_gen)
            qs.append(q), ks.append(k), vs.append(v)
        q = torch.cat(qs, dim=2) if len(qs) > 1 else qs[0]
        if slot is None:
            k = torch.cat(ks, dim=2) if len(ks) > 1 else ks[0]
            v = torch.cat(vs, dim=2) if len(vs) > 1 else vs[0]
        else:
            keys, values, end = slot
            for k_new, v_new in zip(ks, vs):
                n = k_new.shape[2]
                keys[:, :, end:end + n] = k_new
                values[:, :, end:end + n] = v_new
                end += n
            k, v = keys[:, :, :end], values[:, :, :end]
        attn = attend(q, k, v, mask_B1QK, prefix_block)  # Eq. (5)
        n_und = 0 if und_BLD is None else und_BLD.shape[1]
        und_out = self.und.finish(und_BLD, attn[:, :, :n_und]) if und_BLD is not None else None
        gen_out = self.gen.finish(gen_BND, attn[:, :, n_und:]) if gen_BND is not None else None
        return und_out, gen_out


def attend(q: torch.Tensor, k: torch.Tensor, v: torch.Tensor, mask_B1QK: torch.Tensor | None,
           prefix_block: int = 0) -> torch.Tensor:
    """softmax(Q K^T / sqrt(d)) V through `scaled_dot_product_attention`, one call per layout.

    prefix_block = P > 0: the first P queries form a full-attention block that sees exactly the first P
    keys (an understanding image block at the start of a prefill), so they are attended without a mask
    (PyTorch's fused kernels); `mask_B1QK` then holds the rows of the remaining queries only. Every
    query's softmax runs over the same keys as with the full mask, so the result is the same.
    """
    if not prefix_block:
        return F.scaled_dot_product_attention(q, k, v, attn_mask=mask_B1QK)
    P = prefix_block
    head = F.scaled_dot_product_attention(q[:, :, :P], k[:, :, :P], v[:, :, :P])
    if q.shape[2] == P:
        return head
    tail = F.scaled_dot_product_attention(q[:, :, P:], k, v, attn_mask=mask_B1QK)
    return torch.cat([head, tail], dim=2)


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
                reserve: int = 0, prefix_block: int = 0, new_block: bool = False,
                ) -> dict[str, torch.Tensor | KVCache | None]:
        """Run the decoder on new understanding tokens and/or latent tokens.

        Returns the final-normed hidden states `und` (B, L, D) and `gen` (B, N, D), the generation
        hidden state after layer `capture_gen_layer` (`gen_layer`, un-normed, for REPA) and the cache.
        With a cache, the new tokens' keys are written into its buffers in place; `update_cache` keeps the
        new understanding tokens there (without a cache, one is allocated with room for `reserve` more
        tokens). Attention layouts that need no full (B, 1, Q, K) mask:
        prefix_block: the first `prefix_block` understanding tokens are one valid full-attention block
            and there is no cached prefix (see `attend`);
        new_block: the new tokens are all valid and each sees the whole valid cache and every new token
            (a decoding step, or the generation block [BOI, latents, EOI] after a cached caption).
        """
        n_und = 0 if und_BLD is None else und_BLD.shape[1]
        n_gen = 0 if gen_BND is None else gen_BND.shape[1]
        if cache is None and update_cache:
            x = und_BLD if und_BLD is not None else gen_BND
            cfg = self.config
            cache = KVCache.allocate(cfg.num_layers, x.shape[0], cfg.num_heads, n_und + n_gen + reserve,
                                     cfg.head_dim, x.dtype, x.device)
        n_past = 0 if cache is None else cache.length
        total = n_past + n_und + n_gen
        if cache is not None:
            cache.ensure(total)
            if und_valid_BL is not None:
                cache._valid[:, n_past:n_past + n_und] = und_valid_BL
            cache._valid[:, n_past + n_und:total] = True
        if new_block and cache is not None:
            mask = None if cache.all_valid else cache.key_valid(total)[:, None, None, :]
        else:
            past_valid = cache.valid_BL if n_past else None
            mask = build_mask(und_valid_BL, n_gen, past_valid, und_block_BL, und_in_gen_BL)
            mask = mask[:, :, prefix_block:] if prefix_block else mask
        rope_und = self.rotary(und_pos_BL) if und_BLD is not None else None
        rope_gen = self.rotary(gen_pos_BN) if gen_BND is not None else None
        gen_layer = None
        for i, layer in enumerate(self.layers):
            slot = (cache.keys[i], cache.values[i], n_past) if cache is not None else None
            if self.activation_checkpointing and self.training and torch.is_grad_enabled():
                und_BLD, gen_BND = checkpoint(layer, und_BLD, gen_BND, rope_und, rope_gen, mask, slot, prefix_block,
                                              use_reentrant=False)
            else:
                und_BLD, gen_BND = layer(und_BLD, gen_BND, rope_und, rope_gen, mask, slot, prefix_block)
            if capture_gen_layer == i:
                gen_layer = gen_BND
        if update_cache and und_valid_BL is not None:
            next_pos = (und_pos_BL * und_valid_BL).amax(dim=1) + 1
            if cache.next_pos_B is not None:
                next_pos = torch.maximum(next_pos, cache.next_pos_B)
            cache.length, cache.next_pos_B = n_past + n_und, next_pos
            if not new_block:  # a new block is valid by contract; this check waits for the device
                cache.all_valid = cache.all_valid and bool(und_valid_BL.all())
        return {
            "und": self.norm(und_BLD) if und_BLD is not None else None,
            "gen": self.norm_gen(gen_BND) if gen_BND is not None else None,
            "gen_layer": gen_layer,
            "cache": cache,
        }
