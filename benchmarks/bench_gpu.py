"""GPU benchmark of the three training stages, ready to run where a GPU is available.

    python benchmarks/bench_gpu.py                              # unix-1.5b, cuda, paper micro-batches
    python benchmarks/bench_gpu.py --size tiny --device cpu     # the smoke run tests/test_bench_gpu.py makes
    python benchmarks/bench_gpu.py --out results/benchmarks/gpu.json

For each stage, with random weights: one optimizer step as the trainer takes it (fp32 master weights, bf16
autocast on GPU, AdamW) over a micro-batch of the stage's real shapes (Stage 1: 576 SigLIP tokens + a
512-token report; Stages 2/3: a 256-token caption + BOI + the 16x16 / 32x32 latent grid). Reported: step
time, decoder tokens per second, model FLOPs utilisation (decoder FLOPs as unix.training.plan counts them,
against the GPU's dense bf16 peak), peak memory, and which SDPA kernel ran (profiler op names; plus which
backends accept the model's dense boolean mask when forced with torch.nn.attention.sdpa_kernel).

Then the attention op alone on the same shapes: today's SDPA with the dense mask of unix.model.mot.build_mask
against FlexAttention with a block mask built from the same rules (mask_mod below): both masks are checked
equal element by element, the outputs compared (max abs difference), and both timed (forward + backward on
GPU; FlexAttention has no CPU backward, so forward only there). The model's attention path is not changed.
Memory: one process holds the whole model without sharding or activation checkpointing (`unix plan` shows
what a stage needs under DDP); on a GPU with less memory pass a smaller --batch.
"""

from __future__ import annotations

import argparse
import json
import resource
import statistics
import time
from pathlib import Path

import torch
import torch.nn.functional as F

from unix.model.config import UniXConfig
from unix.model.mot import build_mask
from unix.model.unix import UniX
from unix.training import plan as P

# Per size: micro-batch per stage (paper: 8 / 32 / 16), generation resolutions, longest report / caption.
SETTINGS = {
    "unix-1.5b": dict(batch={"stage1": 8, "stage2": 32, "stage3": 16}, resolution={"stage2": 256, "stage3": 512},
                      report_tokens=P.REPORT_MAX_TOKENS, caption_tokens=P.CAPTION_MAX_TOKENS),
    "tiny": dict(batch={"stage1": 2, "stage2": 2, "stage3": 2}, resolution={"stage2": 64, "stage3": 128},
                 report_tokens=64, caption_tokens=32),
}
SDPA_OPS = {  # profiler op name fragment -> kernel
    "_scaled_dot_product_flash_attention": "flash", "_scaled_dot_product_efficient_attention": "memory-efficient",
    "_scaled_dot_product_cudnn_attention": "cudnn", "_scaled_dot_product_attention_math": "math",
    "_scaled_dot_product_fused_attention_overrideable": "fused (other backend)",
}


def stage_shape(cfg: UniXConfig, stage: str, size: str, batch: int | None) -> P.StageShape:
    s = SETTINGS[size]
    generation = stage != "stage1"
    res = s["resolution"][stage] if generation else cfg.understanding_image_size
    return P.StageShape(stage, batch or s["batch"][stage], 1, 1, 0 if generation else cfg.vision_tokens,
                        s["caption_tokens"] if generation else s["report_tokens"],
                        (res // cfg.latent_downsample) ** 2 if generation else 0, res, stage == "stage2", False)


def text_lengths(batch: int, longest: int) -> list[int]:
    """Valid text lengths of a batch: the longest sample and the rest spread down to half of it."""
    return [longest - (i * longest) // (2 * max(1, batch)) for i in range(batch)]


def make_batch(cfg: UniXConfig, shape: P.StageShape, device: torch.device) -> tuple[str, dict]:
    g = torch.Generator().manual_seed(0)
    B, T = shape.micro_batch, shape.text_tokens
    ids = torch.randint(5, cfg.vocab_size, (B, T), generator=g)
    mask = torch.zeros(B, T, dtype=torch.long)
    for i, n in enumerate(text_lengths(B, T)):
        mask[i, :n] = 1
    if shape.stage == "stage1":
        S = cfg.understanding_image_size
        labels = torch.where(mask.bool(), ids, torch.full_like(ids, -100))
        batch = dict(pixel_values=torch.randn(B, 3, S, S, generator=g), input_ids=ids, attention_mask=mask,
                     labels=labels)
        task = "understanding"
    else:
        batch = dict(images=torch.rand(B, 3, shape.resolution, shape.resolution, generator=g) * 2 - 1,
                     input_ids=ids, attention_mask=mask)
        task = "generation"
    return task, {k: v.to(device) for k, v in batch.items()}


def sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def peak_tflops(device: torch.device, override: float | None) -> float | None:
    if override:
        return override
    if device.type != "cuda":
        return None
    name = torch.cuda.get_device_name(device).lower()
    for kind, tflops in sorted(P.GPU_BF16_TFLOPS.items(), key=lambda kv: -len(kv[0])):
        if kind.split("_")[0] in name:
            return tflops
    return None


def sdpa_kernels_in(prof) -> list[str]:
    found = set()
    for event in prof.events():
        for fragment, kernel in SDPA_OPS.items():
            if fragment in event.name:
                found.add(kernel)
    return sorted(found)


def bench_stage(cfg: UniXConfig, stage: str, args, device: torch.device) -> dict:
    from types import SimpleNamespace

    from unix.training.trainer import LossModule

    shape = stage_shape(cfg, stage, args.size, args.batch)
    torch.manual_seed(0)
    model = UniX(cfg)
    model.set_trainable(stage == "stage1", stage != "stage1")
    if stage == "stage3":
        model.extend_latent_positions(shape.resolution // cfg.latent_downsample)
    model.to(device)
    if args.precision == "bf16":
        model.to(torch.bfloat16)
    loss_module = LossModule(model, SimpleNamespace(repa_weight=cfg.repa_weight if shape.repa else 0.0,
                                                    ce_weighting="sqrt_span")).train()
    params = [p for p in model.parameters() if p.requires_grad]
    optimizer = torch.optim.AdamW(params, lr=1e-5, betas=(0.9, 0.95))
    task, batch = make_batch(cfg, shape, device)
    autocast = torch.autocast(device.type, dtype=torch.bfloat16, enabled=args.precision == "autocast"
                              and device.type == "cuda")

    def step() -> None:
        with autocast:
            loss = loss_module(task, batch, generator=torch.Generator().manual_seed(0))["loss"]
        loss.backward()
        optimizer.step()
        optimizer.zero_grad(set_to_none=True)

    for _ in range(args.warmup):
        step()
    if device.type == "cuda":
        torch.cuda.reset_peak_memory_stats(device)
    times = []
    for _ in range(args.steps):
        sync(device)
        t0 = time.perf_counter()
        step()
        sync(device)
        times.append(time.perf_counter() - t0)
    with torch.profiler.profile() as prof:
        step()
    step_s = statistics.median(times)
    tokens = shape.decoder_tokens * shape.micro_batch
    tflops = peak_tflops(device, args.peak_tflops)
    flops = P.step_flops(cfg, shape, gpus=1)
    peak = (torch.cuda.max_memory_allocated(device) if device.type == "cuda"
            else resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024)
    del model, loss_module, optimizer, params
    if device.type == "cuda":
        torch.cuda.empty_cache()
    return {"stage": stage, "micro_batch": shape.micro_batch, "decoder_tokens": shape.decoder_tokens,
            "step_s": step_s, "tokens_per_s": tokens / step_s,
            "mfu": None if tflops is None else flops / step_s / (tflops * 1e12),
            "peak_memory_gib": peak / P.GIB, "peak_memory_kind": "max_memory_allocated" if device.type == "cuda"
            else "process max RSS", "sdpa_kernels": sdpa_kernels_in(prof),
            "sdpa_backends_accepting_dense_mask": backends_accepting_mask(cfg, shape, device, args.precision)}


# ------------------------------------------------------------------------------- attention op alone
def layout(cfg: UniXConfig, shape: P.StageShape, device: torch.device) -> dict[str, torch.Tensor | int]:
    """Validity and image-block ids of the stage's joint sequence, as UniX builds them."""
    B = shape.micro_batch
    text = torch.zeros(B, shape.text_tokens, dtype=torch.bool)
    for i, n in enumerate(text_lengths(B, shape.text_tokens)):
        text[i, :n] = True
    if shape.stage == "stage1":
        n_img = shape.vision_tokens + 2
        valid = torch.cat([torch.ones(B, n_img, dtype=torch.bool), text], dim=1)
        block = torch.cat([torch.ones(B, n_img, dtype=torch.long),
                           torch.zeros(B, shape.text_tokens, dtype=torch.long)], dim=1)
        n_gen = 0
    else:
        valid = torch.cat([text, torch.ones(B, 1, dtype=torch.bool)], dim=1)  # caption + BOI
        block, n_gen = None, shape.latent_tokens
    return {"valid": valid.to(device), "block": None if block is None else block.to(device), "n_gen": n_gen}


def mask_mod_for(lay: dict):
    """FlexAttention mask_mod of the rules of unix.model.mot.build_mask: text causal over valid keys, an
    image block attends fully within itself, latents see the valid prefix and each other, nobody sees latents,
    every query sees itself."""
    valid, block, n_gen = lay["valid"], lay["block"], lay["n_gen"]
    n_und = valid.shape[1]

    def mask_mod(b, h, q, kv):
        kv_und = kv < n_und
        kv_c = torch.clamp(kv, max=n_und - 1)
        q_c = torch.clamp(q, max=n_und - 1)
        key_valid = valid[b, kv_c] & kv_und
        und_rule = (kv <= q) | ((block[b, q_c] == block[b, kv_c]) & (block[b, q_c] > 0)) if block is not None \
            else (kv <= q)
        und_q = (q < n_und) & key_valid & und_rule
        gen_q = (q >= n_und) & (key_valid | ~kv_und)
        return und_q | gen_q | (q == kv)

    return mask_mod


def dense_mask(lay: dict) -> torch.Tensor:
    return build_mask(lay["valid"], lay["n_gen"], None, lay["block"])


def backends_accepting_mask(cfg: UniXConfig, shape: P.StageShape, device: torch.device, precision: str) -> list[str]:
    """SDPA backends that run the attention op with the model's dense boolean mask when forced."""
    from torch.nn.attention import SDPBackend, sdpa_kernel

    dtype = torch.bfloat16 if device.type == "cuda" and precision != "fp32" else torch.float32
    q, k, v, mask = attention_inputs(cfg, shape, device, dtype)
    ok = []
    for backend in (SDPBackend.FLASH_ATTENTION, SDPBackend.EFFICIENT_ATTENTION, SDPBackend.CUDNN_ATTENTION,
                    SDPBackend.MATH):
        try:
            with sdpa_kernel(backend):
                F.scaled_dot_product_attention(q, k, v, attn_mask=mask)
            ok.append(backend.name.lower())
        except (RuntimeError, NotImplementedError, ValueError):  # "no available kernel" for this input
            pass
    return ok


def attention_inputs(cfg: UniXConfig, shape: P.StageShape, device: torch.device, dtype: torch.dtype):
    lay = layout(cfg, shape, device)
    S = lay["valid"].shape[1] + lay["n_gen"]
    g = torch.Generator().manual_seed(1)
    q, k, v = (torch.randn(shape.micro_batch, cfg.num_heads, S, cfg.head_dim, generator=g).to(device, dtype)
               for _ in range(3))
    return q, k, v, dense_mask(lay)


def time_it(fn, device: torch.device, reps: int) -> float:
    fn()
    times = []
    for _ in range(reps):
        sync(device)
        t0 = time.perf_counter()
        fn()
        sync(device)
        times.append(time.perf_counter() - t0)
    return statistics.median(times)


def bench_attention(cfg: UniXConfig, stage: str, args, device: torch.device) -> dict:
    from torch.nn.attention.flex_attention import create_block_mask, create_mask, flex_attention

    shape = stage_shape(cfg, stage, args.size, args.batch)
    dtype = torch.bfloat16 if device.type == "cuda" else torch.float32
    q, k, v, dense = attention_inputs(cfg, shape, device, dtype)
    lay = layout(cfg, shape, device)
    B, S = shape.micro_batch, q.shape[2]
    mod = mask_mod_for(lay)
    masks_equal = bool(torch.equal(create_mask(mod, B, 1, S, S, device=str(device)), dense))
    block_mask = create_block_mask(mod, B, None, S, S, device=str(device))
    flex = torch.compile(flex_attention) if device.type == "cuda" else flex_attention
    backward = device.type == "cuda"  # FlexAttention has no CPU backward
    for t in (q, k, v):
        t.requires_grad_(backward)

    def run(fn):
        def go():
            out = fn()
            if backward:
                out.float().sum().backward()
            return out
        return go

    sdpa_out = F.scaled_dot_product_attention(q, k, v, attn_mask=dense)
    flex_out = flex(q, k, v, block_mask=block_mask)
    diff = float((sdpa_out.float() - flex_out.float()).abs().max())
    sdpa_s = time_it(run(lambda: F.scaled_dot_product_attention(q, k, v, attn_mask=dense)), device, args.reps)
    flex_s = time_it(run(lambda: flex(q, k, v, block_mask=block_mask)), device, args.reps)
    return {"stage": stage, "shape_BHSD": [B, cfg.num_heads, S, cfg.head_dim], "dtype": str(dtype),
            "masks_equal": masks_equal, "max_abs_diff": diff, "backward_timed": backward,
            "sdpa_dense_s": sdpa_s, "flex_s": flex_s, "flex_speedup": sdpa_s / flex_s,
            "block_sparsity": block_sparsity(block_mask, S)}


def block_sparsity(block_mask, S: int) -> float:
    """Share of the (query block, key block) pairs FlexAttention skips entirely (128-token blocks)."""
    kv_blocks = block_mask.kv_num_blocks
    return float(1 - kv_blocks.sum().item() / (kv_blocks.numel() * ((S + 127) // 128)))


def main(argv: list[str] | None = None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--size", default="unix-1.5b", choices=sorted(SETTINGS))
    parser.add_argument("--device", default="cuda")
    parser.add_argument("--stage", action="append", choices=P.STAGES, help="only this stage (repeatable)")
    parser.add_argument("--batch", type=int, default=None, help="micro-batch for every stage (default: paper's)")
    parser.add_argument("--precision", default="autocast", choices=["autocast", "bf16", "fp32"],
                        help="autocast: fp32 weights + bf16 autocast (the trainer's, on GPU); bf16: bf16 weights")
    parser.add_argument("--steps", type=int, default=5, help="timed optimizer steps (median reported)")
    parser.add_argument("--warmup", type=int, default=2)
    parser.add_argument("--reps", type=int, default=10, help="repetitions of the attention-op timings")
    parser.add_argument("--peak-tflops", type=float, default=None,
                        help="dense bf16 peak for MFU (default: by GPU name)")
    parser.add_argument("--out", default=None, help="also write the results as JSON here")
    args = parser.parse_args(argv)
    device = torch.device(args.device)
    cfg = UniXConfig.from_name(args.size)
    stages = args.stage or list(P.STAGES)
    results = {"size": args.size, "device": torch.cuda.get_device_name(device) if device.type == "cuda" else "cpu",
               "torch": torch.__version__, "precision": args.precision,
               "steps": [bench_stage(cfg, s, args, device) for s in stages],
               "attention": [bench_attention(cfg, s, args, device) for s in stages]}
    print(f"{args.size} on {results['device']} ({args.precision})")
    print(f"{'stage':<7} {'B':>3} {'tokens':>6} {'step s':>8} {'tokens/s':>10} {'MFU':>6} {'peak GiB':>9}  SDPA kernel"
          " (backends accepting the dense mask)")
    for r in results["steps"]:
        mfu = "-" if r["mfu"] is None else f"{r['mfu']:.1%}"
        print(f"{r['stage']:<7} {r['micro_batch']:>3} {r['decoder_tokens']:>6} {r['step_s']:>8.3f} "
              f"{r['tokens_per_s']:>10.0f} {mfu:>6} {r['peak_memory_gib']:>9.2f}  {','.join(r['sdpa_kernels'])} "
              f"({','.join(r['sdpa_backends_accepting_dense_mask'])})")
    print("attention op alone: dense-mask SDPA vs FlexAttention (block mask from the same rules)")
    for r in results["attention"]:
        print(f"{r['stage']:<7} BHSD {r['shape_BHSD']}  masks equal {r['masks_equal']}  max |diff| "
              f"{r['max_abs_diff']:.2e}  SDPA {r['sdpa_dense_s'] * 1e3:.2f} ms  flex {r['flex_s'] * 1e3:.2f} ms  "
              f"speed-up {r['flex_speedup']:.2f}x  blocks skipped {r['block_sparsity']:.0%}"
              + ("" if r["backward_timed"] else "  (forward only)"))
    if args.out:
        Path(args.out).parent.mkdir(parents=True, exist_ok=True)
        Path(args.out).write_text(json.dumps(results, indent=2) + "\n")
    return results


if __name__ == "__main__":
    main()
