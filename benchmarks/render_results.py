"""Put the case study's tables into docs/results.md, from the summaries the run wrote.

    python benchmarks/render_results.py      # after bash benchmarks/case_study.sh

docs/results.md marks each table with an HTML comment, `<!-- table: FAMILY OBJECTIVE -->`,
followed by the table; this script replaces each marked table with the one for that family
and objective in docs/figures/FAMILY-summary.md (written by `mecopt bench`), so the page
cannot drift from the run.
"""

from __future__ import annotations

import re
from pathlib import Path

DOCS = Path(__file__).resolve().parents[1] / "docs"
MARK = re.compile(r"<!-- table: (\w+) (\w+) -->\n(?:\|.*\n)*")


def summary_table(family: str, objective: str) -> str:
    """The markdown table under `## OBJECTIVE:` in docs/figures/FAMILY-summary.md."""
    lines = (DOCS / "figures" / f"{family}-summary.md").read_text().splitlines()
    start = next(k for k, line in enumerate(lines) if line.startswith(f"## {objective}:"))
    table = []
    for line in lines[start + 1:]:
        if line.startswith("|"):
            table.append(line)
        elif table:
            break
    return "\n".join(table) + "\n"


def main() -> None:
    page = DOCS / "results.md"
    text = page.read_text()
    new, count = MARK.subn(lambda m: f"<!-- table: {m[1]} {m[2]} -->\n"
                          + summary_table(m[1], m[2]), text)
    page.write_text(new)
    print(f"{page}: {count} tables rendered")


if __name__ == "__main__":
    main()
