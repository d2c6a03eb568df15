"""The desktop app's parts that need no window: captures, the newest-frame mailbox, smoothing, the curve."""

from __future__ import annotations

import os
import subprocess
import sys

import numpy as np
import pytest

from conftest import ROOT

from desktop.capture import CaptureError, check_class_name, save_capture
from desktop.frames import Frame, LatestSlot
from desktop.panels import tradeoff_at
from desktop.worker import ScoreSmoother


def test_captures_at_the_same_moment_get_suffixes_instead_of_overwriting(tmp_path):
    rgb = np.zeros((24, 32, 3), np.uint8)
    now = 1_800_000_000.0
    paths = [save_capture(rgb, tmp_path, "hotdog", now=now) for _ in range(3)]
    assert [p.name for p in paths] == [paths[0].stem + ".jpg", paths[0].stem + "-1.jpg", paths[0].stem + "-2.jpg"]
    assert all(p.parent == tmp_path / "hotdog" and p.stat().st_size > 0 for p in paths)
    assert sorted(q.name for q in (tmp_path / "hotdog").iterdir()) == sorted(p.name for p in paths)


@pytest.mark.parametrize("name", ["../evil", "a/b", "", ".hidden", "CON", "nul.txt", "trailing.", "x" * 101, "tab\tname"])
def test_unsafe_class_names_are_refused(tmp_path, name):
    with pytest.raises(CaptureError):
        save_capture(np.zeros((4, 4, 3), np.uint8), tmp_path, name)
    assert list(tmp_path.iterdir()) == []


@pytest.mark.parametrize("name", ["hotdog", "not_hotdog", "Pad Thai", "crème-brûlée".encode("ascii", "ignore").decode()])
def test_safe_class_names_pass(name):
    assert check_class_name(name) == name


def test_capture_into_a_missing_training_folder_says_so(tmp_path):
    with pytest.raises(CaptureError, match="does not exist"):
        save_capture(np.zeros((4, 4, 3), np.uint8), tmp_path / "gone", "hotdog")


def test_latest_slot_keeps_the_newest_and_counts_the_dropped():
    slot = LatestSlot()
    assert slot.put(1) is True  # empty: the consumer needs waking
    assert slot.put(2) is False and slot.put(3) is False
    assert slot.take() == 3 and slot.take() is None
    assert slot.dropped == 2


def test_frames_own_read_only_pixels():
    source = np.zeros((2, 3, 3), np.uint8)
    frame = Frame.owned(source, 1, "test")
    source[:] = 255
    assert frame.rgb.max() == 0 and not frame.rgb.flags.writeable


def test_smoothing_averages_the_last_frames_only():
    smoother = ScoreSmoother(3)
    for p in (0.0, 0.0, 0.0, 0.9, 0.9, 0.9):
        result = smoother.add(np.array([1 - p, p]))
    assert result[1] == pytest.approx(0.9)
    smoother.resize(1)
    assert smoother.add(np.array([0.8, 0.2]))[1] == pytest.approx(0.2)


def test_tradeoff_picks_the_nearest_curve_point():
    curve = [{"threshold": t, "precision": t, "recall": 1 - t} for t in (0.1, 0.5, 0.9)]
    assert tradeoff_at(curve, 0.62)["threshold"] == 0.5
    assert tradeoff_at([], 0.5) is None


def assert_survives(code: str) -> None:
    """Run ``code`` in a fresh offscreen Python: it must print 'alive' and exit cleanly."""
    env = dict(os.environ, PYTHONPATH=str(ROOT), QT_QPA_PLATFORM="offscreen")
    out = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr[-2000:]
    assert out.stdout.strip() == "alive"


def test_disconnecting_signals_many_times_does_not_kill_the_interpreter():
    """PySide6 6.12's disconnect() drops a reference to True each call; 200,000 of them abort an
    unprotected Python 3.11 with "bool_dealloc" (measured). With desktop.qtsignals imported the
    process lives and exits cleanly."""
    code = (
        "import desktop.qtsignals\n"
        "from PySide6.QtCore import QObject, Signal\n"
        "class O(QObject):\n    s = Signal(int)\n"
        "o = O()\ndef slot(x): pass\n"
        "for _ in range(200000):\n    o.s.connect(slot); o.s.disconnect(slot)\n"
        "print('alive')\n"
    )
    assert_survives(code)


def test_emitting_signals_from_python_keeps_true_alive():
    from PySide6.QtCore import QObject, Signal

    from desktop.qtsignals import emit

    class Pinger(QObject):
        ping = Signal(int)

    pinger = Pinger()
    before = sys.getrefcount(True)
    for i in range(500):
        emit(pinger.ping, i)
    assert sys.getrefcount(True) >= before - 5


def test_void_qt_calls_many_times_do_not_free_none():
    """PySide6 6.12 drops a reference to None on every call of a method that returns nothing
    (measured: 100 QLabel.setText calls, None's count down by 100). None starts with a few thousand
    references, so an unprotected Python 3.11 dies after ~a minute of live video; 300,000 calls
    here would. With desktop.qtsignals imported the process lives and exits cleanly."""
    code = (
        "import sys, desktop.qtsignals\n"
        "from PySide6.QtWidgets import QApplication, QLabel\n"
        "app = QApplication([])\nlabel = QLabel()\n"
        "for _ in range(300000):\n    label.setText('x')\n"
        "print('alive')\n"
    )
    assert_survives(code)
