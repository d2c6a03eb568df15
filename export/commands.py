"""``seefood export``, ``seefood verify`` and ``seefood bench``.

Light on purpose: registering these subcommands imports no TensorFlow; each handler imports the
heavy modules when it runs (``bench`` without ``--compare`` never imports TensorFlow at all).
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from export.exporter import COMPARISON_NAME, GRANULARITY_CHOICES, QUANTIZE_CHOICES, ExportOptions, export_run
from export.verify import Tolerances
from seefood.errors import InputError, write_failure
from seefood.quiet import import_tensorflow


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
    export.add_argument("--int8-granularity", choices=GRANULARITY_CHOICES, default="auto",
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


def _tolerances(args) -> Tolerances:
    return Tolerances(args.min_agreement, args.max_f1_drop, args.max_recall_drop, args.borderline)


# ---------------------------------------------------------------- export


def run_export(args) -> int:
    opts = ExportOptions(
        run_dir=args.run_dir, out=args.out, quantize=args.quantize, representative_size=args.representative_size,
        int8_granularity=args.int8_granularity, force=args.force, android_assets=args.android_assets,
        ios_resources=args.ios_resources, no_verify=args.no_verify, keep_failed=args.keep_failed,
        tolerances=_tolerances(args),
    )
    import_tensorflow()
    result = export_run(opts)
    _print_reports(result.reports, args.out)
    for path in result.copied:
        print(f"copied {path}")
    from seefood.versions import current_version, is_versioned

    if is_versioned(args.out):
        print(f"bundle written to {args.out} as its version {current_version(args.out)}, now current "
              f"(`seefood bundle list {args.out}`; `seefood bundle use` rolls back)")
    else:
        print(f"bundle written to {args.out}")
    return 0 if result.passed else 1


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

    tolerances = _tolerances(args)
    import_tensorflow()
    report = verify.verify_bundle(args.bundle_dir, args.source, tolerances)
    if args.json:  # the report is shown before anything is written, so a read-only bundle loses nothing
        print(json.dumps(report, indent=2))
    else:
        print(verify.format_report(report))
    from export.bundle_writer import write_readme

    try:
        verify.record(args.bundle_dir, report)
        write_readme(Path(args.bundle_dir))
    except OSError as error:
        raise InputError(f"{write_failure(error, args.bundle_dir)}; the report above was not saved into the bundle "
                        "(copy the bundle to a writable folder to record it)") from error
    return 0 if report["passed"] else 1


# ---------------------------------------------------------------- bench


def run_bench(args) -> int:
    from export.bench import bench_bundle, bench_keras, format_bench

    if args.runs < 1:
        raise InputError(f"--runs must be at least 1, got {args.runs}")
    if args.threads is not None and args.threads < 1:
        raise InputError(f"--threads must be at least 1, got {args.threads}")
    result = bench_bundle(args.bundle_dir, threads=args.threads, runs=args.runs, warmup=max(5, args.runs // 10))
    if args.compare is not None:
        from training.run_io import load_run

        run = load_run(args.compare)
        import_tensorflow()
        result["keras"] = bench_keras(run.load_model(), run.preprocessing.image_size,
                                      runs=max(10, args.runs // 4), warmup=5)
    print(json.dumps(result, indent=2) if args.json else format_bench(result))
    return 0
