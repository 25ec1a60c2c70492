"""Paths of the tables and figures, and of the results each one is built from (for rules/tables.smk).

Each table names only the metrics files it shows, so `snakemake table3` builds the generation
evaluations and whatever they need, and nothing else.
"""

from __future__ import annotations

from typing import Any

from unix import stages as S
from unix.workflow import RESULTS, uses_synthetic

TABLES_DIR = RESULTS / "tables"
FIGURES_DIR = RESULTS / "figures"

TABLE_KEYS = ("table2", "table3", "table4", "table5")
FIGURES = ("loss_curves", "per_pathology_fd", "report_examples", "split_accounting", "image_grid")


def table_outputs(key: str) -> dict[str, str]:
    """{"csv": results/tables/<key>.csv, "md": results/tables/<key>.md}."""
    return {"csv": str(TABLES_DIR / f"{key}.csv"), "md": str(TABLES_DIR / f"{key}.md")}


def figure_path(name: str) -> str:
    """results/figures/<name>.png."""
    return str(FIGURES_DIR / f"{name}.png")


def metrics_path(kind: str, model: str) -> str:
    """results/evaluation/<kind>/<model>.json (kind: understanding | generation | per_pathology)."""
    from unix.evaluation.paths import metrics

    return metrics(kind, model)


# Models of each table, as the evaluation names them, and the published row each compares with.
UNDERSTANDING_MODELS = {S.STAGE_MODELS["stage1"]: "UniX"}
GENERATION_MODELS = {S.STAGE_MODELS["stage2"]: "UniX-256", S.STAGE_MODELS["stage3"]: "UniX-512"}
# Control rows: the same evaluation of a model that cannot have learned the task, so a table shows whether
# training did. Table 3: the initial model (untrained generation branch, images from the same seeds); only on
# synthetic data (the demo), where it is cheap, since on MIMIC-CXR it would generate the whole test set once more.
INIT_CONTROL_ROW = "control: init (untrained)"
# Table 2: Stage 1 trained and evaluated on black images (model unix-blank), the text-only control whose F1 on
# the findings drawn into the synthetic images the image-reading model must beat; synthetic data only, likewise.
BLANK_CONTROL_ROW = "control: unix-blank (blank images)"


def ablation_variants(config: dict[str, Any]) -> list[str]:
    """Table-5 variants (from the training recipes: gen_only, joint_mixed, joint_gen_only, ...)."""
    from unix.training.recipes import ablation_variants as variants

    return variants(config)


def ablation_model(variant: str) -> str:
    """Model name of an ablation variant in the evaluation paths."""
    return f"{S.ABLATION_PREFIX}{variant}"


def _generation_size(config: dict[str, Any], model: str) -> int | None:
    from unix.evaluation.paths import generation_size

    try:
        return generation_size(config, model)
    except (KeyError, ValueError):
        return None


def table_rows(config: dict[str, Any], key: str) -> dict[str, dict[str, Any]]:
    """{measured row name: {"paths": [metrics files], "reference": published row, "resolution": px}}."""
    if key == "table2":
        rows = {f"ours: {m}": {"paths": [metrics_path("understanding", m)], "reference": ref}
                for m, ref in UNDERSTANDING_MODELS.items()}
        if uses_synthetic(config):
            rows[BLANK_CONTROL_ROW] = {"paths": [metrics_path("understanding", "unix-blank")], "reference": "UniX"}
        return rows
    if key in ("table3", "table4"):
        kind = "generation" if key == "table3" else "per_pathology"
        rows = {f"ours: {m}": {"paths": [metrics_path(kind, m)], "reference": ref,
                               "resolution": _generation_size(config, m)}
                for m, ref in GENERATION_MODELS.items()}
        if key == "table3" and uses_synthetic(config):  # the control costs a second test set on real data
            rows[INIT_CONTROL_ROW] = {"paths": [metrics_path(kind, S.INIT)], "reference": "UniX-256",
                                      "resolution": _generation_size(config, S.INIT)}
        return rows
    if key == "table5":
        return {
            f"ours: {v}": {"paths": [metrics_path("understanding", ablation_model(v)),
                                     metrics_path("generation", ablation_model(v))]}
            for v in ablation_variants(config)
        }
    raise KeyError(f"unknown table {key!r}; known: {', '.join(TABLE_KEYS)}")


def table_inputs(config: dict[str, Any], key: str) -> list[str]:
    """Every metrics file of one table, flat and without repeats."""
    return list(dict.fromkeys(p for spec in table_rows(config, key).values() for p in spec["paths"]))


# The release tables: the released checkpoint (weights.unix) evaluated as model `release`, beside the paper's
# rows, in their own directory so they never overwrite the trained-model tables of the same name.
RELEASE_TABLE_KEYS = ("table2", "table3", "table4")
RELEASE_TABLES_DIR = TABLES_DIR / "release"
RELEASE_REFERENCE = {"table2": "UniX", "table3": "UniX-512", "table4": "UniX-512"}


def release_table_outputs(key: str) -> dict[str, str]:
    """{"csv": results/tables/release/<key>.csv, "md": results/tables/release/<key>.md}."""
    if key not in RELEASE_TABLE_KEYS:
        raise KeyError(f"no release table {key!r}; release tables: {', '.join(RELEASE_TABLE_KEYS)}")
    return {"csv": str(RELEASE_TABLES_DIR / f"{key}.csv"), "md": str(RELEASE_TABLES_DIR / f"{key}.md")}


def release_table_rows(config: dict[str, Any], key: str) -> dict[str, dict[str, Any]]:
    """The one measured row of a release table: "ours: release", compared with UniX / UniX-512."""
    kind = {"table2": "understanding", "table3": "generation", "table4": "per_pathology"}[key]
    spec: dict[str, Any] = {"paths": [metrics_path(kind, S.RELEASE)], "reference": RELEASE_REFERENCE[key]}
    if key != "table2":
        spec["resolution"] = _generation_size(config, S.RELEASE)
    return {f"ours: {S.RELEASE}": spec}


def release_table_inputs(config: dict[str, Any], key: str) -> list[str]:
    return [p for spec in release_table_rows(config, key).values() for p in spec["paths"]]


def release_table_targets(config: dict[str, Any]) -> list[str]:
    """Tables 2-4 of the release; an error naming weights.unix when it is not configured (at DAG time:
    call this from an input function, never at parse time)."""
    from unix.evaluation.release import check_release_weights

    check_release_weights(config["weights"]["unix"])
    return [p for key in RELEASE_TABLE_KEYS for p in release_table_outputs(key).values()]


def training_logs(config: dict[str, Any]) -> dict[str, str]:
    """{stage: results/train/<stage>/log.csv} of the three stages."""
    from unix.training.paths import outputs

    return {s: outputs(s)["log_csv"] for s in S.STAGES}


def image_grid_inputs(config: dict[str, Any]) -> dict[str, Any]:
    """The stage-3 model, the generation split and the prepared real images at stage 3's source size."""
    from unix import workflow as W
    from unix.stages import stage_source_size
    from unix.training.paths import outputs

    return {"model": outputs("stage3")["final"], "split": W.GENERATION_SPLIT,
            "images": W.image_shard_paths(config, stage_source_size(config, "stage3"))}


def table_targets(config: dict[str, Any]) -> list[str]:
    """The four tables (csv and md)."""
    return [p for key in TABLE_KEYS for p in table_outputs(key).values()]


def figure_targets(config: dict[str, Any]) -> list[str]:
    """Every figure of the report."""
    return [figure_path(name) for name in FIGURES]
