"""Rule plot_split_accounting: rows kept and excluded (by reason) by the two split selections."""

from unix.pipeline import run_step
from unix.tables.figures import plot_split_accounting


def main(smk) -> dict:
    paths = {"understanding": smk.input.understanding, "generation": smk.input.generation}
    return plot_split_accounting(paths, smk.output[0],
                                 synthetic=bool(smk.params.synthetic))


run_step(snakemake, main)  # noqa: F821  (snakemake is injected by the script directive)
