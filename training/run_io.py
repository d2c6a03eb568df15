"""Reading and writing a run folder (layout in docs/design.md). Atomic writes throughout:
an interrupted run never leaves a half-written JSON or model file."""

from __future__ import annotations

import json
import os
import tempfile
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from seefood.errors import InputError
from seefood.preprocessing import Preprocessing

RUN_FILE = "run.json"
SPLITS_FILE = "splits.json"
MODEL_FILE = "model.keras"


SCORES_FILE = "scores.npz"


def _write_atomic(path: Path, write) -> None:
    """``write(binary_handle)`` into a file next to ``path``, renamed into place: readers never see half a file."""
    path = Path(path)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        mask = os.umask(0)
        os.umask(mask)
        os.chmod(tmp, 0o666 & ~mask)  # mkstemp makes it private; keep the folder's normal permissions
        with os.fdopen(fd, "wb") as handle:
            write(handle)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def write_json_atomic(path: Path, data) -> None:
    """Write JSON atomically (``_write_atomic``)."""
    _write_atomic(path, lambda handle: handle.write((json.dumps(data, indent=2) + "\n").encode("utf-8")))


def save_scores(run_dir: Path, splits: dict[str, tuple[list[str], np.ndarray, np.ndarray]]) -> None:
    """Each evaluated split's photo paths, labels and model scores, written once by ``evaluate_run``
    so that ``compare`` and the benchmarks read them instead of scoring the photos again.
    Binary scores are P(positive) [N]; multi-class [N, K] in ``classes`` order."""
    arrays = {}
    for split, (paths, labels, scores) in splits.items():
        arrays[f"{split}_paths"] = np.asarray([str(p) for p in paths], dtype=str)
        arrays[f"{split}_labels"] = np.asarray(labels, dtype=np.int64).reshape(-1)
        arrays[f"{split}_scores"] = np.asarray(scores, dtype=np.float32)
    _write_atomic(Path(run_dir) / SCORES_FILE, lambda handle: np.savez(handle, **arrays))


def load_scores(run_dir: Path) -> dict[str, tuple[list[str], np.ndarray, np.ndarray]]:
    """``save_scores``'s splits: {split: (paths, labels, scores)}; RunError naming the fix when absent."""
    path = Path(run_dir) / SCORES_FILE
    if not path.is_file():
        raise RunError(f"{path}: missing; `seefood evaluate {run_dir}` scores the run's validation and test photos "
                       "and writes it")
    try:
        with np.load(path, allow_pickle=False) as data:
            splits = sorted({key.rsplit("_", 1)[0] for key in data.files})
            return {s: ([str(p) for p in data[f"{s}_paths"]], data[f"{s}_labels"], data[f"{s}_scores"]) for s in splits}
    except (OSError, ValueError, KeyError) as error:
        raise RunError(f"{path}: cannot be read ({type(error).__name__}: {error}); run `seefood evaluate {run_dir}` "
                       "to write it again") from error


OUT_OF_FOLD_FILE = "out_of_fold.json"


def save_out_of_fold(run_dir: Path, pooled: dict) -> None:
    """The out-of-fold scores that chose the threshold (training/folds.py), so that
    ``seefood evaluate --threshold-objective`` can choose again on them without retraining."""
    write_json_atomic(Path(run_dir) / OUT_OF_FOLD_FILE, {
        "folds": int(pooled["folds"]), "seconds": pooled["seconds"],
        "labels": [int(t) for t in pooled["labels"]], "scores": [float(s) for s in pooled["scores"]]})


def load_out_of_fold(run_dir: Path) -> dict | None:
    """The run's out-of-fold scores (labels and scores as arrays), or None when it has none."""
    path = Path(run_dir) / OUT_OF_FOLD_FILE
    if not path.is_file():
        return None
    data = _read_json(path)
    labels, scores = np.asarray(data.get("labels", []), dtype=np.int64), np.asarray(data.get("scores", []), dtype=float)
    if len(labels) == 0 or labels.shape != scores.shape or not np.all(np.isfinite(scores)):
        raise RunError(f"{path}: labels and scores do not match or are not finite; the run folder is damaged, "
                       "train again")
    return {"labels": labels, "scores": scores, "folds": int(data.get("folds", 0)), "seconds": data.get("seconds")}


def save_model_atomic(model, path: Path) -> None:
    path = Path(path)
    tmp = path.with_name(f".{path.stem}.tmp{path.suffix}")
    try:
        model.save(tmp)
        os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise


class RunError(InputError):
    """A run folder that cannot be used as it is; the message names the file and the fix."""


def load_keras_model(path: Path, what: str):
    """``keras.models.load_model`` in safe mode, with every failure turned into one RunError that
    names the file: a truncated or damaged file, or one Keras safe mode refuses (it would run code)."""
    import keras

    import training.models  # noqa: F401  (custom objects, if any, are registered there)

    try:
        return keras.models.load_model(path, compile=False, safe_mode=True)
    except Exception as error:  # zipfile, h5py, JSON and Keras deserialisation errors alike
        reason = " ".join(str(error).split())[:300] or type(error).__name__
        raise RunError(
            f"{path}: {what} cannot be loaded ({type(error).__name__}: {reason}). It is damaged, truncated, or "
            "not a model SeeFood saved; train again (or use another run's model)"
        ) from error


@dataclass
class RunInfo:
    run_dir: Path
    run_id: str
    task: str
    classes: list[str]
    labels: list[str]
    positive_class: str | None
    class_map: dict[str, int]
    threshold: float
    threshold_objective: str
    preprocessing: Preprocessing
    dataset_fingerprint: str
    data_dir: str
    validation_curve: list[dict] = field(default_factory=list)
    splits: dict[str, list[tuple[str, int]]] = field(default_factory=dict)
    raw: dict = field(default_factory=dict)

    @property
    def model_path(self) -> Path:
        return self.run_dir / MODEL_FILE

    @property
    def binary(self) -> bool:
        return self.task == "binary"

    @property
    def negative_class(self) -> str | None:
        return self.classes[0] if self.binary else None

    @property
    def prior(self) -> float | None:
        """0.5 for a binary run trained on a balanced loss mix (the point an f1 threshold chosen on few
        validation positives is pulled towards), else None (``training.threshold.balanced_point``)."""
        from training.threshold import balanced_point

        mix = (self.raw.get("balance") or {}).get("effective_mix")
        if not self.binary or not isinstance(mix, dict) or any(c not in mix for c in self.classes):
            return None
        return balanced_point([float(mix[c]) for c in self.classes])

    def load_model(self):
        if not self.model_path.is_file():
            raise FileNotFoundError(
                f"{self.model_path}: no trained model in this run folder (training did not finish?). "
                f"Continue it with `seefood train DATA_DIR --out NEW_RUN --init-from {self.run_dir}`"
            )
        return load_keras_model(self.model_path, "the run's model")


def is_run_dir(path: Path | str) -> bool:
    return (Path(path) / RUN_FILE).is_file()


def load_run(run_dir: Path | str) -> RunInfo:
    """The one reader of a finished run folder (docs/design.md). Every way a folder can fail to be
    one (missing, not a run, interrupted, damaged JSON, a missing field, no model.keras) is a
    ``RunError`` that names the file and the fix."""
    run_dir = Path(run_dir)
    run_file = run_dir / RUN_FILE
    if not run_dir.is_dir():
        raise RunError(f"{run_dir}: no such run folder; train one with `seefood train`")
    if not run_file.is_file():
        raise RunError(f"{run_file}: missing; {run_dir} is not a finished SeeFood run (train one with `seefood train`)")
    raw = _read_json(run_file)
    if raw.get("status") == "interrupted":
        raise RunError(
            f"{run_file}: this run was interrupted before it finished, so it has no chosen threshold or final model. "
            f"Continue it with `seefood train DATA_DIR --out NEW_RUN --init-from {run_dir}`"
        )
    missing = [k for k in ("run_id", "task", "classes", "labels", "threshold", "preprocessing") if k not in raw]
    if missing:
        raise RunError(f"{run_file}: missing {', '.join(missing)}; not a finished SeeFood run (train it again)")
    splits_raw = _read_json(run_dir / SPLITS_FILE) if (run_dir / SPLITS_FILE).is_file() else {}
    try:
        splits = {name: [(item["path"], int(item["target"])) for item in items] for name, items in splits_raw.items()}
        run = RunInfo(
            run_dir=run_dir,
            run_id=raw["run_id"],
            task=raw["task"],
            classes=list(raw["classes"]),
            labels=list(raw["labels"]),
            positive_class=raw.get("positive_class"),
            class_map=dict(raw.get("class_map", {})),
            threshold=float(raw["threshold"]),
            threshold_objective=raw.get("threshold_objective", "f1"),
            preprocessing=Preprocessing.from_dict(raw["preprocessing"]),
            dataset_fingerprint=raw.get("dataset_fingerprint", ""),
            data_dir=raw.get("data_dir", ""),
            validation_curve=list(raw.get("validation_curve", [])),
            splits=splits,
            raw=raw,
        )
    except (KeyError, TypeError, ValueError, AttributeError) as error:
        raise RunError(f"{run_file} or {SPLITS_FILE}: missing or invalid field {error} (train again with `seefood train`)") from error
    if not run.model_path.is_file():
        raise RunError(f"{run.model_path}: missing; the run has no trained model. Continue it with "
                       f"`seefood train DATA_DIR --out NEW_RUN --init-from {run_dir}`, or train again")
    return run


def _read_json(path: Path) -> dict:
    """A JSON object from a run file, or RunError naming the file (damaged, not UTF-8, not an object)."""
    try:
        data = json.loads(Path(path).read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, ValueError, RecursionError) as error:
        raise RunError(f"{path}: cannot be read as JSON ({type(error).__name__}); the run folder is damaged, "
                       "train again") from error
    if not isinstance(data, dict):
        raise RunError(f"{path}: holds a {type(data).__name__}, not a JSON object; the run folder is damaged, train again")
    return data
