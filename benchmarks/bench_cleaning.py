"""Throughput of report cleaning against a loopback OpenAI-compatible server, and a fully cached rerun.

    .venv/bin/python benchmarks/bench_cleaning.py [--reports 2000] [--in-flight 32] [--delay 0.2]
                                                  [--cached-reports 10000] [--judge]

1. The fake server (tests/fake_openai_server.py, its own process) answers every request after `--delay`
   seconds; `--reports` reports are cleaned with `--in-flight` requests in flight (judge off: one request
   per report; `--judge`: two, the cleaning and the self-judgement). Ideal throughput is in_flight / delay
   requests/s (32 / 0.2 s = 160/s); target >= 90%. Throughput counts the requests actually sent (retries
   included; with the judge on, a report costs 2). The one-time
   `import openai` (about a second, paid by any run that sends a request) is timed and printed apart,
   before the clock starts; the end-to-end rate including it is printed too.
2. `--cached-reports` reports are cleaned once (server without delay), then cleaned again: the rerun sends
   no request; target < 3 s, measured in-process and as the `unix clean` command end to end.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import pandas as pd

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "tests"))

from unix.cleaning.backends import clean_reports  # noqa: E402
from unix.cleaning.options import CleaningOptions  # noqa: E402


def start_server(delay: float) -> tuple[subprocess.Popen, str]:
    proc = subprocess.Popen([sys.executable, str(REPO / "tests" / "fake_openai_server.py"), "--delay", str(delay)],
                            stdout=subprocess.PIPE, text=True, cwd=REPO)
    url = proc.stdout.readline().strip()
    if not url.startswith("http://127.0.0.1:"):
        proc.kill()
        raise RuntimeError(f"fake server did not start: {url!r}")
    return proc, url


def cpu_seconds(pid: int | None = None) -> float:
    """CPU time (user + system) of this process, or of process `pid` (Linux /proc)."""
    if pid is None:
        t = os.times()
        return t.user + t.system
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def reports(n: int, tag: str) -> tuple[list[str], list[str]]:
    texts = [f"FINAL REPORT\n COMPARISON: ___.\n FINDINGS: No pneumothorax. Nodule {i} mm ({tag}) in the right "
             f"apex.\n IMPRESSION: Nodule {i} mm." for i in range(n)]
    return [f"s{i}" for i in range(n)], texts


def options(url: str, in_flight: int, judge: bool = False) -> CleaningOptions:
    return CleaningOptions(backend="openai", base_url=url, model="fake", api_key_env="BENCH_KEY", judge=judge,
                           requests_in_flight=in_flight, timeout_s=30.0, backoff_base_s=0.05, backoff_max_s=1.0)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--reports", type=int, default=2000)
    parser.add_argument("--in-flight", type=int, default=32)
    parser.add_argument("--delay", type=float, default=0.2)
    parser.add_argument("--cached-reports", type=int, default=10000)
    parser.add_argument("--judge", action="store_true", help="self-judge every cleaning (2 requests a report)")
    args = parser.parse_args()
    os.environ["BENCH_KEY"] = "sk-bench"
    tag = str(time.time_ns())  # fresh texts: nothing is cached from an earlier benchmark run
    start = time.perf_counter()
    import unix.cleaning.client  # noqa: F401  (imports openai; clean_reports imports it lazily)
    import_s = time.perf_counter() - start

    with tempfile.TemporaryDirectory() as tmp:
        cache = Path(tmp) / "cache"
        proc, url = start_server(args.delay)
        try:
            ids, texts = reports(args.reports, tag)
            cpu0, server0, load0 = cpu_seconds(), cpu_seconds(proc.pid), os.getloadavg()[0]
            start = time.perf_counter()
            result = clean_reports(ids, texts, options(url, args.in_flight, args.judge), cache_dir=cache,
                                   progress=False)
            wall = time.perf_counter() - start
            cpu, server_cpu = cpu_seconds() - cpu0, cpu_seconds(proc.pid) - server0
        finally:
            proc.terminate()
            proc.wait()
        sent = result.accounting.requests_sent
        ideal = args.in_flight / args.delay
        rate = sent / wall
        print(f"throughput: {args.reports} reports, {sent} requests in {wall:.2f} s = {rate:.1f} requests/s; "
              f"ideal {ideal:.0f}/s; {100 * rate / ideal:.1f}% of ideal (target >= 90%); "
              f"cleaned {result.accounting.cleaned}, retries {result.accounting.retries} "
              f"{dict(result.accounting.retry_reasons)}")
        latency = sorted(c["latency_s"] for c in result.calls)
        print(f"  latency per request: median {1000 * latency[len(latency) // 2]:.0f} ms, "
              f"p90 {1000 * latency[int(0.9 * len(latency))]:.0f} ms (server delay {1000 * args.delay:.0f} ms); "
              f"`import openai` {import_s:.2f} s once, end to end with it {sent / (wall + import_s):.1f} "
              f"requests/s = {100 * sent / (wall + import_s) / ideal:.1f}% of ideal")
        print(f"  CPU per request: client {1000 * cpu / sent:.2f} ms, server {1000 * server_cpu / sent:.2f} ms; "
              f"{os.cpu_count()} CPUs, load average {load0:.1f} at start (other processes compete for the CPUs)")

        proc, url = start_server(0.0)
        try:
            ids, texts = reports(args.cached_reports, tag + "-cached")
            start = time.perf_counter()
            first = clean_reports(ids, texts, options(url, 64), cache_dir=cache, progress=False)
            fill = time.perf_counter() - start
            start = time.perf_counter()
            rerun = clean_reports(ids, texts, options(url, 64), cache_dir=cache, progress=False)
            cached = time.perf_counter() - start
            table = Path(tmp) / "in.parquet"
            pd.DataFrame({"report_id": ids, "text": texts}).to_parquet(table)
            cmd = [str(Path(sys.executable).parent / "unix"), "clean", str(table), "--out", str(Path(tmp) / "out.parquet"),
                   "--backend", "openai", "--base-url", url, "--model", "fake", "--api-key-env", "BENCH_KEY",
                   "--no-judge", "--cache-dir", str(cache), "--no-progress", "--config", str(Path(tmp) / "none.yaml")]
            start = time.perf_counter()
            out = subprocess.run(cmd, capture_output=True, text=True, cwd=tmp)
            command = time.perf_counter() - start
        finally:
            proc.terminate()
            proc.wait()
        assert out.returncode == 0 and "requests sent 0" in out.stdout, out.stdout + out.stderr
        print(f"first run of {args.cached_reports} reports (no delay, 64 in flight): {fill:.2f} s, "
              f"{first.accounting.requests_sent / fill:.0f} requests/s")
        print(f"cached rerun of {args.cached_reports} reports: {cached:.2f} s in-process "
              f"({rerun.accounting.cache_hits} cache hits, {rerun.accounting.requests_sent} requests); "
              f"`unix clean` end to end (start-up, parquet in/out): {command:.2f} s (target < 3 s)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
