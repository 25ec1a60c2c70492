# UniX pipeline. Targets: all, data (the full list is in README.md).
#
# Layout: every output is results/<stage>/<what>/...; the rule that writes a file is found from its path:
#   results/data/synthetic/mimic-cxr-jpg/            make_demo_data (only when data.mimic_cxr_jpg is empty)
#   results/data/understanding/                      select_understanding_split
#   results/data/generation/                         select_generation_split
#   results/data/images/                             prepare_images
# Every output has a provenance record beside it: <output>.prov.json (see unix/provenance).

from snakemake.utils import min_version, validate

min_version("9.0")


configfile: "config.yaml"


# Our check first: it lists every bad key as a dotted path with the allowed keys; then Snakemake's.
from unix.config import validate_config

validate_config(config)
validate(config, "unix/schemas/config.schema.yaml")

from unix import workflow as W


include: "rules/data.smk"
include: "rules/cleaning.smk"
include: "rules/model.smk"
include: "rules/training.smk"
include: "rules/evaluation.smk"
include: "rules/tables.smk"


rule all:
    input:
        rules.data.input,


rule data:
    input:
        W.mimic_file(config, W.METADATA_CSV),
