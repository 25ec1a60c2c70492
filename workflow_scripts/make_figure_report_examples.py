"""Rule plot_report_examples: a few reports before and after cleaning, side by side."""

from unix.pipeline import run_step
from unix.tables.figures import plot_report_examples


def main(smk) -> dict:
    return plot_report_examples(smk.input.reports, smk.output[0], n=int(smk.params.n),
                                synthetic=bool(smk.params.synthetic))


run_step(snakemake, main)  # noqa: F821  (snakemake is injected by the script directive)
