"""Building the initial UniX model of the workflow (`init_model`): from the released UniX checkpoint,
from Janus-Pro-1B, or random (the demo), with the configured VAE, RadDino and tokenizer.

The `model:` section of config.yaml reaches the model through `model_overrides` (architecture and
training objective, baked into the saved config.json) and `sampling_kwargs` (inference settings, read by
the inference rules at run time so that changing them never retrains anything).
"""

from __future__ import annotations

import json
import logging
from pathlib import Path
from typing import Any, Iterable

import torch

from unix.model import checkpoints as ckpt
from unix.model.config import UniXConfig
from unix.model.repa import processor_overrides
from unix.model.settings import model_overrides, report_kwargs, sampling_kwargs  # noqa: F401
from unix.model.tokenizer import load_tokenizer, special_token_ids, train_tokenizer

log = logging.getLogger(__name__)

def build_initial_model(size: str, weights: dict[str, str], tokenizer, overrides: dict[str, Any] | None = None,
                        seed: int = 0):
    """The initial UniX and a report of what was loaded from where.

    weights: local paths (config `weights`, already resolved): `unix`, `janus_pro`, `siglip`, `vae`,
    `raddino`; empty strings mean "not available" (random initialisation, reported).
    """
    overrides = dict(overrides or {})
    report: dict[str, Any] = {"size": size, "seed": seed}
    overrides.update(special_token_ids(tokenizer))
    if size == "tiny":
        overrides["vocab_size"] = len(tokenizer)
    vae_model = raddino = None
    if weights.get("vae"):
        vae_model, overrides["vae"] = ckpt.load_vae(weights["vae"])
        report["vae"] = weights["vae"]
    if weights.get("raddino"):
        raddino, overrides["repa_encoder"], norm = ckpt.load_repa_encoder(weights["raddino"])
        overrides.update(norm)
        pre = Path(weights["raddino"]) / "preprocessor_config.json"
        if pre.exists():  # the processor's resize and crop, which the REPA targets go through
            overrides.update(processor_overrides(json.loads(pre.read_text())))
        report["raddino"] = weights["raddino"]
    config = UniXConfig.from_name(size, **overrides)
    if len(tokenizer) > config.vocab_size:
        raise ValueError(f"the tokenizer has {len(tokenizer)} tokens but model size {size} has vocab_size "
                         f"{config.vocab_size}; use the tokenizer that belongs to the weights")
    torch.manual_seed(seed)
    from unix.model.unix import UniX

    model = UniX(config)
    if vae_model is not None:
        model.vae = vae_model
    if raddino is not None:
        model.repa_encoder = raddino
    if weights.get("unix"):
        report["unix"] = ckpt.load_unix_release(model, weights["unix"])
    elif weights.get("janus_pro"):
        report["janus_pro"] = ckpt.load_janus_pro(model, weights["janus_pro"])
    else:
        if weights.get("siglip"):
            ckpt.load_siglip(model, weights["siglip"])
            report["siglip"] = weights["siglip"]
        model.init_generation_from_understanding()
        report["language_model"] = "random initialisation (no janus_pro/unix weights configured)"
    for name in ("vae", "raddino"):
        report.setdefault(name, "random initialisation of the configured architecture")
    return model, report


def make_tokenizer(weights: dict[str, str], texts: Iterable[str], vocab_size: int):
    """The Janus tokenizer of the configured UniX/Janus directory, else a BPE trained on `texts`."""
    for key in ("unix", "janus_pro"):
        if weights.get(key):
            return load_tokenizer(weights[key])
    return train_tokenizer(texts, vocab_size)


def write_initial_model(out_dir: str | Path, size: str, weights: dict[str, str], texts: Iterable[str],
                        tokenizer_vocab_size: int, overrides: dict[str, Any] | None = None, seed: int = 0
                        ) -> dict[str, Any]:
    """Build the initial model and write it with its tokenizer to `out_dir` (a model directory)."""
    tokenizer = make_tokenizer(weights, texts, tokenizer_vocab_size)
    model, report = build_initial_model(size, weights, tokenizer, overrides, seed)
    out_dir = Path(out_dir)
    model.save_pretrained(out_dir)
    tokenizer.save_pretrained(str(out_dir))
    report["parameters"] = sum(p.numel() for p in model.parameters())
    report["vocab_size"] = model.config.vocab_size
    return report
