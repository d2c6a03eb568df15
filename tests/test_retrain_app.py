"""The app's side of retraining: a child process's JSON progress lines become signals and the
panel's progress, its result shows the comparison and the choice, and Cancel stops it."""

from __future__ import annotations

import json
import sys
import textwrap

import pytest

pytest.importorskip("PySide6")

from desktop.retrain import RetrainJob, overall_fraction, retrain_command  # noqa: E402
from desktop.retrain_panel import RetrainPanel  # noqa: E402

DONE = {"stage": "done", "installed": True, "version": "002", "current": False, "reason": "better on held-back photos",
        "comparison": {"held_back": {"n": 40, "old": {"f1": 0.5, "pr_auc": 0.6}, "new": {"f1": 0.7, "pr_auc": 0.8}}}}


def child(script: str) -> list[str]:
    return [sys.executable, "-c", textwrap.dedent(script)]


def test_progress_lines_drive_the_panel_and_the_result_offers_the_new_version(qtbot):
    script = f"""
        import json, sys, time
        for epoch in (1, 2):
            print(json.dumps({{"stage": "train", "epoch": epoch, "of": 2, "eta_s": 3 - epoch}}), flush=True)
        print("a plain log line", flush=True)
        print("a warning on stderr", file=sys.stderr, flush=True)
        for stage in ("export", "verify", "compare", "install"):
            print(json.dumps({{"stage": stage}}), flush=True)
        print(json.dumps({DONE!r}), flush=True)
    """
    panel = RetrainPanel()
    qtbot.addWidget(panel)
    job = RetrainJob(child(script))
    events, logs = [], []
    job.progress.connect(events.append)
    job.progress.connect(panel.show_progress)
    job.log.connect(logs.append)
    panel.set_running(True)
    with qtbot.waitSignal(job.finished, timeout=30_000) as finished:
        job.start()
    result = finished.args[0]
    assert [e["stage"] for e in events] == ["start", "train", "train", "export", "verify", "compare", "install"]
    assert sorted(logs) == ["a plain log line", "a warning on stderr"]
    assert panel.progress.value() == int(1000 * overall_fraction({"stage": "install"}))
    panel.show_result(result)
    assert result == DONE and "002" in panel.status.text() and panel.switch_button.isVisibleTo(panel)
    assert "0.700" in panel.result.text() and "held-back" in panel.result.text()
    with qtbot.waitSignal(panel.switch_requested) as switched:
        panel.switch_button.click()
    assert switched.args == ["002"]


def test_a_failed_child_says_what_it_said_last_and_offers_nothing(qtbot):
    job = RetrainJob(child("import sys; print('error: photos: no such folder', file=sys.stderr); sys.exit(2)"))
    with qtbot.waitSignal(job.finished, timeout=30_000) as finished:
        job.start()
    result = finished.args[0]
    assert result["installed"] is False and "exit code 2" in result["reason"] and "no such folder" in result["reason"]
    panel = RetrainPanel()
    qtbot.addWidget(panel)
    panel.show_result(result)
    assert not panel.switch_button.isVisibleTo(panel) and "No new version" in panel.status.text()


def test_cancel_stops_the_child_and_reports_a_cancel(qtbot, tmp_path):
    marker = tmp_path / "finished-normally"
    script = f"""
        import json, time, pathlib
        print(json.dumps({{"stage": "train", "epoch": 0, "of": 100}}), flush=True)
        time.sleep(60)
        pathlib.Path({str(marker)!r}).write_text("should not get here")
    """
    job = RetrainJob(child(script))
    with qtbot.waitSignal(job.progress, timeout=30_000, check_params_cb=lambda e: e["stage"] == "train"):
        job.start()
    with qtbot.waitSignal(job.finished, timeout=30_000) as finished:
        job.cancel()
    assert finished.args[0]["cancelled"] is True and finished.args[0]["installed"] is False
    assert not job.running() and not marker.exists()


def test_the_command_runs_this_python_from_source(tmp_path):
    command = retrain_command(tmp_path / "bundle", tmp_path / "photos", epochs=3)
    assert command[:3] == [sys.executable, "-m", "seefood.cli"]
    assert command[3:] == ["retrain", str(tmp_path / "bundle"), "--json-progress", "--no-switch", "--data-dir",
                           str(tmp_path / "photos"), "--epochs", "3"]
    assert json.dumps(command)  # plain strings, for QProcess


def test_the_audit_line_says_how_many_photos_were_decoded(qtbot):
    panel = RetrainPanel()
    qtbot.addWidget(panel)
    panel.show_progress({"stage": "train", "epoch": 0, "audit": {"decoded": 10, "from_cache": 2313}})
    assert "10 decoded, 2313 already decoded" in panel.status.text()
    panel.show_progress({"stage": "train", "epoch": 3, "of": 10, "eta_s": 41})
    assert "epoch 3 of 10, about 41 s left" in panel.status.text()
