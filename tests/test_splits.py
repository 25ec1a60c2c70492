"""Split selection: the selection rules, and an accounting where every input row has its reason.

The fixture is a hand-written MIMIC-CXR-JPG tree (`tiny_mimic`) in the real layout with one row per
case: each defect appears once, so each expected reason is checked against the row that causes it.
"""

from __future__ import annotations

import io
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from PIL import Image

from unix.data import splits as S
from unix.data.mimic import CHEXPERT_CSV, CHEXPERT_LABELS, METADATA_COLUMNS, METADATA_CSV, SPLIT_CSV, image_relpath, report_relpath

REPORT = """                                 FINAL REPORT
 EXAMINATION:  CHEST (PA AND LAT)

 INDICATION:  ___F with cough

 FINDINGS:

 {findings}

 IMPRESSION:

 No acute cardiopulmonary process.
"""


OLD_STYLE = """                                 FINAL REPORT
 HISTORY:  ___-year-old man with cough.
 \n PA AND LATERAL CHEST RADIOGRAPHS:  The heart is mildly enlarged.  No pleural
 effusion.
 \n IMPRESSION:  Mild cardiomegaly.
"""


def jpeg_bytes(width: int = 40, height: int = 52, value: int = 0) -> bytes:
    """A small grayscale JPEG with a gradient (so decoding has real work to do)."""
    arr = (np.add.outer(np.arange(height), np.arange(width)) * 3 + value) % 256
    buf = io.BytesIO()
    Image.fromarray(arr.astype(np.uint8), "L").save(buf, "JPEG", quality=90)
    return buf.getvalue()


# dicom_id: (subject, study, split or None (absent from the split CSV), view, report, image, reason
# in understanding, reason in generation). report: text, b"" bytes, or None (no file).
CASES: dict[str, tuple] = {
    "ok-pa": (10000001, 50000001, "train", "PA", REPORT.format(findings="Lungs are clear.\n Heart normal."),
              "ok", "", ""),
    "ok-ap": (10000001, 50000001, "train", "AP", None, "ok", "", ""),
    "lat": (10000001, 50000001, "train", "LATERAL", None, "ok", S.LATERAL_VIEW, S.LATERAL_VIEW),
    "val": (10000002, 50000002, "validate", "PA", REPORT.format(findings="Small left effusion."), "ok",
            "", S.SPLIT_NOT_USED),
    "test-a": (10000003, 50000003, "test", "PA", REPORT.format(findings="No pneumothorax."), "ok", "", ""),
    "test-b": (10000003, 50000004, "test", "AP", REPORT.format(findings="No  pneumothorax.\n"), "ok",
               "", S.DUPLICATE_PROMPT),
    "noview": (10000004, 50000005, "train", "", REPORT.format(findings="x"), "ok", S.UNKNOWN_VIEW, S.UNKNOWN_VIEW),
    "weird": (10000004, 50000005, "train", "FOO", None, "ok", S.UNKNOWN_VIEW, S.UNKNOWN_VIEW),
    "axial": (10000004, 50000005, "train", "AP AXIAL", None, "ok", S.NON_FRONTAL_VIEW, S.NON_FRONTAL_VIEW),
    "noimg": (10000005, 50000006, "train", "PA", REPORT.format(findings="y"), "missing", S.MISSING_IMAGE,
              S.MISSING_IMAGE),
    "garbage": (10000005, 50000007, "train", "PA", REPORT.format(findings="z"), "garbage", S.CORRUPT_IMAGE,
                S.CORRUPT_IMAGE),
    "trunc": (10000005, 50000008, "train", "PA", REPORT.format(findings="w"), "truncated", S.CORRUPT_IMAGE,
              S.CORRUPT_IMAGE),
    "emptyrep": (10000006, 50000009, "train", "PA", b"  \n", "ok", "empty_report", "empty_report"),
    "latin1": (10000006, 50000010, "train", "PA", "FINDINGS: caf\xe9".encode("latin-1"), "ok",
               "report_not_utf8", "report_not_utf8"),
    "norep": (10000006, 50000011, "test", "PA", None, "ok", "no_report", "no_report"),
    "nofind": (10000007, 50000012, "train", "PA", "Heart size normal.\nLungs clear.", "ok", S.EMPTY_FINDINGS,
               S.EMPTY_FINDINGS),
    "nosplit": (10000007, 50000013, None, "PA", REPORT.format(findings="v"), "ok", S.NOT_IN_SPLIT,
                S.NOT_IN_SPLIT),
    # Header styles: an old-style exam title is findings (official map), so the report is kept in both splits;
    # FINDINGS AND IMPRESSION is impression (official map), so there are no findings.
    "oldhdr": (10000009, 50000015, "train", "PA", OLD_STYLE, "ok", "", ""),
    "f-and-i": (10000009, 50000016, "train", "AP", OLD_STYLE.replace("PA AND LATERAL CHEST RADIOGRAPHS",
                                                                      "FINDINGS AND IMPRESSION"), "ok",
                S.EMPTY_FINDINGS, S.EMPTY_FINDINGS),
}
# Extra input rows: a repeated metadata row, and a split row with no metadata row.
DUPLICATE_ROW = "ok-pa"
ORPHAN = ("orphan", 10000008, 50000014, "train")


def tiny_mimic(root: Path) -> Path:
    """Write the CASES tree under `root` (MIMIC-CXR-JPG layout, reports in the same tree); return root."""
    meta_rows, split_rows = [], []
    for dicom, (subj, study, split, view, report, image, *_rest) in CASES.items():
        meta_rows.append({c: "" for c in METADATA_COLUMNS} | {
            "dicom_id": dicom, "subject_id": subj, "study_id": study, "ViewPosition": view, "Rows": 52,
            "Columns": 40})
        if split is not None:
            split_rows.append({"dicom_id": dicom, "study_id": study, "subject_id": subj, "split": split})
        img = root / image_relpath(subj, study, dicom)
        img.parent.mkdir(parents=True, exist_ok=True)
        data = jpeg_bytes(value=len(dicom))
        if image == "ok":
            img.write_bytes(data)
        elif image == "garbage":
            img.write_bytes(b"\xff\xd8\xff" + bytes(range(256)) * 4 + b"\xff\xd9")
        elif image == "truncated":
            img.write_bytes(data[: len(data) // 2])
        if report is not None:
            rep = root / report_relpath(subj, study)
            rep.write_bytes(report.encode() if isinstance(report, str) else report)
    meta_rows.append(dict(meta_rows[list(CASES).index(DUPLICATE_ROW)]))
    dicom, subj, study, split = ORPHAN
    split_rows.append({"dicom_id": dicom, "study_id": study, "subject_id": subj, "split": split})
    labels = []
    for subj, study in sorted({(c[0], c[1]) for c in CASES.values()}):
        labels.append({"subject_id": subj, "study_id": study} | {n: "" for n in CHEXPERT_LABELS}
                      | {"Cardiomegaly": "1.0", "Edema": "-1.0", "No Finding": "0.0"})
    pd.DataFrame(meta_rows).to_csv(root / METADATA_CSV, index=False, compression="gzip")
    pd.DataFrame(split_rows).to_csv(root / SPLIT_CSV, index=False, compression="gzip")
    pd.DataFrame(labels).to_csv(root / CHEXPERT_CSV, index=False, compression="gzip")
    return root


@pytest.fixture(scope="module")
def mimic(tmp_path_factory) -> Path:
    return tiny_mimic(tmp_path_factory.mktemp("mimic"))


def csvs(root: Path) -> tuple[Path, Path, Path]:
    return root / SPLIT_CSV, root / METADATA_CSV, root / CHEXPERT_CSV


def expected_reasons(column: int) -> dict[tuple[str, int], str]:
    """(dicom_id, occurrence) -> expected reason ("" kept) for column 6 (understanding) or 7 (generation)."""
    out = {(d, 0): c[column] for d, c in CASES.items()}
    out[(DUPLICATE_ROW, 1)] = S.DUPLICATE_ID
    out[(ORPHAN[0], 0)] = S.NO_METADATA
    return out


def observed_reasons(acc: pd.DataFrame) -> dict[tuple[str, int], str]:
    occ = acc.groupby("dicom_id").cumcount()
    return {(d, int(o)): ("" if s == S.KEPT else r) for d, o, s, r in zip(acc["dicom_id"], occ, acc["status"],
                                                                            acc["reason"])}


def test_understanding_accounts_for_every_row_with_its_reason(mimic):
    sel = S.select_understanding(*csvs(mimic), images_root=mimic, reports_root=mimic)
    acc = sel.accounting
    assert len(acc) == len(CASES) + 2  # the repeated metadata row and the split-only row
    assert observed_reasons(acc) == expected_reasons(6)
    assert set(acc["status"]) == {S.KEPT, S.EXCLUDED}
    assert (acc.loc[acc["status"] == S.EXCLUDED, "detail"] != "").all()
    assert sorted(sel.table["dicom_id"]) == sorted(d for d, c in CASES.items() if c[6] == "")


def test_understanding_table_contract(mimic):
    table = S.select_understanding(*csvs(mimic), images_root=mimic, reports_root=mimic).table
    assert list(table.columns[:10]) == ["dicom_id", "subject_id", "study_id", "split", "view_position",
                                        "image_path", "report_path", "report_text", "findings", "impression"]
    assert list(table.columns[10:]) == CHEXPERT_LABELS
    assert table["subject_id"].dtype == "int64" and table["study_id"].dtype == "int64"
    row = table.set_index("dicom_id").loc["ok-pa"]
    assert row["image_path"] == image_relpath(10000001, 50000001, "ok-pa")
    assert row["report_path"] == report_relpath(10000001, 50000001)
    assert row["findings"] == "Lungs are clear. Heart normal."
    assert row["impression"] == "No acute cardiopulmonary process."
    assert "FINAL REPORT" in row["report_text"]
    assert row["Cardiomegaly"] == 1.0 and row["Edema"] == -1.0 and row["No Finding"] == 0.0
    assert np.isnan(row["Atelectasis"])
    for name in CHEXPERT_LABELS:
        assert table[name].dtype == "float64"


def test_understanding_without_findings_requirement_keeps_single_paragraph_reports(mimic):
    sel = S.select_understanding(*csvs(mimic), images_root=mimic, reports_root=mimic,
                                 options=S.UnderstandingOptions(require_findings=False))
    assert "nofind" in set(sel.table["dicom_id"])


def test_generation_from_findings(mimic):
    sel = S.select_generation(*csvs(mimic), images_root=mimic, reports_root=mimic)
    assert observed_reasons(sel.accounting) == expected_reasons(7)
    t = sel.table.set_index("dicom_id")
    assert list(sel.table.columns) == S.GENERATION_COLUMNS
    assert set(t["split"]) == {"train", "test"}
    assert (t["prompt_source"] == "findings").all()
    assert t.loc["test-a", "prompt"] == "No pneumothorax."
    dup = sel.accounting.set_index("dicom_id").loc["test-b"]
    assert dup["reason"] == S.DUPLICATE_PROMPT and "test-a" in dup["detail"]
    assert sel.counts()["duplicate_prompts"] == 1


def test_generation_dedup_can_be_turned_off(mimic):
    sel = S.select_generation(*csvs(mimic), images_root=mimic, reports_root=mimic,
                              options=S.GenerationOptions(dedup_test_prompts=False))
    assert {"test-a", "test-b"} <= set(sel.table["dicom_id"])


def test_header_check_misses_only_what_it_cannot_see(mimic):
    """The cheap check finds missing and truncated files; the full-garbage file fails its header parse."""
    sel = S.select_understanding(*csvs(mimic), images_root=mimic, reports_root=mimic,
                                 checks=S.FileChecks(image_check="header", workers=2))
    assert observed_reasons(sel.accounting) == expected_reasons(6)


def test_threaded_checks_give_the_same_result(mimic):
    one = S.select_understanding(*csvs(mimic), images_root=mimic, reports_root=mimic)
    two = S.select_understanding(*csvs(mimic), images_root=mimic, reports_root=mimic,
                                 checks=S.FileChecks(workers=3))
    pd.testing.assert_frame_equal(one.table, two.table)
    pd.testing.assert_frame_equal(one.accounting, two.accounting)


def test_exclusions_are_logged_once_per_reason_with_count(mimic, caplog):
    caplog.set_level("INFO", logger="unix.data.splits")
    S.select_understanding(*csvs(mimic), images_root=mimic, reports_root=mimic)
    lines = [r.getMessage() for r in caplog.records if "excluded" in r.getMessage() and "e.g." in r.getMessage()]
    assert sum(f": {S.CORRUPT_IMAGE}, e.g." in m for m in lines) == 1
    assert any(f"excluded 2 rows: {S.CORRUPT_IMAGE}" in m for m in lines)


def test_check_image_reasons(tmp_path):
    good = tmp_path / "good.jpg"
    good.write_bytes(jpeg_bytes())
    assert S.check_image(good) == ("", "")
    assert S.check_image(tmp_path / "absent.jpg")[0] == S.MISSING_IMAGE
    (tmp_path / "empty.jpg").write_bytes(b"")
    assert S.check_image(tmp_path / "empty.jpg")[0] == S.CORRUPT_IMAGE
    png = tmp_path / "png.jpg"
    Image.new("L", (8, 8)).save(png, "PNG")
    assert S.check_image(png)[0] == S.CORRUPT_IMAGE
    data = bytearray(jpeg_bytes(200, 200))
    # Break the entropy-coded data but keep the markers: the header check passes, decoding fails.
    start = data.index(b"\xff\xda") + 20
    data[start:start + 300] = b"\xff" * 300
    bad = tmp_path / "bad.jpg"
    bad.write_bytes(bytes(data))
    assert S.check_image(bad, "header") == ("", "")
    reason, detail = S.check_image(bad, "decode")
    assert reason == S.CORRUPT_IMAGE and "bad.jpg" in detail


def test_classify_views():
    frontal, reason = S.classify_views(pd.Series(["PA", " ap ", "LL", "LATERAL", "SWIMMERS", "", "XYZ", None]))
    assert frontal.tolist() == [True, True, False, False, False, False, False, False]
    assert reason.tolist() == ["", "", S.LATERAL_VIEW, S.LATERAL_VIEW, S.NON_FRONTAL_VIEW, S.UNKNOWN_VIEW,
                               S.UNKNOWN_VIEW, S.UNKNOWN_VIEW]


def test_invalid_ids_and_split_mismatch_are_reasons_not_crashes():
    split = pd.DataFrame({"dicom_id": ["a", "b", "c"], "study_id": ["1", "2", "99"], "subject_id": ["10", "20", "30"],
                          "split": ["train", "TRAIN", "train"]})
    meta = pd.DataFrame({"dicom_id": ["a", "b", "c"], "subject_id": ["10", "x", "30"], "study_id": ["1", "2", "3"],
                         "ViewPosition": ["PA", "PA", "PA"]})
    df = S.candidate_images(split, meta, ["train"])
    assert df["reason"].tolist() == ["", S.INVALID_ID, S.ID_MISMATCH]
    assert "subject_id=x" in df.loc[1, "detail"]


def test_missing_column_names_file_and_column(tmp_path):
    bad = tmp_path / "split.csv.gz"
    pd.DataFrame({"dicom_id": ["a"], "split": ["train"]}).to_csv(bad, index=False, compression="gzip")
    with pytest.raises(ValueError, match=r"split\.csv\.gz lacks column\(s\) \['study_id', 'subject_id'\]"):
        S.read_csv(bad, ["dicom_id", "study_id", "subject_id", "split"], "split CSV")


def test_options_reject_bad_values():
    with pytest.raises(ValueError, match="data.generation.splits"):
        S.GenerationOptions(splits=("training",))
    with pytest.raises(ValueError, match="data.checks.image_check"):
        S.FileChecks(image_check="full")


def llava_rad_csvs(root: Path) -> dict[str, str]:
    """LLaVA-Rad-style annotation CSVs over the CASES images."""
    def row(dicom, prompt, labels="{'Atelectasis': 1.0, 'Edema': None}", view="PA"):
        subj, study = CASES[dicom][0], CASES[dicom][1]
        return {"id": dicom, "path": image_relpath(subj, study, dicom), "annotated_prompt": prompt,
                "chexpert_labels": labels, "view": view, "split": ""}
    train = [row("ok-pa", "Clear lungs."), row("ok-ap", ""), row("lat", "x", view="LATERAL"),
             row("noimg", "y"), row("ok-pa", "again"), row("val", "z", labels="not a dict")]
    test = [row("test-a", "Same."), row("test-b", "Same."), row("noview", "Other.")]
    bad_path = dict(row("ok-pa", "p"), path="images/ok-pa.png")
    test.append(bad_path)
    paths = {}
    for name, rows in (("train", train), ("test", test)):
        paths[name] = str(root / f"LLAVARAD_ANNOTATIONS_{name.upper()}.csv")
        pd.DataFrame(rows).to_csv(paths[name], index=False)
    return paths


def test_generation_from_llava_rad_annotations(mimic, tmp_path):
    files = llava_rad_csvs(tmp_path)
    sel = S.select_generation(*csvs(mimic), images_root=mimic, reports_root=mimic, llava_rad=files)
    acc = sel.accounting
    assert acc["reason"].tolist() == ["", S.EMPTY_PROMPT, S.LATERAL_VIEW, S.MISSING_IMAGE, S.DUPLICATE_ID,
                                      S.INVALID_LABELS, "", S.DUPLICATE_PROMPT, "", S.INVALID_PATH]
    t = sel.table.set_index("dicom_id")
    assert sorted(t.index) == ["noview", "ok-pa", "test-a"]  # LLaVA-Rad's view column says PA for noview
    assert (t["prompt_source"] == "llava_rad").all()
    assert t.loc["ok-pa", "prompt"] == "Clear lungs." and t.loc["ok-pa", "Atelectasis"] == 1.0
    assert np.isnan(t.loc["ok-pa", "Edema"]) and t.loc["test-a", "split"] == "test"


def test_llava_rad_needs_both_files(mimic):
    with pytest.raises(ValueError, match="set both train and test"):
        S.select_generation(*csvs(mimic), images_root=mimic, reports_root=mimic, llava_rad={"train": "x", "test": ""})


def test_parse_label_dict():
    labels = S.parse_label_dict("{'Cardiomegaly': 1.0, 'Edema': -1.0, 'Fracture': None}")
    assert labels["Cardiomegaly"] == 1.0 and labels["Edema"] == -1.0 and np.isnan(labels["Fracture"])
    assert len(labels) == 14
    assert S.parse_label_dict("[1, 2]") is None
    assert S.parse_label_dict("{'Edema': 2.0}") is None
    assert S.parse_label_dict("{'Edema': ") is None



def test_labels_bad_cells_and_missing_studies_become_nan(caplog):
    caplog.set_level("WARNING", logger="unix.data.splits")
    table = pd.DataFrame({"dicom_id": ["a", "b"], "subject_id": [10, 20], "study_id": [1, 2]})
    labels = pd.DataFrame({"subject_id": ["10", "10"], "study_id": ["1", "1"]}
                          | {n: ["", ""] for n in CHEXPERT_LABELS})
    labels.loc[0, "Edema"], labels.loc[0, "Cardiomegaly"], labels.loc[0, "Fracture"] = "yes", " -1.0 ", "0"
    labels.loc[1, "Edema"] = "1.0"  # a repeated study row: the first one wins
    out = S.attach_labels(table, labels).set_index("dicom_id")
    assert np.isnan(out.loc["a", "Edema"]) and out.loc["a", "Cardiomegaly"] == -1.0 and out.loc["a", "Fracture"] == 0.0
    assert out.loc[["b"], CHEXPERT_LABELS].isna().all().all()
    messages = " ".join(r.getMessage() for r in caplog.records)
    assert "'Edema': 1 cells are not 1/0/-1/empty" in messages and "1 kept rows have no CheXpert label row" in messages


def test_malformed_csv_is_a_clear_error(tmp_path):
    bad = tmp_path / "meta.csv"
    bad.write_text('dicom_id,subject_id,study_id,ViewPosition\na,1,2,PA\nb,"unterminated\n')
    with pytest.raises(ValueError, match="meta.csv is not a well-formed CSV"):
        S.read_csv(bad, ["dicom_id", "subject_id", "study_id", "ViewPosition"], "metadata CSV")


def test_nothing_kept_is_an_error_that_points_at_the_roots(mimic, tmp_path):
    with pytest.raises(ValueError, match=r"no input row was kept .*missing_image: .*data.mimic_cxr_jpg"):
        S.select_understanding(*csvs(mimic), images_root=tmp_path, reports_root=mimic)


# ---------------------------------------------------------------- one image check for both selections


def test_old_style_findings_header_is_kept_in_both_splits(mimic):
    und = S.select_understanding(*csvs(mimic), images_root=mimic, reports_root=mimic)
    gen = S.select_generation(*csvs(mimic), images_root=mimic, reports_root=mimic)
    row = und.table.set_index("dicom_id").loc["oldhdr"]
    assert row["findings"] == "The heart is mildly enlarged. No pleural effusion."
    assert row["impression"] == "Mild cardiomegaly."
    assert gen.table.set_index("dicom_id").loc["oldhdr", "prompt"] == row["findings"]


def test_one_image_check_table_serves_both_selections(mimic, monkeypatch):
    splits = sorted(set(S.UnderstandingOptions().splits) | set(S.GenerationOptions().splits))
    checked = S.select_image_check(mimic / SPLIT_CSV, mimic / METADATA_CSV, mimic, splits)
    assert list(checked.columns) == ["dicom_id", "image_path", "reason", "detail"]
    assert checked["image_path"].is_unique
    reasons = dict(zip(checked["dicom_id"], checked["reason"]))
    assert reasons["ok-pa"] == "" and reasons["noimg"] == S.MISSING_IMAGE and reasons["trunc"] == S.CORRUPT_IMAGE
    assert "lat" not in reasons and "nosplit" not in reasons  # only what a selection could keep is checked
    inline_u = S.select_understanding(*csvs(mimic), images_root=mimic, reports_root=mimic)
    inline_g = S.select_generation(*csvs(mimic), images_root=mimic, reports_root=mimic)

    def no_check(*args, **kwargs):
        raise AssertionError("an image was checked again although the table has it")

    monkeypatch.setattr("unix.data.file_checks.check_image", no_check)
    und = S.select_understanding(*csvs(mimic), images_root=mimic, reports_root=mimic, checked_images=checked)
    gen = S.select_generation(*csvs(mimic), images_root=mimic, reports_root=mimic, checked_images=checked)
    pd.testing.assert_frame_equal(und.accounting, inline_u.accounting)
    pd.testing.assert_frame_equal(und.table, inline_u.table)
    pd.testing.assert_frame_equal(gen.accounting, inline_g.accounting)
    pd.testing.assert_frame_equal(gen.table, inline_g.table)


def test_images_missing_from_the_check_table_are_checked_on_the_spot(mimic):
    checked = S.select_image_check(mimic / SPLIT_CSV, mimic / METADATA_CSV, mimic, ["train"])
    sel = S.select_understanding(*csvs(mimic), images_root=mimic, reports_root=mimic, checked_images=checked)
    assert observed_reasons(sel.accounting) == expected_reasons(6)  # validate and test images checked here
    # A table result is used as it is (here: one that says corrupt), not checked again.
    forged = checked.assign(reason=np.where(checked["dicom_id"] == "ok-pa", S.CORRUPT_IMAGE, checked["reason"]))
    sel = S.select_understanding(*csvs(mimic), images_root=mimic, reports_root=mimic, checked_images=forged)
    assert sel.accounting.set_index("dicom_id").loc["ok-pa", "reason"].tolist()[0] == S.CORRUPT_IMAGE
