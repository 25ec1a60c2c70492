"""Training throughput of the tiny UniX on CPU: samples/s per stage and the share of step time spent
waiting for data (target: under 10%).

    .venv/bin/python benchmarks/bench_training.py [--steps 20] [--batch-size 4] [--workers 0]

Builds a synthetic image/report set in a temporary directory (prepared-shard format, at the sizes the demo
reads: 384 px for stage 1, 256 px for stage 2, 512 px for stage 3), initialises the tiny model, and runs
each stage's recipe from config.yaml with the given steps. The first two steps of each stage are
warm-up and excluded. Prints one line per stage and a JSON summary.
"""

from __future__ import annotations

import argparse
import io
import json
import statistics
import tempfile
import time
from pathlib import Path

import numpy as np
import pandas as pd
from PIL import Image

WORDS = "lungs clear no effusion pneumothorax cardiomegaly mild opacity left right base atelectasis edema".split()


def make_data(root: Path, n: int, sizes: tuple[int, ...]) -> dict[str, Path]:
    rng = np.random.default_rng(0)
    ids = [f"b{i:04d}" for i in range(n)]
    texts = [" ".join(rng.choice(WORDS, 12)) for _ in ids]
    for size in sizes:
        pngs = []
        for _ in ids:
            buf = io.BytesIO()
            Image.fromarray(rng.integers(0, 255, (size, size), dtype=np.uint8), mode="L").save(
                buf, format="PNG", compress_level=1)
            pngs.append(buf.getvalue())
        (root / str(size)).mkdir(parents=True, exist_ok=True)
        pd.DataFrame({"dicom_id": ids, "image": pngs}).to_parquet(root / str(size) / "000.parquet")
    pd.DataFrame({"dicom_id": ids, "study_id": range(n), "split": "train", "findings": texts,
                  "impression": "no acute disease"}).to_parquet(root / "und.parquet")
    pd.DataFrame({"dicom_id": ids, "split": "train", "prompt": texts}).to_parquet(root / "gen.parquet")
    pd.DataFrame({"study_id": range(n), "cleaned_text": [f"FINDINGS: {t}. IMPRESSION: normal." for t in texts]}
                 ).to_parquet(root / "reports.parquet")
    return {"root": root, "texts": texts}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--steps", type=int, default=20)
    ap.add_argument("--batch-size", type=int, default=4)
    ap.add_argument("--workers", type=int, default=0)
    ap.add_argument("--config", default="config.yaml")
    args = ap.parse_args()

    import logging

    logging.disable(logging.INFO)
    from unix.config import load_config
    from unix.model.initial import write_initial_model
    from unix.training import run
    from unix.training.recipes import recipe_from_config

    config = load_config(args.config)
    results = {}
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        sizes = tuple(sorted({recipe_from_config(config, s).image_source_size for s in ("stage1", "stage2", "stage3")}))
        data = make_data(tmp / "data", n=max(64, args.batch_size * 8), sizes=sizes)
        write_initial_model(tmp / "init", "tiny", {}, data["texts"] * 10, 300, seed=0)
        prev = tmp / "init"
        for stage in ("stage1", "stage2", "stage3"):
            recipe = recipe_from_config(config, stage)
            recipe.steps, recipe.batch_size, recipe.num_workers = args.steps, args.batch_size, args.workers
            recipe.checkpoint_every = args.steps
            recipe.warmup_steps = min(recipe.warmup_steps, args.steps - 1)
            out = tmp / stage
            src = data["root"] / str(recipe.image_source_size) / "000.parquet"
            spec = {"recipe": recipe.to_dict(), "init": str(prev), "checkpoints": str(out / "ckpt"),
                    "und_split": str(data["root"] / "und.parquet"), "reports": str(data["root"] / "reports.parquet"),
                    "und_images": [str(src)], "gen_split": str(data["root"] / "gen.parquet"),
                    "gen_images": [str(src)], "final": str(out / "final"), "log_csv": str(out / "log.csv"),
                    "loss_png": str(out / "loss.png"), "summary": str(out / "summary.json")}
            t0 = time.perf_counter()
            run.main(spec)
            wall = time.perf_counter() - t0
            log = pd.read_csv(out / "log.csv").iloc[2:]  # drop warm-up steps
            step_s = log["step_time_s"].to_numpy()
            wait_s = log["data_wait_s"].to_numpy()
            results[stage] = {
                "samples_per_s": float(log["samples"].sum() / step_s.sum()),
                "median_step_s": float(statistics.median(step_s)),
                "data_wait_share": float(wait_s.sum() / step_s.sum()),
                "median_data_wait_s": float(statistics.median(wait_s)),
                "source_px": recipe.image_source_size, "train_px": recipe.resolution if stage != "stage1" else 64,
                "batch_size": args.batch_size, "workers": args.workers, "wall_s_incl_setup_and_saves": wall,
            }
            r = results[stage]
            print(f"{stage}: {r['samples_per_s']:.1f} samples/s, median step {r['median_step_s'] * 1000:.0f} ms, "
                  f"data wait {100 * r['data_wait_share']:.1f}% of step time "
                  f"(source {r['source_px']} px -> {r['train_px']} px, batch {args.batch_size}, "
                  f"workers {args.workers})", flush=True)
            prev = out / "final"
    print(json.dumps(results, indent=1))


if __name__ == "__main__":
    main()
