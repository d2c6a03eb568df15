"""One model of a run, built, compiled and fitted: shared by the run's own model (training/train.py)
and the out-of-fold models that choose its threshold (training/folds.py), so both follow the same
recipe: AdamW on a warm-up + cosine schedule, the run's loss and balance, frozen then fine-tuned
phases for pretrained backbones."""

from __future__ import annotations

import json
from pathlib import Path

from training.config import TrainConfig
from training.dataset import DataError
from training.run_io import MODEL_FILE, RUN_FILE


def metrics_for(binary: bool, num_classes: int):
    import keras

    from training.keras_metrics import MacroRecall

    if binary:
        return [
            keras.metrics.BinaryAccuracy(name="accuracy"),
            keras.metrics.Precision(name="precision"),
            keras.metrics.Recall(name="recall"),
            keras.metrics.AUC(curve="PR", name="pr_auc"),
            keras.metrics.AUC(curve="ROC", name="roc_auc"),
        ]
    return [keras.metrics.CategoricalAccuracy(name="accuracy"), MacroRecall(num_classes, name="macro_recall")]


def loss_for(kind: str, binary: bool, plan=None, label_smoothing: float = 0.0):
    """The training (and validation) loss; ``label_smoothing`` applies to multi-class tasks only."""
    import keras

    smoothing = 0.0 if binary else float(label_smoothing)
    if plan is not None and plan.logit_adjusted:
        from training.keras_metrics import LogitAdjustedCrossentropy

        return LogitAdjustedCrossentropy(plan.raw_mix, binary, label_smoothing=smoothing)

    if kind == "focal":
        if binary:
            return keras.losses.BinaryFocalCrossentropy(gamma=2.0)
        return keras.losses.CategoricalFocalCrossentropy(gamma=2.0, label_smoothing=smoothing)
    return keras.losses.BinaryCrossentropy() if binary else keras.losses.CategoricalCrossentropy(label_smoothing=smoothing)


def phase_lengths(cfg: TrainConfig, epochs: int, transfer: bool) -> tuple[int, int]:
    """(frozen, fine-tune) epochs: a model trained from scratch has one phase of ``epochs``."""
    if not transfer:
        return epochs, 0
    fine = cfg.fine_tune_epochs or max(1, epochs // 3)
    return max(1, epochs - fine), fine


def compile_model(model, cfg: TrainConfig, task, plan, steps: int, phase_epochs: int, learning_rate: float) -> None:
    """AdamW on a schedule: one epoch of linear warm-up, then a cosine down to zero at the end
    of the phase, so the last weights are the settled ones and no epoch has to be picked."""
    import keras

    binary = task.kind == "binary"
    warmup = steps if phase_epochs > 1 else 0
    schedule = keras.optimizers.schedules.CosineDecay(
        0.0 if warmup else learning_rate, decay_steps=max(1, steps * phase_epochs - warmup), alpha=0.0,
        warmup_target=learning_rate if warmup else None, warmup_steps=warmup)
    model.compile(optimizer=keras.optimizers.AdamW(schedule, weight_decay=cfg.weight_decay),
                  loss=loss_for(cfg.loss, binary, plan, cfg.label_smoothing),
                  metrics=metrics_for(binary, task.num_outputs))
    # The optimizer's slots are made here, not by the first training step: made there, inside the traced train
    # function, they make TensorFlow trace that function a second time (Keras builds them early itself only
    # under a non-default strategy). One trace fewer per phase: about 10% off a quality-benchmark run, same scores
    # (docs/quality.md, label `optbuild`; tests/test_train.py counts the traces).
    model.optimizer.build(model.trainable_variables)


def build_compiled(cfg: TrainConfig, task, plan, strategy, steps: int, epochs: int, seed: int, log=print):
    """(model, backbone), compiled for its first phase under ``strategy``; ``backbone`` is the
    frozen keras.applications part (None for small_cnn)."""
    from training.balance import initial_bias
    from training.models import build_model

    binary = task.kind == "binary"
    with strategy.scope():
        model, backbone = build_model(
            cfg.model, cfg.image_size, task.num_outputs, binary, cfg.augment, cfg.weights, seed=seed,
            output_bias=initial_bias(plan, binary),
        )
        if cfg.init_from:
            init_from(model, Path(cfg.init_from), task, log)
        if backbone is not None:
            backbone.trainable = False
        frozen, _ = phase_lengths(cfg, epochs, backbone is not None)
        compile_model(model, cfg, task, plan, steps, frozen, cfg.learning_rate)
    return model, backbone


def fit_phases(model, backbone, cfg: TrainConfig, task, plan, strategy, steps: int, epochs: int, fit,
               log=print) -> dict[str, list[float]]:
    """Run ``fit(epochs=..., [initial_epoch=...])`` for each phase; returns the merged history.
    Pretrained backbones: frozen first, then unfrozen at a tenth of the learning rate."""
    frozen, fine = phase_lengths(cfg, epochs, backbone is not None)
    histories = []
    if backbone is None:
        histories.append(fit(epochs=epochs))
    else:
        log(f"Phase 1: backbone frozen, {frozen} epochs")
        histories.append(fit(epochs=frozen))
        log(f"Phase 2: fine-tuning the backbone at learning rate {cfg.learning_rate / 10:g}, {fine} epochs")
        with strategy.scope():
            backbone.trainable = True
            compile_model(model, cfg, task, plan, steps, fine, cfg.learning_rate / 10)
        done = len(histories[0].history.get("loss", []))
        histories.append(fit(epochs=done + fine, initial_epoch=done))
    return merged_history(histories)


def merged_history(parts) -> dict[str, list[float]]:
    """One history from several ``model.fit`` results (phases, or the two streams of a deferred plan)."""
    history: dict[str, list[float]] = {}
    for part in parts:
        for key, values in part.history.items():
            history.setdefault(key, []).extend(float(v) for v in values)
    return history


def init_from(model, run_dir: Path, task, log=print) -> None:
    """Start from an earlier run's weights: its finished model, or its last checkpoint."""
    from training.run_io import RunError, load_keras_model

    candidates = [run_dir / MODEL_FILE, run_dir / "checkpoints" / "last.keras"]
    source = next((p for p in candidates if p.is_file()), None)
    if source is None:
        raise DataError(f"--init-from {run_dir}: no model.keras or checkpoints/last.keras there")
    run_file = run_dir / RUN_FILE
    previous = {}
    if run_file.is_file():
        try:
            previous = json.loads(run_file.read_text(encoding="utf-8"))
        except (UnicodeDecodeError, ValueError, RecursionError) as error:
            raise DataError(f"--init-from {run_file}: cannot be read as JSON; the run folder is damaged") from error
        if isinstance(previous, dict) and previous.get("classes") and previous["classes"] != task.classes:
            raise DataError(
                f"--init-from {run_dir}: that run's classes {previous['classes']} differ from this folder's {task.classes}; "
                "train from scratch (drop --init-from) when classes change"
            )
    try:
        old = load_keras_model(source, "the --init-from model")
    except RunError as error:
        raise DataError(f"--init-from: {error}") from error
    try:
        model.set_weights(old.get_weights())
    except ValueError as error:
        raise DataError(f"--init-from {run_dir}: its model does not match this one ({error}); use the same --model and --image-size") from error
    log(f"Initialised from {source}")
    offsets = (previous.get("tail_adjust") or {}).get("offsets") if isinstance(previous, dict) else None
    if offsets and any(offsets.values()):  # train on from the model as trained; finish() adds this run's own offsets
        edit_output_layer(model, offsets=[-float(offsets.get(c, 0.0)) for c in task.classes])
        log("  (its small-class head start taken out of the output bias first: this run sets its own)")
    head = (previous.get("head_norm") or {}) if isinstance(previous, dict) else {}
    if undo_head_norm(model, task.classes, head):  # and its head's weights back to their trained lengths
        log("  (its weight-normalised head put back to the lengths it trained to: this run normalises its own)")


def undo_head_norm(model, classes: list[str], record: dict | None) -> bool:
    """Put a model saved with ``apply_head_norm``'s ``record`` back to the output weights it trained to
    (each class's column times its recorded norm ** exponent). False when there was nothing to undo."""
    record = record or {}
    if not (record.get("exponent") and record.get("norms")):
        return False
    norms = [float(record["norms"].get(c, 1.0)) for c in classes]
    edit_output_layer(model, factors=[n ** float(record["exponent"]) if n > 0 else 1.0 for n in norms])
    return True


def edit_output_layer(model, factors=None, offsets=None) -> None:
    """Multiply each class's column of the model's ``logits`` kernel (build_model's head) by ``factors[class]``
    and add ``offsets`` to its bias. With offsets, every softmax score ranks as if they were added to the logits."""
    import numpy as np

    layer = model.get_layer("logits")
    kernel, bias = layer.get_weights()
    if factors is not None:
        kernel = (kernel * np.asarray(factors, dtype=kernel.dtype)[None, :]).astype(kernel.dtype)
    if offsets is not None:
        bias = (bias + np.asarray(offsets, dtype=bias.dtype)).astype(bias.dtype)
    layer.set_weights([kernel, bias])


def apply_head_norm(model, classes: list[str], exponent: float) -> dict:
    """Divide each class's weights in a multi-class model's ``logits`` layer by their norm ** ``exponent``
    (Kang et al. 2020's tau-normalisation). Rebalanced training gives a small class the longest weight
    vector (the long tail's smallest class: 1.54-1.66 against 1.23-1.41 for the largest), and with the
    head start on top its few memorised photos decide too much of the score's scale; normalised, every
    class's logit is a direction match of the same length. Returns run.json's ``head_norm`` record
    ({exponent, the norms as trained}), from which ``init_from`` restores the trained weights."""
    import numpy as np

    kernel = model.get_layer("logits").get_weights()[0]
    norms = np.linalg.norm(kernel.astype(np.float64), axis=0)
    if exponent:
        edit_output_layer(model, factors=[1.0 / n ** exponent if n > 0 else 1.0 for n in norms])
    return {"exponent": exponent, "norms": dict(zip(classes, (round(float(n), 6) for n in norms)))}


def apply_tail_adjust(model, classes: list[str], train_counts: list[int], tau: float) -> dict:
    """Fold the small-class head start (``training.balance.tail_offsets``) into a multi-class model's
    output bias; returns run.json's ``tail_adjust`` record ({tau, offsets per class, train counts})."""
    from training.balance import tail_offsets

    offsets = tail_offsets(train_counts, tau)
    if any(offsets):
        edit_output_layer(model, offsets=offsets)
    return {"tau": tau, "offsets": dict(zip(classes, (round(o, 6) for o in offsets))),
            "train_counts": dict(zip(classes, train_counts))}


def deferred_fit(fit_on, natural, balanced, switch: int):
    """A ``fit(epochs=, initial_epoch=0)`` for fit_phases that trains on the ``natural`` dataset before
    epoch ``switch`` and on ``balanced`` from it (``--balance deferred``); ``fit_on(dataset, **kw)``
    runs one ``model.fit``. Returns an object with the merged ``history``, as model.fit does."""
    from types import SimpleNamespace

    def fit(epochs: int, initial_epoch: int = 0, **kw):
        parts = []
        if initial_epoch < switch:
            parts.append(fit_on(natural, epochs=min(switch, epochs), initial_epoch=initial_epoch, **kw))
        if epochs > max(switch, initial_epoch):
            parts.append(fit_on(balanced, epochs=epochs, initial_epoch=max(switch, initial_epoch), **kw))
        return SimpleNamespace(history=merged_history(parts))

    return fit


def fit_for_plan(fit_on, train_ds, plan, epochs: int, dataset_for):
    """(fit, switch): the ``fit(**kw)`` that fit_phases runs for ``plan``, and the epoch a deferred plan
    rebalances from (None otherwise). ``dataset_for(plan)`` builds a training stream for a plan (the one
    that built ``train_ds``); for ``--balance deferred`` it is called once more for the stream drawn as the
    photos are. The run's model and the threshold folds' models both train through this, so they follow
    the same recipe."""
    if not plan.deferred:
        return (lambda **kw: fit_on(train_ds, **kw)), None
    from training.balance import defer_epoch

    switch = defer_epoch(epochs)
    return deferred_fit(fit_on, dataset_for(plan.natural_plan()), train_ds, switch), switch

