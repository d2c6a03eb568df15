"""Mirrored test-time averaging, measured on finished runs without retraining: each run's model scores its
validation and test photos as they are and mirrored left-right, and the two score vectors are averaged
(docs/quality.md, "Mirrored test-time averaging").

    python -m bench.tta_rules bench/quality-runs/runs/re/*-longtail-default-s?

Multi-class runs answer by argmax (the head start is inside the model); a binary run's threshold is chosen again
on the averaged validation scores by the run's own objective and balanced point, exactly as ``seefood train``
chooses it. The photo-alone row is scored afresh the same way and must match the run's saved scores (a run
whose model does not reproduce them is refused). Prints, per set and as the mean over sets, the test split's
numbers with and without the mirror, and on how many runs the mirror is higher; ``--json`` writes every run's.
"""

from __future__ import annotations

import argparse
import statistics
import sys
from pathlib import Path

import numpy as np

from bench.tail_rules import finished, print_rows, set_of
from seefood import decoded_cache
from seefood.quiet import import_tensorflow
from seefood.scoring import confusion, per_class_rates
from training.metrics import classification_metrics, ranking_metrics
from training.run_io import load_run, load_scores
from training.threshold import choose_threshold

BATCH = 64
SAVED_TOLERANCE = 1e-3  # float32 scores of the same model on the same pixels


def _pixels(paths: list[str], image_size: int) -> np.ndarray:
    return np.stack([decoded_cache.fitted(p, image_size) for p in paths])


def _scores(model, pixels: np.ndarray, binary: bool) -> np.ndarray:
    out = model.predict(pixels, batch_size=BATCH, verbose=0)
    return out.reshape(-1) if binary else out


def _multiclass(scores: np.ndarray, labels: np.ndarray, classes: list[str], smallest: int) -> dict:
    pred = np.argmax(scores, axis=1)
    rates = per_class_rates(confusion(pred, labels, len(classes)))
    return {
        "smallest_recall": float(rates["recall"][smallest]),
        "smallest_f1": float(rates["f1"][smallest]),
        "macro_f1": float(np.mean(rates["f1"])),
        "pr_auc": float(ranking_metrics(scores, labels, classes)["pr_auc"]),
        "accuracy": float(np.mean(pred == labels)),
    }


def _binary(run, val: tuple, test: tuple) -> dict:
    (val_scores, val_labels), (test_scores, test_labels) = val, test
    choice = choose_threshold(val_scores, val_labels, run.threshold_objective, prior=run.prior)
    at = classification_metrics(test_scores, test_labels, choice.threshold, run.classes)
    return {"threshold": float(choice.threshold), "f1": float(at["f1"]),
            "pr_auc": float(ranking_metrics(test_scores, test_labels, run.classes)["pr_auc"])}


def rows_for(run_dir: Path) -> dict:
    run = load_run(run_dir)
    saved = load_scores(run_dir)
    model = run.load_model()
    size = run.preprocessing.image_size
    k = len(run.classes)
    counts = np.bincount([t for _, t in run.splits["train"]], minlength=k)
    smallest = int(np.argmin(counts))
    scored: dict[str, dict[str, tuple[np.ndarray, np.ndarray]]] = {"alone": {}, "mirror": {}}
    for split in ("val", "test"):
        paths, labels, saved_scores = saved[split]
        labels = labels.astype(int)
        pixels = _pixels(paths, size)
        alone = _scores(model, pixels, run.binary)
        drift = float(np.max(np.abs(alone - saved_scores))) if len(paths) else 0.0
        if drift > SAVED_TOLERANCE:
            raise SystemExit(f"{run_dir}: the model's {split} scores differ from scores.npz by up to {drift:.4f}; "
                             "run `seefood evaluate` on it first")
        mirrored = _scores(model, pixels[:, :, ::-1, :], run.binary)
        scored["alone"][split] = (alone, labels)
        scored["mirror"][split] = ((alone + mirrored) / 2.0, labels)
    row = {"run": run_dir.name, "binary": run.binary}
    for name, by_split in scored.items():
        if run.binary:
            row[name] = _binary(run, by_split["val"], by_split["test"])
        else:
            row[name] = _multiclass(*by_split["test"], run.classes, smallest)
    if run.binary:
        row["recorded_threshold"] = run.threshold
    return row


def summary(rows: list[dict]) -> str:
    keys = ("f1", "pr_auc") if rows[0]["binary"] else ("smallest_recall", "smallest_f1", "macro_f1", "pr_auc", "accuracy")
    sets = sorted({set_of(r["run"]) for r in rows})
    head = " | ".join(f"{k}: alone | mirror | higher" for k in keys)
    lines = [f"| set | runs | {head} |", "|---|---|" + "---|---|---|" * len(keys)]

    def stats(group: list[dict]) -> dict[str, tuple[float, float, int]]:
        """Per key: (mean photo alone, mean with the mirror, runs where the mirror is higher)."""
        return {k: (statistics.mean(r["alone"][k] for r in group), statistics.mean(r["mirror"][k] for r in group),
                    sum(r["mirror"][k] > r["alone"][k] for r in group)) for k in keys}

    def line(label: str, runs: int, values: dict[str, tuple[float, float, int]], fmt: str = "{:.3f}") -> str:
        cells = [f"{fmt.format(alone)} | {fmt.format(mirror)} | {higher} of {runs}" for alone, mirror, higher in values.values()]
        return f"| {label} | {runs} | " + " | ".join(cells) + " |"

    per_set = {s: stats([r for r in rows if set_of(r["run"]) == s]) for s in sets}
    for s, values in per_set.items():
        lines.append(line(s, sum(set_of(r["run"]) == s for r in rows), values))
    # the mean over sets: each set's mean first, so a set with more runs does not weigh more
    overall = {k: (statistics.mean(v[k][0] for v in per_set.values()), statistics.mean(v[k][1] for v in per_set.values()),
                   sum(v[k][2] for v in per_set.values())) for k in keys}
    lines.append(line("**mean over sets**", len(rows), overall, "**{:.3f}**"))
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("runs", nargs="+", type=Path)
    parser.add_argument("--json", type=Path, help="write every run's numbers here")
    args = parser.parse_args(argv)
    runs = finished(args.runs)
    import_tensorflow()  # TensorFlow's start-up noise kept out of the table
    rows = [rows_for(run) for run in runs]
    if len({r["binary"] for r in rows}) > 1:
        print("error: binary and multi-class runs given together; give one kind at a time", file=sys.stderr)
        return 2
    return print_rows(rows, args.json, summary(rows))


if __name__ == "__main__":
    sys.exit(main())
