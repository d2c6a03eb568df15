"""Read a training run folder (docs/design.md) for export and verification.

Uses ``training.run_io.load_run`` when it is installed, so the run contract has one reader; the
small fallback below reads ``run.json``/``splits.json``/``model.keras`` directly per the design
document, for installations or moments where ``training.run_io`` is not there. Either way the
export code sees the same ``Run``.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable

import numpy as np

from seefood.cli import UserError
from seefood.preprocessing import Preprocessing

SPLITS = ("train", "val", "test")


@dataclass
class Run:
    """The parts of a run folder that export and verify use."""

    run_dir: Path
    run_id: str
    task: str  # "binary" or "multiclass"
    classes: list[str]  # decision classes (binary: [negative, positive])
    labels: list[str]  # model output order (binary: [positive])
    positive_class: str | None
    class_map: dict[str, int]
    threshold: float
    threshold_objective: str
    validation_curve: list[dict]
    preprocessing: Preprocessing
    dataset_fingerprint: str
    data_dir: str | None
    model_path: Path
    splits: dict[str, list[tuple[str, int]]]
    _load_model: Callable[[], Any] = field(repr=False, default=None)

    @property
    def negative_class(self) -> str | None:
        return self.classes[0] if self.task == "binary" else None

    def load_model(self):
        """The Keras inference model (uint8 input, probabilities out)."""
        return self._load_model()


def is_run_dir(path: Path | str) -> bool:
    path = Path(path)
    return (path / "run.json").is_file()


def load_fitted(path: str, image_size: int) -> np.ndarray:
    """A photo as the model's uint8 input: the shared crop + resize (seefood.preprocessing)."""
    from seefood.images import load_rgb
    from seefood.preprocessing import fit_to_input

    return fit_to_input(load_rgb(path), image_size)


def load_run(run_dir: Path | str) -> Run:
    """Read a run folder; raise UserError naming the file and the fix when it is incomplete."""
    run_dir = Path(run_dir)
    if not run_dir.is_dir():
        raise UserError(f"{run_dir}: no such run folder; train one with `seefood train`")
    if not is_run_dir(run_dir):
        raise UserError(f"{run_dir}: no run.json here; this is not a training run folder (see `seefood train`)")
    try:
        from training.run_io import load_run as lead_load_run
    except ImportError:
        lead_load_run = None
    if lead_load_run is not None:
        return _from_run_info(run_dir, lead_load_run(run_dir))
    return _read_directly(run_dir)


def _preprocessing(value) -> Preprocessing:
    if isinstance(value, Preprocessing):
        return value
    return Preprocessing.from_dict(dict(value))


def _from_run_info(run_dir: Path, info) -> Run:
    splits = {name: [(str(p), int(t)) for p, t in items] for name, items in dict(info.splits).items()}
    return Run(
        run_dir=run_dir,
        run_id=str(info.run_id),
        task=info.task,
        classes=list(info.classes),
        labels=list(info.labels),
        positive_class=info.positive_class,
        class_map=dict(getattr(info, "class_map", {}) or {}),
        threshold=float(info.threshold),
        threshold_objective=str(getattr(info, "threshold_objective", "") or ""),
        validation_curve=list(getattr(info, "validation_curve", []) or []),
        preprocessing=_preprocessing(info.preprocessing),
        dataset_fingerprint=str(getattr(info, "dataset_fingerprint", "") or ""),
        data_dir=getattr(info, "data_dir", None),
        model_path=Path(getattr(info, "model_path", run_dir / "model.keras")),
        splits=splits,
        _load_model=info.load_model,
    )


def _read_json(path: Path) -> dict:
    if not path.is_file():
        raise UserError(f"{path}: missing; the run folder is incomplete (train again with `seefood train`)")
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except (json.JSONDecodeError, UnicodeDecodeError) as error:
        raise UserError(f"{path}: not valid JSON ({error})") from error


def _read_directly(run_dir: Path) -> Run:
    run = _read_json(run_dir / "run.json")
    raw_splits = _read_json(run_dir / "splits.json")
    model_path = run_dir / "model.keras"
    if not model_path.is_file():
        raise UserError(f"{model_path}: missing; the run has no trained model (train again with `seefood train`)")

    def load_model():
        import keras

        return keras.saving.load_model(model_path, compile=False)

    try:
        splits = {
            name: [(str(item["path"]), int(item["target"])) for item in raw_splits.get(name, [])] for name in SPLITS
        }
        return Run(
            run_dir=run_dir,
            run_id=str(run["run_id"]),
            task=run["task"],
            classes=list(run["classes"]),
            labels=list(run["labels"]),
            positive_class=run.get("positive_class"),
            class_map=dict(run.get("class_map", {})),
            threshold=float(run["threshold"]),
            threshold_objective=str(run.get("threshold_objective", "")),
            validation_curve=list(run.get("validation_curve", [])),
            preprocessing=Preprocessing.from_dict(run["preprocessing"]),
            dataset_fingerprint=str(run.get("dataset_fingerprint", "")),
            data_dir=run.get("data_dir"),
            model_path=model_path,
            splits=splits,
            _load_model=load_model,
        )
    except (KeyError, TypeError, ValueError) as error:
        raise UserError(f"{run_dir / 'run.json'}: missing or invalid field {error}") from error
