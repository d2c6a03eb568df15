"""``seefood evaluate``: metrics at the chosen threshold and at 0.5, beside the lazy baseline,
per class, with plots; writes RUN_DIR/metrics.json and RUN_DIR/report.md."""

from __future__ import annotations

import csv
from pathlib import Path

import numpy as np

from seefood.errors import InputError
from training import metrics as M
from training.report import write_report
from training.run_io import RunInfo, load_out_of_fold, save_scores, write_json_atomic
from training.threshold import (
    choose_multiclass_threshold,
    choose_threshold,
    describe_uncertainty,
    multiclass_validation_curve,
    sweep_table,
    validation_curve,
)

EVAL_BATCH = 64


def choose_and_record_threshold(model, val_items: list[tuple[str, int]], binary: bool, objective: str,
                                image_size: int, pooled: dict | None = None, prior: float | None = None) -> dict:
    """Threshold from the validation split (never test), or, for a binary run with ``pooled``
    out-of-fold scores of train+val (``--threshold-folds``), from those: the validation split's
    own choice is then printed beside it and recorded as ``chosen_on.validation_only``.
    ``prior``: the binary model's balanced point (``training.threshold.balanced_point``) that an
    ``f1`` threshold chosen on few positives is pulled towards."""
    from training.pipeline import predict_scores

    paths = [path for path, _ in val_items]
    labels = np.array([target for _, target in val_items])
    scores = predict_scores(model, paths, image_size, EVAL_BATCH, binary)
    chosen_on: dict = {"scores": "validation", "photos": len(labels)}
    if binary:
        positives = int(np.sum(labels == 1))
        chosen_on["positives"] = positives
        if pooled is not None:
            alone = choose_threshold(scores, labels, objective, prior=prior)
            scores, labels = pooled["scores"], pooled["labels"]
            chosen_on = {"scores": "out_of_fold", "folds": pooled["folds"], "photos": len(labels),
                         "positives": int(np.sum(labels == 1)), "validation_only": alone.threshold,
                         "validation_positives": positives}
        choice = choose_threshold(scores, labels, objective, prior=prior)
        curve = validation_curve(scores, labels)
    else:
        choice = choose_multiclass_threshold(scores, labels, objective)
        curve = multiclass_validation_curve(scores, labels)
    coverage = f", answers {choice.coverage:.1%} of photos" if choice.coverage is not None else ""
    where = "on validation"
    if chosen_on["scores"] == "out_of_fold":
        where = (f"on out-of-fold scores of {chosen_on['photos']} train+val photos ({chosen_on['positives']} positive, "
                 f"{chosen_on['folds']} models)")
    print(
        f"Threshold {choice.threshold:.3f} chosen {where} for {choice.objective}: precision {choice.precision:.3f}, "
        f"recall {choice.recall:.3f}, F1 {choice.f1:.3f}{coverage}" + (f" ({choice.note})" if choice.note else ""),
        flush=True,
    )
    if chosen_on["scores"] == "out_of_fold":
        print(f"  the validation split alone ({chosen_on['validation_positives']} positive photos) would have chosen "
              f"{chosen_on['validation_only']:.3f}", flush=True)
    uncertainty = describe_uncertainty(choice.to_dict())
    if uncertainty:
        print(f"  {uncertainty}", flush=True)
        low, high = choice.spread
        if high - low > 0.2:
            positives = int(np.sum(labels == 1))
            print(f"  ! the threshold is uncertain: it was chosen on {positives} photos of the positive class; "
                  "more photos of it make this choice steadier", flush=True)
    return {"threshold": choice.threshold, "choice": choice.to_dict(), "curve": curve, "chosen_on": chosen_on}


def retune_run(run: RunInfo, objective: str, model=None) -> RunInfo:
    """Choose ``run``'s threshold again on its validation split for ``objective`` (a product
    decision that needs no retraining) and record it in run.json; returns the updated run."""
    from training.run_io import RUN_FILE, load_run
    from training.threshold import parse_objective

    parse_objective(objective)  # a bad objective fails before any work
    if not run.splits.get("val"):
        raise InputError(f"{run.run_dir}: splits.json has no validation photos to choose a threshold on")
    model = model or run.load_model()
    pooled = load_out_of_fold(run.run_dir) if run.binary else None
    info = choose_and_record_threshold(model, run.splits["val"], run.binary, objective, run.preprocessing.image_size,
                                       pooled, run.prior)
    raw = dict(run.raw, threshold=info["threshold"], threshold_objective=objective,
               threshold_choice=info["choice"], validation_curve=info["curve"], threshold_chosen_on=info["chosen_on"])
    write_json_atomic(run.run_dir / RUN_FILE, raw)
    print(f"run.json updated: threshold {run.threshold:.3f} -> {info['threshold']:.3f}; bundles exported "
          "earlier keep the threshold they were exported with (export again to ship this one)", flush=True)
    return load_run(run.run_dir)


def read_history(run_dir: Path) -> dict[str, list[float]]:
    path = Path(run_dir) / "history.csv"
    if not path.is_file():
        return {}
    history: dict[str, list[float]] = {}
    with open(path, newline="", encoding="utf-8") as handle:
        for row in csv.DictReader(handle):
            for key, value in row.items():
                if key != "epoch" and value not in ("", None):
                    history.setdefault(key, []).append(float(value))
    return history


def _split_from_folder(run: RunInfo, data_dir: Path) -> list[tuple[str, int]]:
    from training.dataset import discover

    inv = discover(data_dir, val_fraction=0.0, test_fraction=1.0, image_size=run.preprocessing.image_size)
    unknown = sorted(set(inv.folder_classes) - set(run.class_map))
    if unknown:
        raise InputError(f"{data_dir}: class folder(s) {unknown} were not in training ({sorted(run.class_map)})")
    return [(e.path, run.class_map[e.folder_class]) for e in inv.examples]


def evaluate_split(run: RunInfo, scores: np.ndarray, labels: np.ndarray) -> dict:
    binary = run.binary
    result = {
        "at_threshold": M.classification_metrics(scores, labels, run.threshold, run.classes),
        # what the model says without a tuned threshold: 0.5 for binary, the top class (no
        # "unknown") for multi-class; its "threshold" field says which
        "untuned": M.classification_metrics(scores, labels, 0.5 if binary else 0.0, run.classes),
        "ranking": M.ranking_metrics(scores, labels, run.classes),
        "lazy_baseline": M.lazy_baseline(labels, run.classes),
        "sweep": sweep_table(scores, labels, binary=binary),
    }
    result["most_confused"] = M.most_confused(result["at_threshold"]["confusion_matrix"], run.classes)
    return result


def evaluate_run(run: RunInfo, model=None, history=None, data_dir: Path | None = None) -> dict:
    from training.pipeline import predict_scores

    model = model or run.load_model()
    size = run.preprocessing.image_size
    split_items = {"val": run.splits.get("val", []), "test": run.splits.get("test", [])}
    if data_dir is not None:
        split_items = {"val": run.splits.get("val", []), "test": _split_from_folder(run, Path(data_dir))}
    results, raw = {}, {}
    for name, items in split_items.items():
        if not items:
            continue
        paths = [p for p, _ in items]
        labels = np.array([t for _, t in items])
        scores = predict_scores(model, paths, size, EVAL_BATCH, run.binary)
        results[name] = evaluate_split(run, scores, labels)
        raw[name] = (paths, labels, scores)
    history = history if history is not None else read_history(run.run_dir)
    overfit = M.overfitting_check(history, run.raw.get("kept_weights"))
    warnings = []
    if "val" in raw:
        from training.guard import tiny_class_warnings

        counts = np.bincount([t for split in ("train", "val") for _, t in run.splits.get(split, [])],
                             minlength=len(run.classes))
        _, val_labels, val_scores = raw["val"]
        warnings = tiny_class_warnings(val_scores, val_labels, run.classes, run.binary,
                                       {c: int(n) for c, n in zip(run.classes, counts)})
    save_scores(run.run_dir, raw)
    agreement = threshold_agreement(run, results, raw)
    metrics = {
        "run_id": run.run_id,
        "task": run.task,
        "classes": run.classes,
        "positive_class": run.positive_class,
        "threshold": {"value": run.threshold, "objective": run.threshold_objective,
                      "chosen_on": run.raw.get("threshold_chosen_on") or {"scores": "validation"},
                      **({"validation_vs_test": agreement} if agreement else {})},
        "splits": results,
        "overfitting": overfit,
        "kept_weights": run.raw.get("kept_weights"),
        "warnings": warnings,
    }
    write_json_atomic(run.run_dir / "metrics.json", metrics)
    write_report(run, metrics, raw, history)
    print(summary_text(run, metrics), flush=True)
    for warning in warnings:
        print(f"\n  !!! WARNING: {warning['message']}", flush=True)
    print(f"Report: {run.run_dir / 'report.md'}  metrics: {run.run_dir / 'metrics.json'}", flush=True)
    return metrics


def threshold_agreement(run: RunInfo, results: dict, raw: dict) -> dict | None:
    """How far validation and test disagree about the threshold (binary): F1 at the chosen threshold
    on each (from ``results``, the splits' metrics), and the threshold the test split itself would
    have picked (from its scores in ``raw``). Reported, never used."""
    if not run.binary or "val" not in raw or "test" not in raw:
        return None
    from training.threshold import binary_curve

    if any(labels.sum() in (0, len(labels)) for _, labels, _ in (raw["val"], raw["test"])):
        return None
    out = {f"{name}_f1": results[name]["at_threshold"]["f1"] for name in ("val", "test")}
    _, labels, scores = raw["test"]
    curve = binary_curve(scores, labels)
    best = int(np.argmax(curve["f1"]))
    out.update(test_best_threshold=float(curve["threshold"][best]), test_best_f1=float(curve["f1"][best]))
    out["threshold_gap"] = abs(out["test_best_threshold"] - run.threshold)
    return out


def summary_text(run: RunInfo, metrics: dict) -> str:
    """The terminal table: the chosen threshold vs 0.5 vs the lazy baseline, on test (or val)."""
    split = "test" if "test" in metrics["splits"] else "val"
    m = metrics["splits"][split]
    lines = [f"Results on the {split} split (n={m['at_threshold']['n']}):"]
    if run.binary:
        pos = run.positive_class
        lines.append(f"  {'':<28} {'accuracy':>9} {'precision':>9} {'recall':>9} {'F1':>7}   ({pos})")
        rows = [
            (f"model @ {run.threshold:.2f} (tuned on val)", m["at_threshold"]),
            ("model @ 0.50", m["untuned"]),
            (f"always '{m['lazy_baseline']['always']}'", m["lazy_baseline"]),
        ]
        for name, r in rows:
            lines.append(f"  {name:<28} {r['accuracy']:>9.3f} {r['precision']:>9.3f} {r['recall']:>9.3f} {r['f1']:>7.3f}")
        if "pr_auc" in m["ranking"]:
            lines.append(f"  PR-AUC {m['ranking']['pr_auc']:.3f}  ROC-AUC {m['ranking']['roc_auc']:.3f}  "
                         f"(a random model's PR-AUC is {m['ranking']['positive_rate']:.3f})")
        lazy = m["lazy_baseline"]
        lines.append(f"  note: answering '{lazy['always']}' to everything is {lazy['accuracy']:.1%} accurate and finds no {pos}: judge by recall, precision, F1")
    else:
        lines.append(f"  {'class':<22} {'precision':>9} {'recall':>9} {'F1':>7} {'support':>8}")
        for cls, r in m["at_threshold"]["per_class"].items():
            lines.append(f"  {cls:<22} {r['precision']:>9.3f} {r['recall']:>9.3f} {r['f1']:>7.3f} {r['support']:>8}")
        a = m["at_threshold"]
        lines.append(f"  accuracy {a['accuracy']:.3f}  balanced accuracy {a['balanced_accuracy']:.3f}  macro F1 {a['macro_f1']:.3f}  "
                     f"(always '{m['lazy_baseline']['always']}': accuracy {m['lazy_baseline']['accuracy']:.3f}, macro F1 {m['lazy_baseline']['macro_f1']:.3f})")
    lines.append(f"  overfitting: {metrics['overfitting']['note']}")
    return "\n".join(lines)
