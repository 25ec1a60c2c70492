"""Provenance: a JSON record beside every file the workflow writes under results/.

For an output `results/a/b.parquet` the record is `results/a/b.parquet.prov.json` (for a directory
output, `<dir>.prov.json`). It holds the rule, wildcards, params (the config values the rule uses),
every input with its sha256, every output with its sha256, the code version (git commit and dirty
flag), package versions, seed, hardware, and whatever the step itself returned (counts, LLM call
records, ...). Sidecars were chosen over one database because SLURM jobs on different nodes write
them concurrently on a shared filesystem without locking.

`unix audit` (unix.provenance.audit) reads these records back.
"""

from __future__ import annotations

from unix.provenance.record import (  # noqa: F401
    PROV_SUFFIX,
    code_version,
    hardware,
    package_versions,
    record_job,
    sha256_path,
    sidecar_path,
    write_record,
)
