# training stage rules: the three stages of the paper (section 3.4) and the Table-5 ablation (5.2).
# Each stage starts from the previous stage's final weights (Stage 2: see training.generation_init); the
# ablation variants start from Stage 2's. Checkpoints under <run>/checkpoints/ are not declared outputs, so the
# retry of a failed or timed-out job resumes from them (unix/training/paths.py).
# Resources: the train family with each stage's own `resources.stages.<stage>` values; `attempt` makes the log
# keep every attempt, one header each (unix.pipeline.run_step).
# params: the recipe (every hyper-parameter, derived from the stage's config section, so a config edit reruns
# exactly the affected stage) and, for provenance, the config sections it is built from.


# results/train/stage1/, results/train/stage2/, results/train/stage3/: one job of this rule each.
rule train_stage:
    input:
        unpack(lambda w: TP.data_inputs(config, w.stage)),
        init=lambda w: TP.init_model(w.stage, config),
    output:
        final=directory("results/train/{stage}/final"),
        log_csv="results/train/{stage}/log.csv",
        loss_png="results/train/{stage}/loss.png",
        summary="results/train/{stage}/summary.json",
    log:
        "results/logs/train_{stage}/train_{stage}.log",
    benchmark:
        "results/benchmarks/train_{stage}/train_{stage}.tsv"
    params:
        **config_params(
            config,
            stage_settings="training.{stage}",
            accelerate_config="training.accelerate_config",
            seed="seed",
        ),
        recipe=lambda w: TP.rule_params(config, w.stage)["recipe"],
        checkpoints="results/train/{stage}/checkpoints",
    resources:
        **W.resources(config, "train", "{stage}"),
        attempt=W.attempt,
    conda:
        "../envs/model.yaml"
    script:
        "../workflow_scripts/train_stage.py"


# Table 2's text-only control: Stage 1's recipe trained on black images (synthetic data only; model unix-blank).
rule train_stage1_blank:
    input:
        unpack(lambda w: TP.data_inputs(config, "stage1_blank")),
        init=lambda w: TP.init_model("stage1_blank", config),
    output:
        final=directory("results/train/stage1_blank/final"),
        log_csv="results/train/stage1_blank/log.csv",
        loss_png="results/train/stage1_blank/loss.png",
        summary="results/train/stage1_blank/summary.json",
    log:
        "results/logs/train_stage1_blank/train_stage1_blank.log",
    benchmark:
        "results/benchmarks/train_stage1_blank/train_stage1_blank.tsv"
    params:
        **config_params(
            config,
            stage_settings="training.stage1",
            accelerate_config="training.accelerate_config",
            seed="seed",
        ),
        recipe=lambda w: TP.rule_params(config, "stage1_blank")["recipe"],
        checkpoints="results/train/stage1_blank/checkpoints",
    resources:
        **W.resources(config, "train", "stage1"),
        attempt=W.attempt,
    conda:
        "../envs/model.yaml"
    script:
        "../workflow_scripts/train_stage.py"


rule train_ablation:
    input:
        unpack(lambda w: TP.data_inputs(config, w.variant)),
        init="results/train/stage2/final",
    output:
        final=directory("results/ablation/{variant}/final"),
        log_csv="results/ablation/{variant}/log.csv",
        loss_png="results/ablation/{variant}/loss.png",
        summary="results/ablation/{variant}/summary.json",
    log:
        "results/logs/train_ablation/{variant}.log",
    benchmark:
        "results/benchmarks/train_ablation/{variant}.tsv"
    params:
        **config_params(
            config,
            stage2="training.stage2",
            ablation="training.ablation",
            accelerate_config="training.accelerate_config",
            seed="seed",
        ),
        recipe=lambda w: TP.rule_params(config, w.variant)["recipe"],
        checkpoints="results/ablation/{variant}/checkpoints",
    resources:
        **W.resources(config, "train", "ablation"),
        attempt=W.attempt,
    conda:
        "../envs/model.yaml"
    script:
        "../workflow_scripts/train_stage.py"
