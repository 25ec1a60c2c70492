"""RadGraph F1 end to end in its own environment (.venv-radgraph, made by `make install-test`): a random RadGraph
in the RRG_scorers radgraph.tar.gz layout, run by the radgraph 0.1.18 package as UniX's eval runs it."""

from __future__ import annotations

import json
import subprocess

import pandas as pd
import pytest

from conftest import REPO
from unix.evaluation import read_metrics

PYTHON = REPO / ".venv-radgraph" / "bin" / "python"
REFS = ["No acute cardiopulmonary process.", "Small left pleural effusion. Heart size is normal.",
        "Mild cardiomegaly.", "No pneumothorax."]
HYPS = ["No acute cardiopulmonary process.", "Small right pleural effusion.", "",
        "Mild cardiomegaly, no pneumothorax."]

# UniX's eval/und_metrics/radgraph_metrics.py: F1RadGraph(reward_level="partial", model_type="radgraph") on the
# model unpacked into the package's model cache (UniX copies radgraph.tar.gz there); mean of the F1 rewards.
UNIX = """
import json, sys, tarfile, tempfile
from pathlib import Path
from radgraph import F1RadGraph
archive, refs, hyps = sys.argv[1], json.loads(sys.argv[2]), json.loads(sys.argv[3])
with tempfile.TemporaryDirectory() as cache:
    tarfile.open(archive).extractall(Path(cache) / "radgraph", filter="data")
    mean, rewards, _, _ = F1RadGraph(reward_level="partial", model_type="radgraph", model_cache_dir=cache)(
        refs=refs, hyps=hyps)
print(json.dumps({"mean": float(mean), "rewards": [float(r) for r in rewards]}))
"""


def run(*args: str, timeout: int = 600) -> str:
    if not PYTHON.exists():
        pytest.fail(f"{PYTHON} is missing: `make install-test` creates the RadGraph environment")
    proc = subprocess.run([str(PYTHON), *args], cwd=REPO, capture_output=True, text=True, timeout=timeout,
                          env={"HF_HUB_OFFLINE": "1", "PATH": "/usr/bin:/bin", "PYTHONPATH": str(REPO),
                               "HF_HOME": "/nonexistent/hf-home"})
    assert proc.returncode == 0, proc.stderr[-3000:]
    return proc.stdout


def reports(tmp_path) -> str:
    path = tmp_path / "reports.parquet"
    ids = [f"d{i}" for i in range(len(REFS))]
    pd.DataFrame({"dicom_id": ids, "reference": REFS, "generated": HYPS}).to_parquet(path)
    return str(path)


@pytest.mark.slow
def test_radgraph_f1_equals_unix_with_random_radgraph(tmp_path) -> None:
    from unix.evaluation.environments import run_step_in

    run("-c", f"from unix.evaluation.demo_weights import write_demo_radgraph as w; w({str(tmp_path / 'weights')!r})")
    archive = tmp_path / "weights" / "radgraph.tar.gz"
    out = tmp_path / "radgraph.json"
    # as rule evaluate_radgraph runs it with config evaluation.interpreters.radgraph set
    result = run_step_in("radgraph", str(PYTHON), reports_path=reports(tmp_path), out=str(out), model="unix",
                         radgraph=str(archive.parent))
    assert result["environment"]["packages"]["radgraph"] == "0.1.18"
    rec = read_metrics(out)
    assert not rec.not_computed and rec.counts["n_reports"] == len(REFS)
    assert rec.meta["warnings"] == ["RadGraph F1: RadGraph is a randomly initialised stand-in in the published layout "
                                    "(demo): the number exercises the real radgraph code path and means nothing"]
    ref = json.loads(run("-c", UNIX, str(archive), json.dumps(REFS), json.dumps(HYPS)).strip().splitlines()[-1])
    assert rec.values["radgraph_f1"] == pytest.approx(ref["mean"], abs=1e-9)
    assert ref["rewards"][2] == 0.0  # the empty generated report scores 0 and stays in the mean
    assert 0.0 < ref["mean"] < 1.0 and len(set(ref["rewards"])) > 1  # the random model does find entities


def test_radgraph_bert_missing_from_the_cache_is_not_computed_with_the_reason(tmp_path) -> None:
    run("-c", "from unix.evaluation.demo_weights import write_demo_radgraph as w; "
        f"w({str(tmp_path / 'weights')!r}, bert='no-such-org/no-such-bert')")
    out = tmp_path / "radgraph.json"
    run("-c", "from unix.evaluation.radgraph import evaluate_radgraph_step as s; "
        f"s({reports(tmp_path)!r}, {str(out)!r}, model='unix', radgraph={str(tmp_path / 'weights')!r})")
    reason = read_metrics(out).not_computed["radgraph_f1"]
    assert "names the BERT 'no-such-org/no-such-bert'" in reason and "Hugging Face cache" in reason


def test_radgraph_outside_its_environment_is_not_computed_with_the_reason(tmp_path) -> None:
    from unix.evaluation.radgraph import evaluate_radgraph_step

    out = tmp_path / "radgraph.json"
    evaluate_radgraph_step(reports(tmp_path), str(out), model="unix", radgraph=str(tmp_path))
    assert read_metrics(out).not_computed["radgraph_f1"] == (
        "the radgraph package is not installed in this environment; it runs in envs/radgraph.yaml with snakemake "
        "--sdm conda, or the Python that config evaluation.interpreters.radgraph names (`make envs` builds "
        ".venv-radgraph; `make demo` then uses it)")
