"""Shared fixtures: the repository root, a validated demo config, and running the workflow in a
scratch directory (so tests never touch the checkout's results/ or .snakemake/)."""

from __future__ import annotations

import os
import re
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
# Under pytest-xdist the workers share the machine's cores: one intra-op thread per process (inherited by the
# Snakemake jobs and training processes a test starts) avoids oversubscription, which made single tests 10x
# slower on 2 cores (tests/test_learning.py: 56 s alone, 717 s in the suite). An explicit setting is kept.
if os.environ.get("PYTEST_XDIST_WORKER"):
    os.environ.setdefault("OMP_NUM_THREADS", "1")
    if "torch" in sys.modules:
        sys.modules["torch"].set_num_threads(int(os.environ["OMP_NUM_THREADS"]))


@pytest.fixture(scope="session")
def repo() -> Path:
    return REPO


# Test configs: overrides of config.yaml, each runnable with `snakemake --configfile tests/configs/<name>.yaml`.
CONFIGS = Path(__file__).parent / "configs"


def config_overrides(*names: str) -> dict:
    """tests/configs/<name>.yaml merged in order (as Snakemake merges several --configfile)."""
    from unix.config import merge

    out: dict = {}
    for name in names:
        out = merge(out, yaml.safe_load((CONFIGS / f"{name}.yaml").read_text()) or {})
    return out


def demo_config(**overrides) -> dict:
    """The repository's config.yaml with tests/configs/test.yaml (the test training budgets) and nested
    overrides merged in."""
    from unix.config import merge

    config = yaml.safe_load((REPO / "config.yaml").read_text())
    return merge(merge(config, config_overrides("test")), overrides)


# The test being run, so that run_snakemake can insist on the `workflow` marker (pytest -m "not workflow" runs
# the unit tests alone only if every test that runs Snakemake says so).
_RUNNING: dict[str, pytest.Item] = {}


@pytest.fixture(autouse=True)
def _running_test(request):
    _RUNNING["item"] = request.node
    yield
    _RUNNING.pop("item", None)


def run_snakemake(workdir: Path, *args: str, config: dict | None = None, timeout: int = 1200,
                  check: bool = True) -> subprocess.CompletedProcess:
    """Run the project's Snakefile with `workdir` as working directory.

    The config (default: config.yaml of the repository) is written to workdir/config.yaml, which the
    Snakefile's `configfile:` picks up.
    """
    item = _RUNNING.get("item")
    assert item is None or item.get_closest_marker("workflow"), \
        f"{item.nodeid} runs Snakemake: mark it @pytest.mark.workflow (or the module: pytestmark)"
    workdir.mkdir(parents=True, exist_ok=True)
    (workdir / "config.yaml").write_text(yaml.safe_dump(config if config is not None else demo_config()))
    cmd = [str(BIN / "snakemake"), "-s", str(REPO / "Snakefile"), "--directory", str(workdir), *args]
    env = {**os.environ, "PATH": f"{BIN}{os.pathsep}{os.environ.get('PATH', '')}"}
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout, env=env, cwd=workdir)
    if check and proc.returncode != 0:
        raise AssertionError(f"snakemake {' '.join(args)} failed ({proc.returncode}):\n"
                             f"{proc.stdout[-6000:]}\n{proc.stderr[-6000:]}")
    return proc


def dry_run_jobs(stdout: str) -> set[str]:
    """The jobs of a `snakemake -n` run: each rule's name and, for a rule with wildcards, also
    ``rule[value, ...]`` per job (``train_stage[stage1]``, ``make_table[table3]``)."""
    jobs = set()
    for block in re.split(r"^(?=(?:local)?rule \w+:$)", stdout, flags=re.M):
        if name := re.match(r"(?:local)?rule (\w+):$", block, re.M):
            jobs.add(name.group(1))
            if wildcards := re.search(r"^\s+wildcards: (.*)$", block, re.M):
                values = [item.partition("=")[2] for item in wildcards.group(1).split(", ")]
                jobs.add(f"{name.group(1)}[{', '.join(values)}]")
    return jobs


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


def slurm_local(command: str, timeout: int = 300) -> subprocess.CompletedProcess:
    """Run `scripts/slurm-local.sh <command>` (install, start, stop, status)."""
    return subprocess.run(["bash", str(REPO / "scripts" / "slurm-local.sh"), command], capture_output=True,
                          text=True, timeout=timeout)


@pytest.fixture(scope="session")
def slurm_cluster():
    """The local two-node SLURM (scripts/slurm-local.sh), shared by tests/test_slurm.py and
    tests/test_multinode.py; the tests fail (never skip) with the script's reason when it cannot start."""
    for command in ("install", "start"):
        proc = slurm_local(command)
        if proc.returncode != 0:
            pytest.fail(f"local SLURM could not be set up: `scripts/slurm-local.sh {command}` exited "
                        f"{proc.returncode}: {proc.stderr.strip()[-2000:]}", pytrace=False)
    yield
    proc = slurm_local("stop")
    assert proc.returncode == 0, f"scripts/slurm-local.sh stop failed: {proc.stderr}"


@pytest.fixture
def restore_logging():
    """`unix clean` in-process points the root logger at this test's (captured) stderr: undo that after."""
    import logging

    root = logging.getLogger()
    handlers, level = root.handlers[:], root.level
    yield
    root.handlers[:] = handlers
    root.setLevel(level)
