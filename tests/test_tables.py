"""The benchmark table: row order, paper numbers for strategies and variants, exact Markdown text."""

from __future__ import annotations

import json

from rich.console import Console

from poser_interp.tables import benchmark_rows, paper_number, rich_table, to_json, to_markdown


def _metrics(acc: float, lo: float, hi: float, auroc: float | None = 0.5, n: int = 4, **extra) -> dict:
    return {"accuracy": acc, "ci95": [lo, hi], "ci95_pairs": [0.1, 0.4], "auroc_unpaired": auroc, "n_pairs": n,
            "tpr_at_1pct_fpr": 0.02, "tpr_at_5pct_fpr": 0.125, "selection": {}} | extra


def test_markdown_of_two_rows_is_exact():
    rows = benchmark_rows({"noise": _metrics(0.75, 0.5, 1.0, auroc=0.8125),
                           "baseline": _metrics(0.25, 0.0, 0.5, auroc=None)})
    assert to_markdown(rows) == (
        "| strategy | pair accuracy | 95% CI (models) | 95% CI (pairs) | AUROC (models) | TPR @ 1% FPR | TPR @ 5% FPR "
        "| pairs | paper |\n"
        "|:---|---:|---:|---:|---:|---:|---:|---:|:---|\n"
        "| baseline | 25.0% | [0.0%, 50.0%] | [10.0%, 40.0%] | n/a | 2.0% | 12.5% | 4 "
        "| 64% (82.1% recomputed on released data) |\n"
        "| noise | 75.0% | [50.0%, 100.0%] | [10.0%, 40.0%] | 0.812 | 2.0% | 12.5% | 4 | 98% |\n"
    )


def test_rows_follow_paper_order_with_variants_and_paper_numbers():
    variants = {"subtracted": _metrics(0.5, 0.4, 0.6), "random": _metrics(0.5, 0.4, 0.6)}
    results = {
        "attention": _metrics(1.0, 1.0, 1.0, variants={"counterfactual": _metrics(0.9, 0.8, 1.0),
                                                       "saliency": _metrics(1.0, 1.0, 1.0)}),
        "my-new-method": _metrics(0.6, 0.5, 0.7),
        "steering": _metrics(1.0, 1.0, 1.0, variants=variants),
        "decision-speed": _metrics(0.9, 0.8, 1.0, variants={"probe": _metrics(0.2, 0.1, 0.3)}),
        "learning-speed": _metrics(0.8, 0.7, 0.9, variants={"full": _metrics(0.6, 0.5, 0.7)}),
        "concepts": _metrics(0.5, 0.4, 0.6, variants={"security": _metrics(0.2, 0.1, 0.3)}),
    }
    rows = benchmark_rows(results)
    got = [(r["name"], r["paper"]) for r in rows]
    assert got == [
        ("steering", "failed"), ("steering: subtracted", ""), ("steering: random", ""),
        ("learning-speed", "90% (LoRA)"), ("learning-speed: full", "63% (full fine-tuning)"),
        ("concepts", "71% (combined)"), ("concepts: security", ""),
        ("decision-speed", "47% (intro) / 37% (§3.5)"), ("decision-speed: probe", "47% (intro) / 37% (§3.5)"),
        ("attention", "46%"), ("attention: counterfactual", "37%"), ("attention: saliency", ""),
        ("my-new-method", ""),
    ]
    assert rows[4]["paper_accuracies"] == [0.63] and rows[4]["accuracy"] == 0.6 and rows[4]["variant"] == "full"
    assert paper_number("noise").accuracies == (0.98,)
    assert paper_number("baseline").accuracies == (0.64, 0.821)
    assert paper_number("concepts", "misaligned") is None


def test_json_and_rich_render_the_same_rows():
    rows = benchmark_rows({"noise": _metrics(0.75, 0.5, 1.0, auroc=0.8125, variants={"x": _metrics(0.5, 0.25, 0.75)})})
    back = json.loads(to_json(rows))
    assert back == rows and back[0]["ci95"] == [0.5, 1.0] and back[1]["strategy"] == "noise"
    console = Console(width=200, record=True)
    console.print(rich_table(rows))
    text = console.export_text()
    assert "75.0%" in text and "  noise: x" in text and "98%" in text


def test_run_results_and_missing_fields_are_accepted():
    class Run:
        metrics = {"accuracy": None, "n_pairs": None}

    rows = benchmark_rows({"train-against": Run()})
    assert rows[0]["name"] == "train-against" and rows[0]["ci95"] is None
    assert to_markdown(rows).splitlines()[-1] == (
        "| train-against | n/a | n/a | n/a | n/a | n/a | n/a | n/a | not measured (the paper gives P(aligned): 76% SFT, 86% SFT+noise) |")


def test_detect_table_shows_the_selection_and_both_intervals():
    from poser_interp.tables import run_table

    console = Console(width=250, record=True)
    console.print(run_table({"baseline": _metrics(0.25, 0.0, 0.5),
                             "noise": _metrics(0.75, 0.5, 1.0, selection={"coefficient": 32.0})}))
    text = console.export_text()
    assert "coefficient 32" in text and "[10.0%, 40.0%]" in text and "TPR @ 1% FPR" in text
    assert text.index("baseline") < text.index("noise")
