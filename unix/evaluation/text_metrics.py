"""BLEU-4 and ROUGE-L of generated reports, as UniX's ``eval/und_metrics`` computes them.

* BLEU-4: nltk ``sentence_bleu`` per report (one reference), SmoothingFunction().method4, case kept,
  averaged over reports (not corpus BLEU).
* ROUGE-L: ``rouge_score`` rougeL F-measure, no stemmer. UniX reports the median ("mid") of a
  BootstrapAggregator with 500 unseeded resamples, which is close to the mean and slightly random; we report
  the mean as ``rougeL`` and, for comparison, a seeded bootstrap median over 500 resamples of the mean as
  ``rougeL_bootstrap_mid``.

Tokenisation: UniX calls nltk ``word_tokenize``, which needs the punkt data (a download). When the punkt_tab
data is installed we use it; otherwise sentences are split after ``.``, ``!`` or ``?`` followed by whitespace
and each is tokenised with ``word_tokenize(..., preserve_line=True)`` (the Treebank tokenizer, no data needed).
The two differ only where punkt would not split (an abbreviation such as "Dr." before a space), which is
rare in radiology reports; ``tokenizer_name()`` says which one ran and the metrics file records it.
"""

from __future__ import annotations

import re
from functools import lru_cache
from typing import Sequence

import numpy as np

_SENTENCE_END = re.compile(r"(?<=[.!?])\s+")


@lru_cache(maxsize=1)
def _has_punkt() -> bool:
    import nltk

    try:
        nltk.data.find("tokenizers/punkt_tab")
        return True
    except LookupError:
        return False


def tokenizer_name() -> str:
    """Which tokenizer `tokenize` uses here."""
    return "nltk word_tokenize (punkt)" if _has_punkt() else "regex sentence split + nltk word_tokenize(preserve_line)"


def tokenize(text: str) -> list[str]:
    """Word tokens of `text`, as nltk ``word_tokenize`` gives them (see the module docstring)."""
    from nltk.tokenize import word_tokenize

    if _has_punkt():
        return word_tokenize(text)
    return [tok for sent in _SENTENCE_END.split(text.strip()) if sent for tok in word_tokenize(sent, preserve_line=True)]


def _check_pairs(references: Sequence[str], hypotheses: Sequence[str]) -> None:
    if len(references) != len(hypotheses):
        raise ValueError(f"{len(references)} references but {len(hypotheses)} generated reports; pair them one to one")
    if not references:
        raise ValueError("no reports to score")


def bleu4_scores(references: Sequence[str], hypotheses: Sequence[str]) -> np.ndarray:
    """Per-report sentence BLEU-4 (smoothing method 4)."""
    from nltk.translate.bleu_score import SmoothingFunction, sentence_bleu

    _check_pairs(references, hypotheses)
    smooth = SmoothingFunction().method4
    out = []
    for ref, hyp in zip(references, hypotheses):
        ref_t, hyp_t = tokenize(ref), tokenize(hyp)
        # nltk's method4 divides by log(len(hypothesis)); an empty hypothesis scores 0 as it would
        out.append(0.0 if not hyp_t or not ref_t else sentence_bleu([ref_t], hyp_t, smoothing_function=smooth))
    return np.asarray(out, dtype=np.float64)


def bleu4(references: Sequence[str], hypotheses: Sequence[str]) -> float:
    """Sentence BLEU-4 averaged over reports."""
    return float(bleu4_scores(references, hypotheses).mean())


def rouge_l_scores(references: Sequence[str], hypotheses: Sequence[str]) -> np.ndarray:
    """Per-report ROUGE-L F-measure (rouge_score, no stemmer)."""
    from rouge_score import rouge_scorer

    _check_pairs(references, hypotheses)
    scorer = rouge_scorer.RougeScorer(["rougeL"], use_stemmer=False)
    return np.asarray([scorer.score(r, h)["rougeL"].fmeasure for r, h in zip(references, hypotheses)])


def rouge_l(references: Sequence[str], hypotheses: Sequence[str], bootstrap: int = 500, seed: int = 0) -> dict[str, float]:
    """``rougeL`` (mean F) and ``rougeL_bootstrap_mid`` (median of `bootstrap` resampled means, seeded)."""
    scores = rouge_l_scores(references, hypotheses)
    rng = np.random.default_rng(seed)
    means = scores[rng.integers(0, len(scores), size=(bootstrap, len(scores)))].mean(1)
    return {"rougeL": float(scores.mean()), "rougeL_bootstrap_mid": float(np.percentile(means, 50))}
