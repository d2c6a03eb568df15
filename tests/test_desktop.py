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
    NEGATIVE, POSITIVE, bundle_dir, fresh_bundle, red_score, tiny_tflite, video_file, write_bundle,
)

WAIT_MS = 10000


@pytest.fixture
def window(qtbot, tmp_path):
    win = MainWindow(make_settings(tmp_path / "settings.ini"), num_threads=1)
    qtbot.addWidget(win)
    win.show()
    yield win
    win.close()


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


def test_still_image_gets_a_verdict_and_a_screenshot(qtbot, window, bundle_dir, tmp_path):
    from PIL import Image

    still = tmp_path / "still.png"
    Image.new("RGB", (200, 120), (60, 140, 90)).save(still)
    window.open_bundle(bundle_dir)
    window.open_path(still)
    qtbot.waitUntil(lambda: window.last_verdict is not None, timeout=WAIT_MS)
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
