"""Benchmark `snakemake -n data` against full-scale MIMIC-CXR-JPG metadata (377,110 images, no image files).

The rules take the metadata CSVs as inputs (never one input per image), so the DAG has the two split
selections plus one prepare_images job per shard, whatever the number of images; this measures the
whole dry run (Snakefile parsing, config validation, DAG building) in a scratch directory. Wall time
depends on what else runs on the machine; the CPU time (user + system of the snakemake process) does not.
Caveat: snakemake-executor-plugin-slurm 2.8.0 runs `scontrol show config` when it is imported (every
snakemake start). Where Debian's slurm-client is installed but no slurmctld answers (e.g. after the SLURM
test stopped its local cluster) that call waits about 9 s, which then shows in the wall time only.

    .venv/bin/python benchmarks/bench_dryrun.py                    # target: < 10 s
    .venv/bin/python benchmarks/bench_dryrun.py --shards 1000      # a larger DAG
"""

from __future__ import annotations

import argparse
import os
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import yaml

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "benchmarks"))
from bench_split_selection import full_scale_metadata  # noqa: E402


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--root", type=Path, default=None, help="metadata CSV directory to reuse (default: a temp dir)")
    ap.add_argument("--shards", type=int, default=100, help="config data.images.shards")
    ap.add_argument("--repeat", type=int, default=3)
    args = ap.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        root = args.root or Path(tmp) / "mimic"
        root.mkdir(parents=True, exist_ok=True)
        gen_s = full_scale_metadata(root)
        if gen_s:
            print(f"generated full-scale metadata in {gen_s:.1f} s")
        work = Path(tmp) / "work"
        work.mkdir()
        config = yaml.safe_load((REPO / "config.yaml").read_text())
        config["data"]["mimic_cxr_jpg"] = str(root.resolve())
        config["data"]["images"]["shards"] = args.shards
        (work / "config.yaml").write_text(yaml.safe_dump(config))
        bin_dir = Path(sys.executable).parent
        env = {**os.environ, "PATH": f"{bin_dir}{os.pathsep}{os.environ.get('PATH', '')}"}
        cmd = [str(bin_dir / "snakemake"), "-s", str(REPO / "Snakefile"), "--directory", str(work), "-n", "data"]
        times, cpu = [], []
        for _ in range(args.repeat):
            before = resource.getrusage(resource.RUSAGE_CHILDREN)
            start = time.perf_counter()
            proc = subprocess.run(cmd, capture_output=True, text=True, env=env, cwd=work)
            times.append(time.perf_counter() - start)
            after = resource.getrusage(resource.RUSAGE_CHILDREN)
            cpu.append(after.ru_utime - before.ru_utime + after.ru_stime - before.ru_stime)
            if proc.returncode != 0:
                sys.exit(f"snakemake failed:\n{proc.stdout[-3000:]}\n{proc.stderr[-3000:]}")
        stats = proc.stdout.split("Job stats:")[-1].split("Reasons:")[0]
        jobs = [" ".join(line.split()) for line in stats.splitlines()[3:] if line.strip()]
        print("job counts:", "; ".join(jobs))
        print(f"snakemake -n data, {args.shards} shards, 377,110-image metadata: wall best {min(times):.2f} s "
              f"(runs {', '.join(f'{t:.2f}' for t in times)}), CPU best {min(cpu):.2f} s  (target < 10 s)")


if __name__ == "__main__":
    main()
