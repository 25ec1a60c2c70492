"""Saving and loading weights: our own format, and the three external formats UniX starts from.

Our format (`save_pretrained` / `from_pretrained`): a directory with `config.json` (UniXConfig) and
`model.safetensors` (the full state dict, VAE and REPA encoder included, so a model directory is
self-contained for inference and training).

External formats (local paths only; nothing is downloaded):
- Janus-Pro-1B as published (deepseek-ai/Janus-Pro-1B: `config.json` + one bf16 `pytorch_model.bin`, read
  memory-mapped with the weights-only unpickler; `*.safetensors` conversions are accepted too): language
  model, timm SigLIP and aligner, remapped into our modules; the QKV biases and QK norms Janus lacks
  keep their initial values and are reported; Janus's own image-generation parts are reported as unused.
- KL-f16 VAE: a latent-diffusion / PyTorch Lightning `*.ckpt` (read without Lightning and without running
  pickled code, see `weight_files`) with its `config.yaml` (or `<name>.yaml`, e.g. `kl-f16d16.yaml`) beside
  it, or a diffusers AutoencoderKL dir.
- The released UniX `model.safetensors` (BAGEL-style names with `*_moe_gen` twins); Janus-style copies and
  the REPA projector it may also hold are reported as unused.
Every checkpoint key must map to one of ours and every one of ours must be provided (or be on the
documented list of new parameters); otherwise a `CheckpointError` names the keys.
"""

from __future__ import annotations

import json
import logging
import re
from pathlib import Path
from typing import Callable

import torch

from unix.model.config import UniXConfig
from unix.model.weight_files import (CheckpointError, load_lightning_checkpoint, meta_parameters, params_on_meta,
                                     read_tensor_files, weight_files)

log = logging.getLogger(__name__)

CONFIG_NAME = "config.json"
WEIGHTS_NAME = "model.safetensors"


# ---------------------------------------------------------------------------- our format
def save_pretrained(model, directory: str | Path) -> None:
    from safetensors.torch import save_file

    directory = Path(directory)
    directory.mkdir(parents=True, exist_ok=True)
    model.config.save(directory / CONFIG_NAME)
    state = {k: v.detach().contiguous().cpu() for k, v in model.state_dict().items()}
    save_file(state, str(directory / WEIGHTS_NAME), metadata={"format": "unix-cxr"})


def from_pretrained(model_cls: Callable[[UniXConfig], torch.nn.Module], directory: str | Path,
                    map_location: str | torch.device = "cpu"):
    """The `model_cls` model of a directory written by `save_pretrained`, its parameters in the dtypes saved.

    `UniX.from_pretrained` passes its class, so this module never imports the model (the import runs one
    way: unix.model.unix -> unix.model.checkpoints). The model is built with its parameters on the meta
    device and the file's tensors are assigned into it, so no random model is allocated and initialised
    first (peak memory is about one copy of the weights; see benchmarks/bench_load.py).
    """
    from safetensors.torch import load_file

    directory = Path(directory)
    for name in (CONFIG_NAME, WEIGHTS_NAME):
        if not (directory / name).exists():
            raise CheckpointError(f"{directory / name} does not exist; a model directory holds {CONFIG_NAME} and "
                                  f"{WEIGHTS_NAME} as written by UniX.save_pretrained")
    config = UniXConfig.load(directory / CONFIG_NAME)
    with params_on_meta():
        model = model_cls(config)
    state = load_file(str(directory / WEIGHTS_NAME), device=str(map_location))
    # Checkpoints written before the latent position table was saved recompute it (same values).
    load_strict(model, state, source=str(directory / WEIGHTS_NAME), assign=True,
                allowed_missing=lambda k: k == "latent.pos_table")
    left = meta_parameters(model)
    if left:  # load_strict has checked the keys, so this is a bug, not a user error
        raise AssertionError(f"parameters left on the meta device after loading: {left[:5]}")
    return model.to(map_location)


def load_strict(module: torch.nn.Module, state: dict[str, torch.Tensor], source: str,
                allowed_missing: Callable[[str], bool] = lambda k: False,
                origin: dict[str, str] | None = None, assign: bool = False) -> list[str]:
    """Load `state` into `module`; raise CheckpointError naming missing/unexpected/mis-shaped keys.

    Keys for which `allowed_missing(key)` is true may be absent (they keep their initial values) and
    are returned so the caller can report them. `origin` maps our key names back to the checkpoint's,
    so that an unexpected key is reported under the name the user can find in the file. `assign` puts
    the tensors themselves into the module (for a module built with `params_on_meta`).
    """
    own = module.state_dict()
    origin = origin or {}
    unexpected = sorted(f"{origin[k]} (as {k})" if k in origin and origin[k] != k else k for k in set(state) - set(own))
    missing = sorted(k for k in set(own) - set(state))
    tolerated = [k for k in missing if allowed_missing(k)]
    missing = [k for k in missing if not allowed_missing(k)]
    shapes = sorted(f"{k}: checkpoint {tuple(state[k].shape)} vs model {tuple(own[k].shape)}"
                    for k in set(state) & set(own) if state[k].shape != own[k].shape)
    problems = []
    if missing:
        problems.append(f"missing keys ({len(missing)}): {_preview(missing)}")
    if unexpected:
        problems.append(f"unexpected keys ({len(unexpected)}): {_preview(unexpected)}")
    if shapes:
        problems.append(f"shape mismatches ({len(shapes)}): {_preview(shapes)}")
    if problems:
        raise CheckpointError(f"{source} does not match the model: " + "; ".join(problems)
                              + ". Check that the checkpoint and the model config (size) belong together.")
    module.load_state_dict(state, strict=False, assign=assign)
    return tolerated


def _preview(keys: list[str], n: int = 12) -> str:
    return ", ".join(keys[:n]) + (f", ... (+{len(keys) - n} more)" if len(keys) > n else "")


def read_weights(path: str | Path, config_key: str) -> dict[str, torch.Tensor]:
    """All tensors of a checkpoint file or directory (`*.safetensors`, else `pytorch_model*.bin`)."""
    return read_tensor_files(weight_files(Path(path), config_key))


# ---------------------------------------------------------------------------- key maps
# A rule maps a checkpoint key (regex, full match) to one of our keys (the replacement template).
Rule = tuple[str, str]

def _lm_rules(prefix: str, with_gen: bool) -> list[Rule]:
    """Janus/LLaMA names (and BAGEL's `*_moe_gen` twins) -> our decoder names."""
    p = re.escape(prefix)
    layer = p + r"model\.layers\.(\d+)\."
    rules: list[Rule] = [
        (p + r"model\.embed_tokens\.weight", "decoder.embed_tokens.weight"),
        (p + r"model\.norm\.weight", "decoder.norm.weight"),
        (p + r"lm_head\.weight", "lm_head.weight"),
    ]
    for branch, tag in [("und", "")] + ([("gen", "_moe_gen")] if with_gen else []):
        rules += [
            (layer + rf"self_attn\.(q|k|v)_proj{tag}\.(weight|bias)", rf"decoder.layers.\1.{branch}.\2_proj.\3"),
            (layer + rf"self_attn\.o_proj{tag}\.weight", rf"decoder.layers.\1.{branch}.o_proj.weight"),
            (layer + rf"self_attn\.(q|k)_norm{tag}\.weight", rf"decoder.layers.\1.{branch}.\2_norm.weight"),
            (layer + rf"mlp{tag}\.(gate|up|down)_proj\.weight", rf"decoder.layers.\1.{branch}.mlp.\2_proj.weight"),
            (layer + rf"(input_layernorm|post_attention_layernorm){tag}\.weight", rf"decoder.layers.\1.{branch}.\2.weight"),
        ]
    if with_gen:
        rules.append((p + r"model\.norm_moe_gen\.weight", "decoder.norm_gen.weight"))
    return rules


def _siglip_timm_rules(prefix: str) -> list[Rule]:
    """timm VisionTransformer names (Janus's SigLIP) -> transformers SiglipVisionModel names; the fused
    qkv is split in `_apply_rules`."""
    p = re.escape(prefix)
    return [
        (p + r"patch_embed\.proj\.(weight|bias)", r"vision.embeddings.patch_embedding.\1"),
        (p + r"blocks\.(\d+)\.norm1\.(weight|bias)", r"vision.encoder.layers.\1.layer_norm1.\2"),
        (p + r"blocks\.(\d+)\.norm2\.(weight|bias)", r"vision.encoder.layers.\1.layer_norm2.\2"),
        (p + r"blocks\.(\d+)\.attn\.proj\.(weight|bias)", r"vision.encoder.layers.\1.self_attn.out_proj.\2"),
        (p + r"blocks\.(\d+)\.mlp\.(fc1|fc2)\.(weight|bias)", r"vision.encoder.layers.\1.mlp.\2.\3"),
        (p + r"norm\.(weight|bias)", r"vision.post_layernorm.\1"),
    ]


def _connector_rules(prefix: str) -> list[Rule]:
    p = re.escape(prefix)
    return [(p + r"layers\.0\.(weight|bias)", r"connector.fc1.\1"), (p + r"layers\.2\.(weight|bias)", r"connector.fc2.\1"),
            (p + r"(fc1|fc2)\.(weight|bias)", r"connector.\1.\2")]


def _apply_rules(state: dict[str, torch.Tensor], rules: list[Rule], unused: list[str], timm_prefix: str | None
                 ) -> tuple[dict[str, torch.Tensor], list[str], list[str]]:
    """Map checkpoint keys: returns (our state, keys deliberately unused, unexpected keys)."""
    compiled = [(re.compile(src), dst) for src, dst in rules]
    unused_re = [re.compile(u) for u in unused]
    out: dict[str, torch.Tensor] = {}
    ignored, unexpected = [], []
    for key, value in state.items():
        if timm_prefix and key.startswith(timm_prefix) and key.endswith((".attn.qkv.weight", ".attn.qkv.bias")):
            layer = key[len(timm_prefix):].split(".")[1]
            kind = key.rsplit(".", 1)[1]
            for name, part in zip("qkv", value.chunk(3, dim=0)):
                out[f"vision.encoder.layers.{layer}.self_attn.{name}_proj.{kind}"] = part.clone()
            continue
        if timm_prefix and key == timm_prefix + "pos_embed":
            out["vision.embeddings.position_embedding.weight"] = value.reshape(-1, value.shape[-1])
            continue
        for pattern, dst in compiled:
            if pattern.fullmatch(key):
                target = pattern.sub(dst, key)
                if target in out:
                    raise CheckpointError(f"checkpoint keys map twice onto {target} (second: {key})")
                out[target] = value
                break
        else:
            if any(u.match(key) for u in unused_re):
                ignored.append(key)
            else:
                unexpected.append(key)
    return out, ignored, unexpected


def _raise_unexpected(source: str, unexpected: list[str], what: str) -> None:
    if unexpected:
        raise CheckpointError(f"{source}: {len(unexpected)} key(s) have no place in the model: {_preview(unexpected)}. "
                              f"Is this really a {what} checkpoint?")


def _understanding_key(key: str) -> bool:
    return key.startswith(("vision.", "connector.", "decoder.embed_tokens.", "decoder.norm.", "lm_head.")) \
        or ".und." in key


def _new_in_janus(key: str) -> bool:
    """Parameters UniX adds to the Janus layer: QKV biases and the per-head QK norms."""
    return ".und." in key and key.endswith(("q_proj.bias", "k_proj.bias", "v_proj.bias", "q_norm.weight", "k_norm.weight"))


JANUS_UNUSED = [r"gen_vision_model\.", r"gen_aligner\.", r"gen_head\.", r"gen_embed\.",
                r"vision_model\.vision_tower\.attn_pool\.", r"language_model\.model\.rotary_emb\.",
                r"language_model\.model\.layers\.\d+\.self_attn\.rotary_emb\.inv_freq$"]


def check_janus_config(path: Path, config: UniXConfig, config_key: str = "weights.janus_pro") -> None:
    """The Janus-style config.json's language sizes must match `config` (error names the field)."""
    cfg_path = path / "config.json" if path.is_dir() else path.parent / "config.json"
    if not cfg_path.exists():
        return
    lang = json.loads(cfg_path.read_text()).get("language_config", {})
    pairs = {"hidden_size": config.hidden_size, "intermediate_size": config.intermediate_size,
             "num_hidden_layers": config.num_layers, "num_attention_heads": config.num_heads,
             "vocab_size": config.vocab_size}
    bad = [f"{k}={lang[k]} (model: {v})" for k, v in pairs.items() if k in lang and lang[k] != v]
    if bad:
        raise CheckpointError(f"{cfg_path} ({config_key}): language_config does not match the model config: "
                              f"{', '.join(bad)}; use model size unix-1.5b with Janus-Pro-1B and UniX weights")


def load_janus_pro(model, path: str | Path) -> dict[str, object]:
    """Janus-Pro-1B -> understanding branch (LM, SigLIP, aligner), then copied into the generation branch.

    Janus has no QKV biases and no QK norms: the biases start at zero and the norms at one (reported).
    Janus's own image-generation modules (VQ model, gen head/aligner/embed) and the SigLIP pooling head
    are not used (reported). Any other key is an error.
    """
    path = Path(path)
    check_janus_config(path, model.config)
    state = read_weights(path, "weights.janus_pro")
    tp = "vision_model.vision_tower."
    rules = _lm_rules("language_model.", with_gen=False) + _siglip_timm_rules(tp) + _connector_rules("aligner.")
    mapped, ignored, unexpected = _apply_rules(state, rules, JANUS_UNUSED, timm_prefix=tp)
    _raise_unexpected(str(path), unexpected, "Janus-Pro")
    initialised = load_strict(model, mapped, str(path), allowed_missing=lambda k: not _understanding_key(k) or _new_in_janus(k))
    new = [k for k in initialised if _new_in_janus(k)]
    with torch.no_grad():
        for layer in model.decoder.layers:
            for proj in (layer.und.q_proj, layer.und.k_proj, layer.und.v_proj):
                if proj.bias is not None:
                    proj.bias.zero_()  # a zero bias keeps Janus's projections unchanged
    model.init_generation_from_understanding()
    log.info("Janus-Pro: %d tensors loaded, %d new parameters initialised (QKV biases = 0, QK norms = 1), "
             "%d checkpoint tensors unused (image-generation modules, pooling head): %s",
             len(mapped), len(new), len(ignored), _preview(sorted(ignored), 6))
    return {"source": str(path), "loaded": len(mapped), "initialised_new": new, "unused": ignored}


UNIX_UNUSED = [r"vit_pos_embed\.pos_embed$", r"(vit_model|vision_model)\.vision_tower\.attn_pool\.",
               r"language_model\.model\.rotary_emb\."]


# Other tensors a UniX release may hold besides the model's: the REPA projector of training (built lazily
# inside the language model, `repa_loss_fn.projectors.<i>.mlp.*`), Janus-Pro's image-generation modules
# and the Janus-style copies the reference loader reads its SigLIP and aligner from (`vision_model.*`,
# `aligner.*`; the model itself uses `vit_model.*` and `connector.*` when present), old RoPE buffers.
UNIX_EXTRA_UNUSED = [r"language_model\.model\.repa_loss_fn\.", r"language_model\.model\.repa_encoder_manager\.",
                     r"repa_projector\.", r"gen_vision_model\.", r"gen_aligner\.", r"gen_head\.", r"gen_embed\.",
                     r"language_model\.model\.layers\.\d+\.self_attn\.rotary_emb\.inv_freq$"]


def load_unix_release(model, path: str | Path) -> dict[str, object]:
    """The released UniX `model.safetensors` (BAGEL-style names, `*_moe_gen` twins) -> every branch.

    The key names follow the reference code (language_model.*, vit_model.vision_tower.* in timm naming,
    connector.layers.0/2, time_embedder.mlp.0/2, vae2llm, llm2vae); `vision_model.*`/`aligner.*` are
    used only when the file has no `vit_model.*`/`connector.*`. The REPA projector is training-only and
    keeps its initial values (a stored one is reported as unused, like every tolerated extra key). The
    fixed latent position table `latent_pos_embed.pos_embed` is loaded (it is what the release computes
    with; its difference from our recomputed table is logged). The Janus-style config.json beside the
    file must agree with the model size.
    """
    path = Path(path)
    check_janus_config(path, model.config, "weights.unix")
    state = read_weights(path / WEIGHTS_NAME if (path / WEIGHTS_NAME).exists() else path, "weights.unix")
    own_vit = any(k.startswith("vit_model.") for k in state)
    tp = "vit_model.vision_tower." if own_vit else "vision_model.vision_tower."
    connector = "connector." if any(k.startswith("connector.") for k in state) else "aligner."
    rules = (_lm_rules("language_model.", with_gen=True) + _siglip_timm_rules(tp) + _connector_rules(connector)
             + [(r"time_embedder\.mlp\.(0|2)\.(weight|bias)", r"latent.time_embedder.mlp.\1.\2"),
                (r"(vae2llm|llm2vae)\.(weight|bias)", r"latent.\1.\2"),
                (r"latent_pos_embed\.pos_embed", "latent.pos_table")])
    ours = model.latent.pos_table.detach().clone()
    copies = ([r"vision_model\."] if own_vit else []) + ([r"aligner\."] if connector == "connector." else [])
    mapped, ignored, unexpected = _apply_rules(state, rules, UNIX_UNUSED + UNIX_EXTRA_UNUSED + copies, timm_prefix=tp)
    _raise_unexpected(str(path), unexpected, "UniX")
    initialised = load_strict(model, mapped, str(path), allowed_missing=lambda k: k.startswith(
        ("repa_projector.", "vae.", "repa_encoder.")) or k == "latent.pos_table")
    if "latent.pos_table" in mapped:
        diff = (mapped["latent.pos_table"].float() - ours.float()).abs().max().item()
        (log.info if diff <= 4e-3 else log.warning)(
            "latent position table loaded from the checkpoint; it differs from our recomputed table by up to %.3g "
            "(<= 4e-3 is bf16 rounding)", diff)
    kept = [k for k in initialised if k.startswith("repa_projector.")]
    log.info("UniX release: %d tensors loaded, %d kept at init (REPA projector), %d unused (pooling head, "
             "Janus-style copies, stored REPA projector): %s", len(mapped), len(kept), len(ignored),
             _preview(sorted(ignored), 6))
    return {"source": str(path), "loaded": len(mapped), "unused": ignored, "kept_initial": kept}


# ---------------------------------------------------------------------------- VAE
def _ldm_resnet(name: str) -> str:
    return name.replace("nin_shortcut", "conv_shortcut")


def _ldm_attention(name: str) -> str:
    head, _, tail = name.rpartition(".")  # tail: weight | bias
    part = {"norm": "group_norm", "q": "to_q", "k": "to_k", "v": "to_v", "proj_out": "to_out.0"}.get(head)
    if part is None:
        raise KeyError(name)
    return f"{part}.{tail}"


def ldm_vae_key(key: str, levels: int) -> str | None:
    """latent-diffusion AutoencoderKL key -> diffusers AutoencoderKL key (None: not a VAE weight)."""
    m = re.fullmatch(r"(quant_conv|post_quant_conv)\.(weight|bias)", key)
    if m:
        return key
    m = re.fullmatch(r"(encoder|decoder)\.(conv_in|conv_out)\.(weight|bias)", key)
    if m:
        return key
    m = re.fullmatch(r"(encoder|decoder)\.norm_out\.(weight|bias)", key)
    if m:
        return f"{m[1]}.conv_norm_out.{m[2]}"
    m = re.fullmatch(r"(encoder|decoder)\.mid\.block_(1|2)\.(.+)", key)
    if m:
        return f"{m[1]}.mid_block.resnets.{int(m[2]) - 1}.{_ldm_resnet(m[3])}"
    m = re.fullmatch(r"(encoder|decoder)\.mid\.attn_1\.(.+)", key)
    if m:
        return f"{m[1]}.mid_block.attentions.0.{_ldm_attention(m[2])}"
    m = re.fullmatch(r"encoder\.down\.(\d+)\.(block|attn)\.(\d+)\.(.+)", key)
    if m:
        kind, sub = ("resnets", _ldm_resnet(m[4])) if m[2] == "block" else ("attentions", _ldm_attention(m[4]))
        return f"encoder.down_blocks.{m[1]}.{kind}.{m[3]}.{sub}"
    m = re.fullmatch(r"encoder\.down\.(\d+)\.downsample\.conv\.(weight|bias)", key)
    if m:
        return f"encoder.down_blocks.{m[1]}.downsamplers.0.conv.{m[2]}"
    # the decoder's up levels are stored from the lowest resolution in LDM, from the highest in diffusers
    m = re.fullmatch(r"decoder\.up\.(\d+)\.(block|attn)\.(\d+)\.(.+)", key)
    if m:
        kind, sub = ("resnets", _ldm_resnet(m[4])) if m[2] == "block" else ("attentions", _ldm_attention(m[4]))
        return f"decoder.up_blocks.{levels - 1 - int(m[1])}.{kind}.{m[3]}.{sub}"
    m = re.fullmatch(r"decoder\.up\.(\d+)\.upsample\.conv\.(weight|bias)", key)
    if m:
        return f"decoder.up_blocks.{levels - 1 - int(m[1])}.upsamplers.0.conv.{m[2]}"
    return None


def ldm_vae_config(yaml_path: Path) -> dict[str, object]:
    """diffusers AutoencoderKL kwargs from a latent-diffusion first-stage config.yaml."""
    import yaml

    raw = yaml.safe_load(yaml_path.read_text())
    params = raw.get("model", raw).get("params", {})
    dd = params.get("ddconfig")
    if dd is None:
        raise CheckpointError(f"{yaml_path} has no model.params.ddconfig; it is not a latent-diffusion VAE config")
    if int(params.get("embed_dim", dd["z_channels"])) != int(dd["z_channels"]):
        raise CheckpointError(f"{yaml_path}: embed_dim != z_channels is not supported")
    levels, res = len(dd["ch_mult"]), int(dd["resolution"])
    attn = {i for i in range(levels) if res // 2**i in set(dd.get("attn_resolutions", []))}
    return dict(
        in_channels=int(dd["in_channels"]), out_channels=int(dd["out_ch"]), latent_channels=int(dd["z_channels"]),
        layers_per_block=int(dd["num_res_blocks"]), norm_num_groups=32,
        block_out_channels=[int(dd["ch"]) * int(m) for m in dd["ch_mult"]],
        down_block_types=["AttnDownEncoderBlock2D" if i in attn else "DownEncoderBlock2D" for i in range(levels)],
        up_block_types=["AttnUpDecoderBlock2D" if levels - 1 - k in attn else "UpDecoderBlock2D" for k in range(levels)])


def ldm_checkpoint_files(path: Path) -> tuple[Path, Path]:
    """(the `.ckpt`, its config) for `weights.vae`: a `.ckpt` file or a directory holding exactly one.

    The config is the sibling `config.yaml` (latent-diffusion's and UniX's code), else `<ckpt name>.yaml`
    or `kl-f16d16.yaml` (the names in UniX's docs).
    """
    ckpts = [path] if path.is_file() else sorted(path.glob("*.ckpt"))
    if not ckpts:
        raise CheckpointError(f"weights.vae = {path}: no VAE there; expected a diffusers directory (config.json) or "
                              "a latent-diffusion *.ckpt with config.yaml (or kl-f16d16.yaml) beside it")
    if len(ckpts) > 1:
        raise CheckpointError(f"weights.vae = {path} holds several checkpoints ({', '.join(c.name for c in ckpts)}); "
                              "point weights.vae at the one to use")
    ckpt = ckpts[0]
    names = ["config.yaml", ckpt.stem + ".yaml", "kl-f16d16.yaml"]
    for name in names:
        if (ckpt.parent / name).exists():
            return ckpt, ckpt.parent / name
    raise CheckpointError(f"weights.vae: the latent-diffusion VAE checkpoint {ckpt} needs its config beside it, as "
                          f"one of {', '.join(dict.fromkeys(names))} (CompVis latent-diffusion "
                          "models/first_stage_models/kl-f16/config.yaml)")


def load_vae(path: str | Path) -> tuple[torch.nn.Module, dict[str, object]]:
    """The KL-f16 VAE (`weights.vae`): a latent-diffusion `*.ckpt` (file, or a directory with one) with its
    config beside it (`ldm_checkpoint_files`), or a diffusers directory.

    Returns the frozen `AutoencoderKL` and its constructor kwargs (to put into UniXConfig.vae).
    """
    from diffusers import AutoencoderKL

    path = Path(path)
    if path.is_dir() and (path / "config.json").exists():
        vae = AutoencoderKL.from_pretrained(str(path))
        keys = ("in_channels", "out_channels", "latent_channels", "layers_per_block", "norm_num_groups",
                "block_out_channels", "down_block_types", "up_block_types")
        kwargs = {k: (list(v) if isinstance(v, (list, tuple)) else v) for k, v in vae.config.items() if k in keys}
        vae.requires_grad_(False)
        return vae, kwargs
    if not path.exists():
        raise CheckpointError(f"weights.vae = {path} does not exist; set weights.vae in config.yaml to the VAE "
                              "directory (kl-f16d16.ckpt + config.yaml, or a diffusers AutoencoderKL directory)")
    ckpt, yaml_path = ldm_checkpoint_files(path)
    kwargs = ldm_vae_config(yaml_path)
    raw = load_lightning_checkpoint(ckpt)
    state, unexpected, origin, unused = {}, [], {}, []
    levels = len(kwargs["block_out_channels"])
    for key, value in raw.items():
        key = key.removeprefix("first_stage_model.")
        if key.startswith("loss."):
            unused.append(key)  # LPIPS / discriminator of the VAE's own training
            continue
        try:
            new = ldm_vae_key(key, levels)
        except KeyError:
            new = None
        if new is None:
            unexpected.append(key)
            continue
        if ".attentions." in new and value.dim() > 2 and "group_norm" not in new:
            value = value.reshape(value.shape[0], value.shape[1])  # 1x1 conv -> linear
        state[new] = value
        origin[new] = key
    _raise_unexpected(str(ckpt), unexpected, "latent-diffusion VAE")
    vae = AutoencoderKL(**{k: tuple(v) if isinstance(v, list) else v for k, v in kwargs.items()})
    load_strict(vae, state, str(ckpt), origin=origin)
    vae.requires_grad_(False)
    log.info("VAE %s (config %s): %d tensors loaded, %d unused (the training loss: LPIPS, discriminator)",
             ckpt, yaml_path.name, len(state), len(unused))
    return vae, kwargs


# ---------------------------------------------------------------------------- SigLIP and RadDino
def load_siglip(model, path: str | Path) -> None:
    """google/siglip-large-patch16-384 (a transformers directory) -> the vision encoder."""
    from transformers import SiglipVisionModel

    path = Path(path)
    if not (path / "config.json").exists():
        raise CheckpointError(f"{path} is not a transformers SigLIP directory (no config.json); set weights.siglip")
    vision = SiglipVisionModel.from_pretrained(str(path))
    load_strict(model.vision, {k: v for k, v in vision.state_dict().items() if not k.startswith("head.")}, str(path))


def load_repa_encoder(path: str | Path) -> tuple[torch.nn.Module, dict[str, object], dict[str, tuple]]:
    """RadDino (a transformers Dinov2Model directory): the frozen encoder, its config kwargs for
    UniXConfig.repa_encoder, and the processor's mean/std (when preprocessor_config.json is there)."""
    from transformers import Dinov2Model

    path = Path(path)
    if not (path / "config.json").exists():
        raise CheckpointError(f"{path} is not a transformers Dinov2/RadDino directory (no config.json); set weights.raddino")
    encoder = Dinov2Model.from_pretrained(str(path))
    encoder.requires_grad_(False)
    c = encoder.config
    kwargs = dict(hidden_size=c.hidden_size, num_hidden_layers=c.num_hidden_layers, num_attention_heads=c.num_attention_heads,
                  mlp_ratio=c.mlp_ratio, image_size=c.image_size, patch_size=c.patch_size)
    norm: dict[str, tuple] = {}
    pre = path / "preprocessor_config.json"
    if pre.exists():
        data = json.loads(pre.read_text())
        if "image_mean" in data and "image_std" in data:
            norm = {"repa_encoder_mean": tuple(data["image_mean"]), "repa_encoder_std": tuple(data["image_std"])}
    return encoder, kwargs, norm
