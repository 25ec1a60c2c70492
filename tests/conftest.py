"""Shared fixtures: the repository root, a validated demo config, and running the workflow in a
scratch directory (so tests never touch the checkout's results/ or .snakemake/)."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

REPO = Path(__file__).resolve().parents[1]
BIN = Path(sys.executable).parent

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")


@pytest.fixture(scope="session")
def repo() -> Path:
    return REPO


# Workflow tests check wiring, not learning (tests/test_learning.py does): they train with the small budgets
# the demo had before it was made to learn, so the suite stays fast.
TEST_TRAINING_BUDGETS = {
    "demo_vae": {"steps": 20},
    "stage1": {"steps": 12, "batch_size": 4, "lr": 1.0e-3, "warmup_steps": 2, "checkpoint_every": 5},
    "stage2": {"steps": 12, "batch_size": 4, "lr": 1.0e-3, "warmup_steps": 2, "checkpoint_every": 5},
    "stage3": {"steps": 12, "warmup_steps": 2, "checkpoint_every": 5},
}


def demo_config(**overrides) -> dict:
    """The repository's config.yaml with the test training budgets and nested overrides merged in."""
    from unix.config import merge

    config = yaml.safe_load((REPO / "config.yaml").read_text())
    return merge(merge(config, {"training": TEST_TRAINING_BUDGETS}), overrides)


def run_snakemake(workdir: Path, *args: str, config: dict | None = None, timeout: int = 1200,
                  check: bool = True) -> subprocess.CompletedProcess:
    """Run the project's Snakefile with `workdir` as working directory.

    The config (default: config.yaml of the repository) is written to workdir/config.yaml, which the
    Snakefile's `configfile:` picks up.
    """
    workdir.mkdir(parents=True, exist_ok=True)
    (workdir / "config.yaml").write_text(yaml.safe_dump(config if config is not None else demo_config()))
    cmd = [str(BIN / "snakemake"), "-s", str(REPO / "Snakefile"), "--directory", str(workdir), *args]
    env = {**os.environ, "PATH": f"{BIN}{os.pathsep}{os.environ.get('PATH', '')}"}
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout, env=env, cwd=workdir)
    if check and proc.returncode != 0:
        raise AssertionError(f"snakemake {' '.join(args)} failed ({proc.returncode}):\n"
                             f"{proc.stdout[-6000:]}\n{proc.stderr[-6000:]}")
    return proc


@pytest.fixture
def snakemake_run():
    """The `run_snakemake` helper as a fixture."""
    return run_snakemake


@pytest.fixture(scope="session")
def tiny_training_setup(tmp_path_factory):
    """A tiny initial UniX (results/model/init layout) and fixture training data, shared by the training
    test modules: (root, files) with the model under root/init."""
    import pandas as pd

    sys.path.insert(0, str(Path(__file__).parent))
    from training_standin import make_fixture_data

    from unix.model.initial import write_initial_model

    root = tmp_path_factory.mktemp("unix-train")
    files = make_fixture_data(root / "data", n=24, size=64)
    texts = list(pd.read_parquet(files["reports"])["cleaned_text"]) + list(pd.read_parquet(files["gen_split"])["prompt"])
    write_initial_model(root / "init", "tiny", {}, texts * 20, 300, seed=0)
    return root, files


@pytest.fixture
def restore_logging():
    """`unix clean` in-process points the root logger at this test's (captured) stderr: undo that after."""
    import logging

    root = logging.getLogger()
    handlers, level = root.handlers[:], root.level
    yield
    root.handlers[:] = handlers
    root.setLevel(level)
