"""Reading and writing a run folder (layout in docs/design.md). Atomic writes throughout:
an interrupted run never leaves a half-written JSON or model file."""

from __future__ import annotations

import json
import os
import tempfile
from dataclasses import dataclass, field
from pathlib import Path

from seefood.preprocessing import Preprocessing

RUN_FILE = "run.json"
SPLITS_FILE = "splits.json"
MODEL_FILE = "model.keras"


def write_json_atomic(path: Path, data) -> None:
    """Write JSON next to ``path`` and rename it into place: readers never see half a file."""
    path = Path(path)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        mask = os.umask(0)
        os.umask(mask)
        os.chmod(tmp, 0o666 & ~mask)  # mkstemp makes it private; keep the folder's normal permissions
        with os.fdopen(fd, "w", encoding="utf-8") as handle:
            json.dump(data, handle, indent=2)
            handle.write("\n")
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def save_model_atomic(model, path: Path) -> None:
    path = Path(path)
    tmp = path.with_name(f".{path.stem}.tmp{path.suffix}")
    model.save(tmp)
    os.replace(tmp, path)


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

    def load_model(self):
        import keras

        import training.models  # noqa: F401  (custom objects, if any, are registered there)

        if not self.model_path.is_file():
            raise FileNotFoundError(
                f"{self.model_path}: no trained model in this run folder (training did not finish?). "
                f"Continue it with `seefood train DATA_DIR --out NEW_RUN --init-from {self.run_dir}`"
            )
        return keras.models.load_model(self.model_path, compile=False)


def load_run(run_dir: Path | str) -> RunInfo:
    run_dir = Path(run_dir)
    run_file = run_dir / RUN_FILE
    if not run_file.is_file():
        raise FileNotFoundError(f"{run_file}: missing; {run_dir} is not a finished SeeFood run (train one with `seefood train`)")
    raw = json.loads(run_file.read_text(encoding="utf-8"))
    splits_raw = json.loads((run_dir / SPLITS_FILE).read_text(encoding="utf-8")) if (run_dir / SPLITS_FILE).is_file() else {}
    splits = {name: [(item["path"], int(item["target"])) for item in items] for name, items in splits_raw.items()}
    return RunInfo(
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
