"""The overfitting check that report.md, metrics.json and the terminal show (training/metrics.py)."""

from __future__ import annotations

import numpy as np
import pytest

from training.metrics import overfitting_check

MEMORISING = {"loss": [0.9, 0.6, 0.45, 0.35, 0.3, 0.25, 0.2], "val_loss": [0.8, 0.5, 0.4, 0.45, 0.55, 0.6, 0.7]}


def test_rising_validation_loss_while_training_loss_falls_is_overfitting():
    result = overfitting_check(MEMORISING, {"rule": "final", "epoch": 7})
    assert result["overfitting"] and result["best_val_loss_epoch"] == 3 and result["last_val_loss"] == 0.7
    assert "rose from 0.400 (epoch 3) to 0.700 (epoch 7)" in result["note"]
    assert "final weights were kept" in result["note"] and "--patience" in result["note"]


def test_the_note_names_the_epoch_that_early_stopping_kept():
    result = overfitting_check(MEMORISING, {"rule": "best", "epoch": 3, "monitor": "val_pr_auc"})
    assert "weights of epoch 3 (best val_pr_auc) were kept" in result["note"]
    assert "final weights" not in result["note"]


def test_falling_or_flat_validation_loss_is_not_overfitting():
    learning = {"loss": [0.9, 0.6, 0.5, 0.4], "val_loss": [0.8, 0.6, 0.5, 0.45]}
    assert not overfitting_check(learning)["overfitting"]
    both_rise = {"loss": [0.3, 0.2, 0.35, 0.4, 0.5], "val_loss": [0.5, 0.4, 0.5, 0.6, 0.7]}  # diverging, not memorising
    assert not overfitting_check(both_rise)["overfitting"]
    assert overfitting_check({"loss": [1.0, 0.5], "val_loss": [1.0, 0.9]})["note"] == "too few epochs to judge"


def test_early_stopping_keeps_the_best_epoch_across_both_phases_of_a_run():
    """A pretrained backbone trains in two fit() calls (frozen, then fine-tuned). The best epoch of the
    first must survive the second: Keras's own EarlyStopping forgets it at each fit."""
    import keras
    import numpy as np

    from training.callbacks import RunEarlyStopping

    keras.utils.set_random_seed(0)
    model = keras.Sequential([keras.Input((3,)), keras.layers.Dense(1)])
    model.compile(optimizer=keras.optimizers.SGD(0.1), loss="mse")
    x, y = np.random.default_rng(0).normal(size=(16, 3)), np.zeros((16, 1))
    scores = iter([0.5, 0.9, 0.6, 0.7, 0.8, 0.6])  # the best epoch is the 2nd, in the first phase
    snapshots = {}

    class Score(keras.callbacks.Callback):
        def on_epoch_end(self, epoch, logs=None):
            logs["val_score"] = next(scores)
            snapshots[epoch] = [w.copy() for w in self.model.get_weights()]

    stopper = RunEarlyStopping(monitor="val_score", mode="max", patience=10, restore_best_weights=True)
    model.fit(x, y, epochs=3, verbose=0, callbacks=[Score(), stopper])
    model.fit(x, y, epochs=6, initial_epoch=3, verbose=0, callbacks=[Score(), stopper])
    assert stopper.best_epoch == 1 and stopper.best == 0.9
    for kept, best in zip(model.get_weights(), snapshots[1]):
        np.testing.assert_array_equal(kept, best)


def test_the_numeric_core_matches_scikit_learn_on_ties_and_counts_unknown_as_a_miss():
    from sklearn.metrics import average_precision_score, f1_score, precision_score, recall_score

    from seefood.scoring import average_precision, confusion, decide_indices, per_class_rates, rates

    rng = np.random.default_rng(3)
    for _ in range(20):
        labels = rng.random(60) < 0.2
        scores = np.round(rng.random(60), 1)  # many ties, as quantized scores have
        if labels.any():
            assert average_precision(labels, scores) == pytest.approx(average_precision_score(labels, scores))
        predicted = scores >= 0.5
        p, r, f = rates(predicted, labels)
        assert (p, r, f) == pytest.approx((precision_score(labels, predicted, zero_division=0),
                                           recall_score(labels, predicted, zero_division=0),
                                           f1_score(labels, predicted, zero_division=0)))
    scores = np.array([[0.5, 0.3, 0.2], [0.2, 0.7, 0.1], [0.4, 0.35, 0.25], [0.1, 0.1, 0.8]])
    targets = np.array([0, 1, 2, 2])
    decided = decide_indices("multiclass", scores, 0.45)
    assert decided.tolist() == [0, 1, -1, 2]
    counts = confusion(decided, targets, 3)
    assert counts[2].tolist() == [0, 0, 1, 1]  # the last column counts "unknown"
    table = per_class_rates(counts)
    assert table["recall"].tolist() == [1.0, 1.0, 0.5] and table["precision"].tolist() == [1.0, 1.0, 1.0]
