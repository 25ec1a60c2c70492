"""Loading external checkpoints: tiny checkpoints written in each real format are loaded back, with
transformers/diffusers as oracles where they implement the same thing."""

from __future__ import annotations

import json
import re

import pytest
import torch
import yaml
from safetensors.torch import save_file

from unix.model import UniX, UniXConfig
from unix.model import checkpoints as ckpt
from unix.model.checkpoints import CheckpointError


def _text_logits(model: UniX, ids: torch.Tensor) -> torch.Tensor:
    B, L = ids.shape
    out = model.decoder(und_BLD=model.decoder.embed_tokens(ids), und_pos_BL=torch.arange(L).expand(B, -1),
                        und_valid_BL=torch.ones(B, L, dtype=torch.bool))
    return model.lm_head(out["und"])


def _tiny(**kw) -> UniX:
    torch.manual_seed(0)
    return UniX(UniXConfig.from_name("tiny", **kw)).eval()


def _load_lm_only(model: UniX, state: dict, prefix: str) -> None:
    mapped, _, unexpected = ckpt._apply_rules(state, ckpt._lm_rules(prefix, with_gen=False), [], None)
    assert not unexpected, unexpected
    lm_key = lambda k: k.startswith(("decoder.embed_tokens", "decoder.norm.", "lm_head")) or ".und." in k
    ckpt.load_strict(model, mapped, "hf", allowed_missing=lambda k: not lm_key(k))


@pytest.mark.parametrize("family", ["qwen2", "qwen3", "llama"])
def test_decoder_layer_matches_transformers(family):
    """Our layer with the matching options reproduces Qwen2 (QKV bias), Qwen3 (QK norm), LLaMA (neither)."""
    import transformers as tf

    common = dict(vocab_size=1024, hidden_size=128, intermediate_size=352, num_hidden_layers=3, num_attention_heads=4,
                  num_key_value_heads=4, rms_norm_eps=1e-6, tie_word_embeddings=False, max_position_embeddings=512)
    torch.manual_seed(1)
    if family == "qwen2":
        ref, opts = tf.Qwen2ForCausalLM(tf.Qwen2Config(**common)), dict(qkv_bias=True, qk_norm=False)
    elif family == "qwen3":
        ref, opts = tf.Qwen3ForCausalLM(tf.Qwen3Config(**common, head_dim=32, attention_bias=False)), \
            dict(qkv_bias=False, qk_norm=True)
    else:
        ref, opts = tf.LlamaForCausalLM(tf.LlamaConfig(**common, attention_bias=False)), dict(qkv_bias=False, qk_norm=False)
    ref.eval()
    with torch.no_grad():  # make biases and norms non-trivial so they are really compared
        for name, p in ref.named_parameters():
            if name.endswith("bias") or "norm" in name:
                p.add_(0.1 * torch.randn_like(p))
    model = _tiny(**opts)
    _load_lm_only(model, ref.state_dict(), "")
    ids = torch.randint(0, 1024, (2, 9))
    with torch.no_grad():
        torch.testing.assert_close(_text_logits(model, ids), ref(ids).logits, atol=2e-5, rtol=1e-4)


# ---------------------------------------------------------------------------- Janus-Pro
def _timm_siglip(vision_state: dict) -> dict:
    """transformers SigLIP vision weights in Janus's timm naming (written independently of the loader)."""
    out = {}
    for k, v in vision_state.items():
        if k == "embeddings.position_embedding.weight":
            out["pos_embed"] = v[None]
        elif k.startswith("embeddings.patch_embedding."):
            out["patch_embed.proj." + k.rsplit(".", 1)[1]] = v
        elif k.startswith("post_layernorm."):
            out["norm." + k.rsplit(".", 1)[1]] = v
        else:
            m = re.fullmatch(r"encoder\.layers\.(\d+)\.(.+)\.(weight|bias)", k)
            i, part, kind = m.groups()
            if part in ("self_attn.k_proj", "self_attn.v_proj"):
                continue
            if part == "self_attn.q_proj":
                qkv = [vision_state[f"encoder.layers.{i}.self_attn.{n}_proj.{kind}"] for n in "qkv"]
                out[f"blocks.{i}.attn.qkv.{kind}"] = torch.cat(qkv)
                continue
            name = {"layer_norm1": "norm1", "layer_norm2": "norm2", "self_attn.out_proj": "attn.proj",
                    "mlp.fc1": "mlp.fc1", "mlp.fc2": "mlp.fc2"}[part]
            out[f"blocks.{i}.{name}.{kind}"] = v
    out["attn_pool.latent"] = torch.zeros(1, 1, 4)  # the pooling head Janus does not use
    return out


def _write_janus(tmp_path, qk_norm_model=False):
    import transformers as tf

    torch.manual_seed(2)
    llama = tf.LlamaForCausalLM(tf.LlamaConfig(
        vocab_size=1024, hidden_size=128, intermediate_size=352, num_hidden_layers=3, num_attention_heads=4,
        num_key_value_heads=4, rms_norm_eps=1e-6, tie_word_embeddings=False)).eval()
    source = _tiny()  # only to draw random SigLIP + connector weights of the right shapes
    vision = {k: v + 0.01 * torch.randn_like(v) for k, v in source.vision.state_dict().items()}
    state = {f"language_model.{k}": v for k, v in llama.state_dict().items()}
    state.update({f"vision_model.vision_tower.{k}": v for k, v in _timm_siglip(vision).items()})
    state.update({"aligner.layers.0.weight": torch.randn(128, 64), "aligner.layers.0.bias": torch.randn(128),
                  "aligner.layers.2.weight": torch.randn(128, 128), "aligner.layers.2.bias": torch.randn(128),
                  "gen_head.output_mlp_projector.weight": torch.randn(3, 3), "gen_vision_model.quantize.embedding.weight": torch.randn(4, 2)})
    d = tmp_path / "janus"
    d.mkdir()
    save_file({k: v.contiguous() for k, v in state.items()}, str(d / "model.safetensors"))
    (d / "config.json").write_text(json.dumps({"language_config": {"hidden_size": 128, "num_hidden_layers": 3}}))
    return d, llama, vision, state


def test_janus_pro_loads_every_key(tmp_path):
    d, llama, vision, state = _write_janus(tmp_path)
    model = _tiny(qk_norm=False)  # without QK norm the Janus function is preserved exactly
    report = ckpt.load_janus_pro(model, d)
    ids = torch.randint(0, 1024, (2, 7))
    with torch.no_grad():
        torch.testing.assert_close(_text_logits(model, ids), llama(ids).logits, atol=2e-5, rtol=1e-4)
        for k, v in vision.items():
            torch.testing.assert_close(model.vision.state_dict()[k], v)
    assert sorted(report["unused"]) == ["gen_head.output_mlp_projector.weight", "gen_vision_model.quantize.embedding.weight",
                                        "vision_model.vision_tower.attn_pool.latent"]
    assert len(report["initialised_new"]) == 3 * 3  # q/k/v biases of 3 layers
    assert torch.equal(model.connector.fc2.weight, state["aligner.layers.2.weight"])
    # the generation branch starts as a copy of the understanding branch
    assert torch.equal(model.decoder.layers[1].gen.mlp.up_proj.weight, model.decoder.layers[1].und.mlp.up_proj.weight)
    report = ckpt.load_janus_pro(_tiny(), d)  # with QK norms: those are new as well
    assert len(report["initialised_new"]) == 5 * 3


def test_janus_pro_errors_name_the_keys(tmp_path):
    from safetensors.torch import load_file

    d, *_ = _write_janus(tmp_path)
    state = load_file(str(d / "model.safetensors"))
    del state["aligner.layers.2.weight"]
    state["language_model.model.layers.0.self_attn.extra.weight"] = torch.zeros(2)
    save_file(state, str(d / "model.safetensors"))
    with pytest.raises(CheckpointError, match=r"language_model\.model\.layers\.0\.self_attn\.extra\.weight"):
        ckpt.load_janus_pro(_tiny(), d)
    del state["language_model.model.layers.0.self_attn.extra.weight"]
    save_file(state, str(d / "model.safetensors"))
    with pytest.raises(CheckpointError, match=r"missing keys \(1\): connector\.fc2\.weight"):
        ckpt.load_janus_pro(_tiny(), d)
    (d / "config.json").write_text(json.dumps({"language_config": {"hidden_size": 2048}}))
    with pytest.raises(CheckpointError, match="hidden_size=2048"):
        ckpt.load_janus_pro(_tiny(), d)


# ---------------------------------------------------------------------------- UniX release
def _release_state(model: UniX) -> dict:
    """Our weights under the names of the released UniX checkpoint (BAGEL style)."""
    out = {}
    for k, v in model.state_dict().items():
        m = re.fullmatch(r"decoder\.layers\.(\d+)\.(und|gen)\.(.+)", k)
        if m:
            i, branch, part = m.groups()
            tag = "_moe_gen" if branch == "gen" else ""
            pm = re.fullmatch(r"(q|k|v|o)_proj\.(weight|bias)|(q|k)_norm\.weight|mlp\.(\w+)\.weight|(\w+layernorm)\.weight", part)
            if pm[1]:
                name = f"self_attn.{pm[1]}_proj{tag}.{pm[2]}"
            elif pm[3]:
                name = f"self_attn.{pm[3]}_norm{tag}.weight"
            elif pm[4]:
                name = f"mlp{tag}.{pm[4]}.weight"
            else:
                name = f"{pm[5]}{tag}.weight"
            out[f"language_model.model.layers.{i}.{name}"] = v
        elif k == "decoder.embed_tokens.weight":
            out["language_model.model.embed_tokens.weight"] = v
        elif k == "decoder.norm.weight":
            out["language_model.model.norm.weight"] = v
        elif k == "decoder.norm_gen.weight":
            out["language_model.model.norm_moe_gen.weight"] = v
        elif k == "lm_head.weight":
            out["language_model.lm_head.weight"] = v
        elif k.startswith("connector."):
            out[k.replace("fc1", "layers.0").replace("fc2", "layers.2")] = v
        elif k.startswith("latent.") and k != "latent.pos_table":
            out[k.removeprefix("latent.")] = v
    vision = {k.removeprefix("vision."): v for k, v in model.state_dict().items() if k.startswith("vision.")}
    out.update({f"vit_model.vision_tower.{k}": v for k, v in _timm_siglip(vision).items()})
    out["latent_pos_embed.pos_embed"] = model.latent.pos_table.clone()
    return out


def test_unix_release_loads_every_key(tmp_path):
    src = _tiny()
    with torch.no_grad():
        for p in src.parameters():
            p.add_(0.01 * torch.randn_like(p))
    d = tmp_path / "unix"
    d.mkdir()
    save_file({k: v.contiguous() for k, v in _release_state(src).items()}, str(d / "model.safetensors"))
    dst = _tiny()
    report = ckpt.load_unix_release(dst, d)
    assert "latent_pos_embed.pos_embed" not in report["unused"]
    for k, v in src.state_dict().items():
        if not k.startswith(("repa_projector.", "vae.", "repa_encoder.")):
            assert torch.equal(dst.state_dict()[k], v), k
    state = _release_state(src)
    state["language_model.model.layers.0.mlp_moe_gen.extra_proj.weight"] = torch.zeros(1)
    save_file({k: v.contiguous() for k, v in state.items()}, str(d / "model.safetensors"))
    with pytest.raises(CheckpointError, match="mlp_moe_gen.extra_proj.weight"):
        ckpt.load_unix_release(_tiny(), d)


def test_unix_release_position_table_is_loaded_and_saved(tmp_path):
    """The released `latent_pos_embed.pos_embed` (bf16 in the release) is what the model uses afterwards,
    also after save_pretrained / from_pretrained; checkpoints without the table recompute it."""
    src = _tiny()
    state = _release_state(src)
    table = state["latent_pos_embed.pos_embed"].to(torch.bfloat16).float()
    state["latent_pos_embed.pos_embed"] = table
    d = tmp_path / "unix"
    d.mkdir()
    save_file({k: v.contiguous() for k, v in state.items()}, str(d / "model.safetensors"))
    dst = _tiny()
    ckpt.load_unix_release(dst, d)
    assert torch.equal(dst.latent.pos_table, table) and not torch.equal(table, src.latent.pos_table)
    dst.save_pretrained(tmp_path / "ours")
    assert torch.equal(UniX.from_pretrained(tmp_path / "ours").latent.pos_table, table)
    from safetensors.torch import load_file
    ours = load_file(str(tmp_path / "ours" / "model.safetensors"))
    del ours["latent.pos_table"]
    save_file(ours, str(tmp_path / "ours" / "model.safetensors"))
    torch.testing.assert_close(UniX.from_pretrained(tmp_path / "ours").latent.pos_table, src.latent.pos_table)


# ---------------------------------------------------------------------------- KL-f16 VAE
def _ldm_state(vae_state: dict, levels: int) -> dict:
    """diffusers AutoencoderKL weights in latent-diffusion naming (written independently of the loader)."""
    out = {}
    att = {"group_norm": "norm", "to_q": "q", "to_k": "k", "to_v": "v", "to_out.0": "proj_out"}
    for k, v in vae_state.items():
        new = k.replace("conv_norm_out", "norm_out").replace("conv_shortcut", "nin_shortcut")
        new = re.sub(r"mid_block\.resnets\.(\d)", lambda m: f"mid.block_{int(m[1]) + 1}", new)
        new = new.replace("mid_block.attentions.0", "mid.attn_1")
        new = re.sub(r"down_blocks\.(\d+)\.resnets", r"down.\1.block", new)
        new = re.sub(r"down_blocks\.(\d+)\.attentions", r"down.\1.attn", new)
        new = re.sub(r"down_blocks\.(\d+)\.downsamplers\.0", r"down.\1.downsample", new)
        new = re.sub(r"up_blocks\.(\d+)\.resnets", lambda m: f"up.{levels - 1 - int(m[1])}.block", new)
        new = re.sub(r"up_blocks\.(\d+)\.attentions", lambda m: f"up.{levels - 1 - int(m[1])}.attn", new)
        new = re.sub(r"up_blocks\.(\d+)\.upsamplers\.0", lambda m: f"up.{levels - 1 - int(m[1])}.upsample", new)
        for a, b in att.items():
            new = re.sub(rf"(attn(?:_1|\.\d+))\.{re.escape(a)}\.", rf"\1.{b}.", new)
        if re.search(r"attn(_1|\.\d+)\.(q|k|v|proj_out)\.weight", new):
            v = v[:, :, None, None]  # LDM stores them as 1x1 convolutions
        out[new] = v
    out["loss.discriminator.main.0.weight"] = torch.zeros(1)  # the VAE's training loss, not a VAE weight
    return out


def _write_ldm(tmp_path, attn_resolutions):
    dd = dict(double_z=True, z_channels=16, resolution=64, in_channels=3, out_ch=3, ch=32, ch_mult=[1, 1, 2, 2, 2],
              num_res_blocks=1, attn_resolutions=attn_resolutions, dropout=0.0)
    d = tmp_path / "vae"
    d.mkdir()
    (d / "config.yaml").write_text(yaml.safe_dump({"model": {"params": {"embed_dim": 16, "ddconfig": dd}}}))
    from diffusers import AutoencoderKL

    kwargs = ckpt.ldm_vae_config(d / "config.yaml")
    torch.manual_seed(3)
    ref = AutoencoderKL(**{k: tuple(v) if isinstance(v, list) else v for k, v in kwargs.items()})
    torch.save({"state_dict": _ldm_state(ref.state_dict(), 5)}, d / "kl-f16.ckpt")
    return d, ref, kwargs


def test_kl_f16_ldm_checkpoint_matches_diffusers_converter(tmp_path):
    from diffusers.loaders.single_file_utils import convert_ldm_vae_checkpoint

    d, ref, kwargs = _write_ldm(tmp_path, attn_resolutions=[])
    vae, loaded_kwargs = ckpt.load_vae(d)
    assert loaded_kwargs == kwargs and 2 ** (len(kwargs["block_out_channels"]) - 1) == 16
    raw = torch.load(d / "kl-f16.ckpt", weights_only=True)["state_dict"]
    oracle = convert_ldm_vae_checkpoint(raw, dict(kwargs))
    for k, v in vae.state_dict().items():
        assert torch.equal(v, ref.state_dict()[k]), k
        assert torch.equal(v, oracle[k]), k
    x = torch.rand(1, 3, 64, 64) * 2 - 1
    assert vae.encode(x).latent_dist.mode().shape == (1, 16, 4, 4)


def test_kl_f16_with_attention_levels(tmp_path):
    # the official kl-f16 has attn_resolutions [16] at resolution 256: attention at the 16x16 level
    d, ref, kwargs = _write_ldm(tmp_path, attn_resolutions=[4])
    assert kwargs["down_block_types"][-1] == "AttnDownEncoderBlock2D" and kwargs["up_block_types"][0] == "AttnUpDecoderBlock2D"
    vae, _ = ckpt.load_vae(d)
    for k, v in vae.state_dict().items():
        assert torch.equal(v, ref.state_dict()[k]), k


def test_vae_errors(tmp_path):
    d, _, _ = _write_ldm(tmp_path, attn_resolutions=[])
    raw = torch.load(d / "kl-f16.ckpt", weights_only=True)
    raw["state_dict"]["encoder.down.0.block.0.extra.weight"] = torch.zeros(1)
    torch.save(raw, d / "kl-f16.ckpt")
    with pytest.raises(CheckpointError, match=r"encoder\.down\.0\.block\.0\.extra\.weight"):
        ckpt.load_vae(d)
    (d / "config.yaml").unlink()
    with pytest.raises(CheckpointError, match="config.yaml is missing"):
        ckpt.load_vae(d)


def test_initial_model_uses_configured_vae_and_raddino(tmp_path):
    from diffusers import AutoencoderKL
    from transformers import Dinov2Config, Dinov2Model

    from unix.model.initial import build_initial_model
    from unix.model.tokenizer import train_tokenizer

    cfg = UniXConfig.from_name("tiny")
    AutoencoderKL(**{k: tuple(v) if isinstance(v, list) else v for k, v in cfg.vae.items()}).save_pretrained(tmp_path / "vae")
    Dinov2Model(Dinov2Config(**{**cfg.repa_encoder, "hidden_size": 48, "num_attention_heads": 2})).save_pretrained(tmp_path / "rd")
    tok = train_tokenizer(["FINDINGS: clear lungs."] * 20, 300)
    model, report = build_initial_model("tiny", {"vae": str(tmp_path / "vae"), "raddino": str(tmp_path / "rd")}, tok)
    assert model.config.repa_encoder["hidden_size"] == 48 and model.repa_projector.mlp[-1].out_features == 48
    assert report["vae"] == str(tmp_path / "vae")
    ids = torch.tensor([[0, 7, 8, 1]])
    out = model.train().generation_loss(torch.zeros(1, 3, 64, 64), ids, torch.ones_like(ids))
    assert torch.isfinite(out["loss"])
