"""Paper tables and figures: built from metrics JSON files constructed here in the evaluation format."""

from __future__ import annotations

import gzip
import json
import math
from importlib import resources
from pathlib import Path

import pandas as pd
import pytest
import yaml
from PIL import Image

from unix.evaluation.results import write_metrics
from unix.tables import build as B
from unix.tables import figures as F
from unix.tables.paper import TABLES, paper_table

FINDINGS = paper_table("table4").columns


def _is_number(text: str) -> bool:
    try:
        float(text)
    except ValueError:
        return False
    return True


def _cells_ok(df: pd.DataFrame) -> None:
    """No empty cell; every non-numeric metric cell is a 'not computed (reason)' or 'not reported'."""
    assert B.empty_cells(df) == []
    metric_cols = [c for c in df.columns if c not in ("row", "source", "data", "compared_with", B.TEST_SET_COLUMN)]
    for col in metric_cols:
        for v in df[col]:
            if isinstance(v, str) and not _is_number(v):
                assert v == B.NOT_REPORTED or (v.startswith("not computed (") and v.endswith(")") and len(v) > 16), v


def test_paper_facts_are_carried_into_the_package():
    # The package's own copy (unix/resources) is the only source of the facts; paper_table reads it.
    data = yaml.safe_load(resources.files("unix.resources").joinpath("paper_tables.yaml").read_text())
    published = data["table2_understanding"]["rows"]["UniX"]["values"]
    assert list(paper_table("table2").rows["UniX"]) == published + [None, None, None]  # BLEU-4, ROUGE-L, RadGraph
    t2 = paper_table("table2")
    assert t2.rows["UniX"][t2.columns.index("micro_f1_14_uncertain_pos")] == 52.6
    t3 = paper_table("table3")
    assert t3.rows["UniX-512"][t3.columns.index("fd_raddino")] == 54.022
    assert t3.rows["Sana"][t3.columns.index("kd_raddino")] == 0.016
    t4 = paper_table("table4")
    assert len(t4.columns) == 14 and t4.rows["UniX-512"][t4.columns.index("Pneumothorax")] == 135.48
    assert paper_table("table5").rows == {}
    with pytest.raises(KeyError, match="table9"):
        paper_table("table9")


def test_table3_measured_row_difference_and_not_computed(tmp_path):
    m = write_metrics(tmp_path / "unix-256.json",
                      {"fd_raddino": 300.5, "kd_raddino": 0.5, "precision": 0.1, "recall": 0.0, "density": 0.02,
                       "coverage": 0.125},
                      not_computed={"alignment_score": "BioViL-T weights not configured (weights.biovil_t)"},
                      meta={"resolution": 256, "warnings": ["n_real < 768"]})
    t = paper_table("table3")
    row = B.measured_row(t, m, "ours: unix-256")
    df = B.build_table(t, [row], synthetic=True)
    _cells_ok(df)
    ours = df[df.source == "measured"].iloc[0]
    assert ours["row"] == "ours: unix-256 [synthetic data]" and ours["data"] == B.SYNTHETIC_DATA
    assert ours["compared_with"] == "UniX-256"
    assert ours["FD-RadDino"] == 300.5
    assert ours["FD-RadDino" + B.DIFF_SUFFIX] == pytest.approx(300.5 - 65.208, abs=1e-3)
    assert ours["Coverage" + B.DIFF_SUFFIX] == pytest.approx(0.125 - 0.419, abs=1e-3)
    assert ours["Alignment"] == "not computed (BioViL-T weights not configured (weights.biovil_t))"
    assert ours["Alignment" + B.DIFF_SUFFIX] == "not computed (no measured value)"
    assert ours["Resolution"] == 256
    # published rows are all there, compared with the UniX row of their resolution
    paper = df[df.source == "paper"].set_index("row")
    assert list(paper.index) == list(t.rows)
    assert paper.loc["Sana", "compared_with"] == "UniX-512"
    assert paper.loc["Sana", "FD-RadDino" + B.DIFF_SUFFIX] == pytest.approx(54.225 - 54.022, abs=1e-3)
    assert paper.loc["UniX-512", "KD-RadDino" + B.DIFF_SUFFIX] == 0.0
    assert "n_real < 768" in " ".join(row.notes)


def test_table3_control_row_gives_the_fd_ratio_note(tmp_path):
    """The untrained initial model is Table 3's control: each trained row's FD is noted as a ratio to it."""
    t = paper_table("table3")
    rows = [B.measured_row(t, write_metrics(tmp_path / f"{n}.json", {"fd_raddino": fd}), name)
            for n, name, fd in (("a", "ours: unix-256", 100.0), ("b", "control: init (untrained)", 250.0))]
    notes = B.learning_notes(rows)
    assert notes == ["ours: unix-256: FD-RadDino 100.000 = 0.40 x that of control: init (untrained) (250.000; "
                     "same real features and noise seeds)"]
    assert B.learning_notes(rows[:1]) == []


def test_table2_blank_image_control_gives_the_finding_f1_note(tmp_path):
    """Table 2's text-only control: the notes give each row's F1 on the four clearly drawn findings."""
    t = paper_table("table2")
    rows = [B.measured_row(t, write_metrics(tmp_path / f"{n}.json", {f"f1_uncertain_neg/{f}": v * (i + 1) / 10
                                                                    for i, f in enumerate(B.CLEAR_FINDINGS)}), name)
            for n, name, v in (("a", "ours: unix", 2.0), ("b", "control: unix-blank (blank images)", 0.0))]
    assert rows[0].finding_f1 == pytest.approx({"Cardiomegaly": 20.0, "Pleural Effusion": 40.0,
                                                "Pneumothorax": 60.0, "Support Devices": 80.0})
    assert B.learning_notes(rows) == [
        "ours: unix: mean F1 (u=neg, %) on the findings drawn most clearly into the synthetic images 50.0 "
        "(Cardiomegaly 20.0, Pleural Effusion 40.0, Pneumothorax 60.0, Support Devices 80.0); control: unix-blank "
        "(blank images): 0.0 (Cardiomegaly 0.0, Pleural Effusion 0.0, Pneumothorax 0.0, Support Devices 0.0)"]
    assert B.learning_notes(rows[:1]) == []


def test_table2_scales_fractions_to_percent_and_marks_unreported(tmp_path):
    cols = paper_table("table2").columns
    path = tmp_path / "unix.json"
    write_metrics(path, {c: 0.25 for c in cols}, meta={"labeler": "rules"})
    csv, md = tmp_path / "t2.csv", tmp_path / "t2.md"
    extra = B.make_table("table2", {"ours: unix": path}, True, csv, md)
    df = pd.read_csv(csv, keep_default_na=False)
    _cells_ok(df)
    ours = df[df.source == "measured"].iloc[0]
    assert float(ours["Micro-F1-14 (u=pos)"]) == 25.0
    assert float(ours["Micro-F1-14 (u=pos)" + B.DIFF_SUFFIX]) == pytest.approx(25.0 - 52.6)
    medpalm = df[df.row == "Med-PaLM M"].iloc[0]
    assert medpalm["Micro-F1-14 (u=pos)"] == B.NOT_REPORTED
    # UniX's eval also computes BLEU-4, ROUGE-L and RadGraph F1; the paper's Table 2 prints none of them
    assert float(ours["RadGraph F1"]) == 25.0 and medpalm["BLEU-4"] == B.NOT_REPORTED
    assert "BLEU-4" + B.DIFF_SUFFIX not in df.columns
    assert medpalm["Micro-F1-14 (u=pos)" + B.DIFF_SUFFIX] == B.NOT_REPORTED
    text = md.read_text()
    assert text.splitlines()[0].startswith("# Table 2") and B.SYNTHETIC_TITLE in text.splitlines()[0]
    assert "approximation of CheXbert" in text
    assert extra["row_sources"] == {"ours: unix [synthetic data]": [str(path)]}


def test_table4_per_finding_with_a_subset_too_small(tmp_path):
    values = {f"fd_raddino/{f}": 100.0 + i for i, f in enumerate(FINDINGS) if f != "Fracture"}
    path = tmp_path / "unix-512.json"
    write_metrics(path, values, not_computed={"fd_raddino/Fracture": "only 1 real image with Fracture"},
                  meta={"resolution": 512})
    csv, md = tmp_path / "t4.csv", tmp_path / "t4.md"
    B.make_table("table4", {"ours: unix-512": path}, False, csv, md)
    df = pd.read_csv(csv, keep_default_na=False)
    _cells_ok(df)
    ours = df[df.source == "measured"].iloc[0]
    assert ours["data"] == B.REAL_DATA and "[synthetic" not in ours["row"]
    assert ours["compared_with"] == "UniX-512"
    assert float(ours["Atelectasis" + B.DIFF_SUFFIX]) == pytest.approx(100.0 - 52.19)
    assert ours["Fracture"] == "not computed (only 1 real image with Fracture)"
    assert B.SYNTHETIC_TITLE not in md.read_text()
    # Table 4's published rows take their resolution from Table 3: UniX-512 compares with itself
    assert df[df.row == "UniX-512"].iloc[0]["compared_with"] == "UniX-512"
    assert df[df.row == "LLM-CXR"].iloc[0]["compared_with"] == "UniX-256"


def test_table5_merges_understanding_and_generation_files(tmp_path):
    und, gen = tmp_path / "u.json", tmp_path / "g.json"
    write_metrics(und, {"micro_f1_14_uncertain_pos": 0.3}, not_computed={"fd_raddino": "not an image metric"})
    write_metrics(gen, {"fd_raddino": 210.0})
    csv, md = tmp_path / "t5.csv", tmp_path / "t5.md"
    B.make_table("table5", {"gen_only": [und, gen]}, True, csv, md)
    df = pd.read_csv(csv, keep_default_na=False)
    _cells_ok(df)
    assert len(df) == 1
    assert float(df.iloc[0]["FD-RadDino"]) == 210.0 and float(df.iloc[0]["Micro-F1-14 (u=pos)"]) == 30.0
    assert "not transcribed" in df.iloc[0]["compared_with"]
    assert not any(c.endswith(B.DIFF_SUFFIX) for c in df.columns)  # nothing published to subtract


def test_missing_metric_and_missing_evaluation_say_why(tmp_path):
    path = tmp_path / "x.json"
    write_metrics(path, {"fd_raddino": 1.0})
    t = paper_table("table3")
    from unix.evaluation.results import read_metrics

    row = B.measured_row(t, read_metrics(path), "ours", source_file=str(path))
    assert row.not_computed["precision"] == "metric precision missing from x.json"
    assert row.not_computed["resolution"] == "resolution not recorded in the metrics file"
    df = B.build_table(paper_table("table2"), [], True, missing_reason="no understanding model configured")
    _cells_ok(df)
    assert (df[df.source == "measured"].iloc[0]["Micro-F1-5 (u=neg)"]
            == "not computed (no understanding model configured)")
    with pytest.raises(ValueError, match="empty cells"):
        B.write_table(pd.DataFrame({"row": ["a"], "x": [math.nan]}), tmp_path / "a.csv", tmp_path / "a.md", "t")


def test_all_tables_have_their_paper_rows():
    for key in TABLES:
        t = paper_table(key)
        df = B.build_table(t, [], synthetic=True, missing_reason="not run")
        assert len(df) == len(t.rows) + 1
        _cells_ok(df)


# ---------------------------------------------------------------- figures


def _png_ok(path: Path) -> None:
    with Image.open(path) as im:
        assert im.format == "PNG" and im.size[0] > 200 and im.size[1] > 100


def test_loss_curves(tmp_path):
    logs = {}
    for stage in ("stage1", "stage2"):
        p = tmp_path / stage / "log.csv"
        p.parent.mkdir()
        pd.DataFrame({"step": [1, 2, 3], "loss": [3.0, 2.0, 1.5], "loss_flow": ["", "", ""],
                      "lr": [1e-4] * 3}).to_csv(p, index=False)
        logs[stage] = p
    out = tmp_path / "loss.png"
    info = F.plot_loss_curves(logs, out, synthetic=True)
    _png_ok(out)
    assert info["stages"] == {"stage1": ["loss"], "stage2": ["loss"]}  # empty columns are not plotted
    bad = tmp_path / "bad.csv"
    bad.write_text("epoch,loss\n1,2\n")
    with pytest.raises(ValueError, match="no 'step' column"):
        F.plot_loss_curves({"x": bad}, tmp_path / "x.png", True)


def test_image_grid_and_fd_bars(tmp_path):
    img = Image.new("L", (32, 32), 128)
    F.plot_image_grid([("Small left effusion.", img, img), ("No acute process.", img, None)],
                      tmp_path / "grid.png", synthetic=True)
    _png_ok(tmp_path / "grid.png")
    t4 = paper_table("table4")
    info = F.plot_per_pathology_fd({"unix-512": {f: 100.0 for f in FINDINGS[:-1]}},
                                   {k: t4.rows[k] for k in ("UniX-256", "UniX-512")}, FINDINGS,
                                   tmp_path / "fd.png", synthetic=False)
    _png_ok(tmp_path / "fd.png")
    assert info["missing_findings"] == {"unix-512": ["Support Devices"]}


def test_report_examples_and_split_accounting(tmp_path):
    reports = pd.DataFrame({"report_id": ["s2", "s1"], "raw_text": ["FINAL REPORT\nFINDINGS: ___ clear.", "x"],
                            "cleaned_text": ["FINDINGS: clear. IMPRESSION: normal.", "x"],
                            "status": ["cleaned", "failed"]})
    info = F.plot_report_examples(reports, tmp_path / "reports.png", synthetic=True)
    assert info["report_ids"] == ["s2"]  # only cleaned reports are shown
    _png_ok(tmp_path / "reports.png")
    with pytest.raises(ValueError, match="cleaned_text"):
        F.plot_report_examples(reports.drop(columns="cleaned_text"), tmp_path / "r2.png", True)
    acc = tmp_path / "accounting.csv"
    pd.DataFrame({"dicom_id": list("abcde"), "status": ["kept", "kept", "excluded", "excluded", "excluded"],
                  "reason": ["", "", "lateral_view", "lateral_view", "empty_findings"],
                  "detail": [""] * 5}).to_csv(acc, index=False)
    counts = F.accounting_counts({"understanding": acc})
    assert counts.set_index("reason")["rows"].to_dict() == {"kept": 2, "lateral_view": 2, "empty_findings": 1}
    F.plot_split_accounting({"understanding": acc, "generation": acc}, tmp_path / "acc.png", synthetic=True)
    _png_ok(tmp_path / "acc.png")


# ---------------------------------------------------------------- the rules, in the real Snakefile

TABLE_RULES = ["make_table", "plot_per_pathology_fd"]


def _write_demo_metrics(wd: Path, config: dict) -> None:
    """Metrics files as the evaluation rules write them (values in the paper's ranges, some missing)."""
    from unix.tables import targets as T

    t2 = paper_table("table2").columns
    for spec in T.table_rows(config, "table2").values():
        write_metrics(wd / spec["paths"][0], {c: 0.2 for c in t2}, meta={"labeler": "rules"})
    gen = {"fd_raddino": 250.0, "kd_raddino": 0.3, "precision": 0.2, "recall": 0.1, "density": 0.1, "coverage": 0.2}
    for spec in T.table_rows(config, "table3").values():
        write_metrics(wd / spec["paths"][0], gen, not_computed={"alignment_score": "weights.biovil_t is empty"})
    for spec in T.table_rows(config, "table4").values():
        write_metrics(wd / spec["paths"][0], {f"fd_raddino/{f}": 200.0 for f in FINDINGS[:10]},
                      not_computed={f"fd_raddino/{f}": "fewer than 2 real images" for f in FINDINGS[10:]})
    for spec in T.table_rows(config, "table5").values():
        und, gen_path = spec["paths"]
        write_metrics(wd / und, {"micro_f1_14_uncertain_pos": 0.2})
        write_metrics(wd / gen_path, {"fd_raddino": 240.0})


@pytest.mark.workflow
def test_table_rules_and_html_report(tmp_path, snakemake_run):
    from conftest import demo_config

    config = demo_config()
    wd = tmp_path / "wf"
    _write_demo_metrics(wd, config)
    allowed = ["--allowed-rules", *TABLE_RULES]
    targets = ["tables", "results/figures/per_pathology_fd.png"]
    snakemake_run(wd, *targets, "--cores", "1", *allowed, config=config)
    for key in ("table2", "table3", "table4", "table5"):
        df = pd.read_csv(wd / f"results/tables/{key}.csv", keep_default_na=False)
        _cells_ok(df)
        assert (df["source"] == "measured").sum() >= 1
        assert B.SYNTHETIC_TITLE in (wd / f"results/tables/{key}.md").read_text().splitlines()[0]
        record = json.loads((wd / f"results/tables/{key}.csv.prov.json").read_text())
        assert record["rule"] == "make_table" and record["wildcards"] == {"table": key}
        assert record["extra"]["synthetic"] is True
        assert record["config_keys"]["synthetic"] == "synthetic"
        assert {i["path"] for i in record["inputs"]} == {p for ps in record["extra"]["row_sources"].values()
                                                         for p in ps}
    t3 = pd.read_csv(wd / "results/tables/table3.csv", keep_default_na=False).set_index("row")
    # the demo trains at small resolutions, yet unix-512 is still compared with the paper's UniX-512
    ours512 = t3.loc["ours: unix-512 [synthetic data]"]
    assert ours512["compared_with"] == "UniX-512"
    assert int(ours512["Resolution"]) == config["training"]["stage3"]["resolution"]
    _png_ok(wd / "results/figures/per_pathology_fd.png")
    # one number's row traced back to the metrics file behind it, and only that one
    from unix.provenance.audit_tree import Auditor

    tree = Auditor(wd).tree("results/tables/table3.csv", row="unix-512")
    assert [c.path for c in tree.children] == ["results/evaluation/generation/unix-512.json"]
    with pytest.raises(ValueError, match="matches 2 rows"):
        Auditor(wd).tree("results/tables/table3.csv", row="unix")
    snakemake_run(wd, *targets, "--report", "report.html", *allowed, config=config)
    html = (wd / "report.html").read_text(errors="replace")
    assert "table3.csv" in html and "per_pathology_fd.png" in html


# ---------------------------------------------------------------- the demo, end to end


def metric_interpreters() -> dict[str, str]:
    """config evaluation.interpreters with the venvs `make envs` (and `make test`) builds."""
    from conftest import REPO

    pythons = {env: REPO / f".venv-{env}" / "bin" / "python" for env in ("alignment", "radgraph")}
    missing = [str(p) for p in pythons.values() if not p.exists()]
    if missing:
        pytest.fail(f"{missing} missing: `make envs` (or `make test`) creates the metric environments")
    return {env: str(p) for env, p in pythons.items()}


@pytest.mark.slow
@pytest.mark.workflow
def test_demo_run_tables_are_complete_and_auditable(tmp_path, snakemake_run):
    """`snakemake tables` on the synthetic demo, with the metric environments as `make demo` passes them: four
    complete tables whose Alignment, BLEU-4 and RadGraph F1 are numbers (random stand-in BioViL-T and RadGraph,
    noted), each traceable to the synthetic MIMIC files; a config edit upstream makes the audit report the table
    stale; --verify passes."""
    import subprocess
    import sys

    from conftest import demo_config

    config = demo_config(evaluation={"interpreters": metric_interpreters()})
    wd = tmp_path / "demo"
    snakemake_run(wd, "tables", "--cores", "2", config=config, timeout=3000)
    for key in ("table2", "table3", "table4", "table5"):
        df = pd.read_csv(wd / f"results/tables/{key}.csv", keep_default_na=False)
        _cells_ok(df)
        assert (df["source"] == "measured").sum() >= 1
        assert B.SYNTHETIC_TITLE in (wd / f"results/tables/{key}.md").read_text().splitlines()[0]
    for key, columns, note in (("table2", ["BLEU-4", "RadGraph F1"], "RadGraph is a randomly initialised stand-in"),
                               ("table3", ["Alignment"], "BioViL-T is a randomly initialised stand-in")):
        measured = pd.read_csv(wd / f"results/tables/{key}.csv", keep_default_na=False).query("source == 'measured'")
        for column in columns:
            assert all(_is_number(str(v)) for v in measured[column]), (key, column, list(measured[column]))
        assert note in (wd / f"results/tables/{key}.md").read_text()

    unix = str(Path(sys.executable).parent / "unix")

    def audit(*args: str) -> subprocess.CompletedProcess:
        return subprocess.run([unix, "audit", *args], cwd=wd, capture_output=True, text=True, timeout=600)

    proc = audit("results/tables/table3.csv", "--json")
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    tree = json.loads(proc.stdout)

    def paths(t: dict) -> set[str]:
        return {t["path"]}.union(*(paths(c) for c in t["children"]))

    reached = paths(tree)
    for name in ("mimic-cxr-2.0.0-metadata.csv.gz", "mimic-cxr-2.0.0-split.csv.gz", "mimic-cxr-2.0.0-chexpert.csv.gz"):
        assert f"results/data/synthetic/mimic-cxr-jpg/{name}" in reached
    verify = json.loads(audit("--verify", "--json").stdout)
    assert verify["ok"], verify["mismatches"]

    edited = demo_config()
    edited["data"]["synthetic"]["n_subjects"] = config["data"]["synthetic"]["n_subjects"] + 1
    (wd / "config.yaml").write_text(yaml.safe_dump(edited))
    proc = audit("results/tables/table3.csv")
    assert proc.returncode == 1 and "RESULT IS STALE" in proc.stdout
    assert "data.synthetic.n_subjects = " in proc.stdout

    # every file under results/ has a record, except caches and resumable checkpoints (not outputs by design)
    assert all("/cache/" in p or "/checkpoints/" in p for p in verify["unrecorded"]), verify["unrecorded"]


def test_image_grid_examples_from_a_tiny_model(tmp_path):
    """Fixed prompts: the first deduplicated test prompts; seeded noise gives the same images twice."""
    import io

    import numpy as np
    import torch

    from unix.model import UniX, UniXConfig
    from unix.model.tokenizer import special_token_ids, train_tokenizer

    texts = ["Small left pleural effusion.", "No acute process.", "Cardiomegaly with edema."] * 20
    tokenizer = train_tokenizer(texts, 300)
    torch.manual_seed(0)
    model = UniX(UniXConfig.from_name("tiny", vocab_size=len(tokenizer), **special_token_ids(tokenizer)))
    model.save_pretrained(tmp_path / "model")
    tokenizer.save_pretrained(str(tmp_path / "model"))
    split = pd.DataFrame({"dicom_id": ["d0", "d1", "d2", "d3"], "split": ["train", "test", "test", "test"],
                          "prompt": ["No acute process.", "Small left pleural effusion.",
                                     "Small left pleural effusion.", "Cardiomegaly with edema."]})
    split.to_parquet(tmp_path / "split.parquet")

    def png(value: int) -> bytes:
        buf = io.BytesIO()
        Image.new("L", (16, 16), value).save(buf, format="PNG")
        return buf.getvalue()

    pd.DataFrame({"dicom_id": ["d1", "d2", "d3"], "image": [png(10), png(20), png(30)]}).to_parquet(
        tmp_path / "000.parquet")
    args = (tmp_path / "split.parquet", [tmp_path / "000.parquet"], tmp_path / "model")
    examples = F.image_grid_examples(*args, n=4, seed=0, image_size=32, steps=2)
    assert [p for p, _, _ in examples] == ["Small left pleural effusion.", "Cardiomegaly with edema."]
    assert [np.asarray(r).mean() for _, r, _ in examples] == [10, 30]
    again = F.image_grid_examples(*args, n=4, seed=0, image_size=32, steps=2)
    assert all(np.array_equal(np.asarray(a[2]), np.asarray(b[2])) for a, b in zip(examples, again))
    F.plot_image_grid(examples, tmp_path / "grid.png", synthetic=True)
    _png_ok(tmp_path / "grid.png")


@pytest.mark.workflow
def test_each_table_target_builds_only_what_it_needs(tmp_path, snakemake_run):
    """Dry runs: table3 evaluates no report generation, table2 generates no images."""
    from conftest import demo_config, dry_run_jobs

    def jobs(target: str, config: dict | None = None) -> set[str]:
        return dry_run_jobs(snakemake_run(tmp_path / f"{target}-{bool(config)}", target, "-n", config=config).stdout)

    t3 = jobs("table3")
    assert {"make_table[table3]", "evaluate_generation"} <= t3
    assert not t3 & {"generate_reports", "evaluate_understanding", "evaluate_per_pathology", "train_ablation",
                     "make_table[table2]", "make_table[table4]", "make_table[table5]"}
    # The paper's Stage 2 starts from the Stage-1 model; with generation_init: init, table3 trains no
    # understanding model at all.
    assert "train_stage[stage1]" in t3
    t3_init = jobs("table3", demo_config(training={"generation_init": "init"}))
    assert {"train_stage[stage2]", "train_stage[stage3]", "make_table[table3]"} <= t3_init
    assert not t3_init & {"train_stage[stage1]", "clean_reports", "gather_cleaned_reports"}
    t2 = jobs("table2")
    assert {"make_table[table2]", "evaluate_understanding"} <= t2
    assert "train_stage1_blank" in t2 and "train_stage1_blank" not in t3  # the text-only control
    assert not t2 & {"generate_images", "extract_features", "train_stage[stage2]", "train_stage[stage3]",
                     "train_ablation"}
