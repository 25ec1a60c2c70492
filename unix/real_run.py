"""What a real run (config `synthetic: false`, e.g. config/paper.yaml) needs before anything is submitted.

The demo fills every empty path with a stand-in: the synthetic MIMIC-CXR tree, tiny random RadDino/VAE weights,
random BioViL-T/RadGraph in their published layouts, "not computed" metrics. A real run must never fall back on
these, so the workflow calls `check_real_run` at parse time and stops with ONE message listing every key still to
set (and every configured path that does not exist), instead of failing job by job on the cluster. Any run (demo
too) is stopped there when a configured metric interpreter (``evaluation.interpreters``) is not an executable file.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from unix.config import get


class RealRunError(ValueError):
    """A real run lacks data paths, weights or the cleaning endpoint."""


def _weights_needed(config: dict[str, Any]) -> dict[str, str]:
    """The `weights.*` keys a real run reads, each with what it is for."""
    needed = {
        "vae": "the KL-f16 VAE of Stages 2/3 and image generation",
        "raddino": "the REPA target of Stage 2 and the FD/KD/PRDC features",
        "biovil_t": "the alignment score of Tables 3/4",
        "radgraph": "RadGraph F1 of Table 2",
    }
    if not config["weights"]["unix"] and config["model"]["size"] != "tiny":
        needed["janus_pro"] = f"the initial {config['model']['size']} (or set weights.unix)"
    if "chexbert" in (config["evaluation"]["labeler"], config["cleaning"]["drift_labeler"]):
        needed["chexbert"] = "the CheXbert labeler (evaluation.labeler / cleaning.drift_labeler)"
        needed["bert_base_uncased"] = "the CheXbert tokenizer and config"
    return needed


def required_keys(config: dict[str, Any]) -> dict[str, str]:
    """Dotted config key -> what it is for, for every path a real run must have set."""
    keys = {
        "data.mimic_cxr_jpg": "root of MIMIC-CXR-JPG 2.x (the mimic-cxr-2.0.0-*.csv.gz tables and files/)",
        "data.mimic_cxr_reports": "root of the unpacked mimic-cxr-reports.zip (files/pXX/pSUBJECT/sSTUDY.txt)",
        "data.llava_rad_annotations.train": "LLAVARAD_ANNOTATIONS_TRAIN.csv (CheXGenBench generation prompts)",
        "data.llava_rad_annotations.test": "LLAVARAD_ANNOTATIONS_TEST.csv",
    }
    keys.update({f"weights.{name}": why for name, why in sorted(_weights_needed(config).items())})
    return keys


def interpreter_problem(environment: str, interpreter: str) -> str | None:
    """Why `interpreter` (config ``evaluation.interpreters.<environment>``) cannot run a metric; None when it can
    (an empty value: the rule's own interpreter)."""
    if not interpreter or (Path(interpreter).is_file() and os.access(interpreter, os.X_OK)):
        return None
    return (f"evaluation.interpreters.{environment}: {interpreter} is not an executable file; set it to the Python "
            f"of a venv with the `{environment}` extra (`make envs` builds .venv-{environment}), or leave it empty "
            "to run in the rule's own environment")


def problems(config: dict[str, Any]) -> list[str]:
    """One line per key a run with this config still needs; empty when it can start."""
    lines = []
    if config["cleaning"]["backend"] == "openai" and not config["cleaning"]["openai"]["base_url"]:
        lines.append("cleaning.openai.base_url: not set; the OpenAI-compatible endpoint of report cleaning, "
                     "e.g. http://gpu-node-01:8000/v1 with that host in cleaning.data_use.local_hosts")
    for environment, interpreter in config["evaluation"]["interpreters"].items():
        problem = interpreter_problem(environment, interpreter)
        if problem:
            lines.append(problem)
    if config["synthetic"]:
        return lines
    for key, why in required_keys(config).items():
        value = get(config, key)
        if not value:
            lines.append(f"{key}: not set; {why}")
        elif not Path(value).exists():
            lines.append(f"{key}: {value} does not exist; {why}")
    return lines


def check_real_run(config: dict[str, Any]) -> None:
    """Raise RealRunError listing every key to set, before the workflow builds or submits any job."""
    lines = problems(config)
    if lines:
        kind = "a real run (synthetic: false)" if not config["synthetic"] else "this configuration"
        raise RealRunError(
            f"{kind} cannot start: set these config keys (paths are read from this machine; nothing is "
            "downloaded), or use the demo config (synthetic: true, `make demo`):\n  " + "\n  ".join(lines))
