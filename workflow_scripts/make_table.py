"""Rules make_table and make_release_table: one paper table (published rows, ours, the difference) as CSV and
Markdown."""

from unix.pipeline import run_step
from unix.tables.build import make_table


def main(smk) -> dict:
    return make_table(
        smk.params.key,
        dict(smk.params.rows),
        synthetic=bool(smk.params.synthetic),
        csv_path=smk.output.csv,
        md_path=smk.output.md,
    )


run_step(snakemake, main)  # noqa: F821  (snakemake is injected by the script directive)
