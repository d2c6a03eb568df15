"""Does the exported TFLite model behave like the Keras model that was evaluated?

Runs the bundle through the same runtime the app uses (``seefood.bundle.Classifier``, LiteRT)
and the run's Keras model on the run's validation and test splits (or on a folder of photos),
and compares:

- agreement: the share of photos that get the same decision at the bundle's threshold
  (binary: positive / negative; multi-class: the class or "unknown"), over all photos checked;
- max score difference: the largest absolute change of any class probability;
- per split, the change (TFLite minus Keras) in PR-AUC (binary: average precision of the positive
  class; multi-class: macro one-vs-rest), F1 at the threshold (binary: positive class; multi-class:
  macro, "unknown" counted as a miss) and recall of every class.

It re-tunes the threshold on validation with the TFLite scores (same objective as the run,
``training.threshold``) and records both thresholds and the test metrics at the re-tuned one.

Gate (defaults from issue 3): agreement >= 0.98 and, on every split, F1 and each class's recall
drop by at most 0.02; and every score a finite number. A model answering NaN or infinity fails
whatever the other figures say: its rows are counted (``non_finite``) and scored as 0 for the
metrics, so the report stays valid JSON and the disagreement shows. A failing bundle keeps its
files but its manifest says ``passed: false`` and the command exits non-zero.
"""

from __future__ import annotations

import datetime as _dt
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np

from seefood import decoded_cache
from seefood.bundle import MANIFEST_NAME, Classifier, load_manifest
from seefood.errors import InputError
from seefood.images import class_folders, image_files
from seefood.scoring import average_precision, class_probabilities, confusion, macro_average_precision, per_class_rates
from seefood.scoring import decide_indices as decide  # the runtime's rule, on arrays of rows
from training.run_io import RunInfo as Run
from training.run_io import is_run_dir, load_run, write_json_atomic

VERIFICATION_NAME = "verification.json"


@dataclass(frozen=True)
class Tolerances:
    min_agreement: float = 0.98
    max_f1_drop: float = 0.02
    max_recall_drop: float = 0.02
    # Decisions whose Keras score lies within this distance of the threshold are "borderline":
    # a flip there is a coin toss, not quantization damage, so it is counted separately and not
    # held against the bundle (an undertrained model with every score at the threshold would
    # otherwise fail on 0.001 of drift).
    borderline: float = 0.01

    def __post_init__(self) -> None:
        if not 0.0 <= self.min_agreement <= 1.0:
            raise InputError(f"--min-agreement must be between 0 and 1, got {self.min_agreement}")
        if self.max_f1_drop < 0 or self.max_recall_drop < 0 or self.borderline < 0:
            raise InputError("--max-f1-drop, --max-recall-drop and --borderline must not be negative")


# ---------------------------------------------------------------- metrics (numpy only)


def class_scores(task: str, outputs: np.ndarray) -> np.ndarray:
    """Model outputs -> probabilities in ``classes`` order (binary: [1 - p, p])."""
    return class_probabilities(outputs, task == "binary")


def pr_auc(task: str, scores: np.ndarray, targets: np.ndarray) -> float | None:
    if task == "binary":
        return average_precision(targets == 1, scores[:, 1])
    return macro_average_precision(scores, targets)


def split_metrics(task: str, scores: np.ndarray, targets: np.ndarray, threshold: float, classes: list[str]) -> dict:
    """PR-AUC; F1 (binary: of the positive class; multi-class: macro, "unknown" counted as a miss);
    recall per class (None for a class with no photo here)."""
    table = per_class_rates(confusion(decide(task, scores, threshold), targets, len(classes)))
    return {
        "pr_auc": pr_auc(task, scores, targets),
        "f1": float(table["f1"][1] if task == "binary" else np.mean(table["f1"])),
        "recall": {name: float(table["recall"][c]) if table["support"][c] else None for c, name in enumerate(classes)},
    }


def _delta(new: float | None, old: float | None) -> float | None:
    return None if new is None or old is None else float(new - old)


def borderline_rows(task: str, keras: np.ndarray, threshold: float, margin: float) -> np.ndarray:
    """Rows whose deciding Keras score is within ``margin`` of the threshold."""
    deciding = keras[:, 1] if task == "binary" else keras.max(axis=1)
    return np.abs(deciding - threshold) < margin


def compare_split(task: str, keras: np.ndarray, tflite: np.ndarray, targets: np.ndarray, threshold: float,
                  classes: list[str], margin: float = 0.0) -> dict:
    """Keras vs TFLite class scores on one split. Decision metrics ignore flips of borderline rows
    (their TFLite decision is taken as Keras's); PR-AUC and score differences use every row."""
    borderline = borderline_rows(task, keras, threshold, margin) if margin > 0 else np.zeros(len(targets), bool)
    deciding = np.where(borderline[:, None], keras, tflite) if len(targets) else tflite
    k_metrics = split_metrics(task, keras, targets, threshold, classes)
    t_metrics = split_metrics(task, deciding, targets, threshold, classes)
    t_metrics["pr_auc"] = pr_auc(task, tflite, targets)
    recall_deltas = {name: _delta(t_metrics["recall"][name], k_metrics["recall"][name]) for name in classes}
    known = [d for d in recall_deltas.values() if d is not None]
    return {
        "n": int(len(targets)),
        "support": {name: int(np.sum(targets == c)) for c, name in enumerate(classes)},
        "borderline": int(borderline.sum()),
        "agreement": float(np.mean(decide(task, keras, threshold) == decide(task, deciding, threshold))),
        "agreement_all_rows": float(np.mean(decide(task, keras, threshold) == decide(task, tflite, threshold))),
        "max_score_diff": float(np.max(np.abs(keras - tflite))) if len(targets) else 0.0,
        "keras": k_metrics,
        "tflite": t_metrics,
        "deltas": {
            "pr_auc": _delta(t_metrics["pr_auc"], k_metrics["pr_auc"]),
            "f1": t_metrics["f1"] - k_metrics["f1"],
            "recall": recall_deltas,
            "worst_recall": min(known) if known else None,
        },
    }


def retune_threshold(task: str, scores: np.ndarray, targets: np.ndarray, objective: str,
                     prior: float | None = None) -> dict:
    """The threshold the run's objective picks on these (validation) scores (with the run's prior:
    ``RunInfo.prior``)."""
    from training.threshold import choose_multiclass_threshold, choose_threshold

    objective = objective or "f1"
    try:
        if task == "binary":
            choice = choose_threshold(scores[:, 1], targets == 1, objective, prior=prior)
        else:
            choice = choose_multiclass_threshold(scores, targets, objective)
    except ValueError as error:  # e.g. a validation split with one class only
        return {"threshold": None, "objective": objective, "note": str(error)}
    return choice.to_dict()


# ---------------------------------------------------------------- data


def _folder_examples(root: Path, class_map: dict[str, int]) -> list[tuple[str, int]]:
    items = []
    for folder in class_folders(root):
        if folder.name not in class_map:
            raise InputError(
                f"{folder}: class folder {folder.name!r} is not one the model was trained on "
                f"({', '.join(sorted(class_map))}); remove it or pass the run folder instead"
            )
        items += [(str(path), class_map[folder.name]) for path in image_files(folder)]
    return items


def data_dir_splits(data_dir: Path, class_map: dict[str, int]) -> dict[str, list[tuple[str, int]]]:
    """``DATA_DIR/{val,test}/<class>/*`` when present, else every ``DATA_DIR/<class>/*`` as one split."""
    named = {s: data_dir / s for s in ("val", "test") if (data_dir / s).is_dir()}
    splits = {s: _folder_examples(p, class_map) for s, p in named.items()} if named else {
        "data": _folder_examples(data_dir, class_map)
    }
    if not any(splits.values()):
        raise InputError(f"{data_dir}: no photos found in class folders")
    return splits


def _resolve_source(bundle_dir: Path, manifest_raw: dict, source: Path | None) -> tuple[Run, dict[str, list]]:
    """The run (for the Keras model) and the splits to check."""
    if source is not None and is_run_dir(source):
        run = load_run(source)
        return run, {s: run.splits.get(s, []) for s in ("val", "test")}
    recorded = manifest_raw.get("source_run")
    if not recorded or not is_run_dir(recorded):
        raise InputError(
            f"{bundle_dir}: verification needs the Keras model of the run this bundle came from, and the manifest's "
            f"source_run ({recorded!r}) is not a run folder here; pass it: `seefood verify {bundle_dir} RUN_DIR`"
        )
    run = load_run(recorded)
    if source is None:
        return run, {s: run.splits.get(s, []) for s in ("val", "test")}
    if not source.is_dir():
        raise InputError(f"{source}: no such folder (expected a run folder or a folder of class folders)")
    return run, data_dir_splits(source, run.class_map or {c: i for i, c in enumerate(run.classes)})


# ---------------------------------------------------------------- verification


def _score_images(classifier: Classifier, keras_model, task: str, items, image_size: int, cache: dict | None):
    """Keras and TFLite class scores and targets; images and Keras scores are reused from ``cache``
    (export --quantize all verifies four bundles against the same model and photos)."""
    key = (id(keras_model), image_size, tuple(items))
    if cache is not None and key in cache:
        images, keras_scores = cache[key]
    else:
        images = np.stack([decoded_cache.fitted(path, image_size) for path, _ in items])
        keras_scores = class_scores(task, keras_model.predict(images, batch_size=32, verbose=0))
        if cache is not None:
            cache[key] = (images, keras_scores)
    tflite_out = np.stack([classifier.raw_output(image) for image in images])
    targets = np.array([t for _, t in items], dtype=int)
    keras_scores, bad_keras = finite_rows(keras_scores)
    tflite_out, bad_tflite = finite_rows(tflite_out)
    return keras_scores, class_scores(task, tflite_out), targets, {"keras": bad_keras, "tflite": bad_tflite}


def finite_rows(scores: np.ndarray) -> tuple[np.ndarray, int]:
    """``scores`` with NaN and infinity replaced by 0, and how many rows held any."""
    scores = np.asarray(scores, dtype=np.float64)
    finite = np.isfinite(scores)
    bad = int(np.sum(~finite.reshape(len(scores), -1).all(axis=1))) if len(scores) else 0
    return np.where(finite, scores, 0.0), bad


def check(report: dict, tolerances: Tolerances) -> list[str]:
    """Human-readable reasons the bundle is outside tolerance (empty: it passes)."""
    failures = []
    for side, count in report.get("non_finite", {}).items():
        if count:
            model = "TFLite model" if side == "tflite" else "Keras model"
            failures.append(f"the {model} returned NaN or infinity for {count} of {report['n']} photos")
    if report["agreement"] < tolerances.min_agreement:
        failures.append(f"agreement {report['agreement']:.4f} < {tolerances.min_agreement}")
    for split, result in report["splits"].items():
        # On a small split one changed decision moves a class's recall by 1/support: a drop that
        # small is the resolution of the data, not a measured loss, so it is allowed (and said:
        # ``resolution_notes``).
        f1_limit = _f1_limit(result, tolerances)
        support = result.get("support", {})
        drop = -result["deltas"]["f1"]
        if drop > f1_limit + 1e-12:
            failures.append(f"{split}: F1 dropped by {drop:.4f} > {f1_limit:.4f}")
        for name, delta in result["deltas"]["recall"].items():
            limit = max(tolerances.max_recall_drop, 1.0 / support[name] if support.get(name) else 0.0)
            if delta is not None and -delta > limit + 1e-12:
                failures.append(f"{split}: recall of {name!r} dropped by {-delta:.4f} > {limit:.4f} "
                                f"(one decision of {support.get(name, '?')})")
    return failures


def _f1_limit(result: dict, tolerances: Tolerances) -> float:
    """The F1 drop a split can resolve: the tolerance, or one decision of its smallest class."""
    smallest = min((n for n in result.get("support", {}).values() if n), default=0)
    return max(tolerances.max_f1_drop, 1.0 / smallest if smallest else 0.0)


def resolution_notes(report: dict) -> list[str]:
    """Where a split is too small for the tolerance: F1 or a class's recall may drop by one decision
    of a small class (1/photos) and still pass, which can be far above ``--max-f1-drop``. Printed
    with the report so a pass on 6 photos is not read as a pass on 600."""
    tolerances = Tolerances(**{k: v for k, v in report["tolerances"].items() if k in Tolerances.__dataclass_fields__})
    notes = []
    for split, result in report["splits"].items():
        limit = _f1_limit(result, tolerances)
        if limit > tolerances.max_f1_drop + 1e-12:
            support = result.get("support", {})
            name, n = min(((c, k) for c, k in support.items() if k), key=lambda item: item[1])
            notes.append(f"{split}: only {n} photos of {name!r}, so one changed decision moves its recall by "
                         f"{1 / n:.3f}: F1 may drop by up to {limit:.3f} (not {tolerances.max_f1_drop}) and still pass; "
                         "verify on a larger folder for a finer check (seefood verify BUNDLE DATA_DIR)")
    return notes


def verify_bundle(bundle_dir: Path | str, source: Path | str | None = None, tolerances: Tolerances = Tolerances(),
                  latency_runs: int = 50, keras_model=None, cache: dict | None = None) -> dict:
    """Compare the bundle with its run's Keras model; return the report (nothing written)."""
    from export.bench import bench_bundle

    bundle_dir = Path(bundle_dir)
    manifest = load_manifest(bundle_dir)
    run, splits = _resolve_source(bundle_dir, manifest.raw, Path(source) if source is not None else None)
    if manifest.task != run.task or manifest.classes != run.classes:
        raise InputError(
            f"{bundle_dir}: the bundle ({manifest.task}, {manifest.classes}) does not come from run {run.run_dir} "
            f"({run.task}, {run.classes}); pass the right run folder"
        )
    splits = {name: items for name, items in splits.items() if items}
    if not splits:
        raise InputError(f"{run.run_dir}: the run has no validation or test photos to verify on")
    classifier = Classifier(bundle_dir)
    model = keras_model if keras_model is not None else run.load_model()
    threshold = manifest.threshold
    size = manifest.preprocessing.image_size
    results, agree, total, max_diff, scored = {}, 0.0, 0, 0.0, {}
    non_finite = {"keras": 0, "tflite": 0}
    for name, items in splits.items():
        keras, tflite, targets, bad = _score_images(classifier, model, run.task, items, size, cache)
        non_finite = {side: non_finite[side] + bad[side] for side in non_finite}
        scored[name] = (keras, tflite, targets)
        result = compare_split(run.task, keras, tflite, targets, threshold, manifest.classes, tolerances.borderline)
        results[name] = result
        agree += result["agreement"] * result["n"]
        total += result["n"]
        max_diff = max(max_diff, result["max_score_diff"])
    thresholds = {"manifest": threshold, "objective": run.threshold_objective or "f1"}
    if "val" in scored:
        keras_val, tflite_val, val_targets = scored["val"]
        prior = run.prior
        thresholds["retuned_tflite"] = retune_threshold(run.task, tflite_val, val_targets, thresholds["objective"], prior)
        thresholds["retuned_keras"] = retune_threshold(run.task, keras_val, val_targets, thresholds["objective"], prior)
        retuned = thresholds["retuned_tflite"].get("threshold")
        if retuned is not None and "test" in scored:
            _, tflite_test, test_targets = scored["test"]
            thresholds["test_at_retuned_tflite"] = split_metrics(
                run.task, tflite_test, test_targets, retuned, manifest.classes
            )
    latency = bench_bundle(bundle_dir, runs=latency_runs, warmup=max(1, latency_runs // 10))["model"]
    main_split = results.get("test") or next(iter(results.values()))
    report = {
        "bundle": manifest.name,
        "quantization": manifest.quantization,
        "granularity": manifest.raw.get("quantization_granularity"),
        "model_bytes": (bundle_dir / manifest.model_file).stat().st_size,
        "model_sha256": manifest.model_sha256,
        "interpreter": classifier.interpreter_name,
        "source_run": str(run.run_dir.resolve()),
        "run_id": run.run_id,
        "data": str(source) if source is not None else str(run.run_dir),
        "n": total,
        "agreement": agree / total,
        "max_score_diff": max_diff,
        "non_finite": non_finite,
        "deltas": {k: main_split["deltas"][k] for k in ("pr_auc", "f1", "worst_recall")},
        "deltas_split": "test" if "test" in results else next(iter(results)),
        "splits": results,
        "threshold": thresholds,
        "latency_ms": {"p50": latency["p50_ms"], "p95": latency["p95_ms"], "runs": latency["runs"]},
        "tolerances": asdict(tolerances),
        "verified": _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds"),
    }
    report["failures"] = check(report, tolerances)
    report["passed"] = not report["failures"]
    report["resolution"] = resolution_notes(report)
    return report


def summary(report: dict) -> dict:
    """The part of a report that goes into manifest.json's ``verification``."""
    retuned = report["threshold"].get("retuned_tflite", {}).get("threshold")
    return {
        "passed": report["passed"],
        "agreement": report["agreement"],
        "max_score_diff": report["max_score_diff"],
        "non_finite": report.get("non_finite", {}),
        "deltas": report["deltas"],
        "deltas_split": report["deltas_split"],
        "n": report["n"],
        "threshold": report["threshold"]["manifest"],
        "retuned_threshold_tflite": retuned,
        "latency_ms": report["latency_ms"],
        "tolerances": report["tolerances"],
        "failures": report["failures"],
        "granularity_note": report.get("granularity_note"),
        "fallback": report.get("fallback"),
        "verified": report["verified"],
        "details": VERIFICATION_NAME,
    }


def record(bundle_dir: Path | str, report: dict) -> None:
    """verification.json + the manifest's ``verification`` (the model file, and so its sha256, is untouched)."""
    bundle_dir = Path(bundle_dir)
    manifest = load_manifest(bundle_dir)  # re-checks the hash before we vouch for the model
    earlier = manifest.raw.get("verification") or {}
    for key in ("granularity_note", "fallback"):  # how export chose the mode stays on record
        if not report.get(key) and earlier.get(key):
            report = dict(report, **{key: earlier[key]})
    write_json_atomic(bundle_dir / VERIFICATION_NAME, report)
    raw = dict(manifest.raw)
    raw["verification"] = summary(report)
    write_json_atomic(bundle_dir / MANIFEST_NAME, raw)


def _fmt(value, digits: int = 4, signed: bool = False) -> str:
    if value is None:
        return "n/a"
    return f"{value:+.{digits}f}" if signed else f"{value:.{digits}f}"


TABLE_HEADER = ("mode", "size KiB", "p50 ms", "p95 ms", "agreement", "max |dscore|", "dPR-AUC", "dF1",
                "worst drecall", "threshold (run -> tflite val)", "result")


def table_row(report: dict) -> list[str]:
    retuned = report["threshold"].get("retuned_tflite", {}).get("threshold")
    mode = report["quantization"]
    if report.get("granularity"):
        mode += f" ({report['granularity']})"
    return [
        mode,
        f"{report['model_bytes'] / 1024:.1f}",
        f"{report['latency_ms']['p50']:.3f}",
        f"{report['latency_ms']['p95']:.3f}",
        f"{report['agreement'] * 100:.2f}%",
        _fmt(report["max_score_diff"]),
        _fmt(report["deltas"]["pr_auc"], signed=True),
        _fmt(report["deltas"]["f1"], signed=True),
        _fmt(report["deltas"]["worst_recall"], signed=True),
        f"{report['threshold']['manifest']:.3f} -> {_fmt(retuned, 3)}",
        "pass" if report["passed"] else "FAIL",
    ]


def markdown_table(reports: list[dict]) -> str:
    lines = ["| " + " | ".join(TABLE_HEADER) + " |", "|" + "---|" * len(TABLE_HEADER)]
    lines += ["| " + " | ".join(table_row(r)) + " |" for r in reports]
    return "\n".join(lines)


def format_report(report: dict) -> str:
    lines = [markdown_table([report])]
    counts = ", ".join(f"{name}: {result['n']}" for name, result in report["splits"].items())
    lines.append(
        f"\nchecked {report['n']} photos ({counts}) with {report['interpreter']}; "
        f"deltas are TFLite minus Keras on {report['deltas_split']}"
    )
    borderline = sum(result.get("borderline", 0) for result in report["splits"].values())
    if borderline:
        margin = report["tolerances"].get("borderline", 0)
        lines.append(f"{borderline} decision(s) with a Keras score within {margin} of the threshold were not held against the bundle")
    if report.get("granularity_note"):
        lines.append(f"int8 weights: {report['granularity_note']}")
    if report.get("fallback"):
        lines.append(f"FALLBACK: {report['fallback']['reason']}")
    for note in report.get("resolution", []):
        lines.append(f"coarse check: {note}")
    for failure in report["failures"]:
        lines.append(f"outside tolerance: {failure}")
    return "\n".join(lines)
