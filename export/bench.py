"""Latency and memory of a bundle on this CPU, optionally next to the Keras model.

Latency is measured per single frame (batch of one, what a camera app does) after warm-up runs,
and reported as p50/p95/p99 in milliseconds. ``model`` latency is the interpreter call on an
already fitted input; ``frame`` adds the shared crop + resize from a 640x480 camera frame.
Peak memory is the process's peak resident set size; the bundle is measured before TensorFlow is
imported (``--compare`` imports it afterwards), so its figure is what the desktop app pays.
"""

from __future__ import annotations

import resource
import sys
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np

from seefood.bundle import Classifier

FRAME_SHAPE = (480, 640, 3)


def percentiles(samples_ms: list[float]) -> dict:
    values = np.asarray(samples_ms, dtype=np.float64)
    return {
        "p50_ms": float(np.percentile(values, 50)),
        "p95_ms": float(np.percentile(values, 95)),
        "p99_ms": float(np.percentile(values, 99)),
        "mean_ms": float(values.mean()),
        "runs": int(values.size),
    }


def time_calls(call: Callable[[], object], runs: int, warmup: int) -> dict:
    """Percentiles of ``call``'s wall time over ``runs`` calls after ``warmup`` untimed ones."""
    if runs < 1:
        raise ValueError(f"runs must be at least 1, got {runs}")
    for _ in range(max(0, warmup)):
        call()
    samples = []
    for _ in range(runs):
        start = time.perf_counter()
        call()
        samples.append((time.perf_counter() - start) * 1000.0)
    return percentiles(samples)


def peak_rss_mb() -> float:
    """Peak resident memory of this process so far (ru_maxrss: KiB on Linux, bytes on macOS)."""
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return peak / (1024.0 * 1024.0) if sys.platform == "darwin" else peak / 1024.0


def sample_frame(seed: int = 0) -> np.ndarray:
    return np.random.default_rng(seed).integers(0, 256, size=FRAME_SHAPE, dtype=np.uint8)


def bench_bundle(bundle_dir: Path | str, threads: int | None = None, runs: int = 200, warmup: int = 20) -> dict:
    """Latency of one bundle, model only and from a camera frame, plus size and peak memory."""
    bundle_dir = Path(bundle_dir)
    classifier = Classifier(bundle_dir, num_threads=threads)
    frame = sample_frame()
    from seefood.preprocessing import fit_to_input

    size = classifier.manifest.preprocessing.image_size
    fitted = fit_to_input(frame, size)
    model = time_calls(lambda: classifier.raw_output(fitted), runs, warmup)
    # Crop, resize and run, as ``scores`` does, minus its refusal of NaN: speed is measured even for
    # a broken model (``seefood verify`` times the bundle it is failing).
    whole = time_calls(lambda: classifier.raw_output(fit_to_input(frame, size)),
                       max(1, runs // 4), max(1, warmup // 4))
    return {
        "bundle": str(bundle_dir),
        "quantization": classifier.manifest.quantization,
        "interpreter": classifier.interpreter_name,
        "threads": threads,
        "model_bytes": (bundle_dir / classifier.manifest.model_file).stat().st_size,
        "model": model,
        "frame": whole,
        "peak_rss_mb": peak_rss_mb(),
    }


def bench_keras(model, image_size: int, runs: int = 50, warmup: int = 5) -> dict:
    """Keras ``predict`` and a direct ``model(x, training=False)`` call on one fitted frame."""
    from seefood.preprocessing import fit_to_input

    batch = fit_to_input(sample_frame(), image_size)[np.newaxis]
    predict = time_calls(lambda: model.predict(batch, verbose=0), runs, warmup)
    direct = time_calls(lambda: np.asarray(model(batch, training=False)), runs, warmup)
    return {"predict": predict, "direct": direct, "peak_rss_mb": peak_rss_mb()}


def format_bench(result: dict) -> str:
    rows = [("bundle model", result["model"]), ("bundle frame (crop+resize+model)", result["frame"])]
    keras = result.get("keras")
    if keras:
        rows += [("keras predict", keras["predict"]), ("keras model(x)", keras["direct"])]
    lines = [
        f"bundle: {result['bundle']} ({result['quantization']}, {result['model_bytes'] / 1024:.1f} KiB, "
        f"{result['interpreter']}, threads={result['threads'] or 'default'})",
        f"{'what':<34} {'p50 ms':>8} {'p95 ms':>8} {'p99 ms':>8} {'runs':>6}",
    ]
    for name, stats in rows:
        lines.append(f"{name:<34} {stats['p50_ms']:>8.3f} {stats['p95_ms']:>8.3f} {stats['p99_ms']:>8.3f} {stats['runs']:>6}")
    lines.append(f"peak RSS with the bundle only: {result['peak_rss_mb']:.1f} MiB")
    if keras:
        lines.append(f"peak RSS after loading Keras/TensorFlow: {keras['peak_rss_mb']:.1f} MiB")
        ratio = result["model"]["p50_ms"] / keras["predict"]["p50_ms"]
        lines.append(
            f"bundle / keras predict latency (p50): {ratio:.4g} (Keras predict is {1 / ratio:.0f}x slower per frame)"
        )
    return "\n".join(lines)
