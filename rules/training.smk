# training stage rules: the three stages of the paper (section 3.4) and the Table-5 ablation (5.2).
# Each stage starts from the previous stage's final weights (Stage 2: see training.generation_init). Checkpoints under <run>/checkpoints/ are not
# declared outputs, so the retry of a failed or timed-out job resumes from them (unix/training/paths.py).
# Resources: the train family with each stage's own `resources.stages.<stage>` values; `attempt` makes the log
# keep every attempt, one header each (unix.pipeline.run_step).
from unix.training import paths as TP
from unix.training.recipes import ablation_variants
from unix.training.plan import check_stages_fit

check_stages_fit(config)  # refuse a stage whose memory plan does not fit its GPU (`unix plan` shows the plan)


rule train_stage1:
    input:
        unpack(lambda w: TP.data_inputs(config, "stage1")),
        init=TP.init_model("stage1"),
    output:
        **TP.rule_outputs("stage1"),
    log:
        "results/logs/train_stage1/train_stage1.log",
    benchmark:
        "results/benchmarks/train_stage1/train_stage1.tsv"
    params:
        **TP.rule_params(config, "stage1"),
    resources:
        **W.resources(config, "train", "stage1"),
        attempt=W.attempt,
    conda:
        "../envs/model.yaml"
    script:
        "../workflow_scripts/train_stage.py"


rule train_stage1_blank:  # Table 2's text-only control: stage 1 on black images (synthetic data only)
    input:
        unpack(lambda w: TP.data_inputs(config, "stage1_blank")),
        init=TP.init_model("stage1_blank"),
    output:
        **TP.rule_outputs("stage1_blank"),
    log:
        "results/logs/train_stage1_blank/train_stage1_blank.log",
    benchmark:
        "results/benchmarks/train_stage1_blank/train_stage1_blank.tsv"
    params:
        **TP.rule_params(config, "stage1_blank"),
    resources:
        **W.resources(config, "train", "stage1"),
        attempt=W.attempt,
    conda:
        "../envs/model.yaml"
    script:
        "../workflow_scripts/train_stage.py"


rule train_stage2:
    input:
        unpack(lambda w: TP.data_inputs(config, "stage2")),
        init=TP.init_model("stage2", config),
    output:
        **TP.rule_outputs("stage2"),
    log:
        "results/logs/train_stage2/train_stage2.log",
    benchmark:
        "results/benchmarks/train_stage2/train_stage2.tsv"
    params:
        **TP.rule_params(config, "stage2"),
    resources:
        **W.resources(config, "train", "stage2"),
        attempt=W.attempt,
    conda:
        "../envs/model.yaml"
    script:
        "../workflow_scripts/train_stage.py"


rule train_stage3:
    input:
        unpack(lambda w: TP.data_inputs(config, "stage3")),
        init=TP.init_model("stage3"),
    output:
        **TP.rule_outputs("stage3"),
    log:
        "results/logs/train_stage3/train_stage3.log",
    benchmark:
        "results/benchmarks/train_stage3/train_stage3.tsv"
    params:
        **TP.rule_params(config, "stage3"),
    resources:
        **W.resources(config, "train", "stage3"),
        attempt=W.attempt,
    conda:
        "../envs/model.yaml"
    script:
        "../workflow_scripts/train_stage.py"


rule train_ablation:
    input:
        unpack(lambda w: TP.data_inputs(config, w.variant)),
        init=TP.init_model("gen_only"),
    output:
        **TP.rule_outputs("{variant}"),
    log:
        "results/logs/train_ablation/{variant}.log",
    benchmark:
        "results/benchmarks/train_ablation/{variant}.tsv"
    wildcard_constraints:
        variant="|".join(ablation_variants(config)),
    params:
        recipe=lambda w: TP.rule_params(config, w.variant)["recipe"],
        checkpoints=lambda w: TP.checkpoint_dir(w.variant),
        accelerate_config=config["training"]["accelerate_config"],
        seed=config["seed"],
    resources:
        **W.resources(config, "train", "ablation"),
        attempt=W.attempt,
    conda:
        "../envs/model.yaml"
    script:
        "../workflow_scripts/train_stage.py"
