"""Rule prepare_images: one shard of the kept images at every size (decoded once per image)."""

from unix.data.images import ImageOptions, prepare_shard
from unix.pipeline import run_step


def main(smk) -> dict:
    options = ImageOptions.from_config(smk.params.images)
    outputs = {size: smk.output[f"s{size}"] for size in options.sizes}
    return prepare_shard(
        [smk.input.understanding, smk.input.generation],
        smk.params.images_root,
        smk.wildcards.shard,
        outputs,
        options,
    )


run_step(snakemake, main)  # noqa: F821  (snakemake is injected by the script directive)
