"""`seefood app --exit-after` in a subprocess: real window, real threads, stats JSON, no TensorFlow."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

pytest.importorskip("PySide6.QtWidgets")
pytest.importorskip("ai_edge_litert")

from desktop_fixtures import bundle_dir, offscreen_env, run_dir, tiny_tflite, video_file  # noqa: E402,F401

ROOT = Path(__file__).resolve().parents[1]
EXIT_AFTER_S = 3.0


def test_timed_run_writes_sane_stats_and_never_imports_tensorflow(tmp_path, bundle_dir, video_file):
    stats_path, shot = tmp_path / "stats.json", tmp_path / "shot.png"
    result = subprocess.run(
        [sys.executable, "-m", "seefood.cli", "app", "--model", str(bundle_dir), "--source", str(video_file),
         "--threads", "1", "--settings", str(tmp_path / "settings.ini"), "--exit-after", str(EXIT_AFTER_S),
         "--stats-json", str(stats_path), "--screenshot", str(shot)],
        cwd=ROOT, env=offscreen_env(), capture_output=True, text=True, timeout=60,
    )
    assert result.returncode == 0, result.stderr[-2000:]
    stats = json.loads(stats_path.read_text())
    assert stats["tensorflow_imported"] is False
    assert stats["threads_stopped"] is True
    assert stats["frames_shown"] >= 15
    assert 0 < stats["frames_classified"] <= stats["frames_read"] + 1
    assert stats["frames_dropped"] >= 0
    assert 10 <= stats["display_fps"] <= 40  # a 30 FPS video on a shared 2-core machine
    assert 10 <= stats["source_fps"] <= 40
    assert 0 < stats["inference_ms_p50"] <= stats["inference_ms_p95"] < 1000
    assert 0 < stats["startup_to_first_verdict_s"] < EXIT_AFTER_S
    assert stats["peak_rss_mb"] > 10
    assert shot.stat().st_size > 1000


def test_importing_the_app_does_not_import_tensorflow():
    code = ("import sys, desktop.app, desktop.commands, seefood.cli; seefood.cli.build_parser(); "
            "print('tensorflow' in sys.modules)")
    result = subprocess.run([sys.executable, "-c", code], cwd=ROOT, env=offscreen_env(),
                            capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stderr[-2000:]
    assert result.stdout.strip() == "False"


def test_stats_without_exit_after_is_a_usage_error(tmp_path):
    result = subprocess.run([sys.executable, "-m", "seefood.cli", "app", "--stats-json", str(tmp_path / "s.json")],
                            cwd=ROOT, env=offscreen_env(), capture_output=True, text=True, timeout=60)
    assert result.returncode == 2
    assert "--exit-after" in result.stderr


def test_keras_baseline_writes_the_same_stats_keys(tmp_path, run_dir, video_file, bundle_dir):
    stats_path = tmp_path / "baseline.json"
    result = subprocess.run(
        [sys.executable, "-m", "bench.app_baseline", "--run", str(run_dir), "--source", str(video_file),
         "--exit-after", "2", "--stats-json", str(stats_path)],
        cwd=ROOT, env=offscreen_env(), capture_output=True, text=True, timeout=120,
    )
    assert result.returncode == 0, result.stderr[-2000:]
    stats = json.loads(stats_path.read_text())
    app_keys = {"frames_shown", "frames_classified", "frames_dropped", "display_fps", "source_fps",
                "inference_ms_p50", "inference_ms_p95", "startup_to_first_verdict_s", "peak_rss_mb",
                "tensorflow_imported"}
    assert app_keys <= set(stats)
    assert stats["tensorflow_imported"] is True and stats["frames_classified"] > 0
