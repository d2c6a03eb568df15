"""Keras model -> TFLite flatbuffer, one quantization mode at a time.

The trained model already takes raw uint8 RGB and scales it inside (``Rescaling`` with the
run's ``Preprocessing.scale``/``offset``), so it is converted as it is: the exported model
embeds the training preprocessing and a phone feeds the pixels it has after the shared crop and
resize (``seefood.preprocessing.fit_to_input``).

Modes:
- ``float32``: no quantization; the reference.
- ``float16``: weights stored as float16 (half the size; CPUs still compute in float32).
- ``dynamic``: weights int8, activations float at run time.
- ``int8``: full integer. Weights and activations int8, calibrated on a representative
  dataset drawn from the run's TRAIN split, stratified by class (round-robin over classes, so
  a rare class is calibrated as well as a common one). The input stays uint8 raw pixels (the
  model's own cast), the output stays float32 probabilities so callers need no dequantizing.

int8 granularity: weights quantized per output channel (the converter's default) carry a scale and
an int64 zero point for every channel of every convolution, and a bias scale per channel too. For a
phone-sized model of 0.14 M parameters that is a fifth of the file (food5: 40 KiB of 197 KiB).
Per-tensor quantization keeps one scale per tensor: the file shrinks to about 0.28x float32, at
some risk to accuracy when a layer's channels have very different ranges (depthwise convolutions
are the classic case). ``seefood export`` therefore tries per-tensor first and falls back to
per-channel when verification against the Keras model fails (``GRANULARITIES``).
"""

from __future__ import annotations

import contextlib
import io
import warnings
from collections import defaultdict
from collections.abc import Callable, Iterator, Sequence

import numpy as np

from seefood.errors import SeeFoodError

MODES = ("float32", "float16", "dynamic", "int8")
GRANULARITIES = ("per-tensor", "per-channel")
DEFAULT_REPRESENTATIVE_SIZE = 200


class ConversionError(SeeFoodError, RuntimeError):
    """The TFLite converter refused the model; the message says which mode and why."""


def stratified_sample(items: Sequence[tuple[str, int]], size: int, seed: int = 0) -> list[tuple[str, int]]:
    """Up to ``size`` (path, target) pairs taking classes in turn, so every class is represented.

    Within a class the order is shuffled with ``seed`` (reproducible exports).
    """
    if size <= 0:
        raise ValueError(f"representative size must be positive, got {size}")
    rng = np.random.default_rng(seed)
    by_class: dict[int, list[tuple[str, int]]] = defaultdict(list)
    for path, target in items:
        by_class[int(target)].append((path, int(target)))
    queues = []
    for target in sorted(by_class):
        group = by_class[target]
        order = rng.permutation(len(group))
        queues.append([group[i] for i in order])
    chosen: list[tuple[str, int]] = []
    depth = 0
    while len(chosen) < size and any(depth < len(q) for q in queues):
        for queue in queues:
            if depth < len(queue) and len(chosen) < size:
                chosen.append(queue[depth])
        depth += 1
    return chosen


def representative_dataset(
    items: Sequence[tuple[str, int]], load: Callable[[str], np.ndarray]
) -> Callable[[], Iterator[list[np.ndarray]]]:
    """The converter's calibration generator: uint8 [1, S, S, 3] batches, what the model takes."""

    def generate() -> Iterator[list[np.ndarray]]:
        for path, _target in items:
            yield [np.asarray(load(path), dtype=np.uint8)[np.newaxis]]

    return generate


def convert(
    model,
    mode: str,
    representative: Callable[[], Iterator[list[np.ndarray]]] | None = None,
    granularity: str = "per-channel",
) -> bytes:
    """Convert a Keras model (uint8 image input) to a TFLite flatbuffer in ``mode``; ``granularity``
    applies to int8 only."""
    import tensorflow as tf

    if mode not in MODES:
        raise ValueError(f"unknown quantization mode {mode!r}; choose one of {', '.join(MODES)}")
    if granularity not in GRANULARITIES:
        raise ValueError(f"unknown int8 granularity {granularity!r}; choose one of {', '.join(GRANULARITIES)}")
    converter = tf.lite.TFLiteConverter.from_keras_model(model)
    if mode != "float32":
        converter.optimizations = [tf.lite.Optimize.DEFAULT]
    if mode == "float16":
        converter.target_spec.supported_types = [tf.float16]
    elif mode == "int8":
        if representative is None:
            raise ValueError("int8 conversion needs a representative dataset")
        converter.representative_dataset = representative
        converter.target_spec.supported_ops = [tf.lite.OpsSet.TFLITE_BUILTINS_INT8]
        converter.inference_input_type = tf.uint8
        converter.inference_output_type = tf.float32
        if granularity == "per-tensor":
            # The converter's switch for it is not public API; fail loudly if a TensorFlow upgrade
            # drops it rather than silently writing a per-channel model labelled per-tensor.
            if not hasattr(converter, "_experimental_disable_per_channel"):
                raise ConversionError(
                    f"this TensorFlow ({tf.__version__}) has no per-tensor int8 switch; "
                    "export with --int8-granularity per-channel"
                )
            converter._experimental_disable_per_channel = True
    # The converter prints the SavedModel it writes on the way; keep the command's output readable.
    captured = io.StringIO()
    try:
        with contextlib.redirect_stdout(captured), warnings.catch_warnings():
            # int8: "Statistics for quantized inputs were expected": the uint8 input is raw pixels
            # feeding the model's own cast, there is nothing to calibrate there.
            warnings.filterwarnings("ignore", message="Statistics for quantized inputs")
            return bytes(converter.convert())
    except Exception as error:  # the converter raises many unrelated types
        raise ConversionError(f"TFLite conversion ({mode}) failed: {error}") from error
