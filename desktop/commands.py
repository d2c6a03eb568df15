"""``seefood app``: registered by ``seefood.cli``; imports nothing heavy until the command runs."""

from __future__ import annotations

import argparse
import time
from pathlib import Path

from seefood.errors import InputError


def register(subparsers) -> None:
    parser = subparsers.add_parser(
        "app",
        help="open the live classification window (webcam, video, image or folder)",
        description="Classify a webcam, video, image or folder of images live with an exported bundle. "
                    "Runs on the LiteRT interpreter; never imports TensorFlow.",
    )
    parser.add_argument("--model", metavar="BUNDLE_DIR", help="bundle folder from `seefood export` "
                                                              "(default: the last one opened)")
    where = parser.add_mutually_exclusive_group()
    where.add_argument("--camera", type=int, metavar="N", help="camera index (default 0)")
    where.add_argument("--source", metavar="FILE", help="a video file, an image, or a folder of images")
    parser.add_argument("--data-dir", metavar="DIR", help="training folder that captures are saved into "
                                                          "(DIR/<class>/<timestamp>.jpg)")
    parser.add_argument("--threads", type=_positive_int, metavar="N", help="interpreter threads (default: LiteRT's)")
    parser.add_argument("--settings", metavar="FILE", help="settings INI file (default: the per-user SeeFood settings)")
    timed = parser.add_argument_group("timed run (tests and benchmarks)")
    timed.add_argument("--exit-after", type=_positive_float, metavar="SECONDS", help="close the window after SECONDS")
    timed.add_argument("--stats-json", metavar="FILE", help="with --exit-after: write frame rates, inference "
                                                            "times and memory here")
    timed.add_argument("--screenshot", metavar="FILE", help="with --exit-after: save the window as a PNG here")
    parser.set_defaults(func=_run, usage_error=parser.error)


def check_data_dir(data_dir: str | None) -> None:
    """Refuse a ``--data-dir`` that is not a folder before any window opens: captures would have
    nowhere to go, and creating a mistyped folder would hide the mistake."""
    if data_dir is None or Path(data_dir).is_dir():
        return
    what = "is a file, not a folder" if Path(data_dir).exists() else "no such folder"
    raise InputError(
        f"--data-dir {data_dir}: {what}; give the training folder (one subfolder per class, e.g. "
        f"{Path(data_dir) / 'hotdog'}), create it first, or leave --data-dir out and choose it in the app"
    )


def _positive_int(text: str) -> int:
    value = int(text)
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be at least 1, got {value}")
    return value


def _positive_float(text: str) -> float:
    value = float(text)
    if not value > 0:
        raise argparse.ArgumentTypeError(f"must be more than 0, got {value}")
    return value


def _run(args) -> int:
    started_at = time.perf_counter()  # before Qt, OpenCV and LiteRT load: start-up includes them
    if (args.stats_json or args.screenshot) and args.exit_after is None:
        args.usage_error("--stats-json and --screenshot need --exit-after SECONDS")
    check_data_dir(args.data_dir)
    # Before Qt starts: a missing X11 library makes Qt abort the process (a core dump), not raise.
    from desktop import qtplatform

    qtplatform.ensure_window_can_open()
    from desktop.app import run_app

    return run_app(args, started_at=started_at)
