# Data stage: the synthetic demo tree, split selection with accounting, image preparation.


# ---- the synthetic MIMIC-CXR-JPG tree (unix.data.synthetic), only when data.mimic_cxr_jpg is empty ----
# The ground truth lies outside the tree so that the tree's layout is exactly the real one.
if W.uses_synthetic(config):

    rule make_demo_data:
        output:
            split="results/data/synthetic/mimic-cxr-jpg/mimic-cxr-2.0.0-split.csv.gz",
            metadata="results/data/synthetic/mimic-cxr-jpg/mimic-cxr-2.0.0-metadata.csv.gz",
            chexpert="results/data/synthetic/mimic-cxr-jpg/mimic-cxr-2.0.0-chexpert.csv.gz",
            negbio="results/data/synthetic/mimic-cxr-jpg/mimic-cxr-2.0.0-negbio.csv.gz",
            files=directory("results/data/synthetic/mimic-cxr-jpg/files"),
            ground_truth="results/data/synthetic/ground_truth.csv",
        log:
            "results/logs/make_demo_data/make_demo_data.log",
        params:
            **config_params(
                config,
                seed="data.synthetic.seed",
                n_subjects="data.synthetic.n_subjects",
                image_size="data.synthetic.image_size",
                broken_inputs="data.synthetic.broken_inputs",
                broken_per_kind="data.synthetic.broken_per_kind",
                test_fraction="data.synthetic.test_fraction",
                validate_fraction="data.synthetic.validate_fraction",
                lateral_only_fraction="data.synthetic.lateral_only_fraction",
            ),
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
        "results/data/image_check.parquet",
    log:
        "results/logs/check_images/check_images.log",
    params:
        **config_params(config, checks="data.checks"),
        images_root=lambda wildcards, input: W.root_of(input.metadata),
        splits=sorted(set(config["data"]["understanding"]["splits"]) | set(config["data"]["generation"]["splits"])),
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
        table="results/data/understanding/split.parquet",
        accounting="results/data/understanding/accounting.csv",
    log:
        "results/logs/select_understanding_split/select_understanding_split.log",
    params:
        **config_params(
            config,
            understanding="data.understanding",
            checks="data.checks",
            reports="data.reports",
        ),
        # MIMIC-CXR-JPG keeps the images beside its CSVs; the reports may lie elsewhere (config).
        images_root=lambda wildcards, input: W.root_of(input.metadata),
        reports_root=lambda wildcards, input: W.reports_root_of(config, input.metadata),
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
        table="results/data/generation/split.parquet",
        accounting="results/data/generation/accounting.csv",
    log:
        "results/logs/select_generation_split/select_generation_split.log",
    params:
        **config_params(
            config,
            generation="data.generation",
            checks="data.checks",
            reports="data.reports",
        ),
        # MIMIC-CXR-JPG keeps the images beside its CSVs; the reports may lie elsewhere (config).
        images_root=lambda wildcards, input: W.root_of(input.metadata),
        reports_root=lambda wildcards, input: W.reports_root_of(config, input.metadata),
    threads: config["data"]["checks"]["workers"]
    resources:
        **W.resources(config, "cpu"),
    conda:
        "../envs/data.yaml"
    script:
        "../workflow_scripts/select_generation_split.py"


# One job per shard writes that shard at every size of data.images.sizes (outputs s<size>).
rule prepare_images:
    input:
        understanding=W.UNDERSTANDING_SPLIT,
        generation=W.GENERATION_SPLIT,
    output:
        **{f"s{size}": f"results/data/images/{size}/{{shard}}.parquet" for size in config["data"]["images"]["sizes"]},
    log:
        "results/logs/prepare_images/{shard}.log",
    params:
        **config_params(config, images="data.images"),
        images_root=str(W.mimic_root(config)),
    resources:
        **W.resources(config, "cpu"),
    conda:
        "../envs/data.yaml"
    script:
        "../workflow_scripts/prepare_images.py"
