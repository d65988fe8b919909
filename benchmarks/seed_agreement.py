"""Do zoos built with different seeds give the same detection numbers? (zoo v2 issue, "Seeds")

  python benchmarks/seed_agreement.py figures/results.json SEED1/results.json [SEED2/results.json ...] [--markdown]

reads two or more results tables (`poser-interp benchmark --out DIR` writes `DIR/results.json`) and, for
every row they all hold, prints the pair accuracies with their model-level 95% intervals and whether
every two seeds agree under two readings: `inside`, each seed's accuracy lies inside the other seed's
interval (strict: a degenerate [100%, 100%] interval admits nothing else), and `overlap`, the two
intervals share a point. Rows only some tables hold are listed at the end.
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


def every_pair(test, rows: list[dict]) -> bool:
    """`test` holds for every two of `rows`."""
    return all(test(a, b) for i, a in enumerate(rows) for b in rows[i + 1:])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("tables", type=Path, nargs="+", help="two or more results.json files")
    parser.add_argument("--markdown", action="store_true", help="print a Markdown table")
    args = parser.parse_args()
    if len(args.tables) < 2:
        parser.error("give at least two results tables")
    tables = [load_rows(path) for path in args.tables]
    common = [name for name in tables[0] if all(name in t for t in tables[1:])]
    lines = [("row", *map(str, args.tables), "inside", "overlap")]
    lines += [(name, *(fmt(t[name]) for t in tables),
               "yes" if every_pair(agree, [t[name] for t in tables]) else "NO",
               "yes" if every_pair(overlap, [t[name] for t in tables]) else "NO") for name in common]
    if args.markdown:
        print("| " + " | ".join(lines[0]) + " |\n|:---|" + "---:|" * len(tables) + ":---|:---|")
        print("\n".join("| " + " | ".join(line) + " |" for line in lines[1:]))
    else:
        width = max(len(line[0]) for line in lines)
        print("\n".join(f"{line[0]:<{width}}  " + "  ".join(f"{cell:>22}" for cell in line[1:-2])
                        + f"  {line[-2]:<7} {line[-1]}" for line in lines))
    for reading, test in (("inside", agree), ("overlap", overlap)):
        disagree = [name for name in common if not every_pair(test, [t[name] for t in tables])]
        print(f"\n{reading}: {len(common) - len(disagree)} of {len(common)} rows agree (every two tables); "
              f"disagree: {', '.join(disagree) or 'none'}")
    only = sorted(set().union(*tables) - set(common))
    if only:
        print(f"in some tables only: {', '.join(only)}")


if __name__ == "__main__":
    main()
