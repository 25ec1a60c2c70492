"""evaluate_radgraph: UniX's RadGraph F1 (partial reward) of the generated reports (envs/radgraph.yaml, or the
Python of config evaluation.interpreters.radgraph)."""

from unix.pipeline import run_step


def main(smk):
    from unix.evaluation.environments import run_step_in

    return run_step_in("radgraph", smk.params.interpreter, reports_path=smk.input.reports, out=smk.output[0],
                       model=smk.wildcards.model, radgraph=smk.params.radgraph)


run_step(snakemake, main)  # noqa: F821
