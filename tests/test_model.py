"""Behaviour of the UniX model: masks, freezing, caches, sampling, losses, save/load (tiny config, CPU)."""

from __future__ import annotations

import pytest
import torch

from unix.model import UniX, UniXConfig
from unix.model import flow
from unix.model.checkpoints import CheckpointError
from unix.model.mot import build_mask


@pytest.fixture(scope="module")
def model() -> UniX:
    torch.manual_seed(0)
    m = UniX(UniXConfig.from_name("tiny"))
    # llm2vae starts at zero (velocity 0 everywhere); give it weights so outputs depend on the inputs.
    with torch.no_grad():
        m.latent.llm2vae.weight.normal_(0, 0.5)
        m.latent.llm2vae.bias.normal_(0, 0.1)
        m.init_generation_from_understanding()
        for p in m.generation_parameters():  # make the two branches differ
            p.add_(0.01 * torch.randn_like(p))
    return m.eval()


def _text(B=2, L=10, seed=0, pad_first=2):
    g = torch.Generator().manual_seed(seed)
    ids = torch.randint(5, 1000, (B, L), generator=g)
    mask = torch.ones_like(ids)
    mask[0, L - pad_first:] = 0  # right padding on sample 0
    return ids, mask


def _latents(B=2, seed=0, side=4):
    return torch.randn(B, 16, side, side, generator=torch.Generator().manual_seed(seed))


def test_mask_rules():
    und_valid = torch.tensor([[True, True, True, False]])
    m = build_mask(und_valid, n_gen=2)[0, 0]
    # text is causal and never sees latents
    assert m[1, :4].tolist() == [True, True, False, False] and not m[:4, 4:].any()
    # latents see the valid prefix (not the padding) and each other
    assert m[4].tolist() == [True, True, True, False, True, True]
    # image block: full attention among block members, causal after
    block = torch.tensor([[1, 1, 1, 0]])
    m = build_mask(torch.ones(1, 4, dtype=torch.bool), 0, und_block_BL=block)[0, 0]
    assert m[0, 2] and m[1, 2] and not m[3].logical_not().any() and not m[2, 3]
    # generation block [BOI, latents, EOI]: BOI/EOI (understanding tokens 2, 3) see the caption, each other
    # and the latents; the caption sees none of them
    m = build_mask(torch.ones(1, 4, dtype=torch.bool), 2, und_block_BL=torch.tensor([[0, 0, 1, 1]]),
                   und_in_gen_BL=torch.tensor([[False, False, True, True]]))[0, 0]
    assert m[2].all() and m[3].all() and m[4].all() and not m[:2, 2:].any()


def test_generation_block_position_and_caption_dropout(model):
    """The block sits at position L (valid caption tokens); a dropped caption leaves no trace."""
    ids, mask = _text()
    x, t = _latents(), torch.full((2,), 0.6)
    other = torch.randint(5, 1000, ids.shape, generator=torch.Generator().manual_seed(9))
    dropped = torch.zeros_like(mask)
    a = model._velocity_joint(x, t, ids, dropped)["velocity"]
    b = model._velocity_joint(x, t, other[:, :3], dropped[:, :3])["velocity"]
    torch.testing.assert_close(a, b)
    cap = model.encode_caption_prefix(ids, mask)
    assert cap.valid_BL.sum(dim=1).tolist() == [8, 10]


def test_connector_gelu_follows_training_and_inference():
    from unix.model.vision import Connector

    c = Connector(4, 6)
    x = torch.randn(3, 4) * 3
    exact = c.fc2(torch.nn.functional.gelu(c.fc1(x)))
    tanh = c.fc2(torch.nn.functional.gelu(c.fc1(x), approximate="tanh"))
    assert not torch.allclose(exact, tanh)
    torch.testing.assert_close(c.train()(x), exact)  # upstream: Janus MlpProjector (exact) in training
    torch.testing.assert_close(c.eval()(x), tanh)  # upstream inference: gelu_pytorch_tanh
    always_exact = Connector(4, 6, "gelu")
    always_exact.load_state_dict(c.state_dict())
    torch.testing.assert_close(always_exact.eval()(x), exact)
    with pytest.raises(ValueError, match="connector_act"):
        Connector(4, 6, "relu")


def test_latent_table_first_half_encodes_the_column():
    from unix.model.latent import sincos_2d

    table = sincos_2d(16, 4).view(4, 4, 16)  # (row, col, D)
    assert torch.equal(table[0, :, :8], table[3, :, :8]) and not torch.equal(table[:, 0, :8], table[:, 3, :8])
    assert torch.equal(table[:, 0, 8:], table[:, 3, 8:]) and not torch.equal(table[0, :, 8:], table[3, :, 8:])


def test_repa_loss_is_upstream_negative_cosine_over_batch():
    from unix.model.repa import repa_loss

    g = torch.Generator().manual_seed(0)
    p, f = torch.randn(2, 16, 8, generator=g), torch.randn(2, 16, 8, generator=g)
    cos = torch.nn.functional.cosine_similarity(p, f, dim=-1)
    torch.testing.assert_close(repa_loss(p, f), -cos.mean() / 2)
    # 1d: the normalised 16-token sequence is stretched linearly to the 36 targets (no renormalisation)
    f36 = torch.randn(2, 36, 8, generator=g)
    pn = torch.nn.functional.normalize(p, dim=-1)
    pos = ((torch.arange(36) + 0.5) * 16 / 36 - 0.5).clamp(0, 15)
    lo = pos.floor().long()
    hi = (lo + 1).clamp(max=15)
    w = (pos - lo)[None, :, None]
    stretched = pn[:, lo] * (1 - w) + pn[:, hi] * w
    expected = -(stretched * torch.nn.functional.normalize(f36, dim=-1)).sum(-1).mean() / 2
    torch.testing.assert_close(repa_loss(p, f36, "1d"), expected)
    # 2d: the 4x4 grid is resized to 6x6, so row ends are not mixed with the next row's start
    grid = torch.nn.functional.interpolate(pn.transpose(1, 2).reshape(2, 8, 4, 4), size=(6, 6), mode="bilinear")
    expected2 = -(grid.flatten(2).transpose(1, 2) * torch.nn.functional.normalize(f36, dim=-1)).sum(-1).mean() / 2
    torch.testing.assert_close(repa_loss(p, f36, "2d"), expected2)
    assert not torch.allclose(repa_loss(p, f36, "1d"), repa_loss(p, f36, "2d"))


def test_repa_encoder_inputs_follow_the_reference_pipeline():
    """[-1, 1] -> [0, 1] -> bicubic 56 px -> uint8 (truncated) -> processor resize/crop/rescale/normalise."""
    from unix.model.repa import encoder_inputs

    cfg = UniXConfig.from_name("tiny", repa_image_size=28, repa_processor_size=42, repa_processor_crop=28)
    img = torch.rand(1, 3, 64, 64) * 2 - 1
    out = encoder_inputs(img, cfg)
    assert out.shape == (1, 3, 28, 28)
    x = torch.nn.functional.interpolate((img + 1) / 2, size=(28, 28), mode="bicubic", align_corners=False)
    u8 = (x.clamp(0, 1) * 255).to(torch.uint8)
    from PIL import Image
    import numpy as np
    pil = Image.fromarray(u8[0].permute(1, 2, 0).numpy(), mode="RGB").resize((42, 42), Image.BICUBIC)
    crop = np.asarray(pil, dtype=np.float32)[7:35, 7:35] / 255.0
    expected = (torch.from_numpy(crop).permute(2, 0, 1) - cfg.repa_encoder_mean[0]) / cfg.repa_encoder_std[0]
    torch.testing.assert_close(out[0], expected, atol=1e-5, rtol=0)


def test_latents_never_change_text(model):
    ids, mask = _text()
    cap = model._caption_inputs(ids, mask)
    t = torch.full((2,), 0.5)
    outs = [model.decoder(**cap, gen_BND=model.latent.embed(_latents(seed=s), t),
                          gen_pos_BN=torch.full((2, 16), 11))["und"] for s in (0, 1)]
    assert torch.equal(outs[0], outs[1])


def test_text_changes_latent_outputs(model):
    ids, mask = _text()
    ids2 = ids.clone()
    ids2[:, 3] = (ids2[:, 3] + 1) % 1000 + 5
    x, t = _latents(), torch.full((2,), 0.7)
    v1 = model._velocity_joint(x, t, ids, mask)["velocity"]
    v2 = model._velocity_joint(x, t, ids2, mask)["velocity"]
    assert (v1 - v2).abs().amax() > 1e-4


def test_prefix_cache_equals_joint_forward(model):
    ids, mask = _text()
    x, t = _latents(), torch.full((2,), 0.3)
    joint = model._velocity_joint(x, t, ids, mask)["velocity"]
    cached = model.velocity_cached(x, t, model.encode_caption_prefix(ids, mask))
    torch.testing.assert_close(cached, joint, atol=1e-5, rtol=1e-5)


def test_cached_decoding_equals_full_forward(model):
    torch.manual_seed(1)
    pix = torch.randn(2, 3, 64, 64)
    ids, _ = _text(L=6)
    mask = torch.ones_like(ids)
    mask[1, :2] = 0  # left padding
    out = model.generate_report_ids(pix, ids, mask, max_new_tokens=6)
    # Greedy decoding with the cache must pick the argmax of a cache-free forward over the same text.
    for i in range(2):
        seq = torch.cat([ids[i:i + 1], torch.tensor([out[i]], dtype=torch.long)], dim=1)
        full_mask = torch.cat([mask[i:i + 1], torch.ones(1, len(out[i]), dtype=torch.long)], dim=1)
        logits = model.understanding_logits(pix[i:i + 1], seq, full_mask)
        greedy = logits[0, ids.shape[1] - 1:-1].argmax(-1).tolist() if out[i] else []
        assert greedy == out[i]
    # and the step logits themselves agree
    logits0, cache = model.encode_understanding_prefix(pix, ids, mask)
    nxt = logits0.argmax(-1)
    step_logits, _ = model.decode_step(nxt, cache)
    full = model.understanding_logits(pix, torch.cat([ids, nxt[:, None]], 1),
                                      torch.cat([mask, torch.ones(2, 1, dtype=torch.long)], 1))[:, -1]
    torch.testing.assert_close(step_logits, full, atol=1e-5, rtol=1e-5)


def test_freezing_understanding_gives_no_understanding_gradient():
    torch.manual_seed(0)
    m = UniX(UniXConfig.from_name("tiny")).train()
    ids, mask = _text()
    m.set_trainable(understanding=False, generation=True)
    out = m.generation_loss(torch.rand(2, 3, 64, 64) * 2 - 1, ids, mask, generator=torch.Generator().manual_seed(0))
    assert set(out) >= {"loss", "flow", "repa"} and out["repa"] != 0
    out["loss"].backward()
    assert all(p.grad is None for p in m.understanding_parameters())
    assert all(p.grad is None for p in m.frozen_parameters())
    gen_grads = [p.grad for p in m.generation_parameters()]
    assert all(g is not None for g in gen_grads) and any(g.abs().sum() > 0 for g in gen_grads)
    # Stage 1: the reverse
    m.zero_grad(set_to_none=True)
    m.set_trainable(understanding=True, generation=False)
    labels = ids.clone()
    labels[:, :4] = -100
    m.understanding_loss(torch.randn(2, 3, 64, 64), ids, labels, mask)["loss"].backward()
    assert all(p.grad is None for p in m.generation_parameters())
    assert all(p.grad is not None for p in m.understanding_parameters())


def test_generation_loss_is_deterministic_for_a_generator(model):
    ids, mask = _text()
    img = torch.rand(2, 3, 64, 64) * 2 - 1
    a = model.generation_loss(img, ids, mask, generator=torch.Generator().manual_seed(3))
    b = model.generation_loss(img, ids, mask, generator=torch.Generator().manual_seed(3))
    assert a["loss"] == b["loss"] and torch.isfinite(a["loss"])
    assert model.generation_loss(img, ids, mask, repa_weight=0.0)["repa"] == 0


def test_sampling_is_deterministic_per_seed_and_batch_independent(model):
    ids, mask = _text()
    kw = dict(steps=4, image_size=64)
    a = model.generate_latents(ids, mask, seeds=[5, 6], **kw)
    b = model.generate_latents(ids, mask, seeds=[5, 6], **kw)
    assert torch.equal(a, b)
    c = model.generate_latents(ids, mask, seeds=[5, 7], **kw)
    torch.testing.assert_close(c[0], a[0], atol=1e-5, rtol=1e-5)
    assert (c[1] - a[1]).abs().amax() > 1e-3
    alone = model.generate_latents(ids[1:], mask[1:], seeds=[6], **kw)
    torch.testing.assert_close(alone[0], a[1], atol=1e-5, rtol=1e-5)


def test_cfg_scale_one_equals_conditional(model):
    vc, vu = torch.randn(3, 16, 4, 4), torch.randn(3, 16, 4, 4)
    torch.testing.assert_close(flow.guided_velocity(vc, vu, 1.0, renorm=False), vc)
    torch.testing.assert_close(flow.guided_velocity(vc, vu, 1.0, renorm=True), vc)
    ids, mask = _text()
    kw = dict(steps=4, image_size=64, seeds=[1, 2])
    plain = model.generate_latents(ids, mask, cfg_scale=1.0, **kw)
    # guidance whose interval excludes every step is the conditional sampler as well
    never = model.generate_latents(ids, mask, cfg_scale=3.0, cfg_interval=(1.0, 1.0), **kw)
    torch.testing.assert_close(never, plain, atol=1e-5, rtol=1e-5)
    guided = model.generate_latents(ids, mask, cfg_scale=3.0, cfg_interval=(0.0, 1.0), **kw)
    assert (guided - plain).abs().amax() > 1e-3


def test_renorm_caps_the_guided_norm():
    vc, vu = torch.randn(2, 16, 4, 4), torch.randn(2, 16, 4, 4)
    v = flow.guided_velocity(vc, vu, 4.0, renorm=True)
    assert torch.all(v.flatten(1).norm(dim=1) <= vc.flatten(1).norm(dim=1) + 1e-5)


def test_flow_target_and_shift():
    x0, eps = torch.randn(2, 16, 2, 2), torch.randn(2, 16, 2, 2)
    t = torch.tensor([0.0, 1.0])
    xt, target = flow.noisy_latents(x0, t, eps)
    torch.testing.assert_close(xt[0], x0[0])
    torch.testing.assert_close(xt[1], eps[1])
    torch.testing.assert_close(target, eps - x0)
    s = flow.sampling_schedule(4, 3.0)
    assert s[0] == 1 and s[-1] == 0 and torch.all(s[1:] < s[:-1])
    torch.testing.assert_close(flow.shift_timesteps(torch.tensor([0.5]), 3.0), torch.tensor([0.75]))


def test_euler_schedule_matches_diffusers():
    from diffusers import FlowMatchEulerDiscreteScheduler

    sched = FlowMatchEulerDiscreteScheduler(shift=3.0)
    sched.set_timesteps(sigmas=torch.linspace(1.0, 0.0, 11)[:-1].tolist())
    torch.testing.assert_close(sched.sigmas.float(), flow.sampling_schedule(10, 3.0), atol=1e-6, rtol=1e-6)


def test_save_and_load_roundtrip(model, tmp_path):
    model.save_pretrained(tmp_path / "m")
    loaded = UniX.from_pretrained(tmp_path / "m")
    for (k, a), (k2, b) in zip(model.state_dict().items(), loaded.state_dict().items()):
        assert k == k2 and torch.equal(a, b), k
    assert loaded.config == model.config


def test_load_names_missing_and_unexpected_keys(model, tmp_path):
    from safetensors.torch import load_file, save_file

    model.save_pretrained(tmp_path / "m")
    state = load_file(str(tmp_path / "m" / "model.safetensors"))
    del state["lm_head.weight"]
    state["extra.weight"] = torch.zeros(1)
    save_file(state, str(tmp_path / "m" / "model.safetensors"))
    with pytest.raises(CheckpointError, match=r"missing keys \(1\): lm_head.weight.*unexpected keys \(1\): extra.weight"):
        UniX.from_pretrained(tmp_path / "m")


def test_extend_latent_positions_keeps_existing_positions(model):
    m = UniX(UniXConfig.from_name("tiny"))
    before = m.latent.pos_table.clone()
    with pytest.raises(ValueError, match="extend_latent_positions"):
        m.latent.position_ids(16, 16, torch.device("cpu"))
    m.extend_latent_positions(16)
    assert m.config.max_latent_size == 16 and m.latent.pos_table.shape[0] == 256
    # position (r, c) keeps its embedding: old id r*8 + c, new id r*16 + c
    torch.testing.assert_close(m.latent.pos_table[1 * 16 + 3], before[1 * 8 + 3])


def test_config_errors_name_the_field():
    with pytest.raises(ValueError, match="unknown model size"):
        UniXConfig.from_name("huge")
    with pytest.raises(ValueError, match="repa_layer"):
        UniXConfig.from_name("tiny", repa_layer=7)
    with pytest.raises(ValueError, match="unknown UniXConfig field"):
        UniXConfig.from_dict({"hiden_size": 3})


def test_full_config_parameter_counts_on_meta():
    from unix.model.params import count_parameters

    counts = count_parameters(UniXConfig.from_name("unix-1.5b"))
    assert 300e6 < counts["vision (SigLIP)"] < 310e6  # SigLIP-L/16
    # 24 layers x (4 * 2048^2 attention + 3 * 2048 * 5632 MLP) + biases and norms
    assert counts["understanding layers (no embeddings)"] == 24 * (4 * 2048**2 + 3 * 2048 * 5632 + 3 * 2048 + 2 * 2048 + 2 * 128)
    assert counts["generation branch (gen. layers, norm)"] == counts["understanding layers (no embeddings)"] + 2048


def test_images_are_written_as_the_reference_truncating_to_uint8():
    from unix.model.latent import tensor_to_images

    x = torch.tensor([-1.5, -1.0, 0.0, 0.999, 1.0]).view(1, 1, 1, 5).expand(1, 3, 1, 5)
    # clamp(x / 2 + 0.5, 0, 1) * 255 truncated: 0.0 -> 127.5 -> 127, 0.999 -> 254.87 -> 254
    import numpy as np

    assert np.asarray(tensor_to_images(x)[0])[0, :, 0].tolist() == [0, 0, 127, 254, 255]


def test_kv_cache_is_written_in_place_and_grows_when_short(model):
    """Decoding writes into the preallocated buffers (no copy per step); a cache allocated without room
    grows and still gives the logits of a cache-free forward."""
    torch.manual_seed(2)
    pix = torch.randn(2, 3, 64, 64)
    ids, _ = _text(L=5)
    mask = torch.ones_like(ids)
    mask[0, :2] = 0  # left padding: decoding steps need the validity mask
    for reserve in (4, 0):
        logits, cache = model.encode_understanding_prefix(pix, ids, mask, reserve=reserve)
        buffer = cache.keys.data_ptr()
        seq, seq_mask = ids, mask
        for _ in range(3):
            nxt = logits.argmax(-1)
            logits, cache = model.decode_step(nxt, cache)
            seq = torch.cat([seq, nxt[:, None]], 1)
            seq_mask = torch.cat([seq_mask, torch.ones(2, 1, dtype=torch.long)], 1)
            full = model.understanding_logits(pix, seq, seq_mask)[:, -1]
            torch.testing.assert_close(logits, full, atol=1e-5, rtol=1e-5)
        assert cache.length == 64 // 16 * (64 // 16) + 2 + 5 + 3
        assert (cache.keys.data_ptr() == buffer) == (reserve >= 3)


def test_cached_guided_sampling_equals_joint_forward(model):
    """The caption cache (guided and unguided halves in one batch, the unguided block at position 0) and
    the cache-free joint forward sample the same latents from the same noise."""
    ids, mask = _text(B=3)
    mask[2, 4:] = 0
    noise = torch.randn(3, 16, 4, 4, generator=torch.Generator().manual_seed(4))
    kw = dict(image_size=64, steps=5, cfg_scale=3.0, cfg_interval=(0.3, 1.0), renorm=True, noise=noise)
    cached = model.generate_latents(ids, mask, None, use_cache=True, **kw)
    joint = model.generate_latents(ids, mask, None, use_cache=False, **kw)
    torch.testing.assert_close(cached, joint, atol=1e-5, rtol=1e-5)


def test_light_siglip_equals_transformers_siglip():
    from unix.model.vision import LightSiglip, build_siglip

    config = UniXConfig.from_name("tiny")
    x = torch.randn(2, 3, 64, 64, generator=torch.Generator().manual_seed(0))
    for act in ("gelu", "gelu_pytorch_tanh"):
        config.vision["hidden_act"] = act
        ref = build_siglip(config).eval()
        light = LightSiglip(config.vision).eval()
        light.load_state_dict(ref.state_dict(), strict=True)
        with torch.no_grad():
            torch.testing.assert_close(light(pixel_values=x).last_hidden_state,
                                       ref(pixel_values=x).last_hidden_state, atol=1e-6, rtol=1e-6)


def test_vae_decoder_equals_diffusers_decode():
    from unix.model.latent import build_vae
    from unix.model.vae_decoder import VAEDecoder

    config = UniXConfig.from_name("tiny")
    z = torch.randn(2, 16, 4, 4, generator=torch.Generator().manual_seed(0))
    for first_up in ("UpDecoderBlock2D", "AttnUpDecoderBlock2D"):  # the second is the paper's KL-f16 layout
        config.vae["up_block_types"] = [first_up] + ["UpDecoderBlock2D"] * 4
        torch.manual_seed(0)
        ref = build_vae(config).eval()
        light = VAEDecoder(config.vae).eval()
        light.load_state_dict({k: v for k, v in ref.state_dict().items()
                               if not k.startswith(("encoder.", "quant_conv."))}, strict=True)
        with torch.no_grad():
            torch.testing.assert_close(light.decode(z).sample, ref.decode(z).sample, atol=1e-5, rtol=1e-5)
