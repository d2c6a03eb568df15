"""The threshold is chosen for an objective on validation scores, and the choice is right."""

from __future__ import annotations

import numpy as np
import pytest

from training.threshold import choose_multiclass_threshold, choose_threshold, parse_objective, sweep_table

# 10 positives and 20 negatives with known scores.
POS = np.array([0.95, 0.9, 0.85, 0.8, 0.7, 0.6, 0.45, 0.4, 0.3, 0.2])
NEG = np.array([0.75, 0.65, 0.5, 0.35, 0.25] + [0.1] * 15)
SCORES = np.r_[POS, NEG]
LABELS = np.r_[np.ones(10), np.zeros(20)]


def _rates(t):
    pred = SCORES >= t
    tp = (pred & (LABELS == 1)).sum()
    return tp / max(pred.sum(), 1), tp / 10


def test_f1_objective_picks_the_best_f1():
    choice = choose_threshold(SCORES, LABELS, "f1")
    best = max(sweep_table(SCORES, LABELS, tuple(np.linspace(0.01, 0.99, 99))), key=lambda r: r["f1"])
    assert choice.f1 == pytest.approx(best["f1"], abs=1e-9)
    p, r = _rates(choice.threshold)
    assert (p, r) == pytest.approx((choice.precision, choice.recall))
    assert choice.threshold != 0.5


def test_recall_objective_reaches_recall_with_best_precision():
    choice = choose_threshold(SCORES, LABELS, "recall>=0.9")
    p, r = _rates(choice.threshold)
    assert r >= 0.9 and choice.met
    assert choice.threshold == pytest.approx((0.3 + 0.25) / 2)  # between the 9th positive and the next score
    assert p == pytest.approx(9 / 13)


def test_precision_objective_and_unreachable_fallback():
    choice = choose_threshold(SCORES, LABELS, "precision>=0.8")
    p, r = _rates(choice.threshold)
    # 0.95..0.8 are positives, 0.75 a negative (4/5), 0.7 a positive (5/6), 0.65 a negative (5/7)
    assert p >= 0.8 and r == pytest.approx(0.5)
    assert choice.threshold == pytest.approx((0.7 + 0.65) / 2)
    impossible = choose_threshold(np.r_[0.9, 0.1], np.r_[0, 1], "precision>=0.99")
    assert not impossible.met and "no threshold" in impossible.note


def test_objective_parsing():
    assert parse_objective("recall>=0.95") == ("recall", 0.95)
    with pytest.raises(ValueError, match="threshold-objective"):
        parse_objective("accuracy")


def test_multiclass_unknown_threshold():
    rng = np.random.default_rng(0)
    labels = np.repeat([0, 1, 2], 20)
    scores = rng.dirichlet([1, 1, 1], 60)
    scores[np.arange(40), labels[:40]] += 2.0  # the first 40 are confidently right
    scores /= scores.sum(1, keepdims=True)
    f1 = choose_multiclass_threshold(scores, labels, "f1")
    strict = choose_multiclass_threshold(scores, labels, "precision>=0.95")
    assert strict.precision >= 0.95 and strict.threshold >= f1.threshold
