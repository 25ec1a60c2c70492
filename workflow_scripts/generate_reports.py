"""generate_reports: one report per understanding test image with the trained model (unix.evaluation.steps)."""

from unix.pipeline import run_step


def main(smk):
    from unix.evaluation.steps import generate_reports_step

    p = smk.params
    return generate_reports_step(smk.input.model, smk.input.split, smk.input.reports, list(smk.input.images),
                                 smk.output[0], prompt=p.prompt, batch_size=p.batch_size, device=p.device,
                                 limit=p.limit, generation_kwargs=p.generation)


run_step(snakemake, main)  # noqa: F821
