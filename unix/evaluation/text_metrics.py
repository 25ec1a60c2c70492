"""BLEU-4 and ROUGE-L of generated reports, as UniX's ``eval/und_metrics`` computes them.

* BLEU-4: nltk ``word_tokenize`` on both texts, ``sentence_bleu`` per report (one reference),
  SmoothingFunction().method4, case kept, averaged over reports (not corpus BLEU). As UniX does, a report
  whose generated text has no tokens is left out of the average (not scored 0); `bleu4_scores` marks it NaN.
* ROUGE-L: ``rouge_score`` rougeL F-measure, no stemmer. UniX reports the median ("mid") of a
  BootstrapAggregator with 500 unseeded resamples, which is close to the mean and slightly random; we report
  the mean as ``rougeL`` and, for comparison, a seeded bootstrap median over 500 resamples of the mean as
  ``rougeL_bootstrap_mid``.

Tokenisation needs NLTK's punkt_tab data, which nltk itself does not ship (``nltk.download`` fetches it). The
project installs it from PyPI: the ``llama-index-core`` wheel (a pin of the ``evaluation`` extra) carries the
official nltk_data ``tokenizers/punkt_tab`` under ``llama_index/core/_static/nltk_cache``; `punkt_data_dir`
finds that directory through the installed distribution's file list (nothing of llama-index is imported) and
adds it to ``nltk.data.path``. Nothing is downloaded. Without the data BLEU-4 is "not computed" with the reason;
there is no substitute tokenizer.
"""

from __future__ import annotations

from functools import lru_cache
from importlib import metadata
from pathlib import Path
from typing import Sequence

import numpy as np

from unix.evaluation.results import NotComputedError

PUNKT_DISTRIBUTION = "llama-index-core"
PUNKT_DATA = "llama_index/core/_static/nltk_cache"
"""Where the punkt_tab data lies inside the `PUNKT_DISTRIBUTION` wheel (an nltk_data directory)."""
TOKENIZER = "nltk word_tokenize (punkt_tab, english)"


@lru_cache(maxsize=1)
def punkt_data_dir() -> Path | None:
    """The nltk_data directory holding ``tokenizers/punkt_tab/english`` installed by `PUNKT_DISTRIBUTION`."""
    try:
        dist = metadata.distribution(PUNKT_DISTRIBUTION)
    except metadata.PackageNotFoundError:
        return None
    root = Path(str(dist.locate_file(PUNKT_DATA)))
    return root if (root / "tokenizers" / "punkt_tab" / "english").is_dir() else None


def punkt_unavailable_reason() -> str | None:
    """None when `tokenize` can run here, else why not (the reason a table shows for BLEU-4)."""
    if punkt_data_dir() is None:
        return (f"NLTK punkt_tab data not installed: install the evaluation extra ({PUNKT_DISTRIBUTION} ships "
                f"{PUNKT_DATA}/tokenizers/punkt_tab)")
    return None


def _punkt_on_path() -> None:
    import nltk

    reason = punkt_unavailable_reason()
    if reason:
        raise NotComputedError(reason)
    data = str(punkt_data_dir())
    if data not in nltk.data.path:
        nltk.data.path.insert(0, data)


def tokenize(text: str) -> list[str]:
    """Word tokens of `text`: nltk ``word_tokenize`` with the installed punkt_tab data (UniX's tokenizer)."""
    from nltk import tokenize as nltk_tokenize

    _punkt_on_path()
    return nltk_tokenize.word_tokenize(text)


def _check_pairs(references: Sequence[str], hypotheses: Sequence[str]) -> None:
    if len(references) != len(hypotheses):
        raise ValueError(f"{len(references)} references but {len(hypotheses)} generated reports; pair them one to one")
    if not references:
        raise ValueError("no reports to score")


def bleu4_scores(references: Sequence[str], hypotheses: Sequence[str]) -> np.ndarray:
    """Per-report sentence BLEU-4 (smoothing method 4); NaN where the generated report has no tokens."""
    from nltk.translate.bleu_score import SmoothingFunction, sentence_bleu

    _check_pairs(references, hypotheses)
    smooth = SmoothingFunction().method4
    out = []
    for ref, hyp in zip(references, hypotheses):
        hyp_t = tokenize(hyp)
        # UniX skips an empty hypothesis (its BLEU helper returns None and the mean leaves it out)
        out.append(np.nan if not hyp_t else sentence_bleu([tokenize(ref)], hyp_t, smoothing_function=smooth))
    return np.asarray(out, dtype=np.float64)


def bleu4(references: Sequence[str], hypotheses: Sequence[str]) -> float:
    """Sentence BLEU-4 averaged over the reports whose generated text has tokens (UniX's average)."""
    scores = bleu4_scores(references, hypotheses)
    kept = scores[~np.isnan(scores)]
    if not len(kept):
        raise NotComputedError(f"all {len(scores)} generated reports are empty; UniX's BLEU-4 mean has no terms")
    return float(kept.mean())


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
