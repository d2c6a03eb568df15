"""`seefood demo-data` and `seefood demo`: the built-in dataset and the `make demo` flow.

`seefood demo` runs every stage as its own process of this Python (`python -m seefood.cli
STAGE ...`), exactly the commands a user would type, so the demo doubles as a worked
example: each step prints a banner with the command, streams its output, and reports its
time. It stops at the first step that fails and says how to rerun that step alone.

No TensorFlow here: the stages that need it run in their own processes.
"""

from __future__ import annotations

import argparse
import os
import shlex
import signal
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

DEFAULT_DEMO_DIR = "demo"
DEFAULT_EPOCHS = 30
HEADLESS_SECONDS = 5
STAGE_MODULES = ("training.commands", "export.commands", "desktop.commands")


def register(subparsers) -> None:
    data = subparsers.add_parser(
        "demo-data",
        help="generate the built-in demo dataset (hot dogs vs other food, 1:6)",
        description="Generate photo-like procedural pictures of hot dogs and other dishes in "
        "DIR/{train,test}/{hotdog,not_hotdog}/, a demo video DIR/demo.avi and DIR/README.txt.",
    )
    data.add_argument("dir", metavar="DIR", type=Path, help="folder to create")
    data.add_argument("--seed", type=int, default=0, help="random seed; the same seed gives the same files (default 0)")
    data.add_argument("--scale", type=float, default=1.0,
                      help="multiply the number of pictures (default 1: 70+420 train, 24+144 test)")
    data.add_argument("--force", action="store_true", help="replace DIR if it exists")
    data.set_defaults(func=_run_demo_data)

    demo = subparsers.add_parser(
        "demo",
        help="the whole loop on built-in data: generate, train, export, verify, open the app",
        description="Generate the demo dataset (kept when already there), train a model on it, export an "
        "int8 bundle, verify it and open the app on the demo video (or a camera). Without a display the "
        f"app runs offscreen for {HEADLESS_SECONDS} s and saves a screenshot.",
    )
    demo.add_argument("--dir", type=Path, default=Path(DEFAULT_DEMO_DIR),
                      help=f"working folder for data, run, bundle and screenshot (default ./{DEFAULT_DEMO_DIR})")
    demo.add_argument("--epochs", type=int, default=DEFAULT_EPOCHS,
                      help=f"training epochs (default {DEFAULT_EPOCHS}; 1 for a quick smoke run)")
    demo.add_argument("--camera", type=int, default=None, metavar="N",
                      help="open camera N in the app instead of the demo video")
    demo.add_argument("--seed", type=int, default=0, help="seed of the demo dataset (default 0)")
    demo.set_defaults(func=_run_demo)


def _run_demo_data(args: argparse.Namespace) -> int:
    from demogen.data import generate
    from seefood.errors import InputError

    if args.scale <= 0 or args.seed < 0:
        raise InputError(f"--scale must be more than 0 and --seed at least 0 (got {args.scale:g} and {args.seed})")
    print(f"generating demo data in {args.dir} (seed {args.seed}, scale {args.scale:g}) ...", flush=True)
    summary = generate(args.dir, seed=args.seed, scale=args.scale, force=args.force,
                       progress=lambda line: print(line, flush=True))
    for split, per_class in summary.counts.items():
        print(f"  {split:5s}: " + ", ".join(f"{n} {cls}" for cls, n in per_class.items()))
    print(f"  video: {summary.video} ({summary.video_frames} frames)")
    print(f"done in {summary.seconds:.1f} s: {summary.root}")
    return 0


# ----------------------------------------------------------------------------- demo flow


@dataclass
class Step:
    """One stage of the demo: a `seefood` subcommand run in its own process."""

    title: str
    args: list[str]
    env: dict = field(default_factory=dict)

    def command(self) -> list[str]:
        return [sys.executable, "-m", "seefood.cli", *self.args]

    def shown(self) -> str:
        """The command as a user would type it."""
        prefix = " ".join(f"{k}={shlex.quote(v)}" for k, v in self.env.items())
        text = "seefood " + " ".join(shlex.quote(a) for a in self.args)
        return f"{prefix} {text}" if prefix else text


@dataclass(frozen=True)
class DemoPaths:
    root: Path

    @property
    def data(self) -> Path:
        # The dataset lives in its own subfolder so that run/ and bundle/ are never taken for classes.
        return self.root / "data"

    @property
    def video(self) -> Path:
        return self.data / "demo.avi"

    @property
    def run(self) -> Path:
        return self.root / "run"

    @property
    def bundle(self) -> Path:
        return self.root / "bundle"

    @property
    def report(self) -> Path:
        return self.run / "report.md"

    @property
    def screenshot(self) -> Path:
        return self.root / "screenshot.png"

    @property
    def app_stats(self) -> Path:
        return self.root / "app_stats.json"


def is_headless(environ=None, platform: str | None = None) -> bool:
    """True when no window can open: Qt asked for offscreen, or Linux without X11/Wayland."""
    environ = os.environ if environ is None else environ
    platform = sys.platform if platform is None else platform
    if environ.get("QT_QPA_PLATFORM", "").startswith("offscreen"):
        return True
    if platform.startswith("linux"):
        return not (environ.get("DISPLAY") or environ.get("WAYLAND_DISPLAY"))
    return False


def choose_app_mode(environ=None, platform: str | None = None, window_problem=None) -> tuple[bool, str | None]:
    """(headless, why) for the demo's app step.

    Headless when no window can open: no display, or a display whose Qt platform plugin cannot
    load (missing X11 libraries: Qt would abort with a core dump). ``why`` is the message that
    says so and how to fix it (None when there is a display and the window can be tried).
    ``window_problem`` (environ, platform) -> message or None defaults to ``desktop.qtplatform``'s.
    """
    if is_headless(environ, platform):
        return True, None
    if window_problem is None:
        try:
            from desktop.qtplatform import window_problem
        except ImportError:  # no desktop stage: missing_stages() reports it
            return False, None
    problem = window_problem(environ, platform)
    if problem:
        return True, f"{problem}\nThe demo runs the app offscreen instead."
    return False, None


def plan_demo(root: Path, epochs: int, camera: int | None = None, seed: int = 0,
              data_ready: bool = False, headless: bool = False, why_headless: str = "no display") -> list[Step]:
    """The steps of `seefood demo` (the data step is left out when the data is already there)."""
    paths = DemoPaths(root)
    steps = []
    if not data_ready:
        steps.append(Step("generate the demo dataset",
                          ["demo-data", str(paths.data), "--seed", str(seed), "--force"]))
    steps += [
        Step(f"train a model ({epochs} epochs)",
             ["train", str(paths.data), "--out", str(paths.run), "--epochs", str(epochs), "--force"]),
        Step("export an int8 bundle",
             ["export", str(paths.run), "--out", str(paths.bundle), "--quantize", "int8", "--force"]),
        Step("verify the bundle against the trained model", ["verify", str(paths.bundle)]),
    ]
    steps.append(app_step(paths, camera, headless, why_headless))
    return steps


def app_step(paths: DemoPaths, camera: int | None, headless: bool, why_headless: str = "no display") -> Step:
    """The demo's last step: the app window, or a timed offscreen run that saves a screenshot."""
    source = ["--camera", str(camera)] if camera is not None else ["--source", str(paths.video)]
    app = ["app", "--model", str(paths.bundle), *source]
    if not headless:
        return Step("open the app (close the window to finish)", app)
    app += ["--exit-after", str(HEADLESS_SECONDS), "--stats-json", str(paths.app_stats),
            "--screenshot", str(paths.screenshot)]
    return Step(f"run the app offscreen for {HEADLESS_SECONDS} s ({why_headless})", app,
                {"QT_QPA_PLATFORM": "offscreen"})


def aborted(code: int) -> bool:
    """An exit code of a process killed by SIGABRT (Qt's fatal errors abort), as returned or from a shell."""
    return code in (-signal.SIGABRT, 128 + signal.SIGABRT)


def missing_stages() -> list[str]:
    """The stage modules `seefood demo` runs that cannot be imported here (their imports are light)."""
    import importlib

    missing = []
    for name in STAGE_MODULES:
        try:
            importlib.import_module(name)
        except ImportError as error:
            missing.append(f"{name} ({error})")
    return missing


def _banner(index: int, total: int, text: str) -> None:
    line = "=" * 78
    print(f"\n{line}\n[{index}/{total}] {text}\n{line}", flush=True)


def run_steps(steps: list[Step], runner=subprocess.call) -> tuple[int, list[tuple[Step, float]]]:
    """Run steps in order, streaming their output. Returns (exit code, [(step, seconds)])."""
    done = []
    for index, step in enumerate(steps, 1):
        _banner(index, len(steps), f"{step.title}\n$ {step.shown()}")
        env = {**os.environ, **step.env}
        start = time.perf_counter()
        code = runner(step.command(), env=env)
        elapsed = time.perf_counter() - start
        if code != 0:
            print(f"\nerror: step {index}/{len(steps)} ({step.title}) failed with exit code {code} "
                  f"after {elapsed:.0f} s; see its output above. Fix the cause, then rerun `seefood demo` "
                  f"or this step alone:\n  {step.shown()}", file=sys.stderr, flush=True)
            return code, done
        done.append((step, elapsed))
        print(f"--- done in {_duration(elapsed)}", flush=True)
    return 0, done


def _duration(seconds: float) -> str:
    return f"{seconds:.1f} s" if seconds < 90 else f"{int(seconds // 60)} min {seconds % 60:02.0f} s"


def _run_demo(args: argparse.Namespace) -> int:
    from demogen.data import is_demo_data

    if args.epochs < 1:
        print("error: --epochs must be at least 1", file=sys.stderr)
        return 2
    missing = missing_stages()
    if missing:
        print("error: `seefood demo` needs the train, export and app stages, and this installation lacks "
              + ", ".join(missing) + "; install them with `pip install -e '.[train,app]'` (or run `make demo`)",
              file=sys.stderr)
        return 2
    paths = DemoPaths(args.dir)
    headless, why = choose_app_mode()
    reason = "no display"
    if why:  # a display, but Qt's window plugin cannot load: say why now, not after training
        print(f"warning: {why}", file=sys.stderr, flush=True)
        reason = "the window cannot open: see the warning at the start"
    data_ready = is_demo_data(paths.data, seed=args.seed)
    if data_ready:
        print(f"using the demo dataset already in {paths.data} (delete it to regenerate)", flush=True)
    steps = plan_demo(args.dir, args.epochs, args.camera, args.seed, data_ready, headless, reason)
    start = time.perf_counter()
    code, done = run_steps(steps)
    if not headless and aborted(code) and len(done) == len(steps) - 1:
        # The window aborted (a Qt platform problem the check above could not see): show the
        # result anyway, as on a machine without a display.
        print("\nthe app window could not open (Qt aborted, see its message above); "
              "running the app offscreen instead", file=sys.stderr, flush=True)
        headless = True
        code, more = run_steps([app_step(paths, args.camera, True, "the window could not open")])
        done += more
    total = time.perf_counter() - start
    print("\nsteps: " + ", ".join(f"{s.args[0]} {_duration(t)}" for s, t in done) + f"; total {_duration(total)}")
    if code != 0:
        return code
    print(f"\ndemo finished in {_duration(total)}")
    print(f"  report:     {paths.report}")
    print(f"  bundle:     {paths.bundle}")
    if headless:
        print(f"  screenshot: {paths.screenshot}")
        print(f"  app stats:  {paths.app_stats}")
    print(f"next: seefood app --model {paths.bundle} --camera 0   (your webcam)")
    if why:  # repeated here: the warning at the start is far above by now
        print(f"\nwarning: {why}", file=sys.stderr)
    return 0
