"""evaluate_radgraph: UniX's RadGraph F1 (partial reward) of the generated reports (envs/radgraph.yaml)."""

from unix.pipeline import run_step


def main(smk):
    from unix.evaluation.radgraph import evaluate_radgraph_step

    return evaluate_radgraph_step(smk.input.reports, smk.output[0], model=smk.wildcards.model,
                                  radgraph=smk.params.radgraph)


run_step(snakemake, main)  # noqa: F821
