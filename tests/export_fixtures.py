"""A tiny run folder for the export, verify and bundle-runtime tests.

Builds, per task, what ``seefood train`` leaves behind (docs/design.md): generated photos of
distinct colours on disk, ``splits.json``, ``run.json``, ``config.json`` and a small trained
``model.keras`` (uint8 [None, 32, 32, 3] input, scaling inside, sigmoid [None, 1] for binary,
softmax [None, 3] for three classes). Everything is cached per test session because training
and conversion are the slow parts on a 2-core machine.
"""

from __future__ import annotations

import json
import os
import shutil
from pathlib import Path

import numpy as np
from PIL import Image

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

IMAGE_SIZE = 32
SCALE = 1.0 / 127.5
OFFSET = -1.0
# Colours far apart in RGB so a tiny model separates them confidently (stable under int8).
COLOURS = {"salad": (40, 170, 60), "pizza": (200, 60, 40), "sushi": (60, 80, 200)}
PER_SPLIT = {"train": 12, "val": 6, "test": 6}

_CACHE: dict[tuple, Path] = {}


def preprocessing_dict() -> dict:
    from seefood.preprocessing import Preprocessing

    return Preprocessing(image_size=IMAGE_SIZE, scale=SCALE, offset=OFFSET).to_dict()


def _write_images(data_dir: Path, classes: list[str], rng: np.random.Generator) -> dict[str, list[dict]]:
    """Photos of varied size around each class colour, some not square (the runtime crops)."""
    splits: dict[str, list[dict]] = {split: [] for split in PER_SPLIT}
    for split, count in PER_SPLIT.items():
        for target, name in enumerate(classes):
            folder = data_dir / split / name
            folder.mkdir(parents=True, exist_ok=True)
            for i in range(count):
                height, width = (40, 56) if i % 2 else (36, 36)
                base = np.array(COLOURS[name], dtype=np.float32)
                noise = rng.normal(0.0, 25.0, size=(height, width, 3))
                pixels = np.clip(base + noise, 0, 255).astype(np.uint8)
                path = folder / f"{name}_{i:03d}.png"
                Image.fromarray(pixels).save(path)
                splits[split].append({"path": str(path.resolve()), "class": name, "target": target})
    return splits


def _train_model(task: str, n_classes: int, splits: dict, seed: int):
    import keras

    from seefood.images import load_rgb
    from seefood.preprocessing import fit_to_input

    keras.utils.set_random_seed(seed)
    inputs = keras.Input((IMAGE_SIZE, IMAGE_SIZE, 3), dtype="uint8", name="image")
    x = keras.layers.Rescaling(SCALE, OFFSET)(inputs)
    x = keras.layers.Conv2D(8, 3, strides=2, activation="relu")(x)
    x = keras.layers.GlobalAveragePooling2D()(x)
    if task == "binary":
        outputs = keras.layers.Dense(1, activation="sigmoid", name="score")(x)
        loss = "binary_crossentropy"
    else:
        outputs = keras.layers.Dense(n_classes, activation="softmax", name="score")(x)
        loss = "sparse_categorical_crossentropy"
    model = keras.Model(inputs, outputs)
    model.compile(optimizer=keras.optimizers.Adam(0.02), loss=loss)
    images = np.stack([fit_to_input(load_rgb(item["path"]), IMAGE_SIZE) for item in splits["train"]])
    targets = np.array([item["target"] for item in splits["train"]])
    model.fit(images, targets, epochs=12, batch_size=16, verbose=0)
    return model


def make_run(root: Path, task: str = "binary", seed: int = 0) -> Path:
    """Write a complete run folder under ``root`` and return its path."""
    rng = np.random.default_rng(seed)
    if task == "binary":
        folders = ["salad", "pizza"]  # classes: [negative, positive]
        classes, labels, positive = ["salad", "pizza"], ["pizza"], "pizza"
    else:
        folders = classes = labels = ["salad", "pizza", "sushi"]
        positive = None
    data_dir = root / "data"
    splits = _write_images(data_dir, folders, rng)
    model = _train_model(task, len(classes), splits, seed)
    run_dir = root / "run"
    run_dir.mkdir(parents=True)
    model.save(run_dir / "model.keras")
    run = {
        "run_id": f"test-{task}-{seed}",
        "task": task,
        "classes": classes,
        "labels": labels,
        "positive_class": positive,
        "class_map": {name: i for i, name in enumerate(classes)},
        "threshold": 0.5,
        "threshold_objective": "f1",
        "validation_curve": (
            [{"threshold": t, "precision": 1.0, "recall": 1.0} for t in (0.25, 0.5, 0.75)] if task == "binary" else []
        ),
        "preprocessing": preprocessing_dict(),
        "dataset_fingerprint": f"fixture-{task}-{seed}",
        "data_dir": str(data_dir.resolve()),
    }
    (run_dir / "run.json").write_text(json.dumps(run, indent=2), encoding="utf-8")
    (run_dir / "splits.json").write_text(json.dumps(splits, indent=2), encoding="utf-8")
    config = {"data_dir": str(data_dir.resolve()), "image_size": IMAGE_SIZE, "task": task, "seed": seed}
    (run_dir / "config.json").write_text(json.dumps(config, indent=2), encoding="utf-8")
    return run_dir


def cached_run(tmp_path_factory, task: str = "binary") -> Path:
    """One run folder per task per test session (training is the slow part)."""
    key = ("run", task)
    if key not in _CACHE:
        _CACHE[key] = make_run(tmp_path_factory.mktemp(f"run-{task}"), task)
    return _CACHE[key]


def cached_bundle(tmp_path_factory, task: str = "binary", mode: str = "float32") -> Path:
    """One exported (and verified) bundle per task and mode per test session."""
    key = ("bundle", task, mode)
    if key not in _CACHE:
        from seefood.cli import main

        run_dir = cached_run(tmp_path_factory, task)
        out = tmp_path_factory.mktemp(f"bundle-{task}-{mode}") / "bundle"
        code = main(["export", str(run_dir), "--out", str(out), "--quantize", mode, "--representative-size", "24"])
        assert code == 0, f"export {task} {mode} failed with exit code {code}"
        _CACHE[key] = out
    return _CACHE[key]


def copy_bundle(bundle: Path, target: Path) -> Path:
    """A private copy a test may damage."""
    shutil.copytree(bundle, target)
    return target
