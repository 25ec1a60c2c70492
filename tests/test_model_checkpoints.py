"""Loading external checkpoints: tiny checkpoints written in each real format are loaded back, with
transformers/diffusers as oracles where they implement the same thing."""

from __future__ import annotations

import json
import pickle
import re
import sys
from pathlib import Path

import pytest
import torch
import yaml
from safetensors.torch import save_file

from unix.model import UniX, UniXConfig
from unix.model import checkpoints as ckpt
from unix.model.checkpoints import CheckpointError

sys.path.insert(0, str(Path(__file__).parent))
from lightning_checkpoint import load_with_modules_present, save_lightning_checkpoint  # noqa: E402


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
    width = vision_state["post_layernorm.weight"].shape[0]
    # the timm MAP pooling head Janus's checkpoint carries and never uses
    out.update({"attn_pool.latent": torch.zeros(1, 1, width), "attn_pool.q.weight": torch.zeros(width, width),
                "attn_pool.q.bias": torch.zeros(width), "attn_pool.kv.weight": torch.zeros(2 * width, width),
                "attn_pool.kv.bias": torch.zeros(2 * width), "attn_pool.proj.weight": torch.zeros(width, width),
                "attn_pool.proj.bias": torch.zeros(width), "attn_pool.norm.weight": torch.ones(width),
                "attn_pool.norm.bias": torch.zeros(width), "attn_pool.mlp.fc1.weight": torch.zeros(4 * width, width),
                "attn_pool.mlp.fc1.bias": torch.zeros(4 * width), "attn_pool.mlp.fc2.weight": torch.zeros(width, 4 * width),
                "attn_pool.mlp.fc2.bias": torch.zeros(width)})
    return out


# Janus-Pro's own image-generation modules (VQ tokenizer, generation aligner/head/embedding), in its names.
JANUS_GEN = {"gen_vision_model.quantize.embedding.weight": (16, 8), "gen_vision_model.encoder.conv_in.weight": (4, 3, 3, 3),
             "gen_vision_model.decoder.conv_out.bias": (3,), "gen_vision_model.quant_conv.weight": (8, 4, 1, 1),
             "gen_aligner.layers.0.weight": (128, 8), "gen_aligner.layers.2.weight": (128, 128),
             "gen_head.output_mlp_projector.weight": (128, 128), "gen_head.vision_head.weight": (16, 128),
             "gen_embed.weight": (16, 8)}


def _janus_config(hidden: int = 128, layers: int = 3) -> dict:
    """config.json of deepseek-ai/Janus-Pro-1B, with the tiny sizes."""
    return {"model_type": "multi_modality", "torch_dtype": "bfloat16",
            "language_config": {"hidden_size": hidden, "intermediate_size": 352, "max_position_embeddings": 16384,
                                "model_type": "llama", "num_attention_heads": 4, "num_hidden_layers": layers,
                                "num_key_value_heads": 4, "torch_dtype": "bfloat16", "vocab_size": 1024},
            "vision_config": {"cls": "CLIPVisionTower", "model_type": "vision",
                              "params": {"image_size": 384, "model_name": "siglip_large_patch16_384",
                                         "select_feature": "same", "select_layer": -1}},
            "aligner_config": {"cls": "MlpProjector", "model_type": "aligner",
                               "params": {"depth": 2, "input_dim": 64, "n_embed": hidden,
                                          "projector_type": "mlp_gelu"}}}


def _write_janus(tmp_path, dtype=torch.float32):
    """A Janus-Pro-1B directory as published: config.json + one pytorch_model.bin (torch.save, zip format)."""
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
                  "aligner.layers.2.weight": torch.randn(128, 128), "aligner.layers.2.bias": torch.randn(128)})
    state.update({k: torch.randn(shape) for k, shape in JANUS_GEN.items()})
    state = {k: v.to(dtype).contiguous() for k, v in state.items()}
    d = tmp_path / "janus"
    d.mkdir()
    torch.save(state, d / "pytorch_model.bin")
    (d / "config.json").write_text(json.dumps(_janus_config()))
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
    pool = [k for k in state if ".attn_pool." in k]
    assert len(pool) == 13 and sorted(report["unused"]) == sorted([*JANUS_GEN, *pool])
    assert len(report["initialised_new"]) == 3 * 3  # q/k/v biases of 3 layers
    assert torch.equal(model.connector.fc2.weight, state["aligner.layers.2.weight"])
    # the generation branch starts as a copy of the understanding branch
    assert torch.equal(model.decoder.layers[1].gen.mlp.up_proj.weight, model.decoder.layers[1].und.mlp.up_proj.weight)
    report = ckpt.load_janus_pro(_tiny(), d)  # with QK norms: those are new as well
    assert len(report["initialised_new"]) == 5 * 3


def test_janus_pro_bf16_bin_is_read_memory_mapped(tmp_path, monkeypatch):
    d, llama, vision, state = _write_janus(tmp_path, dtype=torch.bfloat16)
    calls = []
    real_load = torch.load
    monkeypatch.setattr(torch, "load", lambda *a, **kw: calls.append(kw) or real_load(*a, **kw))
    model = _tiny(qk_norm=False)
    ckpt.load_janus_pro(model, d)
    assert calls == [dict(map_location="cpu", weights_only=True, mmap=True)]
    assert model.lm_head.weight.dtype == torch.float32  # copied into the model's own dtype
    assert torch.equal(model.lm_head.weight, state["language_model.lm_head.weight"].float())
    assert torch.equal(model.vision.state_dict()["encoder.layers.1.self_attn.k_proj.weight"],
                       vision["encoder.layers.1.self_attn.k_proj.weight"].bfloat16().float())
    # a converted safetensors copy next to the .bin is preferred and gives the same weights
    save_file(state, str(d / "model.safetensors"))
    calls.clear()
    other = _tiny(qk_norm=False)
    ckpt.load_janus_pro(other, d)
    assert calls == [] and torch.equal(other.lm_head.weight, model.lm_head.weight)


def test_janus_pro_missing_files_name_the_config_key(tmp_path):
    (tmp_path / "empty").mkdir()
    with pytest.raises(CheckpointError, match=r"no weights at .*pytorch_model\.bin.*weights\.janus_pro"):
        ckpt.load_janus_pro(_tiny(), tmp_path / "empty")
    with pytest.raises(CheckpointError, match=r"does not exist; set weights\.janus_pro"):
        ckpt.load_janus_pro(_tiny(), tmp_path / "absent")


def test_janus_pro_errors_name_the_keys(tmp_path):
    d, *_ = _write_janus(tmp_path)
    state = torch.load(d / "pytorch_model.bin", weights_only=True)
    del state["aligner.layers.2.weight"]
    state["language_model.model.layers.0.self_attn.extra.weight"] = torch.zeros(2)
    torch.save(state, d / "pytorch_model.bin")
    with pytest.raises(CheckpointError, match=r"language_model\.model\.layers\.0\.self_attn\.extra\.weight"):
        ckpt.load_janus_pro(_tiny(), d)
    del state["language_model.model.layers.0.self_attn.extra.weight"]
    torch.save(state, d / "pytorch_model.bin")
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


def _release_extras(model: UniX) -> dict:
    """Tensors a UniX release holds besides the model's own (names from the reference code): the REPA
    projector built inside the language model during training, the Janus-style SigLIP/aligner copies its
    loader reads, Janus's image-generation modules and the ViT position table."""
    h, z = model.config.hidden_size, model.config.repa_encoder["hidden_size"]
    out = {f"language_model.model.repa_loss_fn.projectors.0.mlp.{i}.{kind}": torch.randn(shape if kind == "weight" else shape[:1])
           for i, shape in ((0, (h, h)), (2, (h, h)), (4, (z, h))) for kind in ("weight", "bias")}
    vision = {k.removeprefix("vision."): v + 1 for k, v in model.state_dict().items() if k.startswith("vision.")}
    out.update({f"vision_model.vision_tower.{k}": v for k, v in _timm_siglip(vision).items()})
    out.update({f"aligner.{k.replace('fc1', 'layers.0').replace('fc2', 'layers.2')}": v + 1
                for k, v in model.connector.state_dict().items()})
    out.update({k: torch.randn(shape) for k, shape in JANUS_GEN.items()})
    out["vit_pos_embed.pos_embed"] = torch.zeros(model.config.vision_tokens, h)
    return out


def test_unix_release_loads_every_key(tmp_path):
    src = _tiny()
    with torch.no_grad():
        for p in src.parameters():
            p.add_(0.01 * torch.randn_like(p))
    d = tmp_path / "unix"
    d.mkdir()
    extras = _release_extras(src)
    save_file({k: v.contiguous() for k, v in {**_release_state(src), **extras}.items()}, str(d / "model.safetensors"))
    (d / "config.json").write_text(json.dumps(_janus_config()))
    dst = _tiny()
    report = ckpt.load_unix_release(dst, d)
    assert "latent_pos_embed.pos_embed" not in report["unused"]
    pool = [k for k in _release_state(src) if k.startswith("vit_model.vision_tower.attn_pool.")]
    assert len(pool) == 13  # UniX's timm SigLIP keeps Janus's (unused) pooling head
    assert sorted(report["unused"]) == sorted([*pool, *extras])
    assert len(report["kept_initial"]) == 6  # our REPA projector is not taken from the file
    for k, v in src.state_dict().items():
        if not k.startswith(("repa_projector.", "vae.", "repa_encoder.")):
            assert torch.equal(dst.state_dict()[k], v), k
    state = _release_state(src)
    state["language_model.model.layers.0.mlp_moe_gen.extra_proj.weight"] = torch.zeros(1)
    save_file({k: v.contiguous() for k, v in state.items()}, str(d / "model.safetensors"))
    with pytest.raises(CheckpointError, match="mlp_moe_gen.extra_proj.weight"):
        ckpt.load_unix_release(_tiny(), d)
    (d / "config.json").write_text(json.dumps(_janus_config(layers=24)))
    with pytest.raises(CheckpointError, match=r"weights\.unix.*num_hidden_layers=24"):
        ckpt.load_unix_release(_tiny(), d)


def test_unix_release_without_own_vit_uses_the_janus_style_copies(tmp_path):
    src = _tiny()
    state = {k: v for k, v in _release_state(src).items() if not k.startswith(("vit_model.", "connector."))}
    extras = _release_extras(src)
    state.update({k: v for k, v in extras.items() if k.startswith(("vision_model.", "aligner."))})
    d = tmp_path / "unix"
    d.mkdir()
    save_file({k: v.contiguous() for k, v in state.items()}, str(d / "model.safetensors"))
    dst = _tiny()
    report = ckpt.load_unix_release(dst, d)
    assert not any(k.startswith(("vision_model.vision_tower.blocks", "aligner.")) for k in report["unused"])
    assert torch.equal(dst.connector.fc1.weight, extras["aligner.layers.0.weight"])
    assert torch.equal(dst.vision.embeddings.patch_embedding.weight,
                       extras["vision_model.vision_tower.patch_embed.proj.weight"])


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
    # the VAE's training loss (LPIPS with a patch discriminator), not VAE weights
    out.update({"loss.logvar": torch.zeros(()), "loss.perceptual_loss.net.slice1.0.weight": torch.zeros(64, 3, 3, 3),
                "loss.perceptual_loss.lin0.model.1.weight": torch.zeros(1, 64, 1, 1),
                "loss.discriminator.main.0.weight": torch.zeros(64, 3, 4, 4)})
    return out


def _compvis_config(attn_resolutions) -> dict:
    """CompVis latent-diffusion models/first_stage_models/kl-f16/config.yaml, with tiny widths."""
    dd = dict(double_z=True, z_channels=16, resolution=64, in_channels=3, out_ch=3, ch=32, ch_mult=[1, 1, 2, 2, 2],
              num_res_blocks=1, attn_resolutions=attn_resolutions, dropout=0.0)
    loss = {"target": "ldm.modules.losses.LPIPSWithDiscriminator",
            "params": {"disc_start": 50001, "kl_weight": 1.0e-06, "disc_weight": 0.5}}
    return {"model": {"base_learning_rate": 4.5e-06, "target": "ldm.models.autoencoder.AutoencoderKL",
                      "params": {"monitor": "val/rec_loss", "embed_dim": 16, "lossconfig": loss, "ddconfig": dd}},
            "data": {"target": "main.DataModuleFromConfig", "params": {"batch_size": 6, "wrap": True}}}


def _write_ldm(tmp_path, attn_resolutions, ckpt_name="kl-f16.ckpt", config_name="config.yaml"):
    """A latent-diffusion VAE directory: a Lightning checkpoint (see lightning_checkpoint) and its config."""
    from diffusers import AutoencoderKL

    d = tmp_path / "vae"
    d.mkdir()
    (d / config_name).write_text(yaml.safe_dump(_compvis_config(attn_resolutions)))
    kwargs = ckpt.ldm_vae_config(d / config_name)
    torch.manual_seed(3)
    ref = AutoencoderKL(**{k: tuple(v) if isinstance(v, list) else v for k, v in kwargs.items()})
    state = _ldm_state(ref.state_dict(), 5)
    save_lightning_checkpoint(d / ckpt_name, state, tmp_path / "marker")
    return d, ref, kwargs, state


def test_kl_f16_ldm_checkpoint_matches_diffusers_converter(tmp_path):
    from diffusers.loaders.single_file_utils import convert_ldm_vae_checkpoint

    d, ref, kwargs, raw = _write_ldm(tmp_path, attn_resolutions=[])
    vae, loaded_kwargs = ckpt.load_vae(d)
    assert loaded_kwargs == kwargs and 2 ** (len(kwargs["block_out_channels"]) - 1) == 16
    oracle = convert_ldm_vae_checkpoint(raw, dict(kwargs))
    for k, v in vae.state_dict().items():
        assert torch.equal(v, ref.state_dict()[k]), k
        assert torch.equal(v, oracle[k]), k
    x = torch.rand(1, 3, 64, 64) * 2 - 1
    assert vae.encode(x).latent_dist.mode().shape == (1, 16, 4, 4)


def test_kl_f16_with_attention_levels(tmp_path):
    # the official kl-f16 has attn_resolutions [16] at resolution 256: attention at the 16x16 level
    d, ref, kwargs, _ = _write_ldm(tmp_path, attn_resolutions=[4])
    assert kwargs["down_block_types"][-1] == "AttnDownEncoderBlock2D" and kwargs["up_block_types"][0] == "AttnUpDecoderBlock2D"
    vae, _ = ckpt.load_vae(d)
    for k, v in vae.state_dict().items():
        assert torch.equal(v, ref.state_dict()[k]), k


def test_lightning_checkpoint_loads_without_lightning_and_runs_no_pickled_code(tmp_path):
    d, ref, _, _ = _write_ldm(tmp_path, attn_resolutions=[])
    marker = tmp_path / "marker"
    assert not any(m in sys.modules for m in ("pytorch_lightning", "omegaconf"))
    with pytest.raises(pickle.UnpicklingError, match="pytorch_lightning"):  # what the plain weights-only load says
        torch.load(d / "kl-f16.ckpt", weights_only=True)
    vae, _ = ckpt.load_vae(d)
    assert not marker.exists() and not any(m in sys.modules for m in ("pytorch_lightning", "omegaconf"))
    assert torch.equal(vae.decoder.conv_out.weight, ref.decoder.conv_out.weight)
    # control: the same file does run the pickled code under a full unpickling with the classes importable
    full = load_with_modules_present(d / "kl-f16.ckpt", marker)
    assert marker.exists() and full["pytorch-lightning_version"] == "1.4.2"


def test_legacy_torch_files(tmp_path):
    """A pre-zip torch file: plain weights load (without mmap); a Lightning one is refused with the fix."""
    from unix.model.weight_files import load_lightning_checkpoint, read_tensor_file

    torch.save({"w": torch.ones(2)}, tmp_path / "pytorch_model.bin", _use_new_zipfile_serialization=False)
    assert torch.equal(read_tensor_file(tmp_path / "pytorch_model.bin")["w"], torch.ones(2))
    with pytest.raises(CheckpointError, match="legacy .*re-save it"):
        load_lightning_checkpoint(tmp_path / "pytorch_model.bin")


def test_vae_under_unix_doc_names_and_as_a_file(tmp_path):
    d, ref, _, _ = _write_ldm(tmp_path, attn_resolutions=[], ckpt_name="kl-f16d16.ckpt", config_name="kl-f16d16.yaml")
    for where in (d, d / "kl-f16d16.ckpt"):
        vae, _ = ckpt.load_vae(where)
        assert torch.equal(vae.encoder.conv_in.weight, ref.encoder.conv_in.weight)


def test_vae_errors(tmp_path):
    d, _, _, state = _write_ldm(tmp_path, attn_resolutions=[])
    state["encoder.down.0.block.0.extra.weight"] = torch.zeros(1)
    (d / "kl-f16.ckpt").unlink()
    save_lightning_checkpoint(d / "kl-f16.ckpt", state, tmp_path / "marker")
    with pytest.raises(CheckpointError, match=r"encoder\.down\.0\.block\.0\.extra\.weight"):
        ckpt.load_vae(d)
    (d / "config.yaml").unlink()
    with pytest.raises(CheckpointError, match=r"weights\.vae: .*kl-f16\.ckpt needs its config beside it, as one of "
                                              r"config\.yaml, kl-f16\.yaml, kl-f16d16\.yaml"):
        ckpt.load_vae(d)
    (d / "second.ckpt").write_bytes(b"")
    with pytest.raises(CheckpointError, match=r"weights\.vae = .* holds several checkpoints"):
        ckpt.load_vae(d)
    with pytest.raises(CheckpointError, match=r"weights\.vae = .*absent does not exist"):
        ckpt.load_vae(tmp_path / "absent")
    (tmp_path / "empty").mkdir()
    with pytest.raises(CheckpointError, match=r"weights\.vae = .*empty: no VAE there"):
        ckpt.load_vae(tmp_path / "empty")


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


# ---------------------------------------------------------------------------- our format
def test_from_pretrained_assigns_into_a_model_built_on_meta(tmp_path, monkeypatch):
    src = _tiny()
    src.save_pretrained(tmp_path / "m")
    devices = []
    real_init = UniX.__init__

    def spy(self, config):
        real_init(self, config)
        devices.append({p.device.type for p in self.parameters()})

    monkeypatch.setattr(UniX, "__init__", spy)
    loaded = UniX.from_pretrained(tmp_path / "m")
    assert devices == [{"meta"}]  # no random model was allocated or initialised
    for k, v in src.state_dict().items():
        assert torch.equal(loaded.state_dict()[k], v), k
    # non-persistent buffers (RoPE, position ids, latent table) are computed at construction, not loaded
    for (name, a), (_, b) in zip(src.named_buffers(), loaded.named_buffers()):
        assert b.device.type == "cpu" and torch.equal(a, b), name
    assert [p.requires_grad for p in loaded.parameters()] == [p.requires_grad for p in src.parameters()]
    assert not any(p.requires_grad for p in loaded.vae.parameters())
    # the saved dtype is kept: a bf16 model directory loads as bf16 without an fp32 copy
    src.to(torch.bfloat16).save_pretrained(tmp_path / "bf16")
    half = UniX.from_pretrained(tmp_path / "bf16")
    assert {p.dtype for p in half.parameters()} == {torch.bfloat16}
