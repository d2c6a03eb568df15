"""Training on several machines (a TF_CONFIG cluster): which worker writes, where the others write,
and a workaround that lets Keras 3's ``fit`` run under MultiWorkerMirroredStrategy.

TensorFlow's multi-worker guide: every worker runs the same steps (fit, predict and saving are
collective), only the chief writes the real output, the others write to a temporary folder.
Verified by ``tests/test_multiworker.py`` (two workers on 127.0.0.1 sharing ``--out``).
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import tempfile
from dataclasses import dataclass
from pathlib import Path

from seefood.errors import InputError


@dataclass(frozen=True)
class WorkerRole:
    """This process's place in a TF_CONFIG cluster: ``kind`` "chief" or "worker", its ``index``,
    how many ``workers`` train together, and whether it is the ``chief`` (the one that writes)."""

    kind: str
    index: int
    workers: int
    chief: bool

    @property
    def name(self) -> str:
        return f"{self.kind} {self.index} of {self.workers}"


def worker_role(mode: str = "auto") -> WorkerRole | None:
    """The role TF_CONFIG gives this process when it names a cluster of several workers (and
    ``--distribute`` is not ``none``), else None. TensorFlow's multi-worker guide: the chief is the
    task of type "chief", or worker 0 when the cluster has no "chief"; the others run every step
    with it (fit, predict and saving are collective) but write to a scratch folder."""
    raw = os.environ.get("TF_CONFIG")
    if mode == "none" or not raw:
        return None
    try:
        config = json.loads(raw)
        cluster, task = config.get("cluster") or {}, config.get("task") or {}
        cluster = {kind: len(cluster.get(kind) or []) for kind in ("chief", "worker")}
        kind, index = str(task.get("type", "")), int(task.get("index", 0))
    except (ValueError, TypeError, AttributeError) as error:
        raise InputError(f"TF_CONFIG must be a JSON object with \"cluster\" and \"task\" (\"type\", \"index\"), as "
                         f"in the README's multi-machine recipe; got {raw[:200]!r}") from error
    workers = cluster["chief"] + cluster["worker"]
    if workers < 2:
        return None
    chief = kind == "chief" or (kind == "worker" and index == 0 and not cluster["chief"])
    return WorkerRole(kind, index, workers, chief)


@contextlib.contextmanager
def scratch_out(role: WorkerRole):
    """A non-chief worker's stand-in for ``--out`` (TensorFlow's guide: other workers write to a
    temporary folder): a fresh folder under the system's temporary directory, never beside the
    user's files, deleted when the block ends, however it ends. Yields the run folder inside it."""
    scratch = Path(tempfile.mkdtemp(prefix=f"seefood-{role.kind}{role.index}-"))
    try:
        yield scratch / "run"
    finally:
        shutil.rmtree(scratch, ignore_errors=True)


def reduce_nests(strategy):
    """``strategy`` whose ``reduce`` also takes a nest of per-replica values, and uint8 ones. Keras 3's
    ``fit`` reduces its first batch, an (images, targets, weights) tuple, to learn its shapes; across
    several workers MultiWorkerMirroredStrategy takes one value only ("Attempt to convert a value
    (PerReplica...)", keras-team/keras#20585, tensorflow/tensorflow#72388) and its collectives no uint8
    pixels; and each training step reduces its scalar logs along ``axis=0``, which a scalar lacks. So
    each value is reduced alone, a narrow integer one as int32 and cast back, a scalar across replicas."""
    import tensorflow as tf

    reduce = strategy.reduce
    collective = (tf.float16, tf.bfloat16, tf.float32, tf.float64, tf.int32, tf.int64)

    def reduce_one(reduce_op, value, axis):
        local = strategy.experimental_local_results(value)[0]
        dtype = local.dtype
        if axis is not None and local.shape.rank == 0:
            axis = None  # the mean of one number per replica (what MirroredStrategy gives Keras)
        if dtype in collective:
            return reduce(reduce_op, value, axis=axis)
        widen = tf.function(lambda t: tf.cast(t, tf.float32 if dtype.is_floating else tf.int32))
        wide = strategy.run(widen, args=(value,))
        return tf.cast(reduce(reduce_op, wide, axis=axis), dtype)

    strategy.reduce = lambda reduce_op, value, axis=None: tf.nest.map_structure(
        lambda v: v if v is None else reduce_one(reduce_op, v, axis), value)
    return strategy
