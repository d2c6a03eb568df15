"""seefood export: every quantization mode, metadata that MediaPipe reads, --force and atomic writes."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from seefood.bundle import Classifier, load_manifest, sha256_of
from seefood.cli import main
from seefood.images import load_rgb
from seefood.preprocessing import fit_to_input
from tests.export_fixtures import IMAGE_SIZE, cached_bundle, cached_run

ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="module")
def all_modes(tmp_path_factory) -> Path:
    """`export --quantize all` of the binary run (one conversion per mode, verified)."""
    run_dir = cached_run(tmp_path_factory, "binary")
    out = tmp_path_factory.mktemp("all") / "bundles"
    code = main(["export", str(run_dir), "--out", str(out), "--quantize", "all", "--representative-size", "16"])
    assert code == 0
    return out


def _test_photos(run_dir: Path) -> list[dict]:
    return json.loads((run_dir / "splits.json").read_text())["test"]


def _model_tensor_types(model_path: Path) -> set[int]:
    from mediapipe.tasks.metadata import schema_py_generated as schema

    model = schema.Model.GetRootAsModel(model_path.read_bytes(), 0)
    graph = model.Subgraphs(0)
    return {graph.Tensors(i).Type() for i in range(graph.TensorsLength())}


@pytest.mark.parametrize("mode", ["float32", "float16", "dynamic", "int8"])
def test_every_mode_converts_runs_and_classifies(all_modes, tmp_path_factory, mode):
    bundle = all_modes / mode
    manifest = load_manifest(bundle)
    assert manifest.quantization == mode
    assert manifest.raw["verification"]["passed"] is True
    classifier = Classifier(bundle)
    run_dir = cached_run(tmp_path_factory, "binary")
    for item in _test_photos(run_dir):
        prediction = classifier.classify(load_rgb(item["path"]))  # non-square photos: the runtime crops
        assert prediction.label == ["salad", "pizza"][item["target"]]
        assert abs(sum(prediction.scores.values()) - 1.0) < 1e-5


def test_quantized_models_are_what_their_mode_says(all_modes):
    from mediapipe.tasks.metadata.schema_py_generated import TensorType

    types = {mode: _model_tensor_types(all_modes / mode / "model.tflite") for mode in ("float32", "float16", "int8")}
    assert TensorType.INT8 not in types["float32"] and TensorType.FLOAT16 not in types["float32"]
    assert TensorType.FLOAT16 in types["float16"]
    assert TensorType.INT8 in types["int8"]  # weights and activations are integer


def test_int8_takes_raw_uint8_pixels(all_modes):
    classifier = Classifier(all_modes / "int8")
    details = classifier.interpreter.get_input_details()[0]
    assert details["dtype"] == np.uint8
    assert tuple(details["shape"]) == (1, IMAGE_SIZE, IMAGE_SIZE, 3)
    scale, zero = details["quantization"]
    assert (scale, zero) in ((0.0, 0), (1.0, 0))  # raw pixels, not rescaled by calibration


def test_comparison_table_lists_every_mode(all_modes):
    table = (all_modes / "comparison.md").read_text()
    rows = json.loads((all_modes / "comparison.json").read_text())["bundles"]
    assert [r["quantization"] for r in rows] == ["float32", "float16", "dynamic", "int8"]
    for mode in ("float32", "float16", "dynamic"):
        assert f"| {mode} |" in table
    assert "| int8 (per-tensor) |" in table  # auto kept the smaller model: it passed verification
    assert {r["quantization"]: r["granularity"] for r in rows} == {
        "float32": None, "float16": None, "dynamic": None, "int8": "per-tensor"}
    sizes = {r["quantization"]: r["model_bytes"] for r in rows}
    assert sizes["int8"] == (all_modes / "int8" / "model.tflite").stat().st_size


def _weight_scale_counts(model_path: Path) -> list[int]:
    """Number of quantization scales of each int8 tensor that holds constant data (weights)."""
    from mediapipe.tasks.metadata.schema_py_generated import TensorType
    from mediapipe.tasks.metadata import schema_py_generated as schema

    model = schema.Model.GetRootAsModel(model_path.read_bytes(), 0)
    graph = model.Subgraphs(0)
    counts = []
    for i in range(graph.TensorsLength()):
        tensor = graph.Tensors(i)
        if tensor.Type() == TensorType.INT8 and model.Buffers(tensor.Buffer()).DataLength() > 0:
            counts.append(tensor.Quantization().ScaleLength())
    return counts


def test_int8_granularity_per_tensor_is_one_scale_per_weight_tensor_and_smaller(tmp_path_factory, tmp_path):
    run_dir = cached_run(tmp_path_factory, "binary")
    sizes = {}
    for granularity in ("per-channel", "per-tensor"):
        out = tmp_path / granularity
        args = ["export", str(run_dir), "--out", str(out), "--quantize", "int8", "--representative-size", "16",
                "--int8-granularity", granularity, "--no-verify"]
        assert main(args) == 0
        assert load_manifest(out).raw["quantization_granularity"] == granularity
        counts = _weight_scale_counts(out / "model.tflite")
        assert counts, "no int8 weights found"
        if granularity == "per-tensor":
            assert max(counts) == 1
        else:
            assert max(counts) > 1  # a scale per output channel of the convolutions
        sizes[granularity] = (out / "model.tflite").stat().st_size
    assert sizes["per-tensor"] < sizes["per-channel"]


def fail_verification(monkeypatch, key: str, value: str, failure: str) -> None:
    """Make verification fail for the bundles whose report has ``report[key] == value``."""
    import export.verify as verify

    real = verify.verify_bundle

    def strict(folder, *args, **kwargs):
        report = real(folder, *args, **kwargs)
        if report[key] == value:
            report["failures"] = [failure]
            report["passed"] = False
        return report

    monkeypatch.setattr(verify, "verify_bundle", strict)


def test_auto_granularity_falls_back_to_per_channel_when_per_tensor_fails(tmp_path_factory, tmp_path, monkeypatch, capsys):
    # pretend per-tensor lost too much recall
    fail_verification(monkeypatch, "granularity", "per-tensor", "salad recall dropped by 0.100 (tolerance 0.02)")
    run_dir = cached_run(tmp_path_factory, "binary")
    out = tmp_path / "bundle"
    assert main(["export", str(run_dir), "--out", str(out), "--quantize", "int8", "--representative-size", "16"]) == 0
    manifest = load_manifest(out).raw
    assert manifest["quantization_granularity"] == "per-channel"
    assert manifest["verification"]["passed"] is True
    assert "per-tensor: salad recall dropped" in manifest["verification"]["granularity_note"]
    assert "int8 (per-channel)" in capsys.readouterr().out
    assert max(_weight_scale_counts(out / "model.tflite")) > 1
    monkeypatch.undo()
    assert main(["verify", str(out)]) == 0  # verifying again keeps the record of how int8 was chosen
    assert "per-tensor: salad recall dropped" in load_manifest(out).raw["verification"]["granularity_note"]


def test_auto_granularity_falls_back_when_per_tensor_cannot_even_be_converted(tmp_path_factory, tmp_path,
                                                                             monkeypatch, capsys):
    import export.convert as convert

    real = convert.convert

    def no_per_tensor(model, mode, representative=None, granularity="per-channel"):
        if granularity == "per-tensor":
            raise convert.ConversionError("this TensorFlow has no per-tensor int8 switch")
        return real(model, mode, representative, granularity)

    monkeypatch.setattr(convert, "convert", no_per_tensor)
    run_dir = cached_run(tmp_path_factory, "binary")
    out = tmp_path / "bundle"
    assert main(["export", str(run_dir), "--out", str(out), "--quantize", "int8", "--representative-size", "16"]) == 0
    manifest = load_manifest(out).raw
    assert manifest["quantization_granularity"] == "per-channel" and manifest["verification"]["passed"] is True
    note = manifest["verification"]["granularity_note"]
    assert "per-tensor: conversion failed (ConversionError" in note and "per-channel: passed" in note
    assert "trying per-channel" in capsys.readouterr().err
    # asked for explicitly, per-tensor that cannot be converted is still an error naming the way out
    assert main(["export", str(run_dir), "--out", str(tmp_path / "b2"), "--quantize", "int8",
                 "--int8-granularity", "per-tensor", "--representative-size", "16"]) == 2
    assert "export --quantize float16 or dynamic instead" in capsys.readouterr().err


def test_metadata_describes_labels_and_raw_rgb_input(tmp_path_factory):
    from export.metadata import read_associated_files, read_metadata
    from mediapipe.tasks.metadata import metadata_schema_py_generated as meta

    bundle = cached_bundle(tmp_path_factory, "multiclass", "float32")
    model_bytes = (bundle / "model.tflite").read_bytes()
    info = read_metadata(model_bytes)
    assert info is not None and info.name.decode() == load_manifest(bundle).name
    image = info.subgraphMetadata[0].inputTensorMetadata[0]
    assert image.content.contentProperties.colorSpace == meta.ColorSpaceType.RGB
    norm = image.processUnits[0].options
    assert list(norm.mean) == [0.0, 0.0, 0.0] and list(norm.std) == [1.0, 1.0, 1.0]
    labels_file = info.subgraphMetadata[0].outputTensorMetadata[0].associatedFiles[0]
    assert labels_file.type == meta.AssociatedFileType.TENSOR_AXIS_LABELS
    packed = read_associated_files(model_bytes)
    assert packed[labels_file.name.decode()] == (bundle / "labels.txt").read_bytes()


@pytest.mark.parametrize("task,mode", [("multiclass", "float32"), ("binary", "int8")])
def test_mediapipe_image_classifier_returns_our_labels_and_scores(tmp_path_factory, all_modes, task, mode):
    import mediapipe as mp
    from mediapipe.tasks.python import vision
    from mediapipe.tasks.python.core.base_options import BaseOptions

    bundle = all_modes / mode if task == "binary" else cached_bundle(tmp_path_factory, task, mode)
    ours = Classifier(bundle)
    options = vision.ImageClassifierOptions(
        base_options=BaseOptions(model_asset_path=str(bundle / "model.tflite")), max_results=10
    )
    seen = set()
    with vision.ImageClassifier.create_from_options(options) as theirs:
        for item in _test_photos(cached_run(tmp_path_factory, task)):
            fitted = fit_to_input(load_rgb(item["path"]), IMAGE_SIZE)
            image = mp.Image(image_format=mp.ImageFormat.SRGB, data=np.ascontiguousarray(fitted))
            categories = theirs.classify(image).classifications[0].categories
            got = {c.category_name: c.score for c in categories}
            expected = dict(zip(ours.manifest.labels, ours.raw_output(fitted).tolist()))
            assert set(got) == set(expected)  # names come from the metadata's labels file
            for name, score in expected.items():
                assert got[name] == pytest.approx(score, abs=1e-4)
            seen.add(max(got, key=got.get))
    assert len(seen) == len(ours.manifest.labels) or task == "binary"


def test_existing_bundle_is_kept_without_force_and_replaced_with_force(tmp_path_factory, tmp_path):
    run_dir = cached_run(tmp_path_factory, "binary")
    out = tmp_path / "bundle"
    args = ["export", str(run_dir), "--out", str(out), "--no-verify"]
    assert main(args) == 0
    assert load_manifest(out).raw["verification"] is None
    first = load_manifest(out).raw["created"], (out / "model.tflite").read_bytes()
    assert main(args) == 2  # refused: nothing touched
    (out / "note.txt").write_text("mine")
    assert main(args + ["--force"]) == 2  # a file SeeFood did not write: never deleted, even with --force
    assert (out / "note.txt").read_text() == "mine" and (out / "model.tflite").read_bytes() == first[1]
    (out / "note.txt").unlink()
    assert main(args + ["--force"]) == 0  # its own bundle: replaced as a whole
    load_manifest(out)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["bundle"]  # no temp or backup folders left


def test_failure_mid_export_leaves_no_half_bundle(tmp_path_factory, tmp_path, monkeypatch):
    import export.bundle_writer as writer

    run_dir = cached_run(tmp_path_factory, "binary")
    out = tmp_path / "bundle"

    def crash(folder):
        assert (folder / "model.tflite").is_file()  # the failure happens with files half written
        raise RuntimeError("disk full")

    monkeypatch.setattr(writer, "write_readme", crash)
    with pytest.raises(RuntimeError, match="disk full"):
        main(["export", str(run_dir), "--out", str(out), "--no-verify"])
    assert list(tmp_path.iterdir()) == []  # no bundle, no temp folder

    monkeypatch.undo()
    assert main(["export", str(run_dir), "--out", str(out), "--no-verify"]) == 0
    before = sha256_of(out / "manifest.json")
    monkeypatch.setattr(writer, "write_readme", crash)
    with pytest.raises(RuntimeError):
        main(["export", str(run_dir), "--out", str(out), "--no-verify", "--force"])
    assert sha256_of(out / "manifest.json") == before  # the old bundle survives a failed --force
    assert sorted(p.name for p in tmp_path.iterdir()) == ["bundle"]


def test_copies_model_and_labels_into_app_folders(tmp_path_factory, tmp_path):
    run_dir = cached_run(tmp_path_factory, "binary")
    android, ios = tmp_path / "app" / "src" / "main" / "assets", tmp_path / "ios" / "Resources"
    args = ["export", str(run_dir), "--out", str(tmp_path / "b"), "--no-verify",
            "--android-assets", str(android), "--ios-resources", str(ios)]
    assert main(args) == 0
    for folder in (android, ios):
        assert (folder / "model.tflite").read_bytes() == (tmp_path / "b" / "model.tflite").read_bytes()
        assert (folder / "labels.txt").read_text() == "pizza\n"
    (android / "model.tflite").write_bytes(b"app's own model")
    args[3] = str(tmp_path / "b2")
    assert main(args) == 2  # an app file is never overwritten without --force
    assert (android / "model.tflite").read_bytes() == b"app's own model"
    assert not (tmp_path / "b2").exists()  # refused before converting anything


def test_stratified_sample_takes_every_class():
    from export.convert import stratified_sample

    items = [(f"a{i}", 0) for i in range(50)] + [(f"b{i}", 1) for i in range(3)] + [(f"c{i}", 2) for i in range(10)]
    sample = stratified_sample(items, 9)
    assert sorted(t for _, t in sample) == [0, 0, 0, 1, 1, 1, 2, 2, 2]
    assert len(stratified_sample(items, 1000)) == len(items)


def test_command_modules_do_not_import_tensorflow():
    code = (
        "import argparse, sys; import export.commands, seefood.bundle; "
        "export.commands.register(argparse.ArgumentParser().add_subparsers()); "
        "print(sorted(m for m in ('tensorflow', 'keras') if m in sys.modules))"
    )
    env = dict(os.environ, PYTHONPATH=str(ROOT))
    out = subprocess.run([sys.executable, "-c", code], cwd=ROOT, env=env, capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"


def test_export_names_a_missing_run(tmp_path, capsys):
    assert main(["export", str(tmp_path / "nope"), "--out", str(tmp_path / "b")]) == 2
    assert "nope" in capsys.readouterr().err


def test_int8_that_fails_verification_is_not_shipped_silently(tmp_path_factory, tmp_path, monkeypatch, capsys):
    """int8 failing at both granularities: export writes the next mode that passes (dynamic) and says
    why everywhere a person or a phone looks; --keep-failed writes the failed int8 and exits 1."""
    fail_verification(monkeypatch, "quantization", "int8", "agreement 96.25% < 98.00%")
    run_dir = cached_run(tmp_path_factory, "binary")
    out = tmp_path / "bundle"
    assert main(["export", str(run_dir), "--out", str(out), "--quantize", "int8", "--representative-size", "16"]) == 0
    manifest = load_manifest(out).raw
    assert manifest["quantization"] == "dynamic" and manifest["verification"]["passed"] is True
    fallback = manifest["verification"]["fallback"]
    assert fallback["requested"] == "int8" and fallback["written"] == "dynamic" and "96.25%" in fallback["reason"]
    assert "FALLBACK: int8 was asked for but failed verification" in capsys.readouterr().out
    assert "int8 was asked for but failed verification" in (out / "README.md").read_text()

    kept = tmp_path / "kept"
    assert main(["export", str(run_dir), "--out", str(kept), "--quantize", "int8", "--representative-size", "16",
                 "--keep-failed"]) == 1
    manifest = load_manifest(kept).raw
    assert manifest["quantization"] == "int8" and manifest["verification"]["passed"] is False
    assert "FAILED verification" in (kept / "README.md").read_text()
