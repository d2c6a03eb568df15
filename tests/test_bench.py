"""The bench's results table and one cheap measurement, on generated data (no timings asserted)."""

from __future__ import annotations

import pytest

from bench import measure
from conftest import write_class_folder
from bench.results import Row, machine_info, skipped, verdict, write_results


def test_results_table_has_machine_sections_targets_and_skipped_reasons(tmp_path):
    rows = [
        Row("Inference", "TFLite int8, 1 thread(s)", "p50 1.00 ms, p95 2.00 ms", "9.0x faster than Keras predict",
            command="seefood bench B --threads 1"),
        Row("Inference", "int8 model size vs float32", "40 KiB vs 130 KiB", "0.31x", "int8 <= 1/3 of float32",
            verdict(0.31 <= 1 / 3), "seefood export RUN --out B --quantize all"),
        skipped("App", "seefood app", "no exported bundle", "display >= 29 FPS"),
    ]
    path = write_results(tmp_path / "RESULTS.md", machine_info(), rows, ["shared cores"])
    text = path.read_text()
    assert "**machine**" in text and "**tensorflow**" in text and "**date**" in text and "**gpu**" in text
    assert "## Inference" in text and "## App" in text and "## Notes" in text
    assert "| int8 model size vs float32 | 40 KiB vs 130 KiB | 0.31x | int8 <= 1/3 of float32 | yes |" in text
    assert "not available: no exported bundle" in text and "| not measured |" in text
    assert "`seefood bench B --threads 1`" in text


def test_row_refuses_an_unknown_verdict():
    with pytest.raises(ValueError):
        Row("x", "y", "z", holds="maybe")


def test_pillow_loop_counts_every_generated_photo(tmp_path):
    folder = measure.generate_photos(tmp_path / "photos", classes=2, per_class=3, size=(40, 60))
    items = measure.class_files(folder)
    assert sorted({t for _, t in items}) == [0, 1] and len(items) == 6
    linked = measure.link_subset(items[:4], ["class_0", "class_1"], tmp_path / "subset")
    assert len(measure.class_files(linked)) == 4
    result = measure.pillow_loop([p for p, _ in items], 32)
    assert result["images"] == 6 and result["images_per_s"] > 0


def test_recipe_table_f1_at_the_training_mix_weights_test_negatives():
    from bench.recipe_table import f1_at_mix

    confusion = [[90, 10], [5, 15]]  # [[tn, fp], [fn, tp]]
    assert f1_at_mix(confusion, 1.0) == pytest.approx(2 * 15 / (2 * 15 + 10 + 5))
    assert f1_at_mix(confusion, 2.0) == pytest.approx(2 * 15 / (2 * 15 + 20 + 5))  # twice the negatives: twice the false alarms
    assert f1_at_mix([[100, 0], [20, 0]], 1.0) == 0.0


def test_gpu_rows_measure_a_tensorflow_gpu_and_always_show_the_lent_machine_record(monkeypatch):
    import bench.run as bench_run
    from bench.train_step import StepResult

    monkeypatch.setattr(bench_run, "gpu_names", lambda: [])
    rows, notes = bench_run.gpu_rows()
    assert rows[0].holds == "not measured" and "no GPU found" in rows[0].value
    recorded = [r for r in rows[1:] if "jax backend" in r.what]
    assert recorded and all(r.command.startswith("KERAS_BACKEND=jax") for r in recorded)
    assert notes and "TensorFlow" in notes[0]

    speeds = {"float32": 100.0, "mixed_float16": 150.0}

    def fake_measure(name, size, batch, policy, steps, augment="light"):
        return StepResult(name, size, batch, policy, augment, "tensorflow", "gpu: test", speeds[policy], 1.0, steps, 0.1)

    monkeypatch.setattr(bench_run, "gpu_names", lambda: ["/physical_device:GPU:0"])
    monkeypatch.setattr(bench_run.train_step, "measure", fake_measure)
    rows, _ = bench_run.gpu_rows()
    measured = [r for r in rows if "tensorflow backend" in r.what]
    assert len(measured) == 4  # two models x two policies
    assert [r.ratio for r in measured if "mixed_float16" in r.what] == ["1.50x float32"] * 2


def test_train_step_times_a_real_model_under_both_policies_and_restores_float32():
    import keras

    from bench import train_step

    results = [train_step.measure("small_cnn", 32, 4, policy, steps=3) for policy in train_step.POLICIES]
    assert [r.policy for r in results] == ["float32", "mixed_float16"]
    assert all(r.images_per_s > 0 and r.timed_steps == 2 and r.backend == "tensorflow" for r in results)
    assert keras.mixed_precision.global_policy().name == "float32"
    with pytest.raises(SystemExit):
        train_step.main(["--config", "small_cnn-128"])


def test_train_step_refuses_to_time_a_step_that_keras_did_not_compile_with_xla():
    """Keras silently falls back to no XLA for layers it cannot compile (the augmentation's image
    transforms): a figure labelled XLA must not come from that fallback."""
    from bench import train_step

    with pytest.warns(UserWarning, match="jit_compile"), pytest.raises(SystemExit, match="--augment none"):
        train_step.measure("small_cnn", 32, 4, "float32", steps=3, augment="light", jit_compile=True)


def test_quality_tasks_are_symlinked_subsamples_of_the_right_shape(tmp_path, monkeypatch):
    from bench import quality

    for split, n in (("train", 260), ("test", 70)):
        for cls in ("a", "b", "c", "d", "e"):
            folder = tmp_path / "data" / "toy" / split / cls
            folder.mkdir(parents=True)
            for i in range(n):
                (folder / f"{cls}{i}.jpg").write_bytes(b"x")
    monkeypatch.setattr(quality, "DATA", tmp_path / "data")
    monkeypatch.setitem(quality.POSITIVE, "toy", "c")
    tasks = tmp_path / "tasks"

    def count(task, split):
        return {p.name: len(list(p.iterdir())) for p in (task / split).iterdir()}

    binary = quality.build_task("toy", "binary", tasks)
    assert count(binary, "train") == {"c": 45, "not_c": 360}  # 1:8
    assert count(binary, "test") == {"c": 60, "not_c": 240}
    assert all(p.is_symlink() for p in (binary / "train" / "not_c").iterdir())  # never copies
    tiny = quality.build_task("toy", "tiny", tasks)
    assert count(tiny, "train") == {"c": 14, "not_c": 100}
    longtail = quality.build_task("toy", "longtail", tasks)
    assert sorted(count(longtail, "train").values(), reverse=True) == list(quality.LONGTAIL)
    held_out = quality.build_task("toy", "longtail2", tasks)
    shape = count(held_out, "train")
    assert sorted(shape.values(), reverse=True) == list(quality.LONGTAIL)
    third = count(quality.build_task("toy", "longtail3", tasks), "train")
    assert sorted(third.values(), reverse=True) == list(quality.LONGTAIL)
    smallest = {min(c, key=c.get) for c in (count(longtail, "train"), shape, third)}
    assert len(smallest) == 3  # each held-out cast gives the smallest role to another class
    assert quality.build_task("toy", "binary", tasks) == binary  # built once, reused


def test_quality_table_reports_mean_spread_and_range_over_seeds():
    from bench.quality import table

    rows = [{"set": "s", "family": "binary", "recipe": "default", "seed": k, "label": "", "minority_f1": f,
             "pr_auc": 0.8, "macro_f1": 0.7, "smallest_recall": 0.5, "unknown_share": 0.0, "seconds": 10.0,
             "warnings": ["tiny_class"] if k == 0 else []} for k, f in enumerate((0.6, 0.7, 0.8))]
    text = table(rows)
    assert "| binary | s | default | 3 | 0.700 ± 0.100 [0.60–0.80] |" in text
    assert "| 1/3 |" in text  # the tiny-class warning fired on one of three seeds


def test_quality_table_shows_chosen_labels_under_their_names_and_pools_them():
    from bench.quality import parse_show, table

    def row(recipe, label, f1, set_name="s"):
        return {"set": set_name, "family": "binary", "recipe": recipe, "seed": 0, "label": label, "minority_f1": f1,
                "pr_auc": 0.5, "macro_f1": 0.5, "smallest_recall": 0.5, "unknown_share": 0.0, "seconds": 1.0,
                "warnings": []}

    rows = [row("default", "prior", 0.7), row("default", "old", 0.4), row("default", "mixup", 0.1),
            row("plain", "old", 0.2), row("plain", "prior", 0.3, set_name="t")]
    show = parse_show(["prior=now", "old=before", "plain:old=", "plain:prior="])
    assert show[("plain", "old")] == "" and show[(None, "prior")] == "now"
    text = table(rows, show=show)
    assert "| binary | s | default (now) | 1 | 0.700 |" in text and "| binary | s | default (before) | 1 | 0.400 |" in text
    assert "mixup" not in text and "0.100" not in text  # a label not asked for is left out
    assert "| binary | plain | 2 | 0.250 |" in text  # the plain recipe of two labels pooled over both sets


def test_loop_stage_shares_split_start_up_audit_first_epoch_and_later_stages():
    from bench.run import stage_shares

    events = [(1.0, {"stage": "train", "epoch": 0, "of": 3}), (4.0, {"stage": "train", "epoch": 0, "audit": {}}),
              (10.0, {"stage": "train", "epoch": 1, "of": 3}),
              (12.0, {"stage": "train", "epoch": 2, "of": 3}), (14.0, {"stage": "train", "epoch": 3, "of": 3}),
              (14.5, {"stage": "export"}), (20.0, {"stage": "verify"}), (20.5, {"stage": "compare"}),
              (22.0, {"stage": "install"}), (22.5, {"stage": "done"})]
    shares = stage_shares(events, 23.0)
    assert shares["start-up"] == 1.0 and shares["TensorFlow import + audit (hash all, decode new)"] == 3.0
    assert shares["first epoch (model built, graph traced)"] == 6.0
    assert shares["later epochs"] == 4.0 and shares["evaluate + threshold"] == 0.5
    assert shares["export"] == 5.5 and shares["install"] == 0.5 and shares["exit"] == 0.5
    assert sum(shares.values()) == 23.0


def test_long_measurements_run_only_when_asked_and_are_kept_for_later_runs(tmp_path, monkeypatch):
    from bench.run import kept_record, not_measured

    path, calls = tmp_path / "long.json", []

    def measure_now():
        calls.append(1)
        return {"seconds": 99.0}

    monkeypatch.delenv("BENCH_SOMETHING", raising=False)
    assert kept_record("BENCH_SOMETHING", path, measure_now) is None and calls == []
    assert not_measured("s", "w", "t", "BENCH_SOMETHING", 5).value.startswith("not measured in this run (set BENCH_SOMETHING=1")
    monkeypatch.setenv("BENCH_SOMETHING", "1")
    first = kept_record("BENCH_SOMETHING", path, measure_now)
    assert calls == [1] and first["seconds"] == 99.0 and "date" in first and "load_average" in first
    monkeypatch.delenv("BENCH_SOMETHING")
    assert kept_record("BENCH_SOMETHING", path, measure_now) == first and calls == [1]  # rendered, not measured again


def test_alternated_median_interleaves_the_passes_and_keeps_each_ones_median():
    from bench.measure import alternated_median

    calls = []

    def timed(name, rates):
        def one():
            calls.append(name)
            return {"images": 10, "seconds": 1.0, "images_per_s": rates[calls.count(name) - 1]}
        return one

    ours, theirs = alternated_median(timed("ours", [40.0, 12.0, 46.0]), timed("theirs", [30.0, 35.0, 9.0]), 3)
    assert calls == ["ours", "theirs"] * 3  # a neighbour's burst lands on both, not on one pipeline's only pass
    assert ours["images_per_s"] == 40.0 and theirs["images_per_s"] == 30.0  # medians, the slowed passes outvoted
    assert ours["passes"] == [40.0, 12.0, 46.0] and theirs["passes"] == [30.0, 35.0, 9.0]
    calls.clear()
    a, b, c = alternated_median(timed("a", [1.0, 3.0]), timed("b", [5.0, 4.0]), timed("c", [7.0, 8.0]), 2)
    assert calls == ["a", "b", "c"] * 2 and [a["passes"], b["passes"], c["passes"]] == [[1.0, 3.0], [5.0, 4.0], [7.0, 8.0]]


def test_train_first_pass_audits_into_an_empty_cache_then_streams_every_photo(tmp_path, monkeypatch):
    from bench import measure
    from seefood import decoded_cache

    data = write_class_folder(tmp_path / "photos", {"a": 6, "b": 4})
    monkeypatch.setenv(decoded_cache.ENV_DIR, str(tmp_path / "user-cache"))
    before = decoded_cache.COUNTS.snapshot()
    result = measure.train_first_pass(data, 32)
    after = decoded_cache.COUNTS.snapshot()
    assert result["images"] == 10 and result["images_per_s"] > 0
    assert after[1] - before[1] == 10 and after[0] - before[0] == 10  # decoded once by the audit, read back by the stream
    assert not (tmp_path / "user-cache").exists()  # never the user's cache


def test_quality_jobs_share_the_cores_and_one_job_keeps_them_all():
    from bench.quality import thread_env

    assert thread_env(1, cores=16) == {}
    shared = thread_env(4, cores=16)
    assert shared["TF_NUM_INTRAOP_THREADS"] == shared["OMP_NUM_THREADS"] == "4"
    assert thread_env(3, cores=2)["TF_NUM_INTRAOP_THREADS"] == "1"  # never 0 threads


def test_quality_runs_pending_trainings_side_by_side_and_records_every_row(tmp_path, monkeypatch):
    import threading
    import time

    from bench import quality

    data = tmp_path / "data"
    for split in ("train", "test"):
        for cls in ("a", "b", "c", "d", "e"):
            (data / "toy" / split / cls).mkdir(parents=True)
    monkeypatch.setattr(quality, "DATA", data)
    monkeypatch.setattr(quality, "SETS", ("toy",))
    monkeypatch.setitem(quality.POSITIVE, "toy", "c")
    monkeypatch.setattr(quality, "build_task", lambda set_name, family, tasks: tasks / f"{set_name}-{family}")
    running, most = [], [0]
    lock = threading.Lock()

    def fake_train(task, recipe, seed, runs_dir, extra, jobs):
        with lock:
            running.append(seed)
            most[0] = max(most[0], len(running))
        time.sleep(0.2)
        with lock:
            running.remove(seed)
        return {"minority_f1": 0.5 + seed / 10, "pr_auc": 0.5, "macro_f1": 0.5, "smallest_recall": 0.5,
                "unknown_share": 0.0, "seconds": 1.0, "epochs": 1, "threshold": 0.5, "warnings": []}

    monkeypatch.setattr(quality, "run_seefood", fake_train)
    out = tmp_path / "out"
    quality.main(["--out", str(out), "--sets", "toy", "--families", "binary", "--seeds", "0", "1", "2", "3",
                  "--recipes", "default", "--jobs", "2", "--label", "j"])
    rows = quality.load_results(out / "results.jsonl")
    assert sorted(r["seed"] for r in rows) == [0, 1, 2, 3] and {r["jobs"] for r in rows} == {2}
    assert most[0] == 2  # two at once, never more
    quality.main(["--out", str(out), "--sets", "toy", "--families", "binary", "--seeds", "0", "1", "2", "3",
                  "--recipes", "default", "--jobs", "2", "--label", "j"])
    assert len(quality.load_results(out / "results.jsonl")) == 4  # finished rows are not trained again


def _copy_run(run, tmp_path):
    import shutil

    return shutil.copytree(run, tmp_path / run.name)


def test_tta_rules_photo_alone_reproduces_the_run_and_the_mirror_rescores_both_splits(tiny_binary_run,
                                                                                       tiny_multiclass_run):
    import numpy as np

    from bench.tta_rules import rows_for, summary
    from training.metrics import classification_metrics
    from training.run_io import load_run, load_scores

    binary = rows_for(tiny_binary_run)
    run = load_run(tiny_binary_run)
    # the threshold chosen again on the photo-alone validation scores is the one training chose
    assert binary["alone"]["threshold"] == pytest.approx(run.threshold, abs=1e-6)
    _, labels, scores = load_scores(tiny_binary_run)["test"]
    assert binary["alone"]["f1"] == pytest.approx(classification_metrics(scores, labels, run.threshold, run.classes)["f1"])
    assert binary["mirror"] != binary["alone"]  # the mirrored photos were scored (blobs are not symmetric)

    multi = rows_for(tiny_multiclass_run)
    _, labels, scores = load_scores(tiny_multiclass_run)["test"]
    assert multi["alone"]["accuracy"] == pytest.approx(float(np.mean(np.argmax(scores, axis=1) == labels)))
    assert set(multi["mirror"]) == {"smallest_recall", "smallest_f1", "macro_f1", "pr_auc", "accuracy"}
    table = summary([multi])
    assert "| **mean over sets** | 1 |" in table and f"{multi['alone']['macro_f1']:.3f}" in table


def test_tta_rules_refuses_a_run_whose_model_no_longer_gives_its_saved_scores(tiny_multiclass_run, tmp_path):
    import numpy as np

    from bench.tta_rules import rows_for

    run = _copy_run(tiny_multiclass_run, tmp_path)
    with np.load(run / "scores.npz") as data:
        arrays = {k: data[k] for k in data.files}
    arrays["test_scores"] = arrays["test_scores"][:, ::-1].copy()
    np.savez(run / "scores.npz", **arrays)
    with pytest.raises(SystemExit, match="differ from scores.npz"):
        rows_for(run)


def test_decode_ceiling_times_the_audits_steps_on_real_files_each_giving_what_it_should(tmp_path):
    import hashlib

    import numpy as np

    from bench.decode_ceiling import _per_photo_ms, steps

    folder = write_class_folder(tmp_path / "photos", {"a": 2}, size=(96, 128))
    paths = [str(p) for p in sorted((folder / "a").iterdir())]
    done = {name: step(paths[0]) for name, step in steps(32)}
    assert done["seefood: sha256_of(file)"] == hashlib.sha256(open(paths[0], "rb").read()).hexdigest()
    assert done["seefood: image_size_of (header only)"] == (128, 96)
    assert done["seefood: load_fitted (DCT-scaled decode + crop + resize)"].shape == (32, 32, 3)
    assert done["Pillow full decode (the loop's baseline)"].shape == (96, 128, 3)
    assert np.asarray(done["TensorFlow decode_jpeg full + resize (as image_dataset_from_directory)"]).shape == (32, 32, 3)
    calls = []
    assert _per_photo_ms(calls.append, paths) > 0 and calls == paths * 3  # every photo, every round


def test_tail_rules_measures_every_exponent_from_the_head_as_trained(tmp_path):
    """A run trained with --head-norm 0.5 saves its head divided by norm ** 0.5; bench.tail_rules must put the trained
    lengths back before applying an exponent, so exponent 0.5 re-creates the saved scores and exponent 0 the head as
    trained (dividing the saved head again would give norm ** 0.25)."""
    import numpy as np

    from bench.tail_rules import head_logits, rows_for
    from seefood.cli import main
    from training.run_io import load_run, load_scores

    data = tmp_path / "task"
    write_class_folder(data / "train", {"apple_pie": 16, "baklava": 12, "ribs": 8}, seed=8)
    write_class_folder(data / "test", {"apple_pie": 4, "baklava": 4, "ribs": 4}, seed=9)
    run_dir = tmp_path / "run"
    assert main(["train", str(data), "--out", str(run_dir), "--image-size", "32", "--epochs", "1", "--batch-size", "8",
                 "--augment", "none", "--head-norm", "0.5"]) == 0
    run, saved = load_run(run_dir), load_scores(run_dir)
    offsets = run.raw["tail_adjust"]["offsets"]
    trained_with = np.asarray([offsets[c] for c in run.classes])

    def softmax(logits):
        e = np.exp(logits - logits.max(axis=1, keepdims=True))
        return e / e.sum(axis=1, keepdims=True)

    both = head_logits(run, saved, trained_with, (0.5, 0.0))  # one pass through the model for both exponents
    again, as_trained = both[0.5], both[0.0]
    for split in ("val", "test"):
        assert softmax(again[split] + trained_with) == pytest.approx(saved[split][2], abs=1e-4)
    assert not np.allclose(as_trained["test"], again["test"], atol=1e-3)  # the undone head really differs
    alone = head_logits(run, saved, trained_with, (0.0,))[0.0]  # each exponent starts from the head as trained
    assert as_trained["test"] == pytest.approx(alone["test"], abs=1e-5)
    rows = {r["head_norm"]: r for r in rows_for(run_dir, (0.75,), (0.0, 0.5))}
    predicted = np.argmax(saved["test"][2], axis=1)
    assert rows[0.5]["test"]["accuracy"] == pytest.approx(float(np.mean(predicted == saved["test"][1])))


def test_centroid_rules_finds_a_three_photo_class_whatever_offset_the_features_share():
    """Features that share a large component along the very direction that tells two classes apart (ReLU
    features share one) decide the same as without it: centring takes it out before the scaling to unit
    length, which would otherwise flatten that direction. A class of 3 photos is found as readily as one of 50."""
    import numpy as np

    from bench.centroid_rules import nearest_centroid

    rng = np.random.default_rng(0)
    signals = np.zeros((3, 8))
    signals[0, 0], signals[1, 0], signals[2, 1] = 3.0, -3.0, 3.0  # classes 0 and 1 differ along axis 0 only

    def photos(c: int, n: int) -> np.ndarray:
        return signals[c] + rng.normal(0, 0.5, (n, 8))

    counts = (50, 20, 3)
    train = np.concatenate([photos(c, n) for c, n in enumerate(counts)])
    labels = np.concatenate([np.full(n, c) for c, n in enumerate(counts)])
    test = np.concatenate([photos(c, 20) for c in range(3)])
    expected = [c for c in range(3) for _ in range(20)]
    offset = np.zeros(8)
    offset[0] = 1000.0
    for shift in (0.0, 1.0):
        pred = nearest_centroid(train + shift * offset, labels, 3, {"test": test + shift * offset})["test"]
        assert pred.tolist() == expected
