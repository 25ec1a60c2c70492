"""`unix demo-data`: write a synthetic MIMIC-CXR-JPG tree in the real layout (see unix.data.synthetic).

    unix demo-data --out demo/mimic-cxr-jpg --n-subjects 40 --seed 0

writes the CSVs and files/ under --out, and the ground truth beside it as <out>/../ground_truth.csv.
"""

from __future__ import annotations

import argparse
import json
import logging
from dataclasses import asdict
from pathlib import Path


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--out", required=True, help="root of the tree to write (must not hold a non-empty files/)")
    parser.add_argument("--n-subjects", type=int, default=40, help="number of patients (default 40)")
    parser.add_argument("--seed", type=int, default=0, help="seed; the same seed gives byte-identical files")
    parser.add_argument("--image-size", type=int, default=512, help="longer side of the JPEGs in pixels (default 512)")
    parser.add_argument("--no-broken-inputs", action="store_true",
                        help="do not add the deliberately broken inputs (corrupt JPEG, missing report, ...)")
    parser.add_argument("--metadata-only", action="store_true",
                        help="write only the CSVs (no images, no reports), e.g. for scale benchmarks")
    parser.add_argument("--test-fraction", type=float, default=None,
                        help="fraction of patients in the test split (default: the real 293/65,379)")
    parser.add_argument("--validate-fraction", type=float, default=None,
                        help="fraction of patients in the validate split (default: the real 500/65,379)")
    parser.add_argument("--n-studies", type=int, default=None, help="exact number of studies")
    parser.add_argument("--n-images", type=int, default=None, help="exact number of images")


def run(args: argparse.Namespace) -> int:
    from unix.data.synthetic import generate
    from unix.pipeline import setup_logging

    setup_logging()
    logging.getLogger("unix").setLevel(logging.INFO)
    out = Path(args.out)
    opts = {k: v for k, v in (("test_fraction", args.test_fraction), ("validate_fraction", args.validate_fraction),
                              ("n_studies", args.n_studies), ("n_images", args.n_images)) if v is not None}
    try:
        summary = generate(
            out, n_subjects=args.n_subjects, seed=args.seed, image_size=args.image_size,
            broken_inputs=not args.no_broken_inputs, ground_truth_path=out.parent / "ground_truth.csv",
            write_images=not args.metadata_only, write_reports=not args.metadata_only, **opts,
        )
    except ValueError as err:
        logging.getLogger("unix").error("%s", err)
        return 2
    print(json.dumps(asdict(summary), indent=2))
    return 0
