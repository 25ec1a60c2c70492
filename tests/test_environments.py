"""The metrics with their own environment (alignment score, RadGraph F1): config evaluation.interpreters, the
subprocess that runs their step there, and the demo's stand-in weights (fast checks; the real packages run in
tests/test_alignment.py, tests/test_radgraph.py and the demo run of tests/test_tables.py)."""

from __future__ import annotations

import sys

import pandas as pd
import pytest

from conftest import demo_config
from unix.evaluation import read_metrics, write_metrics
from unix.evaluation.environments import InterpreterNotFoundError, run_step_in
from unix.real_run import problems
from unix.workflow import metric_demo_weights, weight_path


def test_a_missing_interpreter_stops_the_step_and_the_workflow_naming_the_key(tmp_path) -> None:
    missing = str(tmp_path / "no-venv" / "bin" / "python")
    with pytest.raises(InterpreterNotFoundError, match=r"^evaluation\.interpreters\.alignment: .* is not an "
                                                        r"executable file; .*`make envs` builds \.venv-alignment"):
        run_step_in("alignment", missing, image_shards=[], out=str(tmp_path / "a.json"), model="unix-512",
                    biovil_t="", device="cpu")
    config = demo_config(evaluation={"interpreters": {"alignment": "", "radgraph": missing}})
    assert problems(config) == [f"evaluation.interpreters.radgraph: {missing} is not an executable file; set it to "
                                "the Python of a venv with the `radgraph` extra (`make envs` builds .venv-radgraph), "
                                "or leave it empty to run in the rule's own environment"]
    assert problems(demo_config()) == []


def test_a_step_failing_in_its_interpreter_raises_with_its_stderr(tmp_path) -> None:
    with pytest.raises(RuntimeError, match=r"(?s)step radgraph failed in .*evaluation\.interpreters\.radgraph.*"
                                           r"FileNotFoundError"):
        run_step_in("radgraph", sys.executable, reports_path=str(tmp_path / "none.parquet"),
                    out=str(tmp_path / "r.json"), model="unix", radgraph="")


def test_the_step_runs_in_the_interpreter_and_returns_its_result(tmp_path) -> None:
    """The main environment has no radgraph: the subprocess writes the not-computed reason and its versions."""
    path = tmp_path / "reports.parquet"
    pd.DataFrame({"reference": ["No effusion."], "generated": ["No effusion."]}).to_parquet(path)
    out = tmp_path / "r.json"
    result = run_step_in("radgraph", sys.executable, reports_path=str(path), out=str(out), model="unix", radgraph="")
    assert result["n_reports"] == 1 and result["environment"]["interpreter"] == sys.executable
    assert result["environment"]["packages"]["radgraph"] is None
    assert read_metrics(out).not_computed["radgraph_f1"].startswith("the radgraph package is not installed")


def test_demo_stand_ins_only_on_synthetic_data_and_without_their_package_the_metric_says_why(tmp_path) -> None:
    demo = demo_config()
    assert metric_demo_weights(demo) == {"biovil_t": "results/model/demo-weights/biovil_t",
                                         "radgraph": "results/model/demo-weights/radgraph"}
    assert weight_path(demo, "biovil_t") == "results/model/demo-weights/biovil_t"
    real = demo_config(data={"mimic_cxr_jpg": "/data/mimic-cxr-jpg"})
    assert metric_demo_weights(real) == {} and weight_path(real, "radgraph") == ""
    configured = demo_config(weights={"radgraph": "/w/radgraph.tar.gz"})
    assert metric_demo_weights(configured) == {"biovil_t": "results/model/demo-weights/biovil_t"}

    # the main environment has no hi-ml-multimodal: the stand-in is not written, and the alignment step says why
    result = run_step_in("demo_weights", "", "alignment", name="biovil_t", out=str(tmp_path / "biovil_t"))
    assert result["written"] is False and (tmp_path / "biovil_t" / "NOT_WRITTEN.txt").is_file()
    shard = tmp_path / "000.parquet"
    pd.DataFrame({"dicom_id": ["d0"], "prompt": ["No effusion."], "image": [b""]}).to_parquet(shard)
    run_step_in("alignment", "", image_shards=[str(shard)], out=str(tmp_path / "a.json"), model="unix-512",
                biovil_t=str(tmp_path / "biovil_t"), device="cpu")
    reason = read_metrics(tmp_path / "a.json").not_computed["alignment_score"]
    assert reason.startswith("hi-ml-multimodal (health_multimodal) is not installed in this environment") and (
        "evaluation.interpreters.alignment" in reason and "`make envs`" in reason)


def test_the_stand_in_warning_reaches_the_generation_metrics(tmp_path) -> None:
    from unix.evaluation.steps import merge_metric

    note = "alignment score: BioViL-T is a randomly initialised stand-in"
    path = tmp_path / "alignment.json"
    write_metrics(path, {"alignment_score": 0.1}, meta={"warnings": [note]})
    values, not_computed, warnings = {}, {}, []
    merge_metric(str(path), "alignment_score", values, not_computed, warnings)
    merge_metric(str(path), "alignment_score", values, not_computed, warnings)
    assert values == {"alignment_score": 0.1} and warnings == [note]
