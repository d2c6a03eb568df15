"""Each rebalancing strategy changes what the model is trained on, visibly and measurably."""

from __future__ import annotations

import numpy as np
import pytest

from training.balance import initial_bias, plan_balance

COUNTS = [80, 10]  # not_hotdog, hotdog


def test_strategies_change_the_effective_mix():
    none = plan_balance("none", COUNTS)
    assert none.effective_mix == pytest.approx([80 / 90, 10 / 90])
    for strategy in ("class_weight", "oversample", "oversample+class_weight"):
        plan = plan_balance(strategy, COUNTS)
        assert plan.effective_mix == pytest.approx([0.5, 0.5]), strategy
    assert plan_balance("class_weight", COUNTS).sampling_mix == pytest.approx(none.raw_mix)
    assert plan_balance("oversample", COUNTS).class_weights == [1.0, 1.0]
    combined = plan_balance("oversample+class_weight", COUNTS)
    assert none.sampling_mix[1] < combined.sampling_mix[1] < 0.5  # oversampled halfway
    assert combined.class_weights[1] > combined.class_weights[0]


def test_initial_bias_matches_prior():
    plan = plan_balance("none", COUNTS)
    (bias,) = initial_bias(plan, binary=True)
    assert 1 / (1 + np.exp(-bias)) == pytest.approx(10 / 90)
    assert initial_bias(plan_balance("oversample", COUNTS), binary=True) == pytest.approx([0.0])


@pytest.mark.parametrize("strategy,expected_positive_share", [("none", 0.2), ("oversample", 0.5)])
def test_pipeline_draws_the_planned_mix(tmp_path, strategy, expected_positive_share):
    from conftest import write_class_folder
    from training.pipeline import training_dataset

    data = write_class_folder(tmp_path / "d", {"neg": 40, "pos": 10}, size=(16, 16))
    paths = sorted(str(p) for p in (data / "neg").glob("*.jpg")) + sorted(str(p) for p in (data / "pos").glob("*.jpg"))
    targets = [0] * 40 + [1] * 10
    plan = plan_balance(strategy, [40, 10])
    ds, steps = training_dataset(paths, targets, 16, 1, True, plan, batch_size=10, seed=3)
    assert steps == 5
    labels = np.concatenate([y.numpy().reshape(-1) for x, y, *_ in ds.take(60)])
    assert abs(labels.mean() - expected_positive_share) < 0.06


def test_class_weights_travel_as_sample_weights(tmp_path):
    from conftest import write_class_folder
    from training.pipeline import training_dataset

    data = write_class_folder(tmp_path / "d", {"neg": 12, "pos": 4}, size=(16, 16))
    paths = [str(p) for p in sorted((data / "neg").glob("*.jpg"))] + [str(p) for p in sorted((data / "pos").glob("*.jpg"))]
    plan = plan_balance("class_weight", [12, 4])
    ds, _ = training_dataset(paths, [0] * 12 + [1] * 4, 16, 1, True, plan, batch_size=16, seed=0)
    x, y, w = next(iter(ds))
    y, w = y.numpy().reshape(-1), w.numpy()
    assert x.dtype.name == "uint8" and x.shape[1:] == (16, 16, 3)
    assert np.allclose(w[y == 1], 16 / 8) and np.allclose(w[y == 0], 16 / 24)


def test_logit_adjustment_draws_photos_as_they_are_and_demands_a_margin_for_rare_classes():
    import keras

    from training.balance import plan_balance
    from training.keras_metrics import LogitAdjustedCrossentropy

    plan = plan_balance("logit_adjust", [90, 10])
    assert plan.sampling_mix == pytest.approx([0.9, 0.1]) and plan.class_weights == [1.0, 1.0]
    assert plan.effective_mix == pytest.approx([0.5, 0.5]) and plan.logit_adjusted and not plan.oversample
    y = np.array([[0.0, 1.0]], dtype="float32")
    unsure = np.array([[0.5, 0.5]], dtype="float32")
    plain = float(keras.losses.categorical_crossentropy(y, unsure))
    uniform = float(LogitAdjustedCrossentropy([0.5, 0.5], binary=False)(y, unsure))
    assert uniform == pytest.approx(plain, rel=1e-4)  # no prior to adjust for: plain cross-entropy
    rare = float(LogitAdjustedCrossentropy([0.9, 0.1], binary=False)(y, unsure))
    assert rare > plain + 1.0  # a 50/50 answer for a rare-class photo is penalised: log(9) more or less
    binary = float(LogitAdjustedCrossentropy([0.9, 0.1], binary=True)(np.array([[1.0]]), np.array([[0.5]])))
    assert binary == pytest.approx(np.log1p(9.0), rel=1e-3)


def test_label_smoothing_stops_rewarding_a_memorised_photo_past_its_target_and_leaves_binary_alone():
    """Multi-class: with smoothing s over K classes the loss is lowest at p(true) = 1 - s + s/K, so a photo
    seen again and again cannot keep pushing its own logit up. Binary tasks ignore the option."""
    from training.fitting import loss_for
    from training.keras_metrics import LogitAdjustedCrossentropy

    y = np.array([[0.0, 1.0, 0.0]], dtype="float32")

    def scores(p_true):
        rest = (1.0 - p_true) / 2
        return np.array([[rest, p_true, rest]], dtype="float32")

    smoothed, hard = loss_for("crossentropy", binary=False, label_smoothing=0.1), loss_for("crossentropy", binary=False)
    target = 1 - 0.1 + 0.1 / 3
    assert float(smoothed(y, scores(target))) < float(smoothed(y, scores(0.999))) - 0.05  # sure-er is now worse
    assert float(hard(y, scores(0.999))) < float(hard(y, scores(target)))  # without smoothing it is better
    for p_true in (0.5, target, 0.99):  # the logit-adjusted loss smooths alike (uniform priors: plain CE)
        adjusted = LogitAdjustedCrossentropy([1 / 3] * 3, binary=False, label_smoothing=0.1)
        assert float(adjusted(y, scores(p_true))) == pytest.approx(float(smoothed(y, scores(p_true))), rel=1e-4)
    focal = loss_for("focal", binary=False, label_smoothing=0.1)
    assert float(focal(y, scores(0.999))) > float(loss_for("focal", binary=False)(y, scores(0.999)))
    yb, pb = np.array([[1.0]], dtype="float32"), np.array([[0.999]], dtype="float32")
    assert float(loss_for("crossentropy", binary=True, label_smoothing=0.1)(yb, pb)) == pytest.approx(
        float(loss_for("crossentropy", binary=True)(yb, pb)))
    assert LogitAdjustedCrossentropy([0.9, 0.1], binary=True, label_smoothing=0.1).label_smoothing == 0.0


def test_label_smoothing_out_of_range_is_refused_with_the_option_named():
    from seefood.errors import InputError
    from training.config import TrainConfig

    for bad in (-0.1, 0.5, 1.0):
        with pytest.raises(InputError, match="--label-smoothing"):
            TrainConfig(data_dir="photos", out="run", label_smoothing=bad)


def test_tail_offsets_give_smaller_classes_a_head_start_in_proportion_to_log_counts():
    from training.balance import describe_tail_adjust, tail_offsets

    counts = [240, 60, 15]
    assert tail_offsets(counts, 0.0) == [0.0, 0.0, 0.0]  # off: the decision as trained
    offsets = tail_offsets(counts, 0.5)
    assert offsets == pytest.approx([0.0, 0.5 * np.log(4), 0.5 * np.log(16)])  # 15 photos: +1.39, 60: +0.69
    assert tail_offsets(counts, 1.0) == pytest.approx([2 * o for o in offsets])
    with pytest.raises(ValueError):
        tail_offsets([10, 0], 0.5)
    line = describe_tail_adjust({"tau": 0.5, "offsets": dict(zip("abc", offsets)), "train_counts": dict(zip("abc", counts))})
    assert "c +1.39 (15 photos)" in line and line.index("c +1.39") < line.index("b +0.69") and "a +" not in line
    off = describe_tail_adjust({"tau": 0.0})
    assert "no head start" in off and "--tail-adjust 0;" in off and "recall +0.08 to +0.14" in off and "accuracy" in off  # the lever and its price


def test_deferred_plan_learns_from_the_natural_mix_first_then_rebalances():
    from training.balance import defer_epoch

    plan = plan_balance("deferred", [80, 20, 10])
    later = plan_balance("oversample+class_weight", [80, 20, 10])
    assert plan.deferred and plan.oversample
    assert (plan.sampling_mix, plan.class_weights, plan.effective_mix) == \
        (later.sampling_mix, later.class_weights, later.effective_mix)  # after the switch: the default's mix
    natural = plan.natural_plan()
    assert natural.sampling_mix == pytest.approx([80 / 110, 20 / 110, 10 / 110]) and natural.class_weights == [1.0] * 3
    assert np.exp(initial_bias(plan, binary=False)) == pytest.approx(natural.raw_mix)  # starts calibrated to what it sees
    assert [defer_epoch(n) for n in (1, 2, 3, 30, 45)] == [1, 1, 2, 20, 30]


def test_deferred_fit_trains_on_the_natural_stream_then_the_balanced_one():
    from types import SimpleNamespace

    from training.fitting import deferred_fit

    calls = []

    def fit_on(ds, epochs, initial_epoch=0):
        calls.append((ds, initial_epoch, epochs))
        return SimpleNamespace(history={"loss": [float(e) for e in range(initial_epoch, epochs)]})

    history = deferred_fit(fit_on, "natural", "balanced", 20)(epochs=30).history
    assert calls == [("natural", 0, 20), ("balanced", 20, 30)] and history["loss"] == [float(e) for e in range(30)]
    calls.clear()
    deferred_fit(fit_on, "natural", "balanced", 20)(epochs=30, initial_epoch=25)  # a later phase: balanced only
    assert calls == [("balanced", 25, 30)]


def test_the_run_and_its_threshold_folds_choose_their_fit_by_the_plan():
    from types import SimpleNamespace

    from training.fitting import fit_for_plan

    calls, built = [], []

    def fit_on(ds, epochs, initial_epoch=0):
        calls.append((ds, initial_epoch, epochs))
        return SimpleNamespace(history={"loss": [0.0] * (epochs - initial_epoch)})

    def natural(plan):
        built.append(plan.strategy)
        return "natural"

    fit, switch = fit_for_plan(fit_on, "balanced", plan_balance("oversample+class_weight", [80, 10]), 30, natural)
    fit(epochs=30)
    assert switch is None and built == [] and calls == [("balanced", 0, 30)]  # no second stream is built
    calls.clear()
    fit, switch = fit_for_plan(fit_on, "balanced", plan_balance("deferred", [80, 10]), 30, natural)
    fit(epochs=30)
    assert switch == 20 and built == ["none"] and calls == [("natural", 0, 20), ("balanced", 20, 30)]
