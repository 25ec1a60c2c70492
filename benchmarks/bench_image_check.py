"""Benchmark the image checks of the split selection at full MIMIC-CXR-JPG scale: two passes (before) vs one
shared checked-image table (after, rule check_images).

Checking all 377,110 full-size images is hours of CPU, so the full-scale number is extrapolated:
  - counts: the images each design checks, from the table logic on the full-scale metadata (the synthetic
    generator's metadata-only mode at the real size: 377,110 images, 227,827 studies, 65,379 patients, real
    view mixture and split fractions). Before: every frontal image that passes the table rules of the
    understanding selection (train/validate/test) and, again, of the generation selection (train/test).
    After: each image of the union once;
  - cost per image: `check_image` CPU time, measured here on a sample of MIMIC-sized JPEGs (about 2500 x 3000,
    quality 95, about 1.5 MB like the real files; bench_prepare_images.make_jpegs), per mode;
  - the added cost of the shared table, measured at full scale: both selections looking up every candidate
    image in the table (no file opened).
CPU seconds of this process (time.process_time); run under `taskset -c 0` for one core.
With `--tree ROOT` (a MIMIC-CXR-JPG tree with images and reports, e.g. a synthetic one) the whole selection
step is also timed on it, end to end: both selections checking their images (before) against check_images
plus both selections reading its table (after).

    taskset -c 0 .venv/bin/python benchmarks/bench_image_check.py --sample 12 --root /tmp/mimic-meta
    .venv/bin/python -c "from unix.data.synthetic import generate; generate('/tmp/tree', n_subjects=30, seed=0,
        image_size=1536, broken_inputs=False)"
    taskset -c 0 .venv/bin/python benchmarks/bench_image_check.py --tree /tmp/tree
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

import numpy as np

from bench_prepare_images import make_jpegs
from bench_split_selection import full_scale_metadata
from unix.data import splits as S
from unix.data.file_checks import FileChecks, check_files, check_image
from unix.data.mimic import METADATA_CSV, SPLIT_CSV

UNDERSTANDING, GENERATION = ("train", "validate", "test"), ("train", "test")


def per_image_seconds(paths: list[Path], mode: str, repeat: int = 2) -> float:
    """Best-of-`repeat` CPU seconds of check_image per image."""
    best = float("inf")
    for _ in range(repeat):
        start = time.process_time()
        for p in paths:
            assert check_image(p, mode) == ("", ""), p
        best = min(best, (time.process_time() - start) / len(paths))
    return best


def end_to_end(tree: Path) -> None:
    """CPU seconds of the selection step on `tree`: image checks in both selections vs one shared table."""
    from unix.data.mimic import CHEXPERT_CSV

    csvs = (tree / SPLIT_CSV, tree / METADATA_CSV, tree / CHEXPERT_CSV)
    start = time.process_time()
    S.select_understanding(*csvs, images_root=tree, reports_root=tree)
    S.select_generation(*csvs, images_root=tree, reports_root=tree)
    before = time.process_time() - start
    start = time.process_time()
    checked = S.select_image_check(csvs[0], csvs[1], tree, sorted(set(UNDERSTANDING) | set(GENERATION)))
    check_s = time.process_time() - start
    S.select_understanding(*csvs, images_root=tree, reports_root=tree, checked_images=checked)
    S.select_generation(*csvs, images_root=tree, reports_root=tree, checked_images=checked)
    after = time.process_time() - start
    print(f"end to end on {tree} ({len(checked)} images checked): before {before:.2f} s CPU, after {after:.2f} s "
          f"(check_images {check_s:.2f} + selections {after - check_s:.2f})")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--root", type=Path, default=None, help="directory for the full-scale metadata CSVs (reused)")
    ap.add_argument("--sample", type=int, default=12, help="MIMIC-sized JPEGs to time check_image on")
    ap.add_argument("--tree", type=Path, default=None, help="also time the selections end to end on this tree")
    args = ap.parse_args()
    if args.tree is not None:
        end_to_end(args.tree)
    tmp = tempfile.TemporaryDirectory()
    root = args.root or Path(tmp.name) / "meta"
    root.mkdir(parents=True, exist_ok=True)
    full_scale_metadata(root)
    split = S.read_csv(root / SPLIT_CSV, ["dicom_id", "study_id", "subject_id", "split"], "split CSV")
    meta = S.read_csv(root / METADATA_CSV, ["dicom_id", "subject_id", "study_id", "ViewPosition"], "metadata CSV")
    und = S.candidate_images(split, meta, UNDERSTANDING)
    gen = S.candidate_images(split, meta, GENERATION)
    union = S.candidate_images(split, meta, sorted(set(UNDERSTANDING) | set(GENERATION)))
    n_und, n_gen = int((und["reason"] == "").sum()), int((gen["reason"] == "").sum())
    n_union = int((union["reason"] == "").sum())
    print(f"full-scale metadata: {len(meta):,} rows; images to check: understanding {n_und:,}, "
          f"generation {n_gen:,}; before {n_und + n_gen:,} checks, after {n_union:,}")

    # The shared table's cost: both selections look every candidate up (all found: no file is opened).
    checked = union.loc[union["reason"] == "", ["dicom_id", "image_path"]].assign(reason="", detail="")
    start = time.process_time()
    for df in (und, gen):
        check_files(df, root, None, FileChecks(), checked)
    lookup_s = time.process_time() - start
    print(f"lookups in the image check table, both selections: {lookup_s:.2f} s CPU")

    paths = make_jpegs(Path(tmp.name), args.sample)
    mb = np.mean([p.stat().st_size for p in paths]) / 1e6
    print(f"sample: {len(paths)} JPEGs of about 2500 x 3000, {mb:.2f} MB each")
    for mode in ("header", "decode"):
        t = per_image_seconds(paths, mode)
        before = (n_und + n_gen) * t
        after = n_union * t + lookup_s
        print(f"{mode:>6}: {1e3 * t:.2f} ms CPU per image -> full scale before {before / 60:.1f} CPU-min "
              f"(understanding {n_und * t / 60:.1f} + generation {n_gen * t / 60:.1f}), after {after / 60:.1f} "
              f"CPU-min (check_images {n_union * t / 60:.1f} + lookups {lookup_s / 60:.2f}); "
              f"saved {(before - after) / 60:.1f} CPU-min ({100 * (1 - after / before):.0f}%)")
    tmp.cleanup()


if __name__ == "__main__":
    main()
