"""``seefood predict MODEL PATH...``: MODEL is a run folder (Keras) or an exported bundle (LiteRT).

A file that cannot be classified (unreadable, not a regular file, too large to decode, or scored
NaN by a broken model) is reported on its own line and the folder goes on; the command then exits 1.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

import numpy as np

from seefood.bundle import NonFiniteScoresError, check_finite, verification_warning
from seefood.images import ImageReadError, image_files, load_fitted_ahead
from seefood.preprocessing import fit_to_input
from seefood.quiet import import_tensorflow
from seefood.scoring import class_probabilities, decide


def walk(paths: list[str]) -> list[Path]:
    """Files given, and image files inside folders given (sorted, hidden/litter skipped)."""
    files: list[Path] = []
    for raw in paths:
        path = Path(raw)
        if path.is_dir():
            files.extend(image_files(path))
        else:
            files.append(path)
    return files


class _KerasScorer:
    def __init__(self, run_dir: Path):
        from training.run_io import load_run

        self.run = load_run(run_dir)
        self.model = self.run.load_model()
        self.classes = self.run.classes
        self.threshold = self.run.threshold
        self.binary = self.run.binary
        self.image_size = self.run.preprocessing.image_size

    def scores(self, rgb: np.ndarray) -> np.ndarray:
        x = fit_to_input(rgb, self.image_size)[np.newaxis]
        out = np.asarray(self.model(x, training=False))[0]
        check_finite(out, self.run.model_path)
        return class_probabilities(out[np.newaxis], self.binary)[0]


class _BundleScorer:
    def __init__(self, bundle_dir: Path):
        from seefood.bundle import Classifier

        self.classifier = Classifier(bundle_dir)
        self.classes = self.classifier.classes
        self.threshold = self.classifier.threshold
        self.binary = self.classifier.task == "binary"
        self.image_size = self.classifier.manifest.preprocessing.image_size
        warning = verification_warning(self.classifier.manifest, bundle_dir)
        if warning:
            print(f"warning: {warning}", file=sys.stderr, flush=True)

    def scores(self, rgb: np.ndarray) -> np.ndarray:
        return self.classifier.scores(rgb)


def open_model(model: str):
    path = Path(model)
    if (path / "manifest.json").is_file():
        return _BundleScorer(path)
    if (path / "run.json").is_file():
        import_tensorflow()
        return _KerasScorer(path)
    raise FileNotFoundError(f"{path}: neither a run folder (run.json) nor an exported bundle (manifest.json)")


def predict(model: str, paths: list[str], threshold: float | None = None, as_json: bool = False) -> int:
    """Print one result per image; returns the number of unreadable files."""
    scorer = open_model(model)
    threshold = scorer.threshold if threshold is None else threshold
    files = walk(paths)
    if not files:
        raise FileNotFoundError(f"no image files found in {', '.join(paths)}")
    errors = 0
    for file, photo in load_fitted_ahead(files, scorer.image_size):  # decoded in threads, answered in order
        try:
            scores = scorer.scores(photo.result())  # fit_to_input passes a fitted photo through
        except (ImageReadError, FileNotFoundError, NonFiniteScoresError) as error:
            errors += 1
            reason = (error.reason if isinstance(error, ImageReadError)
                      else "no such file" if isinstance(error, FileNotFoundError) else str(error))
            if as_json:
                print(json.dumps({"path": str(file), "error": reason}), flush=True)
            else:
                print(f"{file}: ERROR {reason}", flush=True)
            continue
        label, _, _ = decide("binary" if scorer.binary else "multiclass", scorer.classes, scores, threshold)
        named = {c: round(float(s), 6) for c, s in zip(scorer.classes, scores)}
        if as_json:
            print(json.dumps({"path": str(file), "label": label, "scores": named}, allow_nan=False), flush=True)
        else:
            top = ", ".join(f"{c} {s:.3f}" for c, s in sorted(named.items(), key=lambda kv: -kv[1])[:3])
            print(f"{file}: {label}  ({top}; threshold {threshold:.2f})", flush=True)
    return errors
