"""Benchmark of the UniX model on CPU: training throughput, mixture-of-transformers overhead, sampling time.

    .venv/bin/python benchmarks/bench_model.py [--reps 3] [--threads 1] [--skip-mid]

Prints, for the tiny and a mid-size config:
- forward+backward throughput (tokens/s) of `understanding_loss` and `generation_loss` (flow + REPA);
- the decoder alone, fwd+bwd over [text, latents] with modality-specific weights (MoT) against a plain
  transformer of the same size (every token through one set of weights) in the same run (target <= 1.3x);
- image sampling time with the text prefix encoded once (KV cache) and re-encoded at every step.
Times are the process's CPU time (`time.process_time`) at one thread by default: on a shared machine
wall-clock times swing several-fold with the other processes' load, CPU time much less. Every number
is a median of --reps; compare ratios measured in one run.
"""

from __future__ import annotations

import argparse
import statistics
import time

import torch

from unix.model import UniX, UniXConfig

MID = dict(hidden_size=512, intermediate_size=1408, num_layers=8, num_heads=8, repa_layer=3,
           max_latent_size=8, gen_image_size=128,
           vision=dict(hidden_size=128, intermediate_size=256, num_hidden_layers=2, num_attention_heads=4,
                       image_size=128, patch_size=16, vision_use_head=False))


def median_time(fn, reps: int) -> float:
    fn()  # warm-up
    times = []
    for _ in range(reps):
        start = time.process_time()
        fn()
        times.append(time.process_time() - start)
    return statistics.median(times)


def bench(name: str, config: UniXConfig, batch: int, text_len: int, reps: int) -> None:
    torch.manual_seed(0)
    model = UniX(config).train()
    params = sum(p.numel() for p in model.parameters()) / 1e6
    S = config.gen_image_size
    ids = torch.randint(5, config.vocab_size, (batch, text_len))
    mask = torch.ones_like(ids)
    labels = ids.clone()
    labels[:, : text_len // 2] = -100
    pix = torch.randn(batch, 3, config.understanding_image_size, config.understanding_image_size)
    images = torch.rand(batch, 3, S, S) * 2 - 1
    n_lat = (S // config.latent_downsample) ** 2
    print(f"\n== {name}: {params:.1f} M parameters, batch {batch}, text {text_len} tokens, "
          f"{config.vision_tokens} ViT tokens, {S} px -> {n_lat} latent tokens")

    def und_step():
        model.zero_grad(set_to_none=True)
        model.understanding_loss(pix, ids, labels, mask)["loss"].backward()

    def gen_step():
        model.zero_grad(set_to_none=True)
        model.generation_loss(images, ids, mask, generator=torch.Generator().manual_seed(0))["loss"].backward()

    t = median_time(und_step, reps)
    print(f"understanding fwd+bwd: {t * 1e3:8.1f} ms/step  {batch * (text_len + config.vision_tokens + 2) / t:9.0f} tokens/s")
    t = median_time(gen_step, reps)
    print(f"generation fwd+bwd:    {t * 1e3:8.1f} ms/step  {batch * (text_len + 1 + n_lat) / t:9.0f} tokens/s (flow + REPA)")

    # MoT decoder against a plain decoder of the same size (one weight set for all tokens), same tokens.
    D = config.hidden_size
    text = torch.randn(batch, text_len + 1, D, requires_grad=True)
    lat = torch.randn(batch, n_lat, D, requires_grad=True)
    pos_t = torch.arange(text_len + 1).expand(batch, -1)
    pos_l = torch.full((batch, n_lat), text_len + 1)
    valid_t = torch.ones(batch, text_len + 1, dtype=torch.bool)

    def mot_step():
        model.zero_grad(set_to_none=True)
        out = model.decoder(und_BLD=text, und_pos_BL=pos_t, und_valid_BL=valid_t, gen_BND=lat, gen_pos_BN=pos_l)
        (out["und"].square().mean() + out["gen"].square().mean()).backward()

    both = torch.cat([text.detach(), lat.detach()], dim=1).requires_grad_(True)
    pos_all = torch.cat([pos_t, pos_l], dim=1)
    valid_all = torch.ones(batch, both.shape[1], dtype=torch.bool)
    block = torch.cat([torch.zeros(batch, text_len + 1), torch.ones(batch, n_lat)], dim=1).long()

    def plain_step():
        model.zero_grad(set_to_none=True)
        out = model.decoder(und_BLD=both, und_pos_BL=pos_all, und_valid_BL=valid_all, und_block_BL=block)
        out["und"].square().mean().backward()

    t_mot, t_plain = [], []
    mot_step(), plain_step()  # warm-up
    for _ in range(3 * reps):  # alternate single steps so both see the same machine load
        for fn, times in ((mot_step, t_mot), (plain_step, t_plain)):
            start = time.process_time()
            fn()
            times.append(time.process_time() - start)
    m, p = statistics.median(t_mot), statistics.median(t_plain)
    tokens = batch * (text_len + 1 + n_lat)
    print(f"decoder fwd+bwd: MoT {m * 1e3:.1f} ms ({tokens / m:.0f} tokens/s), plain {p * 1e3:.1f} ms "
          f"({tokens / p:.0f} tokens/s); MoT overhead {m / p:.2f}x (target <= 1.3x)")

    model.eval()
    long_ids = torch.randint(5, config.vocab_size, (batch, 4 * text_len))
    long_mask = torch.ones_like(long_ids)
    for length, (i, mk) in {text_len: (ids, mask), 4 * text_len: (long_ids, long_mask)}.items():
        kw = dict(seeds=list(range(batch)), steps=10, cfg_scale=2.0, cfg_interval=(0.0, 1.0))
        with torch.no_grad():
            cached = median_time(lambda: model.generate_latents(i, mk, use_cache=True, **kw), max(1, reps // 2))
            full = median_time(lambda: model.generate_latents(i, mk, use_cache=False, **kw), max(1, reps // 2))
        print(f"sampling 10 CFG steps, caption {length} tokens: with prefix cache {cached:.3f} s, "
              f"without {full:.3f} s ({full / cached:.2f}x)")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--reps", type=int, default=3)
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--skip-mid", action="store_true")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    print(f"torch {torch.__version__}, {torch.get_num_threads()} thread(s), CPU-time medians of {args.reps}")
    bench("tiny", UniXConfig.from_name("tiny"), batch=4, text_len=64, reps=args.reps)
    if not args.skip_mid:
        bench("mid", UniXConfig.from_name("tiny", **MID), batch=4, text_len=64, reps=args.reps)


if __name__ == "__main__":
    main()
