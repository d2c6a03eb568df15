"""Read and check a bundle's manifest.json and labels.txt: everything but running the model.

Everything read from a bundle is treated as possibly damaged or hostile: files are read up to a
size limit, JSON of the wrong shape, labels that are not UTF-8 or not valid class names
(``seefood.names``), paths leading outside the bundle and a model whose sha256 differs all become
``BundleError`` with one line naming the file and the fix (re-export, mostly). Messages quote at
most ``seefood.errors.MAX_ECHO_CHARS`` characters of any file. ``seefood.bundle`` re-exports the
names other stages use.
"""

from __future__ import annotations

import hashlib
import json
import math
import os
from dataclasses import dataclass, field
from pathlib import Path

from seefood.errors import InputError, clip, shorten
from seefood.names import ClassNameError, check_class_name
from seefood.preprocessing import Preprocessing

SCHEMA_VERSION = 1
MANIFEST_NAME = "manifest.json"
# A real manifest is a few KB (the validation curve is most of it) and labels.txt a few hundred
# bytes; 1 MiB leaves room for any honest bundle while a 27 MB file cannot stall the app.
MAX_MANIFEST_BYTES = 1 << 20
MAX_LABELS_BYTES = 1 << 20
MAX_CLASSES = 1000  # ImageNet's count; more would not fit the app's capture panel either
MAX_IMAGE_SIZE = 4096  # the model's square input side, in pixels
RE_EXPORT = "re-export the bundle with `seefood export`"


class BundleError(InputError):
    """A bundle that cannot be used. The message names the file and what to do."""


@dataclass(frozen=True)
class Manifest:
    """The parts of manifest.json the runtime needs. ``raw`` keeps everything else.

    ``warnings`` lists what was wrong but could be left out without changing decisions (a malformed
    validation curve is dropped); the app and ``predict`` show them.
    """

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
    curve: tuple = field(repr=False, default=())
    warnings: tuple[str, ...] = ()

    @property
    def validation_curve(self) -> list[dict]:
        """[{threshold, precision, recall}, ...] measured on validation data at export time (checked)."""
        return [dict(point) for point in self.curve]

    @property
    def input_dtype(self) -> str:
        """The pixel type the manifest promises the model takes ("uint8" for every SeeFood export)."""
        declared = self.raw.get("input")
        if isinstance(declared, dict) and isinstance(declared.get("dtype"), str):
            return declared["dtype"]
        return str(self.preprocessing.input_dtype)

    @property
    def verification_failed(self) -> bool:
        """True when the manifest records a verification against the Keras model that did not pass."""
        verification = self.raw.get("verification")
        return isinstance(verification, dict) and verification.get("passed") is False


def verification_warning(manifest: Manifest, bundle_dir: Path | str) -> str | None:
    """One line for a bundle whose recorded verification failed (None when it passed or was not run).

    A failed bundle still loads, since the user may have insisted on it, but every runtime says so:
    its decisions may differ from the model that was evaluated.
    """
    if not manifest.verification_failed:
        return None
    failures = manifest.raw["verification"].get("failures")
    reason = failures[0] if isinstance(failures, list) and failures and isinstance(failures[0], str) else ""
    because = f" ({clip(reason)})" if reason else ""
    return (
        f"{bundle_dir}: this bundle FAILED verification against its Keras model{because}; its answers may differ "
        "from the evaluated model: export it again in another mode (e.g. --quantize dynamic) and run `seefood verify`"
    )


def sha256_of(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for chunk in iter(lambda: handle.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


def _inside(bundle_dir: Path, name: str, what: str) -> Path:
    if not isinstance(name, str) or not name or os.path.isabs(name):
        raise BundleError(f"{bundle_dir / MANIFEST_NAME}: {what} must be a file name inside the bundle, "
                          f"got {shorten(name)}; {RE_EXPORT}")
    path = (bundle_dir / name).resolve()
    if bundle_dir.resolve() not in path.parents:
        raise BundleError(
            f"{bundle_dir / MANIFEST_NAME}: {what} {shorten(name)} points outside the bundle; {RE_EXPORT}"
        )
    if not path.is_file():
        raise BundleError(f"{path}: {what} is missing from the bundle; {RE_EXPORT}")
    return path


def _read_text(path: Path, limit: int, what: str) -> str:
    """The UTF-8 text of a bundle file of at most ``limit`` bytes; BundleError otherwise.

    Reads at most ``limit + 1`` bytes whatever the file claims, so a huge or growing file costs
    nothing but the refusal.
    """
    try:
        with open(path, "rb") as handle:
            data = handle.read(limit + 1)
    except OSError as error:
        raise BundleError(f"{path}: cannot read the {what} ({error.strerror or error}); check the file's "
                          f"permissions or {RE_EXPORT}") from error
    if len(data) > limit:
        raise BundleError(f"{path}: the {what} is larger than {limit // 1024} KiB, far more than SeeFood writes; "
                          f"the file is damaged or not from SeeFood: {RE_EXPORT}")
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as error:
        raise BundleError(f"{path}: the {what} is not UTF-8 text (bad byte at offset {error.start}); "
                          f"{RE_EXPORT}") from error


def _read_manifest_json(manifest_path: Path) -> dict:
    text = _read_text(manifest_path, MAX_MANIFEST_BYTES, "manifest")
    try:
        raw = json.loads(text)
    except RecursionError as error:
        raise BundleError(f"{manifest_path}: the JSON is nested too deeply to be a SeeFood manifest; "
                          f"{RE_EXPORT}") from error
    except ValueError as error:  # JSONDecodeError, or a number too long to convert
        raise BundleError(f"{manifest_path}: not valid JSON ({clip(str(error))}); {RE_EXPORT}") from error
    if not isinstance(raw, dict):
        raise BundleError(f"{manifest_path}: must hold a JSON object, found {type(raw).__name__}; {RE_EXPORT}")
    return raw


def _check_names(names: object, source: Path, what: str) -> list[str]:
    """``names`` as a list of valid, distinct class names; BundleError naming ``source`` otherwise."""
    if not isinstance(names, list) or not names:
        raise BundleError(f"{source}: {what} must be a non-empty list of class names, got {shorten(names)}; "
                          f"{RE_EXPORT}")
    if len(names) > MAX_CLASSES:
        raise BundleError(f"{source}: {len(names)} {what}, more than the {MAX_CLASSES} SeeFood supports; {RE_EXPORT}")
    for name in names:
        try:
            check_class_name(name)
        except ClassNameError as error:
            raise BundleError(f"{source}: {error}, train again and re-export the bundle") from error
    duplicates = sorted({n for n in names if names.count(n) > 1})
    if duplicates:
        raise BundleError(f"{source}: class {shorten(duplicates[0])} appears twice in the {what}; {RE_EXPORT}")
    return list(names)


def labels_text(labels: list[str]) -> str:
    """The content of labels.txt for ``labels``: one per line, exactly as ``_read_labels`` reads it back.

    Raises ClassNameError for a name that would not survive the round trip (``seefood.names``), so a
    bundle that could never load is never written.
    """
    for name in labels:
        check_class_name(name)
    return "\n".join(labels) + "\n"


def _read_labels(labels_path: Path) -> list[str]:
    """labels.txt: one label per line, kept exactly (no stripping: a label must equal its class folder)."""
    text = _read_text(labels_path, MAX_LABELS_BYTES, "labels file")
    lines = [line[:-1] if line.endswith("\r") else line for line in text.split("\n")]
    return _check_names([line for line in lines if line.strip()], labels_path, "labels")


def _checked_curve(raw_curve: object, manifest_path: Path) -> tuple[tuple, tuple[str, ...]]:
    """The validation curve as a tuple of {threshold, precision, recall} points in 0..1 (multi-class
    points also carry coverage and accuracy), or () and a warning when any point is malformed: the
    curve only annotates the threshold slider, so a bad one is left out rather than stopping the
    model from loading."""
    if raw_curve is None or raw_curve == []:
        return (), ()
    points = []
    problem = None if isinstance(raw_curve, list) else f"a {type(raw_curve).__name__}, not a list"
    for point in raw_curve if problem is None else []:
        values = [point.get(key) for key in ("threshold", "precision", "recall")] if isinstance(point, dict) else []
        if len(values) != 3 or not all(_unit_number(v) for v in values):
            problem = f"the point {shorten(point)} is not {{threshold, precision, recall}} numbers in 0..1"
            break
        extra = {key: point[key] for key in ("coverage", "accuracy") if key in point}
        if not all(_unit_number(v) for v in extra.values()):
            problem = f"the point {shorten(point)} has coverage/accuracy outside 0..1"
            break
        points.append({"threshold": float(values[0]), "precision": float(values[1]), "recall": float(values[2]),
                       **{key: float(v) for key, v in extra.items()}})
    if problem is None:
        return tuple(points), ()
    return (), (f"{manifest_path}: validation_curve left out: {problem}; the threshold slider shows no "
                "precision/recall until you re-export the bundle",)


def _unit_number(value: object) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value) and 0 <= value <= 1


def check_model_sha256(model_path: Path, actual: str, expected: str) -> None:
    """Raise BundleError when the model's sha256 is not the manifest's."""
    if actual != expected:
        raise BundleError(
            f"{model_path}: sha256 does not match manifest.json (file changed or damaged); re-export the bundle"
        )


def load_manifest(bundle_dir: Path | str, check_hash: bool = True) -> Manifest:
    """Read and validate manifest.json; raise BundleError with the path and the fix."""
    bundle_dir = Path(bundle_dir)
    if not bundle_dir.is_dir():
        raise BundleError(f"{bundle_dir}: no such bundle folder; export one with `seefood export RUN_DIR --out {bundle_dir}`")
    manifest_path = bundle_dir / MANIFEST_NAME
    if not manifest_path.is_file():
        raise BundleError(f"{manifest_path}: missing; this folder is not a SeeFood bundle (export one with `seefood export`)")
    raw = _read_manifest_json(manifest_path)
    version = raw.get("schema_version")
    if version != SCHEMA_VERSION:
        raise BundleError(
            f"{manifest_path}: schema_version {shorten(version)} is not supported by this SeeFood "
            f"(expects {SCHEMA_VERSION}); re-export the bundle with this version"
        )
    try:
        task = raw["task"]
        positive = raw.get("positive_class")
        classes = raw["classes"]
        threshold = float(raw["threshold"])
        preprocessing = Preprocessing.from_dict(raw["preprocessing"])
        model_file = raw.get("model_file", "model.tflite")
        labels_file = raw.get("labels_file", "labels.txt")
        expected_sha = raw["model_sha256"]
    except (KeyError, TypeError, ValueError) as error:
        raise BundleError(f"{manifest_path}: missing or invalid field {clip(str(error))}; {RE_EXPORT}") from error
    if task not in ("binary", "multiclass"):
        raise BundleError(f"{manifest_path}: task must be 'binary' or 'multiclass', got {shorten(task)}; {RE_EXPORT}")
    classes = _check_names(classes, manifest_path, "classes")
    if task == "binary" and (positive is None or len(classes) != 2 or classes[1] != positive):
        raise BundleError(f"{manifest_path}: a binary bundle needs classes [negative, positive] and positive_class")
    if not 0.0 <= threshold <= 1.0:
        raise BundleError(f"{manifest_path}: threshold {threshold} is outside 0..1")
    size = preprocessing.image_size
    if not isinstance(size, int) or isinstance(size, bool) or not 1 <= size <= MAX_IMAGE_SIZE:
        raise BundleError(f"{manifest_path}: preprocessing.image_size must be a whole number of pixels "
                          f"(1..{MAX_IMAGE_SIZE}), got {shorten(size)}; {RE_EXPORT}")
    if not isinstance(expected_sha, str):
        raise BundleError(f"{manifest_path}: model_sha256 must be text, got {shorten(expected_sha)}; {RE_EXPORT}")
    model_path = _inside(bundle_dir, model_file, "model_file")
    labels_path = _inside(bundle_dir, labels_file, "labels_file")
    labels = _read_labels(labels_path)
    expected_labels = [positive] if task == "binary" else classes
    if labels != expected_labels:
        raise BundleError(
            f"{labels_path}: labels {shorten(labels)} do not match the manifest's {shorten(expected_labels)}; "
            "re-export the bundle"
        )
    with open(model_path, "rb") as handle:
        head = handle.read(8)
    if len(head) < 8 or head[4:8] != b"TFL3":
        raise BundleError(f"{model_path}: not a TFLite model (no TFL3 identifier); re-export the bundle")
    if check_hash:
        check_model_sha256(model_path, sha256_of(model_path), expected_sha)
    curve, warnings = _checked_curve(raw.get("validation_curve"), manifest_path)
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
        name=clip(str(raw.get("name", bundle_dir.name))),
        raw=raw,
        curve=curve,
        warnings=warnings,
    )
