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


def test_f1_objective_without_bootstrap_picks_the_best_f1():
    choice = choose_threshold(SCORES, LABELS, "f1", bootstrap=0)
    best = max(sweep_table(SCORES, LABELS, tuple(np.linspace(0.01, 0.99, 99))), key=lambda r: r["f1"])
    assert choice.f1 == pytest.approx(best["f1"], abs=1e-9)
    p, r = _rates(choice.threshold)
    assert (p, r) == pytest.approx((choice.precision, choice.recall))
    assert choice.threshold != 0.5


def test_bagged_f1_threshold_reports_its_rates_spread_and_the_peak():
    peak = choose_threshold(SCORES, LABELS, "f1", bootstrap=0)
    choice = choose_threshold(SCORES, LABELS, "f1")
    assert (choice.peak_threshold, choice.peak_f1) == pytest.approx((peak.threshold, peak.f1))
    low, high = choice.spread
    assert low <= choice.threshold <= high and low < high  # 10 positives: the peak is uncertain
    p, r = _rates(choice.threshold)
    assert (p, r) == pytest.approx((choice.precision, choice.recall))  # rates of the threshold it returns
    assert choose_threshold(SCORES, LABELS, "f1") == choice  # fixed seed: reproducible runs


def test_bagged_threshold_is_steadier_and_transfers_better_than_the_peak():
    """Many small validation sets from one score distribution (35 positives, 240 negatives, like
    food5 at 1:8): the bagged threshold moves less between them than the peak of each set's F1
    curve, and scores at least as well on a large test set from the same distribution."""
    rng = np.random.default_rng(7)

    def draw(n_pos, n_neg):
        s = np.r_[rng.beta(5, 2, n_pos), rng.beta(1.2, 5, n_neg)]
        return s, np.r_[np.ones(n_pos), np.zeros(n_neg)].astype(bool)

    test_s, test_y = draw(20000, 160000)

    def test_f1(t):
        pred = test_s >= t
        tp = np.sum(pred & test_y)
        return 2 * tp / (pred.sum() + test_y.sum())

    peaks, bagged = [], []
    for _ in range(30):
        s, y = draw(35, 240)
        peaks.append(choose_threshold(s, y, "f1", bootstrap=0).threshold)
        bagged.append(choose_threshold(s, y, "f1", bootstrap=100).threshold)
    assert np.std(bagged) < np.std(peaks)
    assert np.mean([test_f1(t) for t in bagged]) >= np.mean([test_f1(t) for t in peaks])


def test_few_positives_pull_the_threshold_towards_the_balanced_point():
    from training.threshold import balanced_point, shrink_towards

    assert balanced_point([0.5, 0.5]) == 0.5 and balanced_point({"not_hotdog": 0.5, "hotdog": 0.5}) == 0.5
    assert balanced_point([0.889, 0.111]) is None  # a model trained on the natural mix has no fixed point
    assert shrink_towards(0.95, 2, 0.5) == pytest.approx((0.5 + 0.45 * 2 / 12, 10 / 12))
    assert shrink_towards(0.95, 100, 0.5)[1] == pytest.approx(10 / 110)  # 100 positives almost decide alone

    plain = choose_threshold(SCORES, LABELS, "f1")
    pulled = choose_threshold(SCORES, LABELS, "f1", prior=0.5)
    assert pulled.split_threshold == pytest.approx(plain.threshold) and pulled.prior_weight == pytest.approx(0.5)
    assert pulled.threshold == pytest.approx((plain.threshold + 0.5) / 2)  # 10 positives: half and half
    p, r = _rates(pulled.threshold)
    assert (p, r) == pytest.approx((pulled.precision, pulled.recall))  # the rates of the threshold it returns
    # constraints are met on the split as it is: no pulling
    assert choose_threshold(SCORES, LABELS, "recall>=0.9", prior=0.5) == choose_threshold(SCORES, LABELS, "recall>=0.9")


def test_the_prior_rescues_a_split_with_two_positives():
    """A validation split with 2 positives (the benchmark's worst case) drawn from the same scores as a
    large test set: the split's own threshold scatters, pulled towards 0.5 it transfers better."""
    rng = np.random.default_rng(3)

    def draw(n_pos, n_neg):
        s = np.r_[rng.beta(4, 2, n_pos), rng.beta(2, 4, n_neg)]  # a balanced-mix model: classes meet at 0.5
        return s, np.r_[np.ones(n_pos), np.zeros(n_neg)].astype(bool)

    test_s, test_y = draw(20000, 80000)

    def test_f1(t):
        pred = test_s >= t
        return 2 * np.sum(pred & test_y) / (pred.sum() + test_y.sum())

    alone, pulled = [], []
    for _ in range(40):
        s, y = draw(2, 16)
        alone.append(test_f1(choose_threshold(s, y, "f1", bootstrap=50).threshold))
        pulled.append(test_f1(choose_threshold(s, y, "f1", bootstrap=50, prior=0.5).threshold))
    assert np.mean(pulled) > np.mean(alone) and np.min(pulled) > np.min(alone)


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


def test_multiclass_answers_the_top_class_by_default_and_rejects_only_when_asked():
    from training.threshold import choose_multiclass_threshold, multiclass_validation_curve

    rng = np.random.default_rng(0)
    labels = np.repeat(np.arange(3), 40)
    scores = rng.dirichlet(np.ones(3), size=len(labels))
    scores[np.arange(len(labels)), labels] += 0.6  # mostly right, with unsure photos in between
    scores /= scores.sum(axis=1, keepdims=True)
    default = choose_multiclass_threshold(scores, labels, "f1")
    assert default.threshold == 0.0 and default.coverage == 1.0  # never "unknown" by default
    asked = choose_multiclass_threshold(scores, labels, "coverage>=0.9")
    answered = np.mean(scores.max(axis=1) >= asked.threshold)
    assert asked.threshold > 0.3 and 0.9 <= answered < 0.95 and asked.coverage == pytest.approx(answered)
    curve = multiclass_validation_curve(scores, labels)
    assert len(curve) == 101 and curve[0]["coverage"] == 1.0
    coverage = [p["coverage"] for p in curve]
    assert coverage == sorted(coverage, reverse=True)  # a higher bar answers fewer photos
    accepted = [p for p in curve if p["coverage"] > 0.2]
    assert accepted[-1]["accuracy"] >= accepted[0]["accuracy"]  # ... and is right more often


def test_coverage_objective_is_refused_for_a_binary_model():
    from training.threshold import choose_threshold

    with pytest.raises(ValueError, match="multi-class"):
        choose_threshold(np.array([0.1, 0.9]), np.array([0, 1]), "coverage>=0.9")


def test_epoch_budget_follows_the_folder_size():
    from training.config import BUDGET_IMAGES, MAX_EPOCHS, MIN_EPOCHS, auto_epochs

    assert auto_epochs(10) == MAX_EPOCHS and auto_epochs(1_000_000) == MIN_EPOCHS
    n = BUDGET_IMAGES // 30
    assert MIN_EPOCHS <= auto_epochs(n) <= MAX_EPOCHS and abs(auto_epochs(n) * n - BUDGET_IMAGES) <= n


def test_tiny_class_guard_fires_on_chance_and_on_too_few_photos_only():
    from training.guard import MIN_PHOTOS, tiny_class_warnings

    rng = np.random.default_rng(1)
    labels = np.r_[np.zeros(60, int), np.ones(12, int)]
    classes = ["not_hotdog", "hotdog"]
    learned = np.where(labels == 1, rng.uniform(0.6, 1.0, len(labels)), rng.uniform(0.0, 0.5, len(labels)))
    chance = rng.uniform(0, 1, len(labels))
    assert tiny_class_warnings(learned, labels, classes, True, {"hotdog": 40, "not_hotdog": 300}) == []
    [warning] = tiny_class_warnings(chance, labels, classes, True, {"hotdog": 40, "not_hotdog": 300})
    assert warning["code"] == "tiny_class" and warning["class"] == "hotdog" and warning["photos"] == 40
    assert "hotdog" in warning["message"] and "--weights imagenet" in warning["message"]
    assert warning["val_pr_auc_interval"][0] <= warning["chance_pr_auc"]
    [few] = tiny_class_warnings(learned, labels, classes, True, {"hotdog": MIN_PHOTOS - 1, "not_hotdog": 300})
    assert few["more_photos_needed"] > 0 and "too few" in few["message"]
    few_val = np.r_[np.zeros(60, int), np.ones(4, int)]  # 4 validation photos: too few to judge against chance
    assert tiny_class_warnings(rng.uniform(0, 1, 64), few_val, classes, True, {"hotdog": 40, "not_hotdog": 300}) == []
    # multi-class: each class against the rest; only the one not learned is named
    labels3 = np.repeat(np.arange(3), 20)
    scores3 = np.full((60, 3), 0.1)
    scores3[labels3 == 0, 0] = 0.8
    scores3[labels3 == 1, 1] = 0.8
    scores3[:, 2] = rng.uniform(0, 0.3, 60)
    names = [w["class"] for w in tiny_class_warnings(scores3, labels3, ["a", "b", "c"], False, {"a": 50, "b": 50, "c": 50})]
    assert names == ["c"]
