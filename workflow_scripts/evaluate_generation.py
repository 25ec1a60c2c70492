"""evaluate_generation: FD/KD-RadDino, PRDC (4-shard mean and full set); the alignment score from evaluate_alignment."""

from unix.pipeline import run_step


def main(smk):
    from unix.evaluation.steps import evaluate_generation_step

    p = smk.params
    return evaluate_generation_step(smk.input.real, smk.input.fake, smk.output[0],
                                    model=smk.wildcards.model, shards=p.shards, kd_subsets=p.kd_subsets,
                                    prdc_k=p.prdc_k, seed=p.seed, alignment_metrics=smk.input.alignment)


run_step(snakemake, main)  # noqa: F821
