"""Provenance records: hashing, the hash cache, config params and what a record holds."""

from __future__ import annotations

import json
import os
from types import SimpleNamespace

import pytest

from unix.config import ConfigError
from unix.provenance import record as R


def test_sha256_file_and_directory(tmp_path):
    f = tmp_path / "a.txt"
    f.write_text("hello")
    # sha256("hello"), computed independently of our code
    assert R.sha256_path(f) == "2cf24dba5fb0a30e26e83b2ac5b9e29e1b161e5c1fa7425e73043362938b9824"
    d = tmp_path / "d"
    (d / "sub").mkdir(parents=True)
    (d / "sub" / "x.bin").write_bytes(b"x")
    (d / "y.bin").write_bytes(b"y")
    first = R.sha256_path(d)
    assert first.startswith("dir:")
    # sidecars inside a directory do not change its hash; content does
    (d / "y.bin.prov.json").write_text("{}")
    assert R.sha256_path(d) == first
    (d / "y.bin").write_bytes(b"Y")
    assert R.sha256_path(d) != first
    assert R.sha256_path(tmp_path / "absent") is None


def test_large_directory_gets_stat_fingerprint(tmp_path, monkeypatch):
    d = tmp_path / "big"
    d.mkdir()
    (d / "a.jpg").write_bytes(b"0" * 100)
    monkeypatch.setattr(R, "DIR_CONTENT_LIMIT_BYTES", 10)
    first = R.sha256_path(d)
    assert first.startswith("dirstat:")
    (d / "b.jpg").write_bytes(b"1")
    assert R.sha256_path(d) != first


def test_hash_cache_hits_and_invalidates_on_change(tmp_path, monkeypatch):
    R.clear_hash_cache()
    f = tmp_path / "big.bin"
    f.write_bytes(b"a" * 1000)
    calls = []
    real_open = open

    def counting_open(path, *args, **kwargs):
        calls.append(str(path))
        return real_open(path, *args, **kwargs)

    monkeypatch.setattr("builtins.open", counting_open)
    h1 = R.sha256_path(f)
    h2 = R.sha256_path(f)
    assert h1 == h2 and calls.count(str(f)) == 1
    f.write_bytes(b"b" * 1001)  # size changes -> new cache key
    assert R.sha256_path(f) != h1 and calls.count(str(f)) == 2


def test_config_params_maps_back_to_keys():
    config = {"seed": 3, "training": {"stage1": {"lr": 1e-4}}}
    params = R.config_params(config, seed="seed", lr="training.stage1.lr")
    assert params == {"seed": 3, "lr": 1e-4, "config_keys": {"seed": "seed", "lr": "training.stage1.lr"}}
    with pytest.raises(ValueError, match="training.stage1.steps"):
        R.config_params(config, steps="training.stage1.steps")


class _NL(list):
    """A minimal stand-in for Snakemake's Namedlist."""

    def __init__(self, items: dict):
        super().__init__(items.values())
        self._names = {k: (i, None) for i, k in enumerate(items)}
        self._items = items

    def items(self):
        return self._items.items()


def test_record_job_writes_full_record(tmp_path):
    src = tmp_path / "in.csv"
    src.write_text("a,b\n1,2\n")
    out_file = tmp_path / "out.json"
    out_file.write_text("{}")
    out_dir = tmp_path / "outdir"
    out_dir.mkdir()
    (out_dir / "p.txt").write_text("p")
    config = {"seed": 7, "data": {"n": 4}}
    params = R.config_params(config, seed="seed", n="data.n")
    smk = SimpleNamespace(
        rule="make_thing", input=_NL({"table": str(src)}), output=_NL({"js": str(out_file), "d": str(out_dir)}),
        params=_NL(params), wildcards=_NL({"size": "256"}), log=[str(tmp_path / "x.log")], config=config,
    )
    llm = [{"model": "offline", "backend": "rules", "prompt_sha256": "ab", "response": "FINDINGS: ..."}]
    paths = R.record_job(smk, extra={"llm_calls": llm, "kept": 3})
    assert [p.name for p in paths] == ["out.json.prov.json", "outdir.prov.json"]
    rec = json.loads(paths[0].read_text())
    assert rec["rule"] == "make_thing"
    assert rec["params"] == {"seed": 7, "n": 4}
    assert rec["config_keys"] == {"seed": "seed", "n": "data.n"}
    assert rec["config_sha256"] == R.config_sha256({"data": {"n": 4}, "seed": 7})
    assert rec["config"] == config and rec["seed"] == 7
    assert rec["inputs"] == [{"name": "table", "path": str(src), "sha256": R.sha256_path(src)}]
    assert rec["outputs"][0]["size"] == 2 and rec["outputs"][0]["mtime_ns"] == out_file.stat().st_mtime_ns
    assert rec["outputs"][1]["sha256"].startswith("dir:")
    assert rec["wildcards"] == {"size": "256"}
    assert rec["extra"]["llm_calls"] == llm and rec["extra"]["kept"] == 3
    assert set(rec["code"]) == {"commit", "dirty"}
    assert rec["packages"]["numpy"] and rec["packages"]["python"]
    assert rec["hardware"]["cpu_count"] >= 1 and rec["hardware"]["gpu_count"] == len(rec["hardware"]["gpus"])
    assert rec["log"] == str(tmp_path / "x.log")
    assert R.read_record(out_dir) == json.loads(paths[1].read_text())


def test_write_record_is_atomic_and_handles_nan(tmp_path):
    out = tmp_path / "o.txt"
    out.write_text("o")
    R.write_record(out, {"x": float("nan"), "p": tmp_path})
    rec = json.loads(R.sidecar_path(out).read_text())
    assert rec == {"x": None, "p": str(tmp_path)}
    assert not any(n.endswith(".tmp") for n in os.listdir(tmp_path))


def test_config_params_with_wildcards_resolve_per_job():
    config = {"seed": 3, "training": {"stage1": {"lr": 0.1}, "stage2": {"lr": 0.2}}}
    params = R.config_params(config, settings="training.{stage}", seed="seed")
    assert params["seed"] == 3
    assert params["settings"]({"stage": "stage2"}) == {"lr": 0.2}
    assert params["config_keys"]({"stage": "stage1"}) == {"settings": "training.stage1", "seed": "seed"}
    with pytest.raises(ConfigError, match="training.stage9"):
        params["settings"]({"stage": "stage9"})


def test_record_maps_only_the_params_passed_with_config_params(tmp_path):
    """Plain params (derived values, a value that happens to equal a config value) get no config key."""
    out = tmp_path / "o.txt"
    out.write_text("o")
    config = {"seed": 1, "data": {"checks": {"workers": 2}}}
    rec = R.build_record("r", [], [(None, str(out))], {"checks": {"workers": 2}, "lr": 0.5,
                                                        "config_keys": {"lr": "x.lr"}}, {}, config=config)
    assert rec["config_keys"] == {"lr": "x.lr"}
    assert rec["params"] == {"checks": {"workers": 2}, "lr": 0.5}
    # a config param holding a whole section is compared key by key by the audit
    rec = R.build_record("r", [], [(None, str(out))], {"checks": {"workers": 2}, "seed": 1,
                                                        "config_keys": {"checks": "data.checks", "seed": "seed"}},
                         {}, config=config)
    assert rec["config_keys_subset"] == ["checks"]


def test_external_inputs_from_params(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "weights").mkdir()
    (tmp_path / "weights" / "a.bin").write_bytes(b"a")
    (tmp_path / "root").mkdir()
    for i in range(3):
        (tmp_path / "root" / f"{i}.jpg").write_bytes(b"j")
    (tmp_path / "results").mkdir()
    (tmp_path / "results" / "x.parquet").write_bytes(b"x")
    (tmp_path / "declared.csv").write_text("d")
    (tmp_path / "rules").mkdir()  # a bare word param ("rules" backend) is not the directory of that name
    monkeypatch.setattr(R, "EXTERNAL_DIR_MAX_FILES", 2)
    params = {"weights": {"vae": "./weights", "chexbert": ""}, "images_root": str(tmp_path / "root"),
              "table": "results/x.parquet", "declared": "./declared.csv", "lr": 0.1, "name": "not a path",
              "backend": "rules"}
    ext = R.external_inputs(params, ["declared.csv"])
    by_param = {e["param"]: e for e in ext}
    assert set(by_param) == {"weights.vae", "images_root"}
    assert by_param["weights.vae"]["sha256"] == R.sha256_path(tmp_path / "weights")
    assert by_param["images_root"]["sha256"] is None and "by path only" in by_param["images_root"]["note"]


def test_secrets_in_config_are_not_recorded(tmp_path):
    out = tmp_path / "o.txt"
    out.write_text("o")
    config = {"cleaning": {"api_key_env": "DEEPSEEK_API_KEY", "api_key": "sk-123", "max_tokens": 5}}
    rec = R.build_record("r", [], [(None, str(out))], {}, {}, config=config)
    assert rec["config"]["cleaning"] == {"api_key_env": "DEEPSEEK_API_KEY", "api_key": "<redacted>", "max_tokens": 5}
    assert "sk-123" not in json.dumps(rec)


def test_input_hash_reuses_the_producers_record_only_while_unchanged(tmp_path):
    f = tmp_path / "shard.parquet"
    f.write_bytes(b"0" * 64)
    true_sha = R.sha256_path(f)
    entry = R._output_entry("s", str(f))
    # a record that claims another hash for the same size and mtime: the consumer trusts it (no re-read)
    R.write_record(f, {"outputs": [{**entry, "sha256": "recorded"}]})
    assert R.input_sha256(f) == "recorded"
    os.utime(f, ns=(entry["mtime_ns"] + 10**9, entry["mtime_ns"] + 10**9))  # touched: hashed again
    assert R.input_sha256(f) == true_sha
    assert R.input_sha256(tmp_path / "no-record.bin") is None
