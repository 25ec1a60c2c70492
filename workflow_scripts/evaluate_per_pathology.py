"""evaluate_per_pathology: FD-RadDino on the label == 1 subset of each of the 14 findings (Table 4)."""

from unix.pipeline import run_step


def main(smk):
    from unix.evaluation.steps import evaluate_per_pathology_step

    return evaluate_per_pathology_step(smk.input.real, smk.input.fake, smk.input.split, smk.output[0],
                                       model=smk.wildcards.model, min_samples=smk.params.min_samples)


run_step(snakemake, main)  # noqa: F821
