"""evaluate_generation: FD/KD-RadDino, PRDC (4-shard mean and full set) and the alignment score."""

from unix.pipeline import run_step


def main(smk):
    from unix.evaluation.steps import evaluate_generation_step

    p = smk.params
    return evaluate_generation_step(smk.input.real, smk.input.fake, list(smk.input.images), smk.output[0],
                                    model=smk.wildcards.model, shards=p.shards, kd_subsets=p.kd_subsets,
                                    prdc_k=p.prdc_k, seed=p.seed, biovil_t=p.biovil_t, device=p.device)


run_step(snakemake, main)  # noqa: F821
