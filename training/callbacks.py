"""Training callbacks that make the lessons visible while training runs."""

from __future__ import annotations

from pathlib import Path

import keras


class EpochSummary(keras.callbacks.Callback):
    """One readable line per epoch (train vs validation), and a live overfitting warning when
    validation loss has risen for 3 epochs while training loss kept falling."""

    def __init__(self, binary: bool):
        super().__init__()
        self.binary = binary
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
                print(
                    "  ! overfitting: validation loss has risen 3 epochs in a row while training loss fell; "
                    "early stopping will keep the best epoch",
                    flush=True,
                )


class InterruptCheckpoint(keras.callbacks.Callback):
    """On Ctrl-C the last finished epoch is already in checkpoints/last.keras (ModelCheckpoint);
    this records how far training got so the run can be continued with --init-from."""

    def __init__(self, run_dir: Path):
        super().__init__()
        self.run_dir = Path(run_dir)
        self.epochs_done = 0

    def on_epoch_end(self, epoch, logs=None):
        self.epochs_done = epoch + 1
        (self.run_dir / "checkpoints" / "progress.txt").write_text(f"epochs_done={self.epochs_done}\n", encoding="utf-8")
