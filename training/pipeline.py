"""The tf.data input pipeline: parallel decode and resize, cache, (over)sample, shuffle, batch, prefetch.

Decoding goes through ``seefood.images.load_rgb`` (EXIF, 16-bit, CMYK, palette... handled once,
the same way everywhere) and ``seefood.preprocessing.fit_to_input`` (THE crop and resize policy,
shared with export, the app and phones). Pillow releases the GIL while decoding, so
``num_parallel_calls=AUTOTUNE`` runs decodes in parallel. Scaling is not done here: the model
takes uint8 pixels and scales them itself.
"""

from __future__ import annotations

import numpy as np
import tensorflow as tf

from seefood.images import load_rgb
from seefood.preprocessing import fit_to_input
from training.balance import BalancePlan

AUTOTUNE = tf.data.AUTOTUNE


def load_fitted(path: str, image_size: int) -> np.ndarray:
    """One photo file, decoded and fitted to the model input (uint8, image_size^2 x 3)."""
    return fit_to_input(load_rgb(path), image_size)


def _decode_op(image_size: int):
    def decode(path: tf.Tensor) -> tf.Tensor:
        image = tf.numpy_function(
            lambda p: load_fitted(p.decode("utf-8"), image_size), [path], tf.uint8, stateful=False
        )
        image.set_shape((image_size, image_size, 3))
        return image

    return decode


def _target_op(num_outputs: int, binary: bool):
    def encode(target: tf.Tensor) -> tf.Tensor:
        if binary:
            return tf.reshape(tf.cast(target, tf.float32), (1,))
        return tf.one_hot(target, num_outputs)

    return encode


def image_dataset(paths: list[str], image_size: int) -> tf.data.Dataset:
    """Decoded, fitted, cached images in order (for evaluation and prediction)."""
    ds = tf.data.Dataset.from_tensor_slices(tf.constant(paths, dtype=tf.string))
    return ds.map(_decode_op(image_size), num_parallel_calls=AUTOTUNE, deterministic=True).cache()


def eval_dataset(paths: list[str], image_size: int, batch_size: int) -> tf.data.Dataset:
    return image_dataset(paths, image_size).batch(batch_size).prefetch(AUTOTUNE)


def labelled_dataset(paths, targets, image_size, num_outputs, binary, weights=None):
    """(image, target[, weight]) pairs, decoded once and cached."""
    images = image_dataset(list(paths), image_size)
    encode = _target_op(num_outputs, binary)
    target_ds = tf.data.Dataset.from_tensor_slices(tf.constant(list(targets), dtype=tf.int32))
    ds = tf.data.Dataset.zip((images, target_ds))
    if weights is None:
        return ds.map(lambda x, t: (x, encode(t)), num_parallel_calls=AUTOTUNE)
    table = tf.constant(weights, dtype=tf.float32)
    return ds.map(lambda x, t: (x, encode(t), tf.gather(table, t)), num_parallel_calls=AUTOTUNE)


def training_dataset(
    paths: list[str],
    targets: list[int],
    image_size: int,
    num_outputs: int,
    binary: bool,
    plan: BalancePlan,
    batch_size: int,
    seed: int,
) -> tuple[tf.data.Dataset, int]:
    """The training stream and its steps per epoch (one epoch = as many images as the split).

    With oversampling, each class is its own cached, repeated, shuffled stream and
    ``sample_from_datasets`` draws from them at ``plan.sampling_mix``. Class weights travel as
    per-example sample weights (the same under any tf.distribute strategy).
    """
    weights = plan.class_weights if any(abs(w - 1.0) > 1e-9 for w in plan.class_weights) else None
    n = len(paths)
    steps = max(1, int(np.ceil(n / batch_size)))
    if not plan.oversample:
        ds = labelled_dataset(paths, targets, image_size, num_outputs, binary, weights)
        ds = ds.shuffle(min(n, 4096), seed=seed, reshuffle_each_iteration=True).repeat()
    else:
        per_class = []
        targets_arr = np.asarray(targets)
        for cls in range(len(plan.sampling_mix)):
            idx = np.flatnonzero(targets_arr == cls)
            class_paths = [paths[i] for i in idx]
            ds_c = labelled_dataset(class_paths, [cls] * len(idx), image_size, num_outputs, binary, weights)
            per_class.append(ds_c.shuffle(max(1, len(idx)), seed=seed + cls, reshuffle_each_iteration=True).repeat())
        ds = tf.data.Dataset.sample_from_datasets(per_class, weights=list(plan.sampling_mix), seed=seed)
    return ds.batch(batch_size).prefetch(AUTOTUNE), steps


def validation_dataset(paths, targets, image_size, num_outputs, binary, batch_size) -> tf.data.Dataset:
    ds = labelled_dataset(paths, targets, image_size, num_outputs, binary)
    return ds.batch(batch_size).prefetch(AUTOTUNE)
