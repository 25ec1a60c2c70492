"""Rule check_data_use: decide (and record) whether report text may go to the configured endpoint."""

from unix.cleaning.options import CleaningOptions
from unix.cleaning.stage import check_data_use_step
from unix.pipeline import run_step


def main(smk) -> dict:
    return check_data_use_step(CleaningOptions.from_config(smk.params.cleaning), smk.output.decision)


run_step(snakemake, main)  # noqa: F821  (snakemake is injected by the script directive)
