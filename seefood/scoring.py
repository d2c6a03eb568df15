"""The numeric core: SeeFood's decision rule and the numbers counted from it, in numpy alone.

Training (metrics, threshold choice, reports), export (``verify``), the runtime and the app, and
the benchmarks all take these definitions from here, so a precision, an F1 or an "unknown" means
the same thing everywhere. The packaged app ships this module: it imports nothing but numpy.

- ``class_probabilities``: model outputs as rows of class probabilities (binary [1 - p, p]).
- ``decide_indices`` / ``decide``: the decision at a threshold (binary: p >= threshold;
  multi-class: the top class when its score >= threshold, else "unknown").
- ``confusion``, ``per_class_rates``, ``rates``, ``rates_from_counts``: precision, recall, F1.
- ``pr_curve``, ``average_precision``: the precision-recall curve and its area (PR-AUC), computed
  as scikit-learn's ``average_precision_score`` does (a step-wise sum, no interpolation).
"""

from __future__ import annotations

import numpy as np

UNKNOWN_INDEX = -1
UNKNOWN_LABEL = "unknown"


def class_probabilities(outputs: np.ndarray, binary: bool) -> np.ndarray:
    """Model outputs [N, 1] or [N] (binary sigmoid) or [N, K] (softmax) as rows [N, K] of class
    probabilities in ``classes`` order: a binary p becomes [1 - p, p], p clipped to [0, 1]."""
    outputs = np.asarray(outputs, dtype=np.float64)
    if binary:
        p = np.clip(outputs.reshape(-1), 0.0, 1.0)
        return np.stack([1.0 - p, p], axis=1)
    return outputs.reshape(len(outputs), -1)


def decide_indices(task: str, scores: np.ndarray, threshold: float) -> np.ndarray:
    """The decision rule of every SeeFood runtime, for rows of class scores [N, K]: the class index
    per row, ``UNKNOWN_INDEX`` for a rejected multi-class row.

    Binary (rows [1-p, p]): the positive class (1) when p >= threshold, else the negative (0).
    Multi-class: the top class when its score >= threshold, else unknown.
    """
    scores = np.asarray(scores)
    if task == "binary":
        return (scores[:, 1] >= threshold).astype(int)
    return np.where(scores.max(axis=1) >= threshold, scores.argmax(axis=1), UNKNOWN_INDEX)


def decide(task: str, classes: list[str], scores: np.ndarray, threshold: float) -> tuple[str, float, str]:
    """``decide_indices`` for one row of scores: (label, confidence, top_class)."""
    scores = np.asarray(scores).reshape(-1)
    index = int(decide_indices(task, scores[np.newaxis], threshold)[0])
    label = classes[index] if index != UNKNOWN_INDEX else UNKNOWN_LABEL
    top = 1 if task == "binary" else int(np.argmax(scores))
    return label, float(scores[top]), classes[top]


def confusion(decisions: np.ndarray, targets: np.ndarray, num_classes: int) -> np.ndarray:
    """Counts [K, K + 1]: row = true class, column = decision; the last column counts "unknown"."""
    decisions = np.asarray(decisions).reshape(-1).astype(int)
    targets = np.asarray(targets).reshape(-1).astype(int)
    counts = np.zeros((num_classes, num_classes + 1), dtype=np.int64)
    np.add.at(counts, (targets, np.where(decisions == UNKNOWN_INDEX, num_classes, decisions)), 1)
    return counts


def rates_from_counts(tp: float, fp: float, fn: float) -> tuple[float, float, float]:
    """(precision, recall, F1) from counts; 0.0 where a denominator is 0. Counts may be weighted
    (a benchmark re-weighting test negatives to the training mix passes a weighted ``fp``)."""
    precision = tp / (tp + fp) if tp + fp > 0 else 0.0
    recall = tp / (tp + fn) if tp + fn > 0 else 0.0
    f1 = 2 * precision * recall / (precision + recall) if precision + recall > 0 else 0.0
    return float(precision), float(recall), float(f1)


def rates(predicted: np.ndarray, actual: np.ndarray) -> tuple[float, float, float]:
    """(precision, recall, F1) of one class from boolean arrays: decided as it, and truly it."""
    predicted = np.asarray(predicted, dtype=bool)
    actual = np.asarray(actual, dtype=bool)
    tp = float(np.sum(predicted & actual))
    return rates_from_counts(tp, float(np.sum(predicted & ~actual)), float(np.sum(~predicted & actual)))


def per_class_rates(counts: np.ndarray) -> dict[str, np.ndarray]:
    """Per class precision, recall, F1 and support from ``confusion`` counts ([K, K] or [K, K + 1]:
    an "unknown" decision counts against recall and not towards any class's precision)."""
    counts = np.asarray(counts, dtype=np.float64)
    k = counts.shape[0]
    tp = np.diag(counts[:, :k])
    predicted = counts[:, :k].sum(axis=0)
    support = counts.sum(axis=1)
    precision = np.divide(tp, predicted, out=np.zeros(k), where=predicted > 0)
    recall = np.divide(tp, support, out=np.zeros(k), where=support > 0)
    total = precision + recall
    f1 = np.divide(2 * precision * recall, total, out=np.zeros(k), where=total > 0)
    return {"precision": precision, "recall": recall, "f1": f1, "support": support.astype(int)}


def pr_curve(scores: np.ndarray, positive: np.ndarray) -> dict[str, np.ndarray]:
    """Precision and recall with each distinct score as the threshold (positive when s >= t),
    highest threshold first; recall is 0 throughout when there is no positive."""
    scores = np.asarray(scores, dtype=np.float64).reshape(-1)
    positive = np.asarray(positive).reshape(-1).astype(bool)
    order = np.argsort(-scores, kind="mergesort")
    s, y = scores[order], positive[order]
    last = np.r_[np.flatnonzero(np.diff(s)), len(s) - 1]  # last index of each distinct score
    tp = np.cumsum(y)[last].astype(float)
    fp = np.cumsum(~y)[last].astype(float)
    precision = tp / np.maximum(tp + fp, 1.0)
    recall = tp / max(1.0, float(positive.sum()))
    return {"threshold": s[last], "precision": precision, "recall": recall}


def average_precision(positive: np.ndarray, scores: np.ndarray) -> float | None:
    """Area under the precision-recall curve (PR-AUC) as scikit-learn computes it; None when no
    example is positive (the area is undefined)."""
    if not np.any(positive):
        return None
    curve = pr_curve(scores, positive)
    return float(np.sum(np.diff(np.r_[0.0, curve["recall"]]) * curve["precision"]))


def macro_average_precision(scores: np.ndarray, targets: np.ndarray) -> float | None:
    """Mean over classes of one-vs-rest average precision, for rows [N, K] (classes with no example skipped)."""
    targets = np.asarray(targets).reshape(-1)
    values = [average_precision(targets == c, scores[:, c]) for c in range(scores.shape[1])]
    values = [v for v in values if v is not None]
    return float(np.mean(values)) if values else None
