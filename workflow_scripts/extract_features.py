"""extract_features: RadDino features of one image set (real test images or one model's generated images)."""

from unix.pipeline import run_step


def main(smk):
    from unix.evaluation.steps import extract_features_step

    p = smk.params
    split = smk.input.split if "split" in smk.input.keys() else None
    images = list(smk.input.images) if "images" in smk.input.keys() else []
    return extract_features_step(smk.output[0], smk.input.raddino, split_path=split, images_root=p.images_root,
                                 image_shards=images, batch_size=p.batch_size, device=p.device)


run_step(snakemake, main)  # noqa: F821
