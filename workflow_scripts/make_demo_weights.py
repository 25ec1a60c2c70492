"""make_demo_weights: the tiny random RadDino (Dinov2Model) stand-in for the demo (the demo VAE is trained by train_demo_vae)."""

from unix.pipeline import run_step


def main(smk):
    from unix.model.demo_weights import write_demo_weights

    return write_demo_weights(dict(smk.output.items()), seed=int(smk.params.seed))


run_step(snakemake, main)  # noqa: F821
