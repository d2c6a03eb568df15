"""The export pipeline behind ``seefood export`` (and ``seefood retrain``): convert a run's Keras
model to TFLite in each asked-for quantization, add metadata, write the bundle files atomically,
verify each against the Keras model, fall back to the next mode when one fails, and copy the
chosen bundle into app folders. ``export.commands`` turns the command line into ``ExportOptions``;
this module knows nothing of argparse. Options are saved with the bundle (``export_config.json``).
"""

from __future__ import annotations

import sys
from dataclasses import asdict, dataclass, field
from pathlib import Path

from export.verify import Tolerances
from seefood.errors import InputError, write_failure

QUANTIZE_CHOICES = ("float32", "float16", "dynamic", "int8", "all")
GRANULARITY_CHOICES = ("auto", "per-tensor", "per-channel")
# When a quantized model fails verification, the next smaller mode that may pass (float32 is the
# trained model itself and ends the chain).
FALLBACK = {"int8": "dynamic", "dynamic": "float16", "float16": "float32"}
COMPARISON_NAME = "comparison"
EXPORT_CONFIG_NAME = "export_config.json"  # the options that wrote the bundle, to reproduce it


@dataclass(frozen=True)
class ExportOptions:
    """Everything ``export_run`` needs; ``seefood export``'s flags map one to one."""

    run_dir: Path
    out: Path
    quantize: str = "float32"
    representative_size: int = 200
    int8_granularity: str = "auto"
    force: bool = False
    android_assets: Path | None = None
    ios_resources: Path | None = None
    no_verify: bool = False
    keep_failed: bool = False
    tolerances: Tolerances = field(default_factory=Tolerances)

    def __post_init__(self) -> None:
        if self.quantize not in QUANTIZE_CHOICES:
            raise InputError(f"--quantize must be one of {', '.join(QUANTIZE_CHOICES)}, got {self.quantize!r}")
        if self.int8_granularity not in GRANULARITY_CHOICES:
            raise InputError(f"--int8-granularity must be one of {', '.join(GRANULARITY_CHOICES)}, got {self.int8_granularity!r}")
        if self.representative_size < 1:
            raise InputError(f"--representative-size must be at least 1, got {self.representative_size}")

    def to_dict(self) -> dict:
        return {k: (str(v) if isinstance(v, Path) else v) for k, v in asdict(self).items()}


@dataclass
class ExportResult:
    reports: list[dict]  # one verification report per bundle written (empty with no_verify)
    passed: bool
    chosen: Path  # the bundle apps should load: the only one, or the smallest that passed
    copied: list[Path]


def export_run(opts: ExportOptions) -> ExportResult:
    """Write the bundle(s) for ``opts``; a write failure becomes an InputError naming the file
    (nothing is changed in ``opts.out`` then: the bundle is staged and swapped in whole)."""
    try:
        return _export(opts)
    except OSError as error:
        raise InputError(f"{write_failure(error, opts.out)}. Nothing was changed in {opts.out}") from error


def _check_model(run, model) -> None:
    size = run.preprocessing.image_size
    shape = tuple(model.inputs[0].shape)
    dtype = str(getattr(model.inputs[0], "dtype", "uint8"))
    if shape[1:] != (size, size, 3) or "uint8" not in dtype:
        raise InputError(
            f"{run.model_path}: the model takes {dtype} {shape}, but the run's preprocessing says uint8 "
            f"(None, {size}, {size}, 3); export needs the inference model that `seefood train` saves"
        )
    outputs = int(model.outputs[0].shape[-1])
    if outputs != len(run.labels):
        raise InputError(f"{run.model_path}: {outputs} model outputs but run.json lists {len(run.labels)} labels")


def _export(opts: ExportOptions) -> ExportResult:
    from export import bundle_writer, convert, verify
    from seefood import decoded_cache
    from training.run_io import load_run, write_json_atomic

    modes = list(convert.MODES) if opts.quantize == "all" else [opts.quantize]
    run = load_run(opts.run_dir)
    if len(modes) > 1 and opts.out.is_dir() and (opts.out / "versions").is_dir():
        raise InputError(f"--out {opts.out}: keeps versions of one bundle, and --quantize all writes one bundle per "
                         "mode; export all modes to a new folder, or one --quantize mode into this one")
    bundle_writer.check_bundle_target(opts.out, run, opts.force)
    for app_dir in (opts.android_assets, opts.ios_resources):
        if app_dir is not None:
            for name in (bundle_writer.MODEL_FILE, bundle_writer.LABELS_FILE):
                bundle_writer.refuse_existing(app_dir / name, opts.force, what="file")
    model = run.load_model()
    _check_model(run, model)
    representative = None
    if "int8" in modes:
        sample = convert.stratified_sample(run.splits.get("train", []), opts.representative_size)
        if not sample:
            raise InputError(f"{run.run_dir}: int8 needs training photos for calibration and splits.json has none")
        size = run.preprocessing.image_size
        representative = convert.representative_dataset(sample, lambda path: decoded_cache.fitted(path, size))
    job = _Job(run, model, representative, opts)
    reports = []

    with bundle_writer.staging(opts.out, run, opts.force) as tmp:
        for mode in modes:
            folder = tmp if len(modes) == 1 else tmp / mode
            report = _write_mode(job, folder, mode)
            requested, failed = mode, []
            # One bundle asked for: a failed quantization is not shipped silently; the next mode that passes is.
            while report is not None and not report["passed"] and len(modes) == 1 and not opts.keep_failed \
                    and mode in FALLBACK:
                failed.append(f"{mode} ({'; '.join(report['failures'])})")
                mode = FALLBACK[mode]
                print(f"{failed[-1].split(' ')[0]} failed verification; trying {mode} ...", file=sys.stderr)
                for stale in folder.iterdir():
                    stale.unlink()
                report = _write_mode(job, folder, mode)
            if failed:
                outcome = f"wrote {mode}, which passed" if report["passed"] else f"wrote {mode}, which failed too"
                report["fallback"] = {
                    "requested": requested, "written": mode, "failed": failed,
                    "reason": f"{requested} was asked for but failed verification: {' | '.join(failed)}; {outcome}. "
                              f"Pass --keep-failed to write {requested} anyway, or loosen the tolerances",
                }
            if report is not None:
                verify.record(folder, report)
                reports.append(report)
            bundle_writer.write_readme(folder)
        if len(modes) > 1 and reports:
            _write_comparison(tmp, reports)
        write_json_atomic(tmp / EXPORT_CONFIG_NAME, opts.to_dict())
    passed = all(r["passed"] for r in reports)
    chosen = _bundle_for_apps(opts.out, modes, reports)
    copied = []
    for app_dir in (opts.android_assets, opts.ios_resources):
        if app_dir is None:
            continue
        if not passed and reports:
            print(f"not copying to {app_dir}: verification failed", file=sys.stderr)
            continue
        copied += bundle_writer.copy_for_app(chosen, app_dir, opts.force)
    return ExportResult(reports, passed, chosen, copied)


@dataclass
class _Job:
    run: object  # training.run_io.RunInfo
    model: object  # the run's keras.Model
    representative: object  # int8 calibration data (None without int8)
    opts: ExportOptions
    keras_cache: dict = field(default_factory=dict)  # Keras scores, computed once for every mode's verification


def _write_mode(job: _Job, folder: Path, mode: str) -> dict | None:
    """Convert, write and verify one mode into ``folder``; the verification report (None with
    no_verify). int8 with granularity auto tries per-tensor first and keeps it only if it passes."""
    from export import bundle_writer, convert, metadata, verify
    from seefood import __version__

    run, model, opts = job.run, job.model, job.opts
    print(f"converting {mode} ...", file=sys.stderr)
    attempts = _granularities(mode, opts.int8_granularity, verifying=not opts.no_verify)
    report, tried = None, []
    for attempt, granularity in enumerate(attempts, start=1):
        if granularity is not None:
            print(f"  int8 weights {granularity} ...", file=sys.stderr)
        try:
            tflite = convert.convert(model, mode, job.representative, granularity or "per-channel")
        except Exception as error:  # the TFLite converter raises its own ConverterError, RuntimeError...
            detail = " ".join(str(error).split())[:300]
            if attempt < len(attempts):  # auto: per-tensor could not even be converted; per-channel next
                tried.append(f"{granularity}: conversion failed ({type(error).__name__}: {detail[:120]})")
                print(f"  {tried[-1]}; trying {attempts[attempt]} ...", file=sys.stderr)
                continue
            other = "float16 or dynamic" if mode == "int8" else "float32"
            raise InputError(f"{run.model_path}: converting to {mode} failed ({type(error).__name__}: {detail}); "
                            f"export --quantize {other} instead") from error
        info = metadata.ModelInfo(
            name=bundle_writer.bundle_name(run, mode),
            description=_description(run),
            version=f"seefood {__version__}, run {run.run_id}, {mode}",
            labels=list(run.labels),
        )
        tflite = metadata.add_classifier_metadata(tflite, info)
        bundle_writer.write_bundle_files(folder, run, mode, tflite, granularity)
        if opts.no_verify:
            return None
        print(f"verifying {mode} ...", file=sys.stderr)
        report = verify.verify_bundle(folder, run.run_dir, opts.tolerances, keras_model=model, cache=job.keras_cache)
        tried.append(f"{granularity}: {'; '.join(report['failures']) or 'passed'}")
        if report["passed"]:
            break
    if len(tried) > 1:
        report["granularity_note"] = "tried " + " | ".join(tried)
    elif attempts == ["per-tensor"] and not report["passed"]:
        report["granularity_note"] = ("per-tensor failed verification; --int8-granularity per-channel "
                                      "(or auto) keeps a scale per channel and may pass")
    return report


def _granularities(mode: str, choice: str, verifying: bool) -> list[str | None]:
    """The int8 weight granularities to try in order (None for other modes). 'auto' tries the
    smaller per-tensor model first and keeps it only if verification passes; without
    verification there is no evidence for it, so 'auto' means the safe per-channel."""
    if mode != "int8":
        return [None]
    if choice != "auto":
        return [choice]
    if not verifying:
        print("  --no-verify: int8 weights per-channel (auto needs verification to accept per-tensor)", file=sys.stderr)
        return ["per-channel"]
    return ["per-tensor", "per-channel"]


def _description(run) -> str:
    if run.task == "binary":
        return f"Binary food classifier: probability of '{run.positive_class}' (vs '{run.negative_class}')."
    return f"Food classifier over {len(run.classes)} classes: {', '.join(run.classes)}."


def _bundle_for_apps(out: Path, modes: list[str], reports: list[dict]) -> Path:
    """The bundle to copy into app folders: the only one, or the smallest that passed verification."""
    if len(modes) == 1:
        return out
    passing = [r for r in reports if r["passed"]] or reports
    if not passing:
        return out / "float32"
    best = min(passing, key=lambda r: r["model_bytes"])
    return out / best["quantization"]


def _write_comparison(folder: Path, reports: list[dict]) -> None:
    from export.verify import markdown_table
    from training.run_io import write_json_atomic

    keys = ("quantization", "granularity", "granularity_note", "model_bytes", "agreement", "max_score_diff",
            "deltas", "latency_ms", "passed", "failures", "threshold")
    rows = [{k: r.get(k) for k in keys} for r in reports]
    write_json_atomic(folder / f"{COMPARISON_NAME}.json", {"bundles": rows})
    base = next((r for r in reports if r["quantization"] == "float32"), reports[0])
    lines = ["# Quantization comparison", "", markdown_table(reports), ""]
    for r in reports:
        lines.append(
            f"- {r['quantization']}: {r['model_bytes'] / base['model_bytes']:.2f}x the size of "
            f"{base['quantization']}, p50 latency {r['latency_ms']['p50'] / base['latency_ms']['p50']:.2f}x"
        )
    lines.append("")
    lines.append("Deltas are TFLite minus Keras on the test split; agreement is over validation + test.")
    (folder / f"{COMPARISON_NAME}.md").write_text("\n".join(lines) + "\n", encoding="utf-8")


