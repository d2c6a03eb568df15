"""Measurements for ``make bench``: each function measures one thing and returns plain numbers.

Input-pipeline functions take the same list of files so their images/s compare like for like;
the files are read once beforehand (``warm_page_cache``) so no contender pays for cold disk reads.
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

import numpy as np

from seefood import decoded_cache
from seefood.images import class_folders, image_files


@contextlib.contextmanager
def empty_cache() -> Iterator[Path]:
    """An empty decoded-photo cache for one measurement (and the processes it starts): a first pass
    is measured as a first run meets it, never the user's ~/.cache, and no section inherits
    another's decoded photos."""
    folder = Path(tempfile.mkdtemp(prefix="seefood-bench-cache-"))
    before = os.environ.get(decoded_cache.ENV_DIR)
    os.environ[decoded_cache.ENV_DIR] = str(folder)
    try:
        yield folder
    finally:
        if before is None:
            os.environ.pop(decoded_cache.ENV_DIR, None)
        else:
            os.environ[decoded_cache.ENV_DIR] = before
        shutil.rmtree(folder, ignore_errors=True)

def class_files(folder: Path, per_class: int | None = None) -> list[tuple[str, int]]:
    """(path, class index) for folder/<class>/*, at most ``per_class`` of each, in a stable order."""
    items = []
    for index, cls in enumerate(class_folders(folder)):
        items += [(str(p), index) for p in image_files(cls, recursive=False)[:per_class]]
    return items


def link_subset(items: list[tuple[str, int]], classes: list[str], dst: Path) -> Path:
    """dst/<class>/<file> symlinks: the same files as a folder, for image_dataset_from_directory."""
    for path, index in items:
        folder = dst / classes[index]
        folder.mkdir(parents=True, exist_ok=True)
        link = folder / Path(path).name
        if not link.exists():
            os.symlink(Path(path).resolve(), link)
    return dst


def generate_photos(dst: Path, classes: int = 5, per_class: int = 96, size=(384, 512), seed: int = 0) -> Path:
    """Photo-sized JPEGs (noisy colour fields) when food5 is absent: decode cost like real photos."""
    from PIL import Image

    rng = np.random.default_rng(seed)
    h, w = size
    for c in range(classes):
        folder = dst / f"class_{c}"
        folder.mkdir(parents=True, exist_ok=True)
        colour = rng.integers(30, 225, 3)
        for i in range(per_class):
            pixels = np.clip(rng.normal(colour, 40, (h, w, 3)), 0, 255).astype(np.uint8)
            Image.fromarray(pixels).save(folder / f"{c}_{i}.jpg", quality=90)
    return dst


def warm_page_cache(paths: list[str]) -> int:
    total = 0
    for p in paths:
        total += len(Path(p).read_bytes())
    return total


def _rate(count: int, seconds: float) -> dict:
    return {"images": count, "seconds": seconds, "images_per_s": count / seconds if seconds > 0 else float("inf")}


def alternated_median(*runs_and_passes) -> tuple[dict, ...]:
    """``alternated_median(first, second, ..., passes)``: run each function (each returning a ``_rate``
    dict) in turn, ``passes`` times over; each one's median pass, with every pass's images/s under
    ``passes``. Alternating spreads a neighbour's load over all of them, where back-to-back single passes
    hand it to whichever ran while it lasted."""
    *functions, passes = runs_and_passes
    runs: list[list[dict]] = [[] for _ in functions]
    for _ in range(passes):
        for results, function in zip(runs, functions):
            results.append(function())
    out = []
    for results in runs:
        ranked = sorted(results, key=lambda r: r["images_per_s"])
        out.append(dict(ranked[len(ranked) // 2], passes=[r["images_per_s"] for r in results]))
    return tuple(out)


def pillow_loop(paths: list[str], image_size: int) -> dict:
    """The baseline: one file after another in one thread, full decode (no DCT scaling), then the
    shared crop and resize."""
    from seefood.images import load_rgb
    from seefood.preprocessing import fit_to_input

    start = time.perf_counter()
    for p in paths:
        fit_to_input(load_rgb(p), image_size)
    return _rate(len(paths), time.perf_counter() - start)


PHONE_SIZE = (4032, 3024)


def phone_folder(dst: Path, count: int, sources: list[str], classes: int = 5, quality: int = 90) -> tuple[Path, float]:
    """``count`` phone-size JPEGs (4032x3024, quality 90) in ``classes`` class folders: each a source
    photo cropped to 4:3, upscaled (bicubic) and given sensor-like noise, so the file carries a phone
    photo's pixels and entropy. Made once and kept (a marker names the recipe); (folder, seconds spent
    making it now, 0 when reused)."""
    from PIL import Image, ImageChops

    marker = dst / f".made-{count}-{classes}-{quality}-{PHONE_SIZE[0]}x{PHONE_SIZE[1]}-{len(sources)}"
    if marker.is_file():
        return dst, 0.0
    start = time.perf_counter()
    noise = Image.effect_noise(PHONE_SIZE, 10).convert("RGB")  # gaussian around 128, made once
    for i in range(count):
        folder = dst / f"class_{i % classes}"
        folder.mkdir(parents=True, exist_ok=True)
        with Image.open(sources[i % len(sources)]) as source:
            image = source.convert("RGB")
        width, height = image.size
        crop = (width, width * 3 // 4) if width * 3 // 4 <= height else (height * 4 // 3, height)
        left, top = (width - crop[0]) // 2, (height - crop[1]) // 2
        image = image.crop((left, top, left + crop[0], top + crop[1])).resize(PHONE_SIZE, Image.Resampling.BICUBIC)
        shifted = noise.transform(PHONE_SIZE, Image.Transform.AFFINE, (1, 0, (i * 37) % 64, 0, 1, (i * 53) % 64),
                                  fillcolor=(128, 128, 128))  # a different noise field per photo
        ImageChops.add(image, shifted, scale=1.0, offset=-128).save(folder / f"IMG_{i:04d}.jpg", quality=quality)
    marker.write_text("phone-size test photos made by bench/measure.py\n")
    return dst, time.perf_counter() - start


def tfdata_pipeline(paths: list[str], targets: list[int], image_size: int, batch_size: int = 32) -> dict:
    """The first pass of the training tf.data pipeline over photos it has never seen (parallel
    decode, filling an empty decoded-photo cache: hashing and writing included)."""
    from training.pipeline import AUTOTUNE, labelled_dataset

    with empty_cache():
        ds = labelled_dataset(paths, targets, image_size, 1, True).batch(batch_size).prefetch(AUTOTUNE)
        start = time.perf_counter()
        count = sum(int(x.shape[0]) for x, _ in ds)
        return _rate(count, time.perf_counter() - start)


def train_first_pass(folder: Path, image_size: int, batch_size: int = 32) -> dict:
    """The first pass of ``seefood train`` over photos it has never seen, in this process: the audit
    (every photo hashed, checked and decoded into an empty decoded-photo cache, in its thread pool:
    ``training.dataset.discover``), then the training stream's pass, which reads the audit's pixels."""
    from training.dataset import discover
    from training.pipeline import AUTOTUNE, labelled_dataset

    with empty_cache():
        start = time.perf_counter()
        inventory = discover(folder, image_size=image_size, val_fraction=0.0, test_fraction=0.0)
        paths = [e.path for e in inventory.examples]
        targets = [inventory.folder_classes.index(e.folder_class) for e in inventory.examples]
        ds = labelled_dataset(paths, targets, image_size, 1, True).batch(batch_size).prefetch(AUTOTUNE)
        count = sum(int(x.shape[0]) for x, _ in ds)
        return _rate(count, time.perf_counter() - start)


def train_twice(folder: Path, work: Path, epochs: int = 1) -> list[dict]:
    """``seefood train FOLDER`` twice, one process each, with one (initially empty) decoded-photo
    cache; each run's ``run.json`` "decoding" record and wall time."""
    records = []
    with empty_cache():
        for i in (1, 2):
            out = work / f"train-twice-{i}"
            start = time.perf_counter()
            subprocess.run(seefood_argv("train", str(folder), "--out", str(out), "--epochs", str(epochs), "--force"),
                           check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
            run = json.loads((out / "run.json").read_text(encoding="utf-8"))
            records.append(dict(run["decoding"], seconds=time.perf_counter() - start))
    return records


def keras_directory_loader(folder: Path, image_size: int, batch_size: int = 32) -> dict:
    """``keras.utils.image_dataset_from_directory`` without caching: one pass over the folder."""
    import keras

    ds = keras.utils.image_dataset_from_directory(
        str(folder), image_size=(image_size, image_size), batch_size=batch_size, shuffle=False,
        crop_to_aspect_ratio=True, verbose=False,
    )
    start = time.perf_counter()
    count = sum(int(x.shape[0]) for x, _ in ds)
    return _rate(count, time.perf_counter() - start)


def training_throughput(paths: list[str], targets: list[int], image_size: int, epochs: int = 3,
                        batch_size: int = 32, augment: str = "light", balance: str = "oversample") -> dict:
    """small_cnn trained as ``seefood train`` trains it (same pipeline, model, loss), timed per epoch.
    Epoch 1 includes decoding every photo into the cache; later epochs are the steady state."""
    import keras

    from training.balance import initial_bias, plan_balance
    from training.models import build_model
    from training.pipeline import training_dataset

    binary_targets = [1 if t == 0 else 0 for t in targets]  # first class against the rest
    counts = [binary_targets.count(0), binary_targets.count(1)]
    plan = plan_balance(balance, counts)
    with empty_cache():  # epoch 1 decodes every photo, as a first run's training stream would without the audit
        ds, steps = training_dataset(paths, binary_targets, image_size, 1, True, plan, batch_size, seed=0)
        model, _ = build_model("small_cnn", image_size, 1, True, augment, output_bias=initial_bias(plan, True))
        model.compile(optimizer=keras.optimizers.Adam(3e-3), loss=keras.losses.BinaryCrossentropy())
        times: list[float] = []

        class Timer(keras.callbacks.Callback):
            def on_epoch_begin(self, epoch, logs=None):
                self.start = time.perf_counter()

            def on_epoch_end(self, epoch, logs=None):
                times.append(time.perf_counter() - self.start)

        model.fit(ds, epochs=epochs, steps_per_epoch=steps, callbacks=[Timer()], verbose=0, shuffle=False)
        images = steps * batch_size
        steady = times[1:] or times
        return {"images_per_epoch": images, "epoch_seconds": times,
                "first_epoch_images_per_s": images / times[0],
                "steady_images_per_s": images / float(np.median(steady))}


def write_video(path: Path, frames: list[np.ndarray], fps: float = 30.0) -> Path:
    """An MJPG video at ``fps`` from RGB frames (what ``seefood app --source`` plays at its own rate)."""
    import cv2

    h, w = frames[0].shape[:2]
    writer = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*"MJPG"), fps, (w, h))
    if not writer.isOpened():
        raise RuntimeError(f"OpenCV cannot write {path}")
    for frame in frames:
        writer.write(cv2.cvtColor(frame, cv2.COLOR_RGB2BGR))
    writer.release()
    return path


def video_frames(paths: list[str], count: int, size=(640, 480)) -> list[np.ndarray]:
    """``count`` 640x480 RGB frames cycling through photos (each held for 15 frames, like panning a plate)."""
    from PIL import Image

    from seefood.images import load_rgb

    w, h = size
    stills = [np.asarray(Image.fromarray(load_rgb(p)).resize((w, h))) for p in paths[: max(1, count // 15)]]
    return [stills[(i // 15) % len(stills)] for i in range(count)]


def fresh_process(argv: list[str]) -> list[str]:
    """``argv`` started by a small shell that forks it, so that its peak RSS is its own.

    Linux keeps ``ru_maxrss`` across fork + exec: a child started straight from this process (which
    holds TensorFlow and a model) would report this process's peak as its own. The shell forks
    (it has a command after ``"$@"``, so it cannot exec in place) from its own small address space."""
    return ["/bin/sh", "-c", '"$@"; exit $?', "sh", *argv]


def run_stats_command(argv: list[str], stats_json: Path, timeout: float) -> dict:
    """Run a timed app (or baseline) process and read its --stats-json file."""
    env = dict(os.environ, QT_QPA_PLATFORM=os.environ.get("QT_QPA_PLATFORM", "offscreen"), TF_CPP_MIN_LOG_LEVEL="2")
    proc = subprocess.run(fresh_process(argv), env=env, capture_output=True, text=True, timeout=timeout)
    if proc.returncode != 0 or not stats_json.is_file():
        tail = (proc.stderr or proc.stdout).strip().splitlines()[-3:]
        raise RuntimeError(f"exit {proc.returncode}: {' / '.join(tail)}")
    return json.loads(stats_json.read_text(encoding="utf-8"))


def small_photo_folder(dst: Path, count: int, minority_share: float = 0.2, side: tuple[int, int] = (96, 72)) -> tuple[Path, float]:
    """``count`` small JPEGs in two class folders (``minority_share`` of them in ``minority``), each
    a different random picture (the audit would merge identical files). Made once and kept (a
    marker names the recipe); (folder, seconds spent making it now, 0 when reused)."""
    from PIL import Image

    marker = dst / f".made-{count}-{minority_share}-{side[0]}x{side[1]}"
    if marker.is_file():
        return dst, 0.0
    start = time.perf_counter()
    rng = np.random.default_rng(0)
    w, h = side
    for name in ("minority", "majority"):
        (dst / name).mkdir(parents=True, exist_ok=True)
    for i in range(count):
        minority = i < int(count * minority_share)
        base = (200, 60, 40) if minority else (40, 90, 200)
        pixels = np.clip(rng.normal(base, 40, (h // 8, w // 8, 3)), 0, 255).astype(np.uint8)
        image = Image.fromarray(pixels).resize((w, h), Image.Resampling.BILINEAR)
        image.save(dst / ("minority" if minority else "majority") / f"{i:05d}.jpg", quality=85)
    marker.write_text("small generated photos made by bench/measure.py\n")
    return dst, time.perf_counter() - start


def peak_rss_run(argv: list[str], timeout: float) -> tuple[float, float, subprocess.CompletedProcess]:
    """Run ``argv`` to the end; (its peak RSS in MiB, wall seconds, the finished process). A small
    Python parent (itself started through ``fresh_process``) runs it and reads RUSAGE_CHILDREN, so
    the figure is the command's own peak, not this TensorFlow-holding process's."""
    code = ("import resource, subprocess, sys; rc = subprocess.run(sys.argv[1:]).returncode; "
            "print(resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss, file=sys.stderr); sys.exit(rc)")
    start = time.perf_counter()
    proc = subprocess.run(fresh_process([sys.executable, "-c", code, *argv]), capture_output=True, text=True,
                          timeout=timeout, check=False)
    seconds = time.perf_counter() - start
    kib = int(proc.stderr.strip().splitlines()[-1])  # Linux: ru_maxrss in KiB
    return kib / 1024, seconds, proc


def seefood_argv(*args: str) -> list[str]:
    """``seefood ...`` through this interpreter (works without the console script on PATH)."""
    return [sys.executable, "-m", "seefood.cli", *args]
