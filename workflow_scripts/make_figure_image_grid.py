"""Rule plot_image_grid: real test images beside the stage-3 model's images for the same fixed prompts."""

from unix.pipeline import run_step
from unix.tables.figures import image_grid_examples, plot_image_grid


def main(smk) -> dict:
    examples = image_grid_examples(smk.input.split, list(smk.input.images), smk.input.model, n=int(smk.params.n),
                                   seed=int(smk.params.seed), image_size=int(smk.params.image_size))
    return plot_image_grid(examples, smk.output[0],
                           synthetic=bool(smk.params.synthetic))


run_step(snakemake, main)  # noqa: F821  (snakemake is injected by the script directive)
