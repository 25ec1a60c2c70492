"""Benchmark of `UniX.from_pretrained`: peak memory and time, building on the meta device and assigning the
checkpoint's tensors ("meta", the loader) against building a randomly initialised model and copying the
checkpoint into it ("random-init", the loader before the change, reimplemented here).

    .venv/bin/python benchmarks/bench_load.py [--layers 4] [--dtype bfloat16] [--full] [--dir DIR] [--keep]

A model directory of the unix-1.5b architecture with `--layers` decoder layers (the "mid" size: every
other part at full size) is written with random weights in `--dtype`; `--full` also writes the 24-layer
unix-1.5b (~6.6 GB in bf16) and loads it with the meta loader only (the random-init loader would need
fp32 model + checkpoint, ~20 GB). Each load runs in a fresh process; it reports the peak RSS of that
process (VmHWM) while loading, the peak minus the RSS after imports, wall and CPU time of the load, the
resident memory once every weight has been read (safetensors maps the file, so weights nobody touched
are not resident right after loading), and the time of building the model alone (random init vs meta).
Wall times on a shared machine vary with the other processes' load; CPU time and memory much less.
"""

from __future__ import annotations

import argparse
import json
import resource
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import torch


def rss_mb(field: str = "VmHWM") -> float:
    """Peak (VmHWM: unlike ru_maxrss it does not inherit the parent's peak) or current (VmRSS) RSS in MB."""
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith(field + ":"):
            return int(line.split()[1]) / 1024
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # not Linux: kB on Linux, bytes on macOS


def write_checkpoint(directory: Path, layers: int, dtype: torch.dtype) -> float:
    """A unix-1.5b-shaped model directory with random weights in `dtype`; returns its size in GB."""
    from safetensors.torch import save_file

    from unix.model import UniX, UniXConfig
    from unix.model.weight_files import params_on_meta

    config = UniXConfig.from_name("unix-1.5b", num_layers=layers, repa_layer=min(8, layers - 1))
    with params_on_meta():
        shapes = {k: (v.shape, v.dtype) for k, v in UniX(config).state_dict().items()}
    gen = torch.Generator().manual_seed(0)
    state = {k: (torch.randn(s, generator=gen) * 0.02).to(dtype) if d.is_floating_point else torch.zeros(s, dtype=d)
             for k, (s, d) in shapes.items()}
    directory.mkdir(parents=True, exist_ok=True)
    config.save(directory / "config.json")
    save_file(state, str(directory / "model.safetensors"))
    return (directory / "model.safetensors").stat().st_size / 1e9


def legacy_load(directory: Path):
    """The loader before the change: random model, then the file's tensors copied into it."""
    from safetensors.torch import load_file

    from unix.model import UniX, UniXConfig
    from unix.model.checkpoints import load_strict

    model = UniX(UniXConfig.load(directory / "config.json"))
    load_strict(model, load_file(str(directory / "model.safetensors")), str(directory))
    return model


def child(method: str, directory: Path) -> dict:
    """One measurement in this (fresh) process."""
    from unix.model import UniX, UniXConfig
    from unix.model.weight_files import params_on_meta

    base = rss_mb()
    wall, cpu = time.perf_counter(), time.process_time()
    if method == "meta":
        model = UniX.from_pretrained(directory)
    elif method == "random-init":
        model = legacy_load(directory)
    elif method == "build-meta":
        with params_on_meta():
            model = UniX(UniXConfig.load(directory / "config.json"))
    elif method == "build-random":
        model = UniX(UniXConfig.load(directory / "config.json"))
    else:
        raise ValueError(method)
    out = dict(method=method, wall_s=time.perf_counter() - wall, cpu_s=time.process_time() - cpu,
               rss_after_imports_mb=base, peak_rss_mb=rss_mb())
    out["peak_minus_imports_mb"] = out["peak_rss_mb"] - base
    params = list(model.parameters())
    if method in ("meta", "random-init"):
        # safetensors maps the file: untouched weights are not resident yet; reading every one pages them in
        with torch.no_grad():
            sum(float(p.sum()) for p in params)
        out["rss_after_use_mb"] = rss_mb("VmRSS")
    out["parameters_m"] = sum(p.numel() for p in params) / 1e6
    out["dtypes"] = sorted({str(p.dtype).removeprefix("torch.") for p in params})
    return out


def measure(method: str, directory: Path) -> dict:
    result = subprocess.run([sys.executable, __file__, "--child", method, str(directory)], check=True,
                            capture_output=True, text=True)
    return json.loads(result.stdout.strip().splitlines()[-1])


def report(name: str, directory: Path, size_gb: float, methods: list[str]) -> None:
    print(f"\n== {name}: {directory / 'model.safetensors'} ({size_gb:.2f} GB)")
    print(f"{'method':<14}{'params (M)':>11}{'dtype':>10}{'peak RSS MB':>13}{'peak-imports':>14}{'wall s':>9}"
          f"{'cpu s':>8}{'RSS after use':>15}")
    for method in methods:
        r = measure(method, directory)
        print(f"{r['method']:<14}{r['parameters_m']:>11.0f}{','.join(r['dtypes']):>10}{r['peak_rss_mb']:>13.0f}"
              f"{r['peak_minus_imports_mb']:>14.0f}{r['wall_s']:>9.1f}{r['cpu_s']:>8.1f}"
              f"{r.get('rss_after_use_mb', float('nan')):>15.0f}", flush=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--layers", type=int, default=4, help="decoder layers of the mid size")
    parser.add_argument("--dtype", default="bfloat16", choices=["bfloat16", "float32"])
    parser.add_argument("--full", action="store_true", help="also the 24-layer unix-1.5b (meta loader only)")
    parser.add_argument("--dir", type=Path, default=None, help="where to write the checkpoints (default: a temp dir)")
    parser.add_argument("--keep", action="store_true", help="keep the checkpoints")
    parser.add_argument("--child", nargs=2, metavar=("METHOD", "DIR"), help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        print(json.dumps(child(args.child[0], Path(args.child[1]))))
        return
    root = Path(tempfile.mkdtemp(prefix="bench_load_", dir=args.dir))
    dtype = getattr(torch, args.dtype)
    try:
        mid = root / "mid"
        size = write_checkpoint(mid, args.layers, dtype)
        report(f"unix-1.5b with {args.layers} layers, {args.dtype}", mid, size,
               ["build-random", "build-meta", "random-init", "meta"])
        shutil.rmtree(mid)
        if args.full:
            full = root / "full"
            size = write_checkpoint(full, 24, dtype)
            report(f"unix-1.5b (24 layers), {args.dtype}", full, size, ["build-meta", "meta"])
    finally:
        if not args.keep:
            shutil.rmtree(root, ignore_errors=True)


if __name__ == "__main__":
    main()
