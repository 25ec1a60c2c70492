# evaluation stage rules: the paper's protocol (unix/evaluation). Which weights each {model} means and which
# models each evaluation accepts: the Snakefile header and unix.evaluation.paths.
# generate_reports reads UniX's test_data.json when evaluation.understanding_test_set is set (its items, prompts
# and references, images from the MIMIC-CXR-JPG tree), else our understanding split.
# The radgraph and alignment rules (and their demo stand-ins) run their step in the Python of config
# evaluation.interpreters.<env> when it is set (no conda), see unix.evaluation.environments.


rule release_model:
    input:
        unpack(lambda w: EP.release_model_inputs(config)),
    output:
        model=directory("results/model/release"),
    log:
        "results/logs/release_model/release_model.log",
    params:
        **config_params(config, size="model.size", seed="seed"),
        overrides=model_overrides(config["model"]),
        weights=EP.release_weights(config),
    resources:
        **W.resources(config, "cpu"),
    conda:
        "../envs/model.yaml"
    script:
        "../workflow_scripts/release_model.py"


rule generate_reports:
    input:
        unpack(lambda w: EP.report_inputs(config, w.model)),
    output:
        "results/evaluation/reports/{model}.parquet",
    log:
        "results/logs/generate_reports/{model}.log",
    benchmark:
        "results/benchmarks/generate_reports/{model}.tsv"
    params:
        **config_params(
            config,
            prompt="evaluation.report_prompt",
            batch_size="evaluation.report_batch_size",
            device="evaluation.device",
            dtype="evaluation.inference.dtype",
            compile="evaluation.inference.compile",
            seed="seed",
        ),
        test_data=EP.understanding_test_data(config),
        images_root=str(W.mimic_root(config)),
        limit=lambda w: EP.sample_limit(config, w.model),
        blank_images=lambda w: EP.blank_images(w.model),
        generation=report_kwargs(config["model"]),
    resources:
        **W.resources(config, "infer"),
    conda:
        "../envs/evaluation.yaml"
    script:
        "../workflow_scripts/generate_reports.py"


rule generate_images:
    input:
        model=lambda w: EP.model_dir(w.model),
        split=W.GENERATION_SPLIT,
    output:
        "results/evaluation/images/{model}/{shard}.parquet",
    log:
        "results/logs/generate_images/{model}/{shard}.log",
    benchmark:
        "results/benchmarks/generate_images/{model}/{shard}.tsv"
    params:
        **config_params(
            config,
            n_shards="evaluation.image_shards",
            batch_size="evaluation.image_batch_size",
            device="evaluation.device",
            dtype="evaluation.inference.dtype",
            compile="evaluation.inference.compile",
            seed="seed",
        ),
        shard=lambda w: int(w.shard),
        image_size=lambda w: EP.generation_size(config, w.model),
        sampling={k: v for k, v in sampling_kwargs(config["model"]).items() if k != "image_size"},
        limit=lambda w: EP.sample_limit(config, w.model),
    resources:
        **W.resources(config, "infer"),
    conda:
        "../envs/evaluation.yaml"
    script:
        "../workflow_scripts/generate_images.py"


rule extract_features:
    input:
        unpack(lambda w: EP.feature_inputs(config, w.imageset)),
        raddino=W.weight_path(config, "raddino"),
    output:
        "results/evaluation/features/{imageset}.npz",
    log:
        "results/logs/extract_features/{imageset}.log",
    benchmark:
        "results/benchmarks/extract_features/{imageset}.tsv"
    params:
        **config_params(
            config,
            batch_size="evaluation.feature_batch_size",
            device="evaluation.device",
        ),
        images_root=str(W.mimic_root(config)),
    resources:
        **W.resources(config, "infer"),
    conda:
        "../envs/evaluation.yaml"
    script:
        "../workflow_scripts/extract_features.py"


rule evaluate_radgraph:
    input:
        **EP.demo_weights_input(config, "radgraph"),
        reports="results/evaluation/reports/{model}.parquet",
    output:
        "results/evaluation/radgraph/{model}.json",
    log:
        "results/logs/evaluate_radgraph/{model}.log",
    benchmark:
        "results/benchmarks/evaluate_radgraph/{model}.tsv"
    params:
        **config_params(config, radgraph="weights.radgraph", interpreter="evaluation.interpreters.radgraph"),
    resources:
        **W.resources(config, "cpu"),
    conda:
        "../envs/radgraph.yaml"
    script:
        "../workflow_scripts/evaluate_radgraph.py"


rule evaluate_alignment:
    input:
        **EP.demo_weights_input(config, "biovil_t"),
        images=lambda w: EP.image_shards(config, w.model),
    output:
        "results/evaluation/alignment/{model}.json",
    log:
        "results/logs/evaluate_alignment/{model}.log",
    benchmark:
        "results/benchmarks/evaluate_alignment/{model}.tsv"
    params:
        **config_params(
            config,
            biovil_t="weights.biovil_t",
            device="evaluation.device",
            interpreter="evaluation.interpreters.alignment",
        ),
    resources:
        **W.resources(config, "cpu"),
    conda:
        "../envs/alignment.yaml"
    script:
        "../workflow_scripts/evaluate_alignment.py"


# The demo's random BioViL-T and RadGraph (synthetic data, empty weights.biovil_t / weights.radgraph), written in
# the metric's own environment: results/model/demo-weights/{biovil_t,radgraph}/.
if "biovil_t" in W.metric_demo_weights(config):

    rule make_demo_biovil_t:
        output:
            directory("results/model/demo-weights/biovil_t"),
        log:
            "results/logs/make_demo_biovil_t/make_demo_biovil_t.log",
        params:
            **config_params(config, interpreter="evaluation.interpreters.alignment", seed="seed"),
            name="biovil_t",
            environment="alignment",
        resources:
            **W.resources(config, "cpu"),
        conda:
            "../envs/alignment.yaml"
        script:
            "../workflow_scripts/make_demo_metric_weights.py"


if "radgraph" in W.metric_demo_weights(config):

    rule make_demo_radgraph:
        output:
            directory("results/model/demo-weights/radgraph"),
        log:
            "results/logs/make_demo_radgraph/make_demo_radgraph.log",
        params:
            **config_params(config, interpreter="evaluation.interpreters.radgraph", seed="seed"),
            name="radgraph",
            environment="radgraph",
        resources:
            **W.resources(config, "cpu"),
        conda:
            "../envs/radgraph.yaml"
        script:
            "../workflow_scripts/make_demo_metric_weights.py"


rule evaluate_understanding:
    input:
        reports="results/evaluation/reports/{model}.parquet",
        radgraph="results/evaluation/radgraph/{model}.json",
    output:
        "results/evaluation/understanding/{model}.json",
    log:
        "results/logs/evaluate_understanding/{model}.log",
    benchmark:
        "results/benchmarks/evaluate_understanding/{model}.tsv"
    params:
        **config_params(
            config,
            labeler="evaluation.labeler",
            chexbert="weights.chexbert",
            bert_base_uncased="weights.bert_base_uncased",
            device="evaluation.device",
            rouge_bootstrap="evaluation.rouge_bootstrap",
            seed="seed",
        ),
    resources:
        **W.resources(config, "cpu"),
    conda:
        "../envs/evaluation.yaml"
    script:
        "../workflow_scripts/evaluate_understanding.py"


rule evaluate_generation:
    input:
        real="results/evaluation/features/real.npz",
        fake="results/evaluation/features/generated-{model}.npz",
        alignment="results/evaluation/alignment/{model}.json",
    output:
        "results/evaluation/generation/{model}.json",
    log:
        "results/logs/evaluate_generation/{model}.log",
    benchmark:
        "results/benchmarks/evaluate_generation/{model}.tsv"
    params:
        **config_params(
            config,
            shards="evaluation.shards",
            kd_subsets="evaluation.kd_subsets",
            prdc_k="evaluation.prdc_k",
            seed="seed",
        ),
    resources:
        **W.resources(config, "cpu"),
    conda:
        "../envs/evaluation.yaml"
    script:
        "../workflow_scripts/evaluate_generation.py"


rule evaluate_per_pathology:
    input:
        real="results/evaluation/features/real.npz",
        fake="results/evaluation/features/generated-{model}.npz",
        split=W.GENERATION_SPLIT,
    output:
        "results/evaluation/per_pathology/{model}.json",
    log:
        "results/logs/evaluate_per_pathology/{model}.log",
    benchmark:
        "results/benchmarks/evaluate_per_pathology/{model}.tsv"
    params:
        **config_params(config, min_samples="evaluation.min_pathology_samples"),
    resources:
        **W.resources(config, "cpu"),
    conda:
        "../envs/evaluation.yaml"
    script:
        "../workflow_scripts/evaluate_per_pathology.py"
