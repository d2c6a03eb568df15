"""Metrics Keras lacks for multi-class training logs."""

from __future__ import annotations

import keras
import numpy as np
from keras import ops


@keras.saving.register_keras_serializable(package="seefood")
class MacroRecall(keras.metrics.Metric):
    """Mean over classes of per-class recall (= balanced accuracy): unlike accuracy it does not
    reward ignoring small classes."""

    def __init__(self, num_classes: int, name: str = "macro_recall", **kwargs):
        super().__init__(name=name, **kwargs)
        self.num_classes = num_classes
        self.hits = self.add_variable((num_classes,), initializer="zeros", name="hits")
        self.support = self.add_variable((num_classes,), initializer="zeros", name="support")

    def update_state(self, y_true, y_pred, sample_weight=None):
        true = ops.argmax(y_true, axis=-1)
        pred = ops.argmax(y_pred, axis=-1)
        onehot = ops.one_hot(true, self.num_classes)
        correct = ops.cast(ops.equal(true, pred), "float32")[:, None]
        self.hits.assign_add(ops.sum(onehot * correct, axis=0))
        self.support.assign_add(ops.sum(onehot, axis=0))

    def result(self):
        present = ops.cast(self.support > 0, "float32")
        recall = self.hits / ops.maximum(self.support, 1.0)
        return ops.sum(recall * present) / ops.maximum(ops.sum(present), 1.0)

    def reset_state(self):
        self.hits.assign(ops.zeros_like(self.hits))
        self.support.assign(ops.zeros_like(self.support))

    def get_config(self):
        return {**super().get_config(), "num_classes": self.num_classes}


@keras.saving.register_keras_serializable(package="seefood")
class LogitAdjustedCrossentropy(keras.losses.Loss):
    """Cross-entropy on logits shifted by ``log(prior)`` (logit adjustment, Menon et al. 2021).

    Computed from the model's probabilities (its output layer is a softmax or sigmoid): the logits
    are recovered as log-probabilities (up to a constant that softmax ignores) or the log-odds.
    Training on the natural class mix with this loss leaves the model's own scores balanced.
    """

    def __init__(self, priors: list[float], binary: bool, name: str = "logit_adjusted_crossentropy",
                 label_smoothing: float = 0.0, **kwargs):
        super().__init__(name=name, **kwargs)
        self.priors = [float(p) for p in priors]
        self.binary = binary
        self.label_smoothing = 0.0 if binary else float(label_smoothing)

    def call(self, y_true, y_pred):
        eps = 1e-7
        p = ops.clip(ops.cast(y_pred, "float32"), eps, 1.0 - eps)
        y_true = ops.cast(y_true, "float32")
        if self.binary:
            offset = float(np.log(self.priors[1] / self.priors[0]))
            logits = ops.log(p) - ops.log(1.0 - p) + offset
            return ops.mean(ops.binary_crossentropy(y_true, logits, from_logits=True), axis=-1)
        logits = ops.log(p) + ops.convert_to_tensor(np.log(self.priors), dtype="float32")
        if self.label_smoothing:
            y_true = y_true * (1.0 - self.label_smoothing) + self.label_smoothing / len(self.priors)
        return ops.categorical_crossentropy(y_true, logits, from_logits=True)

    def get_config(self):
        return {**super().get_config(), "priors": self.priors, "binary": self.binary,
                "label_smoothing": self.label_smoothing}
