"""Rule gather_cleaned_reports: the cleaned-report table, its accounting and the LLM call records."""

from unix.cleaning.stage import gather_shards
from unix.pipeline import run_step


def main(smk) -> dict:
    return gather_shards(
        smk.input.tables, smk.input.accountings, smk.input.calls, smk.input.data_use,
        out_reports=smk.output.reports, out_accounting=smk.output.accounting, out_calls=smk.output.calls,
    )


run_step(snakemake, main)  # noqa: F821  (snakemake is injected by the script directive)
