"""Training-step throughput of SeeFood's own models, float32 against mixed_float16.

Builds each model with ``training.models.build_model`` (the builder ``seefood train`` uses),
compiles it the way training does (Adam, binary cross-entropy; Keras wraps the optimizer in a
LossScaleOptimizer under mixed_float16) and times ``model.fit`` on random uint8 pixels held in
memory, so the figure is the model's forward + backward + update alone: no decoding, no tf.data.

It runs on whichever Keras backend is active (``KERAS_BACKEND``), which is how it measures a GPU
on a machine where TensorFlow cannot be installed: the same model code on JAX. Say which backend
a figure came from when quoting it.

    python -m bench.train_step --json train_step.json
    KERAS_BACKEND=jax python -m bench.train_step --config mobilenet_v3_small:224:128 --json out.json
"""

from __future__ import annotations

import argparse
import json
import platform
import sys
import time
from dataclasses import asdict, dataclass

import keras
import numpy as np

from training.models import build_model

DEFAULT_CONFIGS = ("small_cnn:128:64", "mobilenet_v3_small:224:64")
POLICIES = ("float32", "mixed_float16")  # the default pair; --policy mixed_bfloat16 measures bf16 too
CHOICES = (*POLICIES, "mixed_bfloat16")


@dataclass(frozen=True)
class StepResult:
    model: str
    image_size: int
    batch: int
    policy: str
    augment: str
    backend: str
    device: str
    images_per_s: float
    step_ms_p50: float
    timed_steps: int
    compile_and_first_epoch_s: float
    jit_compile: bool = False


class _EpochClock(keras.callbacks.Callback):
    def __init__(self):
        super().__init__()
        self.batch_times: list[float] = []
        self._start = 0.0

    def on_train_batch_begin(self, batch, logs=None):
        self._start = time.perf_counter()

    def on_train_batch_end(self, batch, logs=None):
        # fit() reads the step's logs only every `steps_per_execution`; this callback forces a
        # sync per step through the logs, so each time covers one whole step on the device.
        if logs and "loss" in logs:
            float(logs["loss"])
        self.batch_times.append(time.perf_counter() - self._start)


def device_name() -> str:
    backend = keras.backend.backend()
    if backend == "jax":
        import jax

        devices = jax.devices()
        return f"{devices[0].platform}: {devices[0].device_kind} x{len(devices)}"
    if backend == "tensorflow":
        import tensorflow as tf

        gpus = tf.config.list_physical_devices("GPU")
        if gpus:
            details = tf.config.experimental.get_device_details(gpus[0])
            return f"gpu: {details.get('device_name', gpus[0].name)} x{len(gpus)}"
        return f"cpu: {platform.processor() or platform.machine()}"
    if backend == "torch":
        import torch

        return f"cuda: {torch.cuda.get_device_name(0)}" if torch.cuda.is_available() else "cpu"
    return backend


def measure(model_name: str, image_size: int, batch: int, policy: str, steps: int, augment: str = "light",
            jit_compile: bool = False) -> StepResult:
    keras.mixed_precision.set_global_policy(policy)
    keras.utils.set_random_seed(0)
    try:
        model, _ = build_model(model_name, image_size, 1, True, augment=augment, weights="none")
        # Keras leaves XLA off on CPU-only machines ("auto"); --jit-compile asks for it. compile() falls back to no
        # XLA, with a warning, for a model it cannot compile (the augmentation layers), so that is checked here.
        model.compile(optimizer=keras.optimizers.Adam(1e-3), loss="binary_crossentropy", jit_compile=jit_compile or "auto")
        if jit_compile and not model.jit_compile:
            raise SystemExit(f"--jit-compile: Keras cannot compile {model_name} with augmentation {augment!r} with XLA "
                             "(it fell back to no XLA); try --augment none")
        rng = np.random.default_rng(0)
        images = rng.integers(0, 256, (batch * steps, image_size, image_size, 3), dtype=np.uint8)
        labels = rng.integers(0, 2, (batch * steps, 1)).astype("float32")
        started = time.perf_counter()
        model.fit(images[: batch * 2], labels[: batch * 2], batch_size=batch, epochs=1, verbose=0)
        warm = time.perf_counter() - started
        clock = _EpochClock()
        model.fit(images, labels, batch_size=batch, epochs=1, verbose=0, callbacks=[clock], shuffle=False)
    finally:
        keras.mixed_precision.set_global_policy("float32")
    # The first step of the timed epoch can still carry tracing work; drop it.
    times = np.asarray(clock.batch_times[1:])
    return StepResult(
        model=model_name,
        image_size=image_size,
        batch=batch,
        policy=policy,
        augment=augment,
        backend=keras.backend.backend(),
        device=device_name(),
        images_per_s=round(batch / float(np.median(times)), 1),
        step_ms_p50=round(1000 * float(np.median(times)), 2),
        timed_steps=len(times),
        compile_and_first_epoch_s=round(warm, 2),
        jit_compile=bool(jit_compile),
    )


def parse_config(text: str) -> tuple[str, int, int]:
    try:
        name, size, batch = text.split(":")
        return name, int(size), int(batch)
    except ValueError:
        raise argparse.ArgumentTypeError(f"--config {text!r}: expected MODEL:IMAGE_SIZE:BATCH, e.g. small_cnn:128:64") from None


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.train_step", description=__doc__.split("\n\n")[0])
    parser.add_argument("--config", action="append", type=parse_config,
                        help="MODEL:IMAGE_SIZE:BATCH (repeatable; default: %s)" % ", ".join(DEFAULT_CONFIGS))
    parser.add_argument("--steps", type=int, default=20, help="timed steps per configuration (default 20)")
    parser.add_argument("--policy", action="append", choices=CHOICES, help="repeatable; default: float32 and mixed_float16")
    parser.add_argument("--augment", choices=("none", "light", "strong"), default="light",
                        help="the model's augmentation layers (default light, as seefood train)")
    parser.add_argument("--jit-compile", action="store_true",
                        help="compile the step with XLA (Keras leaves it off on CPU-only machines)")
    parser.add_argument("--json", help="write the results here as a JSON list")
    args = parser.parse_args(argv)
    configs = args.config or [parse_config(c) for c in DEFAULT_CONFIGS]
    results = []
    for name, size, batch in configs:
        for policy in args.policy or POLICIES:
            result = measure(name, size, batch, policy, args.steps, args.augment, args.jit_compile)
            results.append(result)
            xla = " XLA" if result.jit_compile else ""
            print(f"{result.backend:10s} {result.device:28s} {name:20s} {size:4d}px batch {batch:4d} "
                  f"{policy:14s}{xla} {result.images_per_s:9.1f} img/s  (step p50 {result.step_ms_p50} ms, "
                  f"compile + 2 steps {result.compile_and_first_epoch_s} s)", flush=True)
            if args.json:  # after every result, so a run cut short keeps what it measured
                with open(args.json, "w") as out:
                    json.dump([asdict(r) for r in results], out, indent=1)
    return 0


if __name__ == "__main__":
    sys.exit(main())
