"""evaluate_alignment: CheXGenBench's BioViL-T alignment score of the generated images (envs/alignment.yaml, or the
Python of config evaluation.interpreters.alignment)."""

from unix.pipeline import run_step


def main(smk):
    from unix.evaluation.environments import run_step_in
    from unix.evaluation.steps import resolve_device

    p = smk.params
    # The demo's random stand-in when the rule writes one (synthetic data, empty weights.biovil_t), else the config's.
    weights = smk.input.demo_weights if "demo_weights" in smk.input.keys() else smk.params.biovil_t
    return run_step_in("alignment", p.interpreter, image_shards=list(smk.input.images), out=smk.output[0],
                       model=smk.wildcards.model, biovil_t=weights, device=resolve_device(p.device))


run_step(snakemake, main)  # noqa: F821
