"""CheXbert F1 (Table 2 columns), BLEU-4 and ROUGE-L against their definitions and reference libraries."""

from __future__ import annotations

import numpy as np
import pytest

from unix.data.mimic import CHEXPERT_5, CHEXPERT_LABELS
from unix.evaluation import TABLE2_COLUMNS, bleu4, chexbert_f1, rouge_l
from unix.evaluation.label_f1 import per_finding_f1
from unix.evaluation.text_metrics import bleu4_scores, tokenize

FIVE = [CHEXPERT_LABELS.index(n) for n in CHEXPERT_5]


def random_labels(n: int, seed: int) -> np.ndarray:
    rng = np.random.default_rng(seed)
    return rng.choice(np.array([1.0, 0.0, -1.0, np.nan]), size=(n, 14), p=[0.25, 0.3, 0.1, 0.35])


def test_column_names_match_paper_tables_yaml() -> None:
    from importlib import resources

    import yaml

    facts = yaml.safe_load(resources.files("unix.resources").joinpath("paper_tables.yaml").read_text())
    assert TABLE2_COLUMNS == facts["table2_understanding"]["columns"]


def test_chexbert_f1_equals_sklearn() -> None:
    from sklearn.metrics import f1_score

    y_true, y_pred = random_labels(200, 0), random_labels(200, 1)
    got = chexbert_f1(y_true, y_pred)
    for mode, positive in (("neg", (1.0,)), ("pos", (1.0, -1.0))):
        t, p = np.isin(y_true, positive), np.isin(y_pred, positive)
        for n, cols in ((14, slice(None)), (5, FIVE)):
            for avg in ("micro", "macro"):
                ref = f1_score(t[:, cols], p[:, cols], average=avg, zero_division=0)
                assert got[f"{avg}_f1_{n}_uncertain_{mode}"] == pytest.approx(ref, abs=1e-9)


def test_copying_the_reference_scores_one_and_empty_classes_score_zero() -> None:
    y = random_labels(50, 2)
    assert all(v == pytest.approx(1.0, abs=1e-9) for v in chexbert_f1(y, y).values())
    y[:, 0] = np.nan  # Atelectasis never present: F1 = 0 by UniX's formula, and it lowers the macro mean
    assert per_finding_f1(y, y, "negative")["Atelectasis"] == 0.0
    assert chexbert_f1(y, y)["macro_f1_14_uncertain_neg"] == pytest.approx(13 / 14, abs=1e-9)


def test_always_no_finding_scores_what_the_formula_predicts() -> None:
    y_true = random_labels(300, 3)
    nf = CHEXPERT_LABELS.index("No Finding")
    y_true[:, nf] = np.where(np.random.default_rng(4).random(300) < 0.3, 1.0, np.nan)
    y_pred = np.full_like(y_true, np.nan)
    y_pred[:, nf] = 1.0  # the labels of "No acute cardiopulmonary process." for every report
    got = chexbert_f1(y_true, y_pred)
    for mode, positive in (("neg", (1.0,)), ("pos", (1.0, -1.0))):
        present = np.isin(y_true, positive)
        tp = present[:, nf].sum()
        fp = len(y_true) - tp
        fn_all = present.sum() - tp
        assert got[f"micro_f1_14_uncertain_{mode}"] == pytest.approx(tp / (tp + 0.5 * (fp + fn_all)), abs=1e-9)
        assert got[f"macro_f1_14_uncertain_{mode}"] == pytest.approx(tp / (tp + 0.5 * fp) / 14, abs=1e-9)
        assert got[f"micro_f1_5_uncertain_{mode}"] == 0.0 and got[f"macro_f1_5_uncertain_{mode}"] == 0.0


def test_bad_labels_are_named() -> None:
    y = random_labels(3, 0)
    y[1, 2] = 2.0
    with pytest.raises(ValueError, match=r"y_pred\[1, 2\] \(Consolidation\)"):
        chexbert_f1(random_labels(3, 1), y)
    with pytest.raises(ValueError, match="shape"):
        chexbert_f1(np.zeros((3, 13)), np.zeros((3, 13)))


# Pairs and numbers from UniX's eval/und_metrics/nlp_metrics.py (calculate_nlp_metrics and
# calculate_bleu_metrics, nltk 3.10.4, punkt_tab from llama-index-core 0.14.25), run outside the project.
UNIX_REFS = [
    "FINDINGS: No focal consolidation. Heart size is normal, 1.5 cm nodule in the right upper lobe.",
    "Dr. Smith was notified. Small left pleural effusion, unchanged vs. prior.",
    "No acute cardiopulmonary process.",
    "Mild cardiomegaly. No pneumothorax.",
    "",
]
UNIX_HYPS = [
    "FINDINGS: No consolidation. Heart size is normal.",
    "Dr. Smith was notified. Small left pleural effusion, unchanged vs. prior.",
    "",
    "Mild cardiomegaly without pneumothorax or effusion.",
    "No pneumothorax.",
]
UNIX_BLEU4 = [0.2485393789305891, 1.0, None, 0.09744264611591712, 0.0]
UNIX_BLEU4_MEAN = 0.33649550626162655  # the empty hypothesis is left out of the mean, not scored 0


def test_tokenizer_is_nltk_word_tokenize_with_installed_punkt(monkeypatch) -> None:
    import nltk
    from nltk import tokenize as nltk_tokenize

    from unix.evaluation.text_metrics import punkt_data_dir, punkt_unavailable_reason

    assert punkt_unavailable_reason() is None, punkt_unavailable_reason()
    assert (punkt_data_dir() / "tokenizers/punkt_tab/english/abbrev_types.txt").is_file()
    text = "Dr. Smith was notified. Effusion, unchanged vs. prior; 1.5 cm."
    # punkt keeps the abbreviations "Dr." and "vs." inside their sentence; a split after every period would not
    assert tokenize(text) == ["Dr.", "Smith", "was", "notified", ".", "Effusion", ",", "unchanged", "vs.", "prior",
                              ";", "1.5", "cm", "."]
    assert tokenize(text) == nltk.word_tokenize(text)
    calls = []
    monkeypatch.setattr(nltk_tokenize, "word_tokenize", lambda t: calls.append(t) or ["spy"])
    assert tokenize("No effusion.") == ["spy"] and calls == ["No effusion."]


def test_missing_punkt_data_is_not_computed_never_another_tokenizer(monkeypatch) -> None:
    from unix.evaluation import text_metrics
    from unix.evaluation.results import NotComputedError

    monkeypatch.setattr(text_metrics, "punkt_data_dir", lambda: None)
    with pytest.raises(NotComputedError, match="punkt_tab data not installed.*llama-index-core"):
        bleu4(["No effusion."], ["No effusion."])


def test_bleu4_equals_unix_on_fixed_pairs() -> None:
    scores = bleu4_scores(UNIX_REFS, UNIX_HYPS)
    assert [None if np.isnan(s) else s for s in scores] == pytest.approx(UNIX_BLEU4, abs=1e-12)
    assert bleu4(UNIX_REFS, UNIX_HYPS) == pytest.approx(UNIX_BLEU4_MEAN, abs=1e-12)


def test_bleu4_is_the_mean_of_nltk_sentence_bleu_with_method4() -> None:
    from nltk.translate.bleu_score import SmoothingFunction, sentence_bleu

    from unix.evaluation.results import NotComputedError

    refs = ["No pleural effusion. Heart size is normal.", "Moderate cardiomegaly with mild edema."]
    hyps = ["No pleural effusion. The heart is normal.", "Mild cardiomegaly."]
    expected = [sentence_bleu([tokenize(r)], tokenize(h), smoothing_function=SmoothingFunction().method4)
                for r, h in zip(refs, hyps)]
    assert bleu4_scores(refs, hyps) == pytest.approx(expected)
    assert bleu4(refs, hyps) == pytest.approx(np.mean(expected))
    assert bleu4(refs, refs) == pytest.approx(1.0)
    with pytest.raises(NotComputedError, match="all 1 generated reports are empty"):
        bleu4(["No effusion."], [""])


def test_rouge_l_is_rouge_score_rougeL_f() -> None:
    from rouge_score import rouge_scorer

    refs = ["no pleural effusion or pneumothorax", "the heart is enlarged"]
    hyps = ["no effusion or pneumothorax", "heart size normal"]
    scorer = rouge_scorer.RougeScorer(["rougeL"], use_stemmer=False)
    expected = np.mean([scorer.score(r, h)["rougeL"].fmeasure for r, h in zip(refs, hyps)])
    got = rouge_l(refs, hyps)
    assert got["rougeL"] == pytest.approx(expected)
    assert min(0.25, expected) <= got["rougeL_bootstrap_mid"] <= 1.0
    assert rouge_l(refs, hyps, seed=1) == rouge_l(refs, hyps, seed=1)
    with pytest.raises(ValueError, match="pair them"):
        rouge_l(refs, hyps[:1])
