"""Subcommands of the training stage: train, evaluate, predict. No TensorFlow at import time."""

from __future__ import annotations

import argparse
from pathlib import Path

from seefood.quiet import import_tensorflow
from training.config import AUGMENTS, BALANCES, LOSSES, MODELS, TrainConfig


def register(subparsers) -> None:
    defaults = TrainConfig(data_dir="", out="")
    p = subparsers.add_parser("train", help="train a classifier on DATA_DIR/<class>/ photos",
                              formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    p.add_argument("data_dir", metavar="DATA_DIR", help="DATA_DIR/<class>/* or DATA_DIR/{train,val,test}/<class>/*")
    p.add_argument("--out", required=True, metavar="RUN_DIR", help="run folder to create")
    p.add_argument("--model", choices=MODELS, default=defaults.model)
    p.add_argument("--weights", default=defaults.weights, help="none, imagenet, or a local weights file")
    p.add_argument("--image-size", type=int, default=0, help="input side in pixels (0: the model's default)")
    p.add_argument("--epochs", type=int, default=defaults.epochs,
                   help="training budget in epochs (0: set from the folder's size)")
    p.add_argument("--batch-size", type=int, default=defaults.batch_size)
    p.add_argument("--learning-rate", type=float, default=defaults.learning_rate,
                   help="peak learning rate (one warm-up epoch, then cosine decay to 0)")
    p.add_argument("--weight-decay", type=float, default=defaults.weight_decay, help="AdamW weight decay")
    p.add_argument("--augment", choices=AUGMENTS, default=defaults.augment)
    p.add_argument("--mixup", type=float, default=defaults.mixup, metavar="ALPHA",
                   help="blend training photos in pairs, lambda ~ Beta(ALPHA, ALPHA) (0: off)")
    p.add_argument("--cutmix", type=float, default=defaults.cutmix, metavar="ALPHA",
                   help="paste a box of another training photo into half of them, area share 1 - lambda, "
                        "lambda ~ Beta(ALPHA, ALPHA) (0: off)")
    p.add_argument("--tail-adjust", type=float, default=defaults.tail_adjust, metavar="TAU",
                   help="multi-class: a head start of TAU*log(n_largest/n_class) on each smaller class's logit, for more "
                        "recall on small classes at some cost to the large ones (default %(default)s; 0: plain argmax; "
                        "docs/quality.md)")
    p.add_argument("--head-norm", type=float, default=defaults.head_norm, metavar="G",
                   help="multi-class: divide each class's output weights by their length ** G after training, so a "
                        "small class that rebalancing pushed hard does not win on weight length (default %(default)s; "
                        "0: as trained; docs/quality.md)")
    p.add_argument("--label-smoothing", type=float, default=defaults.label_smoothing, metavar="S",
                   help="multi-class: train towards 1-S+S/K for the true class instead of 1, so a small class's few, "
                        "oversampled photos are not memorised as hard (default %(default)s; 0: off; binary ignores it)")
    p.add_argument("--balance", choices=BALANCES, default=defaults.balance)
    p.add_argument("--loss", choices=LOSSES, default=defaults.loss, help="focal down-weights easy examples")
    p.add_argument("--positive", metavar="CLASS", help="binary task: CLASS against all other classes merged")
    p.add_argument("--threshold-objective", default=defaults.threshold_objective,
                   help="binary: f1, recall>=X or precision>=X; multi-class: f1 (the top class, never 'unknown'), "
                        "coverage>=X (answer 'unknown' for the least sure 1-X), recall>=X or precision>=X")
    p.add_argument("--threshold-folds", type=int, default=defaults.threshold_folds, metavar="K",
                   help="binary: train K more models on folds of train+val and choose the threshold on their "
                        "out-of-fold scores (K more trainings; on the benchmark no better than the default rule; 0: off)")
    p.add_argument("--val-fraction", type=float, default=defaults.val_fraction)
    p.add_argument("--test-fraction", type=float, default=defaults.test_fraction)
    p.add_argument("--seed", type=int, default=defaults.seed)
    p.add_argument("--mixed-precision", choices=("auto", "on", "off"), default=defaults.mixed_precision)
    p.add_argument("--distribute", choices=("auto", "mirrored", "none"), default=defaults.distribute)
    p.add_argument("--patience", type=int, default=defaults.patience,
                   help="early stopping after N epochs without improvement, never in the first half (0: off)")
    p.add_argument("--fine-tune-epochs", type=int, default=0, help="transfer models: epochs after unfreezing (0: a third)")
    p.add_argument("--init-from", metavar="RUN_DIR", help="start from an earlier run's weights")
    p.add_argument("--force", action="store_true", help="replace an existing run folder")
    p.set_defaults(func=_train)

    e = subparsers.add_parser("evaluate", help="metrics, plots and report for a run")
    e.add_argument("run_dir", metavar="RUN_DIR")
    e.add_argument("data_dir", metavar="DATA_DIR", nargs="?", help="evaluate on this folder instead of the run's test split")
    e.add_argument("--threshold-objective", metavar="OBJ",
                   help="choose the threshold again on validation for f1, recall>=X or precision>=X (updates run.json)")
    e.set_defaults(func=_evaluate)

    r = subparsers.add_parser("predict", help="classify image files or folders with a run or a bundle")
    r.add_argument("model", metavar="MODEL", help="run folder or exported bundle folder")
    r.add_argument("paths", metavar="PATH", nargs="+")
    r.add_argument("--json", action="store_true", help="one JSON object per line")
    r.add_argument("--threshold", type=float, help="decision threshold (default: the model's)")
    r.set_defaults(func=_predict)


def _train(args) -> int:
    from training.threshold import parse_objective

    cfg = TrainConfig(
        data_dir=args.data_dir, out=args.out, model=args.model, weights=args.weights, image_size=args.image_size,
        epochs=args.epochs, batch_size=args.batch_size, learning_rate=args.learning_rate,
        weight_decay=args.weight_decay, augment=args.augment, mixup=args.mixup, cutmix=args.cutmix,
        tail_adjust=args.tail_adjust, head_norm=args.head_norm, label_smoothing=args.label_smoothing,
        balance=args.balance, loss=args.loss, positive=args.positive, threshold_objective=args.threshold_objective,
        threshold_folds=args.threshold_folds,
        val_fraction=args.val_fraction, test_fraction=args.test_fraction, seed=args.seed,
        mixed_precision=args.mixed_precision, distribute=args.distribute, patience=args.patience,
        fine_tune_epochs=args.fine_tune_epochs, init_from=args.init_from, force=args.force,
    )
    parse_objective(cfg.threshold_objective)  # a bad objective fails before the slow work
    import_tensorflow()
    from training.train import train

    train(cfg)  # data, output-folder, weights and diverged-run errors are SeeFoodErrors: seefood.cli prints them
    return 0


def _evaluate(args) -> int:
    from training.evaluate import evaluate_run, retune_run
    from training.run_io import load_run
    from training.threshold import parse_objective

    run = load_run(args.run_dir)
    import_tensorflow()
    model = None
    if args.threshold_objective:
        parse_objective(args.threshold_objective)  # before the slow model load
        model = run.load_model()
        run = retune_run(run, args.threshold_objective, model=model)  # InputError without validation photos
    evaluate_run(run, model=model, data_dir=Path(args.data_dir) if args.data_dir else None)
    return 0


def _predict(args) -> int:
    from training.predict import predict

    errors = predict(args.model, args.paths, args.threshold, args.json)
    return 1 if errors else 0
