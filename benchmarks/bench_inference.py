"""Evaluation inference speed: report generation beside transformers' `generate`, and image sampling.

    .venv/bin/python benchmarks/bench_inference.py                       # CPU, mid size, float32
    .venv/bin/python benchmarks/bench_inference.py --device cuda --dtype bfloat16 --size unix-1.5b
    options: --reps 3 --batch 8 --new-tokens 64 --threads N --compile --knobs --image-sizes 256 512
             --image-steps S --skip-reports --skip-images

Reports: our `UniX.generate_report_ids` (greedy, preallocated KV cache) against transformers'
`Qwen2ForCausalLM.generate` (greedy, its dynamic cache, `sdpa` attention) with the same decoder dimensions,
vocabulary, batch and a prefix of the same length: ours is [BOI, 576 ViT tokens, EOI] + text, SigLIP
included (a small tower at `mid`), theirs the same number of token embeddings fed as `inputs_embeds`.
Both decode exactly --new-tokens tokens (EOS disabled). The two are timed interleaved, rep by rep, so a
shared machine's load hits both alike; the ratio is ours / theirs in new tokens per second (> 1: faster),
the median of the per-rep ratios. Prefill is timed apart (one new token) to split prefill and decode.

Images: seconds per image (text guidance on, as in evaluation) at each --image-sizes, with the VAE decode's
share (the configured KL-f16 architecture), and the caption prefix cache's gain at 32 x 32 latents (512 px).

--knobs measures the throughput knobs of the inference rules: batch size (1 vs --batch), dtype (float32
vs bfloat16) and, with --compile, `torch.compile` of the decoder (`unix.model.inference.compile_decoder`).
"""

from __future__ import annotations

import argparse
import statistics
import time

import torch

from unix.model import UniX, UniXConfig

MID = dict(hidden_size=512, intermediate_size=1408, num_layers=8, num_heads=8, repa_layer=3, max_latent_size=32,
           gen_image_size=256,
           vision=dict(hidden_size=64, intermediate_size=128, num_hidden_layers=1, num_attention_heads=2,
                       image_size=384, patch_size=16, vision_use_head=False, layer_norm_eps=1e-6, hidden_act="gelu"))
PREFIX = 600  # tokens before the first new one: [BOI, 576 ViT tokens, EOI] + text


def build_config(size: str) -> UniXConfig:
    if size == "mid":
        # the paper's VAE architecture, so that the VAE decode's share is the real one
        return UniXConfig.from_name("tiny", **MID, vae=UniXConfig.from_name("unix-1.5b").vae)
    return UniXConfig.from_name(size)


def sync(device: str) -> None:
    if device.startswith("cuda"):
        torch.cuda.synchronize()


def timed(fn, device: str) -> float:
    """Seconds of `fn`: wall clock on a GPU; on CPU the process's CPU time, which a shared machine's load
    sways far less than the wall clock (use --threads 1 there, so that idle worker threads add nothing)."""
    clock = time.perf_counter if device.startswith("cuda") else time.process_time
    sync(device)
    start = clock()
    fn()
    sync(device)
    return clock() - start


def qwen2_twin(config: UniXConfig, device: str, dtype: torch.dtype):
    """transformers' Qwen2 with our decoder's dimensions (it has no q/k-norm and one weight set)."""
    from transformers import Qwen2Config, Qwen2ForCausalLM

    q = Qwen2Config(vocab_size=config.vocab_size, hidden_size=config.hidden_size,
                    intermediate_size=config.intermediate_size, num_hidden_layers=config.num_layers,
                    num_attention_heads=config.num_heads, num_key_value_heads=config.num_heads,
                    rope_theta=config.rope_theta, rms_norm_eps=config.rms_eps, max_position_embeddings=4096,
                    tie_word_embeddings=False)
    with torch.device(device):
        model = Qwen2ForCausalLM._from_config(q, attn_implementation="sdpa", dtype=dtype)
    return model.eval()


def bench_reports(model: UniX, args, device: str, dtype: torch.dtype) -> float:
    cfg = model.config
    B, n_new = args.batch, args.new_tokens
    n_image = cfg.vision_tokens + 2
    n_text = PREFIX - n_image
    g = torch.Generator().manual_seed(0)
    side = cfg.understanding_image_size
    pixels = torch.randn(B, 3, side, side, generator=g).to(device)
    ids = torch.randint(5, cfg.vocab_size, (B, n_text), generator=g).to(device)
    mask = torch.ones_like(ids)
    hf = qwen2_twin(cfg, device, dtype)
    embeds = torch.randn(B, PREFIX, cfg.hidden_size, generator=g).to(device, dtype)
    hf_mask = torch.ones(B, PREFIX, dtype=torch.long, device=device)
    model.config.eos_token_id = -1  # decode exactly n_new tokens, as transformers below

    def ours(n):
        return model.generate_report_ids(pixels, ids, mask, max_new_tokens=n)

    def theirs(n):
        return hf.generate(inputs_embeds=embeds, attention_mask=hf_mask, max_new_tokens=n, min_new_tokens=n,
                           do_sample=False, eos_token_id=None, pad_token_id=0)

    print(f"\n== reports: {args.size} ({sum(p.numel() for p in model.decoder.parameters()) / 1e6:.0f} M decoder "
          f"parameters, two branches), {device} {dtype}, batch {B}, prefix {PREFIX} ({n_image} image + "
          f"{n_text} text), {n_new} new greedy tokens, medians of {args.reps}")
    with torch.no_grad():
        assert len(ours(2)[0]) == 2 and theirs(2).shape[1] == 2  # warm-up
        rows = {"ours": [], "transformers": [], "ours_prefill": [], "transformers_prefill": []}
        for _ in range(args.reps):
            rows["ours"].append(timed(lambda: ours(n_new), device))
            rows["transformers"].append(timed(lambda: theirs(n_new), device))
            rows["ours_prefill"].append(timed(lambda: ours(1), device))
            rows["transformers_prefill"].append(timed(lambda: theirs(1), device))
    med = {k: statistics.median(v) for k, v in rows.items()}
    for name in ("ours", "transformers"):
        total, prefill = med[name], med[f"{name}_prefill"]
        decode = max(total - prefill, 1e-9)
        print(f"{name:>13}: {B * n_new / total:8.1f} new tokens/s  (total {total:6.2f} s, prefill {prefill:6.2f} s, "
              f"decode {B * (n_new - 1) / decode:8.1f} tokens/s)")
    ratios = [b / a for a, b in zip(rows["ours"], rows["transformers"])]
    print(f"ratio ours / transformers (tokens/s): {statistics.median(ratios):.2f}x "
          f"(per rep: {', '.join(f'{r:.2f}' for r in ratios)})")
    del hf
    return B * n_new / med["ours"]


def bench_images(model: UniX, args, device: str) -> None:
    from unix.model.latent import vae_decode

    cfg = model.config
    g = torch.Generator().manual_seed(0)
    ids = torch.randint(5, cfg.vocab_size, (args.image_batch, 64), generator=g).to(device)
    mask = torch.ones_like(ids)
    seeds = list(range(args.image_batch))
    steps = args.image_steps
    print(f"\n== images: {args.size}, {device}, batch {args.image_batch}, {steps} Euler steps, text CFG "
          f"{cfg.cfg_scale} on {tuple(cfg.cfg_interval)} (guided and unguided halves in one forward), "
          f"64-token captions")
    vae_dtype = next(model.vae.parameters()).dtype
    with torch.no_grad():
        for size in args.image_sizes:
            grid = size // cfg.latent_downsample
            model.extend_latent_positions(grid)
            kw = dict(image_size=size, steps=steps)
            latents = model.generate_latents(ids, mask, seeds, **dict(kw, steps=1))  # warm-up
            t_lat = statistics.median(timed(lambda: model.generate_latents(ids, mask, seeds, **kw), device)
                                      for _ in range(args.image_reps))
            t_vae = statistics.median(timed(lambda: vae_decode(model.vae, latents.to(vae_dtype), cfg), device)
                                      for _ in range(args.image_reps))
            per_image = (t_lat + t_vae) / args.image_batch
            print(f"{size:4d} px ({grid}x{grid} latents): {per_image:7.2f} s/image ({t_lat / steps / args.image_batch:.3f}"
                  f" s/step/image), VAE decode {t_vae / (t_lat + t_vae) * 100:4.1f}% of it")
            if grid == 32:
                kw = dict(image_size=size, steps=max(2, steps // 4))
                nocache = timed(lambda: model.generate_latents(ids, mask, seeds, use_cache=False, **kw), device)
                cached = timed(lambda: model.generate_latents(ids, mask, seeds, use_cache=True, **kw), device)
                print(f"     prefix cache at 32x32 latents ({kw['steps']} steps): {nocache:.2f} s without, "
                      f"{cached:.2f} s with: {nocache / cached:.2f}x")


def bench_knobs(model: UniX, args, device: str) -> None:
    """Report tokens/s for batch 1 vs --batch, float32 vs bfloat16, eager vs compiled decoder."""
    from unix.model.inference import compile_decoder

    cfg = model.config
    n_new = args.new_tokens
    g = torch.Generator().manual_seed(1)
    side = cfg.understanding_image_size
    n_text = PREFIX - cfg.vision_tokens - 2

    def rate(m, batch: int) -> float:
        pixels = torch.randn(batch, 3, side, side, generator=g).to(device)
        ids = torch.randint(5, cfg.vocab_size, (batch, n_text), generator=g).to(device)
        mask = torch.ones_like(ids)
        with torch.no_grad():
            m.generate_report_ids(pixels, ids, mask, max_new_tokens=4)  # warm-up (and compilation)
            t = statistics.median(timed(lambda: m.generate_report_ids(pixels, ids, mask, max_new_tokens=n_new),
                                        device) for _ in range(args.reps))
        return batch * n_new / t

    print(f"\n== knobs (report generation, new tokens/s, {n_new} new tokens, medians of {args.reps})")
    base = rate(model, args.batch)
    print(f"batch {args.batch:3d}, {model.dtype_name}: {base:8.1f}")
    one = rate(model, 1)
    print(f"batch   1, {model.dtype_name}: {one:8.1f}  (batch {args.batch} is {base / one:.2f}x)")
    other = torch.bfloat16 if model.lm_head.weight.dtype == torch.float32 else torch.float32
    model.to(other)
    model.dtype_name = str(other).replace("torch.", "")
    alt = rate(model, args.batch)
    print(f"batch {args.batch:3d}, {model.dtype_name}: {alt:8.1f}  ({alt / base:.2f}x)")
    if args.compile:
        model.to(getattr(torch, args.dtype))
        compile_decoder(model)
        start = time.perf_counter()
        compiled = rate(model, args.batch)
        print(f"batch {args.batch:3d}, {args.dtype}, torch.compile: {compiled:8.1f}  ({compiled / base:.2f}x; "
              f"warm-up and compilation {time.perf_counter() - start:.0f} s in all)")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--device", default="cpu")
    ap.add_argument("--dtype", default="float32", choices=["float32", "bfloat16", "float16"])
    ap.add_argument("--size", default="mid", help="mid (hidden 512, 8 layers), tiny or unix-1.5b")
    ap.add_argument("--batch", type=int, default=8)
    ap.add_argument("--new-tokens", type=int, default=64)
    ap.add_argument("--reps", type=int, default=3)
    ap.add_argument("--threads", type=int, default=0, help="torch threads (0: torch's default)")
    ap.add_argument("--image-sizes", type=int, nargs="*", default=[256, 512])
    ap.add_argument("--image-steps", type=int, default=None, help="Euler steps (default: 49 on cuda, 4 on cpu)")
    ap.add_argument("--image-batch", type=int, default=1)
    ap.add_argument("--image-reps", type=int, default=1)
    ap.add_argument("--skip-reports", action="store_true")
    ap.add_argument("--skip-images", action="store_true")
    ap.add_argument("--knobs", action="store_true", help="measure batch size, dtype (and --compile)")
    ap.add_argument("--compile", action="store_true", help="with --knobs: also torch.compile the decoder")
    args = ap.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    args.image_steps = args.image_steps or (49 if args.device.startswith("cuda") else 4)
    dtype = getattr(torch, args.dtype)
    torch.manual_seed(0)
    config = build_config(args.size)
    with torch.device(args.device):
        model = UniX(config)
    model = model.to(dtype).eval()
    model.dtype_name = args.dtype
    print(f"torch {torch.__version__}, {torch.get_num_threads()} threads, {args.device}")
    if not args.skip_reports:
        bench_reports(model, args, args.device, dtype)
    if not args.skip_images:
        bench_images(model, args, args.device)
    if args.knobs:
        model.config.eos_token_id = -1
        bench_knobs(model, args, args.device)


if __name__ == "__main__":
    main()
