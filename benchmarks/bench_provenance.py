"""How much provenance hashing costs a job, and what the caches save.

    .venv/bin/python benchmarks/bench_provenance.py [--mb 256] [--files 4]

Prints seconds for: hashing the files cold; again in the same process (the (path, size, mtime_ns)
cache); and in a new consumer job, which reuses the hashes its producer recorded (`input_sha256`).
"""

from __future__ import annotations

import argparse
import os
import tempfile
import time
from pathlib import Path

from unix.provenance import record as R


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--mb", type=int, default=256, help="size of each file in MiB")
    parser.add_argument("--files", type=int, default=4, help="number of files")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        paths = []
        for i in range(args.files):
            p = Path(tmp) / f"shard{i}.parquet"
            with open(p, "wb") as fh:
                for _ in range(args.mb):
                    fh.write(os.urandom(1 << 20))
            paths.append(p)
        total_mb = args.mb * args.files
        R.clear_hash_cache()
        t = time.perf_counter()
        entries = [R._output_entry(None, str(p)) for p in paths]
        cold = time.perf_counter() - t
        t = time.perf_counter()
        for p in paths:
            R.sha256_path(p)
        cached = time.perf_counter() - t
        for p, e in zip(paths, entries):
            R.write_record(p, {"outputs": [e]})
        R.clear_hash_cache()  # a consumer job is a new process
        t = time.perf_counter()
        for p in paths:
            R.input_sha256(p)
        reused = time.perf_counter() - t
    print(f"{total_mb} MiB in {args.files} files")
    print(f"cold sha256 (producer writes its record): {cold:8.3f} s  ({total_mb / cold:7.0f} MiB/s)")
    print(f"same process again (hash cache):           {cached:8.3f} s")
    print(f"consumer job (reuses the producer's hash): {reused:8.3f} s")


if __name__ == "__main__":
    main()
