"""Old model against new on the same photos, and the rule that says whether the new one is worse.

numpy only (``seefood.scoring`` counts): the pipeline hands in class-score rows and targets.

The figures, for each model at its own threshold (the bundle's), on two sets of photos:

- held back: the test photos both runs held back (the content-hash split keeps an old test photo in
  test, so this is the old run's test split minus photos since removed). Neither model trained on them.
- added: photos the new run has and the old run never had, that the new run held back too (its
  validation and test photos). The new run's added *training* photos are counted, not scored: a
  model scored on its own training photos proves nothing.

Per set: n, the photos per class, F1 (binary: of the positive class) or macro-F1 (multi-class: the
mean over the classes present in the photos or the decisions, "unknown" counted as a miss), PR-AUC
(binary: average precision of the positive class; multi-class: the macro one-vs-rest mean), and
each class's recall and precision.

The rule (``judge``): the new model is WORSE when, on the held-back photos, its F1 (binary) or
macro-F1 (multi-class) is lower than the old model's by more than ``max_drop`` (default 0.02) AND
the drop is beyond noise: in a paired bootstrap over those photos (the same resampled photos
scored by both models, ``RESAMPLES`` times) the new model's figure is lower in at least 95% of the
resamples where the two differ (resamples where they tie say nothing either way: a blind new model
on a few photos ties wherever no positive was drawn, and is lower everywhere else). Retraining alone moves F1 by more than
0.02 (measured with ``BENCH_LOOP=1 make bench``: 10 photos added to food5 at 1:8 gave held-back F1
0.752 -> 0.731 on 623 photos, which the tolerance alone refused), so a fixed tolerance alone
refuses retrains that the held-back photos cannot tell apart from the old model. With no
held-back photo in common there is no evidence that it is not worse, and it counts as worse.
"""

from __future__ import annotations

import numpy as np

from seefood.scoring import (
    average_precision,
    confusion,
    decide_indices,
    macro_average_precision,
    per_class_rates,
)

MAX_DROP = 0.02  # the largest drop in held-back F1 / macro-F1 that still counts as "not worse"
RESAMPLES = 500  # paired bootstrap resamples of the held-back photos
RULE = ("worse = on the held-back test photos both runs share, the new model's {metric} (each model at its own "
        "threshold) is lower than the old model's by more than {max_drop:g}, and lower in at least 95% of the paired "
        "bootstrap resamples of those photos where the two differ; no shared held-back photo counts as worse")


def primary_metric(task: str) -> str:
    return "f1" if task == "binary" else "macro_f1"


def model_metrics(task: str, classes: list[str], scores: np.ndarray, targets: np.ndarray, threshold: float) -> dict:
    """One model's figures on one set of photos: ``scores`` rows [N, K] in ``classes`` order."""
    targets = np.asarray(targets, dtype=int).reshape(-1)
    k = len(classes)
    if len(targets) == 0:
        return {}
    decisions = decide_indices(task, scores, threshold)
    table = per_class_rates(confusion(decisions, targets, k))
    present = [c for c in range(k) if table["support"][c] > 0 or np.any(decisions == c)]
    out: dict = {"threshold": float(threshold)}
    if task == "binary":
        out["f1"] = float(table["f1"][1])
        out["pr_auc"] = average_precision(targets == 1, scores[:, 1])
    else:
        out["macro_f1"] = float(np.mean([table["f1"][c] for c in present])) if present else 0.0
        out["pr_auc"] = macro_average_precision(scores, targets)
        out["unknown"] = int(np.sum(decisions < 0))
    out["recall"] = {name: (float(table["recall"][c]) if table["support"][c] else None) for c, name in enumerate(classes)}
    out["precision"] = {name: float(table["precision"][c]) for c, name in enumerate(classes)}
    return out


def compare_set(task: str, classes: list[str], targets: np.ndarray, old_scores: np.ndarray, new_scores: np.ndarray,
                old_threshold: float, new_threshold: float) -> dict:
    targets = np.asarray(targets, dtype=int).reshape(-1)
    out = {
        "n": len(targets),
        "support": {name: int(np.sum(targets == c)) for c, name in enumerate(classes)},
        "metric": primary_metric(task),
        "old": model_metrics(task, classes, old_scores, targets, old_threshold),
        "new": model_metrics(task, classes, new_scores, targets, new_threshold),
    }
    if len(targets) >= 2:
        out.update(paired_change(task, len(classes), targets, decide_indices(task, old_scores, old_threshold),
                                 decide_indices(task, new_scores, new_threshold)))
    return out


def _f1_per_resample(task: str, k: int, targets: np.ndarray, decisions: np.ndarray) -> np.ndarray:
    """F1 (binary) or macro-F1 over the classes present (in the photos or the decisions) of each
    resample: ``targets`` and ``decisions`` are [R, N] (rows: resampled photos)."""
    scores, present = [], []
    for c in ([1] if task == "binary" else range(k)):
        tp = np.sum((decisions == c) & (targets == c), axis=1)
        fp = np.sum((decisions == c) & (targets != c), axis=1)
        fn = np.sum((decisions != c) & (targets == c), axis=1)
        scores.append(np.where(tp > 0, 2 * tp / np.maximum(2 * tp + fp + fn, 1), 0.0))
        present.append(tp + fp + fn > 0)
    if task == "binary":
        return scores[0]
    f1, mask = np.stack(scores), np.stack(present)
    return np.where(mask.any(axis=0), (f1 * mask).sum(axis=0) / np.maximum(mask.sum(axis=0), 1), 0.0)


def paired_change(task: str, k: int, targets: np.ndarray, old_decisions: np.ndarray, new_decisions: np.ndarray,
                  resamples: int = RESAMPLES, seed: int = 0) -> dict:
    """(new - old) F1 / macro-F1 over paired bootstrap resamples (each draws photos with replacement
    and scores both models' decisions on the same ones): ``change_interval``, its 5th and 95th
    percentiles, and ``new_lower_share``, the share of resamples where the two differ in which the
    new model is lower (None when they never differ)."""
    pick = np.random.default_rng(seed).integers(0, len(targets), (resamples, len(targets)))
    targets = np.asarray(targets)[pick]
    change = (_f1_per_resample(task, k, targets, np.asarray(new_decisions)[pick])
              - _f1_per_resample(task, k, targets, np.asarray(old_decisions)[pick]))
    differ = np.abs(change) > 1e-12
    return {"change_interval": [float(np.percentile(change, 5)), float(np.percentile(change, 95))],
            "new_lower_share": float(np.mean(change[differ] < 0)) if differ.any() else None}


def judge(held_back: dict, task: str, max_drop: float = MAX_DROP) -> dict:
    """Whether the new model is worse on the held-back photos (the module's rule), and why, in words."""
    metric = primary_metric(task)
    name = "F1" if metric == "f1" else "macro-F1"
    rule = RULE.format(metric=name, max_drop=max_drop)
    if not held_back.get("n"):
        return {"worse": True, "metric": metric, "old": None, "new": None, "change": None, "max_drop": max_drop,
                "rule": rule, "reason": "no held-back test photo is common to both runs, so nothing shows the new "
                                        "model is not worse"}
    old, new = held_back["old"][metric], held_back["new"][metric]
    change = new - old
    interval = held_back.get("change_interval")
    lower = held_back.get("new_lower_share", 1.0) if "change_interval" in held_back else None  # absent: the drop alone
    dropped = change < -max_drop - 1e-12
    beyond_noise = lower is None or lower >= 0.95
    worse = dropped and beyond_noise
    n = held_back["n"]
    spread = (f"; paired bootstrap: 90% interval of the change [{interval[0]:+.3f}, {interval[1]:+.3f}], new lower "
              f"in {lower:.0%} of the resamples where they differ" if interval and lower is not None else "")
    if worse:
        reason = (f"worse: held-back {name} {old:.3f} -> {new:.3f} ({change:+.3f}) on {n} test photos both runs held "
                  f"back, a drop of more than {max_drop:g}{spread}")
    elif dropped:
        reason = (f"not worse beyond noise: held-back {name} {old:.3f} -> {new:.3f} ({change:+.3f}) on {n} test photos "
                  f"both runs held back{spread} (worse needs 95%): these photos cannot tell the two apart")
    else:
        verdict = "better" if change > max_drop else "not worse"
        reason = (f"{verdict}: held-back {name} {old:.3f} -> {new:.3f} ({change:+.3f}) on {n} test photos both runs "
                  f"held back (worse means a drop of more than {max_drop:g}, beyond noise){spread}")
    return {"worse": bool(worse), "metric": metric, "old": old, "new": new, "change": change, "max_drop": max_drop,
            "change_interval": interval, "new_lower_share": lower, "rule": rule, "reason": reason}


def _fmt(value) -> str:
    return f"{value:.3f}" if isinstance(value, (int, float)) else "–"


def _change(old, new) -> str:
    return f"{new - old:+.3f}" if isinstance(old, (int, float)) and isinstance(new, (int, float)) else ""


def format_table(comparison: dict) -> str:
    """The old-vs-new table ``seefood retrain`` prints."""
    task, classes = comparison["task"], comparison["classes"]
    metric = primary_metric(task)
    label = f"F1 ({classes[1]})" if task == "binary" else "macro-F1"
    sets = [("held_back", "held-back test photos"), ("added", "newly added photos, held out")]
    rows = [(label, lambda m: m.get(metric)), ("PR-AUC", lambda m: m.get("pr_auc"))]
    rows += [(f"recall {name}", lambda m, name=name: (m.get("recall") or {}).get(name)) for name in classes]
    old, new = comparison["old"], comparison["new"]
    lines = [(f"Old (version {old.get('version')}, run {old['run_id']}, threshold {old['threshold']:.4f}) vs new "
             f"(run {new['run_id']}, threshold {new['threshold']:.4f}), each at its own threshold")]
    header = [""]
    for key, title in sets:
        header += [f"{title} (n={comparison[key]['n']})", "", ""]
    sub = [""] + ["old", "new", "change"] * len(sets)
    body = []
    for name, get in rows:
        row = [name]
        for key, _ in sets:
            part = comparison[key]
            o, n = get(part["old"]) if part["old"] else None, get(part["new"]) if part["new"] else None
            row += [_fmt(o), _fmt(n), _change(o, n)]
        body.append(row)
    widths = [max(len(r[c]) for r in [sub, *body]) for c in range(len(sub))]
    # the set titles span their three columns
    spans = [widths[0]] + [sum(widths[1 + 3 * i: 4 + 3 * i]) + 4 for i in range(len(sets))]
    lines.append("  ".join(t.ljust(w) for t, w in zip([header[0], *header[1::3]], spans)).rstrip())
    for row in [sub, *body]:
        lines.append("  ".join(v.ljust(w) if c == 0 else v.rjust(w) for c, (v, w) in enumerate(zip(row, widths))).rstrip())
    added = comparison["added"]
    lines.append(f"Added photos: {added.get('n_total', added['n'])} new since the old run "
                 f"({added.get('n_train', 0)} in the new run's training split, not scored).")
    return "\n".join(lines)
