"""Rule make_demo_data: the synthetic MIMIC-CXR-JPG tree (see unix.data.synthetic)."""

from dataclasses import asdict
from pathlib import Path

from unix.data.synthetic import generate
from unix.pipeline import run_step


def main(step):
    p = step.params
    summary = generate(
        Path(step.output.metadata).parent, n_subjects=p.n_subjects, seed=p.seed, image_size=p.image_size,
        broken_inputs=p.broken_inputs, ground_truth_path=step.output.ground_truth,
        test_fraction=p.test_fraction, validate_fraction=p.validate_fraction,
        lateral_only_fraction=p.lateral_only_fraction, broken_per_kind=p.broken_per_kind,
    )
    return {"synthetic": asdict(summary)}


run_step(snakemake, main)  # noqa: F821  (injected by Snakemake)
