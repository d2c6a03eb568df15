"""Load an exported model bundle and classify frames with the LiteRT interpreter.

This is the runtime shared by ``seefood predict``, the desktop app and the packaged binary.
It must never import TensorFlow unless both LiteRT and tflite-runtime are missing.

A bundle is a folder holding ``model.tflite``, ``labels.txt`` and ``manifest.json`` (see
``docs/bundle-format.md``). Loading validates it: schema version, every file inside the
bundle, the model's sha256, a real TFLite flatbuffer, and labels matching the model output.
"""

from __future__ import annotations

import hashlib
import json
import os
import time
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from seefood.preprocessing import Preprocessing, fit_to_input

SCHEMA_VERSION = 1
MANIFEST_NAME = "manifest.json"
UNKNOWN_LABEL = "unknown"


class BundleError(ValueError):
    """A bundle that cannot be used. The message names the file and what to do."""


@dataclass(frozen=True)
class Manifest:
    """The parts of manifest.json the runtime needs. ``raw`` keeps everything else."""

    task: str  # "binary" or "multiclass"
    labels: list[str]  # model output order (binary: [positive])
    classes: list[str]  # what a user can be told (binary: [negative, positive])
    positive_class: str | None
    threshold: float
    preprocessing: Preprocessing
    quantization: str
    model_file: str
    labels_file: str
    model_sha256: str
    name: str
    raw: dict = field(repr=False, default_factory=dict)

    @property
    def validation_curve(self) -> list[dict]:
        """[{threshold, precision, recall}, ...] measured on validation data at export time."""
        return list(self.raw.get("validation_curve", []))


@dataclass(frozen=True)
class Prediction:
    """One classified frame."""

    label: str  # the decision at the threshold ("unknown" for a rejected multi-class frame)
    scores: dict[str, float]  # one probability per entry of Manifest.classes
    confidence: float  # binary: the positive class's score; multi-class: the top score
    top_class: str  # binary: positive class; multi-class: argmax class
    threshold: float
    inference_ms: float


def sha256_of(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for chunk in iter(lambda: handle.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


def _inside(bundle_dir: Path, name: str, what: str) -> Path:
    if not isinstance(name, str) or not name or os.path.isabs(name):
        raise BundleError(f"{bundle_dir / MANIFEST_NAME}: {what} must be a file name inside the bundle, got {name!r}")
    path = (bundle_dir / name).resolve()
    if bundle_dir.resolve() not in path.parents:
        raise BundleError(
            f"{bundle_dir / MANIFEST_NAME}: {what} {name!r} points outside the bundle; "
            "re-export the bundle with `seefood export`"
        )
    if not path.is_file():
        raise BundleError(f"{path}: {what} is missing from the bundle; re-export it with `seefood export`")
    return path


def load_manifest(bundle_dir: Path | str, check_hash: bool = True) -> Manifest:
    """Read and validate manifest.json; raise BundleError with the path and the fix."""
    bundle_dir = Path(bundle_dir)
    if not bundle_dir.is_dir():
        raise BundleError(f"{bundle_dir}: no such bundle folder; export one with `seefood export RUN_DIR --out {bundle_dir}`")
    manifest_path = bundle_dir / MANIFEST_NAME
    if not manifest_path.is_file():
        raise BundleError(f"{manifest_path}: missing; this folder is not a SeeFood bundle (export one with `seefood export`)")
    try:
        raw = json.loads(manifest_path.read_text(encoding="utf-8"))
    except (json.JSONDecodeError, UnicodeDecodeError) as error:
        raise BundleError(f"{manifest_path}: not valid JSON ({error}); re-export the bundle") from error
    version = raw.get("schema_version")
    if version != SCHEMA_VERSION:
        raise BundleError(
            f"{manifest_path}: schema_version {version!r} is not supported by this SeeFood "
            f"(expects {SCHEMA_VERSION}); re-export the bundle with this version"
        )
    try:
        task = raw["task"]
        positive = raw.get("positive_class")
        classes = list(raw["classes"])
        threshold = float(raw["threshold"])
        preprocessing = Preprocessing.from_dict(raw["preprocessing"])
        model_file = raw.get("model_file", "model.tflite")
        labels_file = raw.get("labels_file", "labels.txt")
        expected_sha = raw["model_sha256"]
    except (KeyError, TypeError, ValueError) as error:
        raise BundleError(f"{manifest_path}: missing or invalid field {error}; re-export the bundle") from error
    if task not in ("binary", "multiclass"):
        raise BundleError(f"{manifest_path}: task must be 'binary' or 'multiclass', got {task!r}")
    if task == "binary" and (positive is None or len(classes) != 2 or classes[1] != positive):
        raise BundleError(f"{manifest_path}: a binary bundle needs classes [negative, positive] and positive_class")
    if not 0.0 <= threshold <= 1.0:
        raise BundleError(f"{manifest_path}: threshold {threshold} is outside 0..1")
    model_path = _inside(bundle_dir, model_file, "model_file")
    labels_path = _inside(bundle_dir, labels_file, "labels_file")
    labels = [line.strip() for line in labels_path.read_text(encoding="utf-8").splitlines() if line.strip()]
    expected_labels = [positive] if task == "binary" else classes
    if labels != expected_labels:
        raise BundleError(
            f"{labels_path}: labels {labels} do not match the manifest's {expected_labels}; re-export the bundle"
        )
    with open(model_path, "rb") as handle:
        head = handle.read(8)
    if len(head) < 8 or head[4:8] != b"TFL3":
        raise BundleError(f"{model_path}: not a TFLite model (no TFL3 identifier); re-export the bundle")
    if check_hash and sha256_of(model_path) != expected_sha:
        raise BundleError(
            f"{model_path}: sha256 does not match manifest.json (file changed or damaged); re-export the bundle"
        )
    return Manifest(
        task=task,
        labels=labels,
        classes=classes,
        positive_class=positive,
        threshold=threshold,
        preprocessing=preprocessing,
        quantization=str(raw.get("quantization", "unknown")),
        model_file=model_file,
        labels_file=labels_file,
        model_sha256=expected_sha,
        name=str(raw.get("name", bundle_dir.name)),
        raw=raw,
    )


def make_interpreter(model_path: Path | str, num_threads: int | None = None, prefer: str | None = None):
    """A TFLite interpreter: ai_edge_litert, else tflite_runtime, else tensorflow.lite.

    Returns (interpreter, name). ``prefer`` forces one of the three names.
    """
    order = [prefer] if prefer else ["ai_edge_litert", "tflite_runtime", "tensorflow"]
    errors = []
    for name in order:
        try:
            if name == "ai_edge_litert":
                from ai_edge_litert.interpreter import Interpreter
            elif name == "tflite_runtime":
                from tflite_runtime.interpreter import Interpreter
            elif name == "tensorflow":
                from tensorflow.lite import Interpreter  # last resort: heavy import
            else:
                raise BundleError(f"unknown interpreter {name!r}; use ai_edge_litert, tflite_runtime or tensorflow")
        except (ImportError, AttributeError) as error:
            errors.append(f"{name}: {error}")
            continue
        try:
            return Interpreter(model_path=str(model_path), num_threads=num_threads), name
        except ValueError as error:
            raise BundleError(f"{model_path}: the interpreter cannot load this model ({error})") from error
    raise BundleError(
        "no TFLite interpreter is installed (" + "; ".join(errors) + "); `pip install ai-edge-litert`"
    )


UNKNOWN_INDEX = -1


def decide_indices(task: str, scores: np.ndarray, threshold: float) -> np.ndarray:
    """The decision rule of every SeeFood runtime, for rows of class scores [N, K]: the class index
    per row, ``UNKNOWN_INDEX`` for a rejected multi-class row.

    Binary (rows [1-p, p]): the positive class (1) when p >= threshold, else the negative (0).
    Multi-class: the top class when its score >= threshold, else unknown.
    """
    scores = np.asarray(scores)
    if task == "binary":
        return (scores[:, 1] >= threshold).astype(int)
    return np.where(scores.max(axis=1) >= threshold, scores.argmax(axis=1), UNKNOWN_INDEX)


def decide(task: str, classes: list[str], scores: np.ndarray, threshold: float) -> tuple[str, float, str]:
    """``decide_indices`` for one row of scores: (label, confidence, top_class)."""
    scores = np.asarray(scores).reshape(-1)
    index = int(decide_indices(task, scores[np.newaxis], threshold)[0])
    label = classes[index] if index != UNKNOWN_INDEX else UNKNOWN_LABEL
    top = 1 if task == "binary" else int(np.argmax(scores))
    return label, float(scores[top]), classes[top]


class Classifier:
    """Runs a bundle on RGB uint8 frames of any size.

    Not thread-safe: use one Classifier per thread (the app's worker owns one).
    """

    def __init__(self, bundle_dir: Path | str, num_threads: int | None = None, interpreter: str | None = None):
        self.bundle_dir = Path(bundle_dir)
        self.manifest = load_manifest(self.bundle_dir)
        model_path = self.bundle_dir / self.manifest.model_file
        self.interpreter, self.interpreter_name = make_interpreter(model_path, num_threads, interpreter)
        self.interpreter.allocate_tensors()
        inputs = self.interpreter.get_input_details()
        outputs = self.interpreter.get_output_details()
        if len(inputs) != 1 or len(outputs) != 1:
            raise BundleError(f"{model_path}: expected one input and one output, got {len(inputs)} and {len(outputs)}")
        self._input = inputs[0]
        self._output = outputs[0]
        size = self.manifest.preprocessing.image_size
        shape = tuple(int(v) for v in self._input["shape"])
        if shape[1:] != (size, size, 3):
            raise BundleError(f"{model_path}: input shape {shape} does not match the manifest's {size}x{size}x3")
        n_out = int(np.prod(self._output["shape"][1:]))
        if n_out != len(self.manifest.labels):
            raise BundleError(
                f"{model_path}: the model has {n_out} outputs but {self.manifest.labels_file} has "
                f"{len(self.manifest.labels)} labels; re-export the bundle"
            )

    @property
    def task(self) -> str:
        return self.manifest.task

    @property
    def classes(self) -> list[str]:
        return self.manifest.classes

    @property
    def threshold(self) -> float:
        return self.manifest.threshold

    def raw_output(self, model_input: np.ndarray) -> np.ndarray:
        """Model output (probabilities, dequantized) for a batch of 1 already-fitted uint8 image."""
        tensor = model_input[np.newaxis]
        scale, zero = self._input.get("quantization", (0.0, 0))
        quantized_pixels = self._input["dtype"] == np.uint8 and scale and (scale, zero) != (1.0, 0)
        if self._input["dtype"] != np.uint8 or quantized_pixels:
            # Raw pixels are what SeeFood models take; a foreign model whose input is quantized
            # (int8, or uint8 with another scale) gets the pixels mapped onto its scale.
            if self._input["dtype"] in (np.int8, np.uint8) and scale:
                info = np.iinfo(self._input["dtype"])
                tensor = np.clip(np.round(tensor / scale + zero), info.min, info.max)
            tensor = tensor.astype(self._input["dtype"])
        self.interpreter.set_tensor(self._input["index"], tensor)
        self.interpreter.invoke()
        out = self.interpreter.get_tensor(self._output["index"])[0].astype(np.float32).reshape(-1)
        scale, zero = self._output.get("quantization", (0.0, 0))
        if self._output["dtype"] in (np.uint8, np.int8) and scale:
            out = (out - zero) * scale
        return out

    def scores(self, rgb: np.ndarray) -> np.ndarray:
        """Probabilities in ``classes`` order for an HxWx3 uint8 RGB frame of any size."""
        out = self.raw_output(fit_to_input(rgb, self.manifest.preprocessing.image_size))
        if self.task == "binary":
            p = float(np.clip(out[0], 0.0, 1.0))
            return np.array([1.0 - p, p], dtype=np.float32)
        return out

    def decide(self, scores: np.ndarray, threshold: float | None = None) -> tuple[str, float, str]:
        """(label, confidence, top_class) for class scores at a threshold."""
        return decide(self.task, self.classes, scores, self.threshold if threshold is None else float(threshold))

    def classify(self, rgb: np.ndarray, threshold: float | None = None) -> Prediction:
        start = time.perf_counter()
        scores = self.scores(rgb)
        elapsed = (time.perf_counter() - start) * 1000.0
        label, confidence, top = self.decide(scores, threshold)
        return Prediction(
            label=label,
            scores={name: float(s) for name, s in zip(self.classes, scores)},
            confidence=confidence,
            top_class=top,
            threshold=self.threshold if threshold is None else float(threshold),
            inference_ms=elapsed,
        )
