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
macro-F1 (multi-class) is lower than the old model's by more than ``max_drop`` (default 0.02).
With no held-back photo in common there is no evidence that it is not worse, and it counts as worse.
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
RULE = ("worse = on the held-back test photos both runs share, the new model's {metric} (each model at its own "
        "threshold) is lower than the old model's by more than {max_drop:g}; no shared held-back photo counts as worse")


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
    return {
        "n": len(targets),
        "support": {name: int(np.sum(targets == c)) for c, name in enumerate(classes)},
        "metric": primary_metric(task),
        "old": model_metrics(task, classes, old_scores, targets, old_threshold),
        "new": model_metrics(task, classes, new_scores, targets, new_threshold),
    }


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
    worse = change < -max_drop - 1e-12
    n = held_back["n"]
    if worse:
        reason = (f"worse: held-back {name} {old:.3f} -> {new:.3f} ({change:+.3f}) on {n} test photos both runs held "
                  f"back, a drop of more than {max_drop:g}")
    else:
        verdict = "better" if change > max_drop else "not worse"
        reason = (f"{verdict}: held-back {name} {old:.3f} -> {new:.3f} ({change:+.3f}) on {n} test photos both runs "
                  f"held back (worse means a drop of more than {max_drop:g})")
    return {"worse": bool(worse), "metric": metric, "old": old, "new": new, "change": change, "max_drop": max_drop,
            "rule": rule, "reason": reason}


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
