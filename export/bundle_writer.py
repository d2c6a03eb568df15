"""Write bundle folders (docs/design.md): model.tflite, labels.txt, manifest.json, README.md.

Everything is written into a hidden temporary folder next to the target and renamed into place
at the end (``staging``), so an interrupted or failed export leaves either the old bundle or
none, never half of one. An existing target is replaced only with ``force``.
"""

from __future__ import annotations

import contextlib
import datetime as _dt
import json
import os
import platform
import shutil
from collections.abc import Iterator
from importlib import metadata as _importlib_metadata
from pathlib import Path

from training.run_io import RunInfo as Run
from seefood.atomic import staged_folder
from seefood.bundle import MANIFEST_NAME, SCHEMA_VERSION, labels_text, sha256_of
from seefood.errors import InputError

MODEL_FILE = "model.tflite"
LABELS_FILE = "labels.txt"
README_FILE = "README.md"


def refuse_existing(path: Path, force: bool, what: str = "bundle") -> None:
    """InputError when ``path`` exists and ``force`` is not given (checked before any slow work)."""
    if path.exists() and not force:
        raise InputError(f"{path}: a {what} is already there; pass --force to replace it or choose another --out")


def check_bundle_target(out: Path, run: Run, force: bool) -> None:
    """Before any slow work: ``--out`` may only become a bundle where nothing else is lost. It
    must not be, contain or sit inside the run folder or the run's photos, and ``--force``
    replaces only a bundle SeeFood wrote (``seefood.ownership``), never another folder. A bundle
    that keeps versions (``seefood.versions``) is not replaced: ``--force`` adds the export as its
    next version."""
    from seefood.ownership import OutputFolderError, check_apart, check_output_folder
    from seefood.versions import is_versioned, next_version

    check_apart(out, run.run_dir, "the run folder")
    if run.data_dir:
        check_apart(out, Path(run.data_dir), "the run's data folder")
    versioned = is_versioned(out)
    check_output_folder(out, "bundle", force or versioned)
    if versioned and not force:
        raise OutputFolderError(
            f"--out {out}: a SeeFood bundle that keeps versions is already there; pass --force to add this export as "
            f"its version {next_version(out)} (the others are kept: `seefood bundle use` rolls back), or choose "
            "another --out")


@contextlib.contextmanager
def staging(target: Path, run: Run, force: bool) -> Iterator[Path]:
    """Yield an empty temporary folder beside ``target``; on success it becomes ``target``.

    On an exception the temporary folder is removed and ``target`` is left as it was. A versioned
    ``target`` keeps its versions: the new bundle becomes its next, current version.
    """
    from seefood.versions import incoming, is_versioned

    check_bundle_target(Path(target), run, force)
    if is_versioned(target):
        with incoming(target) as tmp:
            yield tmp
    else:
        with staged_folder(target) as tmp:
            yield tmp


def tool_versions() -> dict:
    versions = {"python": platform.python_version()}
    for dist in ("seefood", "tensorflow", "keras", "ai-edge-litert", "mediapipe", "flatbuffers", "numpy"):
        try:
            versions[dist] = _importlib_metadata.version(dist)
        except _importlib_metadata.PackageNotFoundError:
            versions[dist] = None
    return versions


def bundle_name(run: Run, mode: str) -> str:
    return f"seefood-{run.run_id}-{mode}"


def build_manifest(run: Run, mode: str, model_path: Path, granularity: str | None = None) -> dict:
    pre = run.preprocessing
    return {
        "schema_version": SCHEMA_VERSION,
        "name": bundle_name(run, mode),
        "task": run.task,
        "labels": list(run.labels),
        "classes": list(run.classes),
        "positive_class": run.positive_class,
        "negative_class": run.negative_class,
        "input": {
            "width": pre.image_size,
            "height": pre.image_size,
            "channels": 3,
            "dtype": "uint8",
            "color_order": pre.color_order,
            "crop": pre.crop,
            "resize": pre.resize,
        },
        "preprocessing": pre.to_dict(),
        "threshold": run.threshold,
        "threshold_objective": run.threshold_objective,
        "tail_adjust": run.raw.get("tail_adjust"),  # multi-class: the small-class head start inside the model, if any
        "head_norm": run.raw.get("head_norm"),  # multi-class: the output weights' normalisation inside the model, if any
        "validation_curve": run.validation_curve,
        "quantization": mode,
        "quantization_granularity": granularity,  # int8 only: "per-tensor" or "per-channel"
        "model_file": MODEL_FILE,
        "labels_file": LABELS_FILE,
        "model_sha256": sha256_of(model_path),
        "verification": None,
        "run_id": run.run_id,
        "source_run": str(run.run_dir.resolve()),
        "dataset_fingerprint": run.dataset_fingerprint,
        "tool_versions": tool_versions(),
        "created": _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds"),
    }


def write_bundle_files(folder: Path, run: Run, mode: str, model_bytes: bytes, granularity: str | None = None) -> dict:
    """model.tflite, labels.txt and manifest.json (verification still empty) into ``folder``."""
    folder.mkdir(parents=True, exist_ok=True)
    model_path = folder / MODEL_FILE
    model_path.write_bytes(model_bytes)
    (folder / LABELS_FILE).write_text(labels_text(run.labels), encoding="utf-8")
    manifest = build_manifest(run, mode, model_path, granularity)
    (folder / MANIFEST_NAME).write_text(json.dumps(manifest, indent=2) + "\n", encoding="utf-8")
    return manifest


def readme_text(folder: Path) -> str:
    """The mobile developer's page: what goes in, what comes out, how to decide, how it was checked."""
    manifest = json.loads((folder / MANIFEST_NAME).read_text(encoding="utf-8"))
    size = manifest["input"]["width"]
    binary = manifest["task"] == "binary"
    if binary:
        output = (
            f"`float32 [1, 1]`: the probability that the photo shows **{manifest['positive_class']}** "
            f"(the one line of `labels.txt`). Decide **{manifest['positive_class']}** when it is "
            f">= `threshold`, else **{manifest['negative_class']}**."
        )
    else:
        output = (
            f"`float32 [1, {len(manifest['labels'])}]`: one probability per line of `labels.txt` "
            f"({', '.join(manifest['labels'])}). Decide the top class when its probability is >= `threshold`, "
            "else answer \"unknown\"."
        )
        tail = manifest.get("tail_adjust") or {}
        if tail.get("tau"):
            boosted = ", ".join(f"{c} +{o:.2f}" for c, o in tail["offsets"].items() if o)
            output += (f" These probabilities already carry a head start for classes trained on fewer photos "
                       f"(`--tail-adjust {tail['tau']:g}`: {boosted} on the logit), so the app and a phone decide alike "
                       "with nothing to add.")
        head = manifest.get("head_norm") or {}
        if head.get("exponent"):
            power = "" if head["exponent"] == 1 else f" ** {head['exponent']:g}"
            output += (f" Each class's output weights were divided by their length{power} after training (`--head-norm "
                       f"{head['exponent']:g}`), inside the model too.")
    verification = manifest.get("verification") or {}
    if verification:
        checked = (
            f"Checked against the trained Keras model on {verification['n']} validation/test photos: "
            f"{verification['agreement'] * 100:.2f}% same decisions, largest score difference "
            f"{verification['max_score_diff']:.4f}, F1 change {verification['deltas']['f1']:+.4f} "
            f"({'passed' if verification['passed'] else 'FAILED'} the tolerances; details in `verification.json`). "
            f"Single-image latency on the export machine's CPU: p50 {verification['latency_ms']['p50']:.2f} ms."
        )
        if not verification["passed"]:
            checked = ("**WARNING: this model FAILED verification: it does not decide like the trained model "
                       f"({'; '.join(verification.get('failures') or [])}).** " + checked)
        if (verification.get("fallback") or {}).get("reason"):
            checked += f"\n\n**Note:** {verification['fallback']['reason']}."
    else:
        checked = "Not verified (exported with --no-verify); run `seefood verify` on this folder."
    return f"""# {manifest['name']}

A {'binary' if binary else 'multi-class'} food classifier exported by SeeFood (run `{manifest['run_id']}`,
quantization `{manifest['quantization']}`).

## Files
- `model.tflite`: the model, with TFLite metadata (labels, RGB image input) that MediaPipe Tasks and
  ML Kit read; `labels.txt` is also packed inside it.
- `labels.txt`: output labels, one per line, in output order.
- `manifest.json`: everything below in machine-readable form (threshold, input format, sha256, checks).

## Input
`uint8 [1, {size}, {size}, 3]`, **RGB**, raw pixel values 0..255 - do **not** normalise; the model
scales pixels itself. Centre-crop the camera frame to a square, then resize to {size}x{size}
(bilinear). MediaPipe's `ImageClassifier` does the resize for you; crop to the centre square with a
region of interest (or crop the bitmap) to match training exactly.

## Output and decision
{output}
`threshold` = **{manifest['threshold']:.4f}** (chosen on validation data for objective
`{manifest.get('threshold_objective') or 'f1'}`). MediaPipe's `score_threshold` option can be set to it.

## Use it
Android (MediaPipe Tasks, `com.google.mediapipe:tasks-vision`): copy `model.tflite` into `src/main/assets/`,
then
```kotlin
val options = ImageClassifier.ImageClassifierOptions.builder()
    .setBaseOptions(BaseOptions.builder().setModelAssetPath("model.tflite").build())
    .setMaxResults({len(manifest['labels'])})
    .build()
val classifier = ImageClassifier.createFromOptions(context, options)
val result = classifier.classify(BitmapImageBuilder(bitmap).build())
```
iOS (`MediaPipeTasksVision` pod): add `model.tflite` to the app target's resources, then
```swift
let options = ImageClassifierOptions()
options.baseOptions.modelAssetPath = Bundle.main.path(forResource: "model", ofType: "tflite")!
options.maxResults = {len(manifest['labels'])}
let classifier = try ImageClassifier(options: options)
let result = try classifier.classify(image: MPImage(uiImage: image))
```
Plain LiteRT / TFLite interpreters work too: feed the uint8 tensor, read the float32 output.

## Checks
{checked}

`model_sha256`: `{manifest['model_sha256']}`
"""


def write_readme(folder: Path) -> None:
    tmp = folder / f".{README_FILE}.tmp"
    tmp.write_text(readme_text(folder), encoding="utf-8")
    os.replace(tmp, folder / README_FILE)


def copy_for_app(bundle: Path, target_dir: Path, force: bool) -> list[Path]:
    """Copy model.tflite and labels.txt into an app's assets/resources folder."""
    for name in (MODEL_FILE, LABELS_FILE):
        refuse_existing(target_dir / name, force, what="file")
    target_dir.mkdir(parents=True, exist_ok=True)
    copied = []
    for name in (MODEL_FILE, LABELS_FILE):
        destination = target_dir / name
        tmp = target_dir / f".{name}.tmp"
        shutil.copyfile(bundle / name, tmp)
        os.replace(tmp, destination)
        copied.append(destination)
    return copied
