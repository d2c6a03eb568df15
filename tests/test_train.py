"""A tiny end-to-end training run: every output a user relies on exists and tells the truth."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pytest

from conftest import ROOT, write_class_folder


def test_binary_run_writes_everything(tiny_binary_run):
    run = tiny_binary_run
    for name in ("config.json", "audit.json", "splits.json", "run.json", "model.keras", "metrics.json", "report.md",
                 "history.csv", "checkpoints/last.keras", "plots/confusion_matrix.png", "plots/pr_curve.png",
                 "plots/roc_curve.png", "plots/learning_curves.png"):
        assert (run / name).is_file(), name
    assert any((run / "logs").rglob("*tfevents*"))  # TensorBoard logs
    config = json.loads((run / "config.json").read_text())
    assert config["image_size"] == 32 and config["balance"] == "oversample+class_weight" and config["positive"] == "hotdog"
    info = json.loads((run / "run.json").read_text())
    assert info["task"] == "binary" and info["classes"] == ["not_hotdog", "hotdog"] and info["labels"] == ["hotdog"]
    assert info["balance"]["effective_mix"] == pytest.approx({"not_hotdog": 0.5, "hotdog": 0.5})
    assert len(info["validation_curve"]) == 101
    assert info["preprocessing"]["input_dtype"] == "uint8"


def test_threshold_is_chosen_on_validation_not_test(tiny_binary_run):
    from training.run_io import load_run
    from training.threshold import choose_threshold
    from training.pipeline import predict_scores

    run = load_run(tiny_binary_run)
    model = run.load_model()
    paths = [p for p, _ in run.splits["val"]]
    labels = np.array([t for _, t in run.splits["val"]])
    scores = predict_scores(model, paths, 32, 16, True)
    assert run.prior == 0.5  # the default rebalancing trains on a balanced mix
    choice = choose_threshold(scores, labels, "f1", prior=0.5)
    assert run.threshold == pytest.approx(choice.threshold)
    assert run.raw["threshold_choice"]["split_threshold"] == pytest.approx(choice.split_threshold)
    metrics = json.loads((tiny_binary_run / "metrics.json").read_text())
    assert metrics["threshold"]["chosen_on"] == {"scores": "validation", "photos": len(labels),
                                                 "positives": int(labels.sum())}
    test = metrics["splits"]["test"]
    # the colour blobs are easy: the tuned model must find hotdogs and beat the lazy baseline's F1 of 0
    assert test["lazy_baseline"]["always"] == "not_hotdog" and test["lazy_baseline"]["recall"] == 0.0
    assert test["at_threshold"]["f1"] > 0.5
    assert test["untuned"]["threshold"] == 0.5
    assert test["ranking"]["pr_auc"] > test["ranking"]["positive_rate"]
    gap = metrics["threshold"]["validation_vs_test"]
    assert 0 <= gap["test_best_f1"] <= 1 and gap["threshold_gap"] == pytest.approx(abs(gap["test_best_threshold"] - run.threshold))
    report = (tiny_binary_run / "report.md").read_text()
    assert "always 'not_hotdog'" in report and "chosen on the validation split" in report
    assert "Validation and test disagree by" in report


def test_model_takes_raw_uint8_and_scales_itself(tiny_binary_run):
    from training.run_io import load_run

    model = load_run(tiny_binary_run).load_model()
    assert model.inputs[0].dtype == "uint8"
    assert model.get_layer("scale_pixels").scale == pytest.approx(1 / 127.5)


def test_predict_json_one_line_per_image(tiny_binary_run, tmp_path):
    data = write_class_folder(tmp_path / "new", {"hotdog": 2, "not_hotdog": 2}, seed=9)
    (data / "hotdog" / "broken.jpg").write_bytes(b"not an image")
    out = subprocess.run(
        [sys.executable, "-m", "seefood", "predict", str(tiny_binary_run), str(data), "--json"],
        capture_output=True, text=True, cwd=ROOT, timeout=300,
    )
    lines = [json.loads(line) for line in out.stdout.splitlines() if line.startswith("{")]
    assert len(lines) == 5 and out.returncode == 1  # one unreadable file -> non-zero exit, still reported
    errors = [line for line in lines if "error" in line]
    assert len(errors) == 1 and errors[0]["path"].endswith("broken.jpg")
    for line in lines:
        if "error" not in line:
            assert set(line["scores"]) == {"hotdog", "not_hotdog"}
            assert sum(line["scores"].values()) == pytest.approx(1.0, abs=1e-5)
            assert line["label"] in ("hotdog", "not_hotdog")


def test_multiclass_run(tiny_multiclass_run):
    info = json.loads((tiny_multiclass_run / "run.json").read_text())
    assert info["task"] == "multiclass" and info["labels"] == ["apple_pie", "baklava", "ribs"]
    metrics = json.loads((tiny_multiclass_run / "metrics.json").read_text())
    at = metrics["splits"]["test"]["at_threshold"]
    assert set(at["per_class"]) == {"apple_pie", "baklava", "ribs"}
    assert np.array(at["confusion_matrix"]).shape == (3, 3)
    untuned = metrics["splits"]["test"]["untuned"]  # the top class, never "unknown"
    assert untuned["threshold"] == 0.0 and untuned.get("unknown", 0) == 0
    history = (tiny_multiclass_run / "history.csv").read_text().splitlines()[0]
    assert "val_macro_recall" in history and "val_accuracy" in history


def test_evaluate_chooses_the_threshold_again_for_a_new_objective(tiny_binary_run, tmp_path):
    import shutil

    from seefood.cli import main

    run = tmp_path / "run"
    shutil.copytree(tiny_binary_run, run)
    before = json.loads((run / "run.json").read_text())
    assert main(["evaluate", str(run), "--threshold-objective", "recall>=0.5x"]) == 2
    assert json.loads((run / "run.json").read_text()) == before  # a bad objective changes nothing

    assert main(["evaluate", str(run), "--threshold-objective", "recall>=1.0"]) == 0
    after = json.loads((run / "run.json").read_text())
    assert after["threshold_objective"] == "recall>=1.0"
    assert after["threshold_choice"]["recall"] == 1.0 and after["threshold_choice"]["met"]
    # finding every hotdog never needs a higher bar than the split's own best-F1 threshold
    assert after["threshold"] <= before["threshold_choice"]["peak_threshold"] + 1e-9
    metrics = json.loads((run / "metrics.json").read_text())
    assert {k: v for k, v in metrics["threshold"].items() if k != "validation_vs_test"} == \
        {"value": after["threshold"], "objective": "recall>=1.0", "chosen_on": after["threshold_chosen_on"]}
    assert after["threshold_chosen_on"]["scores"] == "validation"
    assert {k: v for k, v in after.items() if not k.startswith(("threshold", "validation_curve"))} == \
        {k: v for k, v in before.items() if not k.startswith(("threshold", "validation_curve"))}


def test_existing_run_is_not_overwritten_without_force(tiny_binary_run):
    out = subprocess.run(
        [sys.executable, "-m", "seefood", "train", json.loads((tiny_binary_run / "config.json").read_text())["data_dir"],
         "--out", str(tiny_binary_run), "--epochs", "1"],
        capture_output=True, text=True, cwd=ROOT, timeout=300,
    )
    assert out.returncode == 2 and "--force" in out.stderr
    assert (tiny_binary_run / "model.keras").is_file()


def test_init_from_continues_an_earlier_run(tiny_binary_run, tmp_path):
    from training.config import TrainConfig
    from training.train import train

    data = json.loads((tiny_binary_run / "config.json").read_text())["data_dir"]
    cfg = TrainConfig(data_dir=data, out=str(tmp_path / "run2"), image_size=32, epochs=1, batch_size=8,
                      val_fraction=0.2, test_fraction=0.2, augment="none", init_from=str(tiny_binary_run))
    run2 = train(cfg)
    first = json.loads((tiny_binary_run / "metrics.json").read_text())["splits"]["test"]["ranking"]["pr_auc"]
    second = json.loads((run2 / "metrics.json").read_text())["splits"]["test"]["ranking"]["pr_auc"]
    assert second >= first - 0.2  # started from trained weights, not from scratch


def test_mirrored_strategy_on_two_logical_cpus(tmp_path):
    data = write_class_folder(tmp_path / "data", {"hotdog": 16, "not_hotdog": 40}, seed=4)
    env = {**os.environ, "SEEFOOD_CPU_DEVICES": "2", "TF_CPP_MIN_LOG_LEVEL": "2"}
    out = subprocess.run(
        [sys.executable, "-m", "seefood", "train", str(data), "--out", str(tmp_path / "run"), "--epochs", "2",
         "--image-size", "32", "--batch-size", "4", "--distribute", "mirrored", "--augment", "none"],
        capture_output=True, text=True, cwd=ROOT, env=env, timeout=400,
    )
    assert out.returncode == 0, out.stderr[-2000:]
    assert "2 replica(s) with MirroredStrategy" in out.stdout
    assert (tmp_path / "run" / "metrics.json").is_file()
    history = (tmp_path / "run" / "history.csv").read_text().splitlines()
    header, last = history[0].split(","), history[-1].split(",")
    assert np.isfinite(float(last[header.index("val_pr_auc")]))  # judged on the validation photos each epoch


def test_padding_gives_every_replica_whole_batches():
    from training.pipeline import global_batch_for, padding_for

    assert global_batch_for(5, 2) == 6 and global_batch_for(8, 2) == 8 and global_batch_for(3, 1) == 3
    for n in range(1, 40):
        assert padding_for(n, 8, 1) == 0  # one replica: never padded
        pad = padding_for(n, 8, 2)
        assert 0 <= pad < 8 and (n + pad) % 8 == 0


SCORES_ON_REPLICAS = r"""
import json, sys
sys.path.insert(0, sys.argv[1])
from training.train import setup_devices
setup_devices()
import numpy as np, tensorflow as tf
from training.models import build_model
from training.pipeline import predict_scores
paths = sys.argv[2:]
strategy = tf.distribute.MirroredStrategy([d.name for d in tf.config.list_logical_devices("CPU")])
with strategy.scope():
    model, _ = build_model("small_cnn", 32, 1, True, "none", "none", seed=3)
plain, _ = build_model("small_cnn", 32, 1, True, "none", "none", seed=3)
plain.set_weights(model.get_weights())
worst = 0.0
for n in range(1, len(paths) + 1):  # every remainder of the global batch, including n < replicas
    a = predict_scores(model, paths[:n], 32, 4, True)
    b = predict_scores(plain, paths[:n], 32, 4, True)
    assert a.shape == (n,), a.shape
    worst = max(worst, float(np.abs(a - b).max()))
print(json.dumps({"replicas": strategy.num_replicas_in_sync, "worst": worst}))
"""


def test_scores_on_two_replicas_match_one_device_for_every_count(tmp_path):
    data = write_class_folder(tmp_path / "data", {"a": 5, "b": 4}, seed=5)
    paths = sorted(str(p) for p in data.rglob("*.jpg"))
    env = {**os.environ, "SEEFOOD_CPU_DEVICES": "2", "TF_CPP_MIN_LOG_LEVEL": "3"}
    out = subprocess.run([sys.executable, "-c", SCORES_ON_REPLICAS, str(ROOT), *paths],
                         capture_output=True, text=True, env=env, timeout=300)
    assert out.returncode == 0, out.stderr[-2000:]
    result = json.loads(out.stdout.strip().splitlines()[-1])
    assert result["replicas"] == 2 and result["worst"] < 1e-5


def test_run_records_the_kept_weights_and_no_warning_when_the_class_is_learned(tiny_binary_run):
    info = json.loads((tiny_binary_run / "run.json").read_text())
    kept = info["kept_weights"]
    # --patience 8 over 8 epochs never stops, but Keras restores the best epoch of the second half anyway:
    # the run must say so rather than claim the final weights
    assert kept["rule"] == "best" and kept["monitor"] == "val_pr_auc" and 5 <= kept["epoch"] <= info["epochs_run"] == 8
    metrics = json.loads((tiny_binary_run / "metrics.json").read_text())
    assert metrics["kept_weights"] == kept and metrics["warnings"] == []  # colour blobs are easy: learned


def test_a_class_that_was_not_learned_is_named_loudly(tmp_path):
    """Hot dogs that look exactly like everything else: the guard says so in the terminal,
    report.md and metrics.json, and says what to do."""
    from PIL import Image

    from conftest import blob_image

    rng = np.random.default_rng(7)
    for cls, n in (("hotdog", 40), ("not_hotdog", 60)):
        (tmp_path / "data" / cls).mkdir(parents=True)
        for i in range(n):
            Image.fromarray(blob_image(rng, (120, 120, 120))).save(tmp_path / "data" / cls / f"{i}.jpg")
    out = subprocess.run(
        [sys.executable, "-m", "seefood", "train", str(tmp_path / "data"), "--out", str(tmp_path / "run"), "--epochs", "2",
         "--image-size", "32", "--batch-size", "8", "--augment", "none", "--val-fraction", "0.45", "--test-fraction", "0.1",
         "--seed", "3"],
        capture_output=True, text=True, cwd=ROOT, timeout=300,
    )
    assert out.returncode == 0, out.stderr[-2000:]
    assert "WARNING: class 'hotdog' was not learned" in out.stdout
    [warning] = json.loads((tmp_path / "run" / "metrics.json").read_text())["warnings"]
    assert warning["code"] == "tiny_class" and warning["class"] == "hotdog" and warning["more_photos_needed"] > 0
    report = (tmp_path / "run" / "report.md").read_text()
    assert "**WARNING:** class 'hotdog' was not learned" in report and "--weights imagenet" in report


def test_a_pretrained_backbone_trains_frozen_then_fine_tuned(tmp_path, capsys, monkeypatch):
    """The two-phase path of keras.applications backbones (here without ImageNet weights: nothing is
    downloaded in tests): frozen, then unfrozen at a tenth of the learning rate, one early stopping
    over both phases, and the run records which epoch it kept. Each phase traces its training step once: the
    optimizer is built when the phase is compiled, not inside the first step (which makes TensorFlow trace twice)."""
    import training.fitting as fitting
    from training.config import TrainConfig
    from training.train import train

    traces, wrapped, compile_model = [], set(), fitting.compile_model

    def counting_compile(model, *args, **kwargs):  # a traced step runs this Python once per trace, never per batch
        if id(model) not in wrapped:
            wrapped.add(id(model))
            step = model.train_step
            model.train_step = lambda data: (traces.append(1), step(data))[1]
        return compile_model(model, *args, **kwargs)

    monkeypatch.setattr(fitting, "compile_model", counting_compile)

    data = write_class_folder(tmp_path / "data", {"hotdog": 12, "not_hotdog": 36}, seed=6)
    cfg = TrainConfig(data_dir=str(data), out=str(tmp_path / "run"), model="mobilenet_v3_small", image_size=32,
                      epochs=4, fine_tune_epochs=2, batch_size=8, patience=4, augment="none")
    run = train(cfg)
    printed = capsys.readouterr().out
    assert "Phase 1: backbone frozen, 2 epochs" in printed
    assert "Phase 2: fine-tuning the backbone at learning rate 0.0003, 2 epochs" in printed
    info = json.loads((run / "run.json").read_text())
    assert info["epochs_run"] == 4
    assert info["kept_weights"]["rule"] == "best" and 3 <= info["kept_weights"]["epoch"] <= 4
    assert len(open(run / "history.csv").read().splitlines()) == 1 + 4  # one row per epoch of both phases
    assert len(traces) == 2  # one per phase (4 when the optimizer's slots were made inside the first step)


def test_tail_adjust_shifts_only_the_output_bias_and_a_continued_run_takes_it_out(tmp_path, capsys):
    """Two runs that differ only in --tail-adjust (0 and the default) train the same weights (same seed): the
    adjusted model's output bias is the other's plus the recorded offsets, so its decisions are
    argmax(log p + offsets), and --init-from the adjusted run starts from the unadjusted bias."""
    from training.balance import tail_offsets
    from training.config import DEFAULT_HEAD_NORM, DEFAULT_TAIL_ADJUST, TrainConfig
    from training.fitting import init_from
    from training.models import build_model
    from training.run_io import load_run
    from training.train import train

    data = write_class_folder(tmp_path / "data", {"apple_pie": 40, "baklava": 16, "ribs": 8}, seed=6)
    tau = DEFAULT_TAIL_ADJUST
    assert tau > 0  # multi-class runs get a head start unless asked not to (--tail-adjust 0)
    runs = {}
    for name, options in (("plain", {"tail_adjust": 0.0}), ("default", {})):
        runs[name] = train(TrainConfig(data_dir=str(data), out=str(tmp_path / name), image_size=32, epochs=1,
                                       batch_size=8, val_fraction=0.2, test_fraction=0.2, augment="none", **options))
    printed = capsys.readouterr().out
    assert "no head start for small classes" in printed
    assert f"head start for smaller classes (--tail-adjust {tau:g}:" in printed
    plain, adjusted = load_run(runs["plain"]), load_run(runs["default"])
    record = adjusted.raw["tail_adjust"]
    counts = [record["train_counts"][c] for c in adjusted.classes]
    assert counts == [sum(1 for _, t in adjusted.splits["train"] if t == i) for i in range(3)]
    offsets = np.asarray(tail_offsets(counts, tau))
    assert [record["offsets"][c] for c in adjusted.classes] == pytest.approx(offsets, abs=1e-6)
    assert offsets[2] > offsets[1] > 0 == offsets[0]  # ribs (fewest photos) gets the largest head start
    assert plain.raw["tail_adjust"]["tau"] == 0.0 and not any(plain.raw["tail_adjust"]["offsets"].values())
    assert adjusted.raw["head_norm"]["exponent"] == plain.raw["head_norm"]["exponent"] == DEFAULT_HEAD_NORM

    m0, m1 = plain.load_model(), adjusted.load_model()
    b0, b1 = m0.get_layer("logits").get_weights()[1], m1.get_layer("logits").get_weights()[1]
    assert b1 - b0 == pytest.approx(offsets, abs=1e-5)
    pixels = np.random.default_rng(0).integers(0, 256, (16, 32, 32, 3), dtype=np.uint8)
    p0, p1 = m0.predict(pixels, verbose=0), m1.predict(pixels, verbose=0)
    assert np.array_equal(np.argmax(p1, 1), np.argmax(np.log(p0) + offsets, 1))
    assert (np.argmax(p1, 1) == 2).sum() >= (np.argmax(p0, 1) == 2).sum()

    fresh, _ = build_model("small_cnn", 32, 3, False, "none")
    init_from(fresh, runs["default"], SimpleNamespace(classes=adjusted.classes))
    assert fresh.get_layer("logits").get_weights()[1] == pytest.approx(b0, abs=1e-5)
    report = (runs["default"] / "report.md").read_text()
    assert f"--tail-adjust {tau:g}" in report and "ribs +" in report

    from seefood.cli import main  # the exported model carries the head start: the bundle decides as the run did

    bundle = tmp_path / "bundle"
    assert main(["export", str(runs["default"]), "--out", str(bundle), "--quantize", "float32"]) == 0
    manifest = json.loads((bundle / "manifest.json").read_text())
    assert manifest["tail_adjust"]["offsets"] == record["offsets"] and manifest["verification"]["passed"]
    assert manifest["head_norm"] == adjusted.raw["head_norm"]
    readme = (bundle / "README.md").read_text()
    assert "head start" in readme and f"`--tail-adjust {tau:g}`: baklava +{offsets[1]:.2f}, ribs +{offsets[2]:.2f}" in readme


def test_head_norm_divides_only_the_output_weights_and_a_continued_run_puts_them_back(tmp_path):
    """--head-norm G divides each class's column of the logits kernel by its length ** G (bias and every other
    weight untouched), records the lengths as trained, and --init-from that run starts from the trained lengths."""
    from training.balance import describe_head_norm
    from training.fitting import apply_head_norm, init_from
    from training.models import build_model

    classes = ["apple_pie", "baklava", "ribs"]
    model, _ = build_model("small_cnn", 32, 3, False, "none", seed=3)
    head = model.get_layer("logits")
    kernel, bias = head.get_weights()
    head.set_weights([kernel * np.array([1.0, 2.0, 5.0], dtype=kernel.dtype), bias + 0.5])  # unequal lengths
    kernel, bias = head.get_weights()
    lengths = np.linalg.norm(kernel, axis=0)
    others = [w.copy() for layer in model.layers if layer.name != "logits" for w in layer.get_weights()]

    assert apply_head_norm(model, classes, 0.0)["norms"] == pytest.approx(dict(zip(classes, lengths)), abs=1e-5)
    assert np.array_equal(head.get_weights()[0], kernel)  # 0: as trained
    record = apply_head_norm(model, classes, 1.0)
    assert record["exponent"] == 1.0 and record["norms"] == pytest.approx(dict(zip(classes, lengths)), abs=1e-5)
    assert np.linalg.norm(head.get_weights()[0], axis=0) == pytest.approx([1, 1, 1], abs=1e-5)
    assert head.get_weights()[0] * lengths == pytest.approx(kernel, abs=1e-5)  # directions kept
    assert np.array_equal(head.get_weights()[1], bias)
    assert all(np.array_equal(a, b) for a, b in zip(others, (w for layer in model.layers if layer.name != "logits"
                                                             for w in layer.get_weights())))
    line = describe_head_norm(record)
    assert "--head-norm 1" in line and "ribs" in line and f"{lengths[2]:.2f}" in line

    run = tmp_path / "run"
    run.mkdir()
    model.save(run / "model.keras")
    (run / "run.json").write_text(json.dumps({"classes": classes, "head_norm": record}))
    fresh, _ = build_model("small_cnn", 32, 3, False, "none", seed=4)
    init_from(fresh, run, SimpleNamespace(classes=classes), log=lambda *_: None)
    assert fresh.get_layer("logits").get_weights()[0] == pytest.approx(kernel, abs=1e-4)


def _train_three_classes(tmp_path, *options: str) -> Path:
    """``seefood train`` for one epoch at 32 px on a small three-class folder, with ``options``: the run folder."""
    from seefood.cli import main

    data = write_class_folder(tmp_path / "data", {"apple_pie": 16, "baklava": 12, "ribs": 8}, seed=8)
    run = tmp_path / "run"
    assert main(["train", str(data), "--out", str(run), "--image-size", "32", "--epochs", "1", "--batch-size", "8",
                 "--augment", "none", *options]) == 0
    return run


def test_head_norm_from_the_command_line_reaches_the_saved_model_and_the_report(tmp_path, capsys):
    import keras

    from seefood.cli import main

    run = _train_three_classes(tmp_path, "--head-norm", "1")
    assert "Head: each class's weights divided by their length (--head-norm 1)" in capsys.readouterr().out
    record = json.loads((run / "run.json").read_text())["head_norm"]
    assert record["exponent"] == 1.0 and set(record["norms"]) == {"apple_pie", "baklava", "ribs"}
    kernel = keras.saving.load_model(run / "model.keras").get_layer("logits").get_weights()[0]
    assert np.linalg.norm(kernel, axis=0) == pytest.approx([1, 1, 1], abs=1e-5)  # saved as it decides
    assert "--head-norm 1" in (run / "report.md").read_text()
    assert json.loads((run / "config.json").read_text())["head_norm"] == 1.0
    bundle = tmp_path / "bundle"
    assert main(["export", str(run), "--out", str(bundle), "--quantize", "float32"]) == 0
    assert json.loads((bundle / "manifest.json").read_text())["head_norm"] == record
    assert "`--head-norm 1`" in (bundle / "README.md").read_text()
    binary = write_class_folder(tmp_path / "binary", {"hotdog": 12, "not_hotdog": 24}, seed=9)
    assert main(["train", str(binary), "--out", str(tmp_path / "binary_run"), "--image-size", "32", "--epochs", "1",
                 "--batch-size", "8", "--augment", "none", "--head-norm", "1"]) == 0
    assert "--head-norm 1 is for multi-class tasks" in capsys.readouterr().out  # asked for: said, not dropped


def test_label_smoothing_from_the_command_line_reaches_the_loss_and_the_saved_config(tmp_path, capsys):
    import keras

    from seefood.cli import main

    run = _train_three_classes(tmp_path, "--label-smoothing", "0.2")
    assert ", label smoothing 0.2" in capsys.readouterr().out
    assert json.loads((run / "config.json").read_text())["label_smoothing"] == 0.2
    model = keras.saving.load_model(run / "model.keras", compile=True)
    assert model.loss.get_config()["label_smoothing"] == pytest.approx(0.2)
    binary = write_class_folder(tmp_path / "binary", {"hotdog": 12, "not_hotdog": 24}, seed=9)
    assert main(["train", str(binary), "--out", str(tmp_path / "binary_run"), "--image-size", "32", "--epochs", "1",
                 "--batch-size", "8", "--augment", "none", "--label-smoothing", "0.2"]) == 0
    printed = capsys.readouterr().out
    assert "--label-smoothing 0.2 is for multi-class tasks" in printed  # said, not silently dropped
    assert "--head-norm" not in printed  # the multi-class default is not a request this binary run ignores
    loss = keras.saving.load_model(tmp_path / "binary_run" / "model.keras").loss.get_config()
    assert loss["name"] == "binary_crossentropy" and loss["label_smoothing"] == 0.0


def test_a_saved_config_without_a_later_option_loads_as_that_run_trained(tmp_path):
    from training.config import SAVED_BEFORE, TrainConfig

    saved = TrainConfig(data_dir="photos", out="runs/a", tail_adjust=0.7, label_smoothing=0.2, head_norm=0.5).to_dict()
    (tmp_path / "new.json").write_text(json.dumps(saved))
    new = TrainConfig.load(tmp_path / "new.json")
    assert new.tail_adjust == 0.7 and new.label_smoothing == 0.2
    (tmp_path / "old.json").write_text(json.dumps({k: v for k, v in saved.items() if k not in SAVED_BEFORE}))
    old = TrainConfig.load(tmp_path / "old.json")
    assert old.tail_adjust == SAVED_BEFORE["tail_adjust"] == 0.0 and old.learning_rate == saved["learning_rate"]
    assert old.label_smoothing == SAVED_BEFORE["label_smoothing"] == 0.0
    assert new.head_norm == 0.5 and old.head_norm == SAVED_BEFORE["head_norm"] == 0.0


def test_the_same_options_train_the_same_model_and_another_seed_another(tmp_path):
    """config.json reproduces a run: every random step (split, oversampling draws, augmentation, dropout, weight
    initialisation) follows --seed, so the default recipe (strong augmentation, oversampling + class weights, head
    start) trained twice gives the same scores, and a different seed does not."""
    from training.config import TrainConfig
    from training.run_io import load_scores
    from training.train import train

    data = write_class_folder(tmp_path / "data", {"apple_pie": 24, "baklava": 12, "ribs": 6}, seed=8)

    def scores(name: str, seed: int) -> np.ndarray:
        run = train(TrainConfig(data_dir=str(data), out=str(tmp_path / name), image_size=32, epochs=2, batch_size=8,
                                seed=seed))
        return load_scores(run)["val"][2]

    first, again, other = scores("first", 3), scores("again", 3), scores("other", 4)
    assert np.array_equal(first, again)
    assert other.shape != first.shape or not np.allclose(other, first)
