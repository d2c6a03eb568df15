"""Markdown table: default recipe vs plain recipe on the minority class, from two run folders.

    python -m bench.recipe_table runs/f5_default runs/f5_plain
"""

from __future__ import annotations

import json
import sys
from pathlib import Path


def row(name: str, run: Path, at: str) -> str:
    m = json.loads((run / "metrics.json").read_text())
    cfg = json.loads((run / "config.json").read_text())
    info = json.loads((run / "run.json").read_text())
    test = m["splits"]["test"]
    r = test[at]
    threshold = info["threshold"] if at == "at_threshold" else 0.5
    return (f"| {name} (`--balance {cfg['balance']} --augment {cfg['augment']}`) | {threshold:.2f} | {r['precision']:.3f} | "
            f"{r['recall']:.3f} | **{r['f1']:.3f}** | **{test['ranking']['pr_auc']:.3f}** | {r['accuracy']:.3f} | "
            f"{info['epochs_run']} / {info['train_seconds']:.0f} s |")


def table(default: Path, plain: Path) -> str:
    lazy = json.loads((default / "metrics.json").read_text())["splits"]["test"]["lazy_baseline"]
    lines = [
        "| recipe (test split) | threshold | precision | recall | F1 | PR-AUC | accuracy | epochs / time |",
        "|---|---|---|---|---|---|---|---|",
        row("default", default, "at_threshold"),
        row("default", default, "untuned"),
        row("plain", plain, "untuned"),
        f"| always '{lazy['always']}' | – | 0.000 | 0.000 | 0.000 | – | {lazy['accuracy']:.3f} | – |",
    ]
    return "\n".join(lines)


if __name__ == "__main__":
    print(table(Path(sys.argv[1]), Path(sys.argv[2])))
