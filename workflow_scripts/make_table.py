"""Rules make_table2 ... make_table5: one paper table (published rows, ours, the difference) as CSV + Markdown."""

from unix.pipeline import run_step
from unix.tables.build import make_table


def main(smk) -> dict:
    return make_table(
        smk.params.key,
        dict(smk.params.rows),
        synthetic=bool(smk.params.synthetic or smk.params.uses_synthetic_tree),
        csv_path=smk.output.csv,
        md_path=smk.output.md,
    )


run_step(snakemake, main)  # noqa: F821  (snakemake is injected by the script directive)
