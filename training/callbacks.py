"""Training callbacks that make the lessons visible while training runs."""

from __future__ import annotations

from pathlib import Path

import keras
import numpy as np


class EpochSummary(keras.callbacks.Callback):
    """One readable line per epoch (train vs validation), and a live overfitting warning when
    validation loss has risen for 3 epochs while training loss kept falling."""

    def __init__(self, binary: bool, early_stopping: bool = False):
        super().__init__()
        self.binary = binary
        self.early_stopping = early_stopping
        self.losses: list[float] = []
        self.val_losses: list[float] = []
        self.warned = False

    def on_epoch_end(self, epoch, logs=None):
        logs = logs or {}
        keys = ("precision", "recall", "pr_auc", "roc_auc") if self.binary else ("accuracy", "macro_recall")
        parts = [f"loss {logs.get('loss', float('nan')):.3f}/{logs.get('val_loss', float('nan')):.3f}"]
        parts += [f"{k} {logs.get(k, float('nan')):.3f}/{logs.get('val_' + k, float('nan')):.3f}" for k in keys]
        print(f"  epoch {epoch + 1} (train/val): " + ", ".join(parts), flush=True)
        self.losses.append(float(logs.get("loss", 0.0)))
        self.val_losses.append(float(logs.get("val_loss", 0.0)))
        if len(self.val_losses) >= 4 and not self.warned:
            v, t = self.val_losses[-4:], self.losses[-4:]
            if v[0] < v[1] < v[2] < v[3] and t[0] > t[3]:
                self.warned = True
                remedy = ("early stopping will keep the best epoch" if self.early_stopping else
                          "the learning rate is decaying to zero; if it keeps rising, add photos, or train with "
                          "--patience N to keep the best epoch")
                print(f"  ! overfitting: validation loss has risen 3 epochs in a row while training loss fell; {remedy}",
                      flush=True)


class EpochProgress(keras.callbacks.Callback):
    """Tells ``report`` (a function taking one dict) where training stands after every epoch:
    ``{"epoch": i, "of": n, "metrics": {loss, val_loss, val_pr_auc...}, "eta_s": s}``, for a caller
    that shows progress (``seefood retrain --json-progress``, the app's Retrain panel). ``of`` is the
    whole budget across a transfer backbone's two ``fit`` calls (their epochs count on)."""

    def __init__(self, report, total_epochs: int):
        super().__init__()
        self.report = report
        self.total = int(total_epochs)
        self.started: float | None = None
        self.first_epoch: int | None = None

    def on_train_begin(self, logs=None):
        import time

        if self.started is None:
            self.started = time.monotonic()

    def on_epoch_end(self, epoch, logs=None):
        import math
        import time

        if self.first_epoch is None:
            self.first_epoch = epoch
        done = epoch + 1 - self.first_epoch
        elapsed = time.monotonic() - (self.started or time.monotonic())
        remaining = max(0, self.total - (epoch + 1))
        metrics = {k: round(float(v), 4) for k, v in (logs or {}).items()
                   if isinstance(v, (int, float, np.floating)) and math.isfinite(float(v))}
        self.report({"epoch": epoch + 1, "of": self.total, "metrics": metrics,
                     "eta_s": round(elapsed / max(1, done) * remaining, 1)})


class RunEarlyStopping(keras.callbacks.EarlyStopping):
    """Early stopping over the whole run, across its ``fit`` calls (a pretrained backbone's frozen
    phase, then its fine-tuning): Keras resets an EarlyStopping at each ``fit``, so a better epoch of
    the frozen phase was forgotten and the fine-tuning phase restored its own best instead. Here the
    best epoch, its weights and the patience count carry over; each phase still ends on the best
    weights so far (the fine-tuning starts from them)."""

    def on_train_begin(self, logs=None):
        if not getattr(self, "_begun", False):
            self._begun = True
            super().on_train_begin(logs)
        self.stopped_epoch = 0  # "stopped" describes the phase that just ran


class ValidationMetrics(keras.callbacks.Callback):
    """Scores the validation photos after every epoch and puts ``val_loss`` and ``val_<metric>``
    into the epoch's logs, for the callbacks after it (early stopping, checkpoints, CSV,
    TensorBoard, the progress bar). It replaces Keras's own validation pass, for two reasons:
    the numbers are computed exactly as the final report computes them (average precision, not
    a 200-bucket AUC), and the last partial batch is padded and its blanks dropped, so a model
    on several replicas is judged on exactly the validation photos (Keras's pass either gives a
    replica an empty batch or counts padding in unweighted metrics). Put it first in the list.
    """

    def __init__(self, dataset, labels: np.ndarray, binary: bool, num_classes: int, loss):
        super().__init__()
        self.dataset = dataset  # decoded once (cached), padded to whole batches
        self.labels = np.asarray(labels).reshape(-1).astype(int)
        self.binary = binary
        self.num_classes = num_classes
        self.loss = loss

    def on_epoch_end(self, epoch, logs=None):
        from training.metrics import epoch_metrics

        if logs is None:
            return
        n = len(self.labels)
        scores = np.asarray(self.model.predict(self.dataset, verbose=0), dtype=np.float32)[:n]
        if not np.all(np.isfinite(scores)):  # diverged: nothing to measure, and nothing to keep training
            keys = ("precision", "recall", "accuracy", "pr_auc", "roc_auc") if self.binary else ("accuracy", "macro_recall")
            logs.update({"val_loss": float("nan"), **{f"val_{k}": float("nan") for k in keys}})
            self.model.stop_training = True
            return
        if self.binary:
            scores = scores.reshape(-1)
            targets = self.labels.astype(np.float32).reshape(-1, 1)
            preds = scores.reshape(-1, 1)
        else:
            targets = np.eye(self.num_classes, dtype=np.float32)[self.labels]
            preds = scores
        logs["val_loss"] = float(keras.ops.convert_to_numpy(self.loss(targets, preds)))
        for key, value in epoch_metrics(scores, self.labels, self.binary, self.num_classes).items():
            logs[f"val_{key}"] = value


class AtomicCheckpoint(keras.callbacks.Callback):
    """The model after every epoch (checkpoints/last.keras, what ``--init-from`` continues from
    after Ctrl-C), written beside ``path`` and renamed into place: a run killed mid-save (Ctrl-C,
    power, a full disk) never leaves a truncated checkpoint for ``--init-from`` to trip over."""

    def __init__(self, path: Path):
        super().__init__()
        self.path = Path(path)

    def on_epoch_end(self, epoch, logs=None):
        from training.run_io import save_model_atomic

        save_model_atomic(self.model, self.path)
