"""`unix audit` on a small real Snakemake run in a scratch directory.

The test workflow mirrors the real one in miniature: a synthetic MIMIC tree (metadata csv.gz + a
directory of images), a split rule that reads the csv.gz files, a cleaning rule that returns LLM call
records, a "model" from a raw external weights file (no record, like a real checkpoint), and a table.
Every rule goes through `unix.pipeline.run_step`, so the records are the ones the pipeline writes.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest
import yaml

from unix.provenance.audit_tree import Auditor, summarize_llm_calls
from unix.provenance.verify import verify

BIN = Path(sys.executable).parent

SNAKEFILE = """
configfile: "config.yaml"
from unix.provenance import config_params

META = "results/data/synthetic/mimic-cxr-jpg/mimic-cxr-2.0.0-metadata.csv.gz"
SPLIT = "results/data/synthetic/mimic-cxr-jpg/mimic-cxr-2.0.0-split.csv.gz"

rule all:
    input: "results/tables/table3.csv"

rule make_demo_data:
    output: meta=META, split=SPLIT, files=directory("results/data/synthetic/mimic-cxr-jpg/files")
    params: **config_params(config, seed="data.synthetic.seed", n_subjects="data.synthetic.n_subjects")
    log: "results/logs/make_demo_data/log.txt"
    script: "scripts/make_demo_data.py"

rule select_split:
    input: meta=META, split=SPLIT
    output: "results/data/understanding/split.csv"
    params: **config_params(config, views="data.views")
    log: "results/logs/select_split/log.txt"
    script: "scripts/select_split.py"

rule clean_reports:
    input: "results/data/understanding/split.csv"
    output: "results/cleaning/reports.csv", calls="results/cleaning/llm_calls.parquet"
    log: "results/logs/clean_reports/log.txt"
    script: "scripts/clean_reports.py"

rule evaluate:
    input: reports="results/cleaning/reports.csv", weights="external/model.bin",
           images="results/data/synthetic/mimic-cxr-jpg/files"
    output: "results/eval/generation/ours.json"
    params:
        # a derived param (as a training recipe) sits beside the config section it is built from
        recipe={**config["training"]["stage2"], "name": "stage2", "trainable": "generation"},
        weights={"raddino": "external/raddino"},  # configured weights reach jobs as params, not inputs
        **config_params(config, seed="seed", stage_settings="training.stage2")
    log: "results/logs/evaluate/log.txt"
    script: "scripts/evaluate.py"

rule make_table3:
    input: "results/eval/generation/ours.json"
    output: "results/tables/table3.csv"
    log: "results/logs/make_table3/log.txt"
    script: "scripts/make_table3.py"
"""

SCRIPTS = {
    "make_demo_data.py": """
        import gzip, os
        from unix.pipeline import run_step
        def main(smk):
            for path in (smk.output.meta, smk.output.split):
                with gzip.open(path, "wt") as fh:
                    fh.write("dicom_id,subject_id\\n" + "".join(f"d{i},{i}\\n" for i in range(smk.params.n_subjects)))
            os.makedirs(smk.output.files + "/p10")
            open(smk.output.files + "/p10/img.jpg", "wb").write(b"jpeg")
        run_step(snakemake, main)
    """,
    "select_split.py": """
        import pandas as pd
        from unix.pipeline import run_step
        def main(smk):
            pd.read_csv(smk.input.meta).to_csv(smk.output[0], index=False)
            return {"decisions": {"kept": 2, "excluded_lateral": 1}}
        run_step(snakemake, main)
    """,
    "clean_reports.py": """
        from unix.pipeline import run_step
        def main(smk):
            import pandas as pd
            open(smk.output[0], "w").write("report_id,cleaned\\ns1,FINDINGS: clear\\n")
            pd.DataFrame({"cache_key": ["k1", "k2"], "from_cache": [False, True], "model": ["llm-x", "llm-x"],
                          "outcome": ["ok", "ok"]}).to_parquet(smk.output.calls)
            # the cleaning stage's contract: a summary in extra, every call in the table
            return {"llm_calls": {"table": smk.output.calls, "calls": 2, "models": ["llm-x"]},
                    "data_use": {"backend": "local", "allowed": True}}
        run_step(snakemake, main)
    """,
    "evaluate.py": """
        import json
        from unix.pipeline import run_step
        def main(smk):
            json.dump({"fd_raddino": 1.5}, open(smk.output[0], "w"))
        run_step(snakemake, main)
    """,
    "make_table3.py": """
        from unix.pipeline import run_step
        def main(smk):
            open(smk.output[0], "w").write("row,fd\\nours,1.5\\n")
        run_step(snakemake, main)
    """,
}

CONFIG = {"seed": 0, "data": {"views": ["PA", "AP"], "synthetic": {"seed": 0, "n_subjects": 3}},
          "training": {"stage2": {"steps": 2, "lr": 0.1}}}


def _snakemake(workdir: Path, *args: str) -> None:
    env = {**os.environ, "PATH": f"{BIN}{os.pathsep}{os.environ.get('PATH', '')}"}
    proc = subprocess.run([str(BIN / "snakemake"), "--cores", "1", *args], cwd=workdir, env=env,
                          capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]


def _audit(workdir: Path, *args: str) -> subprocess.CompletedProcess:
    return subprocess.run([str(BIN / "unix"), "audit", *args], cwd=workdir, capture_output=True, text=True,
                          timeout=120)


@pytest.fixture(scope="module")
def workflow(tmp_path_factory) -> Path:
    wd = tmp_path_factory.mktemp("audit-wf")
    (wd / "Snakefile").write_text(SNAKEFILE)
    (wd / "scripts").mkdir()
    for name, body in SCRIPTS.items():
        (wd / "scripts" / name).write_text(textwrap.dedent(body))
    (wd / "external").mkdir()
    (wd / "external" / "model.bin").write_bytes(b"weights")
    (wd / "external" / "raddino").mkdir()
    (wd / "external" / "raddino" / "model.safetensors").write_bytes(b"rad-dino")
    (wd / "config.yaml").write_text(yaml.safe_dump(CONFIG))
    _snakemake(wd)
    return wd


@pytest.fixture
def wd(workflow, tmp_path) -> Path:
    """A private copy of the finished run, so each test may edit or tamper with it."""
    import shutil

    dst = tmp_path / "wf"
    shutil.copytree(workflow, dst, symlinks=True, copy_function=shutil.copy2)
    return dst


def _paths(tree: dict) -> list[str]:
    out = [tree["path"]]
    for c in tree["children"]:
        out += _paths(c)
    return out


@pytest.mark.workflow
def test_tree_reaches_raw_mimic_files_models_and_llm_calls(wd):
    proc = _audit(wd, "results/tables/table3.csv", "--json")
    assert proc.returncode == 0, proc.stdout + proc.stderr
    tree = json.loads(proc.stdout)
    paths = _paths(tree)
    assert "results/data/synthetic/mimic-cxr-jpg/mimic-cxr-2.0.0-metadata.csv.gz" in paths
    assert "results/data/synthetic/mimic-cxr-jpg/mimic-cxr-2.0.0-split.csv.gz" in paths
    assert "external/model.bin" in paths

    def find(t, path):
        if t["path"] == path:
            return t
        for c in t["children"]:
            if (hit := find(c, path)) is not None:
                return hit

    meta = find(tree, "results/data/synthetic/mimic-cxr-jpg/mimic-cxr-2.0.0-metadata.csv.gz")
    assert meta["rule"] == "make_demo_data" and meta["synthetic"] is True
    assert find(tree, "results/data/synthetic/mimic-cxr-jpg/files")["rule"] == "make_demo_data"
    # a file inside a directory output is traced to the rule that made the directory
    img = Auditor(wd).tree("results/data/synthetic/mimic-cxr-jpg/files/p10/img.jpg")
    assert img.rule == "make_demo_data" and not img.problem
    assert find(tree, "external/model.bin")["rule"] is None  # raw input: a leaf without a record
    raddino = find(tree, "external/raddino")
    assert raddino["via_param"] == "weights.raddino" and raddino["current_sha256"].startswith("dir:")
    cleaned = find(tree, "results/cleaning/reports.csv")
    assert cleaned["llm_calls"]["count"] == 2 and cleaned["llm_calls"]["models"] == ["llm-x"]
    assert cleaned["llm_calls"]["from_cache"] == 1 and cleaned["llm_calls"]["examples"][0]["cache_key"] == "k1"
    assert cleaned["extra"]["data_use"] == {"backend": "local", "allowed": True}
    assert not any(i["fatal"] for n in [tree] for i in n["issues"])

    text = _audit(wd, "results/tables/table3.csv").stdout
    assert "[make_table3]" in text and "[raw input, no record]" in text and "LLM calls: 2" in text
    assert "Up to date" in text


@pytest.mark.workflow
def test_config_edit_is_reported_stale(wd):
    config = yaml.safe_load((wd / "config.yaml").read_text())
    config["data"]["synthetic"]["n_subjects"] = 5
    (wd / "config.yaml").write_text(yaml.safe_dump(config))
    proc = _audit(wd, "results/tables/table3.csv")
    assert proc.returncode == 1
    assert "STALE" in proc.stdout
    assert "data.synthetic.n_subjects = 3, config now has 5" in proc.stdout
    assert "RESULT IS STALE" in proc.stdout
    tree = json.loads(_audit(wd, "results/tables/table3.csv", "--json").stdout)
    assert tree["upstream_problem"] is True


@pytest.mark.workflow
def test_edit_of_a_section_behind_a_derived_param_is_stale(wd):
    """A rule passes the config section behind a derived param (a training recipe) with config_params."""
    config = yaml.safe_load((wd / "config.yaml").read_text())
    config["training"]["stage2"]["lr"] = 0.2
    (wd / "config.yaml").write_text(yaml.safe_dump(config))
    proc = _audit(wd, "results/tables/table3.csv")
    assert proc.returncode == 1
    assert "param stage_settings: made with training.stage2.lr = 0.1, config now has 0.2" in proc.stdout


@pytest.mark.workflow
def test_changed_input_is_stale_and_verify_fails_on_tampering(wd):
    assert _audit(wd, "--verify").returncode == 0
    meta = wd / "results/data/synthetic/mimic-cxr-jpg/mimic-cxr-2.0.0-metadata.csv.gz"
    meta.write_bytes(meta.read_bytes() + b"\0")
    proc = _audit(wd, "--verify")
    assert proc.returncode == 1 and "MISMATCH" in proc.stdout and meta.name in proc.stdout
    report = json.loads(_audit(wd, "--verify", "--json").stdout)
    roles = {(m["path"].split("/")[-1], m["role"]) for m in report["mismatches"]}
    assert (meta.name, "output") in roles and (meta.name, "input") in roles
    proc = _audit(wd, "results/data/understanding/split.csv")
    assert proc.returncode == 1 and "changed since its consumer was made" in proc.stdout


@pytest.mark.workflow
def test_changed_external_weights_are_stale(wd):
    (wd / "external" / "raddino" / "model.safetensors").write_bytes(b"other weights")
    proc = _audit(wd, "results/tables/table3.csv")
    assert proc.returncode == 1 and "(via param weights.raddino)" in proc.stdout
    assert "changed since its consumer was made" in proc.stdout
    assert _audit(wd, "--verify").returncode == 1


@pytest.mark.workflow
def test_verify_fails_when_a_recorded_file_is_missing(wd):
    split = wd / "results/data/understanding/split.csv"
    split.unlink()
    proc = _audit(wd, "--verify")
    assert proc.returncode == 1, proc.stdout
    assert "MISSING  results/data/understanding/split.csv (output in" in proc.stdout
    assert "FAILED" in proc.stdout and "OK" not in proc.stdout.splitlines()[-1]
    assert not verify(wd)["ok"]


@pytest.mark.workflow
def test_verify_lists_files_without_a_record(wd):
    (wd / "results" / "stray.txt").write_text("?")
    report = verify(wd)
    assert report["ok"] and report["unrecorded"] == ["results/stray.txt"]


@pytest.mark.workflow
def test_code_version_differs_is_a_note_not_a_failure(wd):
    auditor = Auditor(wd, yaml.safe_load((wd / "config.yaml").read_text()), head={"commit": "f" * 40})
    tree = auditor.tree("results/tables/table3.csv")
    assert any(i.kind == "code_differs" and not i.fatal for i in tree.issues) or tree.code["commit"] is None
    assert not any(n.problem for n in tree.walk())


def test_llm_calls_as_a_list_of_records():
    calls = [{"model": "m", "backend": "offline", "prompt_sha256": "ab"}] * 4
    summary = summarize_llm_calls({"llm_calls": calls})
    assert summary["count"] == 4 and summary["models"] == ["m"] and summary["backends"] == ["offline"]
    assert summarize_llm_calls({"kept": 1}) is None


@pytest.mark.workflow
def test_usage_errors(wd):
    assert _audit(wd).returncode == 2
    assert _audit(wd, "results/nope.csv").returncode == 2
