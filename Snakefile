# UniX pipeline. Targets: all, data (the full list is in README.md); release_tables (below).
#
# Layout: every output is results/<stage>/<what>/...; the rule that writes a file is found from its path:
#   results/data/synthetic/mimic-cxr-jpg/            make_demo_data (only when data.mimic_cxr_jpg is empty)
#   results/data/image_check.parquet                 check_images (every candidate image, checked once)
#   results/data/understanding/                      select_understanding_split
#   results/data/generation/                         select_generation_split
#   results/data/images/{size}/{shard}.parquet       prepare_images (one job per shard, all sizes)
#   results/cleaning/data_use.json                   check_data_use (the data-use decision of cleaning)
#   results/cleaning/shards/{shard}.*                clean_reports (one job per shard of the reports)
#   results/cleaning/{reports.parquet,accounting.csv,llm_calls.parquet}   gather_cleaned_reports
#   results/cleaning/label_drift.{csv,json}          audit_label_drift
#   results/model/release/                           release_model (the released checkpoint, weights.unix)
#   results/evaluation/reports/{model}.parquet       generate_reports (understanding test set)
#   results/evaluation/images/{model}/{shard}.parquet   generate_images (generation test set, one job per shard)
#   results/evaluation/features/{imageset}.npz       extract_features (real | generated-{model})
#   results/evaluation/{understanding,generation,per_pathology}/{model}.json   evaluate_<kind>
#   results/tables/table{2,3,4,5}.{csv,md}           make_table2 ... make_table5
#   results/tables/release/table{2,3,4}.{csv,md}     make_release_table (the release; never the trained tables)
#   results/figures/{name}.png                       plot_<name> (loss_curves, per_pathology_fd, ...)
# Every output has a provenance record beside it: <output>.prov.json (see unix/provenance).
#
# Models evaluated ({model}): unix, unix-256, unix-512 and ablation-<variant> come from the training stages;
# release is the released UniX checkpoint of config weights.unix. `snakemake release_tables` evaluates only
# release and writes Tables 2-4 with the paper's rows beside it to results/tables/release/ (a directory of
# their own, so they never collide with the trained-model tables results/tables/tableN.*); it schedules no
# training rule and no init_model, and stops at DAG time, naming weights.unix, when that key is empty.
# Table 2 uses UniX's test_data.json when evaluation.understanding_test_set is set, else our split (its
# test_set column says which).

from pathlib import Path

from snakemake.utils import min_version, validate

min_version("9.0")


configfile: "config.yaml"


# Our check first: it lists every bad key as a dotted path with the allowed keys; then Snakemake's.
from unix.config import validate_config

validate_config(config)
validate(config, "unix/schemas/config.schema.yaml")

# A real run (synthetic: false, e.g. config/paper.yaml) stops here, before any job is built or submitted,
# with one message listing every data path, weight and endpoint still to set.
from unix.real_run import check_real_run

check_real_run(config)

from unix import workflow as W


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
        list(T.table_outputs("table2").values()),


rule table3:
    input:
        list(T.table_outputs("table3").values()),


rule table4:
    input:
        list(T.table_outputs("table4").values()),


rule table5:
    input:
        list(T.table_outputs("table5").values()),


rule release_tables:
    input:
        lambda w: T.release_table_targets(config),


rule tables:
    input:
        T.table_targets(config),


rule figures:
    input:
        T.figure_targets(config),
