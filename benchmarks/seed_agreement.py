"""Do two zoos built with different seeds give the same detection numbers? (zoo v2 issue, "Seeds")

  python benchmarks/seed_agreement.py figures/results.json SEED1/results.json [--markdown]

reads two results tables (`poser-interp benchmark --out DIR` writes `DIR/results.json`) and, for every
row both hold, prints the two pair accuracies with their model-level 95% intervals and whether they
agree under two readings: `inside`, each seed's accuracy lies inside the other seed's interval (strict:
a degenerate [100%, 100%] interval admits nothing else), and `overlap`, the two intervals share a
point. Rows only one table holds are listed at the end.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path


def load_rows(path: Path) -> dict[str, dict]:
    """`{row name: row}` from a results.json (a list of rows with `name`, `accuracy`, `ci95`)."""
    rows = json.loads(path.read_text())
    return {r["name"]: r for r in rows}


def agree(a: dict, b: dict) -> bool:
    """Each accuracy inside the other's model-level 95% interval."""
    return a["ci95"][0] <= b["accuracy"] <= a["ci95"][1] and b["ci95"][0] <= a["accuracy"] <= b["ci95"][1]


def overlap(a: dict, b: dict) -> bool:
    """The two model-level 95% intervals share a point."""
    return a["ci95"][0] <= b["ci95"][1] and b["ci95"][0] <= a["ci95"][1]


def fmt(row: dict) -> str:
    lo, hi = row["ci95"]
    return f"{row['accuracy']:.1%} [{lo:.0%}, {hi:.0%}]"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("first", type=Path)
    parser.add_argument("second", type=Path)
    parser.add_argument("--markdown", action="store_true", help="print a Markdown table")
    args = parser.parse_args()
    first, second = load_rows(args.first), load_rows(args.second)
    both = [name for name in first if name in second]
    lines = [("row", str(args.first), str(args.second), "inside", "overlap")]
    lines += [(name, fmt(first[name]), fmt(second[name]), "yes" if agree(first[name], second[name]) else "NO",
               "yes" if overlap(first[name], second[name]) else "NO") for name in both]
    if args.markdown:
        print("| " + " | ".join(lines[0]) + " |\n|:---|---:|---:|:---|:---|")
        print("\n".join("| " + " | ".join(line) + " |" for line in lines[1:]))
    else:
        width = max(len(line[0]) for line in lines)
        print("\n".join(f"{line[0]:<{width}}  {line[1]:>22}  {line[2]:>22}  {line[3]:<7} {line[4]}" for line in lines))
    for reading, test in (("inside", agree), ("overlap", overlap)):
        disagree = [name for name in both if not test(first[name], second[name])]
        print(f"\n{reading}: {len(both) - len(disagree)} of {len(both)} rows agree; disagree: {', '.join(disagree) or 'none'}")
    only = sorted(set(first) ^ set(second))
    if only:
        print(f"in one table only: {', '.join(only)}")


if __name__ == "__main__":
    main()
