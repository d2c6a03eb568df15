"""Tiny inputs for the desktop tests: a hand-built bundle, an MJPG video, a training folder.

The bundle's model is ``sigmoid(2 * (mean red / 127.5 - 1))``, so a frame's score is set by its
red level (red 200 scores about 0.76, red 60 about 0.26). Building it imports TensorFlow in the
test process, which is fine; the app itself is checked for TensorFlow in a subprocess.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
from pathlib import Path

import cv2
import numpy as np
import pytest

IMAGE_SIZE = 32
POSITIVE = "hotdog"
NEGATIVE = "not_hotdog"
MULTICLASS = ["red_food", "green_food", "blue_food"]
VALIDATION_CURVE = [
    {"threshold": round(t, 2), "precision": round(0.5 + 0.45 * t, 3), "recall": round(1.0 - 0.8 * t, 3)}
    for t in np.linspace(0.05, 0.95, 19)
]


def red_score(red: float) -> float:
    """The tiny model's score for a frame whose mean red level is ``red``."""
    return float(1.0 / (1.0 + np.exp(-2.0 * (red / 127.5 - 1.0))))


def build_keras_model(classes: int = 1, input_dtype: str = "uint8", weight_scale: float = 1.0):
    """Binary (one sigmoid output driven by red) or ``classes`` softmax outputs (class i driven by channel i).

    ``input_dtype`` "float32" makes a model that does not take raw pixels; ``weight_scale`` NaN makes
    one that answers NaN for every frame (both for the hostile-input tests).
    """
    import keras

    inputs = keras.Input((IMAGE_SIZE, IMAGE_SIZE, 3), dtype=input_dtype)
    x = keras.layers.Rescaling(1.0 / 127.5, offset=-1.0)(inputs)
    x = keras.layers.GlobalAveragePooling2D()(x)
    dense = keras.layers.Dense(classes, activation="sigmoid" if classes == 1 else "softmax")
    outputs = dense(x)
    model = keras.Model(inputs, outputs)
    weights = np.zeros((3, classes), np.float32)
    for i in range(classes):
        weights[i % 3, i] = 2.0 if classes == 1 else 4.0
    dense.set_weights([weights * np.float32(weight_scale), np.zeros(classes, dtype=np.float32)])
    return model


def convert_to_tflite(model) -> bytes:
    import tensorflow as tf

    return tf.lite.TFLiteConverter.from_keras_model(model).convert()


def write_bundle(out: Path, tflite: bytes, name: str = "tiny-hotdog", threshold: float = 0.5,
                 classes: list[str] | None = None) -> Path:
    """A bundle folder that ``seefood.bundle.load_manifest`` accepts (multi-class when ``classes`` is given)."""
    out.mkdir(parents=True, exist_ok=True)
    labels = classes or [POSITIVE]
    (out / "model.tflite").write_bytes(tflite)
    (out / "labels.txt").write_text("\n".join(labels) + "\n", encoding="utf-8")
    manifest = {
        "schema_version": 1,
        "name": name,
        "task": "multiclass" if classes else "binary",
        "labels": labels,
        "classes": classes or [NEGATIVE, POSITIVE],
        "positive_class": None if classes else POSITIVE,
        "negative_class": None if classes else NEGATIVE,
        "input": {"width": IMAGE_SIZE, "height": IMAGE_SIZE, "channels": 3, "dtype": "uint8",
                  "color_order": "RGB", "crop": "center-crop to square, then resize",
                  "resize": "bilinear (Pillow, antialiased)"},
        "preprocessing": {"image_size": IMAGE_SIZE, "scale": 1.0 / 127.5, "offset": -1.0},
        "threshold": threshold,
        "threshold_objective": "f1",
        "validation_curve": [] if classes else VALIDATION_CURVE,
        "quantization": "float32",
        "model_file": "model.tflite",
        "labels_file": "labels.txt",
        "model_sha256": hashlib.sha256(tflite).hexdigest(),
        "run_id": "test",
        "created": "2026-01-01T00:00:00Z",
    }
    (out / "manifest.json").write_text(json.dumps(manifest, indent=2), encoding="utf-8")
    return out


def write_video(path: Path, red: int = 200, frames: int = 45, size: tuple[int, int] = (160, 120),
                fps: float = 30.0) -> Path:
    """An MJPG .avi: a flat colour of the given red level with a moving square (score set by ``red``)."""
    width, height = size
    writer = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*"MJPG"), fps, (width, height))
    assert writer.isOpened(), "OpenCV cannot write MJPG .avi here"
    for i in range(frames):
        bgr = np.empty((height, width, 3), np.uint8)
        bgr[:] = (90, 140, red)
        x = (i * 3) % (width - 20)
        bgr[50:70, x:x + 20] = (40, 40, red)
        writer.write(bgr)
    writer.release()
    return path


@pytest.fixture(scope="session")
def tiny_tflite() -> bytes:
    return convert_to_tflite(build_keras_model())


@pytest.fixture(scope="session")
def bundle_dir(tmp_path_factory, tiny_tflite) -> Path:
    return write_bundle(tmp_path_factory.mktemp("bundle") / "tiny-hotdog", tiny_tflite)


@pytest.fixture(scope="session")
def video_file(tmp_path_factory) -> Path:
    return write_video(tmp_path_factory.mktemp("video") / "red200.avi", red=200)


@pytest.fixture(scope="session")
def multiclass_bundle_dir(tmp_path_factory) -> Path:
    """Classes red_food, green_food, blue_food: the strongest colour channel wins."""
    tflite = convert_to_tflite(build_keras_model(classes=3))
    return write_bundle(tmp_path_factory.mktemp("bundle") / "tiny-colours", tflite, name="tiny-colours",
                        threshold=0.5, classes=MULTICLASS)


@pytest.fixture
def fresh_bundle(tmp_path, bundle_dir) -> Path:
    """A private copy of the bundle that a test may change on disk."""
    return Path(shutil.copytree(bundle_dir, tmp_path / "bundle"))


@pytest.fixture
def run_dir(tmp_path) -> Path:
    """A minimal training run folder (model.keras + run.json) for the Keras baseline."""
    out = tmp_path / "run"
    out.mkdir()
    build_keras_model().save(out / "model.keras")
    run = {"run_id": "test", "task": "binary", "classes": [NEGATIVE, POSITIVE], "labels": [POSITIVE],
           "positive_class": POSITIVE, "threshold": 0.5,
           "preprocessing": {"image_size": IMAGE_SIZE, "scale": 1.0 / 127.5, "offset": -1.0}}
    (out / "run.json").write_text(json.dumps(run), encoding="utf-8")
    return out


def offscreen_env() -> dict:
    env = dict(os.environ, QT_QPA_PLATFORM="offscreen", TF_CPP_MIN_LOG_LEVEL="2")
    env.pop("QT_QPA_PLATFORM_PLUGIN_PATH", None)
    return env


@pytest.fixture
def window(qtbot, tmp_path):
    """The real main window (offscreen, one inference thread), closed and deleted on the GUI thread after."""
    from desktop.app import make_settings
    from desktop.window import MainWindow

    win = MainWindow(make_settings(tmp_path / "settings.ini"), num_threads=1)
    qtbot.addWidget(win)
    win.show()
    yield win
    dispose(win)


def dispose(win) -> None:
    """Close and delete the window now, on the GUI thread. Left to Python's cyclic garbage collector,
    its wrappers could be collected later on whatever thread the collector happens to run (the still
    image reader's, say), and Qt objects deleted off the GUI thread crash the process (seen about 1 in
    10 runs of this file)."""
    import gc

    import shiboken6

    win.close()
    if shiboken6.isValid(win):
        shiboken6.delete(win)
    gc.collect()
