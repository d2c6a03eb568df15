"""Metrics Keras lacks for multi-class training logs."""

from __future__ import annotations

import keras
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
