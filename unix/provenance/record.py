"""Writing provenance records (see the package docstring for the format).

A record is one JSON object; the keys an auditor relies on:

- `rule`, `wildcards`, `params`, `seed`: what ran and with which values;
- `config_keys`: `{param name: dotted config key}` for the params that come straight from config.yaml
  (every rule passes them with `config_params`; derived params such as resolved paths or a training
  recipe sit beside the config sections they are built from), so `unix audit` can tell which config edit
  made a result stale; `config_keys_subset` names those that hold a whole config section, which the audit
  compares key by key (and so names the one key that changed);
- `config_sha256` and `config`: the full resolved config of the run (small; kept whole so an auditor can
  see every value, not only the ones mapped);
- `inputs` / `outputs`: `[{name, path, sha256}]` (outputs also `size`, `mtime_ns`, so a consumer can
  reuse the hash instead of re-reading the file: `input_sha256`);
- `external_inputs`: `[{param, path, sha256}]` for paths outside results/ that reach the job through
  params (configured weights, the MIMIC-CXR-JPG root), so the audit reaches them too;
- `code` (git commit, dirty flag), `packages`, `hardware`, `created`, `log`;
- `extra`: what the step returned (counts, data-use decisions, LLM call records, ...), plus `wall_time_s`.
"""

from __future__ import annotations

import datetime as _dt
import hashlib
import json
import os
import platform
import subprocess
import sys
from functools import lru_cache
from importlib import metadata
from pathlib import Path
from typing import Any, Iterable, Mapping

PROV_SUFFIX = ".prov.json"
RECORD_VERSION = 2
TRACKED_PACKAGES = (
    "unix-cxr", "torch", "transformers", "diffusers", "accelerate", "tokenizers", "safetensors",
    "snakemake", "openai", "pandas", "pyarrow", "numpy", "scipy", "scikit-learn", "pillow", "matplotlib",
)
_CHUNK = 1 << 20
# Directories whose files add up to more than this are fingerprinted by (relative path, size, mtime_ns)
# instead of content: hashing a whole MIMIC-CXR-JPG tree (~500 GB) would take hours per job. The
# fingerprint still changes when a file is added, removed, resized or rewritten.
DIR_CONTENT_LIMIT_BYTES = int(os.environ.get("UNIX_PROV_DIR_CONTENT_LIMIT", str(2 << 30)))
# Records whose JSON would exceed this many characters are written without indentation.
_INDENT_LIMIT_CHARS = 1_000_000

# (resolved path, size, mtime_ns) -> sha256: a file hashed once per process, however many records use it.
_HASH_CACHE: dict[tuple[str, int, int], str] = {}


def sidecar_path(path: str | os.PathLike) -> Path:
    """Where the provenance record of `path` lives (`<path>.prov.json`, also for a directory)."""
    p = Path(str(path).rstrip("/"))
    return p.with_name(p.name + PROV_SUFFIX)


def _sha256_file(path: Path) -> str:
    st = path.stat()
    key = (str(path.resolve()), st.st_size, st.st_mtime_ns)
    cached = _HASH_CACHE.get(key)
    if cached is not None:
        return cached
    h = hashlib.sha256()
    with open(path, "rb") as fh:
        while chunk := fh.read(_CHUNK):
            h.update(chunk)
    digest = h.hexdigest()
    _HASH_CACHE[key] = digest
    return digest


def clear_hash_cache() -> None:
    """Forget cached hashes (tests; a long-lived process that rewrites files within one mtime tick)."""
    _HASH_CACHE.clear()


# Snakemake writes this marker into every directory output after the job, i.e. after our record.
_DIR_IGNORED = {".snakemake_timestamp"}


def _dir_files(p: Path) -> list[Path]:
    return sorted(q for q in p.rglob("*")
                  if q.is_file() and not q.name.endswith(PROV_SUFFIX) and q.name not in _DIR_IGNORED)


def sha256_path(path: str | os.PathLike) -> str | None:
    """sha256 of a file; for a directory, of the sorted list of (relative path, file sha256).

    A directory larger than `DIR_CONTENT_LIMIT_BYTES` gets a `dirstat:` fingerprint of
    (relative path, size, mtime_ns) instead of a content hash. Returns None when the path does not exist.
    """
    p = Path(path)
    if p.is_file():
        return _sha256_file(p)
    if p.is_dir():
        files = _dir_files(p)
        stats = [(f, f.stat()) for f in files]
        h = hashlib.sha256()
        if sum(st.st_size for _, st in stats) > DIR_CONTENT_LIMIT_BYTES:
            for f, st in stats:
                h.update(f"{f.relative_to(p).as_posix()}\0{st.st_size}\0{st.st_mtime_ns}\n".encode())
            return "dirstat:" + h.hexdigest()
        for f, _ in stats:
            h.update(f.relative_to(p).as_posix().encode())
            h.update(b"\0")
            h.update(_sha256_file(f).encode())
            h.update(b"\n")
        return "dir:" + h.hexdigest()
    return None


_SECRET_SUFFIXES = ("password", "secret", "api_key", "_token", "access_key")


def redact(config: Any) -> Any:
    """A copy of a config with values of secret-looking keys (`*api_key`, `*password`, ...) replaced.

    The project keeps secrets in the environment (config names the variable, e.g. `api_key_env`);
    this guards the records in case a user puts a key into config.yaml anyway.
    """
    if isinstance(config, Mapping):
        return {k: ("<redacted>" if str(k).lower().endswith(_SECRET_SUFFIXES) and v else redact(v))
                for k, v in config.items()}
    if isinstance(config, list):
        return [redact(v) for v in config]
    return config


def _output_entry(name: str | None, path: str) -> dict[str, Any]:
    entry: dict[str, Any] = {"name": name, "path": path, "sha256": sha256_path(path)}
    p = Path(path)
    if p.is_file():
        st = p.stat()
        entry["size"], entry["mtime_ns"] = st.st_size, st.st_mtime_ns
    return entry


def input_sha256(path: str | os.PathLike) -> str | None:
    """sha256 of an input, reusing the hash its producer recorded when size and mtime still match.

    A training job reads hundreds of GB of image shards; their producers hashed them once when they
    were written, so re-reading them in every consumer would only repeat that work. A file whose size
    or mtime changed since is hashed again; `unix audit --verify` always re-hashes everything.
    """
    p = Path(path)
    if p.is_file():
        st = p.stat()
        side = sidecar_path(p)
        if side.is_file():
            try:
                record = json.loads(side.read_text())
            except (OSError, json.JSONDecodeError):
                record = {}
            resolved = p.resolve()
            for entry in record.get("outputs", []):
                if (entry.get("size") == st.st_size and entry.get("mtime_ns") == st.st_mtime_ns
                        and entry.get("sha256") and Path(entry["path"]).resolve() == resolved):
                    return entry["sha256"]
    return sha256_path(p)


def config_sha256(config: Mapping[str, Any]) -> str:
    """sha256 of a config mapping in canonical JSON (key order and formatting do not matter)."""
    return hashlib.sha256(json.dumps(_jsonable(config), sort_keys=True).encode()).hexdigest()


def config_params(config: Mapping[str, Any], **keys: str) -> dict[str, Any]:
    """Params for a rule, taken from config by dotted key, plus the mapping back to the keys.

    In a rule: ``params: **config_params(config, seed="seed", steps="training.stage1.steps")``
    gives ``params.seed``, ``params.steps`` and ``params.config_keys`` (recorded in provenance, so
    `unix audit` can compare each value with the current config.yaml and name the key that changed).
    A key may name the rule's wildcards (``settings="training.{stage}"``): that param and the mapping are
    then functions of each job's wildcards.
    """
    from unix.config import get

    if "config_keys" in keys:
        raise ValueError("config_params: 'config_keys' is reserved for the mapping; rename that param")

    def per_job(key: str) -> Any:
        return lambda wildcards: get(dict(config), key.format(**dict(wildcards.items())))

    out: dict[str, Any] = {name: per_job(key) if "{" in key else get(dict(config), key)
                           for name, key in keys.items()}
    if any("{" in key for key in keys.values()):
        out["config_keys"] = lambda wildcards: {name: key.format(**dict(wildcards.items()))
                                                for name, key in keys.items()}
    else:
        out["config_keys"] = dict(keys)
    return out


# A directory param with more files than this is recorded by path only (walking a 377k-image
# MIMIC-CXR-JPG root in every job would cost minutes per job).
EXTERNAL_DIR_MAX_FILES = 10_000


def _param_paths(params: Mapping[str, Any]) -> list[tuple[str, str]]:
    """(dotted param name, path) of every string param (up to two levels deep) naming an existing path.

    Only strings with a path separator count: a bare word such as a backend name ("rules") must not be
    mistaken for a directory of the same name in the working directory.
    """
    out: list[tuple[str, str]] = []

    def visit(name: str, value: Any, depth: int) -> None:
        if isinstance(value, str) and os.sep in value and len(value) < 4096 and "\n" not in value:
            try:
                if os.path.exists(value):
                    out.append((name, value))
            except (OSError, ValueError):
                pass
        elif isinstance(value, Mapping) and depth < 2:
            for k, v in value.items():
                visit(f"{name}.{k}", v, depth + 1)

    for key, value in params.items():
        visit(str(key), value, 0)
    return out


def external_inputs(params: Mapping[str, Any], declared: Iterable[str]) -> list[dict[str, Any]]:
    """Paths that reach a job through params rather than `input:` (configured weights, the MIMIC-CXR-JPG
    root), outside results/: recorded with their hash so the audit can tell when they change.

    Paths under results/ are skipped (they have records of their own), as are declared inputs.
    A directory with more than `EXTERNAL_DIR_MAX_FILES` files is recorded without a hash.
    """
    declared_resolved = {Path(p).resolve() for p in declared}
    results = Path("results").resolve()
    out = []
    for name, path in _param_paths(params):
        resolved = Path(path).resolve()
        if resolved in declared_resolved or resolved == results or results in resolved.parents:
            continue
        if resolved == Path.cwd().resolve() or resolved == Path("/"):
            continue
        entry: dict[str, Any] = {"param": name, "path": path}
        if resolved.is_dir():
            count = 0
            for _ in resolved.rglob("*"):
                count += 1
                if count > EXTERNAL_DIR_MAX_FILES:
                    break
            if count > EXTERNAL_DIR_MAX_FILES:
                entry["sha256"] = None
                entry["note"] = f"more than {EXTERNAL_DIR_MAX_FILES} files: recorded by path only"
                out.append(entry)
                continue
        entry["sha256"] = sha256_path(resolved)
        out.append(entry)
    return out


@lru_cache(maxsize=1)
def code_version() -> dict[str, Any]:
    """Git commit of the project checkout and whether the tree has uncommitted changes."""
    root = Path(__file__).resolve().parents[2]
    return git_version(root)


def git_version(root: str | os.PathLike) -> dict[str, Any]:
    """`{commit, dirty}` of the git checkout at `root` (None values when it is not one)."""

    def git(*args: str) -> str | None:
        try:
            out = subprocess.run(["git", *args], cwd=root, capture_output=True, text=True, timeout=10)
        except (OSError, subprocess.TimeoutExpired):
            return None
        return out.stdout.strip() if out.returncode == 0 else None

    commit = git("rev-parse", "HEAD")
    status = git("status", "--porcelain", "--untracked-files=no") if commit else None
    return {"commit": commit, "dirty": bool(status) if status is not None else None}


@lru_cache(maxsize=1)
def package_versions() -> dict[str, str]:
    """Installed versions of the packages that shape results, and the Python version."""
    out = {"python": platform.python_version()}
    for name in TRACKED_PACKAGES:
        try:
            out[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            continue
    return out


def hardware() -> dict[str, Any]:
    """CPU model and count, GPU models and count (when torch is loaded and sees CUDA), host name."""
    info = dict(_cpu_info())
    gpus: list[str] = []
    if "torch" in sys.modules:
        import torch

        if torch.cuda.is_available():
            gpus = [torch.cuda.get_device_name(i) for i in range(torch.cuda.device_count())]
    info["gpus"] = gpus
    info["gpu_count"] = len(gpus)
    return info


@lru_cache(maxsize=1)
def _cpu_info() -> dict[str, Any]:
    cpu = platform.processor() or platform.machine()
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    try:
        usable = len(os.sched_getaffinity(0))
    except AttributeError:  # pragma: no cover - not Linux
        usable = os.cpu_count()
    return {"host": platform.node(), "cpu": cpu, "cpu_count": os.cpu_count(), "cpu_usable": usable}


def _jsonable(value: Any) -> Any:
    if isinstance(value, Mapping):
        return {str(k): _jsonable(v) for k, v in value.items()}
    if isinstance(value, (list, tuple, set)):
        return [_jsonable(v) for v in value]
    if isinstance(value, float) and value != value:  # NaN is not JSON
        return None
    if isinstance(value, (str, int, float, bool)) or value is None:
        return value
    if isinstance(value, os.PathLike):
        return os.fspath(value)
    if hasattr(value, "item"):
        return value.item()
    return str(value)


def _named(io: Any) -> list[tuple[str | None, str]]:
    """Flatten a Snakemake Namedlist into (name, path) pairs."""
    names = {}
    if hasattr(io, "_names"):
        for name, (start, end) in io._names.items():
            for i in range(start, (end if end is not None else start + 1)):
                names[i] = name
    return [(names.get(i), str(p)) for i, p in enumerate(io)]


def write_record(output: str | os.PathLike, record: dict[str, Any]) -> Path:
    """Write one record atomically beside `output`."""
    path = sidecar_path(output)
    tmp = path.with_name(path.name + ".tmp")
    text = json.dumps(_jsonable(record), indent=2, sort_keys=True)
    if len(text) > _INDENT_LIMIT_CHARS:
        text = json.dumps(_jsonable(record), sort_keys=True)
    tmp.write_text(text)
    os.replace(tmp, path)
    return path


def read_record(path: str | os.PathLike) -> dict[str, Any] | None:
    """The record of `path` (a result file or directory), or None when it has none."""
    side = sidecar_path(path)
    if not side.is_file():
        return None
    return json.loads(side.read_text())


def build_record(
    rule: str,
    inputs: Iterable[tuple[str | None, str]],
    outputs: Iterable[tuple[str | None, str]],
    params: dict[str, Any],
    wildcards: dict[str, Any],
    extra: dict[str, Any] | None = None,
    config: Mapping[str, Any] | None = None,
    log: str | None = None,
) -> dict[str, Any]:
    """The common part of the records of one job's outputs."""
    params = dict(params)
    inputs = list(inputs)
    config_keys = dict(params.pop("config_keys", None) or {})
    return {
        "record_version": RECORD_VERSION,
        "rule": rule,
        "wildcards": wildcards,
        "params": params,
        "config_keys": config_keys,
        "config_keys_subset": sorted(k for k in config_keys if isinstance(params.get(k), Mapping)),
        "config_sha256": config_sha256(config) if config is not None else None,
        "config": redact(dict(config)) if config is not None else None,
        "seed": params.get("seed"),
        "inputs": [{"name": n, "path": p, "sha256": input_sha256(p)} for n, p in inputs],
        "external_inputs": external_inputs(params, [p for _, p in inputs]),
        "outputs": [_output_entry(n, p) for n, p in outputs],
        "code": code_version(),
        "packages": package_versions(),
        "hardware": hardware(),
        "created": _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds"),
        "log": log,
        "extra": extra or {},
    }


def record_job(smk: Any, extra: dict[str, Any] | None = None) -> list[Path]:
    """Write the provenance record of every output of a Snakemake job."""
    params = {k: v for k, v in smk.params.items()} if hasattr(smk.params, "items") else {}
    wildcards = {k: v for k, v in smk.wildcards.items()} if hasattr(smk.wildcards, "items") else {}
    config = getattr(smk, "config", None)
    log = str(smk.log[0]) if len(getattr(smk, "log", [])) else None
    outputs = _named(smk.output)
    record = build_record(smk.rule, _named(smk.input), outputs, params, wildcards, extra, config, log)
    return [write_record(path, record) for _, path in outputs]
