"""Batched inference: reports from images, images from report prompts.

A model directory (written by `init_model` or training) holds the UniX weights (config.json,
model.safetensors) and the tokenizer files side by side; `load_model` reads both.
"""

from __future__ import annotations

import logging
from pathlib import Path

import torch
from PIL import Image

from unix.model.latent import tensor_to_images
from unix.model.tokenizer import build_report_prompts, encode_captions, load_tokenizer
from unix.model.unix import UniX
from unix.model.vision import preprocess_understanding_images

log = logging.getLogger(__name__)

# One of the reference evaluation's prompt styles (FINDINGS + IMPRESSION).
DEFAULT_REPORT_PROMPT = "Generate a radiology report with FINDINGS and IMPRESSION for this chest X-ray."


DTYPES = ("auto", "float32", "bfloat16", "float16")


def resolve_dtype(name: str, device: str | torch.device) -> torch.dtype:
    """Inference dtype (config `evaluation.inference.dtype`): auto is bfloat16 on CUDA, as UniX's own
    inference code, and float32 elsewhere (CPUs without bfloat16 units run it slower)."""
    if name not in DTYPES:
        raise ValueError(f"inference dtype {name!r} is not one of {DTYPES} (config evaluation.inference.dtype)")
    if name == "auto":
        return torch.bfloat16 if torch.device(device).type == "cuda" else torch.float32
    return getattr(torch, name)


def load_model(directory: str | Path, device: str | torch.device = "cpu", task: str | None = None,
               dtype: str = "float32", compile: bool = False):
    """(model in eval mode, tokenizer) from a model directory, in `dtype` (see `resolve_dtype`), with the
    decoder layers compiled when `compile` (see `compile_decoder`).

    task "reports" or "images" builds and loads only the parts that task runs (`UniX(inference=task)`:
    no transformers/diffusers modelling imports, no REPA encoder, no VAE for reports, its decoder alone
    for images);
    the outputs are the same (our own tokenizers then load as a `PlainTokenizer`). None loads the whole model.
    """
    model = UniX.from_pretrained(directory, map_location=device) if task is None else \
        _load_for_task(Path(directory), device, task)
    model.eval().to(resolve_dtype(dtype, device))
    if compile:
        compile_decoder(model)
    return model, load_tokenizer(directory, fast_start=task is not None)


def _load_for_task(directory: Path, device: str | torch.device, task: str) -> UniX:
    from safetensors import safe_open

    from unix.model import checkpoints as ckpt
    from unix.model.config import UniXConfig
    from unix.model.vae_decoder import VAEDecoder

    for name in (ckpt.CONFIG_NAME, ckpt.WEIGHTS_NAME):
        if not (directory / name).exists():
            raise ckpt.CheckpointError(f"{directory / name} does not exist; a model directory holds "
                                       f"{ckpt.CONFIG_NAME} and {ckpt.WEIGHTS_NAME} as written by UniX.save_pretrained")
    model = UniX(UniXConfig.load(directory / ckpt.CONFIG_NAME), inference=task)
    skipped = tuple(f"{name}." for name in ("vae", "repa_encoder") if getattr(model, name) is None)
    if isinstance(model.vae, VAEDecoder):
        skipped += ("vae.encoder.", "vae.quant_conv.")
    source = directory / ckpt.WEIGHTS_NAME
    with safe_open(str(source), framework="pt", device=str(device)) as f:
        state = {k: f.get_tensor(k) for k in f.keys() if not k.startswith(skipped)}
    ckpt.load_strict(model, state, source=str(source), allowed_missing=lambda k: k == "latent.pos_table")
    return model.to(device)


def _batches(n: int, size: int):
    for start in range(0, n, size):
        yield slice(start, min(n, start + size))


@torch.no_grad()
def generate_reports(model: UniX, tokenizer, images: list[Image.Image], prompts: list[str] | str | None = None,
                     batch_size: int = 8, max_new_tokens: int | None = None, do_sample: bool = False,
                     temperature: float = 1.0, top_p: float = 1.0, seed: int = 0) -> list[str]:
    """One report per image (greedy by default, as in the reference evaluation)."""
    if prompts is None or isinstance(prompts, str):
        prompts = [prompts or DEFAULT_REPORT_PROMPT] * len(images)
    if len(prompts) != len(images):
        raise ValueError(f"generate_reports: {len(images)} images but {len(prompts)} prompts")
    generator = torch.Generator().manual_seed(seed) if do_sample else None
    reports: list[str] = []
    for sl in _batches(len(images), batch_size):
        pixels = preprocess_understanding_images(images[sl], model.config).to(model.device)
        ids, mask = build_report_prompts(tokenizer, prompts[sl], model.config)
        out = model.generate_report_ids(pixels, ids.to(model.device), mask.to(model.device),
                                        max_new_tokens=max_new_tokens, do_sample=do_sample,
                                        temperature=temperature, top_p=top_p, generator=generator)
        reports += [tokenizer.decode(o, skip_special_tokens=True).strip() for o in out]
    return reports


@torch.no_grad()
def generate_images(model: UniX, tokenizer, prompts: list[str], seeds: list[int] | None = None,
                    batch_size: int = 8, image_size: int | None = None, steps: int | None = None,
                    cfg_scale: float | None = None, cfg_interval: tuple[float, float] | None = None,
                    shift: float | None = None, renorm: bool | None = None,
                    max_prompt_tokens: int = 256) -> list[Image.Image]:
    """One RGB image per prompt; image i uses noise seeded by seeds[i] (default: its index), so an
    image does not depend on the batch it was generated in."""
    seeds = list(range(len(prompts))) if seeds is None else list(seeds)
    if len(seeds) != len(prompts):
        raise ValueError(f"generate_images: {len(prompts)} prompts but {len(seeds)} seeds")
    images: list[Image.Image] = []
    for sl in _batches(len(prompts), batch_size):
        ids, mask = encode_captions(tokenizer, prompts[sl], model.config, max_length=max_prompt_tokens)
        x = model.generate_image_tensors(ids.to(model.device), mask.to(model.device), seeds[sl],
                                         image_size=image_size, steps=steps, shift=shift, cfg_scale=cfg_scale,
                                         cfg_interval=cfg_interval, renorm=renorm)
        images += tensor_to_images(x)
    return images


def compile_decoder(model: UniX) -> UniX:
    """`torch.compile` each decoder layer in place (dynamic shapes: the cache grows at every step).
    Same numbers up to floating-point reassociation; pays off on GPUs after the first batches."""
    for layer in model.decoder.layers:
        layer.compile(dynamic=True)
    return model
