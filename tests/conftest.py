"""Shared fixtures: small generated photo folders and one tiny trained run per session.

Nothing here downloads anything; every test builds its own data.
"""

from __future__ import annotations

import os
import shutil
import sys
import tempfile
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
# The decoded-photo cache of this test session (and of the processes it starts): never the user's
# ~/.cache; tests about the cache itself point SEEFOOD_CACHE_DIR elsewhere with monkeypatch.
_SESSION_CACHE = None if os.environ.get("SEEFOOD_CACHE_DIR") else tempfile.mkdtemp(prefix="seefood-test-cache-")
if _SESSION_CACHE:
    os.environ["SEEFOOD_CACHE_DIR"] = _SESSION_CACHE


def pytest_sessionfinish(session, exitstatus):
    if _SESSION_CACHE:
        shutil.rmtree(_SESSION_CACHE, ignore_errors=True)
ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

FOOD5 = ROOT.parent / "shared" / "data" / "food5"

# PySide6 6.12 drops a reference to True on every SignalInstance.emit() and disconnect() (pytest-qt
# disconnects after each waitSignal), to False on every failed disconnect(), and to None on every
# call of a method that returns nothing: on CPython < 3.12 the session would abort ("bool_dealloc",
# "none_dealloc") or segfault wherever None is freed. This is where the test session starts Qt's
# protection, once, before pytest-qt makes the QApplication (desktop/qtsignals.py).
from desktop.qtsignals import protect_singletons  # noqa: E402

protect_singletons()


def blob_image(rng: np.random.Generator, colour, size=(48, 64)) -> np.ndarray:
    """A noisy image dominated by ``colour``: trivially learnable, so tiny runs converge."""
    h, w = size
    base = np.clip(rng.normal(colour, 35, (h, w, 3)), 0, 255)
    return base.astype(np.uint8)


def write_class_folder(root: Path, counts: dict[str, int], seed: int = 0, size=(48, 64)) -> Path:
    """root/<class>/<i>.jpg with one colour per class."""
    palette = [(210, 60, 40), (40, 170, 60), (50, 70, 200), (220, 200, 40), (150, 40, 160)]
    rng = np.random.default_rng(seed)
    for i, (cls, n) in enumerate(counts.items()):
        folder = root / cls
        folder.mkdir(parents=True, exist_ok=True)
        for j in range(n):
            Image.fromarray(blob_image(rng, palette[i % len(palette)], size)).save(folder / f"{cls}_{seed}_{j}.jpg", quality=92)
    return root


@pytest.fixture
def make_folder(tmp_path):
    def _make(counts: dict[str, int], seed: int = 0, name: str = "data") -> Path:
        return write_class_folder(tmp_path / name, counts, seed)

    return _make


@pytest.fixture(scope="session")
def tiny_binary_run(tmp_path_factory) -> Path:
    """A binary run (hotdog 1 : 4 not_hotdog) trained for a few epochs at 32 px."""
    from training.config import TrainConfig
    from training.train import train

    root = tmp_path_factory.mktemp("tiny_binary")
    data = write_class_folder(root / "data", {"hotdog": 24, "not_hotdog": 96}, seed=1)
    cfg = TrainConfig(data_dir=str(data), out=str(root / "run"), image_size=32, epochs=8, batch_size=8,
                      patience=8, val_fraction=0.2, test_fraction=0.2, augment="none")
    return train(cfg)


@pytest.fixture(scope="session")
def tiny_multiclass_run(tmp_path_factory) -> Path:
    from training.config import TrainConfig
    from training.train import train

    root = tmp_path_factory.mktemp("tiny_multi")
    data = write_class_folder(root / "data", {"apple_pie": 30, "baklava": 30, "ribs": 30}, seed=2)
    cfg = TrainConfig(data_dir=str(data), out=str(root / "run"), image_size=32, epochs=6, batch_size=8,
                      patience=6, val_fraction=0.2, test_fraction=0.2, augment="light", balance="class_weight")
    return train(cfg)
