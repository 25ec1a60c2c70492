"""Rule clean_reports: clean one shard of the understanding split's reports (rules or an LLM endpoint).

A failed shard leaves its request attempts beside its log (`{shard}.llm_calls.parquet`): Snakemake deletes
the declared outputs of a failed job, but not its log directory.
"""

from pathlib import Path

from unix.cleaning.options import CleaningOptions
from unix.cleaning.stage import clean_shard
from unix.pipeline import run_step


def main(smk) -> dict:
    return clean_shard(
        smk.input.split,
        smk.wildcards.shard,
        int(smk.params.cleaning["shards"]),
        CleaningOptions.from_config(smk.params.cleaning),
        cache_dir=smk.params.cleaning["cache_dir"],
        out_table=smk.output.table,
        out_accounting=smk.output.accounting,
        out_calls=smk.output.calls,
        seed=int(smk.params.seed),
        failed_calls=Path(smk.log[0]).with_suffix(".llm_calls.parquet"),
    )


run_step(snakemake, main)  # noqa: F821  (snakemake is injected by the script directive)
