"""Paths, target lists and resources for the Snakemake rules, so that `.smk` files stay declarative.

Every file the workflow writes lies under `results/<stage>/<what>/...`; the layout is listed at the top
of the Snakefile and each rule writes its outputs there literally. The constants here name the same paths
for the inputs of later rules and for the targets. In the import order this module sits above `unix.data` and
`unix.cleaning` (it uses their file and shard names) and below the paths modules of model, training,
evaluation and tables, which build on it (tests/test_imports.py).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from unix.data.mimic import CHEXPERT_CSV, METADATA_CSV, NEGBIO_CSV, SPLIT_CSV  # noqa: F401  (re-exported for rules)
from unix.data.shards import shard_names
from unix.stages import ABLATION, STAGES

RESULTS = Path("results")
SYNTHETIC_ROOT = RESULTS / "data" / "synthetic" / "mimic-cxr-jpg"
# What the synthetic tree holds, row by row (format: unix.data.synthetic); outside the tree on purpose.
SYNTHETIC_GROUND_TRUTH = RESULTS / "data" / "synthetic" / "ground_truth.csv"


def uses_synthetic(config: dict[str, Any]) -> bool:
    """True when no MIMIC-CXR-JPG root is configured and the demo tree is generated instead."""
    return not config["data"]["mimic_cxr_jpg"]


def mimic_root(config: dict[str, Any]) -> Path:
    """Root of MIMIC-CXR-JPG: the configured one, or the synthetic tree."""
    return Path(config["data"]["mimic_cxr_jpg"]) if not uses_synthetic(config) else SYNTHETIC_ROOT


def mimic_file(config: dict[str, Any], name: str) -> str:
    """Path of one of the MIMIC-CXR-JPG metadata CSVs."""
    return str(mimic_root(config) / name)


# Data stage outputs (the contracts are in README.md, "Data").
UNDERSTANDING_SPLIT = str(RESULTS / "data" / "understanding" / "split.parquet")
UNDERSTANDING_ACCOUNTING = str(RESULTS / "data" / "understanding" / "accounting.csv")
GENERATION_SPLIT = str(RESULTS / "data" / "generation" / "split.parquet")
GENERATION_ACCOUNTING = str(RESULTS / "data" / "generation" / "accounting.csv")
IMAGE_CHECK = str(RESULTS / "data" / "image_check.parquet")  # every candidate image checked once, for both splits
IMAGES_DIR = RESULTS / "data" / "images"


def root_of(csv_path: str) -> str:
    """The MIMIC-CXR-JPG root holding one of its metadata CSVs (images lie under it, in files/)."""
    return str(Path(csv_path).parent)


def reports_root_of(config: dict[str, Any], csv_path: str) -> str:
    """The reports root: config data.mimic_cxr_reports, else the MIMIC-CXR-JPG root of `csv_path`."""
    return config["data"]["mimic_cxr_reports"] or root_of(csv_path)


def split_inputs(config: dict[str, Any]) -> dict[str, str]:
    """Inputs of the split selection rules: the three MIMIC-CXR-JPG metadata CSVs (never the images)."""
    return {
        "split": mimic_file(config, SPLIT_CSV),
        "metadata": mimic_file(config, METADATA_CSV),
        "chexpert": mimic_file(config, CHEXPERT_CSV),
    }


def generation_inputs(config: dict[str, Any]) -> dict[str, str]:
    """`split_inputs` plus the LLaVA-Rad annotation CSVs when both are configured."""
    llava = config["data"]["llava_rad_annotations"]
    extra = {f"llava_rad_{k}": llava[k] for k in ("train", "test")} if llava["train"] and llava["test"] else {}
    return {**split_inputs(config), **extra}


def image_shards(config: dict[str, Any]) -> list[str]:
    """Shard names "000".."NNN" of the prepared images (config data.images.shards)."""
    return shard_names(int(config["data"]["images"]["shards"]), "data.images.shards")


def image_shard_pattern(size: int | str, shard: str = "{shard}") -> str:
    """results/data/images/{size}/{shard}.parquet."""
    return str(IMAGES_DIR / str(size) / f"{shard}.parquet")


def image_shard_paths(config: dict[str, Any], size: int | None = None) -> list[str]:
    """Every prepared-image shard (of one size, or of all sizes)."""
    sizes = [size] if size is not None else config["data"]["images"]["sizes"]
    return [image_shard_pattern(s, shard) for s in sizes for shard in image_shards(config)]


def data_targets(config: dict[str, Any]) -> list[str]:
    """Everything the `data` target builds: split tables, accountings and all image shards."""
    return [UNDERSTANDING_SPLIT, UNDERSTANDING_ACCOUNTING, GENERATION_SPLIT, GENERATION_ACCOUNTING,
            *image_shard_paths(config)]


DEMO_WEIGHTS = RESULTS / "model" / "demo-weights"


def weight_path(config: dict[str, Any], name: str) -> str:
    """Local path of pretrained weights `name` (a key of config `weights`).

    An empty config value means: for `raddino` and `vae`, the tiny random model the demo writes under
    results/model/demo-weights/<name>; for `biovil_t` and `radgraph` on synthetic data (the demo), the random
    stand-in in the published layout written there (`unix.evaluation.demo_weights`); for the others, and for
    those two on real data, "" (the caller reports "not computed"; `unix.real_run` requires them).
    """
    if name not in config["weights"]:
        raise KeyError(f"unknown weights name {name!r}; known: {sorted(config['weights'])}")
    configured = config["weights"][name]
    if configured:
        return configured
    if name in ("raddino", "vae"):
        return str(DEMO_WEIGHTS / name)
    return metric_demo_weights(config).get(name, "")


METRIC_DEMO_WEIGHTS = ("biovil_t", "radgraph")
"""Weights of the metrics with their own environment, which the demo replaces by random stand-ins."""


def metric_demo_weights(config: dict[str, Any]) -> dict[str, str]:
    """{name: directory} of the metric stand-ins the demo writes (synthetic data, empty weights.<name>)."""
    if not uses_synthetic(config):
        return {}
    return {name: str(DEMO_WEIGHTS / name) for name in METRIC_DEMO_WEIGHTS if not config["weights"][name]}


# Rule families, each with its own cluster resources in config `resources.families`.
RESOURCE_FAMILIES = ("cpu", "train", "infer")
# Training jobs that may override the train family's resources (config `resources.stages.<name>`).
TRAINING_STAGES = (*STAGES, ABLATION)


def attempt(wildcards: Any, attempt: int) -> int:
    """Resource `attempt=W.attempt` of a rule: Snakemake's attempt number (1, 2, ... on retries), which
    `unix.pipeline.run_step` writes as a header into the rule's log, keeping earlier attempts' lines."""
    return attempt


def family_spec(config: dict[str, Any], family: str, stage: str | None = None) -> tuple[dict[str, Any], dict[str, str]]:
    """The resource values of `family` (for the train family: with `resources.stages.<stage>` on top), and
    for each value the config key it comes from (what to edit to change it)."""
    section = config["resources"]
    if family not in section["families"]:
        raise ValueError(
            f"unknown resource family {family!r}; config resources.families has {sorted(section['families'])}. "
            f"Use one of {', '.join(RESOURCE_FAMILIES)} in the rule's `resources: **W.resources(config, ...)`."
        )
    spec = dict(section["families"][family])
    keys = {k: f"resources.families.{family}.{k}" for k in spec}
    if stage is not None:
        if family != "train" or stage not in TRAINING_STAGES:
            raise ValueError(f"resources for stage {stage!r} of family {family!r}: per-stage resources exist for "
                             f"the train family and stages {', '.join(TRAINING_STAGES)} (config resources.stages)")
        override = (section.get("stages") or {}).get(stage) or {}
        spec.update(override)
        keys.update({k: f"resources.stages.{stage}.{k}" for k in override})
    return spec, keys


def resources(config: dict[str, Any], family: str, stage: str | None = None) -> dict[str, str | int]:
    """Snakemake `resources:` of a rule of `family` (cpu | train | infer), from config `resources`; a training
    rule names its `stage` (stage1 | stage2 | stage3 | ablation), whose `resources.stages.<stage>` values
    (runtime, gpus, mem_mb, ...) replace the train family's.

    The keys are those of snakemake-executor-plugin-slurm: `slurm_partition`, `slurm_account`,
    `runtime` (minutes), `mem_mb`, `cpus_per_task`, and for GPU families either `gres`
    ("gpu:<model>:<count>", the default) or `gpu` + `gpu_model` (sbatch --gpus), plus `nodes`,
    `constraint` and `slurm_extra` when set. Rules write `resources: **W.resources(config, "cpu")` or
    `**W.resources(config, "train", "stage1")`.
    The local executor ignores partitions and GPU requests, so the same rules run on a workstation.

    A `stage` written as a wildcard, ``"{stage}"``, takes the stage from each job's wildcards (the one training
    rule, `train_stage`): every resource is then a function of the wildcards.
    """
    if stage is not None and stage.startswith("{") and stage.endswith("}"):
        name = stage[1:-1]
        keys = {k for s in TRAINING_STAGES for k in resources(config, family, s)}
        return {k: (lambda wildcards, k=k: resources(config, family, wildcards[name]).get(k)) for k in sorted(keys)}
    section = config["resources"]
    spec, _ = family_spec(config, family, stage)
    gpus, model = spec["gpus"], spec["gpu_model"]
    partition_key = model if gpus > 0 and model else ("gpu" if gpus > 0 else "cpu")
    partition = spec["partition"] or section["partitions"].get(partition_key, "")
    if not partition:
        where = f"resources.stages.{stage}" if stage else f"resources.families.{family}"
        raise ValueError(
            f"config {where}: no partition for {partition_key!r}; set "
            f"{where}.partition or add `{partition_key}: <partition>` to resources.partitions."
        )
    out: dict[str, str | int] = {
        "slurm_partition": partition,
        "runtime": spec["runtime"],
        "mem_mb": spec["mem_mb"],
        "cpus_per_task": spec["cpus"],
    }
    if section["account"]:
        out["slurm_account"] = section["account"]
    if gpus > 0:
        if section["gpu_request"] == "gpus":
            out["gpu"] = gpus
            if model:
                out["gpu_model"] = model
        else:
            out["gres"] = f"gpu:{model}:{gpus}" if model else f"gpu:{gpus}"
    if spec["nodes"] > 1:
        out["nodes"] = spec["nodes"]
    if spec["constraint"]:
        out["constraint"] = spec["constraint"]
    if spec["slurm_extra"]:
        out["slurm_extra"] = spec["slurm_extra"]
    return out


# Cleaning stage outputs (unix.cleaning.stage; the contract of reports.parquet is in README.md).
CLEANING_DIR = RESULTS / "cleaning"
CLEANED_REPORTS = str(CLEANING_DIR / "reports.parquet")
CLEANING_ACCOUNTING = str(CLEANING_DIR / "accounting.csv")
CLEANING_CALLS = str(CLEANING_DIR / "llm_calls.parquet")
CLEANING_DATA_USE = str(CLEANING_DIR / "data_use.json")
LABEL_DRIFT = str(CLEANING_DIR / "label_drift.csv")
LABEL_DRIFT_SUMMARY = str(CLEANING_DIR / "label_drift.json")
_CLEANING_SHARD_SUFFIX = {"table": ".parquet", "accounting": ".accounting.csv", "calls": ".calls.parquet"}


def cleaning_shard_pattern(kind: str, shard: str = "{shard}") -> str:
    """results/cleaning/shards/{shard}<suffix> for kind table | accounting | calls."""
    return str(CLEANING_DIR / "shards" / f"{shard}{_CLEANING_SHARD_SUFFIX[kind]}")


def cleaning_shard_paths(config: dict[str, Any], kind: str) -> list[str]:
    """The `kind` file of every cleaning shard (config cleaning.shards)."""
    names = shard_names(int(config["cleaning"]["shards"]), "cleaning.shards")
    return [cleaning_shard_pattern(kind, s) for s in names]


def cleaning_targets(config: dict[str, Any]) -> list[str]:
    """Everything the `cleaning` target builds: cleaned reports, accounting, LLM calls, label-drift audit."""
    return [CLEANED_REPORTS, CLEANING_ACCOUNTING, CLEANING_CALLS, LABEL_DRIFT, LABEL_DRIFT_SUMMARY]
