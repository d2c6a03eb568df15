"""``seefood retrain BUNDLE``: argparse, printing and the child-process protocol only (no TensorFlow
at import time; ``retrain.pipeline`` does the work).

With ``--json-progress`` stdout carries only JSON objects, one per line, for the app
(``desktop/retrain.py``); everything else (the audit, epochs, export messages) goes to stderr:

    {"stage": "train", "epoch": 3, "of": 10, "metrics": {...}, "eta_s": 41}
    {"stage": "export"} {"stage": "verify"} {"stage": "compare"} {"stage": "install"}
    {"stage": "done", "installed": true, "version": "002", "current": true, "reason": "...", "comparison": {...}}

The ``done`` line always comes last, also when the retrain fails (``installed: false`` and the
error as ``reason``, exit code 2) or is cancelled (SIGTERM or Ctrl-C: ``cancelled: true``, exit code
130; the staging is removed on the way out and the bundle is left as it was).
"""

from __future__ import annotations

import contextlib
import json
import signal
import sys
from pathlib import Path

from retrain.compare import MAX_DROP
from seefood.errors import SeeFoodError

EXIT_NOT_INSTALLED = 1  # the new model was worse and --accept-worse was not given
EXIT_CANCELLED = 130


def register(subparsers) -> None:
    p = subparsers.add_parser(
        "retrain", help="continue a bundle's model on the training folder as it is now; keep it as the next "
        "version if it is not worse",
        description="Train a new run from the bundle's run (its options, its weights) on the training folder as it "
        "is now, export it like the bundle, verify it, compare old and new on the test photos both runs held back, "
        "and install it as the bundle's next version (current) only when verification passed and it is not worse: "
        "worse = its F1 (binary) or macro-F1 (multi-class) on the held-back photos, each model at its own threshold, "
        f"is lower by more than --max-drop (default {MAX_DROP:g}). The new run goes beside the old run as "
        "<old run>-vNNN (or in --runs-dir) and is kept whatever is decided. Exit codes: 0 installed, 1 not installed "
        "(worse), 2 error (nothing changed), 130 cancelled.")
    p.add_argument("bundle_dir", type=Path, metavar="BUNDLE")
    p.add_argument("--data-dir", type=Path, metavar="DIR",
                   help="the training folder (default: the one the bundle's run was trained on)")
    p.add_argument("--epochs", type=int, metavar="N",
                   help="epochs of the new run (default: a third of the epochs the first run ran; a run that was itself "
                   "continued passes its own on)")
    p.add_argument("--learning-rate", type=float, metavar="LR",
                   help="peak learning rate of the new run (default: the run's own)")
    p.add_argument("--accept-worse", action="store_true",
                   help="install the new version even when it is worse on the held-back photos (the reason is printed)")
    p.add_argument("--no-switch", action="store_true",
                   help="install the new version but keep the current one in use (`seefood bundle use` switches)")
    p.add_argument("--max-drop", type=float, default=MAX_DROP, metavar="D",
                   help=f"largest held-back F1 / macro-F1 drop that is not 'worse' (default {MAX_DROP:g})")
    p.add_argument("--runs-dir", type=Path, metavar="DIR", help="where the new run folder goes (default: beside the old run)")
    p.add_argument("--json-progress", action="store_true",
                   help="print one JSON object per line on stdout (progress, then a final 'done' line) for the app; "
                   "other output goes to stderr")
    p.set_defaults(func=run_retrain)


def _raise_cancelled(signum, _frame):
    from retrain.pipeline import Cancelled

    raise Cancelled(signal.Signals(signum).name)


@contextlib.contextmanager
def _cancellable():
    """SIGTERM (the app's Cancel) and SIGINT raise ``Cancelled`` so that every staging context on the
    way out removes its folder (Python's default for SIGTERM would end the process on the spot)."""
    previous = {s: signal.signal(s, _raise_cancelled) for s in (signal.SIGTERM, signal.SIGINT)}
    try:
        yield
    finally:
        for s, handler in previous.items():
            signal.signal(s, handler)


def run_retrain(args) -> int:
    from retrain.pipeline import Cancelled, RetrainOptions, retrain

    out = sys.stdout
    if args.json_progress:
        def emit(event: dict) -> None:
            out.write(json.dumps(event) + "\n")
            out.flush()
        quiet = contextlib.redirect_stdout(sys.stderr)
    else:
        def emit(event: dict) -> None:
            if event.get("stage") in ("export", "verify", "compare", "install"):
                print(f"-- {event['stage']}", flush=True)
        quiet = contextlib.nullcontext()
    try:
        with quiet, _cancellable():
            opts = RetrainOptions(bundle=args.bundle_dir, data_dir=args.data_dir, epochs=args.epochs,
                                  learning_rate=args.learning_rate, accept_worse=args.accept_worse,
                                  switch=not args.no_switch, max_drop=args.max_drop, runs_dir=args.runs_dir)
            result = retrain(opts, progress=emit)
    except Cancelled as signal_name:
        reason = (f"cancelled ({signal_name}): nothing was installed; {args.bundle_dir} and its current version are "
                  "unchanged (an unfinished new run is removed; one whose training had finished is kept)")
        print(reason, file=sys.stderr, flush=True)
        if args.json_progress:
            emit({"stage": "done", "installed": False, "cancelled": True, "reason": reason})
        return EXIT_CANCELLED
    except SeeFoodError as error:
        if args.json_progress:
            emit({"stage": "done", "installed": False, "version": None, "reason": str(error)})
        raise  # seefood.cli prints it as one line, exit code 2
    if args.json_progress:
        print(result.table, file=sys.stderr, flush=True)
        print(result.reason, file=sys.stderr, flush=True)
        emit(result.done_event())
    else:
        print(result.table)
        print(f"Comparison saved in {result.run_dir / 'retrain.json'}"
              + (f" and {Path(args.bundle_dir) / 'versions' / result.version / 'retrain.json'}" if result.version else ""))
        print(result.reason)
    return 0 if result.installed else EXIT_NOT_INSTALLED
