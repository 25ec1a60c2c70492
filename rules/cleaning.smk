# cleaning stage rules: report cleaning (unix.cleaning), scattered into shards and gathered.
# The cache (cleaning.cache_dir) is not an output: it outlives reruns, so a rerun of a shard sends only
# the requests whose answers are missing. A config edit reruns the shards, which then hit the cache.


rule check_data_use:
    output:
        decision="results/cleaning/data_use.json",
    log:
        "results/logs/check_data_use/check_data_use.log",
    params:
        **config_params(config, cleaning="cleaning"),
    resources:
        **W.resources(config, "cpu"),
    conda:
        "../envs/cleaning.yaml"
    script:
        "../workflow_scripts/check_data_use.py"


rule clean_reports:
    input:
        split=W.UNDERSTANDING_SPLIT,
        data_use=W.CLEANING_DATA_USE,
    output:
        table="results/cleaning/shards/{shard}.parquet",
        accounting="results/cleaning/shards/{shard}.accounting.csv",
        calls="results/cleaning/shards/{shard}.calls.parquet",
    log:
        "results/logs/clean_reports/{shard}.log",
    benchmark:
        "results/benchmarks/clean_reports/{shard}.tsv"
    params:
        **config_params(config, cleaning="cleaning", seed="seed"),
    resources:
        **W.resources(config, "cpu"),
    conda:
        "../envs/cleaning.yaml"
    script:
        "../workflow_scripts/clean_reports.py"


rule gather_cleaned_reports:
    input:
        tables=W.cleaning_shard_paths(config, "table"),
        accountings=W.cleaning_shard_paths(config, "accounting"),
        calls=W.cleaning_shard_paths(config, "calls"),
        data_use=W.CLEANING_DATA_USE,
    output:
        reports="results/cleaning/reports.parquet",
        accounting="results/cleaning/accounting.csv",
        calls="results/cleaning/llm_calls.parquet",
    log:
        "results/logs/gather_cleaned_reports/gather_cleaned_reports.log",
    benchmark:
        "results/benchmarks/gather_cleaned_reports/gather_cleaned_reports.tsv"
    resources:
        **W.resources(config, "cpu"),
    conda:
        "../envs/cleaning.yaml"
    script:
        "../workflow_scripts/gather_cleaned_reports.py"


rule audit_label_drift:
    input:
        reports=W.CLEANED_REPORTS,
    output:
        table="results/cleaning/label_drift.csv",
        summary="results/cleaning/label_drift.json",
    log:
        "results/logs/audit_label_drift/audit_label_drift.log",
    benchmark:
        "results/benchmarks/audit_label_drift/audit_label_drift.tsv"
    params:
        **config_params(
            config,
            labeler="cleaning.drift_labeler",
            chexbert="weights.chexbert",
            bert="weights.bert_base_uncased",
        ),
    resources:
        **W.resources(config, "cpu"),
    conda:
        # The evaluation env: drift_labeler chexbert needs torch and transformers (unix.labels.chexbert).
        "../envs/evaluation.yaml"
    script:
        "../workflow_scripts/audit_label_drift.py"
