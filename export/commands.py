"""``seefood export``, ``seefood verify`` and ``seefood bench``.

Light on purpose: registering these subcommands imports no TensorFlow; each handler imports the
heavy modules when it runs (``bench`` without ``--compare`` never imports TensorFlow at all).
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from seefood.cli import UserError
from seefood.errors import write_failure

QUANTIZE_CHOICES = ("float32", "float16", "dynamic", "int8", "all")
# When a quantized model fails verification, the next smaller mode that may pass (float32 is the
# trained model itself and ends the chain).
FALLBACK = {"int8": "dynamic", "dynamic": "float16", "float16": "float32"}
COMPARISON_NAME = "comparison"


def register(subparsers) -> None:
    export = subparsers.add_parser(
        "export",
        help="convert a trained run to TFLite bundle(s) for phones and the desktop app",
        description="Convert RUN_DIR's model to a TFLite bundle (model.tflite with metadata, labels.txt, "
        "manifest.json, README.md), verify it against the Keras model, and write it atomically.",
    )
    export.add_argument("run_dir", type=Path, metavar="RUN_DIR")
    export.add_argument("--out", type=Path, required=True, metavar="BUNDLE_DIR")
    export.add_argument("--quantize", choices=QUANTIZE_CHOICES, default="float32",
                        help="quantization mode; 'all' writes BUNDLE_DIR/<mode>/ for each and a comparison table")
    export.add_argument("--representative-size", type=int, default=200, metavar="N",
                        help="training photos (stratified by class) that calibrate int8 (default 200)")
    export.add_argument("--int8-granularity", choices=("auto", "per-tensor", "per-channel"), default="auto",
                        help="int8 weight scales per tensor (smaller file) or per output channel (safer); 'auto' "
                        "(default) keeps per-tensor when it passes verification and falls back to per-channel")
    export.add_argument("--force", action="store_true", help="replace an existing bundle or app files")
    export.add_argument("--android-assets", type=Path, metavar="DIR",
                        help="also copy model.tflite and labels.txt into this Android assets folder")
    export.add_argument("--ios-resources", type=Path, metavar="DIR",
                        help="also copy model.tflite and labels.txt into this iOS resources folder")
    export.add_argument("--no-verify", action="store_true", help="skip the comparison with the Keras model")
    export.add_argument("--keep-failed", action="store_true",
                        help="write the requested mode even when it fails verification (default: fall back to the "
                        "next mode that passes: int8 -> dynamic -> float16 -> float32)")
    _add_tolerances(export)
    export.set_defaults(func=run_export)

    verify = subparsers.add_parser(
        "verify",
        help="compare a bundle with the Keras model it came from",
        description="Run the bundle (LiteRT) and the run's Keras model on the validation and test splits (or on "
        "DATA_DIR's class folders) and compare decisions, scores, PR-AUC, F1 and per-class recall. Exits 1 when "
        "outside tolerance. Writes verification.json and updates manifest.json.",
    )
    verify.add_argument("bundle_dir", type=Path, metavar="BUNDLE_DIR")
    verify.add_argument("source", type=Path, nargs="?", metavar="RUN_DIR|DATA_DIR",
                        help="the run folder (default: the manifest's source_run) or a folder of class folders")
    _add_tolerances(verify)
    verify.add_argument("--json", action="store_true", help="print the full report as JSON")
    verify.set_defaults(func=run_verify)

    bench = subparsers.add_parser(
        "bench",
        help="measure a bundle's latency and memory (optionally against Keras)",
        description="Single-frame latency percentiles after warm-up, model size and peak memory.",
    )
    bench.add_argument("bundle_dir", type=Path, metavar="BUNDLE_DIR")
    bench.add_argument("--threads", type=int, default=None, metavar="N", help="interpreter threads")
    bench.add_argument("--runs", type=int, default=200, metavar="N", help="timed runs (default 200)")
    bench.add_argument("--compare", type=Path, metavar="RUN_DIR",
                       help="also time the run's Keras model: predict() and a direct call, one frame")
    bench.add_argument("--json", action="store_true", help="print the result as JSON")
    bench.set_defaults(func=run_bench)


def _add_tolerances(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--min-agreement", type=float, default=0.98, metavar="R",
                        help="smallest acceptable share of identical decisions (default 0.98)")
    parser.add_argument("--max-f1-drop", type=float, default=0.02, metavar="D", help="default 0.02")
    parser.add_argument("--borderline", type=float, default=0.01, metavar="M",
                        help="decisions whose Keras score is within M of the threshold are not held against the bundle (default 0.01)")
    parser.add_argument("--max-recall-drop", type=float, default=0.02, metavar="D",
                        help="largest acceptable recall drop of any class (default 0.02)")


def _tolerances(args):
    from export.verify import Tolerances

    if not 0.0 <= args.min_agreement <= 1.0:
        raise UserError(f"--min-agreement must be between 0 and 1, got {args.min_agreement}")
    if args.max_f1_drop < 0 or args.max_recall_drop < 0:
        raise UserError("--max-f1-drop and --max-recall-drop must not be negative")
    return Tolerances(args.min_agreement, args.max_f1_drop, args.max_recall_drop, args.borderline)


# ---------------------------------------------------------------- export


def _check_model(run, model) -> None:
    size = run.preprocessing.image_size
    shape = tuple(model.inputs[0].shape)
    dtype = str(getattr(model.inputs[0], "dtype", "uint8"))
    if shape[1:] != (size, size, 3) or "uint8" not in dtype:
        raise UserError(
            f"{run.model_path}: the model takes {dtype} {shape}, but the run's preprocessing says uint8 "
            f"(None, {size}, {size}, 3); export needs the inference model that `seefood train` saves"
        )
    outputs = int(model.outputs[0].shape[-1])
    if outputs != len(run.labels):
        raise UserError(f"{run.model_path}: {outputs} model outputs but run.json lists {len(run.labels)} labels")


def run_export(args) -> int:
    try:
        return _run_export(args)
    except OSError as error:
        raise UserError(f"{write_failure(error, args.out)}. Nothing was changed in {args.out}") from error


def _run_export(args) -> int:
    from export import bundle_writer, convert, metadata, verify
    from export.run_reader import load_fitted, load_run

    modes = list(convert.MODES) if args.quantize == "all" else [args.quantize]
    tolerances = _tolerances(args)
    if args.representative_size < 1:
        raise UserError(f"--representative-size must be at least 1, got {args.representative_size}")
    run = load_run(args.run_dir)
    bundle_writer.check_bundle_target(args.out, run, args.force)
    for app_dir in (args.android_assets, args.ios_resources):
        if app_dir is not None:
            for name in (bundle_writer.MODEL_FILE, bundle_writer.LABELS_FILE):
                bundle_writer.refuse_existing(app_dir / name, args.force, what="file")
    model = run.load_model()
    _check_model(run, model)
    representative = None
    if "int8" in modes:
        sample = convert.stratified_sample(run.splits.get("train", []), args.representative_size)
        if not sample:
            raise UserError(f"{run.run_dir}: int8 needs training photos for calibration and splits.json has none")
        size = run.preprocessing.image_size
        representative = convert.representative_dataset(sample, lambda path: load_fitted(path, size))
    from seefood import __version__

    reports, keras_cache = [], {}

    def export_mode(folder: Path, mode: str) -> dict | None:
        """Convert, write and verify one mode into ``folder``; the verification report (None with --no-verify)."""
        print(f"converting {mode} ...", file=sys.stderr)
        attempts = _granularities(mode, args.int8_granularity, verifying=not args.no_verify)
        report, tried = None, []
        for attempt, granularity in enumerate(attempts, start=1):
            if granularity is not None:
                print(f"  int8 weights {granularity} ...", file=sys.stderr)
            try:
                tflite = convert.convert(model, mode, representative, granularity or "per-channel")
            except Exception as error:  # the TFLite converter raises its own ConverterError, RuntimeError...
                detail = " ".join(str(error).split())[:300]
                if attempt < len(attempts):  # auto: per-tensor could not even be converted; per-channel next
                    tried.append(f"{granularity}: conversion failed ({type(error).__name__}: {detail[:120]})")
                    print(f"  {tried[-1]}; trying {attempts[attempt]} ...", file=sys.stderr)
                    continue
                other = "float16 or dynamic" if mode == "int8" else "float32"
                raise UserError(f"{run.model_path}: converting to {mode} failed ({type(error).__name__}: {detail}); "
                                f"export --quantize {other} instead") from error
            info = metadata.ModelInfo(
                name=bundle_writer.bundle_name(run, mode),
                description=_description(run),
                version=f"seefood {__version__}, run {run.run_id}, {mode}",
                labels=list(run.labels),
            )
            tflite = metadata.add_classifier_metadata(tflite, info)
            bundle_writer.write_bundle_files(folder, run, mode, tflite, granularity)
            if args.no_verify:
                return None
            print(f"verifying {mode} ...", file=sys.stderr)
            report = verify.verify_bundle(folder, run.run_dir, tolerances, keras_model=model, cache=keras_cache)
            tried.append(f"{granularity}: {'; '.join(report['failures']) or 'passed'}")
            if report["passed"]:
                break
        if len(tried) > 1:
            report["granularity_note"] = "tried " + " | ".join(tried)
        elif attempts == ["per-tensor"] and not report["passed"]:
            report["granularity_note"] = ("per-tensor failed verification; --int8-granularity per-channel "
                                          "(or auto) keeps a scale per channel and may pass")
        return report

    with bundle_writer.staging(args.out, run, args.force) as tmp:
        for mode in modes:
            folder = tmp if len(modes) == 1 else tmp / mode
            report = export_mode(folder, mode)
            requested, failed = mode, []
            # One bundle asked for: a failed quantization is not shipped silently; the next mode that passes is.
            while report is not None and not report["passed"] and len(modes) == 1 and not args.keep_failed \
                    and mode in FALLBACK:
                failed.append(f"{mode} ({'; '.join(report['failures'])})")
                mode = FALLBACK[mode]
                print(f"{failed[-1].split(' ')[0]} failed verification; trying {mode} ...", file=sys.stderr)
                for stale in folder.iterdir():
                    stale.unlink()
                report = export_mode(folder, mode)
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
    _print_reports(reports, args.out)
    passed = all(r["passed"] for r in reports)
    chosen = _bundle_for_apps(args.out, modes, reports)
    for app_dir in (args.android_assets, args.ios_resources):
        if app_dir is None:
            continue
        if not passed and reports:
            print(f"not copying to {app_dir}: verification failed", file=sys.stderr)
            continue
        for path in bundle_writer.copy_for_app(chosen, app_dir, args.force):
            print(f"copied {path}")
    print(f"bundle written to {args.out}")
    return 0 if passed else 1


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
    from export.verify import markdown_table, write_json_atomic

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


def _print_reports(reports: list[dict], out: Path) -> None:
    if not reports:
        return
    from export.verify import format_report, markdown_table

    if len(reports) == 1:
        print(format_report(reports[0]))
    else:
        print(markdown_table(reports))
        print(f"(also in {out / (COMPARISON_NAME + '.md')})")
        for r in reports:
            if r.get("granularity_note"):
                print(f"{r['quantization']} weights: {r['granularity_note']}")
            for failure in r["failures"]:
                print(f"{r['quantization']}: outside tolerance: {failure}")


# ---------------------------------------------------------------- verify


def run_verify(args) -> int:
    from export import verify

    report = verify.verify_bundle(args.bundle_dir, args.source, _tolerances(args))
    if args.json:  # the report is shown before anything is written, so a read-only bundle loses nothing
        print(json.dumps(report, indent=2))
    else:
        print(verify.format_report(report))
    from export.bundle_writer import write_readme

    try:
        verify.record(args.bundle_dir, report)
        write_readme(Path(args.bundle_dir))
    except OSError as error:
        raise UserError(f"{write_failure(error, args.bundle_dir)}; the report above was not saved into the bundle "
                        "(copy the bundle to a writable folder to record it)") from error
    return 0 if report["passed"] else 1


# ---------------------------------------------------------------- bench


def run_bench(args) -> int:
    from export.bench import bench_bundle, bench_keras, format_bench

    if args.runs < 1:
        raise UserError(f"--runs must be at least 1, got {args.runs}")
    if args.threads is not None and args.threads < 1:
        raise UserError(f"--threads must be at least 1, got {args.threads}")
    result = bench_bundle(args.bundle_dir, threads=args.threads, runs=args.runs, warmup=max(5, args.runs // 10))
    if args.compare is not None:
        from export.run_reader import load_run

        run = load_run(args.compare)
        result["keras"] = bench_keras(run.load_model(), run.preprocessing.image_size,
                                      runs=max(10, args.runs // 4), warmup=5)
    print(json.dumps(result, indent=2) if args.json else format_bench(result))
    return 0
