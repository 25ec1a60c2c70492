"""The results layout is written in one place: every rule declares its outputs as literal paths in rules/*.smk,
and each of them is listed, beside its rule, in the header of the Snakefile (read as text; no workflow run)."""

from __future__ import annotations

import itertools
import re

from conftest import REPO

RULE = re.compile(r"^\s*rule (\w+):", re.M)
DIRECTIVE = re.compile(r"^(\s*)(\w+):", re.M)


def rule_outputs() -> dict[str, list[str]]:
    """{rule: its output paths under results/, as written in rules/*.smk (f-string braces undone)}."""
    found: dict[str, list[str]] = {}
    for smk in sorted((REPO / "rules").glob("*.smk")):
        for block in re.split(r"^(?=[ \t]*rule \w+:)", smk.read_text(), flags=re.M):
            name = RULE.match(block)
            if not name:
                continue
            section = re.search(r"^(\s*)output:\n(.*?)(?=^\1\w+:|\Z)", block, re.S | re.M)
            strings = re.findall(r'f?"([^"]*)"', section.group(2)) if section else []
            found[name.group(1)] = [s.replace("{{", "{").replace("}}", "}") for s in strings
                                    if s.startswith("results/")]
    return found


def _expand(spec: str) -> list[str]:
    """`a/{x,y}.csv` -> [a/x.csv, a/y.csv]; a `{name}` without a comma stays (a wildcard)."""
    parts = re.split(r"(\{[^{}]*,[^{}]*\})", spec)
    choices = [p[1:-1].split(",") if p.startswith("{") and "," in p else [p] for p in parts]
    return ["".join(c) for c in itertools.product(*choices)]


def header_layout() -> list[tuple[list[str], str]]:
    """[(paths, rule)] of the Snakefile header's layout lines `#   <path>[, <path> ...]   <rule> ...`; a path
    that does not start with results/ continues the directory of the previous one."""
    lines = []
    for line in REPO.joinpath("Snakefile").read_text().splitlines():
        if not line.startswith("#"):
            break
        m = re.match(r"#\s+(results/\S.*?)\s{2,}(\w+(?:<\w+>)?)", line)
        if not m:
            continue
        paths, base = [], ""
        for item in m.group(1).split(", "):
            item = item if item.startswith("results/") else base + item
            base = item.rstrip("/").rsplit("/", 1)[0] + "/"
            paths += _expand(item)
        lines.append((paths, m.group(2)))
    return lines


def _covers(spec: str, path: str) -> bool:
    """A header path covers an output: the same pattern, or a path in a header directory (a trailing /), where
    a header wildcard also stands for a config value written into the rule (data.images.sizes)."""
    regex = "".join(f"(?:{re.escape(part)}|[^/{{}}]+)" if part.startswith("{") else re.escape(part)
                    for part in re.split(r"(\{\w+\})", spec.rstrip("/")))
    if spec.endswith("/"):  # a directory: itself and everything in it
        regex += "(?:/.+)?"
    return re.fullmatch(regex, path) is not None


def test_every_rule_output_is_literal_and_listed_beside_its_rule_in_the_snakefile_header():
    outputs = rule_outputs()
    header = header_layout()
    assert len(outputs) >= 25 and len(header) >= 25
    for rule, paths in outputs.items():
        assert paths, f"rule {rule}: no literal results/... output in its output: section"
        mine = [spec for specs, name in header
                if re.fullmatch(re.sub(r"<\w+>", r"\\w+", name), rule) for spec in specs]
        assert mine, f"rule {rule} is not named in the Snakefile header's layout"
        for path in paths:
            assert any(_covers(spec, path) for spec in mine), f"rule {rule}: {path} is not in the Snakefile header"


def test_the_header_names_no_rule_that_does_not_exist():
    outputs = rule_outputs()
    for _, name in header_layout():
        pattern = re.sub(r"<\w+>", r"\\w+", name)
        assert any(re.fullmatch(pattern, rule) for rule in outputs), f"header names {name}, which is no rule"


def test_wildcard_constraints_and_imports_live_in_common_smk_only():
    for smk in sorted((REPO / "rules").glob("*.smk")):
        if smk.name != "common.smk":
            text = smk.read_text()
            assert "wildcard_constraints" not in text, smk.name
            assert not re.search(r"^\s*(?:from \S+ )?import ", text, re.M), f"{smk.name} imports; use common.smk"
    assert "wildcard_constraints" not in (REPO / "Snakefile").read_text()
    common = (REPO / "rules" / "common.smk").read_text()
    for wildcard in ("shard", "stage", "variant", "model", "imageset", "table", "release_table"):
        assert re.search(rf"^\s+{wildcard}=", common, re.M), wildcard


def test_the_header_covers_the_models_and_the_shard_format():
    text = REPO.joinpath("Snakefile").read_text()
    head = text[:text.index("from snakemake")]
    for word in ("results/train/", "results/model/", "results/ablation/", '"000"', "unix-256", "unix-512",
                 "ablation-<variant>", "release", "init"):
        assert word in head, word
