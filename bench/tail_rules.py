"""How a multi-class decision rule carries over to test: each run's saved validation and test scores
(scores.npz), answered by argmax after adding ``tau * log(n_largest / n_class)`` to each class's logit
(``training.balance.tail_offsets``: a class with fewer training photos gets a head start), for several tau.

    python -m bench.tail_rules [--tau 0 0.25 0.5 ...] bench/quality-runs/runs/base/*-longtail-default-s*

A run trained with a non-zero ``tail_adjust`` already carries its offsets in the model; they are taken
out of its scores first (log p - offsets), so every tau is measured from the same unadjusted model.
Prints, per tau, the mean over runs of the test split's smallest-class recall, macro-F1, minority F1
and accuracy, and the same per data set; ``--json`` writes every run's numbers.

``--head-norm 0 1`` also divides each class's weights in the model's ``logits`` layer by their norm to
that power before deciding (Kang et al. 2020's tau-normalisation; 0 leaves the head as trained). That
needs the features, so each run's model is loaded and its validation and test photos are run through it
(read from the decoded-photo cache); the trained head start is taken out of the bias first, as above, and a
run trained with ``--head-norm`` has its trained lengths put back first, so every exponent starts from the head as
trained.
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
from pathlib import Path

import numpy as np

from seefood.scoring import confusion, per_class_rates
from training.balance import tail_offsets
from training.run_io import load_run, load_scores

TAUS = (0.0, 0.25, 0.5, 0.75, 1.0)


def decide(log_scores: np.ndarray, offsets: np.ndarray) -> np.ndarray:
    return np.argmax(log_scores + offsets[None, :], axis=1)


def head_features(model, run, paths: list[str]) -> np.ndarray:
    """What the model's ``logits`` layer reads for each photo (fitted as the run was, from the decoded-photo cache)."""
    import keras

    from seefood import decoded_cache

    size = run.preprocessing.image_size
    features = keras.Model(model.inputs, model.get_layer("logits").input)
    return features.predict(np.stack([decoded_cache.fitted(path, size) for path in paths]), batch_size=64, verbose=0)


def head_logits(run, saved: dict, trained_with: np.ndarray, exponents) -> dict[float, dict[str, np.ndarray]]:
    """Per exponent, each split's logits with every class's weight column divided by its norm ** exponent and
    the trained head start taken out of the bias, from the run's model and its saved photo order. The
    features do not depend on the exponent, so the photos go through the model once."""
    from training.fitting import apply_head_norm, undo_head_norm

    model = run.load_model()
    undo_head_norm(model, run.classes, run.raw.get("head_norm"))  # a run trained normalised: back to as trained
    head = model.get_layer("logits")
    trained = head.get_weights()
    feats = {split: head_features(model, run, saved[split][0]) for split in ("val", "test")}
    out = {}
    for exponent in exponents:
        head.set_weights(trained)
        apply_head_norm(model, run.classes, exponent)  # what `seefood train --head-norm` does to the saved model
        kernel, bias = head.get_weights()
        out[exponent] = {split: f @ kernel + (bias - trained_with)[None, :] for split, f in feats.items()}
    return out


def rows_for(run_dir: Path, taus: tuple[float, ...], head_norms: tuple[float, ...] = (0.0,)) -> list[dict]:
    run = load_run(run_dir)
    if run.binary:
        raise SystemExit(f"{run_dir}: a binary run; this compares multi-class decisions")
    k = len(run.classes)
    counts = np.bincount([t for _, t in run.splits["train"]], minlength=k)
    smallest = int(np.argmin(counts))
    saved = load_scores(run_dir)
    recorded = (run.raw.get("tail_adjust") or {}).get("offsets") or {}
    trained_with = np.asarray([float(recorded.get(c, 0.0)) for c in run.classes])
    trained_norm = (run.raw.get("head_norm") or {}).get("exponent") or 0.0
    # the saved scores are the head as saved: any other exponent (0 too, for a run trained normalised) needs the model
    others = [g for g in head_norms if g != trained_norm]
    normalised = head_logits(run, saved, trained_with, others) if others else {}
    rows = []
    for exponent, tau in ((g, t) for g in head_norms for t in taus):
        offsets = np.asarray(tail_offsets(counts.tolist(), tau))
        row = {"run": run_dir.name, "tau": tau, "head_norm": exponent}
        for split in ("val", "test"):
            _, labels, scores = saved[split]
            log_scores = (normalised[exponent][split] if exponent in normalised
                          else np.log(np.clip(scores, 1e-12, 1.0)) - trained_with[None, :])
            row[split] = decision_numbers(decide(log_scores, offsets), labels, k, smallest)
        rows.append(row)
    return rows


def decision_numbers(pred: np.ndarray, labels: np.ndarray, k: int, smallest: int) -> dict[str, float]:
    """One split's numbers for a decision: the smallest class's recall and F1, macro-F1, accuracy."""
    rates = per_class_rates(confusion(pred, labels.astype(int), k))
    return {
        "smallest_recall": float(rates["recall"][smallest]),
        "minority_f1": float(rates["f1"][smallest]),
        "macro_f1": float(np.mean(rates["f1"])),
        "accuracy": float(np.mean(pred == labels)),
        "share_predicted_smallest": float(np.mean(pred == smallest)),
    }


def set_of(run_name: str) -> str:
    return run_name.split("-", 1)[0]


def _rule(row: dict) -> tuple[float, float]:
    return row.get("head_norm", 0.0), row["tau"]


def summary(rows: list[dict], rules: list[tuple[float, float]]) -> str:
    keys = ("smallest_recall", "minority_f1", "macro_f1", "accuracy")
    sets = sorted({set_of(r["run"]) for r in rows})
    lines = ["| tau (head norm) | set | runs | " + " | ".join(f"test {k}" for k in keys) + " | val smallest_recall |",
             "|---|---|---|" + "---|" * (len(keys) + 1)]
    for rule in rules:
        name = f"{rule[1]:g}" + (f" ({rule[0]:g})" if rule[0] else "")
        for group in (*sets, "mean over sets"):
            if group == "mean over sets":
                per_set = [[statistics.mean(r["test"][k] for r in rows if _rule(r) == rule and set_of(r["run"]) == s)
                            for s in sets] for k in keys]
                cells = [f"{statistics.mean(v):.3f}" for v in per_set]
                val = statistics.mean(statistics.mean(r["val"]["smallest_recall"] for r in rows
                                                      if _rule(r) == rule and set_of(r["run"]) == s) for s in sets)
                n = sum(1 for r in rows if _rule(r) == rule)
                lines.append(f"| **{name}** | **mean over sets** | {n} | " + " | ".join(f"**{c}**" for c in cells)
                             + f" | {val:.3f} |")
                continue
            mine = [r for r in rows if _rule(r) == rule and set_of(r["run"]) == group]
            cells = []
            for k in keys:
                values = [r["test"][k] for r in mine]
                spread = f" [{min(values):.2f}-{max(values):.2f}]" if len(values) > 1 else ""
                cells.append(f"{statistics.mean(values):.3f}{spread}")
            val = statistics.mean(r["val"]["smallest_recall"] for r in mine)
            lines.append(f"| {name} | {group} | {len(mine)} | " + " | ".join(cells) + f" | {val:.3f} |")
    return "\n".join(lines)


def finished(runs: list[Path]) -> list[Path]:
    """The folders given that hold a finished run; none is an error (exit status 2)."""
    done = [run for run in runs if (run / "run.json").is_file()]
    if not done:
        print("error: no finished run among the folders given", file=sys.stderr)
        raise SystemExit(2)
    return done


def print_rows(rows: list, json_path: Path | None, table: str) -> int:
    """Every run's numbers to ``json_path`` (when given), the table to the terminal."""
    if json_path:
        json_path.write_text(json.dumps(rows, indent=1), encoding="utf-8")
    print(table)
    return 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("runs", nargs="+", type=Path)
    parser.add_argument("--tau", nargs="+", type=float, default=list(TAUS))
    parser.add_argument("--head-norm", nargs="+", type=float, default=[0.0],
                        help="exponents of the weight normalisation (0: the head as trained; loads each model)")
    parser.add_argument("--json", type=Path, help="write every run's numbers here")
    args = parser.parse_args(argv)
    taus, head_norms = tuple(args.tau), tuple(args.head_norm)
    runs = finished(args.runs)
    rows = [row for run in runs for row in rows_for(run, taus, head_norms)]
    return print_rows(rows, args.json, summary(rows, [(g, t) for g in head_norms for t in taus]))


if __name__ == "__main__":
    sys.exit(main())
