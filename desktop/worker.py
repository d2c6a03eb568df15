"""The classifier worker: owns a ``seefood.bundle.Classifier`` on its own QThread.

Like ``ImageClassifierHelper`` in the TFLite Android example, it owns the interpreter and its
options (threshold, threads, smoothing) and reports through signals: ``results(verdict, ms)``,
``error(message)`` (a bundle that cannot be loaded) and ``inference_failed(message)``. The newest
submitted frame wins; frames replaced while an inference runs are dropped and counted. Loading a
bad bundle reports an error and keeps the current model running.
A model that fails on every frame (NaN scores, an interpreter error) reports once, not 30 times a
second: the same message is not repeated until a frame succeeds or another model is loaded.
"""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from PySide6.QtCore import QObject, QThread, Signal, Slot

from seefood.bundle import Classifier, Manifest
from desktop.frames import Frame, LatestSlot

DEFAULT_SMOOTHING = 5  # frames averaged; 1 turns smoothing off
MAX_SMOOTHING = 30


@dataclass(frozen=True)
class Verdict:
    """The decision for one frame, after smoothing, at the worker's current threshold."""

    label: str  # a class name, or "unknown" for a rejected multi-class frame
    confidence: float  # binary: positive score; multi-class: top score
    top_class: str
    scores: dict[str, float]  # smoothed, in the bundle's classes order
    threshold: float
    task: str
    positive_class: str | None
    frame_index: int
    inference_ms: float

    @property
    def is_positive(self) -> bool:
        return self.task == "binary" and self.label == self.positive_class


@dataclass(frozen=True)
class LoadedModel:
    """What the window shows about the model the worker now runs.

    ``stamp`` is ``bundle_stamp`` taken just before loading: the window reloads when the folder's
    stamp differs from it, so a change made during the load is not missed.
    """

    bundle_dir: Path
    manifest: Manifest
    interpreter: str
    stamp: tuple | None = None


def bundle_stamp(bundle_dir: Path | str) -> tuple | None:
    """Identity of a bundle folder and its files (inode, size, modification time), None when missing.

    A folder swapped with ``mv`` (same path, new inode) or a file rewritten in place both change it;
    a change elsewhere in the parent folder does not.
    """
    folder = Path(bundle_dir)
    try:
        entries = [(".", folder.stat())] + [(p.name, p.stat()) for p in sorted(folder.iterdir()) if p.is_file()]
    except OSError:  # gone, or being replaced right now
        return None
    return tuple((name, st.st_ino, st.st_size, st.st_mtime_ns) for name, st in entries)


class ScoreSmoother:
    """Mean of the last ``window`` score vectors, so the verdict does not flicker."""

    def __init__(self, window: int = DEFAULT_SMOOTHING):
        self._history: deque[np.ndarray] = deque(maxlen=max(1, int(window)))

    def resize(self, window: int) -> None:
        self._history = deque(self._history, maxlen=max(1, min(MAX_SMOOTHING, int(window))))

    def reset(self) -> None:
        self._history.clear()

    def add(self, scores: np.ndarray) -> np.ndarray:
        self._history.append(np.asarray(scores, dtype=np.float32))
        return np.mean(np.stack(self._history), axis=0)

    @property
    def latest(self) -> np.ndarray | None:
        return np.mean(np.stack(self._history), axis=0) if self._history else None


class ClassifierWorker(QObject):
    """Runs the bundle on the newest frame; see the module docstring."""

    results = Signal(object, float)  # Verdict, inference ms (0.0 when only the threshold changed)
    error = Signal(str)
    inference_failed = Signal(str)  # the loaded model failed on a frame; no verdict for it
    model_loaded = Signal(object)  # LoadedModel
    _wake = Signal()

    def __init__(self, num_threads: int | None = None, smoothing: int = DEFAULT_SMOOTHING):
        super().__init__()
        self.num_threads = num_threads
        self.inbox = LatestSlot()
        self.frames_classified = 0
        self._classifier: Classifier | None = None
        self._threshold: float | None = None
        self._smoother = ScoreSmoother(smoothing)
        self._last_frame_index = 0
        self._reported_error: str | None = None  # the inference error already shown, until a frame succeeds
        self.inference_errors = 0
        self._wake.connect(self._classify_waiting)  # queued: the worker lives on its own thread

    @property
    def frames_dropped(self) -> int:
        return self.inbox.dropped

    def submit(self, frame: Frame) -> None:
        """Hand a frame over from any thread; replaces a frame still waiting."""
        if self.inbox.put(frame):
            self._wake.emit()

    @Slot(str)
    def load_bundle(self, bundle_dir: str) -> None:
        """Load a bundle; on failure report the error and keep running the current model."""
        stamp = bundle_stamp(bundle_dir)
        try:
            classifier = Classifier(bundle_dir, num_threads=self.num_threads)
        except Exception as error:  # BundleError, or an interpreter that rejects the file
            kept = " The current model keeps running." if self._classifier else ""
            self.error.emit(f"Cannot load model bundle: {error}{kept}")
            return
        self._classifier = classifier
        self._threshold = classifier.threshold
        self._smoother.reset()
        self._reported_error = None
        self.model_loaded.emit(LoadedModel(Path(bundle_dir), classifier.manifest, classifier.interpreter_name, stamp))

    @Slot(float)
    def set_threshold(self, threshold: float) -> None:
        """Change the decision threshold and re-decide the last scores at once."""
        self._threshold = float(threshold)
        scores = self._smoother.latest
        if self._classifier is not None and scores is not None:
            self.results.emit(self._verdict(scores, 0.0), 0.0)

    @Slot(int)
    def set_smoothing(self, window: int) -> None:
        self._smoother.resize(window)

    @Slot()
    def shutdown(self) -> None:
        """Drop the interpreter and end this object's thread (call through a queued signal)."""
        self.inbox.clear()
        self._classifier = None
        if self.thread() is QThread.currentThread():
            self.thread().quit()

    @Slot()
    def _classify_waiting(self) -> None:
        frame = self.inbox.take()
        if frame is None or self._classifier is None:
            return
        try:
            prediction = self._classifier.classify(frame.rgb, self._threshold)
        except Exception as error:  # a model that fails at run time must not kill the thread
            self._report_inference_error(error)
            return
        self._reported_error = None
        self.frames_classified += 1
        self._last_frame_index = frame.index
        scores = np.array([prediction.scores[name] for name in self._classifier.classes], dtype=np.float32)
        smoothed = self._smoother.add(scores)
        self.results.emit(self._verdict(smoothed, prediction.inference_ms), prediction.inference_ms)

    def _report_inference_error(self, error: Exception) -> None:
        """Emit ``error`` once; the same failure on the following frames is only counted."""
        self.inference_errors += 1
        message = f"Inference failed: {error}"
        if message == self._reported_error:
            return
        self._reported_error = message
        self._smoother.reset()  # no verdict from scores of frames before the failure
        self.inference_failed.emit(message)

    def _verdict(self, scores: np.ndarray, inference_ms: float) -> Verdict:
        classifier = self._classifier
        label, confidence, top = classifier.decide(scores, self._threshold)
        manifest = classifier.manifest
        return Verdict(
            label=label,
            confidence=confidence,
            top_class=top,
            scores={name: float(s) for name, s in zip(classifier.classes, scores)},
            threshold=float(self._threshold if self._threshold is not None else classifier.threshold),
            task=manifest.task,
            positive_class=manifest.positive_class,
            frame_index=self._last_frame_index,
            inference_ms=inference_ms,
        )
