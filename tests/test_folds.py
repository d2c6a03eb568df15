"""Out-of-fold threshold (--threshold-folds) and mixup (--mixup): the fold split, the blend, and a
tiny run that chooses its threshold on out-of-fold scores end to end."""

from __future__ import annotations

import json
import shutil

import numpy as np
import pytest

from conftest import write_class_folder
from training.folds import assign_folds, usable_folds


def test_folds_are_stratified_balanced_and_seeded():
    targets = [0] * 40 + [1] * 7
    folds = assign_folds(targets, 3, seed=5)
    assert sorted(set(folds.tolist())) == [0, 1, 2]
    for cls, n in ((0, 40), (1, 7)):
        per_fold = np.bincount(folds[np.asarray(targets) == cls], minlength=3)
        assert per_fold.max() - per_fold.min() <= 1 and per_fold.sum() == n  # every class dealt evenly
    sizes = np.bincount(folds, minlength=3)
    assert sizes.max() - sizes.min() <= 1  # the classes' remainders do not pile up in fold 0
    assert np.array_equal(folds, assign_folds(targets, 3, seed=5))
    assert not np.array_equal(folds, assign_folds(targets, 3, seed=6))


def test_folds_shrink_to_the_smallest_class():
    assert usable_folds([0] * 30 + [1] * 5, 3) == 3
    assert usable_folds([0] * 30 + [1] * 2, 5) == 2
    assert usable_folds([0] * 30 + [1], 3) == 1  # the caller falls back to the validation split


def test_bad_fold_counts_are_refused():
    from training.config import TrainConfig

    for bad in (1, -1, 11):
        with pytest.raises(ValueError, match="--threshold-folds"):
            TrainConfig(data_dir="d", out="o", threshold_folds=bad)
    with pytest.raises(ValueError, match="--mixup"):
        TrainConfig(data_dir="d", out="o", mixup=-0.1)
    with pytest.raises(ValueError, match="--cutmix"):
        TrainConfig(data_dir="d", out="o", cutmix=11)
    with pytest.raises(ValueError, match="choose one"):
        TrainConfig(data_dir="d", out="o", mixup=0.4, cutmix=1.0)


def test_mixup_blends_photos_targets_and_weights_of_the_same_batch():
    import tensorflow as tf

    from training.pipeline import _mixup_op

    values = np.array([0, 60, 120, 180, 240, 250], np.uint8)
    images = np.stack([np.full((4, 4, 3), v, np.uint8) for v in values])
    targets = np.array([[0.0], [1.0], [0.0], [1.0], [0.0], [1.0]], np.float32)
    weights = np.array([1.0, 4.0, 1.0, 4.0, 1.0, 4.0], np.float32)
    ds = tf.data.Dataset.from_tensors((images, targets, weights)).repeat(4).enumerate()
    batches = [tuple(t.numpy() for t in b) for b in ds.map(_mixup_op(0.4, seed=3))]
    again = [tuple(t.numpy() for t in b) for b in ds.map(_mixup_op(0.4, seed=3))]
    assert all(np.array_equal(a, b) for x, y in zip(batches, again) for a, b in zip(x, y))  # seeded
    assert not np.array_equal(batches[0][1], batches[1][1])  # each batch gets new pairs
    blended = 0
    for mixed, soft, w in batches:
        assert mixed.dtype == np.uint8 and mixed.shape == images.shape
        lam_from_target = soft[:, 0]
        assert np.all((lam_from_target >= 0) & (lam_from_target <= 1))
        # each weight is the same blend of two weights as its target of two targets: w = 1 + 3 * target
        np.testing.assert_allclose(w, 1.0 + 3.0 * lam_from_target, atol=1e-5)
        assert mixed.min() >= values.min() and mixed.max() <= values.max()
        blended += int(np.sum((lam_from_target > 0.05) & (lam_from_target < 0.95)))
    assert blended > 0  # some photos really are mixtures, not just copies


def test_cutmix_pastes_one_box_of_a_partner_and_blends_targets_and_weights_by_its_area():
    import tensorflow as tf

    from training.pipeline import _cutmix_op

    n = 8
    values = np.arange(n, dtype=np.uint8) * 30
    images = np.stack([np.full((16, 12, 3), v, np.uint8) for v in values])
    targets = np.eye(n, dtype=np.float32)
    weights = np.arange(1, n + 1, dtype=np.float32)
    ds = tf.data.Dataset.from_tensors((images, targets, weights)).repeat(6).enumerate()
    batches = [tuple(t.numpy() for t in b) for b in ds.map(_cutmix_op(1.0, seed=5))]
    again = [tuple(t.numpy() for t in b) for b in ds.map(_cutmix_op(1.0, seed=5))]
    assert all(np.array_equal(a, b) for x, y in zip(batches, again) for a, b in zip(x, y))  # seeded
    untouched = pasted = 0
    for mixed, soft, w in batches:
        assert mixed.dtype == np.uint8 and mixed.shape == images.shape
        for i in range(n):
            own = mixed[i, :, :, 0] == values[i]
            np.testing.assert_allclose(soft[i, i], own.mean(), atol=1e-6)  # the target is the area share
            if own.all():
                untouched += 1
                assert soft[i, i] == pytest.approx(1.0) and w[i] == pytest.approx(weights[i])  # or its own partner
                continue
            (partner,) = {int(v) // 30 for v in np.unique(mixed[i, :, :, 0][~own])}  # one partner only
            assert partner != i
            np.testing.assert_allclose(soft[i, partner], 1.0 - own.mean(), atol=1e-6)
            np.testing.assert_allclose(w[i], soft[i, i] * weights[i] + soft[i, partner] * weights[partner], rtol=1e-5)
            rows, cols = np.nonzero(~own)  # the partner's pixels fill one box
            box = np.zeros_like(own)
            box[rows.min():rows.max() + 1, cols.min():cols.max() + 1] = True
            assert np.array_equal(box, ~own)
            pasted += 1
    assert untouched > 0 and pasted > 0  # about half of the photos get a box


@pytest.fixture(scope="module")
def folds_run(tmp_path_factory):
    from training.config import TrainConfig
    from training.train import train

    root = tmp_path_factory.mktemp("folds")
    data = write_class_folder(root / "data", {"hotdog": 20, "not_hotdog": 80}, seed=4)
    cfg = TrainConfig(data_dir=str(data), out=str(root / "run"), image_size=32, epochs=3, batch_size=8,
                      val_fraction=0.2, test_fraction=0.2, augment="none", threshold_folds=2, mixup=0.2)
    return train(cfg)


def test_the_threshold_is_chosen_on_out_of_fold_scores(folds_run, capsys):
    from training.run_io import load_out_of_fold, load_run
    from training.threshold import choose_threshold

    run = load_run(folds_run)
    pooled = load_out_of_fold(folds_run)
    train_val = run.splits["train"] + run.splits["val"]
    assert pooled["folds"] == 2 and len(pooled["scores"]) == len(train_val)
    assert list(pooled["labels"]) == [t for _, t in train_val]
    assert np.all((pooled["scores"] >= 0) & (pooled["scores"] <= 1))
    assert run.threshold == pytest.approx(
        choose_threshold(pooled["scores"], pooled["labels"], "f1", prior=run.prior).threshold)
    chosen_on = run.raw["threshold_chosen_on"]
    assert chosen_on["scores"] == "out_of_fold" and chosen_on["photos"] == len(train_val)
    assert chosen_on["positives"] == int(pooled["labels"].sum())
    assert chosen_on["validation_positives"] == sum(t for _, t in run.splits["val"])
    metrics = json.loads((folds_run / "metrics.json").read_text())
    assert metrics["threshold"]["chosen_on"] == chosen_on
    report = (folds_run / "report.md").read_text()
    assert f"out-of-fold scores of {len(train_val)} train+val photos" in report
    assert "The validation split alone" in report
    config = json.loads((folds_run / "config.json").read_text())
    assert config["threshold_folds"] == 2 and config["mixup"] == 0.2
    from seefood.ownership import foreign_entries

    assert foreign_entries(folds_run, "run") == []  # so `train --force` may replace it


def test_retuning_a_folds_run_chooses_on_its_out_of_fold_scores(folds_run, tmp_path):
    from seefood.cli import main
    from training.run_io import load_out_of_fold
    from training.threshold import choose_threshold

    run = tmp_path / "run"
    shutil.copytree(folds_run, run)
    assert main(["evaluate", str(run), "--threshold-objective", "recall>=0.9"]) == 0
    after = json.loads((run / "run.json").read_text())
    pooled = load_out_of_fold(run)
    assert after["threshold"] == pytest.approx(
        choose_threshold(pooled["scores"], pooled["labels"], "recall>=0.9", prior=0.5).threshold)
    assert after["threshold_chosen_on"]["scores"] == "out_of_fold"


def test_damaged_out_of_fold_scores_are_named(folds_run, tmp_path):
    from training.run_io import RunError, load_out_of_fold

    run = tmp_path / "run"
    shutil.copytree(folds_run, run)
    data = json.loads((run / "out_of_fold.json").read_text())
    data["scores"] = data["scores"][:-1]
    (run / "out_of_fold.json").write_text(json.dumps(data))
    with pytest.raises(RunError, match="out_of_fold.json"):
        load_out_of_fold(run)
