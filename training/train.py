"""``seefood train``: audit the folder, rebalance, train with honest per-epoch metrics, pick the
threshold on validation data, and evaluate. Reads top to bottom: ``train(config)`` checks where
it will write, then ``prepare`` (audit, split, plan), ``fit`` and ``finish`` (threshold, report)."""

from __future__ import annotations

import dataclasses
import math
import os
import sys
import time
import uuid
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path

import numpy as np

from seefood import decoded_cache
from seefood.atomic import fresh_folder
from seefood.errors import InputError, write_failure
from seefood.ownership import check_apart, check_output_folder
from training import audit as audit_mod
from training.balance import format_plan, plan_balance
from training.cluster import reduce_nests, scratch_out, worker_role
from training.config import DEFAULT_HEAD_NORM, TrainConfig, auto_epochs
from training.dataset import discover
from training.run_io import (
    MODEL_FILE,
    RUN_FILE,
    SPLITS_FILE,
    load_run,
    save_model_atomic,
    save_out_of_fold,
    write_json_atomic,
)
from training.task import define_task


class TrainingFailed(InputError):
    """Training could not produce a usable model (loss became NaN, the disk filled up...); the
    message says why and what to change. The run folder is not kept."""


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


_MULTI_WORKER = None  # make_strategy's MultiWorkerMirroredStrategy, once created


def make_strategy(mode: str):
    """tf.distribute picked by the environment, not a second code path (nanoGPT's habit):
    TF_CONFIG -> MultiWorkerMirroredStrategy; several GPUs -> MirroredStrategy; several
    logical CPUs with ``mirrored`` -> MirroredStrategy over them; otherwise the default."""
    import tensorflow as tf

    if mode == "none":
        return tf.distribute.get_strategy()
    if os.environ.get("TF_CONFIG"):
        global _MULTI_WORKER
        if _MULTI_WORKER is None:  # TensorFlow sets up a process's collectives once: one strategy, reused
            _MULTI_WORKER = reduce_nests(tf.distribute.MultiWorkerMirroredStrategy())
        return _MULTI_WORKER
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


def check_outputs(cfg: TrainConfig) -> bool:
    """Before anything slow: may ``--out`` be written? True when it replaces an earlier run
    (``--force``). Never the data folder or the --init-from run, nor inside or around them."""
    out = Path(cfg.out)
    check_apart(out, Path(cfg.data_dir), "the data folder")
    if cfg.init_from:
        check_apart(out, Path(cfg.init_from), "the --init-from run")
    return check_output_folder(out, "run", cfg.force)


@dataclass
class Prepared:
    """What the audit and split decided, before any file of the run is written."""

    inv: object
    task: object
    audit: dict
    splits: dict[str, list[dict]]
    plan: object
    decode_counts: tuple = (0, 0, 0.0)  # decoded_cache.COUNTS before the audit
    checked: dict | None = None  # what the audit decoded (decoded_cache.summary)


def prepare(cfg: TrainConfig) -> Prepared:
    """Audit the folder (printed), split it by content hash, define the task, plan the balance."""
    split_seed = cfg.seed if cfg.split_seed is None else cfg.split_seed
    before, started = decoded_cache.COUNTS.snapshot(), time.perf_counter()
    inv = discover(cfg.data_dir, split_seed, cfg.val_fraction, cfg.test_fraction, cfg.min_image_side,
                   image_size=cfg.image_size)
    checked = decoded_cache.summary(before, decoded_cache.COUNTS.snapshot(), time.perf_counter() - started)
    _log(decoded_cache.format_summary(checked))
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
    plan = plan_balance(cfg.balance, [audit["class_counts"][c]["train"] for c in task.classes])
    _log(format_plan(plan, task.classes))
    if cfg.balance == "none" and audit["imbalance_ratio"] >= 3:
        _log("  ! no rebalancing on imbalanced data: expect low recall on the minority class at threshold 0.5")
    return Prepared(inv, task, audit, _split_lists(inv, task), plan, before, checked)


def train(cfg: TrainConfig, progress=None) -> Path:
    """Train a run into ``cfg.out``; returns it. Nothing is written before the audit passes, an
    earlier run (``--force``) is deleted only once the new one is finished, and a run that fails
    leaves no half-written folder behind. ``progress``: called once the audit is done (epoch 0,
    ``audit``: what it decoded), then with one dict per finished epoch (``training.callbacks.EpochProgress``:
    epoch, of, metrics, eta_s), e.g. by ``seefood retrain --json-progress``. Under a TF_CONFIG
    cluster (``worker_role``) only the chief writes ``cfg.out``; every other worker trains the same
    run into a scratch folder that is deleted."""
    role = worker_role(cfg.distribute)
    if role is None or role.chief:
        if role is not None:
            _log(f"Multi-worker: {role.name}, the chief: this worker writes the run to {cfg.out}")
        return _train(cfg, progress)
    check_apart(Path(cfg.out), Path(cfg.data_dir), "the data folder")  # what the chief refuses, refused here too
    with scratch_out(role) as scratch:
        _log(f"Multi-worker: {role.name}, not the chief: the chief writes the run to {cfg.out}; this worker "
             f"writes to the scratch folder {scratch.parent}, deleted at the end")
        _train(dataclasses.replace(cfg, out=str(scratch), force=False), progress)
    return Path(cfg.out)


def _train(cfg: TrainConfig, progress=None) -> Path:
    started = time.time()
    out = Path(cfg.out)
    replacing = check_outputs(cfg)
    setup_devices()
    prepared = prepare(cfg)
    if progress is not None:  # the audit is done: every photo hashed, new ones decoded into the cache
        progress({"epoch": 0, "audit": prepared.checked})
    with fresh_folder(out, replace=replacing):
        try:
            write_json_atomic(out / "config.json", cfg.to_dict())
            audit_mod.save_audit(prepared.audit, out / "audit.json")
            write_json_atomic(out / SPLITS_FILE, prepared.splits)
            model, history, kept = fit(cfg, out, prepared) if progress is None else fit(cfg, out, prepared, progress)
            trained = time.time() - started
            pooled = threshold_folds(cfg, prepared, len(history.get("loss", [])))
            finish(cfg, out, prepared, model, history, kept, trained, pooled)
        except OSError as error:
            raise TrainingFailed(f"{write_failure(error, out)}. Nothing of this run was kept in {out}") from error
    decoded_cache.keep_within_limit()
    return out


def fit(cfg: TrainConfig, out: Path, prepared: Prepared, progress=None):
    """Build, compile and fit the model; returns (model with the kept weights, history, which
    weights were kept: {"rule": "final" | "best", "epoch": N}). ``progress``: see ``train``."""
    import keras

    from training.callbacks import (
        AtomicCheckpoint,
        EpochProgress,
        EpochSummary,
        RunEarlyStopping,
        ValidationMetrics,
    )
    from training.fitting import build_compiled, fit_for_plan, fit_phases, loss_for
    from training.pipeline import training_dataset, validation_dataset

    task, plan, splits = prepared.task, prepared.plan, prepared.splits
    binary = task.kind == "binary"
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
    stream = lambda p: training_dataset(  # noqa: E731  (dataset, steps) for a balance plan
        train_paths, train_targets, cfg.image_size, task.num_outputs, binary, p, global_batch, cfg.seed,
        mixup=cfg.mixup, cutmix=cfg.cutmix,
    )
    train_ds, steps = stream(plan)
    val_ds = validation_dataset(val_paths, cfg.image_size, global_batch, replicas)
    epochs = cfg.epochs or auto_epochs(len(train_paths))
    model, backbone = build_compiled(cfg, task, plan, strategy, steps, epochs, cfg.seed, _log)

    monitor, mode = ("val_pr_auc", "max") if binary else ("val_loss", "min")
    (out / "checkpoints").mkdir(exist_ok=True)
    stopper = None
    if cfg.patience:
        stopper = RunEarlyStopping(monitor=monitor, mode=mode, patience=cfg.patience, verbose=1,
                                   restore_best_weights=True, start_from_epoch=epochs // 2)
    callbacks = [
        ValidationMetrics(val_ds, np.asarray(val_targets), binary, task.num_outputs,
                          loss_for(cfg.loss, binary, plan, cfg.label_smoothing)),
        keras.callbacks.TerminateOnNaN(),
        *([stopper] if stopper else []),
        AtomicCheckpoint(out / "checkpoints" / "last.keras"),
        keras.callbacks.CSVLogger(str(out / "history.csv"), append=True),  # one file over both phases
        keras.callbacks.TensorBoard(str(out / "logs"), write_graph=False, profile_batch=0),
        EpochSummary(binary, early_stopping=stopper is not None),
        *([EpochProgress(progress, epochs)] if progress is not None else []),
    ]
    verbose = 1 if sys.stdout.isatty() else 0  # EpochSummary prints one line per epoch either way
    fit_on = lambda ds, **kw: model.fit(ds, steps_per_epoch=steps, callbacks=callbacks, verbose=verbose,  # noqa: E731
                                        shuffle=False, **kw)
    run_fit, switch = fit_for_plan(fit_on, train_ds, plan, epochs, lambda p: stream(p)[0])
    deferring = f", photos drawn as they are until epoch {switch}, rebalanced from epoch {switch + 1}" if switch else ""
    budget = "" if cfg.epochs else f" (set from {len(train_paths)} training photos; --epochs N to change)"
    stopping = f", early stopping after epoch {epochs // 2} (patience {cfg.patience})" if stopper else ""
    targets = f", mixup alpha {cfg.mixup:g}" if cfg.mixup else ""  # what softens the training targets
    targets += f", cutmix alpha {cfg.cutmix:g}" if cfg.cutmix else ""
    if cfg.label_smoothing and not binary:
        targets += f", label smoothing {cfg.label_smoothing:g}"
    elif cfg.label_smoothing:
        _log(f"Note: --label-smoothing {cfg.label_smoothing:g} is for multi-class tasks; this binary task trains on "
             "hard targets (its threshold is chosen on validation scores instead)")
    _log(f"Training {cfg.model} at {cfg.image_size}px for {epochs} epochs{budget}{stopping}: {steps} steps of "
         f"{global_batch}, learning rate {cfg.learning_rate:g} with warm-up and cosine decay{targets}{deferring}")
    try:
        history = fit_phases(model, backbone, cfg, task, plan, strategy, steps, epochs, run_fit, _log)
    except KeyboardInterrupt:
        _log(f"\nInterrupted: the last finished epoch is saved in {out / 'checkpoints'}; "
             f"continue with `seefood train {cfg.data_dir} --out NEW_RUN --init-from {out}`")
        write_json_atomic(out / RUN_FILE, {"status": "interrupted", "task": task.kind, "classes": task.classes,
                                            "labels": task.labels, "positive_class": task.positive,
                                            "class_map": task.class_map})
        raise
    _check_finite(history, cfg)
    keras.mixed_precision.set_global_policy("float32")
    ran = len(history.get("loss", []))
    if stopper is not None and stopper.best_weights is not None:  # Keras restores them, stopped early or not
        kept = {"rule": "best", "epoch": int(stopper.best_epoch) + 1, "monitor": monitor}
        stopped = f"training stopped after epoch {ran}" if ran < epochs else f"all {ran} epochs ran"
        _log(f"Kept the weights of epoch {kept['epoch']} (best {monitor}); {stopped}")
    else:
        kept = {"rule": "final", "epoch": ran}
    role = worker_role(cfg.distribute)
    if role is not None:  # one line each worker prints alike: they trained the same model
        _log(f"Multi-worker: {role.name} final loss {history['loss'][-1]!r}, "
             f"val_loss {history.get('val_loss', [float('nan')])[-1]!r}")
    return model, history, kept


def threshold_folds(cfg: TrainConfig, prepared: Prepared, epochs: int) -> dict | None:
    """Out-of-fold scores of train+val for the threshold (``--threshold-folds K``, binary only)."""
    if not cfg.threshold_folds:
        return None
    if prepared.task.kind != "binary":
        _log("Threshold folds: skipped, a multi-class run answers its top class (no threshold to choose)")
        return None
    import keras

    from training.folds import out_of_fold_scores

    set_precision(cfg.mixed_precision)
    try:
        items = prepared.splits["train"] + prepared.splits["val"]
        return out_of_fold_scores(cfg, prepared.task, items, epochs, make_strategy(cfg.distribute), _log)
    finally:
        keras.mixed_precision.set_global_policy("float32")


def _check_finite(history: dict[str, list[float]], cfg: TrainConfig) -> None:
    """A loss that became NaN or infinite leaves a model that answers the same for every photo."""
    losses, val_losses = history.get("loss", []), history.get("val_loss", [])
    bad = next((i for i, v in enumerate(losses) if not math.isfinite(v)), None)
    if bad is None:
        bad = next((i for i, v in enumerate(val_losses) if not math.isfinite(v)), None)
    if bad is None:
        return
    epoch = bad + 1
    default = TrainConfig.__dataclass_fields__["learning_rate"].default
    lower = default if cfg.learning_rate > default else cfg.learning_rate / 10
    raise TrainingFailed(
        f"training diverged: the loss became NaN or infinite in epoch {epoch} (learning rate {cfg.learning_rate:g}), "
        f"so the model would answer the same for every photo. Train again with a lower --learning-rate "
        f"(e.g. --learning-rate {lower:g}); nothing of this run was kept in {cfg.out}"
    )


def finish(cfg: TrainConfig, out: Path, prepared: Prepared, model, history: dict, kept: dict,
           train_seconds: float, pooled: dict | None = None) -> None:
    """Save the model, choose the threshold (on validation, or on ``pooled`` out-of-fold scores),
    write run.json, evaluate and report."""
    import keras
    import tensorflow as tf

    from training.evaluate import choose_and_record_threshold, evaluate_run
    from training.threshold import balanced_point

    task, audit, splits, plan, inv = prepared.task, prepared.audit, prepared.splits, prepared.plan, prepared.inv
    binary = task.kind == "binary"
    tail = head = None
    if not binary:  # before saving: the model file, export, the app and phones all decide with it
        from training.balance import describe_head_norm, describe_tail_adjust
        from training.fitting import apply_head_norm, apply_tail_adjust

        head = apply_head_norm(model, task.classes, cfg.head_norm)  # recorded either way: the lengths as trained
        if cfg.head_norm:
            _log(describe_head_norm(head))
        tail = apply_tail_adjust(model, task.classes, [audit["class_counts"][c]["train"] for c in task.classes],
                                 cfg.tail_adjust)
        _log(describe_tail_adjust(tail))
    elif cfg.head_norm not in (0, DEFAULT_HEAD_NORM):  # asked for, not the default that every run carries
        _log(f"Note: --head-norm {cfg.head_norm:g} is for multi-class tasks; this binary task decides by its threshold")
    save_model_atomic(model, out / MODEL_FILE)
    val_items = [(e["path"], e["target"]) for e in splits["val"]]
    if pooled is not None:
        save_out_of_fold(out, pooled)
    prior = balanced_point(plan.effective_mix) if binary else None
    threshold_info = choose_and_record_threshold(model, val_items, binary, cfg.threshold_objective, cfg.image_size,
                                                 pooled, prior)
    run = {
        "run_id": f"{datetime.now(timezone.utc):%Y%m%d-%H%M%S}-{uuid.uuid4().hex[:6]}",
        "status": "finished",
        "task": task.kind,
        "classes": task.classes,
        "labels": task.labels,
        "positive_class": task.positive,
        "class_map": task.class_map,
        "threshold": threshold_info["threshold"],
        "threshold_objective": cfg.threshold_objective,
        "threshold_choice": threshold_info["choice"],
        "threshold_chosen_on": threshold_info["chosen_on"],
        "validation_curve": threshold_info["curve"],
        "preprocessing": _preprocessing(cfg).to_dict(),
        "dataset_fingerprint": audit["fingerprint"],
        "data_dir": inv.data_dir,
        "balance": plan.to_dict(task.classes),
        **({"tail_adjust": tail} if tail is not None else {}),
        **({"head_norm": head} if head is not None else {}),
        "epochs_run": len(history.get("loss", [])),
        "kept_weights": kept,
        "train_seconds": round(train_seconds, 1),
        "decoding": {"audit": prepared.checked,  # the audit's pass: where photos are decoded into the cache
                     "run": decoded_cache.summary(prepared.decode_counts, decoded_cache.COUNTS.snapshot())},
        "created": datetime.now(timezone.utc).isoformat(timespec="seconds"),
        "versions": {"tensorflow": tf.__version__, "keras": keras.__version__},
    }
    write_json_atomic(out / RUN_FILE, run)
    _log(f"Trained in {train_seconds:.0f} s ({run['epochs_run']} epochs); model saved to {out / MODEL_FILE}")
    evaluate_run(load_run(out), model=model, history=history)


def _split_lists(inv, task) -> dict[str, list[dict]]:
    splits: dict[str, list[dict]] = {"train": [], "val": [], "test": []}
    for ex in inv.examples:
        splits[ex.split].append({"path": ex.path, "class": ex.folder_class, "target": task.class_map[ex.folder_class]})
    return splits


def _preprocessing(cfg: TrainConfig):
    from training.models import preprocessing_for

    return preprocessing_for(cfg.model, cfg.image_size)
