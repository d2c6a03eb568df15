"""TensorFlow's start-up noise, kept off the user's terminal.

Importing TensorFlow 2.21 and touching its devices writes lines like these straight to file
descriptor 2, from C++, before its own log level applies (``TF_CPP_MIN_LOG_LEVEL=3`` hides the cuInit
error but none of the others, measured 2026-11-24):

    WARNING: All log messages before absl::InitializeLog() is called are written to STDERR
    I0000 00:00:1795517378.926613   17997 port.cc:153] oneDNN custom operations are on. ...
    I0000 00:00:1795517378.926972   17997 cudart_stub.cc:31] Could not find cuda drivers on your machine, ...
    E0000 00:00:1795517381.901424   17997 cuda_platform.cc:52] failed call to cuInit: ... (303)

The LiteRT interpreter adds one line of its own when it prepares a model (``INFO: Created TensorFlow
Lite XNNPACK delegate for CPU.``), on every ``predict``, ``verify`` and app start: ``quiet_litert``.

``import_tensorflow`` imports TensorFlow and lists its devices (where cuInit runs) with fd 2
going through a pipe for that moment only; lines that match ``NOISE`` are dropped and every
other line is passed on when the moment ends, in order. Only that bounded window is filtered, so
a later crash report or error is never held back. ``seefood --verbose`` (or ``SEEFOOD_VERBOSE=1``)
shows everything.
"""

from __future__ import annotations

import os
import re
import sys
import threading
from collections.abc import Iterator
from contextlib import contextmanager

NOISE = re.compile(
    rb"^(WARNING: All log messages before absl::InitializeLog\(\) is called are written to STDERR"
    rb"|[IW]\d{4} [\d:.]+\s+\d+ [\w.]+:\d+\] .*"  # absl INFO / WARNING lines
    rb"|E\d{4} [\d:.]+\s+\d+ cuda_\w+\.cc:\d+\] failed call to cuInit.*"  # no GPU: not an error for us
    rb")$"
)
LITERT_NOISE = re.compile(rb"^INFO: Created TensorFlow Lite XNNPACK delegate for CPU\.$")

# fd 2 is the process's, not a thread's: two filters open at once (the app's inference thread preparing a model
# while another thread imports TensorFlow) would restore each other's pipes and lose lines. One at a time.
_FD2_LOCK = threading.RLock()


@contextmanager
def filtered_stderr(noise: re.Pattern = NOISE) -> Iterator[list[bytes]]:
    """Within the block, lines written to fd 2 (by Python or C++) that match ``noise`` are dropped;
    the others reach the real stderr when the block ends. Yields the list of dropped lines."""
    with _FD2_LOCK:
        try:
            os.fstat(2)
        except OSError:  # no stderr at all (a windowed app on Windows): nothing to filter
            yield []
            return
        with _filtered_fd2(noise) as dropped:
            yield dropped


@contextmanager
def _filtered_fd2(noise: re.Pattern) -> Iterator[list[bytes]]:
    dropped: list[bytes] = []
    if sys.stderr is not None:
        sys.stderr.flush()
    saved = os.dup(2)
    read_end, write_end = os.pipe()
    os.dup2(write_end, 2)
    os.close(write_end)
    received: list[bytes] = []
    reader = threading.Thread(target=lambda: received.append(_read_all(read_end)), daemon=True)
    reader.start()
    try:
        yield dropped
    finally:
        if sys.stderr is not None:
            sys.stderr.flush()
        os.dup2(saved, 2)  # the pipe's last write end closes: the reader sees end of file
        os.close(saved)
        reader.join(timeout=5)  # a child process started inside the block would hold a write end open
        if not reader.is_alive():
            os.close(read_end)
        kept = []
        for line in b"".join(received).splitlines(keepends=True):
            (dropped if noise.match(line.rstrip(b"\r\n")) else kept).append(line)
        if kept:
            os.write(2, b"".join(kept))


def _read_all(fd: int) -> bytes:
    chunks = []
    while chunk := os.read(fd, 65536):
        chunks.append(chunk)
    return b"".join(chunks)


def verbose() -> bool:
    return os.environ.get("SEEFOOD_VERBOSE", "") not in ("", "0")


def import_tensorflow():
    """``import tensorflow`` and its device discovery, without the start-up noise (unless verbose)."""
    if "tensorflow" in sys.modules or verbose():
        import tensorflow as tf

        return tf
    with filtered_stderr():
        import tensorflow as tf

        tf.config.list_physical_devices()
    return tf


@contextmanager
def quiet_litert() -> Iterator[None]:
    """Around a LiteRT interpreter's ``allocate_tensors``: its start-up line dropped (unless verbose)."""
    if verbose():
        yield
        return
    with filtered_stderr(LITERT_NOISE):
        yield
