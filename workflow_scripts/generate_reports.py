"""generate_reports: one report per understanding test image (our split, or UniX's test_data.json)."""

from unix.pipeline import run_step


def main(smk):
    from unix.evaluation.steps import generate_reports_step

    p, i = smk.params, smk.input
    test_data = p.test_data
    return generate_reports_step(i.model, None if test_data else i.split, None if test_data else i.reports,
                                 [] if test_data else list(i.images), smk.output[0], prompt=p.prompt,
                                 batch_size=p.batch_size, device=p.device, limit=p.limit,
                                 generation_kwargs=p.generation, test_data=test_data, images_root=p.images_root,
                                 dtype=p.dtype, compile=p.compile, blank_images=p.blank_images)


run_step(snakemake, main)  # noqa: F821
