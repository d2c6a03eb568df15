"""Out-of-fold scores for choosing the binary threshold on more photos than the validation split holds.

A small folder's validation split holds a handful of photos of the positive class (45 positives at
15% give 7), and the F1 curve of 7 photos is mostly noise: the threshold it picks moved test F1 by
up to 0.13 on the quality benchmark's binary tasks (docs/quality.md). With ``--threshold-folds K``,
K more models are trained with the run's own recipe, each on train+val minus one fold (stratified by
class, seeded), and each scores the fold it did not see. Every photo of train+val then has one score
from a model that never trained on it, and the threshold is chosen on all of them (for the same
objective, bagged as in training/threshold.py). The run's own model, trained on the training split,
is the one that ships; the folds only decide where its threshold goes, and cost K more trainings of
about (K-1)/K x (train+val) photos each.

Measured on six benchmark models (docs/quality.md): mean test F1 0.667 against 0.638 for the
validation split alone, but 0.686 for the default rule (the validation choice pulled towards 0.5),
at about four times the training time. So it is an option, for recipes without a balanced point
(``--balance none``), not the default.
"""

from __future__ import annotations

import time

import numpy as np

from training.balance import plan_balance
from training.config import TrainConfig


def assign_folds(targets: list[int], folds: int, seed: int) -> np.ndarray:
    """Fold number per photo: each class shuffled (seeded) and dealt round-robin, so every fold
    holds its share of every class (a class with fewer photos than folds is missing from some)."""
    targets_arr = np.asarray(targets)
    out = np.empty(len(targets_arr), dtype=np.int64)
    rng = np.random.default_rng(seed)
    offset = 0
    for cls in np.unique(targets_arr):
        idx = np.flatnonzero(targets_arr == cls)
        rng.shuffle(idx)
        out[idx] = (np.arange(len(idx)) + offset) % folds
        offset += len(idx)  # the next class starts where this one ended: folds stay the same size
    return out


def usable_folds(targets: list[int], wanted: int) -> int:
    """``wanted``, or fewer when a class has so few photos that a fold's training part would lack it."""
    counts = np.bincount(np.asarray(targets))
    counts = counts[counts > 0]
    return int(min(wanted, counts.min())) if len(counts) else 0


def out_of_fold_scores(cfg: TrainConfig, task, items: list[dict], epochs: int, strategy, log=print) -> dict | None:
    """Scores of ``items`` (train+val: dicts with path and target), each from a model that never
    trained on it; None when there are too few photos of a class for two folds or a fold diverged
    (the caller then keeps the validation split's choice and says why)."""
    import keras

    from training.fitting import build_compiled, fit_for_plan, fit_phases
    from training.pipeline import predict_scores, training_dataset

    targets = [e["target"] for e in items]
    folds = usable_folds(targets, cfg.threshold_folds)
    if folds < 2:
        log(f"Threshold folds: a class has {folds} photo(s) in train+val, too few for 2 folds; "
            "the threshold is chosen on the validation split")
        return None
    if folds < cfg.threshold_folds:
        log(f"Threshold folds: {folds} instead of {cfg.threshold_folds} (a class has only {folds} photos in train+val)")
    binary = task.kind == "binary"
    batch = cfg.batch_size * strategy.num_replicas_in_sync
    fold_of = assign_folds(targets, folds, cfg.seed)
    scores = np.full(len(items), np.nan)
    started = time.time()
    log(f"Threshold folds: training {folds} more models, each on {folds - 1}/{folds} of the {len(items)} train+val "
        f"photos for {epochs} epochs, to score the photos it did not see")
    for k in range(folds):
        held = np.flatnonzero(fold_of == k)
        kept = np.flatnonzero(fold_of != k)
        paths = [items[i]["path"] for i in kept]
        fold_targets = [targets[i] for i in kept]
        plan = plan_balance(cfg.balance, np.bincount(fold_targets, minlength=len(task.classes)).tolist())
        stream = lambda p: training_dataset(paths, fold_targets, cfg.image_size, task.num_outputs,  # noqa: E731
                                            binary, p, batch, cfg.seed + 7919 * (k + 1), mixup=cfg.mixup,
                                            cutmix=cfg.cutmix)
        ds, steps = stream(plan)
        model, backbone = build_compiled(cfg, task, plan, strategy, steps, epochs, cfg.seed + 7919 * (k + 1),
                                         log=lambda _message: None)
        fit_on = lambda data, **kw: model.fit(data, steps_per_epoch=steps, verbose=0, shuffle=False,  # noqa: E731
                                              callbacks=[keras.callbacks.TerminateOnNaN()], **kw)
        fit, _ = fit_for_plan(fit_on, ds, plan, epochs, lambda p: stream(p)[0])
        fit_phases(model, backbone, cfg, task, plan, strategy, steps, epochs, fit, log=lambda _message: None)
        fold_scores = predict_scores(model, [items[i]["path"] for i in held], cfg.image_size, 64, binary)
        if not np.all(np.isfinite(fold_scores)):
            log(f"Threshold folds: fold {k + 1} diverged (NaN scores); the threshold is chosen on the validation split")
            return None
        scores[held] = fold_scores
        log(f"  fold {k + 1}/{folds}: scored {len(held)} photos ({time.time() - started:.0f} s so far)")
    return {"scores": scores, "labels": np.asarray(targets), "folds": folds,
            "seconds": round(time.time() - started, 1)}
