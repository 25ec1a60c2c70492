"""Rule plot_per_pathology_fd: FD-RadDino per finding, ours beside the paper's UniX rows (Table 4)."""

from unix.evaluation.results import read_metrics
from unix.pipeline import run_step
from unix.tables.figures import finding_values, plot_per_pathology_fd
from unix.tables.paper import paper_table


def main(smk) -> dict:
    t4 = paper_table("table4")
    rows = dict(smk.params.rows)
    measured = {name: finding_values(read_metrics(spec["paths"][0]), t4.columns) for name, spec in rows.items()}
    paper = {name: t4.rows[name] for name in ("UniX-256", "UniX-512")}
    return plot_per_pathology_fd(measured, paper, t4.columns, smk.output[0],
                                 synthetic=bool(smk.params.synthetic))


run_step(snakemake, main)  # noqa: F821  (snakemake is injected by the script directive)
