"""What a run measured: the numbers ``--stats-json`` writes, shared with ``bench/app_baseline.py``.

Keys: frames_shown, frames_classified, frames_dropped, display_fps, source_fps, inference_ms_p50,
inference_ms_p95, startup_to_first_verdict_s, peak_rss_mb, tensorflow_imported (plus a few details).
"""

from __future__ import annotations

import json
import sys
import time
from pathlib import Path

import numpy as np


def peak_rss_mb() -> float | None:
    """Peak resident memory of this process in MiB (None where the OS does not say)."""
    try:
        import resource
    except ImportError:  # Windows
        return None
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return round(peak / (1024.0 * 1024.0) if sys.platform == "darwin" else peak / 1024.0, 1)


class RunStats:
    """Counts frames shown and inference times in the GUI thread."""

    def __init__(self, started_at: float | None = None):
        self.started_at = time.perf_counter() if started_at is None else started_at
        self.frames_shown = 0
        self.first_shown_at: float | None = None
        self.last_shown_at: float | None = None
        self.first_verdict_at: float | None = None
        self.inference_ms: list[float] = []

    def frame_shown(self) -> None:
        now = time.perf_counter()
        self.frames_shown += 1
        if self.first_shown_at is None:
            self.first_shown_at = now
        self.last_shown_at = now

    def verdict(self, inference_ms: float) -> None:
        if self.first_verdict_at is None:
            self.first_verdict_at = time.perf_counter()
        if inference_ms > 0:
            self.inference_ms.append(float(inference_ms))

    def display_fps(self) -> float:
        """Frames shown per second between the first and the last shown frame."""
        return measured_fps(self.frames_shown, self.first_shown_at, self.last_shown_at)

    def to_dict(self, *, frames_classified: int, frames_dropped: int, source_fps: float, **extra) -> dict:
        ms = np.array(self.inference_ms, dtype=np.float64)
        result = {
            "frames_shown": self.frames_shown,
            "frames_classified": int(frames_classified),
            "frames_dropped": int(frames_dropped),
            "display_fps": round(self.display_fps(), 2),
            "source_fps": round(float(source_fps), 2),
            "inference_ms_p50": round(float(np.percentile(ms, 50)), 3) if ms.size else None,
            "inference_ms_p95": round(float(np.percentile(ms, 95)), 3) if ms.size else None,
            "startup_to_first_verdict_s": (round(self.first_verdict_at - self.started_at, 3)
                                           if self.first_verdict_at is not None else None),
            "peak_rss_mb": peak_rss_mb(),
            "tensorflow_imported": "tensorflow" in sys.modules,
        }
        result.update(extra)
        return result


def measured_fps(count: int, first_at: float | None, last_at: float | None) -> float:
    """Events per second between the first and the last of ``count`` events."""
    if count < 2 or first_at is None or last_at is None or last_at <= first_at:
        return 0.0
    return (count - 1) / (last_at - first_at)


def write_stats(path: Path | str, stats: dict) -> None:
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(stats, indent=2) + "\n", encoding="utf-8")
