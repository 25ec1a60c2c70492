"""Rule check_images: every image either split selection could keep, checked once (both selections read it)."""

from unix.data.splits import FileChecks, select_image_check
from unix.pipeline import run_step


def main(smk) -> dict:
    table = select_image_check(smk.input.split, smk.input.metadata, smk.params.images_root, smk.params.splits,
                               FileChecks.from_config(smk.params.checks))
    table.to_parquet(smk.output[0], index=False)
    unusable = table.loc[table["reason"] != "", "reason"].value_counts()
    return {"images": len(table), "unusable": {str(k): int(v) for k, v in unusable.items()}}


run_step(snakemake, main)  # noqa: F821  (snakemake is injected by the script directive)
