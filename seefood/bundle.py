"""Load an exported model bundle and classify frames with the LiteRT interpreter.

This is the runtime shared by ``seefood predict``, the desktop app and the packaged binary.
It must never import TensorFlow unless both LiteRT and tflite-runtime are missing.

A bundle is a folder holding ``model.tflite``, ``labels.txt`` and ``manifest.json`` (see
``docs/bundle-format.md``). Loading validates it (``seefood.manifest``: schema version, every file
inside the bundle, the model's sha256, a real TFLite flatbuffer, labels matching the model output),
then checks the model itself: an interpreter that throws on a damaged file, an input type that is
not the manifest's, and scores that are not finite numbers all become ``BundleError`` naming the
file and the fix.
"""

from __future__ import annotations

import hashlib
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from seefood.errors import clip, shorten
from seefood.manifest import (  # noqa: F401 (re-exported: the names other stages import from here)
    MANIFEST_NAME, RE_EXPORT, SCHEMA_VERSION, BundleError, Manifest, check_model_sha256, labels_text, load_manifest,
    sha256_of, verification_warning,
)
from seefood.preprocessing import fit_to_input
from seefood.quiet import quiet_litert
from seefood.scoring import class_probabilities, decide


class NonFiniteScoresError(BundleError):
    """The model returned NaN or infinity: it is broken (often trained with a loss that became NaN)."""


@dataclass(frozen=True)
class Prediction:
    """One classified frame."""

    label: str  # the decision at the threshold ("unknown" for a rejected multi-class frame)
    scores: dict[str, float]  # one probability per entry of Manifest.classes
    confidence: float  # binary: the positive class's score; multi-class: the top score
    top_class: str  # binary: positive class; multi-class: argmax class
    threshold: float
    inference_ms: float


def _interpreter_error(model_path: Path | str, doing: str, error: Exception) -> BundleError:
    """An interpreter failure as a BundleError: a damaged or foreign model, fixed by re-exporting."""
    detail = clip(str(error).strip() or type(error).__name__)
    return BundleError(f"{model_path}: the TFLite interpreter failed {doing} ({type(error).__name__}: {detail}); "
                       f"the model file is damaged or not from SeeFood: {RE_EXPORT}")


def make_interpreter(model_path: Path | str, num_threads: int | None = None, prefer: str | None = None,
                     content: bytes | None = None):
    """A TFLite interpreter: ai_edge_litert, else tflite_runtime, else tensorflow.lite.

    Returns (interpreter, name). ``prefer`` forces one of the three names. ``content`` is the model's
    bytes, already read (``model_path`` then only names it in errors); without it the interpreter maps
    the file. Any exception the interpreter raises on the model (ValueError, RuntimeError,
    UnicodeDecodeError... for damaged flatbuffers) becomes a BundleError.
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
            source = {"model_content": content} if content is not None else {"model_path": str(model_path)}
            return Interpreter(**source, num_threads=num_threads), name
        except Exception as error:  # a C++ library: damaged files surface as many exception types
            raise _interpreter_error(model_path, "to load the model", error) from error
    raise BundleError(
        "no TFLite interpreter is installed (" + "; ".join(errors) + "); `pip install ai-edge-litert`"
    )


def check_finite(scores: np.ndarray, model_path: Path | str) -> None:
    """Raise NonFiniteScoresError when any score is NaN or infinite (the one rule for every runtime)."""
    bad = int(np.size(scores) - np.count_nonzero(np.isfinite(scores)))
    if bad:
        raise NonFiniteScoresError(
            f"{model_path}: the model returned {bad} score(s) that are not numbers (NaN or infinity); the model is "
            "broken (did its training loss become NaN?): train it again and re-export the bundle"
        )


class Classifier:
    """Runs a bundle on RGB uint8 frames of any size.

    Not thread-safe: use one Classifier per thread (the app's worker owns one).
    """

    def __init__(self, bundle_dir: Path | str, num_threads: int | None = None, interpreter: str | None = None):
        self.bundle_dir = Path(bundle_dir)
        self.manifest = load_manifest(self.bundle_dir, check_hash=False)
        self.model_path = model_path = self.bundle_dir / self.manifest.model_file
        # The interpreter runs these bytes, the ones whose hash was checked, not a memory map of the file: a
        # model file rewritten in place while the app runs (a copy over it, an export by another tool) would
        # otherwise crash the process with SIGBUS on the next frame, and could run a model nobody checked.
        self._model_bytes = model_path.read_bytes()
        check_model_sha256(model_path, hashlib.sha256(self._model_bytes).hexdigest(), self.manifest.model_sha256)
        self.interpreter, self.interpreter_name = make_interpreter(model_path, num_threads, interpreter,
                                                                   content=self._model_bytes)
        try:
            with quiet_litert():  # LiteRT's "Created TensorFlow Lite XNNPACK delegate" line
                self.interpreter.allocate_tensors()
            inputs = self.interpreter.get_input_details()
            outputs = self.interpreter.get_output_details()
        except Exception as error:  # the interpreter's own checks of a damaged model, any type
            raise _interpreter_error(model_path, "to prepare the model", error) from error
        if len(inputs) != 1 or len(outputs) != 1:
            raise BundleError(f"{model_path}: expected one input and one output, got {len(inputs)} and {len(outputs)}")
        self._input = inputs[0]
        self._output = outputs[0]
        size = self.manifest.preprocessing.image_size
        shape = tuple(int(v) for v in self._input["shape"])
        if shape[1:] != (size, size, 3):
            raise BundleError(f"{model_path}: input shape {shape} does not match the manifest's {size}x{size}x3")
        actual_dtype = np.dtype(self._input["dtype"]).name
        if actual_dtype != self.manifest.input_dtype:
            # Raw uint8 pixels fed to a float32 model would be read as the wrong values, silently.
            raise BundleError(
                f"{model_path}: the model takes {actual_dtype} input but {MANIFEST_NAME} says "
                f"{shorten(self.manifest.input_dtype)}; the bundle's files do not belong together: {RE_EXPORT}"
            )
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
        """Model output (probabilities, dequantized) for a batch of 1 already-fitted uint8 image.

        Returned as computed: it may hold NaN or infinity from a broken model, which ``scores``
        refuses and ``export.verify`` counts. An interpreter failure raises BundleError.
        """
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
        try:
            self.interpreter.set_tensor(self._input["index"], tensor)
            self.interpreter.invoke()
            out = self.interpreter.get_tensor(self._output["index"])[0].astype(np.float32).reshape(-1)
        except Exception as error:  # a damaged model can fail in any kernel, with any exception type
            raise _interpreter_error(self.model_path, "to run the model", error) from error
        scale, zero = self._output.get("quantization", (0.0, 0))
        if self._output["dtype"] in (np.uint8, np.int8) and scale:
            out = (out - zero) * scale
        return out

    def scores(self, rgb: np.ndarray) -> np.ndarray:
        """Probabilities in ``classes`` order for an HxWx3 uint8 RGB frame of any size.

        Raises NonFiniteScoresError when the model answers NaN or infinity: a decision taken on
        such a score ("not hotdog" for NaN) would look like an answer and mean nothing.
        """
        out = self.raw_output(fit_to_input(rgb, self.manifest.preprocessing.image_size))
        check_finite(out, self.model_path)
        return class_probabilities(out[np.newaxis], self.task == "binary")[0].astype(np.float32)

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
