"""evaluate_radgraph: UniX's RadGraph F1 (partial reward) of the generated reports (envs/radgraph.yaml, or the
Python of config evaluation.interpreters.radgraph)."""

from unix.pipeline import run_step


def main(smk):
    from unix.evaluation.environments import run_step_in

    # The demo's random stand-in when the rule writes one (synthetic data, empty weights.radgraph), else the config's.
    weights = smk.input.demo_weights if "demo_weights" in smk.input.keys() else smk.params.radgraph
    return run_step_in("radgraph", smk.params.interpreter, reports_path=smk.input.reports, out=smk.output[0],
                       model=smk.wildcards.model, radgraph=weights)


run_step(snakemake, main)  # noqa: F821
