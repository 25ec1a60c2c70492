"""Rule select_understanding_split: frontal images + reports + CheXpert labels, with accounting."""

from unix.data.file_checks import read_image_check
from unix.data.reports import SectionOptions
from unix.data.splits import FileChecks, UnderstandingOptions, select_understanding
from unix.pipeline import run_step


def main(smk) -> dict:
    selection = select_understanding(
        smk.input.split,
        smk.input.metadata,
        smk.input.chexpert,
        images_root=smk.params.images_root,
        reports_root=smk.params.reports_root,
        options=UnderstandingOptions.from_config(smk.params.understanding),
        checks=FileChecks.from_config(smk.params.checks),
        checked_images=read_image_check(smk.input.image_check),
        sections=SectionOptions.from_config(smk.params.reports),
    )
    selection.write(smk.output.table, smk.output.accounting)
    return {"counts": selection.counts()}


run_step(snakemake, main)  # noqa: F821  (snakemake is injected by the script directive)
