"""Rule audit_label_drift: reports whose 14 CheXpert-style labels changed through cleaning."""

from unix.cleaning.stage import audit_drift
from unix.pipeline import run_step


def main(smk) -> dict:
    kwargs = {}
    if smk.params.labeler == "chexbert":
        kwargs = {"chexbert_checkpoint": smk.params.chexbert, "bert_dir": smk.params.bert}
    return audit_drift(smk.input.reports, smk.output.table, smk.output.summary, labeler=smk.params.labeler,
                       **kwargs)


run_step(snakemake, main)  # noqa: F821  (snakemake is injected by the script directive)
