"""make_demo_biovil_t, make_demo_radgraph: the demo's random BioViL-T / RadGraph in the published layout, written
in the metric's environment (envs/alignment.yaml or envs/radgraph.yaml, or config evaluation.interpreters)."""

from unix.pipeline import run_step


def main(smk):
    from unix.evaluation.environments import run_step_in

    p = smk.params
    return run_step_in("demo_weights", p.interpreter, p.environment, name=p.name, out=smk.output[0],
                       seed=int(p.seed))


run_step(snakemake, main)  # noqa: F821
