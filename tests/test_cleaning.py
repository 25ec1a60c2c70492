"""Report cleaning without a server: prompts, answer format, the rules cleaner, the data-use guard, the cache,
sharding, the label-drift audit and `unix clean` with the rules backend."""

from __future__ import annotations

import json
import math

import numpy as np
import pandas as pd
import pytest

from unix.cleaning import prompt as P
from unix.cleaning.backends import OUTPUT_COLUMNS, cleaner_identity, clean_reports
from unix.cleaning.cache import ResultCache, cache_key
from unix.cleaning.client import retry_after_seconds
from unix.cleaning.drift import label_drift
from unix.cleaning.guard import DataUseError, check_data_use, enforce_data_use
from unix.cleaning.options import CleaningOptions
from unix.cleaning.rules import clean_report_rules
from unix.cleaning.stage import reports_from_split, shard_of
from unix.data.mimic import CHEXPERT_LABELS

MIMIC_STYLE = """ WET READ: ___ ___ ___ 4:35 PM
  Left lower lobe opacity, likely atelectasis.
 ______________________________________________________________________________
                                 FINAL REPORT
 EXAMINATION:  CHEST (PA AND LAT)

 INDICATION:  ___F with new onset ascites  // eval for infection

 TECHNIQUE:  Chest PA and lateral

 COMPARISON:  ___

 FINDINGS:

 As compared to the previous radiograph of ___, there is unchanged mild cardiomegaly.
 There is no focal consolidation, pleural effusion or pneumothorax.  Possible small
 left basilar atelectasis cannot be excluded. Clips project over the left lung.

 IMPRESSION:

 1. No acute cardiopulmonary process.
 2. Dr. ___ was notified of the findings by telephone at 4:40 PM on ___.
"""


# -- prompts and answer format ---------------------------------------------------------------------------

def test_prompt_files_parse_and_version_hashes_the_text():
    clean = P.load_prompt(P.CLEAN_PROMPT)
    judge = P.load_prompt(P.JUDGE_PROMPT)
    assert clean.declared_version == "clean-report-v1" and clean.version.startswith("clean-report-v1+")
    assert judge.version.startswith("judge-report-v1+")
    messages = clean.messages(report="RAW {braces} ___")
    assert [m["role"] for m in messages] == ["system", "user"]
    assert "RAW {braces} ___" in messages[1]["content"] and "# version" not in messages[0]["content"]
    edited = P.parse_prompt_text("x", (P.PROMPT_DIR / "clean_report.txt").read_text().replace("Rules:", "Rules!"))
    assert edited.declared_version == clean.declared_version and edited.version != clean.version
    with pytest.raises(ValueError, match="version"):
        P.parse_prompt_text("x", "[system]\na\n[user]\nb")


@pytest.mark.parametrize("answer, expected", [
    ("FINDINGS: No effusion.  IMPRESSION: Normal.", "FINDINGS: No effusion. IMPRESSION: Normal."),
    ("FINDINGS:\nNo effusion.\n", "FINDINGS: No effusion."),
    ("IMPRESSION: Mild edema.", "IMPRESSION: Mild edema."),
])
def test_parse_cleaned_accepts_the_format(answer, expected):
    assert P.parse_cleaned(answer) == expected


@pytest.mark.parametrize("answer, why", [
    ("", "empty"), (None, "empty"), ("   ", "empty"),
    ("Here is the cleaned report: FINDINGS: x.", "before the first section"),
    ("No acute process.", "no FINDINGS"),
    ("IMPRESSION: a. FINDINGS: b.", "FINDINGS then IMPRESSION"),
    ("FINDINGS: a. FINDINGS: b.", "FINDINGS then IMPRESSION"),
    ("FINDINGS: IMPRESSION: b.", "empty FINDINGS"),
    ("FINDINGS: a. TECHNIQUE: PA.", "non-diagnostic header"),
    ("FINDINGS: seen on ___.", "___"),
])
def test_parse_cleaned_rejects_malformed_answers(answer, why):
    with pytest.raises(P.MalformedAnswer, match=why):
        P.parse_cleaned(answer)


def test_parse_cleaned_rejects_an_answer_much_longer_than_the_raw_report():
    with pytest.raises(P.MalformedAnswer, match="longer"):
        P.parse_cleaned("FINDINGS: " + "word " * 200, raw="FINDINGS: short.")


def test_parse_verdict():
    assert P.parse_verdict("VERDICT: PASS\nREASON: same.") == (True, "same.")
    assert P.parse_verdict("verdict: fail\nreason: drops the effusion") == (False, "drops the effusion")
    with pytest.raises(P.MalformedAnswer):
        P.parse_verdict("Looks good to me.")


# -- the rules backend -----------------------------------------------------------------------------------

def test_rules_cleaner_removes_noise_and_keeps_every_finding():
    cleaned, failure = clean_report_rules(MIMIC_STYLE)
    assert failure == ""
    assert P.parse_cleaned(cleaned) == cleaned
    findings, impression = cleaned.split(" IMPRESSION: ")
    for noise in ("___", "WET READ", "EXAMINATION", "INDICATION", "TECHNIQUE", "COMPARISON", "ascites",
                  "previous radiograph", "notified", "telephone", "4:35", "Left lower lobe opacity"):
        assert noise not in cleaned, noise
    for finding in ("unchanged mild cardiomegaly", "no focal consolidation, pleural effusion or pneumothorax",
                    "Possible small left basilar atelectasis cannot be excluded", "Clips project over the left lung"):
        assert finding in findings, finding
    assert impression == "No acute cardiopulmonary process."


def test_rules_cleaner_single_paragraph_and_addendum():
    cleaned, _ = clean_report_rules("PA and lateral chest compared to ___: Heart size is normal. No pneumothorax.")
    assert cleaned == "FINDINGS: Heart size is normal. No pneumothorax."
    cleaned, _ = clean_report_rules(
        " FINAL REPORT\n IMPRESSION: Moderate edema.\n ADDENDUM: Additionally, a small right apical pneumothorax is "
        "present. Findings were discussed with Dr. ___ at 3 pm."
    )
    assert cleaned == "IMPRESSION: Moderate edema. Additionally, a small right apical pneumothorax is present."


def test_rules_cleaner_fails_without_diagnostic_content():
    for raw in ("", "   FINAL REPORT\n TECHNIQUE: PA and lateral.\n COMPARISON: ___."):
        cleaned, failure = clean_report_rules(raw)
        assert cleaned == "" and "no diagnostic content" in failure


def test_rules_backend_table_keeps_raw_text_of_failures_flagged():
    result = clean_reports(["a", "b"], [MIMIC_STYLE, "FINAL REPORT\n TECHNIQUE: PA."], CleaningOptions(),
                           progress=False)
    table = result.table
    assert list(table.columns) == OUTPUT_COLUMNS
    assert table["status"].tolist() == ["cleaned", "failed"]
    assert table["flagged"].tolist() == [False, True]
    assert table.loc[1, "cleaned_text"] == table.loc[1, "raw_text"]
    assert result.accounting.row()["failures_other"] == 1 and result.accounting.requests_sent == 0
    with pytest.raises(ValueError, match="duplicate report_id"):
        clean_reports(["a", "a"], ["x", "y"], CleaningOptions(), progress=False)


# -- the data-use guard ----------------------------------------------------------------------------------

@pytest.mark.parametrize("url", ["http://127.0.0.1:8000/v1", "http://localhost:1234/v1", "http://[::1]:80/v1",
                                 "http://127.3.4.5/v1"])
def test_guard_allows_loopback(url):
    decision = enforce_data_use(CleaningOptions(backend="openai", base_url=url))
    assert decision.allowed and decision.decision == "loopback"


def test_guard_refuses_remote_without_acknowledgement_and_explains():
    options = CleaningOptions(backend="openai")  # DeepSeek's endpoint by default
    with pytest.raises(DataUseError) as err:
        enforce_data_use(options)
    message = str(err.value)
    assert "api.deepseek.com" in message and "PhysioNet" in message and "local_hosts" in message
    assert "OpenAI-compatible server" in message and "backend: rules" in message
    wrong = CleaningOptions(backend="openai", remote_acknowledgement="api.openai.com")
    assert not check_data_use(wrong).allowed and "must name the host exactly" in check_data_use(wrong).explanation
    # Names that merely contain "localhost" are not loopback.
    assert not check_data_use(CleaningOptions(backend="openai", base_url="http://localhost.evil.com/v1")).allowed


def test_guard_listed_local_and_acknowledged_remote_are_recorded():
    listed = check_data_use(CleaningOptions(backend="openai", base_url="http://gpu-node-07:8000/v1",
                                            local_hosts=["gpu-node-*"]))
    assert listed.allowed and listed.decision == "listed_local" and listed.endpoint_host == "gpu-node-07"
    acked = check_data_use(CleaningOptions(backend="openai", remote_acknowledgement="api.deepseek.com"))
    assert acked.allowed and acked.decision == "acknowledged_remote"
    assert check_data_use(CleaningOptions()).decision == "offline"


def test_remote_refusal_sends_nothing(tmp_path):
    with pytest.raises(DataUseError):
        clean_reports(["a"], [MIMIC_STYLE], CleaningOptions(backend="openai"), cache_dir=tmp_path, progress=False)
    assert not any(tmp_path.iterdir())


# -- options, cache, client helpers ----------------------------------------------------------------------

def test_options_reject_mistakes_with_the_key_name():
    with pytest.raises(ValueError, match="cleaning.backend"):
        CleaningOptions(backend="deepseek")
    with pytest.raises(ValueError, match="NAME of an environment variable"):
        CleaningOptions(api_key_env="sk-abc-123")
    with pytest.raises(ValueError, match="requests_in_flight"):
        CleaningOptions(requests_in_flight=0)
    with pytest.raises(ValueError, match="cleaning.openai.max_consecutive_failures"):
        CleaningOptions(max_consecutive_failures=0)
    with pytest.raises(ValueError, match="unknown key"):
        CleaningOptions.from_config({"backend": "rules", "openai": {"modle": "x"}})


def test_cache_key_changes_with_everything_that_shapes_the_answer():
    base = CleaningOptions(backend="openai", base_url="http://127.0.0.1:1/v1")
    key = cache_key("raw", cleaner_identity(base))
    assert key == cache_key("raw", cleaner_identity(CleaningOptions(backend="openai", requests_in_flight=3)))
    for changed in (dict(model="other"), dict(temperature=0.5), dict(top_p=0.9), dict(max_tokens=10),
                    dict(judge=False)):
        assert cache_key("raw", cleaner_identity(CleaningOptions(backend="openai", **changed))) != key, changed
    assert cache_key("raw2", cleaner_identity(base)) != key
    assert cache_key("raw", cleaner_identity(CleaningOptions())) != key  # rules backend


def test_cache_roundtrip_atomic_and_unreadable_entries_are_misses(tmp_path):
    cache = ResultCache(tmp_path)
    key = "ab" + "0" * 62
    assert cache.get(key) is None
    path = cache.put(key, {"status": "cleaned", "cleaned_text": "FINDINGS: x."})
    assert path.parent.name == "ab" and cache.get(key)["cleaned_text"] == "FINDINGS: x."
    assert [p.name for p in path.parent.iterdir()] == [path.name]  # no temporary file left behind
    path.write_text('{"status": "clea')  # a torn write from another tool
    assert cache.get(key) is None
    path.write_text(json.dumps({"key": "other"}))
    assert cache.get(key) is None


def test_retry_after_parsing():
    assert retry_after_seconds({"retry-after": "3"}) == 3.0
    assert retry_after_seconds({"retry-after-ms": "250"}) == 0.25
    assert retry_after_seconds({"retry-after": "Wed, 21 Oct 2015 07:28:00 GMT"}) == 0.0  # in the past
    assert retry_after_seconds({}) is None and retry_after_seconds({"retry-after": "soon"}) is None


# -- sharding and the split --------------------------------------------------------------------------------

def test_shards_are_stable_and_cover_every_report():
    ids = [f"s{50000000 + i}" for i in range(500)]
    shards = [shard_of(r, 4) for r in ids]
    assert shards == [shard_of(r, 4) for r in ids] and set(shards) == {0, 1, 2, 3}
    assert shard_of("s50414267", 4) == int.from_bytes(__import__("hashlib").sha256(b"s50414267").digest()[:8],
                                                      "big") % 4


def test_reports_from_split_one_row_per_study():
    split = pd.DataFrame({"dicom_id": ["a", "b", "c"], "study_id": [2, 2, 1],
                          "report_text": ["two", "two", "one"]})
    reports = reports_from_split(split)
    assert reports["report_id"].tolist() == ["s1", "s2"] and reports["text"].tolist() == ["one", "two"]
    split.loc[1, "report_text"] = "different"
    with pytest.raises(ValueError, match="study_id"):
        reports_from_split(split)


# -- label drift -----------------------------------------------------------------------------------------

def _standin_labeler(texts):
    """Edema positive when mentioned, negative when 'no edema'; everything else not mentioned."""
    out = np.full((len(texts), len(CHEXPERT_LABELS)), np.nan)
    j = CHEXPERT_LABELS.index("Edema")
    for i, t in enumerate(texts):
        if "no edema" in t.lower():
            out[i, j] = 0.0
        elif "edema" in t.lower():
            out[i, j] = 1.0
    return out


def test_label_drift_lists_changed_labels_and_rate():
    table = pd.DataFrame({
        "report_id": ["s1", "s2", "s3", "s4"],
        "raw_text": ["Mild edema. ___", "No edema.", "Normal.", "Edema."],
        "cleaned_text": ["FINDINGS: Mild edema.", "FINDINGS: Normal.", "FINDINGS: Normal.", "Edema."],
        "status": ["cleaned", "cleaned", "cleaned", "failed"],
    })
    drift, summary = label_drift(table, _standin_labeler)
    assert drift.to_dict("records") == [
        {"report_id": "s2", "label": "Edema", "raw_value": "0", "cleaned_value": "not mentioned"}]
    assert summary["compared"] == 3 and summary["not_compared_failed"] == 1
    assert math.isclose(summary["drift_rate"], 1 / 3) and summary["changed_labels"] == {"Edema": 1}


def test_label_drift_with_the_project_labeler():
    from unix.cleaning.drift import default_labeler

    table = pd.DataFrame({"report_id": ["s1"], "raw_text": [MIMIC_STYLE], "status": ["cleaned"],
                          "cleaned_text": [clean_report_rules(MIMIC_STYLE)[0]]})
    drift, summary = label_drift(table, default_labeler("rules"))
    # The raw labels see the wet read's "opacity" and the indication's "infection", which cleaning removes
    # by design; the findings themselves (cardiomegaly, atelectasis, effusion, ...) keep their labels.
    assert sorted(drift["label"]) == ["Lung Opacity", "Pneumonia"]
    assert set(drift["cleaned_value"]) == {"not mentioned"} and summary["drift_rate"] == 1.0


# -- `unix clean` with the rules backend -----------------------------------------------------------------

def test_unix_clean_command_rules_csv(tmp_path, capsys, restore_logging):
    from unix.cli import main

    src = tmp_path / "reports.csv"
    pd.DataFrame({"report_id": ["001", "002"], "text": [MIMIC_STYLE, "FINAL REPORT\n TECHNIQUE: PA."]}).to_csv(
        src, index=False)
    out = tmp_path / "clean.parquet"
    rc = main(["clean", str(src), "--out", str(out), "--backend", "rules", "--no-progress",
               "--config", str(tmp_path / "absent.yaml")])
    assert rc == 0
    table = pd.read_parquet(out)
    assert table["report_id"].tolist() == ["001", "002"] and table["status"].tolist() == ["cleaned", "failed"]
    printed = capsys.readouterr().out
    assert "reports 2: cleaned 1, failed 1" in printed
    acc = pd.read_csv(tmp_path / "clean.parquet.accounting.csv")
    assert acc.loc[acc["run"] == "total", "reports"].item() == 2
    bad = tmp_path / "bad.csv"
    pd.DataFrame({"id": [1], "report": ["x"]}).to_csv(bad, index=False)
    assert main(["clean", str(bad), "--out", str(out), "--config", str(tmp_path / "absent.yaml")]) == 2


def test_completion_parser_reads_the_recorded_fields_and_rejects_other_json():
    import json as _json

    from unix.cleaning.client import NotACompletion, _Completion

    body = _json.dumps({"id": "r1", "model": "m", "choices": [{"message": {"content": "FINDINGS: x"}}],
                        "usage": {"prompt_tokens": 7, "completion_tokens": 3}}).encode()
    c = _Completion.from_json(body)
    assert (c.id, c.model, c.content, c.tokens_in, c.tokens_out) == ("r1", "m", "FINDINGS: x", 7, 3)
    for other in (b"[1]", b'{"choices": [1]}', b'"text"'):
        with pytest.raises(NotACompletion):
            _Completion.from_json(other)
    with pytest.raises(_json.JSONDecodeError):
        _Completion.from_json(b"{not json")


# -- inputs that are never sent ----------------------------------------------------------------------------

@pytest.mark.parametrize("text, reason", [
    (None, "null text"), (float("nan"), "null text"), (pd.NA, "null text"),
    ("", "empty text"), (" \n\t ", "whitespace-only text"),
    ("___", "only de-identification placeholders (___)"), ("  ___ ___\n___  ", "only de-identification placeholders"),
    ("FINAL REPORT\n FINDINGS:\n\n IMPRESSION:\n", "only section headers"),
    ("findings:\n impression: ___", "only section headers"),
    ("                                 FINAL REPORT\n EXAMINATION:  ___\n INDICATION: ___\n COMPARISON: ___",
     "only section headers"),
    ("PA AND LATERAL CHEST RADIOGRAPHS:\n\n ______________________________\n", "only section headers"),
    ("No pneumothorax.", ""), ("FINDINGS: ___ No effusion.", ""), ("FINAL REPORT\n TECHNIQUE: PA and lateral.", ""),
    ("IMPRESSION: 1.", ""), (MIMIC_STYLE, ""),
])
def test_empty_input_reason(text, reason):
    from unix.cleaning.inputs import empty_input_reason

    got = empty_input_reason(text)
    assert got.startswith(reason) and bool(got) == bool(reason), (text, got)


def test_empty_inputs_are_kept_with_their_raw_text_and_counted():
    texts = pd.Series([MIMIC_STYLE, pd.NA, "   ", "___", "FINAL REPORT\n FINDINGS:\n IMPRESSION:"], dtype="string")
    result = clean_reports(list("abcde"), texts.tolist(), CleaningOptions(), progress=False)
    table = result.table.set_index("report_id")
    assert table["status"].tolist() == ["cleaned", "skipped", "skipped", "skipped", "skipped"]
    skipped = table.loc[list("bcde")]
    assert skipped["failure_reason"].str.startswith("empty_input: ").all() and skipped["flagged"].all()
    assert table.loc["b", "failure_reason"] == "empty_input: null text" and table.loc["b", "raw_text"] == ""
    assert (skipped["cleaned_text"] == skipped["raw_text"]).all() and (skipped["cache_key"] == "").all()
    assert table.loc["e", "raw_text"] == "FINAL REPORT\n FINDINGS:\n IMPRESSION:"
    assert "<NA>" not in table.to_string()
    row = result.accounting.row()
    assert (row["reports"], row["empty_input"], row["cleaned"], row["failed"], row["flagged"]) == (5, 4, 1, 0, 4)


def test_unix_clean_exits_non_zero_when_nothing_is_cleaned(tmp_path, capsys, restore_logging):
    from unix.cli import main

    out = tmp_path / "out.parquet"
    for texts in (["", "___"], ["FINAL REPORT\n TECHNIQUE: PA.", ""]):  # all empty; failed and empty
        src = tmp_path / "in.parquet"
        pd.DataFrame({"report_id": ["1", "2"], "text": texts}).to_parquet(src)
        assert main(["clean", str(src), "--out", str(out), "--no-progress", "--config", str(tmp_path / "no.yaml")]) == 1
        assert pd.read_parquet(out)["status"].tolist()[1] == "skipped"  # the table is written all the same
    assert "none of the 2 report(s) was cleaned" in capsys.readouterr().err


def test_local_hosts_patterns_never_cross_a_dot():
    from unix.cleaning.guard import host_matches

    assert host_matches("gpu-node-07", "gpu-node-*") and host_matches("GPU-NODE-07", "gpu-node-*")
    assert host_matches("gpu-node-07.cluster.example.edu", "gpu-node-*.cluster.example.edu")
    assert host_matches("10.1.2.3", "10.1.2.*") and host_matches("gpu-node-7", "gpu-node-?")
    for host, pattern in [("gpu-node-07.attacker.example.com", "gpu-node-*"),
                          ("gpu-node-07.evil.cluster.example.edu", "gpu-node-*.cluster.example.edu"),
                          ("10.1.2.3.evil.example.com", "10.1.2.*"), ("a.b", "*"), ("gpu-node-7x", "gpu-node-?")]:
        assert not host_matches(host, pattern), (host, pattern)
    attacked = check_data_use(CleaningOptions(backend="openai", local_hosts=["gpu-node-*"],
                                              base_url="http://gpu-node-07.attacker.example.com:8000/v1"))
    assert attacked.decision == "refused"


def test_the_readme_local_hosts_example_is_safe():
    import re
    from pathlib import Path

    readme = (Path(__file__).resolve().parents[1] / "README.md").read_text()
    section = readme[readme.index("## Report cleaning"):]
    url = re.search(r"base_url: (http://\S+?)`", section).group(1)
    patterns = json.loads(re.search(r"local_hosts: (\[[^\]]*\])", section).group(1))
    options = CleaningOptions(backend="openai", base_url=url, local_hosts=patterns)
    assert check_data_use(options).decision == "listed_local"
    host = url.split("//")[1].split(":")[0]
    for evil in (f"{host}.attacker.example.com", f"{host}.example.com", f"evil.{host}"):
        bad = CleaningOptions(backend="openai", base_url=f"http://{evil}:8000/v1", local_hosts=patterns)
        assert check_data_use(bad).decision == "refused", evil


def test_a_shard_that_cleans_nothing_fails(tmp_path):
    from unix.cleaning.backends import CleaningError
    from unix.cleaning.stage import clean_shard

    split = tmp_path / "split.parquet"
    pd.DataFrame({"study_id": [1, 2], "report_text": ["FINAL REPORT\n TECHNIQUE: PA.", None]}).to_parquet(split)
    outs = {name: tmp_path / f"000.{name}" for name in ("table.parquet", "accounting.csv", "calls.parquet")}
    failed_calls = tmp_path / "logs" / "000.llm_calls.parquet"
    with pytest.raises(CleaningError, match="shard 000: none of the 2 report"):
        clean_shard(split, "000", 1, CleaningOptions(), tmp_path / "cache", *outs.values(), progress=False,
                    failed_calls=failed_calls)
    assert pd.read_parquet(failed_calls).empty  # the record of the failed run (the rules send no requests)
    pd.DataFrame({"study_id": [1, 2], "report_text": [MIMIC_STYLE, None]}).to_parquet(split)
    clean_shard(split, "000", 1, CleaningOptions(), tmp_path / "cache", *outs.values(), progress=False,
                failed_calls=failed_calls)
    assert pd.read_parquet(outs["table.parquet"])["status"].tolist() == ["cleaned", "skipped"]
    assert not failed_calls.exists()  # it describes the shard's last run only
