"""The ``seefood`` command. Each stage registers its subcommands from a light ``commands``
module (no TensorFlow at import time); the heavy modules load only when a command runs, so
``seefood app`` never imports TensorFlow.
"""

from __future__ import annotations

import argparse
import importlib
import os
import sys

from seefood.errors import SeeFoodError

# Modules that define ``register(subparsers)``; each adds its subcommands and sets ``func``.
COMMAND_MODULES = (
    "training.commands",
    "training.compare_commands",
    "export.commands",
    "retrain.commands",
    "seefood.version_commands",
    "seefood.cache_commands",
    "desktop.commands",
    "demogen.commands",
)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="seefood",
        description="Train food classifiers on your own photos, export them, run them live.",
    )
    parser.add_argument("--version", action="version", version="seefood " + _version())
    parser.add_argument("--verbose", action="store_true",
                        help="also show TensorFlow's start-up messages (hidden by default; SEEFOOD_VERBOSE=1 does the same)")
    subparsers = parser.add_subparsers(dest="command", metavar="COMMAND")
    for name in COMMAND_MODULES:
        try:
            module = importlib.import_module(name)
        except ModuleNotFoundError as error:
            if error.name and name.startswith(error.name):
                continue  # that stage is not part of this installation (e.g. the packaged app)
            raise
        module.register(subparsers)
    from seefood.cache_commands import CACHED_COMMANDS, NO_CACHE_HELP

    for name in CACHED_COMMANDS:
        if name in subparsers.choices:
            subparsers.choices[name].add_argument("--no-cache", action="store_true", help=NO_CACHE_HELP)
    return parser


def _version() -> str:
    from seefood import __version__

    return __version__


def main(argv: list[str] | None = None) -> int:
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    parser = build_parser()
    args = parser.parse_args(argv)
    if not getattr(args, "func", None):
        parser.print_help()
        return 2
    if args.verbose:
        os.environ["SEEFOOD_VERBOSE"] = "1"  # stages that `seefood demo` starts as processes inherit it
    if getattr(args, "no_cache", False):
        from seefood import decoded_cache

        decoded_cache.turn_off()  # inherited by the processes it starts, like SEEFOOD_VERBOSE
    try:
        result = args.func(args)
    except KeyboardInterrupt:
        print("\ninterrupted", file=sys.stderr)
        return 130
    except (SeeFoodError, FileNotFoundError, FileExistsError) as error:  # meant for the user: one line
        print(f"error: {error}", file=sys.stderr)
        return 2
    return int(result or 0)


if __name__ == "__main__":
    # Run through the imported module so exception classes are the ones other modules import.
    from seefood.cli import main as _main

    sys.exit(_main())
