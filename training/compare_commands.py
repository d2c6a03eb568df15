"""``seefood compare``: registered from a light module (no TensorFlow at import time)."""

from __future__ import annotations

import argparse
import shlex

from seefood.quiet import import_tensorflow
from training.compare import DEFAULT_STRATEGIES, STRATEGIES, CompareConfig, compare


def register(subparsers) -> None:
    defaults = CompareConfig(data_dir="", out="")
    p = subparsers.add_parser(
        "compare", help="train under each rebalancing strategy and recommend one",
        description="Trains the same model under each strategy with the same split, seed and epoch budget, "
                    "repeated over N seeds; writes OUT/compare.md, compare.json, compare_pr.png and prints the "
                    "seefood train command of the recommended recipe.",
        formatter_class=argparse.ArgumentDefaultsHelpFormatter,
    )
    p.add_argument("data_dir", metavar="DATA_DIR")
    p.add_argument("--out", required=True, metavar="DIR", help="comparison folder (runs go to DIR/runs/)")
    p.add_argument("--strategies", nargs="+", default=list(DEFAULT_STRATEGIES), metavar="NAME",
                   help=f"any of: {' '.join(STRATEGIES)}")
    p.add_argument("--repeats", type=int, default=defaults.repeats, help="model seeds per strategy")
    p.add_argument("--epochs", type=int, default=defaults.epochs, help="epoch budget of every run (0: set from the folder's size, as seefood train)")
    p.add_argument("--image-size", type=int, default=0, help="input side in pixels (0: the model's default)")
    p.add_argument("--model", default=defaults.model)
    p.add_argument("--batch-size", type=int, default=defaults.batch_size)
    p.add_argument("--patience", type=int, default=defaults.patience,
                   help="early stopping after N epochs without improvement, never in the first half (0: off)")
    p.add_argument("--positive", metavar="CLASS", help="binary task: CLASS against all other classes merged")
    p.add_argument("--seed", type=int, default=defaults.seed, help="split seed, and the first model seed")
    p.add_argument("--force", action="store_true", help="retrain runs that already finished in DIR")
    p.set_defaults(func=_compare)


def command_line(args) -> str:
    """The command as the user could type it again (every option spelled out)."""
    parts = ["seefood", "compare", args.data_dir, "--out", args.out, "--strategies", *args.strategies,
             "--repeats", str(args.repeats), "--epochs", str(args.epochs), "--image-size", str(args.image_size),
             "--model", args.model, "--batch-size", str(args.batch_size), "--patience", str(args.patience),
             "--seed", str(args.seed)]
    if args.positive:
        parts += ["--positive", args.positive]
    if args.force:
        parts.append("--force")
    return shlex.join(parts)


def _compare(args) -> int:
    cfg = CompareConfig(
        data_dir=args.data_dir, out=args.out, strategies=args.strategies, repeats=args.repeats, epochs=args.epochs,
        image_size=args.image_size, model=args.model, batch_size=args.batch_size, patience=args.patience,
        positive=args.positive, seed=args.seed, force=args.force, command=command_line(args),
    )
    cfg.train_config(STRATEGIES[cfg.strategies[0]], 0)  # validates the shared training options early
    import_tensorflow()
    result = compare(cfg)  # data and weights errors are SeeFoodErrors: seefood.cli prints them
    rec = result["recommendation"]
    print(f"\nComparison written to {args.out}/compare.md (and compare.json, compare_pr.png)")
    print(f"Recommended: {rec['strategy']} -- {rec['reason']}")
    print("Reproduce the best recipe with:")
    print(rec["command"])
    return 0
