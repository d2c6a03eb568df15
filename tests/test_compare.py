"""``seefood compare`` end to end on a tiny generated imbalanced folder, and its recommendation rule."""

from __future__ import annotations

import json
import shlex

import pytest
from PIL import Image

from seefood.cli import build_parser, main
from seefood.errors import SeeFoodError
from training.compare import CompareConfig, recommend, summarise

STRATEGIES = ["class_weight", "oversample+augment"]


def test_compare_writes_table_plot_and_a_runnable_train_command(make_folder, tmp_path, capsys):
    data = make_folder({"hotdog": 12, "not_hotdog": 60})
    out = tmp_path / "cmp"
    code = main(["compare", str(data), "--out", str(out), "--strategies", *STRATEGIES, "--repeats", "1",
                 "--epochs", "1", "--image-size", "32", "--batch-size", "16"])
    assert code == 0
    printed = capsys.readouterr().out.strip().splitlines()

    result = json.loads((out / "compare.json").read_text())
    assert list(result["summary"]) == STRATEGIES
    assert result["minority_class"] == "hotdog"
    for name in STRATEGIES:
        stats = result["summary"][name]
        for metric in ("precision_0.5", "recall_0.5", "f1_0.5", "precision_tuned", "recall_tuned", "f1_tuned",
                       "pr_auc", "balanced_accuracy", "train_seconds"):
            assert stats[metric]["n"] == 1 and 0 <= stats[metric]["mean"], (name, metric)
        assert (out / "runs" / f"{name}-r0" / "metrics.json").is_file()
    rec = result["recommendation"]
    assert rec["strategy"] in STRATEGIES and rec["reason"]

    md = (out / "compare.md").read_text()
    assert md.splitlines()[3].startswith("seefood compare ")  # the exact command at the top
    for name in STRATEGIES:
        assert f"| `{name}`" in md
    assert f"## Recommendation: `{rec['strategy']}`" in md
    assert (out / "compare_pr.png").stat().st_size > 1000

    # The last printed line is the seefood train command; it parses and sets the recommended recipe.
    command = printed[-1]
    assert command == rec["command"]
    argv = shlex.split(command)
    assert argv[:2] == ["seefood", "train"]
    args = build_parser().parse_args(argv[1:])
    strategy = result["strategies"][rec["strategy"]]
    assert (args.balance, args.augment, args.loss) == (strategy["balance"], strategy["augment"], strategy["loss"])
    assert args.data_dir == str(data) and args.image_size == 32 and args.epochs == 1

    # Each run's scores were saved once by evaluate_run (scores.npz) and the comparison read them:
    # the saved test scores are the run's test photos, in order, and the ones its metrics counted.
    from training.run_io import load_run, load_scores

    run_dir = out / "runs" / f"{STRATEGIES[0]}-r0"
    saved = load_scores(run_dir)
    run = load_run(run_dir)
    assert set(saved) == {"val", "test"} and not (run_dir / "test_scores.npz").exists()
    paths, labels, scores = saved["test"]
    assert paths == [p for p, _ in run.splits["test"]] and labels.tolist() == [t for _, t in run.splits["test"]]
    metrics = json.loads((run_dir / "metrics.json").read_text())
    assert metrics["splits"]["test"]["at_threshold"]["n"] == len(scores) == result["split_size"]

    # All runs share one split: the split seed is fixed while the model seed varies per repeat.
    splits = {name: (out / "runs" / f"{name}-r0" / "splits.json").read_text() for name in STRATEGIES}
    assert len(set(splits.values())) == 1

    # Run again: finished runs are reused; once the folder changes they are trained again, not reused.
    argv = ["compare", str(data), "--out", str(out), "--strategies", *STRATEGIES, "--repeats", "1",
            "--epochs", "1", "--image-size", "32", "--batch-size", "16"]
    assert main(argv) == 0
    assert capsys.readouterr().out.count("reusing finished run") == 2
    photo = sorted((data / "hotdog").iterdir())[0]
    with Image.open(photo) as image:
        flipped = image.transpose(Image.Transpose.FLIP_TOP_BOTTOM)
    flipped.save(data / "hotdog" / f"new-{photo.name}")  # a photo added after the comparison
    assert main(argv) == 0
    printed = capsys.readouterr().out
    assert "reusing finished run" not in printed
    assert printed.count("retraining: the data folder changed since it was trained") == 2


def _summary(**f1_and_pr):
    return {name: {"f1_tuned": summarise(f1), "pr_auc": summarise(pr)} for name, (f1, pr) in f1_and_pr.items()}


def test_recommendation_prefers_f1_then_pr_auc_within_a_tie():
    clear = _summary(a=([0.60, 0.62], [0.7, 0.7]), b=([0.80, 0.82], [0.6, 0.6]))
    assert recommend(clear)[0] == "b"
    tied = _summary(a=([0.805, 0.805], [0.9, 0.9]), b=([0.81, 0.81], [0.6, 0.6]))
    name, reason = recommend(tied)
    assert name == "a" and "PR-AUC" in reason


def test_unknown_strategy_is_refused():
    with pytest.raises(ValueError, match="unknown strategy"):
        CompareConfig(data_dir="d", out="o", strategies=["oversample", "smote"])


def test_scores_file_round_trips_and_its_absence_names_the_fix(tmp_path):
    import numpy as np

    from training.run_io import load_scores, save_scores

    with pytest.raises(SeeFoodError, match="seefood evaluate"):
        load_scores(tmp_path)
    save_scores(tmp_path, {"val": (["a.jpg", "b.jpg"], np.array([0, 1]), np.array([0.2, 0.9])),
                           "test": (["c.jpg"], np.array([2]), np.array([[0.1, 0.2, 0.7]]))})
    loaded = load_scores(tmp_path)
    assert loaded["val"][0] == ["a.jpg", "b.jpg"] and loaded["val"][1].tolist() == [0, 1]
    assert loaded["test"][2].shape == (1, 3) and loaded["test"][2][0, 2] == pytest.approx(0.7)
    assert [p.name for p in tmp_path.iterdir()] == ["scores.npz"]  # no temporary file left behind
    (tmp_path / "scores.npz").write_bytes(b"not a zip")
    with pytest.raises(SeeFoodError, match="cannot be read"):
        load_scores(tmp_path)
