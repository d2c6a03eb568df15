"""The tf.data input pipeline: parallel decode and resize, cache, (over)sample, shuffle, batch, prefetch.

Photo files become model input through ``seefood.decoded_cache.fitted``: the decoded-photo cache
on disk (filled by the audit, which checks every photo, so training usually only reads it back),
else ``seefood.images.load_fitted`` (EXIF, 16-bit, CMYK, palette... handled once, then THE crop and
resize policy shared with export, the app and phones). Pillow releases the GIL while decoding, so
``num_parallel_calls=AUTOTUNE`` runs decodes in parallel. Scaling is not done here: the model
takes uint8 pixels and scales them itself.

Memory: a split's decoded photos are also held in memory (tf.data's ``cache``) while they fit in
``MEMORY_BUDGET``; a larger split (a 50,000-photo folder) streams from the disk cache each epoch
instead, so a run's memory does not grow with the folder.
"""

from __future__ import annotations

import numpy as np
import tensorflow as tf

from seefood import decoded_cache
from training.balance import BalancePlan

AUTOTUNE = tf.data.AUTOTUNE
MEMORY_BUDGET = 1 << 30  # bytes of decoded photos one split may hold in memory


def keep_in_memory(count: int, image_size: int) -> bool:
    """Whether ``count`` decoded photos are held in memory: always without the disk cache (nothing
    else could serve them each epoch but decoding again), else while they fit in MEMORY_BUDGET."""
    return not decoded_cache.enabled() or count * image_size * image_size * 3 <= MEMORY_BUDGET


def _decode_op(image_size: int):
    def decode(path: tf.Tensor) -> tf.Tensor:
        image = tf.numpy_function(
            lambda p: decoded_cache.fitted(p.decode("utf-8"), image_size), [path], tf.uint8, stateful=False
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


def image_dataset(paths: list[str], image_size: int, in_memory: bool) -> tf.data.Dataset:
    """Decoded, fitted images in order; ``in_memory``: held after the first pass (see ``keep_in_memory``)."""
    ds = tf.data.Dataset.from_tensor_slices(tf.constant(paths, dtype=tf.string))
    ds = ds.map(_decode_op(image_size), num_parallel_calls=AUTOTUNE, deterministic=True)
    return ds.cache() if in_memory else ds


def padding_for(n: int, batch_size: int, replicas: int) -> int:
    """How many blank examples make ``n`` a whole number of ``batch_size`` batches.

    tf.distribute splits each global batch across replicas; a last, partial batch can leave a
    replica with zero examples, which BatchNormalization (and any op with a per-channel
    constant) rejects ("Incompatible shapes: [0,...] vs. [C]"). Padding to whole batches gives
    every replica, and every worker, the same number of full batches. One replica needs none.
    """
    if replicas <= 1 or n % batch_size == 0:
        return 0
    return batch_size - n % batch_size


def global_batch_for(batch_size: int, replicas: int) -> int:
    """``batch_size`` rounded up to a multiple of ``replicas`` (each replica gets a share)."""
    return -(-batch_size // replicas) * replicas


def _blank_images(count: int, image_size: int) -> tf.data.Dataset:
    return tf.data.Dataset.from_tensors(tf.zeros((image_size, image_size, 3), tf.uint8)).repeat(count)


def eval_dataset(paths: list[str], image_size: int, batch_size: int, pad: int = 0,
                 in_memory: bool = False) -> tf.data.Dataset:
    """Images in order, batched; ``pad`` blank images at the end (see ``padding_for``); ``in_memory``
    for a dataset read every epoch."""
    ds = image_dataset(paths, image_size, in_memory)
    if pad:
        ds = ds.concatenate(_blank_images(pad, image_size))
    return ds.batch(batch_size).prefetch(AUTOTUNE)


def replicas_of(model) -> int:
    """How many replicas ``model.predict`` splits a batch over (the strategy it was built under)."""
    strategy = getattr(model, "distribute_strategy", None)
    return int(getattr(strategy, "num_replicas_in_sync", 1) or 1)


def predict_scores(model, paths: list[str], image_size: int, batch_size: int, binary: bool) -> np.ndarray:
    """Model scores for files, in order; binary -> 1-D P(positive), multi-class -> [n, k].

    Works for a model built under any tf.distribute strategy and any number of files: the
    batch is rounded to a multiple of the replicas and the last batch is padded with blank
    images whose scores are dropped.
    """
    if not paths:
        return np.zeros((0,) if binary else (0, model.output_shape[-1]), dtype=np.float32)
    replicas = replicas_of(model)
    batch = global_batch_for(batch_size, replicas)
    pad = padding_for(len(paths), batch, replicas)
    scores = model.predict(eval_dataset(paths, image_size, batch, pad), verbose=0)[: len(paths)]
    return scores.reshape(-1) if binary else scores


def _label_op(num_outputs: int, binary: bool, weights):
    encode = _target_op(num_outputs, binary)
    if weights is None:
        return lambda x, t: (x, encode(t))
    table = tf.constant(weights, dtype=tf.float32)
    return lambda x, t: (x, encode(t), tf.gather(table, t))


def labelled_dataset(paths, targets, image_size, num_outputs, binary, weights=None, in_memory=True):
    """(image, target[, weight]) pairs, in order."""
    images = image_dataset(list(paths), image_size, in_memory)
    target_ds = tf.data.Dataset.from_tensor_slices(tf.constant(list(targets), dtype=tf.int32))
    ds = tf.data.Dataset.zip((images, target_ds))
    return ds.map(_label_op(num_outputs, binary, weights), num_parallel_calls=AUTOTUNE)


def shuffled_stream(paths, targets, image_size, num_outputs, binary, weights, in_memory: bool, buffer: int,
                    seed: int) -> tf.data.Dataset:
    """(image, target[, weight]) repeated forever, in a new order every pass.

    In memory: decoded once, held (tf.data ``cache``) and shuffled in a buffer of ``buffer`` decoded
    photos. Streaming (``keep_in_memory`` said no): the file names are shuffled, the whole split at
    a few bytes each, and each photo is read back from the decoded-photo cache as it comes, so the
    process holds batches, never the split (a buffer of decoded photos would hold most of it)."""
    if in_memory:
        ds = labelled_dataset(paths, targets, image_size, num_outputs, binary, weights, True)
        return ds.shuffle(buffer, seed=seed, reshuffle_each_iteration=True).repeat()
    pairs = tf.data.Dataset.from_tensor_slices((tf.constant(list(paths), dtype=tf.string),
                                                tf.constant(list(targets), dtype=tf.int32)))
    pairs = pairs.shuffle(max(1, len(paths)), seed=seed, reshuffle_each_iteration=True).repeat()
    decode = _decode_op(image_size)
    images = pairs.map(lambda p, t: (decode(p), t), num_parallel_calls=AUTOTUNE)
    return images.map(_label_op(num_outputs, binary, weights), num_parallel_calls=AUTOTUNE)


def training_dataset(
    paths: list[str],
    targets: list[int],
    image_size: int,
    num_outputs: int,
    binary: bool,
    plan: BalancePlan,
    batch_size: int,
    seed: int,
    mixup: float = 0.0,
    cutmix: float = 0.0,
) -> tuple[tf.data.Dataset, int]:
    """The training stream and its steps per epoch (one epoch = as many images as the split).

    With oversampling, each class is its own repeated, shuffled stream (``shuffled_stream``) and
    ``sample_from_datasets`` draws from them at ``plan.sampling_mix``. Class weights travel as
    per-example sample weights (the same under any tf.distribute strategy).
    """
    weights = plan.class_weights if any(abs(w - 1.0) > 1e-9 for w in plan.class_weights) else None
    n = len(paths)
    steps = max(1, int(np.ceil(n / batch_size)))
    in_memory = keep_in_memory(n, image_size)
    if not plan.oversample:
        ds = shuffled_stream(paths, targets, image_size, num_outputs, binary, weights, in_memory, min(n, 4096), seed)
    else:
        per_class = []
        targets_arr = np.asarray(targets)
        for cls in range(len(plan.sampling_mix)):
            idx = np.flatnonzero(targets_arr == cls)
            class_paths = [paths[i] for i in idx]
            per_class.append(shuffled_stream(class_paths, [cls] * len(idx), image_size, num_outputs, binary, weights,
                                             in_memory, max(1, len(idx)), seed + cls))
        ds = tf.data.Dataset.sample_from_datasets(per_class, weights=list(plan.sampling_mix), seed=seed)
    ds = ds.batch(batch_size)
    if mixup > 0:
        ds = ds.enumerate().map(_mixup_op(mixup, seed), num_parallel_calls=AUTOTUNE)
    elif cutmix > 0:
        ds = ds.enumerate().map(_cutmix_op(cutmix, seed), num_parallel_calls=AUTOTUNE)
    return ds.prefetch(AUTOTUNE), steps


def _pair_draws(alpha: float, seed: int, step, n):
    """Per photo of batch ``step``: lambda ~ Beta(alpha, alpha), a partner photo of the same batch, and the
    key for further draws. Stateless random ops keyed by (seed, batch number): the same stream on every run."""
    key = tf.stack([tf.constant(seed, tf.int64), step])
    g1 = tf.random.stateless_gamma([n], key, alpha)
    g2 = tf.random.stateless_gamma([n], key + tf.constant([1, 0], tf.int64), alpha)
    partner = tf.argsort(tf.random.stateless_uniform([n], key + tf.constant([2, 0], tf.int64)))
    return g1 / (g1 + g2), partner, key


def _blend_with_partner(share, partner, targets, weights) -> tuple:
    """Targets and sample weights: ``share`` of the photo's own, the rest of its partner's."""

    def blend(values, shape):
        own = tf.reshape(share, shape)
        return own * values + (1.0 - own) * tf.gather(values, partner)

    return (blend(targets, (-1, 1)), *(blend(w, (-1,)) for w in weights))


def _mixup_op(alpha: float, seed: int):
    """Mixup (Zhang et al. 2018): each photo of a batch blended with another photo of the same batch,
    lambda ~ Beta(alpha, alpha), targets and sample weights blended alike, meant to keep the repeated
    photos of an oversampled class from being memorised (measured: it did not help, docs/quality.md).
    The training-split precision/recall then count blended targets; validation is unaffected."""

    def mix(step, batch):
        images, targets, *weights = batch
        lam, partner, _ = _pair_draws(alpha, seed, step, tf.shape(images)[0])
        share = tf.reshape(lam, (-1, 1, 1, 1))
        pixels = share * tf.cast(images, tf.float32) + (1.0 - share) * tf.cast(tf.gather(images, partner), tf.float32)
        targets, *weights = _blend_with_partner(lam, partner, targets, weights)
        return (tf.cast(tf.round(pixels), tf.uint8), targets, *weights)

    return mix


CUTMIX_SHARE = 0.5  # of each batch's photos, those that get a partner's box


def _cutmix_op(alpha: float, seed: int):
    """CutMix (Yun et al. 2019): half the photos of a batch, chosen at random, get a box of a partner photo of
    the same batch pasted in: area share 1 - lambda, lambda ~ Beta(alpha, alpha), centred uniformly and clipped
    at the edges. Targets and sample weights are blended by the area actually pasted, so every pixel still comes
    from a real photo while a small class's few photos keep turning up in new surroundings and in parts
    (docs/quality.md, "CutMix on the long tail")."""

    def mix(step, batch):
        images, targets, *weights = batch
        n, height, width = tf.shape(images)[0], tf.shape(images)[1], tf.shape(images)[2]
        lam, partner, key = _pair_draws(alpha, seed, step, n)
        chosen = tf.random.stateless_uniform([n], key + tf.constant([3, 0], tf.int64)) < CUTMIX_SHARE
        centre = tf.random.stateless_uniform([n, 2], key + tf.constant([4, 0], tf.int64))
        side = tf.sqrt(1.0 - lam)

        def span(centre_share, size):  # the box's [start, end) along one axis, in whole pixels
            size = tf.cast(size, tf.float32)
            low = tf.clip_by_value(tf.round((centre_share - side / 2) * size), 0.0, size)
            high = tf.clip_by_value(tf.round((centre_share + side / 2) * size), 0.0, size)
            return low, high, size

        y0, y1, h = span(centre[:, 0], height)
        x0, x1, w = span(centre[:, 1], width)
        pasted = tf.where(chosen, (y1 - y0) * (x1 - x0) / (h * w), 0.0)
        rows = tf.cast(tf.range(height), tf.float32)[None, :, None]
        cols = tf.cast(tf.range(width), tf.float32)[None, None, :]
        inside = ((rows >= y0[:, None, None]) & (rows < y1[:, None, None])
                  & (cols >= x0[:, None, None]) & (cols < x1[:, None, None]) & chosen[:, None, None])
        pixels = tf.where(inside[..., None], tf.gather(images, partner), images)
        targets, *weights = _blend_with_partner(1.0 - pasted, partner, targets, weights)
        return (pixels, targets, *weights)

    return mix


def validation_dataset(paths: list[str], image_size: int, batch_size: int, replicas: int) -> tf.data.Dataset:
    """Validation images for per-epoch scoring: held in memory when they fit (``keep_in_memory``),
    batched to the global batch, padded to whole batches on several replicas (``padding_for``); the
    scorer drops the padded rows (``training.callbacks.ValidationMetrics``)."""
    batch = global_batch_for(batch_size, replicas)
    return eval_dataset(paths, image_size, batch, padding_for(len(paths), batch, replicas),
                        in_memory=keep_in_memory(len(paths), image_size))
