"""Time the synthetic MIMIC-CXR-JPG generator: the default demo tree and the full-scale metadata-only mode.

    .venv/bin/python benchmarks/bench_synthetic.py                 # both
    .venv/bin/python benchmarks/bench_synthetic.py --skip-full     # only the demo tree

The demo uses config.yaml's data.synthetic values; the full-scale run writes the three CSVs for
65,379 patients, 227,827 studies and 377,110 images (the real MIMIC-CXR-JPG 2.0.0 totals).
Wall and CPU time are both printed: on a shared machine the CPU time is the stable number.
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

import yaml

from unix.data.synthetic import REAL_IMAGES, REAL_STUDIES, REAL_SUBJECTS, generate

REPO = Path(__file__).resolve().parents[1]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--skip-full", action="store_true", help="skip the full-scale metadata-only run")
    args = parser.parse_args()
    cfg = yaml.safe_load((REPO / "config.yaml").read_text())["data"]["synthetic"]
    with tempfile.TemporaryDirectory() as tmp:
        start, cpu = time.perf_counter(), time.process_time()
        s = generate(Path(tmp) / "demo" / "mimic-cxr-jpg", n_subjects=cfg["n_subjects"], seed=cfg["seed"],
                     image_size=cfg["image_size"], broken_inputs=cfg["broken_inputs"],
                     ground_truth_path=Path(tmp) / "demo" / "ground_truth.csv",
                     broken_per_kind=cfg["broken_per_kind"], test_fraction=cfg["test_fraction"],
                     validate_fraction=cfg["validate_fraction"], lateral_only_fraction=cfg["lateral_only_fraction"])
        demo_s, demo_cpu = time.perf_counter() - start, time.process_time() - cpu
        print(f"demo tree (config.yaml): {s.n_subjects} patients, {s.n_studies} studies, {s.n_images} images "
              f"at {cfg['image_size']} px, {s.reports_written} reports: {demo_s:.1f} s wall, {demo_cpu:.1f} s CPU "
              f"({1000 * demo_cpu / max(1, s.n_images):.0f} ms CPU/image)")
        if not args.skip_full:
            start, cpu = time.perf_counter(), time.process_time()
            s = generate(Path(tmp) / "full", n_subjects=REAL_SUBJECTS, seed=0, image_size=3000, broken_inputs=False,
                         write_images=False, write_reports=False, ground_truth_path=Path(tmp) / "full.csv",
                         n_studies=REAL_STUDIES, n_images=REAL_IMAGES)
            full_s, full_cpu = time.perf_counter() - start, time.process_time() - cpu
            print(f"metadata-only full scale: {s.n_subjects} patients, {s.n_studies} studies, {s.n_images} images: "
                  f"{full_s:.1f} s wall, {full_cpu:.1f} s CPU")


if __name__ == "__main__":
    main()
