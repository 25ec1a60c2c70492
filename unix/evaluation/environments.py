"""Metric steps that run in their own Python environment: the alignment score and RadGraph F1.

hi-ml-multimodal (alignment score) and radgraph (RadGraph F1) need transformers 4, the rest of the project 5, so
each has its own environment: with ``snakemake --sdm conda`` the rule runs in envs/alignment.yaml or
envs/radgraph.yaml; without conda, config ``evaluation.interpreters.<environment>`` names the Python of a venv
holding the extra of that name (``make envs`` builds ``.venv-alignment`` and ``.venv-radgraph``). The workflow
script then runs the step in that interpreter as ``python -m unix.evaluation.environments STEP KWARGS_JSON``,
with this checkout's `unix` package first on its PYTHONPATH. An empty interpreter runs the step in the current
one (under conda: the rule's env); where its package is missing, the metric is "not computed" with the reason.
"""

from __future__ import annotations

import importlib
import json
import logging
import os
import subprocess
import sys
from importlib import metadata
from pathlib import Path
from typing import Any

from unix.real_run import interpreter_problem

log = logging.getLogger(__name__)

STEPS = {
    "alignment": ("alignment", "unix.evaluation.alignment:evaluate_alignment_step"),
    "radgraph": ("radgraph", "unix.evaluation.radgraph:evaluate_radgraph_step"),
    "demo_weights": (None, "unix.evaluation.demo_weights:write_demo_metric_weights"),
}
"""Step name -> (environment, or None: the caller's, "module:function")."""
PACKAGES = {"alignment": ("hi-ml-multimodal", "transformers", "torch", "torchvision"),
            "radgraph": ("radgraph", "transformers", "torch")}
"""The distributions whose versions a step's provenance records, per environment."""
RESULT_PREFIX = "UNIX_STEP_RESULT "


class InterpreterNotFoundError(FileNotFoundError):
    """Config evaluation.interpreters.<environment> names no executable file."""


def environment_info(environment: str) -> dict[str, Any]:
    """The interpreter and the versions of the packages that shape this environment's metric."""
    versions = {}
    for name in PACKAGES.get(environment, ()):
        try:
            versions[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            versions[name] = None
    return {"interpreter": sys.executable, "python": sys.version.split()[0], "packages": versions}


def _function(step: str):
    module, name = STEPS[step][1].split(":")
    return getattr(importlib.import_module(module), name)


def run_step_in(step: str, interpreter: str, environment: str | None = None, **kwargs: Any) -> dict[str, Any]:
    """Run step `step` with `kwargs` in `interpreter` (empty: here) and return its result with an
    ``environment`` entry (interpreter and package versions), for the provenance record."""
    if step not in STEPS:
        raise ValueError(f"unknown step {step!r}; known: {sorted(STEPS)}")
    environment = environment or STEPS[step][0]
    if not interpreter:
        return {**(_function(step)(**kwargs) or {}), "environment": environment_info(environment)}
    problem = interpreter_problem(environment, interpreter)
    if problem:
        raise InterpreterNotFoundError(problem)
    package_root = str(Path(__file__).resolve().parents[2])
    env = {**os.environ, "HF_HUB_OFFLINE": "1",
           "PYTHONPATH": os.pathsep.join(p for p in (package_root, os.environ.get("PYTHONPATH", "")) if p)}
    cmd = [interpreter, "-m", "unix.evaluation.environments", step, json.dumps(kwargs), environment]
    log.info("running step %s in %s (config evaluation.interpreters.%s)", step, interpreter, environment)
    proc = subprocess.run(cmd, capture_output=True, text=True, env=env)
    for line in proc.stderr.splitlines():
        log.info("[%s] %s", environment, line)
    if proc.returncode != 0:
        raise RuntimeError(f"step {step} failed in {interpreter} (config evaluation.interpreters.{environment}), "
                           f"exit status {proc.returncode}:\n{proc.stderr[-3000:]}")
    results = [line[len(RESULT_PREFIX):] for line in proc.stdout.splitlines() if line.startswith(RESULT_PREFIX)]
    if not results:
        raise RuntimeError(f"step {step} in {interpreter} printed no result line:\n{proc.stdout[-3000:]}")
    return json.loads(results[-1])


def main(argv: list[str]) -> None:
    """``python -m unix.evaluation.environments STEP KWARGS_JSON [ENVIRONMENT]``: run one step here."""
    from unix.pipeline import setup_logging

    setup_logging()
    step, kwargs = argv[0], json.loads(argv[1])
    result = run_step_in(step, "", argv[2] if len(argv) > 2 else None, **kwargs)
    print(RESULT_PREFIX + json.dumps(result), flush=True)


if __name__ == "__main__":
    main(sys.argv[1:])
