# Data stage: the synthetic demo tree, split selection with accounting, image preparation.

# ---- the synthetic MIMIC-CXR-JPG tree (unix.data.synthetic), only when data.mimic_cxr_jpg is empty ----
# The ground truth lies outside the tree so that the tree's layout is exactly the real one.
if W.uses_synthetic(config):

    rule make_demo_data:
        output:
            split=str(W.SYNTHETIC_ROOT / W.SPLIT_CSV),
            metadata=str(W.SYNTHETIC_ROOT / W.METADATA_CSV),
            chexpert=str(W.SYNTHETIC_ROOT / W.CHEXPERT_CSV),
            negbio=str(W.SYNTHETIC_ROOT / W.NEGBIO_CSV),
            files=directory(str(W.SYNTHETIC_ROOT / "files")),
            ground_truth=str(W.SYNTHETIC_GROUND_TRUTH),
        log:
            "results/logs/make_demo_data/make_demo_data.log",
        params:
            seed=config["data"]["synthetic"]["seed"],
            n_subjects=config["data"]["synthetic"]["n_subjects"],
            image_size=config["data"]["synthetic"]["image_size"],
            broken_inputs=config["data"]["synthetic"]["broken_inputs"],
            broken_per_kind=config["data"]["synthetic"]["broken_per_kind"],
            test_fraction=config["data"]["synthetic"]["test_fraction"],
            validate_fraction=config["data"]["synthetic"]["validate_fraction"],
            lateral_only_fraction=config["data"]["synthetic"]["lateral_only_fraction"],
        resources:
            **W.resources(config, "cpu"),
        conda:
            "../envs/data.yaml"
        script:
            "../workflow_scripts/make_demo_data.py"


# ---- split selection and image preparation (unix.data.splits, unix.data.images) ----
# Inputs are the metadata CSVs only (never one input per image or report), so the DAG stays small on
# the full 377,110-image MIMIC-CXR-JPG; the images and reports are read inside the jobs.


# Every image either selection could keep (frontal, in the union of their splits) is checked once here;
# both selections read the table (unix.data.file_checks).
rule check_images:
    input:
        split=W.split_inputs(config)["split"],
        metadata=W.split_inputs(config)["metadata"],
    output:
        W.IMAGE_CHECK,
    log:
        "results/logs/check_images/check_images.log",
    params:
        images_root=lambda wildcards, input: W.root_of(input.metadata),
        splits=sorted(set(config["data"]["understanding"]["splits"]) | set(config["data"]["generation"]["splits"])),
        checks=config["data"]["checks"],
    threads: config["data"]["checks"]["workers"]
    resources:
        **W.resources(config, "cpu"),
    conda:
        "../envs/data.yaml"
    script:
        "../workflow_scripts/check_images.py"


rule select_understanding_split:
    input:
        **W.split_inputs(config),
        image_check=W.IMAGE_CHECK,
    output:
        table=W.UNDERSTANDING_SPLIT,
        accounting=W.UNDERSTANDING_ACCOUNTING,
    log:
        "results/logs/select_understanding_split/select_understanding_split.log",
    params:
        # MIMIC-CXR-JPG keeps the images beside its CSVs; the reports may lie elsewhere (config).
        images_root=lambda wildcards, input: W.root_of(input.metadata),
        reports_root=lambda wildcards, input: W.reports_root_of(config, input.metadata),
        understanding=config["data"]["understanding"],
        checks=config["data"]["checks"],
        reports=config["data"]["reports"],
    threads: config["data"]["checks"]["workers"]
    resources:
        **W.resources(config, "cpu"),
    conda:
        "../envs/data.yaml"
    script:
        "../workflow_scripts/select_understanding_split.py"


rule select_generation_split:
    input:
        **W.generation_inputs(config),
        image_check=W.IMAGE_CHECK,
    output:
        table=W.GENERATION_SPLIT,
        accounting=W.GENERATION_ACCOUNTING,
    log:
        "results/logs/select_generation_split/select_generation_split.log",
    params:
        # MIMIC-CXR-JPG keeps the images beside its CSVs; the reports may lie elsewhere (config).
        images_root=lambda wildcards, input: W.root_of(input.metadata),
        reports_root=lambda wildcards, input: W.reports_root_of(config, input.metadata),
        generation=config["data"]["generation"],
        checks=config["data"]["checks"],
        reports=config["data"]["reports"],
    threads: config["data"]["checks"]["workers"]
    resources:
        **W.resources(config, "cpu"),
    conda:
        "../envs/data.yaml"
    script:
        "../workflow_scripts/select_generation_split.py"


rule prepare_images:
    input:
        understanding=W.UNDERSTANDING_SPLIT,
        generation=W.GENERATION_SPLIT,
    output:
        **W.image_shard_outputs(config),
    log:
        "results/logs/prepare_images/{shard}.log",
    wildcard_constraints:
        shard=r"\d\d\d+",
    params:
        images_root=str(W.mimic_root(config)),
        images=config["data"]["images"],
    resources:
        **W.resources(config, "cpu"),
    conda:
        "../envs/data.yaml"
    script:
        "../workflow_scripts/prepare_images.py"
