"""The data stage as a workflow: dry runs (fast) and the `data` target on the synthetic demo (slow),
checked row by row against the generator's ground truth."""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd
import pytest

from conftest import demo_config, run_snakemake
from unix import workflow as W
from unix.data import splits as S
from unix.data.images import read_images, shard_index
from unix.data.mimic import CHEXPERT_LABELS
from unix.data.report_text import COMBINED_HEADERS

pytestmark = pytest.mark.workflow  # every test here runs Snakemake

IMAGE_DEFECT_REASON = {"corrupt_jpeg": S.CORRUPT_IMAGE, "truncated_jpeg": S.CORRUPT_IMAGE,
                       "missing_image": S.MISSING_IMAGE}
REPORT_DEFECT_REASON = {"empty_report": "empty_report", "non_utf8_report": "report_not_utf8",
                        "missing_report": "no_report"}


def expected_reason(row: pd.Series, splits: tuple[str, ...]) -> str:
    """What the selection must say about one ground-truth row ("" = kept, before prompt deduplication)."""
    if row["defect"] == "duplicate_id":
        return S.DUPLICATE_ID
    if row["split"] not in splits:
        return S.SPLIT_NOT_USED
    view = row["view_position"]
    if view not in ("PA", "AP"):
        _, reason = S.classify_views(pd.Series([view]))
        return reason.iloc[0]
    if row["defect"] in IMAGE_DEFECT_REASON:
        return IMAGE_DEFECT_REASON[row["defect"]]
    if row["defect"] in REPORT_DEFECT_REASON:
        return REPORT_DEFECT_REASON[row["defect"]]
    return "" if row["has_findings"] else S.EMPTY_FINDINGS


def small_demo(**data) -> dict:
    return demo_config(data={"synthetic": {"n_subjects": 24, "image_size": 256}, "images": {"shards": 3}, **data})


def test_dry_run_lists_one_image_job_per_shard(tmp_path):
    proc = run_snakemake(tmp_path, "-n", "data", config=small_demo())
    stats = proc.stdout.split("Job stats:")[-1]
    counts = {line.split()[0]: int(line.split()[1]) for line in stats.splitlines()[3:]
              if len(line.split()) == 2 and line.split()[1].isdigit()}
    assert counts["prepare_images"] == 3
    assert counts["select_understanding_split"] == counts["select_generation_split"] == 1
    assert counts["check_images"] == 1  # one image check serves both selections
    assert counts["make_demo_data"] == 1


def test_dry_run_with_llava_rad_annotations_adds_them_as_inputs(tmp_path):
    files = {k: str(tmp_path / f"{k}.csv") for k in ("train", "test")}
    for f in files.values():
        Path(f).write_text("id,path,annotated_prompt,chexpert_labels,view\n")
    proc = run_snakemake(tmp_path / "w", "-n", "-p", W.GENERATION_SPLIT,
                         config=small_demo(llava_rad_annotations=files))
    assert files["train"] in proc.stdout and files["test"] in proc.stdout


@pytest.mark.slow
def test_data_target_on_the_demo_matches_the_ground_truth(tmp_path):
    run_snakemake(tmp_path, "--cores", "2", "data", config=small_demo())
    truth = pd.read_csv(tmp_path / W.SYNTHETIC_GROUND_TRUTH, keep_default_na=False, dtype={"view_position": str})
    truth["has_findings"] = truth["has_findings"].astype(str) == "True"
    assert set(truth["defect"]) - {""}, "the demo must contain broken inputs"

    for what, splits in (("understanding", ("train", "validate", "test")), ("generation", ("train", "test"))):
        acc = pd.read_csv(tmp_path / f"results/data/{what}/accounting.csv", keep_default_na=False)
        table = pd.read_parquet(tmp_path / f"results/data/{what}/split.parquet")
        # One accounting row per metadata row, in metadata order (the ground truth has the same order).
        assert len(acc) == len(truth)
        assert acc["dicom_id"].tolist() == truth["dicom_id"].tolist()
        expected = truth.apply(expected_reason, axis=1, splits=splits)
        observed = acc["reason"].where(acc["status"] == S.EXCLUDED, "")
        if what == "generation":
            dup = observed == S.DUPLICATE_PROMPT
            assert (acc.loc[dup, "split"] == "test").all() and (expected[dup] == "").all()
            observed = observed.where(~dup, "")
            assert table.loc[table["split"] == "test", "prompt"].is_unique
        mismatch = truth.assign(expected=expected, observed=observed)[expected != observed]
        assert mismatch.empty, f"{what}: rows with the wrong reason:\n{mismatch.to_string()}"
        assert sorted(table["dicom_id"]) == sorted(acc.loc[acc["status"] == S.KEPT, "dicom_id"])
        assert list(table.columns[-14:]) == CHEXPERT_LABELS
        assert (tmp_path / f"results/data/{what}/split.parquet.prov.json").exists()
        counts = json.loads((tmp_path / f"results/data/{what}/split.parquet.prov.json").read_text())["extra"]["counts"]
        assert sum(counts["kept"].values()) == len(table)

    und = pd.read_parquet(tmp_path / W.UNDERSTANDING_SPLIT)
    gen = pd.read_parquet(tmp_path / W.GENERATION_SPLIT)
    # Reports under an old-style findings header (an exam title) are kept in both splits.
    usable = ((truth["defect"] == "") & truth["view_position"].isin(["PA", "AP"])
              & truth["split"].isin(["train", "test"]))
    old = truth[usable & ~truth["findings_header"].isin(["", "FINDINGS", *COMBINED_HEADERS])]
    gen_acc = pd.read_csv(tmp_path / W.GENERATION_ACCOUNTING, keep_default_na=False)
    gen_dup = set(gen_acc.loc[gen_acc["reason"] == S.DUPLICATE_PROMPT, "dicom_id"])
    assert len(old) and set(old["dicom_id"]) <= set(und["dicom_id"])
    assert set(old["dicom_id"]) - gen_dup <= set(gen["dicom_id"])
    assert set(und["split"]) == {"train", "validate", "test"} and set(gen["split"]) == {"train", "test"}
    kept = set(und["dicom_id"]) | set(gen["dicom_id"])
    for size in (384, 256, 512):
        images = read_images(tmp_path / f"results/data/images/{size}", size=size)
        assert set(images) == kept
        for shard in ("000", "001", "002"):
            ids = pd.read_parquet(tmp_path / f"results/data/images/{size}/{shard}.parquet")["dicom_id"]
            assert all(shard_index(d, 3) == int(shard) for d in ids)
