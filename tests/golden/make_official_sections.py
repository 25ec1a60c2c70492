"""Write official_sections.json: the official MIMIC-CXR section parser's output on tests/report_section_cases.py.

The official parser is not part of this project; run it from a checkout of github.com/MIT-LCP/mimic-cxr:

    git clone https://github.com/MIT-LCP/mimic-cxr /tmp/mimic-cxr
    python tests/golden/make_official_sections.py --official /tmp/mimic-cxr/txt

For each case: the sha256 of its text, upstream's section names (`section_text`), and the text of the LAST
section of each name, stripped, as `create_section_files.py` takes them.
"""

from __future__ import annotations

import argparse
import hashlib
import importlib
import json
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent))

from report_section_cases import CASES  # noqa: E402


def official_sections(section_text, text: str) -> dict:
    """What upstream makes of one report text."""
    sections, names, _ = section_text(text)
    last = {}
    for body, name in zip(sections, names):
        last[name] = body.strip()
    return {"section_names": names, "sections": last}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--official", type=Path, required=True, help="the txt/ directory of MIT-LCP/mimic-cxr")
    ap.add_argument("--out", type=Path, default=HERE / "official_sections.json")
    args = ap.parse_args()
    sys.path.insert(0, str(args.official))
    section_text = importlib.import_module("section_parser").section_text
    out = {}
    for case, (text, *_rest) in CASES.items():
        out[case] = {"sha256": hashlib.sha256(text.encode()).hexdigest(), **official_sections(section_text, text)}
    args.out.write_text(json.dumps(out, indent=1, sort_keys=True) + "\n")
    print(f"wrote {len(out)} cases to {args.out}")


if __name__ == "__main__":
    main()
