"""The synthetic MIMIC-CXR-JPG tree: exact layout, determinism, labels that agree with the reports,
visible findings, the deliberately broken inputs, the metadata-only scale mode, the CLI and the rule."""

from __future__ import annotations

import datetime as dt
import gzip
import json
import re
from collections import Counter
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from PIL import Image

from conftest import demo_config, run_snakemake
from unix.data import mimic
from unix.data import radiograph as rad
from unix.data.mimic import CHEXPERT_LABELS, FRONTAL_VIEWS, KNOWN_VIEWS, image_relpath, report_relpath
from unix.data.report_text import (
    COMBINED_HEADERS,
    COMPARISON_HEADERS,
    EXAMINATION_HEADERS,
    FINDINGS_HEADERS,
    INDICATION_HEADERS,
    P_NOTIFICATION,
    REPORT_KINDS,
    compose_report,
    draw_style,
    sample_details,
    style_choices,
)
from unix.data.reports import parse_report
from unix.data.synthetic import DEFECTS, GROUND_TRUTH_COLUMNS, REAL_IMAGES, REAL_STUDIES, REAL_SUBJECTS, generate

SEED, N_SUBJECTS, SIZE = 3, 16, 192
CSVS = (mimic.SPLIT_CSV, mimic.METADATA_CSV, mimic.CHEXPERT_CSV, mimic.NEGBIO_CSV)


def _make(root: Path, seed: int = SEED, **kw):
    args = dict(n_subjects=N_SUBJECTS, seed=seed, image_size=SIZE, broken_inputs=True,
                ground_truth_path=root.parent / "ground_truth.csv", test_fraction=0.25, validate_fraction=0.1)
    args.update(kw)
    return generate(root, **args)


@pytest.fixture(scope="module")
def tree(tmp_path_factory):
    root = tmp_path_factory.mktemp("synthetic") / "mimic-cxr-jpg"
    summary = _make(root)
    meta = pd.read_csv(root / mimic.METADATA_CSV, keep_default_na=False, dtype={"ViewPosition": str})
    truth = pd.read_csv(root.parent / "ground_truth.csv", keep_default_na=False)
    labels = pd.read_csv(root / mimic.CHEXPERT_CSV)
    return {"root": root, "summary": summary, "meta": meta, "truth": truth, "labels": labels,
            "split": pd.read_csv(root / mimic.SPLIT_CSV)}


def _tree_bytes(root: Path) -> dict[str, bytes]:
    return {str(p.relative_to(root)): p.read_bytes() for p in sorted(root.rglob("*")) if p.is_file()}


# ---------------------------------------------------------------- layout


def test_csvs_have_the_real_columns_and_value_conventions(tree):
    root, meta, labels, split = tree["root"], tree["meta"], tree["labels"], tree["split"]
    assert list(meta.columns) == mimic.METADATA_COLUMNS
    assert list(split.columns) == mimic.SPLIT_COLUMNS
    assert list(labels.columns) == mimic.LABEL_COLUMNS
    negbio = pd.read_csv(root / mimic.NEGBIO_CSV)
    pd.testing.assert_frame_equal(negbio, labels)
    for name in CSVS:  # gzip header: no time stamp, so equal tables are equal bytes
        assert (root / name).read_bytes()[4:8] == b"\0\0\0\0"

    assert meta["dicom_id"].str.fullmatch(r"[0-9a-f]{8}(-[0-9a-f]{8}){4}").all()
    assert meta["subject_id"].dtype == np.int64 and meta["study_id"].dtype == np.int64
    assert meta["subject_id"].astype(str).str.fullmatch(r"1\d{7}").all()
    assert meta["study_id"].astype(str).str.fullmatch(r"5\d{7}").all()
    assert set(split["split"]) == set(mimic.SPLITS)
    assert meta["Rows"].dtype == np.int64 and meta["Columns"].dtype == np.int64
    assert (np.maximum(meta["Rows"], meta["Columns"]) == SIZE).all()
    assert (meta["Rows"] > meta["Columns"]).any() and (meta["Rows"] < meta["Columns"]).any()
    assert meta["StudyDate"].dtype == np.int64
    for d in meta["StudyDate"].unique():
        assert 2110 <= dt.datetime.strptime(str(d), "%Y%m%d").year <= 2215
    assert meta["StudyTime"].dtype == np.float64 and meta["StudyTime"].between(0, 235959.999).all()
    assert (meta["StudyTime"] % 1 > 0).any()
    assert meta.groupby("study_id")["StudyDate"].nunique().max() == 1
    ok = tree["truth"]["defect"] != "unknown_view"
    assert set(meta.loc[ok, "ViewPosition"]) <= set(KNOWN_VIEWS) - {""}
    assert {"PA", "AP", "LATERAL", "LL"} <= set(meta["ViewPosition"])
    meaning = dict(zip(meta.loc[ok, "ViewPosition"], meta.loc[ok, "ViewCodeSequence_CodeMeaning"]))
    assert meaning["PA"] == "postero-anterior" and meaning["AP"] == "antero-posterior"
    assert meaning["LATERAL"] == "lateral"
    assert meta["PerformedProcedureStepDescription"].str.startswith("CHEST (").all()

    values = labels[CHEXPERT_LABELS].to_numpy()
    assert np.isin(values[~np.isnan(values)], (1.0, 0.0, -1.0)).all()
    assert labels[["subject_id", "study_id"]].drop_duplicates().shape[0] == len(labels)
    assert set(labels["study_id"]) == set(meta["study_id"])
    # The label CSV writes the real value spellings.
    text = gzip.decompress((root / mimic.CHEXPERT_CSV).read_bytes()).decode()
    assert ",1.0," in text and ",0.0," in text and ",-1.0" in text and ",," in text


def test_split_is_patient_disjoint_and_matches_the_metadata(tree):
    meta, split, summary = tree["meta"], tree["split"], tree["summary"]
    assert list(split["dicom_id"]) == list(meta["dicom_id"])
    assert (split[["study_id", "subject_id"]].to_numpy() == meta[["study_id", "subject_id"]].to_numpy()).all()
    assert split.groupby("subject_id")["split"].nunique().max() == 1
    assert summary.split_subjects == {"test": 4, "train": 10, "validate": 2}


def test_tree_has_real_ratios_and_view_mixture(tree):
    truth = tree["truth"].drop_duplicates("dicom_id")
    studies = truth.groupby("study_id")
    assert 2.5 < truth["study_id"].nunique() / N_SUBJECTS < 4.5
    assert 1.3 < len(truth) / truth["study_id"].nunique() < 2.0
    frontal = studies["view_position"].apply(lambda v: bool(set(v) & set(FRONTAL_VIEWS)))
    assert frontal.mean() > 0.8
    assert studies.size().max() >= 2
    # Some studies have only lateral views (drawn at 4 %: force some in a bigger metadata-only tree).
    big = generate(tree["root"].parent / "lat", n_subjects=300, seed=1, image_size=64, broken_inputs=False,
                   write_images=False, write_reports=False, ground_truth_path=tree["root"].parent / "lat.csv")
    gt = pd.read_csv(big.ground_truth_path, keep_default_na=False)
    lateral_only = gt.groupby("study_id")["view_position"].apply(lambda v: set(v) <= {"LATERAL", "LL"})
    assert 0 < lateral_only.sum() < 0.1 * len(lateral_only)


def test_files_are_where_the_layout_says(tree):
    root, truth = tree["root"], tree["truth"]
    jpgs = {str(p.relative_to(root)) for p in root.rglob("*.jpg")}
    txts = {str(p.relative_to(root)) for p in root.rglob("*.txt")}
    expected_jpgs = {image_relpath(r.subject_id, r.study_id, r.dicom_id)
                     for r in truth.itertuples() if r.defect != "missing_image"}
    expected_txts = {report_relpath(r.subject_id, r.study_id)
                     for r in truth.itertuples() if r.defect != "missing_report"}
    assert jpgs == expected_jpgs and txts == expected_txts
    assert all(re.fullmatch(r"files/p1\d/p1\d{7}/s5\d{7}/[0-9a-f-]{44}\.jpg", p) for p in jpgs)
    assert all(re.fullmatch(r"files/p1\d/p1\d{7}/s5\d{7}\.txt", p) for p in txts)
    assert {p.name for p in root.iterdir()} == {"files", *CSVS}


def test_ground_truth_format(tree):
    truth, meta = tree["truth"], tree["meta"]
    assert list(truth.columns) == GROUND_TRUTH_COLUMNS
    assert list(truth["dicom_id"]) == list(meta["dicom_id"])
    assert set(truth["report_kind"]) <= set(REPORT_KINDS)
    assert set(truth["has_findings"].astype(str)) <= {"True", "False"}
    assert set(truth["defect"]) <= {"", *DEFECTS}
    assert set(truth["findings_header"]) <= {"", *FINDINGS_HEADERS}
    with_findings = truth["report_kind"].map(lambda k: REPORT_KINDS[k][1])
    assert ((truth["findings_header"] != "") == with_findings).all()


# ---------------------------------------------------------------- determinism


def test_same_seed_gives_identical_bytes_and_another_seed_differs(tree, tmp_path):
    again = tmp_path / "a" / "mimic-cxr-jpg"
    _make(again)
    first, second = _tree_bytes(tree["root"]), _tree_bytes(again)
    assert first.keys() == second.keys()
    assert all(first[k] == second[k] for k in first)
    assert (tree["root"].parent / "ground_truth.csv").read_bytes() == (again.parent / "ground_truth.csv").read_bytes()

    other = tmp_path / "b" / "mimic-cxr-jpg"
    _make(other, seed=SEED + 1, n_subjects=4, broken_inputs=False, test_fraction=0.25, validate_fraction=0.0)
    assert (other / mimic.METADATA_CSV).read_bytes() != (tree["root"] / mimic.METADATA_CSV).read_bytes()


# ---------------------------------------------------------------- reports


KEYWORDS = {
    "Atelectasis": r"atelecta", "Cardiomegaly": r"cardiomegaly|heart", "Consolidation": r"consolidation",
    "Edema": r"edema", "Enlarged Cardiomediastinum": r"mediastin", "Fracture": r"fracture",
    "Lung Lesion": r"nodule|\bmass\b", "Lung Opacity": r"opacit", "Pleural Effusion": r"effusion",
    "Pleural Other": r"pleural thickening", "Pneumonia": r"pneumonia", "Pneumothorax": r"pneumothorax",
    "Support Devices": r"tube|catheter|picc|pacemaker|leads",
}
UNCERTAIN = re.compile(r"possible|cannot exclude|may represent|questionable")
NEGATED = re.compile(r"\bno\b|without|normal")


def mentions(text: str) -> dict[str, set[float]]:
    """A small independent labeler: the states in which each observation is mentioned."""
    text = " ".join(text.lower().split())
    found: dict[str, set[float]] = {}
    for sentence in re.split(r"(?<=\.)\s+", text):
        head, _, tail = sentence.partition(" without ")
        for clause in (head, "without " + tail) if tail else (head,):
            state = -1.0 if UNCERTAIN.search(clause) else 0.0 if NEGATED.search(clause) else 1.0
            for label, pattern in KEYWORDS.items():
                if re.search(pattern, clause):
                    found.setdefault(label, set()).add(state)
    if "no acute cardiopulmonary" in text:
        found["No Finding"] = {1.0}
    return found


def test_labels_agree_with_report_text(tree):
    root, truth, labels = tree["root"], tree["truth"], tree["labels"]
    bad = set(truth.loc[truth["defect"].isin(["empty_report", "missing_report"]), "study_id"])
    checked = {1.0: 0, 0.0: 0, -1.0: 0}
    for row in labels.itertuples(index=False):
        if row.study_id in bad:
            continue
        text = (root / report_relpath(row.subject_id, row.study_id)).read_bytes().decode("utf-8", "replace")
        found = mentions(text)
        for label, value in zip(CHEXPERT_LABELS, row[2:]):
            if np.isnan(value):
                assert label not in found, f"{label} not mentioned in the labels but in the text:\n{text}"
            else:
                assert found.get(label) == {value}, f"{label}={value} but text says {found.get(label)}:\n{text}"
                checked[value] += 1
    assert min(checked.values()) >= 5, checked


def test_no_finding_follows_chexpert():
    from unix.data.synthetic import sample_labels

    labels = pd.DataFrame(sample_labels(np.random.default_rng(0), 3000), columns=CHEXPERT_LABELS)
    others = labels.drop(columns=["No Finding", "Support Devices"]).isin([1.0, -1.0]).any(axis=1)
    assert (labels["No Finding"] == 1.0).eq(~others).all()
    assert labels["No Finding"].isin([1.0]).sum() + labels["No Finding"].isna().sum() == len(labels)
    assert ((labels["No Finding"] == 1.0) & (labels["Support Devices"] == 1.0)).any()
    opacity_labels = ["Atelectasis", "Consolidation", "Edema", "Lung Lesion", "Pneumonia"]
    opacity = labels[opacity_labels].isin([1.0, -1.0]).any(axis=1)
    assert (labels.loc[opacity, "Lung Opacity"] == 1.0).all()


@pytest.mark.parametrize("kind", list(REPORT_KINDS))
def test_report_structure(kind):
    labels = {name: np.nan for name in CHEXPERT_LABELS}
    labels.update({"Cardiomegaly": 1.0, "Pleural Effusion": 0.0, "Pneumothorax": 0.0, "Edema": -1.0,
                   "Lung Opacity": 1.0})
    texts = [compose_report(labels, sample_details(np.random.default_rng(i)), kind, np.random.default_rng(i),
                            "CHEST (PA AND LAT)") for i in range(30)]
    for text in texts:
        lines = text.splitlines()
        assert max(len(line) for line in lines) <= 78
        assert any(line.startswith(" ") and line.strip() == "FINAL REPORT" for line in lines)
        assert mentions(text)["Cardiomegaly"] == {1.0} and mentions(text)["Edema"] == {-1.0}
        has_findings = re.search(r"^ FINDINGS:", text, re.M) is not None
        assert has_findings == REPORT_KINDS[kind][1]
    joined = "\n".join(texts)
    if kind == "single_paragraph":
        assert not re.search(r"^ [A-Z ]+:", joined, re.M)
    elif kind == "wet_read":
        assert all(t.startswith(" WET READ:") for t in texts)
    elif kind == "addendum":
        assert all("ADDENDUM:" in t for t in texts)
    if kind != "single_paragraph":
        assert "___" in joined and "IMPRESSION:" in joined
        headings = set(re.findall(r"[A-Z]+:", joined))
        assert {"EXAMINATION:", "INDICATION:", "HISTORY:", "TECHNIQUE:", "COMPARISON:"} <= headings
        # sections come in varying orders
        assert len({tuple(re.findall(r"^ ([A-Z]+):", t, re.M)) for t in texts}) > 5


def test_has_findings_matches_the_files(tree):
    """The ground truth's has_findings is what the parser (default options) reads in each file."""
    root, truth = tree["root"], tree["truth"]
    for r in truth.drop_duplicates("study_id").itertuples():
        path = root / report_relpath(r.subject_id, r.study_id)
        text = path.read_bytes().decode("utf-8", "replace") if path.exists() else ""
        assert (parse_report(text).findings != "") == (str(r.has_findings) == "True"), text
        if r.findings_header and r.defect == "":
            assert re.search(rf"^ {re.escape(r.findings_header)}:", text, re.M), (r.findings_header, text)


def test_header_styles_follow_the_official_counts():
    """Each header style of the official map appears, in about its real share (rare ones raised to the floor);
    every findings header gives findings except the two the official map makes impression."""
    labels = {name: np.nan for name in CHEXPERT_LABELS} | {"Cardiomegaly": 1.0, "Support Devices": 1.0,
                                                            "Pleural Effusion": 0.0}
    n, seen = 1500, Counter()
    for i in range(n):
        header = draw_style(np.random.default_rng([7, i]), FINDINGS_HEADERS)
        text = compose_report(labels, sample_details(np.random.default_rng(i)), "structured",
                              np.random.default_rng([8, i]), "CHEST (PORTABLE AP)", findings_header=header)
        s = parse_report(text)
        seen.update(h for h in re.findall(r"^ ([A-Za-z ()/,-]+):", text, re.M))
        assert (s.findings != "") == (header not in COMBINED_HEADERS), text
        assert s.impression and "Followup" not in s.impression and "discussed" not in s.impression
        assert mentions(s.findings + " " + s.impression)["Cardiomegaly"] == {1.0}
    for slot in (FINDINGS_HEADERS, INDICATION_HEADERS, COMPARISON_HEADERS, EXAMINATION_HEADERS):
        styles, p = style_choices(slot)
        assert min(p) >= 0.004 and set(styles) <= set(seen), set(styles) - set(seen)
    # Real shares: INDICATION 153,730 reports, HISTORY 45,624, CLINICAL INFORMATION 4,024.
    assert seen["INDICATION"] > 2 * seen["HISTORY"] and seen["HISTORY"] > 5 * seen["CLINICAL INFORMATION"] > 0
    for extra in ("LINES AND TUBES", "RECOMMENDATION(S)", "NOTIFICATION", "CONCLUSION"):
        assert seen[extra] > 0, extra
    assert abs(seen["NOTIFICATION"] / n - P_NOTIFICATION) < 0.02


# ---------------------------------------------------------------- broken inputs


def test_broken_inputs_are_what_the_ground_truth_says(tree):
    root, truth, meta, split = tree["root"], tree["truth"], tree["meta"], tree["split"]
    per_study = truth[truth["defect"] != ""].drop_duplicates(["study_id", "defect"])
    assert per_study["defect"].value_counts().to_dict() == {k: 2 for k in DEFECTS}
    assert per_study["study_id"].is_unique  # one defect per study
    for r in truth[truth["defect"] != ""].itertuples():
        image = root / image_relpath(r.subject_id, r.study_id, r.dicom_id)
        report = root / report_relpath(r.subject_id, r.study_id)
        if r.defect in ("corrupt_jpeg", "truncated_jpeg"):
            with pytest.raises(OSError):
                Image.open(image).load()
            if r.defect == "truncated_jpeg":
                assert image.read_bytes()[:2] == b"\xff\xd8"
        elif r.defect == "missing_image":
            assert not image.exists() and r.dicom_id in set(meta["dicom_id"])
        elif r.defect == "empty_report":
            assert report.read_bytes() == b""
        elif r.defect == "non_utf8_report":
            with pytest.raises(UnicodeDecodeError):
                report.read_bytes().decode("utf-8")
        elif r.defect == "missing_report":
            assert not report.exists()
        elif r.defect == "unknown_view":
            assert r.view_position in ("", "UNKNOWN")
            assert meta.loc[meta["dicom_id"] == r.dicom_id, "ViewPosition"].item() == r.view_position
            Image.open(image).load()
        elif r.defect == "duplicate_id":
            rows = meta[meta["dicom_id"] == r.dicom_id]
            assert len(rows) == 2 and rows.index[1] == rows.index[0] + 1
            assert rows.iloc[0].equals(rows.iloc[1])
            assert (split["dicom_id"] == r.dicom_id).sum() == 2
    assert truth["dicom_id"].duplicated().sum() == 2
    assert set(truth.loc[truth["dicom_id"].duplicated(keep="first"), "defect"]) == {"duplicate_id"}
    assert (truth.loc[truth["dicom_id"].duplicated(keep="last"), "defect"] == "").all()


def test_without_broken_inputs_everything_is_clean(tmp_path):
    s = _make(tmp_path / "t" / "mimic-cxr-jpg", n_subjects=5, image_size=64, broken_inputs=False,
              test_fraction=0.2, validate_fraction=0.0)
    truth = pd.read_csv(s.ground_truth_path, keep_default_na=False)
    assert (truth["defect"] == "").all() and s.images_written == s.n_images == len(truth)
    assert s.reports_written == s.n_studies


# ---------------------------------------------------------------- images


def _load(root, r) -> np.ndarray:
    img = Image.open(root / image_relpath(r.subject_id, r.study_id, r.dicom_id))
    assert img.mode == "L" and img.format == "JPEG"
    return np.asarray(img, dtype=np.float32) / 255.0


def test_images_decode_with_metadata_sizes_and_views_differ(tree):
    root, truth, meta = tree["root"], tree["truth"], tree["meta"]
    good = truth["defect"].isin(["", "duplicate_id", "empty_report", "non_utf8_report", "missing_report"])
    frontal, lateral = [], []
    for (i, r), m in zip(truth[good].iterrows(), meta[good].itertuples()):
        a = _load(root, r)
        assert a.shape == (m.Rows, m.Columns)
        small = np.asarray(Image.fromarray((a * 255).astype(np.uint8)).resize((64, 64)), dtype=np.float32) / 255
        if r.view_position in FRONTAL_VIEWS:
            frontal.append(small)
        elif r.view_position in ("LATERAL", "LL"):
            lateral.append(small)
    frontal, lateral = np.mean(frontal, axis=0), np.mean(lateral, axis=0)
    # Frontal: left-right symmetric with the spine in the middle; lateral: spine at the image right.
    assert np.abs(frontal - frontal[:, ::-1]).mean() < np.abs(lateral - lateral[:, ::-1]).mean()
    assert np.abs(frontal - lateral).mean() > 0.05


def test_findings_are_visible_in_the_tree(tree):
    """Cardiomegaly widens the heart; effusion brightens the lung bases (means over the demo tree)."""
    root, truth, labels = tree["root"], tree["truth"], tree["labels"]
    rows = truth[truth["defect"].isin(["", "empty_report", "missing_report", "non_utf8_report"])
                 & truth["view_position"].isin(FRONTAL_VIEWS)].merge(labels, on=["subject_id", "study_id"])

    def region(r, y0, y1, x0, x1):
        a = _load(root, r)
        h, w = a.shape
        return float(a[int(y0 * h):int(y1 * h), int(x0 * w):int(x1 * w)].mean())

    heart = np.array([region(r, 0.55, 0.72, 0.66, 0.76) for r in rows.itertuples()])
    cm = rows["Cardiomegaly"].to_numpy() == 1.0
    assert cm.sum() >= 3 and (~cm).sum() >= 3
    assert heart[cm].mean() > heart[~cm].mean() + 0.05
    bases = np.array([region(r, 0.66, 0.76, 0.15, 0.85) for r in rows.itertuples()])
    eff = rows["Pleural Effusion"].to_numpy() == 1.0
    assert eff.sum() >= 3
    assert bases[eff].mean() > bases[~eff].mean() + 0.03


# (label, details, where the change should be: (row fraction, column fraction), sign of the change)
FINDING_CASES = [
    ("Cardiomegaly", {}, (0.6, 0.7), 1),
    ("Enlarged Cardiomediastinum", {}, (0.3, 0.5), 1),
    ("Pleural Effusion", {"side": "right", "size": "moderate"}, (0.65, 0.25), 1),
    ("Pneumothorax", {"side": "left", "size": "small"}, (0.35, 0.8), -1),
    ("Consolidation", {"zone": "right lower"}, (0.6, 0.25), 1),
    ("Pneumonia", {"zone": "left upper"}, (0.3, 0.75), 1),
    ("Lung Opacity", {"zone": "right upper"}, (0.3, 0.25), 1),
    ("Edema", {}, (0.45, 0.5), 1),
    ("Atelectasis", {"zone": "left lower"}, (0.6, 0.75), 1),
    ("Lung Lesion", {"zone": "right upper", "kind": "nodule", "offset": 0.45}, (0.3, 0.3), 1),
    ("Fracture", {"side": "right", "rib": 6, "x": -0.7, "y": -0.39}, (0.4, 0.2), 1),
    ("Pleural Other", {"side": "left"}, (0.4, 0.85), 1),
    ("Support Devices", {"devices": ["endotracheal tube", "pacemaker"]}, (0.25, 0.65), 1),
]


@pytest.mark.parametrize("label,details,where,sign", FINDING_CASES, ids=[c[0] for c in FINDING_CASES])
def test_each_finding_changes_the_image_where_the_report_says(label, details, where, sign):
    anatomy = rad.Anatomy()
    base = rad.render_frontal(256, 213, anatomy, rad.Findings({}, {}), np.random.default_rng(0))
    img = rad.render_frontal(256, 213, anatomy, rad.Findings({label: 1.0}, {label: details}), np.random.default_rng(0))
    diff = (img - base) * sign
    strong = np.clip(diff - 0.06, 0, None)  # above the noise
    assert strong.sum() > 5, f"{label}: no visible change"
    rr, cc = np.indices(diff.shape)
    centre = ((rr * strong).sum() / strong.sum() / diff.shape[0], (cc * strong).sum() / strong.sum() / diff.shape[1])
    assert abs(centre[0] - where[0]) < 0.2 and abs(centre[1] - where[1]) < 0.2, f"{label}: change centred at {centre}"
    half = rad.render_frontal(256, 213, anatomy, rad.Findings({label: 0.5}, {label: details}), np.random.default_rng(0))
    assert 0 < np.clip((half - base) * sign - 0.06, 0, None).sum() < strong.sum()  # uncertain: subtler


def test_lateral_view_shows_findings():
    anatomy = rad.Anatomy()
    base = rad.render_lateral(213, 256, anatomy, rad.Findings({}, {}), np.random.default_rng(0))
    for label in ("Cardiomegaly", "Pleural Effusion", "Support Devices", "Consolidation"):
        img = rad.render_lateral(213, 256, anatomy, rad.Findings({label: 1.0}, {}), np.random.default_rng(0))
        assert np.clip(img - base - 0.06, 0, None).sum() > 5, label


# ---------------------------------------------------------------- scale, options, CLI, rule


def test_metadata_only_mode_hits_exact_totals(tmp_path):
    # The real totals come out of the default ratios (checked here arithmetically); the exact-count
    # machinery is exercised at a tenth of the real scale to keep the test fast.
    from unix.data.synthetic import SyntheticOptions

    o = SyntheticOptions()
    n_studies = int(round(REAL_SUBJECTS * o.studies_per_subject))
    assert (n_studies, int(round(n_studies * o.images_per_study))) == (REAL_STUDIES, REAL_IMAGES)
    s = generate(tmp_path / "m", n_subjects=6538, seed=0, image_size=512, broken_inputs=False,
                 write_images=False, write_reports=False, n_studies=22783, n_images=37711)
    assert (s.n_subjects, s.n_studies, s.n_images, s.images_written, s.reports_written) == (6538, 22783, 37711, 0, 0)
    meta = pd.read_csv(tmp_path / "m" / mimic.METADATA_CSV, usecols=["dicom_id", "subject_id", "study_id"])
    assert (len(meta), meta["study_id"].nunique(), meta["subject_id"].nunique()) == (37711, 22783, 6538)
    assert not (tmp_path / "m" / "files").exists() or not any((tmp_path / "m" / "files").iterdir())


def test_bad_options_name_the_fix(tmp_path):
    with pytest.raises(ValueError, match="n_subject"):
        generate(tmp_path / "x", n_subjects=3, seed=0, image_size=64, broken_inputs=False, n_subject=3)
    with pytest.raises(ValueError, match="raise n_subjects"):
        generate(tmp_path / "y", n_subjects=2, seed=0, image_size=64, broken_inputs=True, test_fraction=0.5)
    with pytest.raises(ValueError, match="n_images"):
        generate(tmp_path / "z", n_subjects=3, seed=0, image_size=64, broken_inputs=False, n_studies=5, n_images=4)


def test_demo_data_cli(tmp_path, capsys):
    from unix.cli import main

    out = tmp_path / "demo" / "mimic-cxr-jpg"
    argv = ["demo-data", "--out", str(out), "--n-subjects", "12", "--seed", "1", "--image-size", "64",
            "--test-fraction", "0.25"]
    assert main(argv) == 0
    summary = json.loads(capsys.readouterr().out)
    assert summary["n_subjects"] == 12 and summary["split_subjects"]["test"] == 3
    assert (tmp_path / "demo" / "ground_truth.csv").exists()
    assert all((out / name).exists() for name in CSVS) and any(out.rglob("*.jpg"))
    assert main(argv) == 2  # refuses to overwrite an existing tree
    assert "already exists" in capsys.readouterr().err

    meta_only = tmp_path / "m" / "root"
    assert main(["demo-data", "--out", str(meta_only), "--metadata-only", "--no-broken-inputs",
                 "--n-subjects", "30"]) == 0
    assert not any(meta_only.rglob("*.jpg")) and not any(meta_only.rglob("*.txt"))
    truth = pd.read_csv(meta_only.parent / "ground_truth.csv", keep_default_na=False)
    assert (truth["defect"] == "").all()


@pytest.mark.workflow
def test_make_demo_data_rule(tmp_path):
    config = demo_config(data={"synthetic": {"n_subjects": 12, "image_size": 64}})
    run_snakemake(tmp_path, "--cores", "1", "results/data/synthetic/ground_truth.csv", config=config)
    root = tmp_path / "results/data/synthetic/mimic-cxr-jpg"
    assert all((root / name).exists() for name in CSVS)
    truth = pd.read_csv(tmp_path / "results/data/synthetic/ground_truth.csv", keep_default_na=False)
    assert set(truth["defect"]) == {"", *DEFECTS}
    prov = json.loads((root / (mimic.METADATA_CSV + ".prov.json")).read_text())
    assert "make_demo_data" in json.dumps(prov)
    assert (tmp_path / "results/logs/make_demo_data/make_demo_data.log").exists()
