"""make_demo_weights: tiny random RadDino (Dinov2Model) and KL-f16-shaped VAE (AutoencoderKL) for the demo."""

from unix.pipeline import run_step


def main(smk):
    from unix.model.demo_weights import write_demo_weights

    return write_demo_weights(dict(smk.output.items()), seed=int(smk.params.seed))


run_step(snakemake, main)  # noqa: F821
