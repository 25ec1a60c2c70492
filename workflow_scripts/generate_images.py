"""generate_images: one shard of the generation test set (deduplicated by prompt); seeds from the image ids."""

from unix.pipeline import run_step


def main(smk):
    from unix.evaluation.steps import generate_images_step

    p = smk.params
    return generate_images_step(smk.input.model, smk.input.split, p.shard, p.n_shards, smk.output[0], seed=p.seed,
                                image_size=p.image_size, batch_size=p.batch_size, device=p.device, limit=p.limit,
                                sampling=p.sampling, dtype=p.dtype, compile=p.compile)


run_step(snakemake, main)  # noqa: F821
