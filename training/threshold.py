"""Choosing the decision threshold: a product decision, made on validation data, never on test.

Binary: the score is the positive class's probability; objectives
- ``f1``: the threshold with the best F1 of the positive class, bagged: the F1 curve of a small
  validation split is a noisy plateau (food5 1:8, 35 positives: F1 between 0.75 and 0.79 for every
  threshold from 0.62 to 0.96) whose single peak moves with one photo. So the threshold is the mean
  of the best-F1 thresholds of bootstrap resamples of the validation split (``BOOTSTRAP`` of them,
  fixed seed); the 10th-90th percentile of those thresholds is reported as its uncertainty, and the
  peak of the split itself beside it. On 19 food5 models this raised mean test F1 from 0.615 to
  0.631, better in 11 and worse in 8 (docs/food5-results.md, bench/threshold_rules.py).
  Then that bagged threshold is pulled towards the model's balanced point by the evidence behind
  it: t = w * bagged + (1 - w) * 0.5, w = positives / (positives + ``PRIOR_STRENGTH``), for a
  model trained on a balanced loss mix (every rebalancing strategy; ``balanced_point``), which
  gives a photo with equal evidence for both classes the score 0.5. With 2 validation positives the split's choice (0.95 once, test F1 0.56; 0.69 at
  0.5) barely counts; with 100 it almost decides alone. On the quality benchmark's 20 binary and
  tiny runs of the new recipe this raised the mean test F1 and, above all, the worst run
  (docs/quality.md, "The threshold on small validation splits");
- ``recall>=X``: among thresholds that find at least X of the positives, the one with the best
  precision (the "don't miss a hotdog" setting);
- ``precision>=X``: among thresholds whose alarms are right at least X of the time, the one with
  the best recall.
Multi-class: by default the top class, always (threshold 0: never "unknown"). On a five-class
long tail the old default, the best macro-F1 reject threshold of a small validation split, answered
"unknown" to 239 of 625 test photos. Rejection is asked for with ``coverage>=X``: the highest
threshold on the top score that still answers at least X of the validation photos (the rest are
"unknown"), reported with its coverage. ``recall>=X`` / ``precision>=X`` apply to macro recall /
precision, where an "unknown" counts as a miss.
"""

from __future__ import annotations

import re
from dataclasses import asdict, dataclass, field

import numpy as np

from seefood.errors import InputError
from seefood.scoring import confusion, decide_indices, per_class_rates, pr_curve, rates

BOOTSTRAP = 200  # resamples of the validation split for the f1 objective (0: the plain peak)
PRIOR_STRENGTH = 10  # pseudo-positives behind the prior threshold (5 to 40 measured within 0.002 F1 of each other)


@dataclass(frozen=True)
class ThresholdChoice:
    threshold: float
    objective: str
    precision: float
    recall: float
    f1: float
    met: bool  # False when the objective could not be met and the best-F1 threshold was used
    note: str = ""
    # f1 objective with bootstrap: where resampled validation sets put the threshold (10th, 90th
    # percentile), and the single best-F1 threshold of the split itself with its F1
    spread: list[float] = field(default_factory=list)
    peak_threshold: float | None = None
    peak_f1: float | None = None
    coverage: float | None = None  # multi-class: share of validation photos answered (not "unknown")
    # f1 with a prior: the bagged threshold of the split before it was pulled towards ``prior``
    # (0.5, ``balanced_point``); ``prior_weight`` = PRIOR_STRENGTH / (positives + PRIOR_STRENGTH)
    split_threshold: float | None = None
    prior: float | None = None
    prior_weight: float | None = None

    def to_dict(self) -> dict:
        return asdict(self)


def describe_uncertainty(choice: dict) -> str:
    """One line on how sure the validation split is about a bagged threshold (empty otherwise)."""
    spread = choice.get("spread") or []
    if len(spread) != 2 or choice.get("peak_threshold") is None:
        return ""
    line = (
        f"resampled validation sets put it between {spread[0]:.2f} and {spread[1]:.2f} (10th-90th percentile); "
        f"the split's own F1 peak is {choice['peak_f1']:.3f} at {choice['peak_threshold']:.3f}"
    )
    if choice.get("prior") is not None and choice.get("split_threshold") is not None:
        line += (f"; their mean {choice['split_threshold']:.3f} was pulled towards {choice['prior']:.2f} (where a model "
                 f"trained on a balanced mix weighs both classes equally), which weighs {choice['prior_weight']:.0%} "
                 "with this many positive photos")
    return line


def shrink_towards(threshold: float, positives: int, prior: float, strength: float = PRIOR_STRENGTH) -> tuple[float, float]:
    """(``threshold`` pulled towards ``prior``, the prior's weight): as if ``strength`` more positive
    photos had voted for ``prior``. 2 positives: the prior weighs 83%; 100: 9%."""
    weight = strength / (positives + strength) if positives + strength > 0 else 1.0
    return float((1.0 - weight) * threshold + weight * prior), float(weight)


def balanced_point(effective_mix: list[float] | dict) -> float | None:
    """0.5 for a binary model trained on a balanced loss mix ([negative, positive] shares, or
    {class: share} in that order), else None. 0.5 is logit 0: where such a model sees equal evidence
    for both classes, and it stays there however over- or under-confident training left the model
    (confidence scales logits; it does not move 0). A model trained on the natural mix has no such
    fixed point (its positives scored 0.01 to 0.5 on the benchmark, whatever its 11% share said), so
    its threshold comes from validation alone: pulling it towards 0.11 lost 0.09 F1 there."""
    shares = list(effective_mix.values()) if isinstance(effective_mix, dict) else list(effective_mix)
    return 0.5 if len(shares) == 2 and abs(float(shares[1]) - 0.5) < 0.01 else None


def parse_objective(objective: str) -> tuple[str, float | None]:
    if objective == "f1":
        return "f1", None
    match = re.fullmatch(r"(recall|precision|coverage)\s*>=\s*(0?\.\d+|1(\.0*)?|0)", objective.strip())
    if not match:
        raise InputError(f"--threshold-objective must be 'f1', 'recall>=X', 'precision>=X' or (multi-class) "
                         f"'coverage>=X' with X in 0..1, got {objective!r}")
    return match.group(1), float(match.group(2))


def binary_curve(scores: np.ndarray, labels: np.ndarray) -> dict[str, np.ndarray]:
    """Precision, recall, F1 at every distinct score used as threshold (predict positive if s >= t)."""
    curve = pr_curve(scores, labels)
    precision, recall = curve["precision"], curve["recall"]
    total = precision + recall
    f1 = np.divide(2 * precision * recall, total, out=np.zeros_like(total), where=total > 0)
    return {**curve, "f1": f1}


def _midpoint(thresholds: np.ndarray, i: int) -> float:
    """A threshold between the chosen score and the next lower one: robust to tiny score shifts
    (e.g. after quantization) while making exactly the same decisions on these data."""
    t = float(thresholds[i])
    lower = float(thresholds[i + 1]) if i + 1 < len(thresholds) else max(0.0, t - 1e-3)
    return float(np.clip((t + lower) / 2.0, 1e-6, 1.0))


def _best_index(curve: dict[str, np.ndarray], kind: str, target: float | None) -> tuple[int, bool]:
    """Index into ``curve`` of the threshold that meets the objective, and whether it was met."""
    p, r, f = curve["precision"], curve["recall"], curve["f1"]
    if kind == "f1":
        return int(np.argmax(f)), True
    if kind == "recall":
        ok = np.flatnonzero(r >= target - 1e-12)
        return int(ok[np.argmax(p[ok])]), True  # ok is never empty: the lowest threshold has recall 1
    ok = np.flatnonzero(p >= target - 1e-12)
    if len(ok):
        return int(ok[np.argmax(r[ok])]), True
    return int(np.argmax(f)), False


def _rates_at(scores: np.ndarray, labels: np.ndarray, threshold: float) -> tuple[float, float, float]:
    return rates(scores >= threshold, labels)


def bootstrap(scores, labels, statistic, resamples: int = BOOTSTRAP, seed: int = 0) -> np.ndarray:
    """``statistic(scores, labels)`` over ``resamples`` bootstrap resamples (fixed seed) of a binary
    split, skipping resamples that miss a class."""
    scores = np.asarray(scores, dtype=np.float64).reshape(-1)
    labels = np.asarray(labels).reshape(-1).astype(bool)
    rng = np.random.default_rng(seed)
    found = []
    for _ in range(resamples):
        pick = rng.integers(0, len(scores), len(scores))
        y = labels[pick]
        if y.any() and not y.all():
            found.append(statistic(scores[pick], y))
    return np.asarray(found)


def _best_f1_threshold(scores: np.ndarray, labels: np.ndarray) -> float:
    curve = binary_curve(scores, labels)
    return _midpoint(curve["threshold"], int(np.argmax(curve["f1"])))


def bootstrap_thresholds(scores, labels, resamples: int = BOOTSTRAP, seed: int = 0) -> np.ndarray:
    """The best-F1 threshold of each of ``resamples`` bootstrap resamples (those holding both classes)."""
    return bootstrap(scores, labels, _best_f1_threshold, resamples, seed)


def choose_threshold(scores, labels, objective: str = "f1", bootstrap: int = BOOTSTRAP,
                     prior: float | None = None) -> ThresholdChoice:
    """The binary decision threshold that meets ``objective`` on these (validation) scores.

    ``f1`` is bagged over ``bootstrap`` resamples and, given ``prior`` (``balanced_point``), pulled
    towards it by how few positives the split holds (see the module docstring); the recall /
    precision objectives are constraints checked on the split as it is, so they take its exact
    threshold."""
    kind, target = parse_objective(objective)
    if kind == "coverage":
        raise InputError("coverage>=X is for multi-class models (it sets when to answer 'unknown'); a binary model "
                         "takes f1, recall>=X or precision>=X")
    scores = np.asarray(scores, dtype=np.float64).reshape(-1)
    labels = np.asarray(labels).reshape(-1).astype(bool)
    if labels.sum() == 0 or (~labels).sum() == 0:
        raise InputError("threshold selection needs validation examples of both classes")
    curve = binary_curve(scores, labels)
    i, met = _best_index(curve, kind, target)
    note = "" if met else f"no threshold reaches precision {target:.2f} on validation; used the best-F1 threshold"
    peak = _midpoint(curve["threshold"], i)
    if kind != "f1" or bootstrap <= 0:
        p, r, f = (float(curve[k][i]) for k in ("precision", "recall", "f1"))
        return ThresholdChoice(peak, objective, p, r, f, met, note)
    bagged = bootstrap_thresholds(scores, labels, bootstrap)
    threshold = float(np.mean(bagged)) if len(bagged) else peak
    spread = [float(np.percentile(bagged, 10)), float(np.percentile(bagged, 90))] if len(bagged) else []
    split_threshold, weight = None, None
    if prior is not None:
        split_threshold = threshold
        threshold, weight = shrink_towards(threshold, int(labels.sum()), prior)
    p, r, f = _rates_at(scores, labels, threshold)
    return ThresholdChoice(threshold, objective, p, r, f, met, note, spread, peak, float(curve["f1"][i]),
                           split_threshold=split_threshold, prior=prior, prior_weight=weight)


def multiclass_rates(scores: np.ndarray, labels: np.ndarray, threshold: float) -> tuple[float, float, float]:
    """Macro precision, recall, F1 when top scores below ``threshold`` answer "unknown"."""
    scores = np.asarray(scores)
    counts = confusion(decide_indices("multiclass", scores, threshold), labels, scores.shape[1])
    table = per_class_rates(counts)
    return float(np.mean(table["precision"])), float(np.mean(table["recall"])), float(np.mean(table["f1"]))


def choose_multiclass_threshold(scores, labels, objective: str = "f1") -> ThresholdChoice:
    """The "unknown" threshold on the top score, chosen on validation data (0: always the top class)."""
    kind, target = parse_objective(objective)
    scores = np.asarray(scores, dtype=np.float64)
    top = scores.max(axis=1) if len(scores) else np.zeros(0)

    def choice(threshold: float, met: bool = True, note: str = "") -> ThresholdChoice:
        p, r, f = multiclass_rates(scores, labels, threshold)
        coverage = float(np.mean(top >= threshold)) if len(top) else 1.0
        return ThresholdChoice(float(threshold), objective, p, r, f, met, note, coverage=coverage)

    if kind == "f1":
        return choice(0.0, note="multi-class: the top class is the answer (never 'unknown'); "
                                "--threshold-objective 'coverage>=0.95' answers 'unknown' for the least sure 5%")
    if kind == "coverage":
        # the highest top-score threshold that still answers at least `target` of the photos
        ranked = np.sort(top)[::-1]
        keep = int(np.ceil(target * len(ranked) - 1e-9))
        threshold = float(ranked[keep - 1]) if keep >= 1 and len(ranked) else 0.0
        return choice(max(0.0, threshold))
    candidates = np.round(np.arange(0.0, 0.96, 0.01), 2)
    rows = [(t, *multiclass_rates(scores, labels, t)) for t in candidates]
    if kind == "recall":
        ok = [r for r in rows if r[2] >= target]
        best = max(ok, key=lambda r: (r[1], r[0])) if ok else max(rows, key=lambda r: r[2])
    else:
        ok = [r for r in rows if r[1] >= target]
        best = max(ok, key=lambda r: (r[2], -r[0])) if ok else max(rows, key=lambda r: r[3])
    note = "" if ok else f"objective {objective} not reachable on validation; used the closest threshold"
    return choice(float(best[0]), bool(ok), note)


def multiclass_validation_curve(scores, labels, points: int = 101) -> list[dict]:
    """For the app's slider on a multi-class model: at each threshold on the top score, the share of
    validation photos answered (coverage), how often those answers are right (accuracy), and macro
    precision / recall with "unknown" counted as a miss."""
    scores = np.asarray(scores, dtype=np.float64)
    labels = np.asarray(labels).reshape(-1)
    top, pred = scores.max(axis=1), scores.argmax(axis=1)
    rows = []
    for t in np.linspace(0.0, 1.0, points):
        accepted = top >= t
        precision, recall, _ = multiclass_rates(scores, labels, t)
        accuracy = float(np.mean(pred[accepted] == labels[accepted])) if accepted.any() else 1.0
        rows.append({"threshold": round(float(t), 4), "precision": round(precision, 4), "recall": round(recall, 4),
                     "coverage": round(float(np.mean(accepted)), 4), "accuracy": round(accuracy, 4)})
    return rows


def sweep_table(scores, labels, thresholds=(0.1, 0.25, 0.5, 0.75, 0.9), binary: bool = True) -> list[dict]:
    """Precision / recall / F1 at fixed thresholds, to show the trade-off."""
    rows = []
    for t in thresholds:
        if binary:
            s = np.asarray(scores).reshape(-1)
            y = np.asarray(labels).reshape(-1).astype(bool)
            prec, rec, f1 = _rates_at(s, y, t)
            rows.append({"threshold": float(t), "precision": prec, "recall": rec, "f1": f1, "flagged": int(np.sum(s >= t))})
        else:
            prec, rec, f1 = multiclass_rates(scores, labels, t)
            rows.append({"threshold": float(t), "precision": prec, "recall": rec, "f1": f1})
    return rows


def validation_curve(scores, labels, points: int = 101) -> list[dict]:
    """Precision and recall on a fixed grid of thresholds, for the app's slider."""
    grid = np.linspace(0.0, 1.0, points)
    return [
        {"threshold": round(r["threshold"], 4), "precision": round(r["precision"], 4), "recall": round(r["recall"], 4)}
        for r in sweep_table(scores, labels, tuple(grid), binary=True)
    ]
