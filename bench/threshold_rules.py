"""How well a threshold chosen on validation carries over to test: the single best-F1 peak of the
validation split, the bagged mean of bootstrap peaks, that mean pulled towards the run's balanced
point by k pseudo-positives (k = 10 is what `seefood train` uses, training/threshold.py), 0.5, and
with --threshold-folds runs the out-of-fold choice.

    python -m bench.threshold_rules [--cache DIR] runs/f5_default2 runs/f5_plain ...

For each binary run: the run's model scores its validation and test splits, both rules pick a
threshold on validation only, and the table gives test F1 at each (and at 0.5, and the best
possible on test, which no rule can know). Test F1 is also given at the training split's class
mix (negatives weighted as in bench/recipe_table.py), because F1 depends on the mix.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

import numpy as np

from bench.recipe_table import mix_weight
from seefood.scoring import rates_from_counts
from training.run_io import load_out_of_fold, load_run
from training.threshold import binary_curve, choose_threshold, shrink_towards

SHRINK_TRIALS = (5, 10, 20, 40)  # pseudo-positives behind the prior (training.threshold.PRIOR_STRENGTH is 10)


def f1_at(scores: np.ndarray, labels: np.ndarray, threshold: float, negative_weight: float = 1.0) -> float:
    """Positive-class F1 at ``threshold`` with test negatives weighted (bench.recipe_table.f1_at_mix)."""
    pred = scores >= threshold
    return rates_from_counts(float(np.sum(pred & labels)), negative_weight * float(np.sum(pred & ~labels)),
                             float(np.sum(~pred & labels)))[2]


def run_scores(run) -> dict[str, tuple[np.ndarray, np.ndarray]]:
    """{split: (scores, labels)} for val and test: the scores ``evaluate_run`` saved (scores.npz), or,
    for a run evaluated before that file existed, its model's scores computed here."""
    from training.pipeline import predict_scores
    from training.run_io import SCORES_FILE, load_scores

    if not run.binary:
        raise SystemExit(f"{run.run_dir}: a multi-class run; this compares binary thresholds")
    if (run.run_dir / SCORES_FILE).is_file():
        saved = load_scores(run.run_dir)
        return {split: (saved[split][2].reshape(-1), saved[split][1].astype(bool)) for split in ("val", "test")}
    model = run.load_model()
    out = {}
    for split in ("val", "test"):
        paths = [p for p, _ in run.splits[split]]
        labels = np.array([t for _, t in run.splits[split]]).astype(bool)
        out[split] = (predict_scores(model, paths, run.preprocessing.image_size, 64, True), labels)
    return out


def rows_for(run_dir: Path) -> dict:
    run = load_run(run_dir)
    scores = run_scores(run)
    (val_s, val_y), (test_s, test_y) = scores["val"], scores["test"]
    train_share = float(np.mean([t for _, t in run.splits["train"]]))
    weight = mix_weight(train_share, int(np.sum(~test_y)), int(np.sum(test_y)))
    peak = choose_threshold(val_s, val_y, "f1", bootstrap=0).threshold
    bagged = choose_threshold(val_s, val_y, "f1").threshold
    best = float(binary_curve(test_s, test_y)["f1"].max())
    prior = run.prior if run.prior is not None else 0.5  # the rule measured on any run, balanced or not
    shrunk = {f"f1_shrunk{k}": f1_at(test_s, test_y, shrink_towards(bagged, int(val_y.sum()), prior, k)[0])
              for k in SHRINK_TRIALS}
    pooled = load_out_of_fold(run_dir)
    if pooled is not None:  # --threshold-folds: the bagged rule on the out-of-fold scores of train+val
        oof = choose_threshold(pooled["scores"], pooled["labels"], "f1").threshold
        shrunk.update(oof=oof, f1_oof=f1_at(test_s, test_y, oof))
    return {
        **shrunk,
        "run": run_dir.name, "val_positives": int(val_y.sum()), "peak": peak, "bagged": bagged, "prior": prior,
        "f1_peak": f1_at(test_s, test_y, peak), "f1_bagged": f1_at(test_s, test_y, bagged),
        "f1_0.5": f1_at(test_s, test_y, 0.5), "f1_best": best,
        "mix_peak": f1_at(test_s, test_y, peak, weight), "mix_bagged": f1_at(test_s, test_y, bagged, weight),
        "median_positive_val": float(np.median(val_s[val_y])), "median_positive_test": float(np.median(test_s[test_y])),
    }


def table(rows: list[dict]) -> str:
    header = ("run", "val positives", "peak threshold", "bagged threshold", "test F1 @peak", "test F1 @bagged",
              "test F1 @0.5", "best test F1 (hindsight)", "at training mix: @peak", "@bagged")
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    for r in rows:
        lines.append(f"| {r['run']} | {r['val_positives']} | {r['peak']:.2f} | {r['bagged']:.2f} | {r['f1_peak']:.3f} | "
                     f"{r['f1_bagged']:.3f} | {r['f1_0.5']:.3f} | {r['f1_best']:.3f} | {r['mix_peak']:.3f} | {r['mix_bagged']:.3f} |")
    mean = {k: np.mean([r[k] for r in rows]) for k in ("f1_peak", "f1_bagged", "f1_0.5", "f1_best", "mix_peak", "mix_bagged")}
    better = sum(r["f1_bagged"] > r["f1_peak"] for r in rows)
    worse = sum(r["f1_bagged"] < r["f1_peak"] for r in rows)
    lines.append(f"| **mean of {len(rows)}** | | | | **{mean['f1_peak']:.3f}** | **{mean['f1_bagged']:.3f}** | {mean['f1_0.5']:.3f} | "
                 f"{mean['f1_best']:.3f} | **{mean['mix_peak']:.3f}** | **{mean['mix_bagged']:.3f}** |")
    lines.append(f"\nbagged better than peak on test in {better} runs, worse in {worse}, equal in {len(rows) - better - worse}")
    rules = ["f1_bagged", "f1_0.5"] + [f"f1_shrunk{k}" for k in SHRINK_TRIALS if f"f1_shrunk{k}" in rows[0]]
    rules += ["f1_oof"] if all("f1_oof" in r for r in rows) else []
    lines += ["", "Test F1 by rule over these runs (mean, sd, min, max):", "", "| rule | mean | sd | min | max |", "|---|---|---|---|---|"]
    for rule in rules:
        values = np.array([r[rule] for r in rows])
        name = {"f1_bagged": "bagged (validation only)", "f1_0.5": "0.5",
                "f1_oof": "bagged on out-of-fold scores (--threshold-folds)"}.get(rule, rule.replace("f1_shrunk", "bagged, shrunk towards the balanced point, k="))
        lines.append(f"| {name} | {values.mean():.3f} | {values.std(ddof=1) if len(values) > 1 else 0:.3f} | "
                     f"{values.min():.3f} | {values.max():.3f} |")
    shifts = [f"{r['run']} {r['median_positive_val']:.2f} -> {r['median_positive_test']:.2f}"
              for r in rows if "median_positive_val" in r]
    if shifts:
        lines.append("median score of the positive class, validation -> test: " + "; ".join(shifts))
    return "\n".join(lines)


def cached_rows_for(run_dir: Path, cache: Path | None) -> dict:
    """rows_for, remembered in ``cache`` (one JSON per run, keyed by the model file's hash)."""
    if cache is None:
        return rows_for(run_dir)
    from seefood.bundle import sha256_of

    path = cache / f"{sha256_of(run_dir / 'model.keras')[:16]}-{run_dir.name}-v5.json"
    if path.is_file():
        return json.loads(path.read_text())
    row = rows_for(run_dir)
    cache.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(row))
    return row


if __name__ == "__main__":
    args = sys.argv[1:]
    cache = None
    if args[:1] == ["--cache"]:
        cache, args = Path(args[1]), args[2:]
    if not args:
        raise SystemExit(__doc__)
    print(table([cached_rows_for(Path(arg), cache) for arg in args]))
