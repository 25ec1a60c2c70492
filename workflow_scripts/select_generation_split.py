"""Rule select_generation_split: the CheXGenBench generation split, with accounting."""

from unix.data.file_checks import read_image_check
from unix.data.reports import SectionOptions
from unix.data.splits import FileChecks, GenerationOptions, select_generation
from unix.pipeline import run_step


def main(smk) -> dict:
    llava = {k: smk.input[f"llava_rad_{k}"] for k in ("train", "test") if f"llava_rad_{k}" in smk.input.keys()}
    selection = select_generation(
        smk.input.split,
        smk.input.metadata,
        smk.input.chexpert,
        images_root=smk.params.images_root,
        reports_root=smk.params.reports_root,
        llava_rad=llava or None,
        options=GenerationOptions.from_config(smk.params.generation),
        checks=FileChecks.from_config(smk.params.checks),
        checked_images=read_image_check(smk.input.image_check),
        sections=SectionOptions.from_config(smk.params.reports),
    )
    selection.write(smk.output.table, smk.output.accounting)
    return {"counts": selection.counts()}


run_step(snakemake, main)  # noqa: F821  (snakemake is injected by the script directive)
