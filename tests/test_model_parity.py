"""Parity with the upstream UniX code: our model, loaded through the `weights.unix` loader path, must
compute what upstream computes with the same weights (fp32, relative error <= 1e-5).

How the fixtures in tests/fixtures/upstream_parity/ were produced (see tests/fixtures/upstream_parity/README.md):
upstream ZrH42/UniX a7ec625 (built on ByteDance-Seed/Bagel 056b5fd) was run on CPU under /tmp, outside the
project, with these local changes only: flash_attn's `flash_attn_varlen_func` replaced by an equivalent
loop of `scaled_dot_product_attention` calls (causal masks aligned bottom-right, as flash-attn does),
the hard-coded bfloat16 casts of `qwen2_navit.py` turned into float32, the package `__init__`s that
import torchvision/cv2-only preprocessing emptied, transformers 4.x's default RoPE initialiser restored
and `BaseNavitOutputWithPast` made a plain dataclass (for transformers 5). The model was upstream's
`UniX(Qwen2ForCausalLM(Qwen2Config(hidden 64, intermediate 128, 2 layers, 4 heads, vocab 128, qk_norm,
layer_module Qwen2MoTDecoderLayer)), Janus timm SigLIP (width 32, 2 blocks, 64 px, patch 16), UniXConfig(
connector_act='gelu_pytorch_tanh', max_latent_size=8, latent_patch_size=1))` as `inference/pipeline.py`
builds it; every parameter was drawn at random (torch.manual_seed(0)), and the state dict was saved in the
released key format (`connector.fc1/fc2` written as `connector.layers.0/2`, `latent_pos_embed.pos_embed`
included). Special ids: bos 0, eos 1, BOI 2, EOI 3. Then, with upstream's own functions:
- understanding (`UniXInferencer.update_context_image(vae=False)`, `update_context_text`, then
  `UniX.generate_text` greedy for 6 steps from bos, as eval/base/worker.py): the LM-head logits after
  each fed token (bos, then the greedy tokens);
- velocities (`prepare_vae_latent` + `_forward_flow` with CFG off) of two 4x4x16 latents at
  t in {1, 0.7, 0.3, 0.05}, with the caption context (`update_context_text`) and with the empty context;
- a full sample (`UniX.generate_image`: 50 timesteps, shift 3.0, text CFG 2.0 on (0.4, 1], global
  renorm, cfg_img_scale 1.0, the unconditional branch the empty context) from fixed noise;
- REPA (`repa.safetensors`): `REPAEncoderManager.preprocess_image` + the RadDino processor on a formula
  image, and `REPALoss` on random features and targets.
"""

from pathlib import Path

import pytest
import torch
from safetensors.torch import load_file

from unix.model import checkpoints as ckpt
from unix.model.config import UniXConfig
from unix.model.latent import sincos_2d
from unix.model.unix import UniX

FIXTURES = Path(__file__).parent / "fixtures" / "upstream_parity"
RTOL = 1e-5  # stricter than the 1e-4 asked for: fp32 agreement is ~1e-6, and exact vs tanh GELU in the
#                connector moves the tiny model's logits by ~9e-5


def _config() -> UniXConfig:
    return UniXConfig.from_name(
        "tiny", vocab_size=128, hidden_size=64, intermediate_size=128, num_layers=2, num_heads=4,
        bos_token_id=0, eos_token_id=1, boi_token_id=2, eoi_token_id=3, pad_token_id=4,
        vision=dict(hidden_size=32, intermediate_size=128, num_hidden_layers=2, num_attention_heads=2,
                    image_size=64, patch_size=16, vision_use_head=False, layer_norm_eps=1e-6, hidden_act="gelu"),
        max_latent_size=8, gen_image_size=64, repa_layer=0)


@pytest.fixture(scope="module")
def model_and_io():
    model = UniX(_config())
    report = ckpt.load_unix_release(model, FIXTURES / "model.safetensors")
    assert report["loaded"] > 0
    return model.eval(), load_file(str(FIXTURES / "io.safetensors"))


def rel_err(ours: torch.Tensor, ref: torch.Tensor) -> float:
    """Largest |ours - ref| relative to the largest |ref|."""
    return float((ours.float() - ref.float()).abs().max() / ref.float().abs().max())


def _tokens_to_latent(tokens_NC: torch.Tensor, side: int = 4) -> torch.Tensor:
    """Upstream's packed latent tokens (row-major h*w, C) -> our (C, h, w)."""
    return tokens_NC.T.reshape(tokens_NC.shape[1], side, side)


def test_loaded_position_table_is_upstream_sincos(model_and_io):
    model, _ = model_and_io
    stored = load_file(str(FIXTURES / "model.safetensors"))["latent_pos_embed.pos_embed"]
    torch.testing.assert_close(model.latent.pos_table, stored)
    torch.testing.assert_close(sincos_2d(64, 8), stored, rtol=0, atol=1e-6)


@torch.no_grad()
def test_understanding_logits_match_upstream(model_and_io):
    model, io = model_and_io
    fed = io["und_fed_ids"]
    input_ids = torch.cat([torch.tensor([0]), io["und_prompt_ids"], torch.tensor([1]), fed])[None]
    logits = model.understanding_logits(io["und_pixel_values"], input_ids)[0, -len(fed):]
    assert rel_err(logits, io["und_logits"]) < RTOL
    # greedy decoding with the KV cache reproduces upstream's tokens
    prefix = torch.cat([torch.tensor([0]), io["und_prompt_ids"], torch.tensor([1, 0])])[None]
    ids = model.generate_report_ids(io["und_pixel_values"], prefix, torch.ones_like(prefix), max_new_tokens=5)
    assert ids[0] == fed[1:].tolist()


@torch.no_grad()
def test_generation_velocities_match_upstream(model_and_io):
    model, io = model_and_io
    caption = torch.cat([torch.tensor([0]), io["gen_caption_ids"], torch.tensor([1])])[None]
    x = torch.stack([_tokens_to_latent(t) for t in io["gen_latents_tokens"]])
    for j, t in enumerate(io["gen_t"]):
        t_B = torch.full((2,), float(t))
        for mask, ref in ((torch.ones_like(caption), io["gen_v_cond"]), (torch.zeros_like(caption), io["gen_v_uncond"])):
            ids, m = caption.expand(2, -1), mask.expand(2, -1)
            expected = torch.stack([_tokens_to_latent(ref[b, j]) for b in range(2)])
            joint = model._velocity_joint(x, t_B, ids, m)["velocity"]
            cached = model.velocity_cached(x, t_B, model.encode_caption_prefix(ids, m))
            assert rel_err(joint, expected) < RTOL, (float(t), mask.sum())
            assert rel_err(cached, expected) < RTOL, (float(t), mask.sum())


@torch.no_grad()
def test_full_sample_matches_upstream(model_and_io):
    model, io = model_and_io
    caption = torch.cat([torch.tensor([0]), io["gen_caption_ids"], torch.tensor([1])])[None]
    noise = _tokens_to_latent(io["sample_noise_tokens"])[None]
    out = model.generate_latents(caption, torch.ones_like(caption), None, image_size=64, steps=49, shift=3.0,
                                 cfg_scale=2.0, cfg_interval=(0.4, 1.0), renorm=True, noise=noise)
    assert rel_err(out[0], _tokens_to_latent(io["sample_final_tokens"])) < RTOL


def _smooth_image() -> torch.Tensor:
    """The fixture's 256 px image in [0.1, 0.9] (smooth, so bicubic resizing never leaves [0, 1])."""
    import math

    y, x = torch.meshgrid(torch.arange(256.0), torch.arange(256.0), indexing="ij")
    return torch.stack([0.5 + 0.4 * torch.sin(2 * math.pi * (x / 256 * (c + 1) + y / 256 * 0.5 + 0.1 * c))
                        * torch.cos(2 * math.pi * y / 256 * (2 - c * 0.5)) for c in range(3)])


def test_repa_targets_and_loss_match_upstream():
    """Upstream `REPAEncoderManager.preprocess_image` (224 px bicubic, x255, uint8) followed by the RadDino
    processor (here BitImageProcessorPil with a 56 px resize and crop), and `REPALoss` with an identity
    projector, for a different (36) and an equal (16) target token count."""
    from unix.model.repa import encoder_inputs, repa_loss

    io = load_file(str(FIXTURES / "repa.safetensors"))
    cfg = UniXConfig.from_name("tiny", repa_image_size=224, repa_processor_size=56, repa_processor_crop=56,
                               repa_encoder_mean=(0.5307,) * 3, repa_encoder_std=(0.2583,) * 3)
    ours = encoder_inputs(_smooth_image()[None] * 2 - 1, cfg)
    step = 1 / 255 / 0.2583  # one uint8 level after normalisation
    diff = (ours - io["pixel_values"]).abs()
    assert diff.max() <= step + 1e-5 and (diff > 1e-5).float().mean() < 1e-3  # [-1, 1] round trip: rare 1-level flips
    assert rel_err(repa_loss(io["features"], io["targets36"], "1d"), io["loss36"][0]) < RTOL
    assert rel_err(repa_loss(io["features"], io["targets16"]), io["loss16"][0]) < RTOL
