"""Honest numbers: per-class precision/recall/F1, PR-AUC, confusion matrices, and the lazy
baseline that shows how much accuracy alone lies on imbalanced data."""

from __future__ import annotations

import numpy as np
from sklearn.metrics import roc_auc_score

from seefood.scoring import average_precision, class_probabilities, confusion, decide_indices, per_class_rates, rates


def _per_class(counts: np.ndarray, classes: list[str]) -> dict[str, dict]:
    table = per_class_rates(counts)
    return {cls: {"precision": float(table["precision"][i]), "recall": float(table["recall"][i]),
                  "f1": float(table["f1"][i]), "support": int(table["support"][i])} for i, cls in enumerate(classes)}


def decisions(scores: np.ndarray, threshold: float, binary: bool) -> np.ndarray:
    """Predicted class index per example by the runtime's rule (``seefood.scoring.decide_indices``);
    binary ``scores`` are P(positive), multi-class rejects are -1 ("unknown")."""
    return decide_indices("binary" if binary else "multiclass", class_probabilities(scores, binary), threshold)


def classification_metrics(scores: np.ndarray, labels: np.ndarray, threshold: float, classes: list[str]) -> dict:
    """Everything measured at one threshold. Binary ``scores`` are P(positive); labels 0/1."""
    labels = np.asarray(labels).reshape(-1).astype(int)
    scores = np.asarray(scores)
    binary = scores.ndim == 1 or scores.shape[-1] == 1
    pred = decisions(scores, threshold, binary)
    k = len(classes)
    cm = confusion(pred, labels, k)
    per_class = _per_class(cm, classes)
    recalls = [per_class[c]["recall"] for c in classes]
    result = {
        "threshold": float(threshold),
        "n": int(len(labels)),
        "accuracy": float(np.mean(pred == labels)),
        "balanced_accuracy": float(np.mean(recalls)),
        "macro_f1": float(np.mean([per_class[c]["f1"] for c in classes])),
        "per_class": per_class,
        "confusion_matrix": cm[:, :k].tolist(),
    }
    if binary:
        positive = classes[1]
        result.update(
            precision=per_class[positive]["precision"],
            recall=per_class[positive]["recall"],
            f1=per_class[positive]["f1"],
            flagged=int(pred.sum()),
        )
    else:
        result["unknown"] = int(np.sum(pred < 0))
        result["confusion_with_unknown"] = cm.tolist()
    return result


def ranking_metrics(scores: np.ndarray, labels: np.ndarray, classes: list[str]) -> dict:
    """Threshold-free: PR-AUC (average precision) and ROC-AUC, per class for multi-class."""
    labels = np.asarray(labels).reshape(-1).astype(int)
    scores = np.asarray(scores)
    out: dict = {}
    if scores.ndim == 1 or scores.shape[-1] == 1:
        s = scores.reshape(-1)
        if 0 < labels.sum() < len(labels):
            out["pr_auc"] = average_precision(labels == 1, s)
            out["roc_auc"] = float(roc_auc_score(labels, s))
        out["positive_rate"] = float(labels.mean())
        return out
    per_class = {}
    for i, cls in enumerate(classes):
        y = labels == i
        if 0 < y.sum() < len(y):
            per_class[cls] = {
                "pr_auc": average_precision(y, scores[:, i]),
                "roc_auc": float(roc_auc_score(y, scores[:, i])),
            }
    out["per_class"] = per_class
    if per_class:
        out["pr_auc"] = float(np.mean([v["pr_auc"] for v in per_class.values()]))
        out["roc_auc"] = float(np.mean([v["roc_auc"] for v in per_class.values()]))
    return out


def epoch_metrics(scores: np.ndarray, labels: np.ndarray, binary: bool, num_classes: int) -> dict[str, float]:
    """The per-epoch validation numbers training logs (``val_`` + key): binary precision, recall
    and accuracy at 0.5, PR-AUC (average precision) and ROC-AUC; multi-class accuracy and macro
    recall. The same definitions as the final report, computed on exactly the validation photos."""
    labels = np.asarray(labels).reshape(-1).astype(int)
    scores = np.asarray(scores, dtype=np.float64)
    if binary:
        p = scores.reshape(-1)
        pred = (p >= 0.5).astype(int)
        precision, recall, _ = rates(pred == 1, labels == 1)
        out = {"accuracy": float(np.mean(pred == labels)), "precision": precision, "recall": recall}
        both = 0 < labels.sum() < len(labels)
        out["pr_auc"] = average_precision(labels == 1, p) if both else float("nan")
        out["roc_auc"] = float(roc_auc_score(labels, p)) if both else float("nan")
        return out
    pred = scores.argmax(axis=1)
    recalls = [float(np.mean(pred[labels == c] == c)) for c in range(num_classes) if np.any(labels == c)]
    return {"accuracy": float(np.mean(pred == labels)), "macro_recall": float(np.mean(recalls)) if recalls else 0.0}


def lazy_baseline(labels: np.ndarray, classes: list[str]) -> dict:
    """A model that always answers the majority class: high accuracy, zero use."""
    labels = np.asarray(labels).reshape(-1).astype(int)
    majority = int(np.bincount(labels, minlength=len(classes)).argmax())
    k = len(classes)
    cm = confusion(np.full_like(labels, majority), labels, k)
    per_class = _per_class(cm, classes)
    out = {
        "always": classes[majority],
        "accuracy": float(np.mean(labels == majority)),
        "balanced_accuracy": float(np.mean([per_class[c]["recall"] for c in classes])),
        "macro_f1": float(np.mean([per_class[c]["f1"] for c in classes])),
    }
    if k == 2:
        out.update(precision=per_class[classes[1]]["precision"], recall=per_class[classes[1]]["recall"], f1=per_class[classes[1]]["f1"])
    return out


def most_confused(confusion: list[list[int]], classes: list[str], top: int = 5) -> list[dict]:
    cm = np.asarray(confusion)
    pairs = [
        {"true": classes[i], "predicted": classes[j], "count": int(cm[i, j]), "share_of_true": float(cm[i, j] / max(1, cm[i].sum()))}
        for i in range(len(classes))
        for j in range(len(classes))
        if i != j and cm[i, j] > 0
    ]
    return sorted(pairs, key=lambda p: -p["count"])[:top]


def _kept_note(kept: dict | None) -> str:
    if kept and kept.get("rule") == "best":
        return f"The weights of epoch {kept['epoch']} (best {kept.get('monitor', 'validation metric')}) were kept."
    if kept and kept.get("rule") == "final":
        return ("The final weights were kept (the learning rate decays to zero over the budget; --patience N keeps "
                "the best epoch instead).")
    return ""


def overfitting_check(history: dict[str, list[float]], kept: dict | None = None) -> dict:
    """Validation loss rising while training loss falls: the signature of overfitting. ``kept``
    (run.json ``kept_weights``) says which weights the run kept, so the note says what was done."""
    loss, val = history.get("loss", []), history.get("val_loss", [])
    if len(val) < 3:
        return {"overfitting": False, "note": "too few epochs to judge"}
    best = int(np.argmin(val))
    after = val[best:]
    rose = len(after) >= 3 and after[-1] > val[best] * 1.05
    train_fell = len(loss) > best and loss[-1] < loss[best]
    result = {"best_val_loss_epoch": best + 1, "best_val_loss": float(val[best]), "last_val_loss": float(val[-1])}
    if rose and train_fell:
        result.update(
            overfitting=True,
            note=(
                f"validation loss rose from {val[best]:.3f} (epoch {best + 1}) to {val[-1]:.3f} (epoch {len(val)}) "
                f"while training loss fell from {loss[best]:.3f} to {loss[-1]:.3f}: the model is memorising. "
                + _kept_note(kept) + " More photos or stronger --augment help."
            ),
        )
    else:
        result.update(overfitting=False, note="no sign of overfitting: validation loss did not rise while training loss fell")
    return result
