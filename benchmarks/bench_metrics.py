"""Benchmark FD, KD and PRDC against the reference implementations, in the same run on the same CPU.

The paper's setting: 4,352 real vs 4,352 generated 768-d RadDino features, KD with 100 subsets whose size is
the whole set. Prints one line per metric with both values, both times and the speed-up.

    .venv/bin/python benchmarks/bench_metrics.py            # the full setting (the torchmetrics KD takes minutes)
    .venv/bin/python benchmarks/bench_metrics.py --n 1000 --kd-ref-subsets 10   # quick look

With --kd-ref-subsets below 100, the torchmetrics KD time is measured on that many subsets and scaled
linearly to 100 (each subset costs the same); the line says so. Timings are the best of --repeat alternating
runs of the reference and ours, so that load from other processes affects both alike.
"""

from __future__ import annotations

import argparse
import contextlib
import io
import os
import time


def timed(fn, repeat: int = 1):
    best, out = float("inf"), None
    for _ in range(repeat):
        start = time.perf_counter()
        out = fn()
        best = min(best, time.perf_counter() - start)
    return out, best


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--n", type=int, default=4352, help="samples per set")
    ap.add_argument("--d", type=int, default=768, help="feature width")
    ap.add_argument("--k", type=int, default=5, help="PRDC neighbours")
    ap.add_argument("--kd-ref-subsets", type=int, default=100, help="subsets run through torchmetrics' KID")
    ap.add_argument("--repeat", type=int, default=3, help="alternating runs of each (the best is kept)")
    ap.add_argument("--threads", type=int, default=0, help="BLAS/torch threads for both sides (0: library default)")
    args = ap.parse_args()
    if args.threads:  # before numpy and torch load their thread pools
        for var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
            os.environ[var] = str(args.threads)

    import numpy as np
    import torch

    if args.threads:
        torch.set_num_threads(args.threads)

    class Identity(torch.nn.Module):
        def __init__(self, num_features: int) -> None:
            super().__init__()
            self.num_features = num_features

        def forward(self, x: torch.Tensor) -> torch.Tensor:
            return x

    from prdc import compute_prdc
    from torchmetrics.image.fid import FrechetInceptionDistance
    from torchmetrics.image.kid import KernelInceptionDistance

    from unix.evaluation import frechet_distance, kernel_distance, prdc

    rng = np.random.default_rng(0)
    mix = rng.standard_normal((args.d, args.d)) / np.sqrt(args.d)
    real = (rng.standard_normal((args.n, args.d)) @ mix + 0.5).astype(np.float32)
    fake = (rng.standard_normal((args.n, args.d)) @ mix * 1.05 + 0.55).astype(np.float32)
    print(f"{args.n} real vs {args.n} fake, {args.d}-d float32 features; torch threads: {torch.get_num_threads()}")

    def ref_fd() -> float:
        m = FrechetInceptionDistance(feature=Identity(args.d))
        m.update(torch.from_numpy(real), real=True)
        m.update(torch.from_numpy(fake), real=False)
        return float(m.compute())

    def ref_kd() -> float:
        m = KernelInceptionDistance(feature=Identity(args.d), subsets=args.kd_ref_subsets, subset_size=args.n)
        m.update(torch.from_numpy(real), real=True)
        m.update(torch.from_numpy(fake), real=False)
        return float(m.compute()[0])

    def ref_prdc() -> dict:
        with contextlib.redirect_stdout(io.StringIO()):  # prdc prints the set sizes
            return compute_prdc(real, fake, nearest_k=args.k)

    # The machine may be shared: each pair is timed alternately, `repeat` times, and the best of each kept.
    def pair(ref_fn, ours_fn, repeat_ref: int):
        best_ref = best_ours = float("inf")
        v_ref = v_ours = None
        for i in range(max(repeat_ref, args.repeat)):
            if i < repeat_ref:
                v_ref, t = timed(ref_fn)
                best_ref = min(best_ref, t)
            v_ours, t = timed(ours_fn)
            best_ours = min(best_ours, t)
        return v_ref, v_ours, best_ref, best_ours

    rows = []
    fd_ref, fd_ours, t_ref, t_ours = pair(ref_fd, lambda: frechet_distance(real, fake), args.repeat)
    rows.append(("FD", "torchmetrics", fd_ref, fd_ours, t_ref, t_ours, ""))
    kd_ref, kd_ours, t_ref, t_ours = pair(ref_kd, lambda: kernel_distance(real, fake, 100), 1)
    note = "" if args.kd_ref_subsets == 100 else f"(reference time scaled from {args.kd_ref_subsets} subsets)"
    rows.append(("KD", "torchmetrics", kd_ref, kd_ours, t_ref * 100 / args.kd_ref_subsets, t_ours, note))
    p_ref, p_ours, t_ref, t_ours = pair(ref_prdc, lambda: prdc(real, fake, args.k), args.repeat)
    rows.append(("PRDC", "prdc 0.2", p_ref, p_ours, t_ref, t_ours, ""))
    # our all-float64 path, for the gain of the float32 screening (timed against the same reference run)
    _, p64, _, t64 = pair(ref_prdc, lambda: prdc(real, fake, args.k, screen=False), 0)
    rows.append(("PRDC", "prdc 0.2", p_ref, p64, t_ref, t64, "(ours without float32 screening)"))

    for name, ref_name, v_ref, v_ours, t_ref, t_ours, note in rows:
        if isinstance(v_ref, dict):
            same = all(float(v_ref[key]) == v_ours[key] for key in v_ours)
            values = " ".join(f"{key}={v_ours[key]:.6f}" for key in v_ours) + f" identical={same}"
        else:
            values = f"ours={v_ours:.9g} ref={v_ref:.9g} rel.diff={abs(v_ours - v_ref) / abs(v_ref):.2e}"
        print(f"{name:5s} {ref_name:13s} ref {t_ref:8.3f} s  ours {t_ours:7.3f} s  speed-up {t_ref / t_ours:6.1f}x  "
              f"{values} {note}")


if __name__ == "__main__":
    main()
