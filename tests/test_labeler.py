"""The offline rule labeler: mention, negation, uncertainty and No Finding as the CheXpert labeler defines them."""

from __future__ import annotations

import math

import numpy as np
import pytest

from unix.data.mimic import CHEXPERT_LABELS
from unix.evaluation import label_reports
from unix.labels.rules import label_report
from unix.weights import WeightsNotFoundError

NAN = math.nan


def labels_of(text: str) -> dict[str, float]:
    return dict(zip(CHEXPERT_LABELS, label_report(text)))


# Hand-written MIMIC-style sentences (not from the synthetic report generator), with the CheXpert answer.
CASES = [
    ("Moderate cardiomegaly.", {"Cardiomegaly": 1.0}),
    ("The heart size is normal.", {"Cardiomegaly": 0.0}),
    ("Heart is mildly enlarged.", {"Cardiomegaly": 1.0}),
    ("No pleural effusion or pneumothorax.", {"Pleural Effusion": 0.0, "Pneumothorax": 0.0}),
    ("No focal consolidation, effusion, or pneumothorax.",
     {"Consolidation": 0.0, "Pleural Effusion": 0.0, "Pneumothorax": 0.0}),
    ("Small left pleural effusion.", {"Pleural Effusion": 1.0}),
    ("Possible small left pleural effusion.", {"Pleural Effusion": -1.0}),
    ("Pneumonia cannot be excluded.", {"Pneumonia": -1.0}),
    ("Cannot exclude pneumonia.", {"Pneumonia": -1.0}),
    ("Bibasilar opacities may reflect atelectasis.", {"Lung Opacity": 1.0, "Atelectasis": -1.0}),
    ("Right lower lobe opacity, atelectasis versus pneumonia.",
     {"Lung Opacity": 1.0, "Atelectasis": -1.0, "Pneumonia": -1.0}),
    ("The previously seen pneumothorax has resolved.", {"Pneumothorax": 0.0}),
    ("Pneumothorax is no longer seen.", {"Pneumothorax": 0.0}),
    ("There is no evidence of pneumonia, but there is a small right effusion.",
     {"Pneumonia": 0.0, "Pleural Effusion": 1.0}),
    ("Mild pulmonary vascular congestion without frank edema.", {"Edema": 1.0}),
    ("Endotracheal tube terminates 5 cm above the carina.", {"Support Devices": 1.0}),
    ("The mediastinum is widened.", {"Enlarged Cardiomediastinum": 1.0}),
    ("Normal cardiomediastinal silhouette.", {"Enlarged Cardiomediastinum": 0.0}),
    ("Old healed left rib fractures.", {"Fracture": 1.0}),
    ("A 1.5 cm nodule in the right upper lobe.", {"Lung Lesion": 1.0}),
    ("Apical pleural thickening.", {"Pleural Other": 1.0}),
]


@pytest.mark.parametrize("text,expected", CASES)
def test_mentions_negations_and_uncertainty(text: str, expected: dict[str, float]) -> None:
    got = labels_of(text)
    assert {k: got[k] for k in expected} == expected
    # everything else is not mentioned, except the derived No Finding
    others = [k for k in CHEXPERT_LABELS if k not in expected and k != "No Finding"]
    assert all(math.isnan(got[k]) for k in others), {k: got[k] for k in others if not math.isnan(got[k])}


def test_no_finding_follows_chexpert() -> None:
    assert labels_of("No acute cardiopulmonary process. No effusion.")["No Finding"] == 1.0
    assert labels_of("Lines and tubes in standard position. Lungs are clear.")["No Finding"] == 1.0  # devices allowed
    assert math.isnan(labels_of("Possible left lower lobe pneumonia.")["No Finding"])  # uncertain blocks it
    assert math.isnan(labels_of("Small right effusion.")["No Finding"])
    assert labels_of("")["No Finding"] == 1.0 and np.isnan(label_report("")[:8]).all()


def test_wrapped_lines_do_not_break_a_sentence() -> None:
    got = labels_of("There is no\n pneumothorax.  Possible small\n right pleural effusion.")
    assert got["Pneumothorax"] == 0.0 and got["Pleural Effusion"] == -1.0


def test_agrees_with_the_labels_behind_synthetic_reports() -> None:
    # The demo's reports are written from known labels; the labeler must recover them. (Its phrase lists were
    # tuned on this generator, so this guards regressions rather than measuring accuracy on real reports.)
    from unix.data.report_text import REPORT_KINDS, compose_report, sample_details
    from unix.data.synthetic import sample_labels

    rng = np.random.default_rng(123)
    y = sample_labels(rng, 150)
    kinds = list(REPORT_KINDS)
    texts = [compose_report(dict(zip(CHEXPERT_LABELS, row)), sample_details(rng), kinds[i % len(kinds)], rng,
                            "chest radiograph") for i, row in enumerate(y)]
    pred = label_reports(texts, labeler="rules")
    agree = (pred == y) | (np.isnan(pred) & np.isnan(y))
    assert agree.mean() >= 0.98


def test_label_reports_selects_the_labeler_by_name() -> None:
    out = label_reports(["Small left effusion.", "No pneumothorax."], labeler="rules")
    assert out.shape == (2, 14)
    with pytest.raises(ValueError, match="evaluation.labeler"):
        label_reports(["x"], labeler="chexpert-original")
    with pytest.raises(WeightsNotFoundError, match="weights.bert_base_uncased"):
        label_reports(["x"], labeler="chexbert", chexbert_checkpoint="", bert_dir="")
