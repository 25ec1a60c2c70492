"""Paths and target lists for the Snakemake rules, so that `.smk` files stay declarative.

Every file the workflow writes lies under `results/<stage>/<what>/...`; the layout is documented at
the top of the Snakefile and built here.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from unix.data.mimic import CHEXPERT_CSV, METADATA_CSV, SPLIT_CSV  # noqa: F401  (re-exported for rules)

RESULTS = Path("results")
SYNTHETIC_ROOT = RESULTS / "data" / "synthetic" / "mimic-cxr-jpg"


def uses_synthetic(config: dict[str, Any]) -> bool:
    """True when no MIMIC-CXR-JPG root is configured and the demo tree is generated instead."""
    return not config["data"]["mimic_cxr_jpg"]


def mimic_root(config: dict[str, Any]) -> Path:
    """Root of MIMIC-CXR-JPG: the configured one, or the synthetic tree."""
    return Path(config["data"]["mimic_cxr_jpg"]) if not uses_synthetic(config) else SYNTHETIC_ROOT


def reports_root(config: dict[str, Any]) -> Path:
    """Root of the report .txt tree (defaults to the MIMIC-CXR-JPG root)."""
    return Path(config["data"]["mimic_cxr_reports"]) if config["data"]["mimic_cxr_reports"] else mimic_root(config)


def mimic_file(config: dict[str, Any], name: str) -> str:
    """Path of one of the MIMIC-CXR-JPG metadata CSVs."""
    return str(mimic_root(config) / name)


DEMO_WEIGHTS = RESULTS / "model" / "demo-weights"


def weight_path(config: dict[str, Any], name: str) -> str:
    """Local path of pretrained weights `name` (a key of config `weights`).

    An empty config value means: for `raddino` and `vae`, the tiny random model the demo writes under
    results/model/demo-weights/<name>; for the others, "" (the caller reports "not computed").
    """
    if name not in config["weights"]:
        raise KeyError(f"unknown weights name {name!r}; known: {sorted(config['weights'])}")
    configured = config["weights"][name]
    if configured:
        return configured
    if name in ("raddino", "vae"):
        return str(DEMO_WEIGHTS / name)
    return ""
