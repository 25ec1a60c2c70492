# UniX pipeline. Targets: all, data, cleaning, evaluation, tables, figures, table2 .. table5, train_stage1 ..
# train_stage3 (the full list is in README.md); release_tables (below).
#
# Layout: every output is results/<stage>/<what>/...; each path below is written literally as the output of
# the rule named beside it (rules/*.smk), so grepping a path finds its rule. Wildcards: {shard} is "000".."NNN"
# (at least three digits); {size} one of data.images.sizes; {stage} stage1 | stage2 | stage3; {variant} a
# Table-5 ablation variant (gen_only, joint_mixed, joint_gen_only, joint_mixed_r<ratio>); {table} table2 ..
# table5; {release_table} table2 .. table4. Every wildcard constraint is in rules/common.smk.
#   results/data/synthetic/mimic-cxr-jpg/                 make_demo_data (only when data.mimic_cxr_jpg is empty)
#   results/data/synthetic/ground_truth.csv               make_demo_data (what the synthetic tree holds)
#   results/data/image_check.parquet                      check_images (every candidate image, checked once)
#   results/data/understanding/{split.parquet,accounting.csv}  select_understanding_split
#   results/data/generation/{split.parquet,accounting.csv}  select_generation_split
#   results/data/images/{size}/{shard}.parquet            prepare_images (one job per shard, all sizes)
#   results/cleaning/data_use.json                        check_data_use (the data-use decision of cleaning)
#   results/cleaning/shards/{shard}.parquet, {shard}.accounting.csv, {shard}.calls.parquet  clean_reports
#   results/cleaning/{reports.parquet,accounting.csv,llm_calls.parquet}  gather_cleaned_reports
#   results/cleaning/label_drift.{csv,json}               audit_label_drift
#   results/model/demo-weights/raddino/                   make_demo_weights (random stand-in; empty weights.raddino)
#   results/model/demo-weights/vae/, vae.summary.json     train_demo_vae (only for an empty weights.vae)
#   results/model/demo-weights/biovil_t/                  make_demo_biovil_t (stand-in; demo, empty weights.biovil_t)
#   results/model/demo-weights/radgraph/                  make_demo_radgraph (stand-in; demo, empty weights.radgraph)
#   results/model/init/                                   init_model (UniX weights + config.json + tokenizer)
#   results/model/release/                                release_model (the released checkpoint, weights.unix)
#   results/train/{stage}/{final/,log.csv,loss.png,summary.json}  train_stage (checkpoints/ beside them)
#   results/train/stage1_blank/{final/,log.csv,loss.png,summary.json}  train_stage1_blank (text-only control)
#   results/ablation/{variant}/{final/,log.csv,loss.png,summary.json}  train_ablation (checkpoints/ beside them)
#   results/evaluation/reports/{model}.parquet            generate_reports (understanding test set)
#   results/evaluation/images/{model}/{shard}.parquet     generate_images (generation test set, one job per shard)
#   results/evaluation/features/{imageset}.npz            extract_features ({imageset}: real | generated-{model})
#   results/evaluation/radgraph/{model}.json              evaluate_radgraph (envs/radgraph.yaml)
#   results/evaluation/alignment/{model}.json             evaluate_alignment (envs/alignment.yaml)
#   results/evaluation/understanding/{model}.json         evaluate_understanding
#   results/evaluation/generation/{model}.json            evaluate_generation
#   results/evaluation/per_pathology/{model}.json         evaluate_per_pathology
#   results/tables/{table}.{csv,md}                       make_table
#   results/tables/release/{release_table}.{csv,md}       make_release_table (the release; never the trained tables)
#   results/figures/{loss_curves,per_pathology_fd,report_examples,split_accounting,image_grid}.png  plot_<name>
# Every rule also writes results/logs/<rule>/... and most results/benchmarks/<rule>/... .
# Every output has a provenance record beside it: <output>.prov.json (see unix/provenance).
#
# Models ({model}): unix (results/train/stage1/final), unix-256 (stage2), unix-512 (stage3), unix-blank
# (results/train/stage1_blank/final, Table 2's text-only control on synthetic data),
# ablation-<variant> (results/ablation/<variant>/final), init (results/model/init, Table 3's untrained control
# row) and release (results/model/release, the released UniX checkpoint of config weights.unix). The tables
# evaluate understanding (reports, radgraph, understanding) for unix, release and ablation-<variant>, and
# generation (images, alignment, generation, per_pathology) for unix-256, unix-512, init, release and
# ablation-<variant>; generation needs a generation resolution, so it refuses unix (the Stage-1 model).
# `snakemake release_tables` evaluates only release and writes Tables 2-4 with the paper's rows beside it to
# results/tables/release/ (a directory of their own, so they never collide with the trained-model tables
# results/tables/tableN.*); it schedules no training rule and no init_model, and stops at DAG time, naming
# weights.unix, when that key is empty.
# Table 2 uses UniX's test_data.json when evaluation.understanding_test_set is set, else our split (its
# test_set column says which).

from snakemake.utils import min_version

min_version("9.0")


configfile: "config.yaml"


include: "rules/common.smk"
include: "rules/data.smk"
include: "rules/cleaning.smk"
include: "rules/model.smk"
include: "rules/training.smk"
include: "rules/evaluation.smk"
include: "rules/tables.smk"


onerror:
    # A job that failed for good at its SLURM time or memory limit: say which key of config `resources` raises it.
    from unix.job_limits import report

    report(log, config, Path(workflow.basedir) / "rules")


rule all:
    input:
        W.data_targets(config),
        W.cleaning_targets(config),
        T.table_targets(config),
        T.figure_targets(config),


rule data:
    input:
        W.data_targets(config),


rule cleaning:
    input:
        W.cleaning_targets(config),


rule evaluation:
    input:
        EP.targets(config),


rule table2:
    input:
        "results/tables/table2.csv",
        "results/tables/table2.md",


rule table3:
    input:
        "results/tables/table3.csv",
        "results/tables/table3.md",


rule table4:
    input:
        "results/tables/table4.csv",
        "results/tables/table4.md",


rule table5:
    input:
        "results/tables/table5.csv",
        "results/tables/table5.md",


rule train_stage1:
    input:
        "results/train/stage1/final",
        "results/train/stage1/log.csv",
        "results/train/stage1/loss.png",
        "results/train/stage1/summary.json",


rule train_stage2:
    input:
        "results/train/stage2/final",
        "results/train/stage2/log.csv",
        "results/train/stage2/loss.png",
        "results/train/stage2/summary.json",


rule train_stage3:
    input:
        "results/train/stage3/final",
        "results/train/stage3/log.csv",
        "results/train/stage3/loss.png",
        "results/train/stage3/summary.json",


rule release_tables:
    input:
        lambda w: T.release_table_targets(config),


rule tables:
    input:
        T.table_targets(config),


rule figures:
    input:
        T.figure_targets(config),
