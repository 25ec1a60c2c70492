"""Rule plot_loss_curves: the training loss of every stage, one panel each."""

from unix.pipeline import run_step
from unix.tables.figures import plot_loss_curves


def main(smk) -> dict:
    logs = {name: path for name, path in smk.input.items()}
    return plot_loss_curves(logs, smk.output[0], synthetic=bool(smk.params.synthetic))


run_step(snakemake, main)  # noqa: F821  (snakemake is injected by the script directive)
