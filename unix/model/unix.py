"""The UniX module: understanding branch (SigLIP + connector + understanding decoder weights + LM head)
and generation branch (generation decoder weights + latent heads + REPA projector) sharing one joint
attention, plus the frozen VAE and REPA encoder.

Sequence layouts, as the reference (ZrH42/UniX `prepare_vit_images`, `prepare_prompts`,
`prepare_vae_latent`; all positions are RoPE positions and all tokens of one image share one position):
  understanding: [BOI, ViT x Nv, EOI] (full attention, all at position 0) + text (causal, from 1)
  generation:    caption [bos caption eos] (causal, positions 0..L-1) + one block [BOI, latents x N, EOI]
                 (all at position L; it sees the caption and, bidirectionally, itself; nothing else sees it).
                 BOI/EOI go through the understanding weights, the latents through the generation weights.
Caption dropout and the unconditional CFG branch remove the caption (masked out), so the block sits at
position 0 with no context.
"""

from __future__ import annotations

from pathlib import Path
from typing import Iterator

import torch
import torch.nn.functional as F
from torch import nn

from unix.model import flow, vae_decoder
from unix.model.config import UniXConfig
from unix.model.latent import LatentHeads, build_vae, vae_decode, vae_encode
from unix.model.mot import KVCache, MoTDecoder
from unix.model.repa import RepaProjector, build_repa_encoder, encoder_targets, repa_loss
from unix.model.vision import Connector, LightSiglip, build_siglip


def _text_positions(attention_mask_BL: torch.Tensor, start: int = 0) -> torch.Tensor:
    """Positions that skip padding (works for left or right padding)."""
    return (attention_mask_BL.long().cumsum(dim=1) - 1).clamp_min(0) + start


class UniX(nn.Module):
    """UniX: autoregressive report generation and flow-matching image generation in one decoder."""

    def __init__(self, config: UniXConfig, inference: str | None = None) -> None:
        """inference: None builds every part (training, checkpoints); "reports" or "images" builds only what
        that task runs, for a command line that starts fast: the inference SigLIP (`LightSiglip`, no
        transformers import), no REPA encoder, no VAE for reports (those attributes are then None) and the
        VAE's decoder alone for images (`vae_decoder.VAEDecoder`, no diffusers import)."""
        super().__init__()
        if inference not in (None, "reports", "images"):
            raise ValueError(f"UniX(inference={inference!r}): use None, 'reports' or 'images'")
        self.config = config
        self.vision = build_siglip(config) if inference is None else LightSiglip(config.vision)
        self.connector = Connector(config.vision["hidden_size"], config.hidden_size, config.connector_act)
        self.decoder = MoTDecoder(config)
        self.lm_head = nn.Linear(config.hidden_size, config.vocab_size, bias=False)
        self.latent = LatentHeads(config)
        self.repa_projector = RepaProjector(config.hidden_size, config.repa_encoder["hidden_size"])
        if inference == "images" and vae_decoder.supported(config.vae):
            self.vae = vae_decoder.VAEDecoder(config.vae)  # decoding only, without diffusers
        else:
            self.vae = build_vae(config) if inference != "reports" else None
        self.repa_encoder = build_repa_encoder(config) if inference is None else None

    # ------------------------------------------------------------------ parameter groups
    def understanding_parameters(self) -> Iterator[nn.Parameter]:
        """SigLIP, connector, token embeddings, understanding decoder weights, final norm, LM head."""
        yield from self.vision.parameters()
        yield from self.connector.parameters()
        yield from self.decoder.embed_tokens.parameters()
        for layer in self.decoder.layers:
            yield from layer.und.parameters()
        yield from self.decoder.norm.parameters()
        yield from self.lm_head.parameters()

    def generation_parameters(self) -> Iterator[nn.Parameter]:
        """Generation decoder weights, generation final norm, latent heads, REPA projector."""
        for layer in self.decoder.layers:
            yield from layer.gen.parameters()
        yield from self.decoder.norm_gen.parameters()
        yield from self.latent.parameters()
        yield from self.repa_projector.parameters()

    def frozen_parameters(self) -> Iterator[nn.Parameter]:
        """The VAE and the REPA encoder: frozen in every stage."""
        for part in (self.vae, self.repa_encoder):
            if part is not None:
                yield from part.parameters()

    def set_trainable(self, understanding: bool, generation: bool) -> None:
        """Stage 1: (True, False); Stages 2 and 3: (False, True). The VAE and REPA encoder stay frozen."""
        for p in self.understanding_parameters():
            p.requires_grad_(understanding)
        for p in self.generation_parameters():
            p.requires_grad_(generation)
        for p in self.frozen_parameters():
            p.requires_grad_(False)

    @torch.no_grad()
    def init_generation_from_understanding(self) -> None:
        """Copy every understanding decoder weight into its generation twin (`copy_init_moe`)."""
        for layer in self.decoder.layers:
            layer.gen.load_state_dict(layer.und.state_dict())
        self.decoder.norm_gen.load_state_dict(self.decoder.norm.state_dict())

    def extend_latent_positions(self, grid: int) -> None:
        """Grow the latent position table to grid x grid (Stage 3: 512 px -> 32 x 32)."""
        self.latent.extend(grid)
        self.config.max_latent_size = max(self.config.max_latent_size, grid)

    @property
    def device(self) -> torch.device:
        return self.lm_head.weight.device

    # ------------------------------------------------------------------ understanding
    def _image_prefix(self, pixel_values: torch.Tensor) -> tuple[torch.Tensor, int]:
        """[BOI, connector(SigLIP(x)), EOI] embeddings (B, Nv + 2, D)."""
        vit = self.vision(pixel_values=pixel_values.to(self.connector.fc1.weight.dtype)).last_hidden_state
        vis = self.connector(vit)
        B = vis.shape[0]
        special = self.decoder.embed_tokens(torch.tensor([self.config.boi_token_id, self.config.eoi_token_id],
                                                         device=vis.device))
        boi, eoi = special[0].expand(B, 1, -1), special[1].expand(B, 1, -1)
        return torch.cat([boi, vis.to(boi.dtype), eoi], dim=1), vis.shape[1]

    def _understanding_inputs(self, pixel_values: torch.Tensor, input_ids: torch.Tensor,
                              attention_mask: torch.Tensor) -> dict[str, torch.Tensor]:
        prefix, nv = self._image_prefix(pixel_values)
        B, L = input_ids.shape
        dev = input_ids.device
        return dict(
            und_BLD=torch.cat([prefix, self.decoder.embed_tokens(input_ids)], dim=1),
            und_pos_BL=torch.cat([torch.zeros(B, nv + 2, dtype=torch.long, device=dev),
                                  _text_positions(attention_mask, start=1)], dim=1),
            und_valid_BL=torch.cat([torch.ones(B, nv + 2, dtype=torch.bool, device=dev),
                                    attention_mask.bool()], dim=1),
            und_block_BL=torch.cat([torch.ones(B, nv + 2, dtype=torch.long, device=dev),
                                    torch.zeros(B, L, dtype=torch.long, device=dev)], dim=1),
        )

    def understanding_logits(self, pixel_values: torch.Tensor, input_ids: torch.Tensor,
                             attention_mask: torch.Tensor | None = None) -> torch.Tensor:
        """Logits (B, L, V) at the text positions of [image block, input_ids] (one full forward)."""
        if attention_mask is None:
            attention_mask = torch.ones_like(input_ids)
        out = self.decoder(**self._understanding_inputs(pixel_values, input_ids, attention_mask))
        return self.lm_head(out["und"][:, -input_ids.shape[1]:])

    def understanding_loss(self, pixel_values: torch.Tensor, input_ids: torch.Tensor, labels: torch.Tensor,
                           attention_mask: torch.Tensor | None = None) -> dict[str, torch.Tensor]:
        """Next-token cross-entropy on the answer tokens.

        pixel_values: SigLIP-normalised (B, 3, S, S) (see `vision.preprocess_understanding_images`).
        input_ids: text after the image block, e.g. [bos] prompt [eos] [bos] report [eos] (+ padding).
        labels: same shape, -100 outside answer tokens; shifted inside (labels[t + 1] from position t).
        Returns {"loss", "tokens"} (mean CE over labelled tokens, and their count).
        """
        logits = self.understanding_logits(pixel_values, input_ids, attention_mask)
        shift_logits = logits[:, :-1].float()
        shift_labels = labels[:, 1:]
        n = (shift_labels != -100).sum()
        if n == 0:
            raise ValueError("understanding_loss: every label is -100, so there is nothing to learn; "
                             "label the answer tokens (see unix.model.tokenizer.build_understanding_batch)")
        loss = F.cross_entropy(shift_logits.reshape(-1, shift_logits.shape[-1]), shift_labels.reshape(-1),
                               ignore_index=-100)
        return {"loss": loss, "tokens": n}

    def encode_understanding_prefix(self, pixel_values: torch.Tensor, input_ids: torch.Tensor,
                                    attention_mask: torch.Tensor, reserve: int = 0) -> tuple[torch.Tensor, KVCache]:
        """Run [image block, input_ids] once; return last-position logits (B, V) and the KV cache (with
        room for `reserve` more tokens). The image block attends to itself without a mask."""
        inputs = self._understanding_inputs(pixel_values, input_ids, attention_mask)
        image_block = inputs["und_BLD"].shape[1] - input_ids.shape[1]
        out = self.decoder(**inputs, update_cache=True, reserve=reserve, prefix_block=image_block)
        return self.lm_head(out["und"][:, -1]), out["cache"]

    def decode_step(self, token_B: torch.Tensor, cache: KVCache) -> tuple[torch.Tensor, KVCache]:
        """Feed one token per sample at the cache's next position; return logits (B, V) and the cache,
        extended in place."""
        B = token_B.shape[0]
        out = self.decoder(und_BLD=self.decoder.embed_tokens(token_B[:, None]), und_pos_BL=cache.next_pos_B[:, None],
                           und_valid_BL=torch.ones(B, 1, dtype=torch.bool, device=token_B.device),
                           cache=cache, update_cache=True, new_block=True)
        return self.lm_head(out["und"][:, -1]), out["cache"]

    @torch.no_grad()
    def generate_report_ids(self, pixel_values: torch.Tensor, input_ids: torch.Tensor,
                            attention_mask: torch.Tensor, max_new_tokens: int | None = None,
                            do_sample: bool = False, temperature: float = 1.0, top_p: float = 1.0,
                            generator: torch.Generator | None = None) -> list[list[int]]:
        """Autoregressive decoding with a KV cache; stops per sample at EOS (not included) or max length.

        input_ids should end with the token decoding starts from ([bos] prompt [eos] [bos]); pad on
        the left so that every sample's last token is real.
        """
        if not bool(attention_mask[:, -1].all()):
            raise ValueError("generate_report_ids: pad prompts on the left (tokenizer.padding_side='left'), "
                             "so that each sample's last token is the one decoding continues from")
        max_new_tokens = max_new_tokens or self.config.max_report_tokens
        logits, cache = self.encode_understanding_prefix(pixel_values, input_ids, attention_mask,
                                                         reserve=max_new_tokens)
        B = input_ids.shape[0]
        out: list[list[int]] = [[] for _ in range(B)]
        done = torch.zeros(B, dtype=torch.bool)
        for step in range(max_new_tokens):
            token = _choose(logits, do_sample, temperature, top_p, generator)
            for i in range(B):
                if not done[i]:
                    if int(token[i]) == self.config.eos_token_id:
                        done[i] = True
                    else:
                        out[i].append(int(token[i]))
            if bool(done.all()) or step == max_new_tokens - 1:
                break
            logits, cache = self.decode_step(token.to(input_ids.device), cache)
        return out

    # ------------------------------------------------------------------ generation
    def _caption_inputs(self, input_ids: torch.Tensor, attention_mask: torch.Tensor) -> dict[str, torch.Tensor]:
        """The caption [bos caption eos] (causal): embeddings, positions 0..L-1 and validity."""
        valid = attention_mask.bool()
        return dict(und_BLD=self.decoder.embed_tokens(input_ids), und_pos_BL=_text_positions(valid), und_valid_BL=valid)

    def _block_inputs(self, pos_B: torch.Tensor) -> dict[str, torch.Tensor]:
        """BOI and EOI of the generation block (understanding weights) at position pos_B, seeing the latents."""
        B, dev = pos_B.shape[0], pos_B.device
        ids = torch.tensor([self.config.boi_token_id, self.config.eoi_token_id], device=dev)
        return dict(und_BLD=self.decoder.embed_tokens(ids)[None].expand(B, -1, -1),
                    und_pos_BL=pos_B[:, None].expand(-1, 2), und_valid_BL=torch.ones(B, 2, dtype=torch.bool, device=dev),
                    und_block_BL=torch.ones(B, 2, dtype=torch.long, device=dev),
                    und_in_gen_BL=torch.ones(B, 2, dtype=torch.bool, device=dev))

    def _velocity_joint(self, x_t: torch.Tensor, t_B: torch.Tensor, input_ids: torch.Tensor,
                        attention_mask: torch.Tensor, capture_gen_layer: int | None = None) -> dict[str, torch.Tensor]:
        """One joint forward over [caption, BOI, latents, EOI]: velocity (B, C, h, w) and the REPA layer state."""
        cap = self._caption_inputs(input_ids, attention_mask)
        block_pos = cap["und_valid_BL"].sum(dim=1)  # L valid caption tokens; 0 when the caption is dropped
        block = self._block_inputs(block_pos)
        B, Lc = input_ids.shape
        dev = input_ids.device
        und = dict(
            und_BLD=torch.cat([cap["und_BLD"], block["und_BLD"].to(cap["und_BLD"].dtype)], dim=1),
            und_pos_BL=torch.cat([cap["und_pos_BL"], block["und_pos_BL"]], dim=1),
            und_valid_BL=torch.cat([cap["und_valid_BL"], block["und_valid_BL"]], dim=1),
            und_block_BL=torch.cat([torch.zeros(B, Lc, dtype=torch.long, device=dev), block["und_block_BL"]], dim=1),
            und_in_gen_BL=torch.cat([torch.zeros(B, Lc, dtype=torch.bool, device=dev), block["und_in_gen_BL"]], dim=1))
        h, w = x_t.shape[-2:]
        gen = self.latent.embed(x_t, t_B)
        gen_pos = block_pos[:, None].expand(-1, gen.shape[1])
        out = self.decoder(**und, gen_BND=gen, gen_pos_BN=gen_pos, capture_gen_layer=capture_gen_layer)
        v = self.latent.unpatchify(self.latent.llm2vae(out["gen"]), h, w)
        return {"velocity": v, "gen_layer": out["gen_layer"]}

    def generation_loss(self, images: torch.Tensor, input_ids: torch.Tensor, attention_mask: torch.Tensor,
                        generator: torch.Generator | None = None, repa_weight: float | None = None
                        ) -> dict[str, torch.Tensor]:
        """Flow-matching loss (+ REPA) for images in [-1, 1] (B, 3, H, W) and captions [bos] text [eos].

        Draws the VAE posterior sample, t = shift(sigmoid(N(0,1))), noise, and the caption dropout from
        `generator` (CPU) when given. loss = flow + repa_weight * repa (repa_weight defaults to the
        config's; 0 skips the REPA encoder).
        """
        cfg = self.config
        repa_weight = cfg.repa_weight if repa_weight is None else repa_weight
        B = images.shape[0]
        with torch.no_grad():
            x0 = vae_encode(self.vae, images, cfg, generator=generator)
        t = flow.sample_training_timesteps(B, cfg.timestep_shift, generator, images.device)
        noise = torch.randn(x0.shape, generator=generator).to(x0)
        x_t, target = flow.noisy_latents(x0, t, noise)
        if cfg.caption_dropout > 0 and self.training:
            keep = (torch.rand(B, generator=generator) >= cfg.caption_dropout).to(attention_mask.device)
            attention_mask = attention_mask * keep[:, None].to(attention_mask.dtype)
        out = self._velocity_joint(x_t, t, input_ids, attention_mask,
                                   capture_gen_layer=cfg.repa_layer if repa_weight > 0 else None)
        flow_loss = F.mse_loss(out["velocity"].float(), target.float())
        if repa_weight > 0:
            targets = encoder_targets(self.repa_encoder, images, cfg)
            repa = repa_loss(self.repa_projector(out["gen_layer"]), targets, cfg.repa_interpolation)
        else:
            repa = torch.zeros((), device=flow_loss.device)
        return {"loss": flow_loss + repa_weight * repa, "flow": flow_loss.detach(), "repa": repa.detach()}

    def encode_caption_prefix(self, input_ids: torch.Tensor, attention_mask: torch.Tensor,
                              reserve: int = 0) -> KVCache:
        """KV cache of the caption, computed once and reused by every sampling step; `reserve` is the room
        for the generation block, whose keys each step writes after the caption's."""
        return self.decoder(**self._caption_inputs(input_ids, attention_mask), update_cache=True,
                            reserve=reserve)["cache"]

    def velocity_cached(self, x_t: torch.Tensor, t_B: torch.Tensor, cache: KVCache) -> torch.Tensor:
        """Velocity of latents given a cached caption: only the block [BOI, latents, EOI] goes through the
        decoder, at position L = the number of valid caption tokens (0 without a caption)."""
        h, w = x_t.shape[-2:]
        block_pos = cache.valid_BL.sum(dim=1)
        gen = self.latent.embed(x_t, t_B)
        gen_pos = block_pos[:, None].expand(-1, gen.shape[1])
        out = self.decoder(**self._block_inputs(block_pos), gen_BND=gen, gen_pos_BN=gen_pos, cache=cache,
                           new_block=True)
        return self.latent.unpatchify(self.latent.llm2vae(out["gen"]), h, w)

    @torch.no_grad()
    def generate_latents(self, input_ids: torch.Tensor, attention_mask: torch.Tensor, seeds: list[int] | None,
                         image_size: int | None = None, steps: int | None = None, shift: float | None = None,
                         cfg_scale: float | None = None, cfg_interval: tuple[float, float] | None = None,
                         renorm: bool | None = None, use_cache: bool = True,
                         noise: torch.Tensor | None = None) -> torch.Tensor:
        """Sample normalised latents (B, 16, h, w); sample i starts from noise seeded by seeds[i], or from
        the given `noise` (B, 16, h, w) when seeds is None."""
        cfg = self.config
        image_size = image_size or cfg.gen_image_size
        steps = steps or cfg.sample_steps
        shift = cfg.sample_shift if shift is None else shift
        cfg_scale = cfg.cfg_scale if cfg_scale is None else cfg_scale
        cfg_interval = cfg.cfg_interval if cfg_interval is None else tuple(cfg_interval)
        renorm = cfg.cfg_renorm if renorm is None else renorm
        if image_size % cfg.latent_downsample:
            raise ValueError(f"image_size={image_size} must be a multiple of {cfg.latent_downsample}")
        B = input_ids.shape[0]
        if (seeds is None) == (noise is None):
            raise ValueError("generate_latents: give either seeds (one per prompt) or noise, not both")
        if seeds is not None:
            if len(seeds) != B:
                raise ValueError(f"generate_latents: got {len(seeds)} seeds for {B} prompts; pass one seed per prompt")
            side = image_size // cfg.latent_downsample * cfg.latent_patch_size
            noise = torch.stack([torch.randn(cfg.latent_channels, side, side,
                                             generator=torch.Generator().manual_seed(int(s))) for s in seeds])
        noise = noise.to(self.device, self.latent.vae2llm.weight.dtype)
        guidance = cfg_scale != 1.0
        ids2 = torch.cat([input_ids, input_ids]) if guidance else input_ids
        mask2 = torch.cat([attention_mask, torch.zeros_like(attention_mask)]) if guidance else attention_mask
        block = 2 + (noise.shape[-2] // cfg.latent_patch_size) * (noise.shape[-1] // cfg.latent_patch_size)
        cache = self.encode_caption_prefix(ids2, mask2, reserve=block) if use_cache else None

        def velocity(x, t_B, guided):
            xx = torch.cat([x, x]) if guidance else x
            tt = torch.cat([t_B, t_B]) if guidance else t_B
            if guided or not guidance:
                v = self.velocity_cached(xx, tt, cache) if use_cache else \
                    self._velocity_joint(xx, tt, ids2, mask2)["velocity"]
                return (v[:B], v[B:]) if guidance else (v, None)
            # Outside the guidance interval only the conditional half is needed.
            if use_cache:
                return self.velocity_cached(x, t_B, cache.select(slice(0, B))), None
            return self._velocity_joint(x, t_B, input_ids, attention_mask)["velocity"], None

        return flow.euler_sample(velocity, noise, steps, shift, cfg_scale, cfg_interval, renorm)

    @torch.no_grad()
    def generate_image_tensors(self, input_ids: torch.Tensor, attention_mask: torch.Tensor, seeds: list[int],
                               **kwargs) -> torch.Tensor:
        """Images in [-1, 1] (B, 3, H, W) decoded by the VAE from `generate_latents`."""
        latents = self.generate_latents(input_ids, attention_mask, seeds, **kwargs)
        return vae_decode(self.vae, latents.to(next(self.vae.parameters()).dtype), self.config)

    # ------------------------------------------------------------------ persistence
    def save_pretrained(self, directory: str | Path) -> None:
        """config.json + model.safetensors (see unix.model.checkpoints)."""
        from unix.model.checkpoints import save_pretrained

        save_pretrained(self, directory)

    @classmethod
    def from_pretrained(cls, directory: str | Path, map_location: str | torch.device = "cpu") -> "UniX":
        from unix.model.checkpoints import from_pretrained

        return from_pretrained(cls, directory, map_location=map_location)


def _choose(logits_BV: torch.Tensor, do_sample: bool, temperature: float, top_p: float,
            generator: torch.Generator | None) -> torch.Tensor:
    if not do_sample:
        return logits_BV.argmax(dim=-1).cpu()
    probs = torch.softmax(logits_BV.float().cpu() / max(temperature, 1e-6), dim=-1)
    if top_p < 1.0:
        sorted_p, idx = probs.sort(dim=-1, descending=True)
        drop = sorted_p.cumsum(-1) - sorted_p > top_p
        sorted_p[drop] = 0
        probs = torch.zeros_like(probs).scatter(-1, idx, sorted_p)
        probs = probs / probs.sum(-1, keepdim=True)
    return torch.multinomial(probs, 1, generator=generator)[:, 0]
