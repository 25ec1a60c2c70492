"""evaluate_alignment: CheXGenBench's BioViL-T alignment score of the generated images (envs/alignment.yaml)."""

from unix.pipeline import run_step


def main(smk):
    from unix.evaluation.alignment import evaluate_alignment_step
    from unix.evaluation.steps import resolve_device

    p = smk.params
    return evaluate_alignment_step(list(smk.input.images), smk.output[0], model=smk.wildcards.model,
                                   biovil_t=p.biovil_t, device=resolve_device(p.device))


run_step(snakemake, main)  # noqa: F821
