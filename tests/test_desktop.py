"""The desktop window driven for real (offscreen) on a video written by the test and a tiny bundle."""

from __future__ import annotations

import json
import threading
from pathlib import Path

import pytest

pytest.importorskip("PySide6.QtWidgets")
pytest.importorskip("ai_edge_litert")

from PySide6.QtCore import Qt  # noqa: E402
from PySide6.QtGui import QImage  # noqa: E402

from desktop.app import make_settings  # noqa: E402
from desktop.sources import SourceSpec  # noqa: E402
from desktop.window import MainWindow  # noqa: E402
from desktop_fixtures import (  # noqa: E402,F401 (fixtures)
    NEGATIVE, POSITIVE, bundle_dir, dispose, fresh_bundle, multiclass_bundle_dir, red_score, tiny_tflite, video_file,
    window, write_bundle,
)

WAIT_MS = 10000


def start(qtbot, win: MainWindow, bundle: Path, source: Path) -> None:
    """Load the bundle, play the video, and wait for a first verdict."""
    win.open_bundle(bundle)
    win.open_path(source)
    qtbot.waitUntil(lambda: win.last_verdict is not None and win.last_verdict.inference_ms > 0, timeout=WAIT_MS)


def test_slider_crossing_the_score_flips_the_verdict_and_is_remembered(qtbot, window, bundle_dir, video_file):
    start(qtbot, window, bundle_dir, video_file)
    score = window.last_verdict.confidence
    assert score == pytest.approx(red_score(200), abs=0.05)
    assert window.verdict_panel.label.text() == POSITIVE

    window.threshold_panel.set_threshold(round(score + 0.1, 2))
    qtbot.waitUntil(lambda: window.verdict_panel.label.text() == f"not {POSITIVE}", timeout=WAIT_MS)
    assert "precision" in window.threshold_panel.tradeoff_label.text()

    window.threshold_panel.set_threshold(round(score - 0.1, 2))
    qtbot.waitUntil(lambda: window.verdict_panel.label.text() == POSITIVE, timeout=WAIT_MS)

    key = f"thresholds/{window.model.manifest.model_sha256}"
    assert float(window.settings.value(key)) == pytest.approx(round(score - 0.1, 2))


def test_captures_land_in_the_class_folder_without_overwriting(qtbot, window, bundle_dir, video_file, tmp_path):
    data_dir = tmp_path / "data"
    data_dir.mkdir()
    window.set_data_dir(data_dir)
    start(qtbot, window, bundle_dir, video_file)
    window.set_paused(True)  # the same frame for every capture
    saved = [window.capture(POSITIVE) for _ in range(3)]
    qtbot.keyClick(window, Qt.Key.Key_1)  # number key 1 = first class
    assert all(path is not None and path.parent == data_dir / POSITIVE for path in saved)
    assert len({p.name for p in saved}) == 3
    assert len(list((data_dir / POSITIVE).glob("*.jpg"))) == 3
    assert len(list((data_dir / NEGATIVE).glob("*.jpg"))) == 1
    assert not [p for p in data_dir.rglob("*") if p.name.startswith(".")]  # no temp files left
    assert window.capture_panel.buttons[POSITIVE].text() == f"2: {POSITIVE} (3)"


def test_bad_bundle_is_refused_and_the_old_model_keeps_running(qtbot, window, bundle_dir, video_file, tmp_path):
    start(qtbot, window, bundle_dir, video_file)
    broken = write_bundle(tmp_path / "broken", b"\0\0\0\0TFL3 damaged", name="broken")
    manifest = json.loads((broken / "manifest.json").read_text())
    manifest["model_sha256"] = "0" * 64
    (broken / "manifest.json").write_text(json.dumps(manifest))

    window.open_bundle(broken)
    qtbot.waitUntil(lambda: window.banner.isVisible(), timeout=WAIT_MS)
    assert "Cannot load model bundle" in window.banner.text.text()
    assert "keeps running" in window.banner.text.text()
    assert window.model.manifest.name == "tiny-hotdog"
    classified = window.worker.frames_classified
    qtbot.waitUntil(lambda: window.worker.frames_classified > classified + 3, timeout=WAIT_MS)


def test_a_bundle_threshold_is_kept_exact_until_the_slider_moves(qtbot, window, fresh_bundle, tiny_tflite):
    write_bundle(fresh_bundle, tiny_tflite, threshold=0.5443)
    window.open_bundle(fresh_bundle)
    qtbot.waitUntil(lambda: window.model is not None, timeout=WAIT_MS)
    panel = window.threshold_panel
    assert panel.threshold == 0.5443  # not the slider's 0.544, nor the old 0.01 step's 0.54
    assert panel.value_label.text() == "0.544"
    key = f"thresholds/{window.model.manifest.model_sha256}"
    assert window.settings.value(key) is None  # loading stores nothing
    panel.slider.setValue(panel.slider.value() + 1)  # one step: 0.001
    assert panel.threshold == pytest.approx(0.545)
    assert float(window.settings.value(key)) == pytest.approx(0.545)
    panel.slider.setValue(panel.slider.value() - 1)  # back on the model's own step: its exact value again
    assert panel.threshold == 0.5443


def test_bundle_reloads_after_it_changes_on_disk(qtbot, window, fresh_bundle, video_file, tiny_tflite):
    start(qtbot, window, fresh_bundle, video_file)
    write_bundle(fresh_bundle, tiny_tflite, name="retrained", threshold=0.9)
    qtbot.waitUntil(lambda: window.model.manifest.name == "retrained", timeout=WAIT_MS)
    assert window.threshold_panel.threshold == pytest.approx(0.9)
    qtbot.waitUntil(lambda: window.verdict_panel.label.text() == f"not {POSITIVE}", timeout=WAIT_MS)


def test_missing_camera_shows_a_message_with_a_way_out(qtbot, window, bundle_dir):
    window.open_bundle(bundle_dir)
    window.open_source(SourceSpec("camera", 99))
    qtbot.waitUntil(lambda: "No camera" in window.banner.text.text(), timeout=WAIT_MS)
    assert window.banner.isVisible()
    buttons = [window.banner._actions.itemAt(i).widget().text() for i in range(window.banner._actions.count())]
    assert "Open file…" in buttons and "Retry" in buttons


def test_unreadable_image_shows_a_message(qtbot, window, bundle_dir, tmp_path):
    bad = tmp_path / "broken.jpg"
    bad.write_bytes(b"not a jpeg at all")
    window.open_bundle(bundle_dir)
    window.open_path(bad)
    qtbot.waitUntil(lambda: "cannot read image" in window.banner.text.text(), timeout=WAIT_MS)


def show_still(qtbot, window, bundle, path, size, colour):
    """Open ``bundle``, show a plain-coloured still image of ``size`` and wait for its verdict."""
    from PIL import Image

    Image.new("RGB", size, colour).save(path)
    window.open_bundle(bundle)
    window.open_path(path)
    qtbot.waitUntil(lambda: window.last_verdict is not None, timeout=WAIT_MS)


def test_still_image_gets_a_verdict_and_a_screenshot(qtbot, window, bundle_dir, tmp_path):
    from PIL import Image

    show_still(qtbot, window, bundle_dir, tmp_path / "still.png", (200, 120), (60, 140, 90))
    assert window.verdict_panel.label.text() == f"not {POSITIVE}"
    assert window.last_verdict.confidence == pytest.approx(red_score(60), abs=0.02)

    shot = tmp_path / "window.png"
    assert window.grab().save(str(shot))
    assert shot.stat().st_size > 1000
    image = QImage(str(shot))
    assert image.width() >= 800 and image.height() >= 400
    assert window.snapshot(tmp_path / "frame.png")
    assert Image.open(tmp_path / "frame.png").size == (200, 120)


def test_closing_stops_every_thread_and_releases_the_source(qtbot, tmp_path, bundle_dir, video_file):
    before = set(threading.enumerate())
    win = MainWindow(make_settings(tmp_path / "settings.ini"), num_threads=1)
    qtbot.addWidget(win)
    win.show()
    start(qtbot, win, bundle_dir, video_file)
    assert win.source_thread.isRunning() and win.worker_thread.isRunning()
    win.close()
    assert not win.source_thread.isRunning()
    assert not win.worker_thread.isRunning()
    assert win.source._capture is None
    alive = [t for t in threading.enumerate() if t not in before and not isinstance(t, threading._DummyThread)]
    assert alive == []
    dispose(win)


def test_multiclass_shows_top_classes_and_unknown_below_the_threshold(qtbot, window, multiclass_bundle_dir, tmp_path):
    show_still(qtbot, window, multiclass_bundle_dir, tmp_path / "greenish.png", (120, 120), (40, 230, 60))
    assert window.verdict_panel.label.text() == "green_food"
    assert [name.text() for name, _bar in window.verdict_panel._rows][0] == "green_food"
    assert len(window.verdict_panel._rows) == 3
    assert "no validation curve" in window.threshold_panel.tradeoff_label.text()
    window.threshold_panel.set_threshold(min(1.0, window.last_verdict.confidence + 0.05))
    qtbot.waitUntil(lambda: window.verdict_panel.label.text() == "unknown", timeout=WAIT_MS)
    assert window.grab().save(str(tmp_path / "multiclass.png"))


def test_dropping_a_folder_plays_it_and_dropping_a_bundle_loads_it(qtbot, window, bundle_dir, tmp_path):
    from PIL import Image

    folder = tmp_path / "photos"
    folder.mkdir()
    Image.new("RGB", (64, 48), (230, 100, 100)).save(folder / "a.jpg")
    (folder / "notes.txt").write_text("not a photo")
    window.open_dropped(bundle_dir)
    qtbot.waitUntil(lambda: window.model is not None, timeout=WAIT_MS)
    window.open_dropped(folder)
    qtbot.waitUntil(lambda: window.last_verdict is not None, timeout=WAIT_MS)
    assert window.source_spec.kind == "folder"
    assert window.preview.frame.width == 64


class _CameraThatDies:
    """Stands in for cv2.VideoCapture on a camera: a few frames, then nothing (unplugged)."""

    def __init__(self, frames: int = 5):
        self.left = frames
        self.released = False

    def isOpened(self):  # noqa: N802 (OpenCV name)
        return True

    def get(self, _prop):
        return 0.0

    def read(self):
        import numpy as np

        if self.left <= 0:
            return False, None
        self.left -= 1
        return True, np.full((48, 64, 3), 120, np.uint8)

    def grab(self):
        return self.left > 0

    def release(self):
        self.released = True


def test_camera_lost_mid_run_shows_a_message_and_retry_works(qtbot, window, bundle_dir, monkeypatch):
    import desktop.sources

    cameras = []
    monkeypatch.setattr(desktop.sources, "open_camera", lambda index, resolution=None: cameras.append(
        _CameraThatDies()) or cameras[-1])
    window.open_bundle(bundle_dir)
    window.open_camera(0)
    qtbot.waitUntil(lambda: "Lost camera 0" in window.banner.text.text(), timeout=WAIT_MS)
    assert window.preview.frame is not None  # the last picture stays on screen
    assert cameras[0].released
    window.retry_source()
    qtbot.waitUntil(lambda: len(cameras) == 2 and cameras[1].released, timeout=WAIT_MS)
