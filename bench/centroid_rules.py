"""The nearest-class-centroid decision against the default's, on saved long-tail runs (docs/quality.md,
"Nearest class centroid instead of the trained head").

    python -m bench.centroid_rules bench/quality-runs/runs/re/*-longtail-default-s?

Per run: the features (the input of the model's ``logits`` layer) of the training split's photos, un-augmented,
are centred on their mean and scaled to unit length (SimpleShot's CL2N); each class's centroid is the mean of its
photos' normalised features; each validation and test photo goes to the nearest centroid. The default's decision
(head start ``--tau``, head norm ``--head-norm``, as ``bench.tail_rules`` computes it) is scored on the same
models beside it. Prints the mean over runs per set and over sets; ``--json`` writes every run's numbers.
"""

from __future__ import annotations

import argparse
import statistics
import sys
from pathlib import Path

import numpy as np

from bench.tail_rules import set_of, decision_numbers, finished, head_features, print_rows, rows_for
from seefood.quiet import import_tensorflow
from training.run_io import load_run, load_scores


def normalise(features: np.ndarray, centre: np.ndarray) -> np.ndarray:
    shifted = features - centre[None, :]
    return shifted / np.maximum(np.linalg.norm(shifted, axis=1, keepdims=True), 1e-12)


def nearest_centroid(train_features: np.ndarray, train_labels: np.ndarray, k: int,
                     queries: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
    """Each query split's class by the nearest CL2N centroid of the training features."""
    centre = train_features.mean(axis=0)
    train = normalise(train_features, centre)
    centroids = np.stack([train[train_labels == c].mean(axis=0) for c in range(k)])
    out = {}
    for split, feats in queries.items():
        q = normalise(feats, centre)
        distances = ((q[:, None, :] - centroids[None, :, :]) ** 2).sum(axis=2)
        out[split] = np.argmin(distances, axis=1)
    return out


def rows_for_run(run_dir: Path, tau: float, head_norm: float) -> list[dict]:
    run = load_run(run_dir)
    k = len(run.classes)
    train_paths = [p for p, _ in run.splits["train"]]
    train_labels = np.asarray([t for _, t in run.splits["train"]])
    smallest = int(np.argmin(np.bincount(train_labels, minlength=k)))
    saved = load_scores(run_dir)
    everything = head_features(run.load_model(), run, train_paths + saved["val"][0] + saved["test"][0])
    n_train, n_val = len(train_paths), len(saved["val"][0])
    queries = {"val": everything[n_train:n_train + n_val], "test": everything[n_train + n_val:]}
    preds = nearest_centroid(everything[:n_train], train_labels, k, queries)
    centroid = {"run": run_dir.name, "rule": "centroid"}
    for split, pred in preds.items():
        centroid[split] = decision_numbers(pred, saved[split][1], k, smallest)
    (default,) = rows_for(run_dir, (tau,), (head_norm,))
    default["rule"] = "default"
    return [default, centroid]


def summary(rows: list[dict]) -> str:
    keys = ("smallest_recall", "macro_f1", "minority_f1", "accuracy")
    sets = sorted({set_of(r["run"]) for r in rows})
    lines = ["| rule | set | runs | " + " | ".join(f"test {k}" for k in keys) + " |",
             "|---|---|---|" + "---|" * len(keys)]
    for rule in ("default", "centroid"):
        mine = [r for r in rows if r["rule"] == rule]
        per_set = {s: [r for r in mine if set_of(r["run"]) == s] for s in sets}
        for s, group in per_set.items():
            cells = [f"{statistics.mean(r['test'][k] for r in group):.3f}" for k in keys]
            lines.append(f"| {rule} | {s} | {len(group)} | " + " | ".join(cells) + " |")
        means = [statistics.mean(statistics.mean(r["test"][k] for r in g) for g in per_set.values()) for k in keys]
        lines.append(f"| **{rule}** | **mean over sets** | {len(mine)} | "
                     + " | ".join(f"**{m:.3f}**" for m in means) + " |")
    by_run = {}
    for r in rows:
        by_run.setdefault(r["run"], {})[r["rule"]] = r["test"]
    for k in ("smallest_recall", "macro_f1"):
        diffs = [v["centroid"][k] - v["default"][k] for v in by_run.values()]
        lines.append(f"\n{k}: centroid higher on {sum(d > 0 for d in diffs)}, lower on {sum(d < 0 for d in diffs)}"
                     f" of {len(diffs)} runs")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("runs", nargs="+", type=Path)
    parser.add_argument("--tau", type=float, default=0.75, help="the default's head start (default 0.75)")
    parser.add_argument("--head-norm", type=float, default=0.75, help="the default's head norm (default 0.75)")
    parser.add_argument("--json", type=Path, help="write every run's numbers here")
    args = parser.parse_args(argv)
    runs = finished(args.runs)
    import_tensorflow()  # TensorFlow's start-up noise kept out of the table
    rows = [row for run in runs for row in rows_for_run(run, args.tau, args.head_norm)]
    return print_rows(rows, args.json, summary(rows))


if __name__ == "__main__":
    sys.exit(main())
