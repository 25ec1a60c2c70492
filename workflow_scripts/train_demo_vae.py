"""train_demo_vae: the tiny KL-f16 VAE trained on the synthetic training images (empty weights.vae)."""

from unix.pipeline import run_step


def main(smk):
    import json

    from unix.training.demo_vae import write_trained_demo_vae

    summary = write_trained_demo_vae(smk.output.vae, smk.input.split, list(smk.input.images),
                                     dict(smk.params.settings), float(smk.params.vae_shift),
                                     float(smk.params.vae_scale), seed=int(smk.params.seed))
    with open(smk.output.summary, "w") as f:
        json.dump(summary, f, indent=2)
    return {k: summary[k] for k in ("psnr_test_db", "psnr_test_db_random_init", "train_images", "settings")}


run_step(snakemake, main)  # noqa: F821
