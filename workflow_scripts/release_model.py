"""release_model: the released UniX checkpoint (weights.unix) as a model directory, for the release tables."""

from unix.pipeline import run_step


def main(smk):
    from unix.evaluation.release import write_release_model

    return write_release_model(smk.output.model, smk.params.size, dict(smk.params.weights),
                               dict(smk.params.overrides), seed=int(smk.params.seed))


run_step(snakemake, main)  # noqa: F821
