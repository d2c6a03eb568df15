"""`seefood demo`: the plan of steps, stopping at a failed step, and the shortened demo end to end."""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from demogen import commands as demo_commands
from demogen.commands import DemoPaths, Step, is_headless, plan_demo, run_steps

REPO = Path(__file__).resolve().parent.parent


def test_plan_runs_every_stage_in_order_with_this_python(tmp_path):
    steps = plan_demo(tmp_path, epochs=3, headless=False)
    assert [s.args[0] for s in steps] == ["demo-data", "train", "export", "verify", "app"]
    assert all(s.command()[:3] == [sys.executable, "-m", "seefood.cli"] for s in steps)
    paths = DemoPaths(tmp_path)
    train, export = steps[1].args, steps[2].args
    assert train[1] == str(paths.data) and "--force" in train
    assert train[train.index("--epochs") + 1] == "3"
    assert train[train.index("--out") + 1] == str(paths.run)
    assert export[1] == str(paths.run) and export[export.index("--quantize") + 1] == "int8"
    assert steps[3].args == ["verify", str(paths.bundle)]
    assert steps[4].args == ["app", "--model", str(paths.bundle), "--source", str(paths.video)]
    assert steps[4].env == {}


def test_plan_skips_ready_data_and_uses_the_camera(tmp_path):
    steps = plan_demo(tmp_path, epochs=1, camera=2, data_ready=True)
    assert steps[0].args[0] == "train"
    assert steps[-1].args[-2:] == ["--camera", "2"]


def test_headless_plan_runs_the_app_offscreen_and_saves_a_screenshot(tmp_path):
    app = plan_demo(tmp_path, epochs=1, headless=True)[-1]
    assert app.env == {"QT_QPA_PLATFORM": "offscreen"}
    args = app.args
    assert args[args.index("--exit-after") + 1] == str(demo_commands.HEADLESS_SECONDS)
    assert args[args.index("--screenshot") + 1] == str(DemoPaths(tmp_path).screenshot)
    assert args[args.index("--stats-json") + 1] == str(DemoPaths(tmp_path).app_stats)


@pytest.mark.parametrize("environ, platform, expected", [
    ({}, "linux", True),
    ({"DISPLAY": ":0"}, "linux", False),
    ({"WAYLAND_DISPLAY": "wayland-0"}, "linux", False),
    ({"DISPLAY": ":0", "QT_QPA_PLATFORM": "offscreen"}, "linux", True),
    ({}, "darwin", False),
    ({}, "win32", False),
    ({"QT_QPA_PLATFORM": "offscreen"}, "win32", True),
])
def test_headless_detection(environ, platform, expected):
    assert is_headless(environ, platform) is expected


def test_steps_stop_at_the_first_failure_and_say_how_to_rerun(capsys):
    calls = []

    def runner(command, env):
        calls.append(command)
        return 3 if command[3] == "export" else 0

    steps = [Step("train", ["train", "d"]), Step("export", ["export", "r"]), Step("verify", ["verify", "b"])]
    code, done = run_steps(steps, runner=runner)
    assert code == 3
    assert [s.title for s, _ in done] == ["train"]
    assert len(calls) == 2  # verify never ran
    captured = capsys.readouterr()
    assert "[1/3] train" in captured.out and "[2/3] export" in captured.out
    assert "failed with exit code 3" in captured.err and "seefood export r" in captured.err


def test_step_environment_reaches_the_process():
    seen = {}

    def runner(command, env):
        seen.update(env)
        return 0

    run_steps([Step("app", ["app"], {"QT_QPA_PLATFORM": "offscreen"})], runner=runner)
    assert seen["QT_QPA_PLATFORM"] == "offscreen"
    assert "PATH" in seen  # the rest of the environment is kept


MISSING = demo_commands.missing_stages()


@pytest.mark.skipif(bool(MISSING), reason="the demo needs every stage; not importable: " + ", ".join(MISSING))
@pytest.mark.timeout(900)
def test_shortened_demo_end_to_end(tmp_path, monkeypatch, capsys):
    """`seefood demo --epochs 1` as `make demo DEMO_EPOCHS=1` runs it, without a display."""
    env = {k: v for k, v in os.environ.items() if k not in ("DISPLAY", "WAYLAND_DISPLAY")}
    env["QT_QPA_PLATFORM"] = "offscreen"
    root = tmp_path / "demo"
    result = subprocess.run(
        [sys.executable, "-m", "seefood.cli", "demo", "--dir", str(root), "--epochs", "1"],
        cwd=tmp_path, env=env, capture_output=True, text=True, timeout=840,
    )
    output = result.stdout + result.stderr
    assert result.returncode == 0, output[-6000:]
    paths = DemoPaths(root)
    for step in ("[1/5] generate the demo dataset", "train a model (1 epochs)", "export an int8 bundle",
                 "verify the bundle", "run the app offscreen"):
        assert step in output
    assert paths.report.is_file()
    assert json.loads((paths.bundle / "manifest.json").read_text())["quantization"] == "int8"
    assert paths.screenshot.is_file() and paths.screenshot.stat().st_size > 0
    stats = json.loads(paths.app_stats.read_text())
    assert stats["frames_shown"] > 0 and stats["tensorflow_imported"] is False
    for where in (paths.report, paths.bundle, paths.screenshot):
        assert str(where) in result.stdout  # the user is told where to look

    # A second run keeps the generated data: `seefood demo` again on the same folder, its steps recorded rather
    # than run (running them again would be the demo above a second time).
    planned = []

    def record(steps, runner=None):
        planned.extend(steps)
        return 0, [(step, 0.0) for step in steps]

    monkeypatch.setattr(demo_commands, "run_steps", record)
    monkeypatch.setattr(demo_commands, "choose_app_mode", lambda: (True, None))
    args = argparse.Namespace(dir=root, epochs=1, camera=None, seed=0)
    assert demo_commands._run_demo(args) == 0
    again = capsys.readouterr().out
    assert f"using the demo dataset already in {paths.data}" in again
    assert [step.args[0] for step in planned] == ["train", "export", "verify", "app"]
