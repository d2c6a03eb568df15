"""seefood verify and seefood bench: agreement with the Keras model, tolerances, the recorded results."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pytest

from seefood.bundle import load_manifest
from seefood.cli import main
from tests.export_fixtures import cached_bundle, cached_run, copy_bundle


@pytest.fixture
def bundle(tmp_path_factory, tmp_path) -> Path:
    return copy_bundle(cached_bundle(tmp_path_factory, "binary", "float32"), tmp_path / "bundle")


@pytest.fixture(scope="module")
def broken_bundle(tmp_path_factory) -> Path:
    """A bundle converted from a damaged copy of the run's model: it disagrees with the real model."""
    import keras

    run_dir = cached_run(tmp_path_factory, "binary")
    broken_run = tmp_path_factory.mktemp("broken") / "run"
    shutil.copytree(run_dir, broken_run)
    model = keras.saving.load_model(broken_run / "model.keras", compile=False)
    dense = model.get_layer("score")
    kernel, bias = dense.get_weights()
    dense.set_weights([-kernel, -bias])  # swaps the classes
    model.save(broken_run / "model.keras")
    out = tmp_path_factory.mktemp("broken-bundle") / "bundle"
    assert main(["export", str(broken_run), "--out", str(out), "--no-verify"]) == 0
    return out


def test_verify_passes_and_records_results(bundle, tmp_path_factory, capsys):
    run_dir = cached_run(tmp_path_factory, "binary")
    before = load_manifest(bundle).model_sha256
    assert main(["verify", str(bundle), str(run_dir), "--json"]) == 0
    report = json.loads(capsys.readouterr().out)
    assert report["passed"] and report["agreement"] == 1.0
    assert set(report["splits"]) == {"val", "test"}
    assert report["n"] == 24
    assert report["max_score_diff"] < 1e-4
    assert report["threshold"]["manifest"] == 0.5
    assert 0.0 < report["threshold"]["retuned_tflite"]["threshold"] < 1.0  # re-tuned on val with TFLite scores
    assert report["latency_ms"]["p50"] <= report["latency_ms"]["p95"]
    saved = json.loads((bundle / "verification.json").read_text())
    assert saved["agreement"] == report["agreement"]
    manifest = load_manifest(bundle)  # still valid: sha256 checked again
    assert manifest.model_sha256 == before
    assert manifest.raw["verification"]["passed"] is True
    assert manifest.raw["verification"]["retuned_threshold_tflite"] == report["threshold"]["retuned_tflite"]["threshold"]
    assert "100.00% same decisions" in (bundle / "README.md").read_text()


def test_verify_fails_a_model_that_disagrees(broken_bundle, tmp_path_factory, capsys):
    run_dir = cached_run(tmp_path_factory, "binary")
    assert main(["verify", str(broken_bundle), str(run_dir)]) == 1
    out = capsys.readouterr().out
    assert "FAIL" in out and "agreement" in out
    verification = load_manifest(broken_bundle).raw["verification"]
    assert verification["passed"] is False
    assert verification["agreement"] < 0.5
    assert any("recall" in f for f in verification["failures"])


def test_tolerances_are_configurable(broken_bundle, tmp_path_factory):
    run_dir = cached_run(tmp_path_factory, "binary")
    loose = ["--min-agreement", "0", "--max-f1-drop", "1", "--max-recall-drop", "1"]
    assert main(["verify", str(broken_bundle), str(run_dir), *loose]) == 0
    assert main(["verify", str(broken_bundle), str(run_dir), "--min-agreement", "2"]) == 2  # a usage error


def test_verify_on_a_folder_of_photos_uses_the_recorded_run(bundle, tmp_path_factory, capsys):
    run_dir = cached_run(tmp_path_factory, "binary")
    data_dir = Path(json.loads((run_dir / "run.json").read_text())["data_dir"])
    assert main(["verify", str(bundle), str(data_dir / "test"), "--json"]) == 0  # DATA_DIR/<class>/*
    report = json.loads(capsys.readouterr().out)
    assert set(report["splits"]) == {"data"} and report["n"] == 12
    assert main(["verify", str(bundle), "--json"]) == 0  # no source: the manifest's source_run
    assert json.loads(capsys.readouterr().out)["n"] == 24


def test_verify_refuses_a_run_of_another_task(bundle, tmp_path_factory, capsys):
    assert main(["verify", str(bundle), str(cached_run(tmp_path_factory, "multiclass"))]) == 2
    assert "does not come from run" in capsys.readouterr().err


def test_multiclass_export_is_verified(tmp_path_factory):
    manifest = load_manifest(cached_bundle(tmp_path_factory, "multiclass", "float32"))
    verification = manifest.raw["verification"]
    assert verification["passed"] and verification["n"] == 36
    assert manifest.classes == ["salad", "pizza", "sushi"] and manifest.positive_class is None


def test_metrics():
    from export.verify import class_scores, split_metrics
    from seefood.scoring import average_precision, decide_indices

    y = np.array([1, 0, 1, 0])
    s = np.array([0.9, 0.8, 0.7, 0.1])
    assert average_precision(y == 1, s) == pytest.approx(0.5 * 1.0 + 0.5 * (2 / 3))
    assert average_precision(np.zeros(4, bool), s) is None
    scores = class_scores("binary", s[:, None])
    assert np.allclose(scores.sum(axis=1), 1.0)
    assert decide_indices("binary", scores, 0.75).tolist() == [1, 1, 0, 0]
    metrics = split_metrics("binary", scores, y, 0.75, ["neg", "pos"])
    assert metrics["f1"] == pytest.approx(0.5) and metrics["recall"] == {"neg": 0.5, "pos": 0.5}
    multi = np.array([[0.4, 0.35, 0.25], [0.1, 0.8, 0.1]])
    assert decide_indices("multiclass", multi, 0.5).tolist() == [-1, 1]  # below threshold: unknown
    # "unknown" is a miss for its class; a class with no photo has no recall
    metrics = split_metrics("multiclass", multi, np.array([0, 1]), 0.5, ["a", "b", "c"])
    assert metrics["recall"] == {"a": 0.0, "b": 1.0, "c": None}
    assert metrics["f1"] == pytest.approx((0 + 1 + 0) / 3)


def test_bench_reports_latency_size_and_memory(bundle, tmp_path_factory, capsys):
    assert main(["bench", str(bundle), "--runs", "30", "--threads", "1", "--json"]) == 0
    result = json.loads(capsys.readouterr().out)
    model = result["model"]
    assert 0 < model["p50_ms"] <= model["p95_ms"] <= model["p99_ms"] and model["runs"] == 30
    assert result["model_bytes"] == (bundle / "model.tflite").stat().st_size
    assert result["peak_rss_mb"] > 10
    run_dir = cached_run(tmp_path_factory, "binary")
    assert main(["bench", str(bundle), "--runs", "20", "--compare", str(run_dir)]) == 0
    out = capsys.readouterr().out
    assert "keras predict" in out and "keras model(x)" in out and "latency (p50)" in out


def test_borderline_flips_are_counted_apart_and_one_decision_is_the_resolution():
    import numpy as np

    from export.verify import Tolerances, check, class_scores, compare_split

    keras = class_scores("binary", np.array([0.7465, 0.7475, 0.95, 0.05]))
    tflite = class_scores("binary", np.array([0.7475, 0.7465, 0.95, 0.05]))  # the first two cross 0.747
    targets = np.array([1, 0, 1, 0])
    strict = compare_split("binary", keras, tflite, targets, 0.747, ["neg", "pos"], margin=0.0)
    lenient = compare_split("binary", keras, tflite, targets, 0.747, ["neg", "pos"], margin=0.01)
    assert strict["agreement"] == 0.5 and lenient["agreement"] == 1.0 and lenient["borderline"] == 2
    # a real flip far from the threshold is still caught
    broken = class_scores("binary", np.array([0.7465, 0.7475, 0.05, 0.95]))
    far = compare_split("binary", keras, broken, targets, 0.747, ["neg", "pos"], margin=0.01)
    assert far["agreement"] == 0.5
    report = {"agreement": far["agreement"], "splits": {"val": far}}
    failures = check(report, Tolerances())
    assert any(f.startswith("agreement") for f in failures)
    assert not any("recall" in f for f in failures)  # 1 of 2 positives = the resolution of this split


def test_a_pass_on_few_photos_says_how_coarse_it_was():
    import numpy as np

    from export.verify import Tolerances, check, class_scores, compare_split, resolution_notes

    # 6 positives, 30 negatives: one positive lost by the bundle is a drop the split cannot resolve
    keras = np.array([0.9] * 6 + [0.1] * 30)
    tflite = keras.copy()
    tflite[0] = 0.2
    targets = np.array([1] * 6 + [0] * 30)
    result = compare_split("binary", class_scores("binary", keras), class_scores("binary", tflite), targets, 0.5,
                           ["neg", "pos"], margin=0.01)
    assert -result["deltas"]["f1"] > 0.05  # far above the 0.02 tolerance...
    report = {"agreement": 1.0, "splits": {"test": result}, "tolerances": {"max_f1_drop": 0.02, "borderline": 0.01}}
    assert check(report, Tolerances()) == []  # ...and still a pass: one decision of 6 photos
    notes = resolution_notes(report)
    assert len(notes) == 1 and "only 6 photos of 'pos'" in notes[0] and "up to 0.167" in notes[0]
    many = np.array([0.9] * 60 + [0.1] * 60)
    fine = compare_split("binary", class_scores("binary", many), class_scores("binary", many),
                         np.array([1] * 60 + [0] * 60), 0.5, ["neg", "pos"], margin=0.01)
    assert resolution_notes({**report, "splits": {"test": fine}}) == []  # 1/60 is inside the 0.02 tolerance


def test_phone_photos_score_the_same_decoded_at_the_dct_scale_as_in_full(tmp_path_factory, tmp_path):
    """The model sees what load_fitted gives it; DCT-scaled decoding must not change its answers."""
    from seefood.images import load_fitted, load_rgb
    from seefood.preprocessing import fit_to_input
    from tests.test_images import phone_photo
    from training.run_io import load_run

    run = load_run(cached_run(tmp_path_factory, "binary"))
    size = run.preprocessing.image_size
    paths = [phone_photo(tmp_path / f"IMG_{i}.jpg", seed=i, size=(2016, 1512)) for i in range(4)]
    full = np.stack([fit_to_input(load_rgb(p), size) for p in paths])
    fast = np.stack([load_fitted(p, size) for p in paths])
    model = run.load_model()
    scores_full = np.asarray(model(full, training=False)).reshape(-1)
    moved = np.abs(scores_full - np.asarray(model(fast, training=False)).reshape(-1))
    spread = scores_full.max() - scores_full.min()  # the model does tell these photos apart...
    assert moved.max() < 0.02 and moved.max() < spread / 5, (moved.max(), spread)  # ...far more than decoding moves them
