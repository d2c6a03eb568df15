"""Markdown table: default recipe vs plain recipe on the minority class, one row per training seed.

    python -m bench.recipe_table runs/f5_default:runs/f5_plain runs/f5_s1_default:runs/f5_s1_plain ...

Each argument pairs a default-recipe run with a plain-recipe run trained with the same seed (so the
same split). Read from each run's metrics.json (test split) and run.json. Besides F1 on the test
split as it is, F1 is also given at the training split's class mix: the test split's negatives are
weighted so that negatives : positives matches training (food5's own test split holds 1 rib in 5,
training 1 in 9, and F1 depends on that mix).
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

from seefood.scoring import rates_from_counts


def _load(run: Path) -> dict:
    return {name: json.loads((run / f"{name}.json").read_text()) for name in ("metrics", "config", "run")}


def f1_at_mix(confusion: list[list[int]], negative_weight: float) -> float:
    """Positive-class F1 from a binary confusion matrix [[tn, fp], [fn, tp]] with negatives weighted."""
    (_, fp), (fn, tp) = confusion
    return rates_from_counts(tp, fp * negative_weight, fn)[2]


def mix_weight(train_positive_share: float, test_negatives: int, test_positives: int) -> float:
    """Weight on test negatives that gives the test split the training split's class mix."""
    return ((1 - train_positive_share) / train_positive_share) / (test_negatives / test_positives)


def negative_weight(run: dict) -> float:
    train_pos = run["run"]["balance"]["raw_mix"][run["run"]["positive_class"]]
    confusion = run["metrics"]["splits"]["test"]["untuned"]["confusion_matrix"]
    return mix_weight(train_pos, sum(confusion[0]), sum(confusion[1]))


def measures(run: dict) -> dict:
    test = run["metrics"]["splits"]["test"]
    weight = negative_weight(run)
    out = {"pr_auc": test["ranking"]["pr_auc"], "threshold": run["run"]["threshold"]}
    for key, at in (("tuned", "at_threshold"), ("at_0.5", "untuned")):
        out[f"f1_{key}"] = test[at]["f1"]
        out[f"f1_{key}_mix"] = f1_at_mix(test[at]["confusion_matrix"], weight)
    return out


def table(pairs: list[tuple[Path, Path]]) -> str:
    header = ("seed", "PR-AUC default", "PR-AUC plain", "F1 default @tuned (threshold)", "F1 plain @0.5",
              "F1 default @0.5", "F1 plain @tuned", "at training mix: F1 default @tuned", "F1 plain @0.5")
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    rows = []
    for default_dir, plain_dir in pairs:
        default, plain = _load(default_dir), _load(plain_dir)
        d, p = measures(default), measures(plain)
        rows.append((d, p))
        lines.append(
            f"| {default['config']['seed']} | {d['pr_auc']:.3f} | {p['pr_auc']:.3f} | {d['f1_tuned']:.3f} ({d['threshold']:.2f}) "
            f"| {p['f1_at_0.5']:.3f} | {d['f1_at_0.5']:.3f} | {p['f1_tuned']:.3f} ({p['threshold']:.2f}) "
            f"| {d['f1_tuned_mix']:.3f} | {p['f1_at_0.5_mix']:.3f} |"
        )

    def mean(side: int, key: str) -> float:
        return sum(r[side][key] for r in rows) / len(rows)

    def wins(key_d: str, key_p: str) -> str:
        return f"{sum(r[0][key_d] > r[1][key_p] for r in rows)}/{len(rows)}"

    lines.append(
        f"| **mean** | **{mean(0, 'pr_auc'):.3f}** | **{mean(1, 'pr_auc'):.3f}** | **{mean(0, 'f1_tuned'):.3f}** | "
        f"**{mean(1, 'f1_at_0.5'):.3f}** | {mean(0, 'f1_at_0.5'):.3f} | {mean(1, 'f1_tuned'):.3f} | "
        f"**{mean(0, 'f1_tuned_mix'):.3f}** | **{mean(1, 'f1_at_0.5_mix'):.3f}** |"
    )
    def diff(key_d: str, key_p: str) -> str:
        values = [r[0][key_d] - r[1][key_p] for r in rows]
        mean_diff = sum(values) / len(values)
        spread = (sum((v - mean_diff) ** 2 for v in values) / max(1, len(values) - 1)) ** 0.5
        return f"{mean_diff:+.3f} ± {spread:.3f}"

    lines.append(
        f"| default − plain (mean ± sd over seeds) | {diff('pr_auc', 'pr_auc')} | | {diff('f1_tuned', 'f1_at_0.5')} | | "
        f"{diff('f1_at_0.5', 'f1_at_0.5')} | | {diff('f1_tuned_mix', 'f1_at_0.5_mix')} | |"
    )
    lines.append(
        f"| default better in | {wins('pr_auc', 'pr_auc')} | | {wins('f1_tuned', 'f1_at_0.5')} | | "
        f"{wins('f1_at_0.5', 'f1_at_0.5')} | | {wins('f1_tuned_mix', 'f1_at_0.5_mix')} | |"
    )
    return "\n".join(lines)


def _pair(arg: str) -> tuple[Path, Path]:
    default, sep, plain = arg.partition(":")
    if not sep:
        raise SystemExit(f"{arg!r}: expected DEFAULT_RUN:PLAIN_RUN")
    return Path(default), Path(plain)


if __name__ == "__main__":
    if len(sys.argv) < 2:
        raise SystemExit(__doc__)
    print(table([_pair(a) for a in sys.argv[1:]]))
