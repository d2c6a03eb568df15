"""The whole loop in one window (offscreen, on a video): capture frames into two classes, press
Retrain, see progress, switch to the new version while the old one stays listed, switch back; a
cancelled retrain changes nothing."""

from __future__ import annotations

import contextlib
import hashlib
import io
from pathlib import Path

import pytest

pytest.importorskip("PySide6.QtWidgets")
pytest.importorskip("ai_edge_litert")

from conftest import write_class_folder  # noqa: E402
from desktop_fixtures import window, write_video  # noqa: E402,F401 (window: a fixture)
from seefood.cli import main  # noqa: E402

RETRAIN_MS = 180_000  # a child process: Python + TensorFlow start, one epoch at 32 px, export, verify, compare


def digest(folder: Path) -> dict[str, str]:
    return {str(p.relative_to(folder)): hashlib.sha256(p.read_bytes()).hexdigest()
            for p in sorted(folder.rglob("*")) if p.is_file()}


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    root = tmp_path_factory.mktemp("loop")
    data = write_class_folder(root / "photos", {"hotdog": 16, "not_hotdog": 24}, seed=3)
    run, bundle = root / "runs" / "hotdog", root / "bundle"
    with contextlib.redirect_stdout(io.StringIO()):
        assert main(["train", str(data), "--out", str(run), "--image-size", "32", "--epochs", "2", "--batch-size", "8",
                     "--val-fraction", "0.25", "--test-fraction", "0.25", "--augment", "none"]) == 0
        assert main(["export", str(run), "--out", str(bundle)]) == 0
    return root, data, bundle, write_video(root / "food.avi", frames=90)


def test_capture_retrain_switch_and_roll_back_in_the_window(qtbot, window, trained):
    root, data, bundle, video = trained
    window.open_bundle(bundle)
    window.open_path(video)
    qtbot.waitUntil(lambda: window.last_verdict is not None and window.model is not None, timeout=20_000)
    old_run = window.model.manifest.raw["run_id"]
    window.set_data_dir(data)
    for name in ("hotdog", "not_hotdog", "hotdog", "not_hotdog"):
        assert window.capture(name) is not None
        qtbot.wait(50)  # a different frame each time
    assert window.capture_panel.buttons["hotdog"].count == 18

    events = []
    assert window.retrain(epochs=1)
    window._retrain_job.progress.connect(events.append)
    assert window.retrain_panel.cancel_button.isVisibleTo(window)
    with qtbot.waitSignal(window._retrain_job.finished, timeout=RETRAIN_MS) as finished:
        pass
    done = finished.args[0]
    assert done["installed"] is True and done["version"] == "002" and done["current"] is False, done
    assert {"train", "export", "verify", "compare", "install"} <= {e["stage"] for e in events}
    assert window.retrain_panel.progress.value() == 1000
    assert "held-back" in window.retrain_panel.result.text()  # the old-vs-new table
    assert window.model.manifest.raw["run_id"] == old_run  # nothing switched until the user says so
    assert [(v.version, v.current) for v in window.versions()] == [("001", True), ("002", False)]

    window.retrain_panel.switch_button.click()
    qtbot.waitUntil(lambda: window.model.manifest.raw["run_id"] != old_run, timeout=20_000)
    assert [(v.version, v.current) for v in window.versions()] == [("001", False), ("002", True)]
    qtbot.waitUntil(lambda: window.last_verdict is not None and window.last_verdict.inference_ms > 0)

    assert window.use_version("001")  # roll back: the previous model is one click away
    qtbot.waitUntil(lambda: window.model.manifest.raw["run_id"] == old_run, timeout=20_000)

    # A cancelled retrain leaves versions and files exactly as they were.
    before = digest(bundle)
    assert window.retrain(epochs=50)
    with qtbot.waitSignal(window._retrain_job.progress, timeout=RETRAIN_MS,
                          check_params_cb=lambda e: e.get("stage") == "train"):
        pass
    with qtbot.waitSignal(window._retrain_job.finished, timeout=60_000) as cancelled:
        window.retrain_panel.cancel_button.click()
    assert cancelled.args[0]["installed"] is False and cancelled.args[0].get("cancelled") is True
    assert digest(bundle) == before
    assert [(v.version, v.current) for v in window.versions()] == [("001", True), ("002", False)]
    assert window.retrain_panel.retrain_button.isVisibleTo(window)
