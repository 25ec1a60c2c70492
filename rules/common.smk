# Shared by every rule file: the unix imports, the config checks, the helpers and every wildcard constraint.
# Outputs are written literally in the rules (the layout is listed at the top of the Snakefile); the modules
# imported here build inputs, target lists and derived params. Params that are config values are passed with
# `config_params(config, name="dotted.key")`, so each job's provenance record maps them back to their keys.

from pathlib import Path

from snakemake.utils import validate

from unix import workflow as W
from unix.config import validate_config
from unix.evaluation import paths as EP
from unix.model import paths as MP
from unix.model.settings import model_overrides, report_kwargs, sampling_kwargs
from unix.provenance import config_params
from unix.real_run import check_real_run
from unix.tables import targets as T
from unix.training import paths as TP
from unix.training.plan import check_stages_fit
from unix.training.recipes import STAGES, ablation_variants

# Our check first: it lists every bad key as a dotted path with the allowed keys; then Snakemake's.
validate_config(config)
validate(config, "../unix/schemas/config.schema.yaml")

# A real run (synthetic: false, e.g. config/paper.yaml) stops here, before any job is built or submitted,
# with one message listing every data path, weight and endpoint still to set. So `synthetic: false` always
# comes with a real MIMIC-CXR-JPG tree, and config `synthetic` is the one flag that marks tables and figures.
check_real_run(config)

# Refuse a training stage whose memory plan does not fit its GPU (`unix plan` shows the plan).
check_stages_fit(config)


# The report's subcategory of each table (rules/tables.smk).
TABLE_SUBCATEGORY = {
    "table2": "Table 2: understanding",
    "table3": "Table 3: generation",
    "table4": "Table 4: per-pathology FD",
    "table5": "Table 5: joint optimization ablation",
}


wildcard_constraints:
    # shard: "000".."NNN", at least three digits (data images, cleaning, generated images).
    shard=r"\d\d\d+",
    stage="|".join(STAGES),
    variant="|".join(ablation_variants(config)),
    model=r"unix|unix-256|unix-512|unix-blank|init|release|ablation-[A-Za-z0-9_.]+",
    imageset=r"real|generated-[A-Za-z0-9_.-]+",
    table="|".join(T.TABLE_KEYS),
    release_table="|".join(T.RELEASE_TABLE_KEYS),
