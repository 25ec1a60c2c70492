# evaluation stage rules: the paper's protocol (unix/evaluation). Paths come from unix.evaluation.paths:
#   results/model/release/                              release_model          (weights.unix -> a model directory)
#   results/evaluation/reports/{model}.parquet          generate_reports       (infer)
#   results/evaluation/images/{model}/{shard}.parquet   generate_images        (infer, one job per shard)
#   results/evaluation/features/{imageset}.npz          extract_features       (infer; real | generated-{model})
#   results/evaluation/radgraph/{model}.json            evaluate_radgraph      (cpu; envs/radgraph.yaml)
#   results/evaluation/alignment/{model}.json           evaluate_alignment     (cpu; envs/alignment.yaml)
#   results/evaluation/understanding/{model}.json       evaluate_understanding (cpu)
#   results/evaluation/generation/{model}.json          evaluate_generation    (cpu)
#   results/evaluation/per_pathology/{model}.json       evaluate_per_pathology (cpu)
# Models: unix (stage 1), unix-256 (stage 2), unix-512 (stage 3), ablation-<variant> (Table 5), init (the
# untrained initial model, Table 3's control row), unix-blank (stage 1 trained and evaluated on black images,
# Table 2's text-only control), and
# release (the released checkpoint of weights.unix; no training rule runs for it).
# generate_reports reads UniX's test_data.json when evaluation.understanding_test_set is set (its items, prompts
# and references, images from the MIMIC-CXR-JPG tree), else our understanding split.
from unix.evaluation import paths as EP
from unix.model.settings import model_overrides, report_kwargs, sampling_kwargs

EV = config["evaluation"]


wildcard_constraints:
    model=r"unix|unix-256|unix-512|unix-blank|init|release|ablation-[A-Za-z0-9_.]+",
    shard=r"\d{3}",
    imageset=r"real|generated-[A-Za-z0-9_.-]+",


rule release_model:
    input:
        unpack(lambda w: EP.release_model_inputs(config)),
    output:
        model=directory(EP.RELEASE_MODEL),
    log:
        "results/logs/release_model/release_model.log",
    params:
        size=config["model"]["size"],
        overrides=model_overrides(config["model"]),
        weights=EP.release_weights(config),
        seed=config["seed"],
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
        EP.reports("{model}"),
    log:
        "results/logs/generate_reports/{model}.log",
    benchmark:
        "results/benchmarks/generate_reports/{model}.tsv"
    params:
        prompt=EV["report_prompt"],
        test_data=EP.understanding_test_data(config),
        images_root=str(W.mimic_root(config)),
        batch_size=EV["report_batch_size"],
        device=EV["device"],
        dtype=EV["inference"]["dtype"],
        compile=EV["inference"]["compile"],
        limit=lambda w: EP.sample_limit(config, w.model),
        blank_images=lambda w: EP.blank_images(w.model),
        generation=report_kwargs(config["model"]),
        seed=config["seed"],
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
        EP.image_shard("{model}", "{shard}"),
    log:
        "results/logs/generate_images/{model}/{shard}.log",
    benchmark:
        "results/benchmarks/generate_images/{model}/{shard}.tsv"
    params:
        shard=lambda w: int(w.shard),
        n_shards=EV["image_shards"],
        image_size=lambda w: EP.generation_size(config, w.model),
        sampling={k: v for k, v in sampling_kwargs(config["model"]).items() if k != "image_size"},
        batch_size=EV["image_batch_size"],
        device=EV["device"],
        dtype=EV["inference"]["dtype"],
        compile=EV["inference"]["compile"],
        limit=lambda w: EP.sample_limit(config, w.model),
        seed=config["seed"],
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
        EP.features("{imageset}"),
    log:
        "results/logs/extract_features/{imageset}.log",
    benchmark:
        "results/benchmarks/extract_features/{imageset}.tsv"
    params:
        images_root=str(W.mimic_root(config)),
        batch_size=EV["feature_batch_size"],
        device=EV["device"],
    resources:
        **W.resources(config, "infer"),
    conda:
        "../envs/evaluation.yaml"
    script:
        "../workflow_scripts/extract_features.py"


rule evaluate_radgraph:
    input:
        reports=EP.reports("{model}"),
    output:
        EP.metrics("radgraph", "{model}"),
    log:
        "results/logs/evaluate_radgraph/{model}.log",
    benchmark:
        "results/benchmarks/evaluate_radgraph/{model}.tsv"
    params:
        radgraph=W.weight_path(config, "radgraph"),
    resources:
        **W.resources(config, "cpu"),
    conda:
        "../envs/radgraph.yaml"
    script:
        "../workflow_scripts/evaluate_radgraph.py"


rule evaluate_alignment:
    input:
        images=lambda w: EP.image_shards(config, w.model),
    output:
        EP.metrics("alignment", "{model}"),
    log:
        "results/logs/evaluate_alignment/{model}.log",
    benchmark:
        "results/benchmarks/evaluate_alignment/{model}.tsv"
    params:
        biovil_t=W.weight_path(config, "biovil_t"),
        device=EV["device"],
    resources:
        **W.resources(config, "cpu"),
    conda:
        "../envs/alignment.yaml"
    script:
        "../workflow_scripts/evaluate_alignment.py"


rule evaluate_understanding:
    input:
        reports=EP.reports("{model}"),
        radgraph=EP.metrics("radgraph", "{model}"),
    output:
        EP.metrics("understanding", "{model}"),
    log:
        "results/logs/evaluate_understanding/{model}.log",
    benchmark:
        "results/benchmarks/evaluate_understanding/{model}.tsv"
    params:
        labeler=EV["labeler"],
        chexbert=W.weight_path(config, "chexbert"),
        bert_base_uncased=W.weight_path(config, "bert_base_uncased"),
        device=EV["device"],
        rouge_bootstrap=EV["rouge_bootstrap"],
        seed=config["seed"],
    resources:
        **W.resources(config, "cpu"),
    conda:
        "../envs/evaluation.yaml"
    script:
        "../workflow_scripts/evaluate_understanding.py"


rule evaluate_generation:
    input:
        real=EP.features(EP.REAL),
        fake=EP.generated_features("{model}"),
        alignment=EP.metrics("alignment", "{model}"),
    output:
        EP.metrics("generation", "{model}"),
    log:
        "results/logs/evaluate_generation/{model}.log",
    benchmark:
        "results/benchmarks/evaluate_generation/{model}.tsv"
    params:
        shards=EV["shards"],
        kd_subsets=EV["kd_subsets"],
        prdc_k=EV["prdc_k"],
        seed=config["seed"],
    resources:
        **W.resources(config, "cpu"),
    conda:
        "../envs/evaluation.yaml"
    script:
        "../workflow_scripts/evaluate_generation.py"


rule evaluate_per_pathology:
    input:
        real=EP.features(EP.REAL),
        fake=EP.generated_features("{model}"),
        split=W.GENERATION_SPLIT,
    output:
        EP.metrics("per_pathology", "{model}"),
    log:
        "results/logs/evaluate_per_pathology/{model}.log",
    benchmark:
        "results/benchmarks/evaluate_per_pathology/{model}.tsv"
    params:
        min_samples=EV["min_pathology_samples"],
    resources:
        **W.resources(config, "cpu"),
    conda:
        "../envs/evaluation.yaml"
    script:
        "../workflow_scripts/evaluate_per_pathology.py"
