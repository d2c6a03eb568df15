"""``seefood train``: audit the folder, rebalance, train with honest per-epoch metrics, pick the
threshold on validation data, and evaluate. Reads top to bottom: ``train(config)``."""

from __future__ import annotations

import json
import os
import shutil
import sys
import time
import uuid
from datetime import datetime, timezone
from pathlib import Path

import numpy as np

from training import audit as audit_mod
from training.balance import format_plan, initial_bias, plan_balance
from training.config import TrainConfig
from training.dataset import DataError, discover
from training.run_io import MODEL_FILE, RUN_FILE, SPLITS_FILE, load_run, save_model_atomic, write_json_atomic
from training.task import define_task


class RunExistsError(FileExistsError):
    pass


def _log(message: str) -> None:
    print(message, flush=True)


def setup_devices() -> None:
    """``SEEFOOD_CPU_DEVICES=N`` splits the CPU into N logical devices (to exercise the
    multi-device strategy path on a machine without GPUs). Must run before TF initialises."""
    import tensorflow as tf

    n = int(os.environ.get("SEEFOOD_CPU_DEVICES", "0") or 0)
    if n > 1:
        cpu = tf.config.list_physical_devices("CPU")[0]
        try:
            tf.config.set_logical_device_configuration(cpu, [tf.config.LogicalDeviceConfiguration()] * n)
        except RuntimeError:
            pass  # already initialised: keep what is there


def make_strategy(mode: str):
    """tf.distribute picked by the environment, not a second code path (nanoGPT's habit):
    TF_CONFIG -> MultiWorkerMirroredStrategy; several GPUs -> MirroredStrategy; several
    logical CPUs with ``mirrored`` -> MirroredStrategy over them; otherwise the default."""
    import tensorflow as tf

    if mode == "none":
        return tf.distribute.get_strategy()
    if os.environ.get("TF_CONFIG"):
        return tf.distribute.MultiWorkerMirroredStrategy()
    gpus = tf.config.list_logical_devices("GPU")
    if len(gpus) > 1:
        return tf.distribute.MirroredStrategy()
    cpus = tf.config.list_logical_devices("CPU")
    if mode == "mirrored" and not gpus and len(cpus) > 1:
        return tf.distribute.MirroredStrategy([d.name for d in cpus])
    if mode == "mirrored":
        return tf.distribute.MirroredStrategy()
    return tf.distribute.get_strategy()


def set_precision(mode: str) -> str:
    import keras
    import tensorflow as tf

    on = mode == "on" or (mode == "auto" and bool(tf.config.list_physical_devices("GPU")))
    policy = "mixed_float16" if on else "float32"
    keras.mixed_precision.set_global_policy(policy)
    return policy


def prepare_run_dir(out: Path, force: bool) -> None:
    if out.exists() and any(out.iterdir()):
        if not force:
            raise RunExistsError(
                f"{out}: run folder exists and is not empty; choose another --out, or pass --force to replace it"
            )
        shutil.rmtree(out)
    out.mkdir(parents=True, exist_ok=True)


def _split_lists(inv, task) -> dict[str, list[dict]]:
    splits: dict[str, list[dict]] = {"train": [], "val": [], "test": []}
    for ex in inv.examples:
        splits[ex.split].append({"path": ex.path, "class": ex.folder_class, "target": task.class_map[ex.folder_class]})
    return splits


def _metrics(binary: bool, num_classes: int):
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


def _loss(kind: str, binary: bool):
    import keras

    if kind == "focal":
        return keras.losses.BinaryFocalCrossentropy(gamma=2.0) if binary else keras.losses.CategoricalFocalCrossentropy(gamma=2.0)
    return keras.losses.BinaryCrossentropy() if binary else keras.losses.CategoricalCrossentropy()


def train(cfg: TrainConfig) -> Path:
    started = time.time()
    out = Path(cfg.out)
    setup_devices()
    import keras
    import tensorflow as tf

    from training.callbacks import EpochSummary, InterruptCheckpoint, ValidationMetrics
    from training.models import build_model
    from training.pipeline import training_dataset, validation_dataset

    split_seed = cfg.seed if cfg.split_seed is None else cfg.split_seed
    inv = discover(cfg.data_dir, split_seed, cfg.val_fraction, cfg.test_fraction, cfg.min_image_side)
    train_counts_folder = {c: 0 for c in inv.folder_classes}
    for ex in inv.examples:
        if ex.split == "train":
            train_counts_folder[ex.folder_class] += 1
    task = define_task(inv.folder_classes, train_counts_folder, cfg.positive)
    if cfg.positive is None and task.kind == "binary":
        cfg.positive = task.positive
    audit = audit_mod.build_audit(inv, task)
    _log(audit_mod.format_audit(audit))
    audit_mod.check_splittable(audit)
    prepare_run_dir(out, cfg.force)
    cfg.save(out / "config.json")
    audit_mod.save_audit(audit, out / "audit.json")
    splits = _split_lists(inv, task)
    write_json_atomic(out / SPLITS_FILE, splits)

    binary = task.kind == "binary"
    train_counts = [audit["class_counts"][c]["train"] for c in task.classes]
    plan = plan_balance(cfg.balance, train_counts)
    _log(format_plan(plan, task.classes))
    if cfg.balance == "none" and audit["imbalance_ratio"] >= 3:
        _log("  ! no rebalancing on imbalanced data: expect low recall on the minority class at threshold 0.5")

    policy = set_precision(cfg.mixed_precision)
    strategy = make_strategy(cfg.distribute)
    replicas = strategy.num_replicas_in_sync
    _log(f"Devices: {replicas} replica(s) with {type(strategy).__name__}; precision policy {policy}")
    keras.utils.set_random_seed(cfg.seed)

    train_paths = [e["path"] for e in splits["train"]]
    train_targets = [e["target"] for e in splits["train"]]
    val_paths = [e["path"] for e in splits["val"]]
    val_targets = [e["target"] for e in splits["val"]]
    global_batch = cfg.batch_size * replicas
    train_ds, steps = training_dataset(
        train_paths, train_targets, cfg.image_size, task.num_outputs, binary, plan, global_batch, cfg.seed
    )
    val_ds = validation_dataset(val_paths, cfg.image_size, global_batch, replicas)

    with strategy.scope():
        model, backbone = build_model(
            cfg.model, cfg.image_size, task.num_outputs, binary, cfg.augment, cfg.weights, seed=cfg.seed,
            output_bias=initial_bias(plan, binary),
        )
        if cfg.init_from:
            _init_from(model, Path(cfg.init_from), task)
        if backbone is not None:
            backbone.trainable = False
        model.compile(
            optimizer=keras.optimizers.Adam(cfg.learning_rate),
            loss=_loss(cfg.loss, binary),
            metrics=_metrics(binary, task.num_outputs),
        )

    monitor, mode = ("val_pr_auc", "max") if binary else ("val_loss", "min")
    (out / "checkpoints").mkdir(exist_ok=True)
    callbacks = [
        ValidationMetrics(val_ds, np.asarray(val_targets), binary, task.num_outputs, _loss(cfg.loss, binary)),
        keras.callbacks.EarlyStopping(monitor=monitor, mode=mode, patience=cfg.patience, restore_best_weights=True, verbose=1),
        keras.callbacks.ReduceLROnPlateau(monitor="val_loss", factor=0.5, patience=max(2, cfg.patience // 2), min_lr=1e-5, verbose=1),
        keras.callbacks.ModelCheckpoint(str(out / "checkpoints" / "last.keras")),
        keras.callbacks.ModelCheckpoint(str(out / "checkpoints" / "best.keras"), monitor=monitor, mode=mode, save_best_only=True),
        keras.callbacks.CSVLogger(str(out / "history.csv")),
        keras.callbacks.TensorBoard(str(out / "logs"), write_graph=False, profile_batch=0),
        EpochSummary(binary),
        InterruptCheckpoint(out),
    ]
    verbose = 1 if sys.stdout.isatty() else 0  # EpochSummary prints one line per epoch either way
    histories = []
    status = "finished"
    run_id = f"{datetime.now(timezone.utc):%Y%m%d-%H%M%S}-{uuid.uuid4().hex[:6]}"
    _log(f"Training {cfg.model} at {cfg.image_size}px for up to {cfg.epochs} epochs ({steps} steps of {global_batch})")
    try:
        if backbone is None:
            histories.append(model.fit(train_ds, epochs=cfg.epochs, steps_per_epoch=steps, callbacks=callbacks, verbose=verbose, shuffle=False))
        else:
            fine = cfg.fine_tune_epochs or max(1, cfg.epochs // 3)
            frozen = max(1, cfg.epochs - fine)
            _log(f"Phase 1: backbone frozen, {frozen} epochs")
            histories.append(model.fit(train_ds, epochs=frozen, steps_per_epoch=steps, callbacks=callbacks, verbose=verbose, shuffle=False))
            _log(f"Phase 2: fine-tuning the backbone at learning rate {cfg.learning_rate / 10:g}, {fine} epochs")
            with strategy.scope():
                backbone.trainable = True
                model.compile(
                    optimizer=keras.optimizers.Adam(cfg.learning_rate / 10),
                    loss=_loss(cfg.loss, binary),
                    metrics=_metrics(binary, task.num_outputs),
                )
            done = len(histories[0].history.get("loss", []))
            histories.append(model.fit(train_ds, epochs=done + fine, initial_epoch=done, steps_per_epoch=steps, callbacks=callbacks, verbose=verbose, shuffle=False))
    except KeyboardInterrupt:
        status = "interrupted"
        _log(f"\nInterrupted: the last finished epoch is saved in {out / 'checkpoints'}; "
             f"continue with `seefood train {cfg.data_dir} --out NEW_RUN --init-from {out}`")

    history: dict[str, list[float]] = {}
    for h in histories:
        for key, values in h.history.items():
            history.setdefault(key, []).extend(float(v) for v in values)
    train_seconds = time.time() - started

    if status == "interrupted":
        write_json_atomic(out / RUN_FILE, {"run_id": run_id, "status": status, "task": task.kind, "classes": task.classes,
                                            "labels": task.labels, "positive_class": task.positive, "class_map": task.class_map})
        raise KeyboardInterrupt

    keras.mixed_precision.set_global_policy("float32")
    save_model_atomic(model, out / MODEL_FILE)
    from training.evaluate import choose_and_record_threshold, evaluate_run

    val_items = [(e["path"], e["target"]) for e in splits["val"]]
    threshold_info = choose_and_record_threshold(model, val_items, task.kind == "binary", cfg.threshold_objective,
                                                 cfg.image_size)
    run = {
        "run_id": run_id,
        "status": status,
        "task": task.kind,
        "classes": task.classes,
        "labels": task.labels,
        "positive_class": task.positive,
        "class_map": task.class_map,
        "threshold": threshold_info["threshold"],
        "threshold_objective": cfg.threshold_objective,
        "threshold_choice": threshold_info["choice"],
        "validation_curve": threshold_info["curve"],
        "preprocessing": _preprocessing(cfg).to_dict(),
        "dataset_fingerprint": audit["fingerprint"],
        "data_dir": inv.data_dir,
        "balance": plan.to_dict(task.classes),
        "epochs_run": len(history.get("loss", [])),
        "train_seconds": round(train_seconds, 1),
        "created": datetime.now(timezone.utc).isoformat(timespec="seconds"),
        "versions": {"tensorflow": tf.__version__, "keras": keras.__version__},
    }
    write_json_atomic(out / RUN_FILE, run)
    _log(f"Trained in {train_seconds:.0f} s ({run['epochs_run']} epochs); model saved to {out / MODEL_FILE}")
    evaluate_run(load_run(out), model=model, history=history)
    return out


def _preprocessing(cfg: TrainConfig):
    from training.models import preprocessing_for

    return preprocessing_for(cfg.model, cfg.image_size)


def _init_from(model, run_dir: Path, task) -> None:
    """Start from an earlier run's weights: its finished model, or its last checkpoint."""
    import keras

    candidates = [run_dir / MODEL_FILE, run_dir / "checkpoints" / "last.keras"]
    source = next((p for p in candidates if p.is_file()), None)
    if source is None:
        raise DataError(f"--init-from {run_dir}: no model.keras or checkpoints/last.keras there")
    run_file = run_dir / RUN_FILE
    if run_file.is_file():
        previous = json.loads(run_file.read_text(encoding="utf-8"))
        if previous.get("classes") and previous["classes"] != task.classes:
            raise DataError(
                f"--init-from {run_dir}: that run's classes {previous['classes']} differ from this folder's {task.classes}; "
                "train from scratch (drop --init-from) when classes change"
            )
    old = keras.models.load_model(source, compile=False)
    try:
        model.set_weights(old.get_weights())
    except ValueError as error:
        raise DataError(f"--init-from {run_dir}: its model does not match this one ({error}); use the same --model and --image-size") from error
    _log(f"Initialised from {source}")
