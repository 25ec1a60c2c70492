"""Provenance: a JSON record beside every file the workflow writes under results/.

For an output `results/a/b.parquet` the record is `results/a/b.parquet.prov.json` (for a directory
output, `<dir>.prov.json`). It holds the rule, wildcards, params (the config values the rule uses),
every input with its sha256, every output with its sha256, the code version (git commit and dirty
flag), package versions, seed, hardware, and whatever the step itself returned (counts, LLM call
records, ...). Sidecars were chosen over one database because SLURM jobs on different nodes write
them concurrently on a shared filesystem without locking.

Rules that take values from config.yaml build their params with `config_params(config, name="dotted.key")`
so the record maps each param back to its config key; `unix audit` (unix.provenance.audit) reads the
records back, walks from any result to the raw inputs, and flags what is stale.
"""

from __future__ import annotations

from unix.provenance.record import (  # noqa: F401
    PROV_SUFFIX,
    code_version,
    config_params,
    config_sha256,
    hardware,
    package_versions,
    read_record,
    record_job,
    sha256_path,
    sidecar_path,
    write_record,
)
