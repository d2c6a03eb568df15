"""Audit, split stability, task definition, and the errors people hit first."""

from __future__ import annotations

import shutil

import pytest
from PIL import Image

from conftest import write_class_folder
from training.audit import build_audit, check_splittable, format_audit
from training.dataset import DataError, discover
from training.task import define_task


def test_audit_names_every_awkward_file(tmp_path):
    data = write_class_folder(tmp_path / "data", {"hotdog": 12, "not_hotdog": 40})
    (data / "hotdog" / ".DS_Store").write_bytes(b"\0\0")
    (data / "hotdog" / "Thumbs.db").write_bytes(b"\0")
    (data / "not_hotdog" / "notes.txt").write_text("shopping list")
    (data / "not_hotdog" / "clip.mov").write_bytes(b"\0" * 10)
    (data / "hotdog" / "broken.jpg").write_bytes(b"\xff\xd8\xff garbage")
    truncated = (data / "hotdog" / "hotdog_0_0.jpg").read_bytes()[:200]
    (data / "hotdog" / "truncated.jpg").write_bytes(truncated)
    Image.new("RGB", (12, 12)).save(data / "hotdog" / "tiny.png")
    shutil.copy(data / "not_hotdog" / "not_hotdog_0_1.jpg", data / "not_hotdog" / "copy.jpg")
    shutil.copy(data / "not_hotdog" / "not_hotdog_0_2.jpg", data / "hotdog" / "mislabelled.jpg")
    (data / "stray.jpg").write_bytes(b"x")

    inv = discover(data)
    task = define_task(inv.folder_classes, {"hotdog": 12, "not_hotdog": 40}, None)
    audit = build_audit(inv, task)
    unreadable = {p["path"].rsplit("/", 1)[-1] for p in audit["unreadable"]}
    assert unreadable == {"broken.jpg", "truncated.jpg"}
    assert [p["path"].rsplit("/", 1)[-1] for p in audit["too_small"]] == ["tiny.png"]
    ignored = {p["path"].rsplit("/", 1)[-1] for p in audit["ignored"]}
    assert {".DS_Store", "Thumbs.db", "notes.txt", "clip.mov", "stray.jpg"} <= ignored
    assert len(audit["duplicates"]) == 1
    pair = {audit["duplicates"][0][k].rsplit("/", 1)[-1] for k in ("path", "same_as")}
    assert pair == {"copy.jpg", "not_hotdog_0_1.jpg"}
    assert len(audit["label_conflicts"]) == 1
    used = {e.path.rsplit("/", 1)[-1] for e in inv.examples}
    assert "mislabelled.jpg" not in used and "not_hotdog_0_2.jpg" not in used  # conflicting pair kept out
    assert sum(sum(v.values()) for v in audit["class_counts"].values()) == len(inv.examples) == 12 + 40 - 1  # the copy kept once; the conflicting original out
    text = format_audit(audit)
    assert "broken.jpg" in text and "2 unreadable files skipped" in text
    assert "imbalance" in text and "useless" in text  # accuracy-lies warning at 3.3:1


def test_leakage_across_explicit_splits_is_reported(tmp_path):
    write_class_folder(tmp_path / "d" / "train", {"a": 10, "b": 10})
    write_class_folder(tmp_path / "d" / "test", {"a": 3, "b": 3}, seed=5)
    shutil.copy(tmp_path / "d" / "train" / "a" / "a_0_0.jpg", tmp_path / "d" / "test" / "a" / "leak.jpg")
    inv = discover(tmp_path / "d")
    assert inv.layout == "split"
    assert len(inv.leakage) == 1 and inv.leakage[0]["path"].endswith("leak.jpg")
    splits = {e.split for e in inv.examples}
    assert splits == {"train", "val", "test"}  # val carved from train/


def test_split_is_stable_when_photos_are_added(tmp_path):
    data = write_class_folder(tmp_path / "data", {"hotdog": 30, "not_hotdog": 90})
    before = {e.sha256: e.split for e in discover(data).examples}
    write_class_folder(tmp_path / "data", {"hotdog": 25, "not_hotdog": 60}, seed=7)  # new photos
    after = {e.sha256: e.split for e in discover(data).examples}
    assert len(after) == len(before) + 85
    for sha, split in before.items():
        assert after[sha] == split  # no photo changes split, so none moves from val/test into train
    held_out = [s for s in after.values() if s != "train"]
    assert 0.15 < len(held_out) / len(after) < 0.45


def test_positive_merges_other_classes(tmp_path):
    data = write_class_folder(tmp_path / "data", {"apple_pie": 10, "baklava": 10, "ribs": 5})
    inv = discover(data)
    task = define_task(inv.folder_classes, {"apple_pie": 7, "baklava": 7, "ribs": 3}, "ribs")
    assert task.kind == "binary" and task.classes == ["not_ribs", "ribs"] and task.labels == ["ribs"]
    assert task.class_map == {"apple_pie": 0, "baklava": 0, "ribs": 1}
    audit = build_audit(inv, task)
    assert sum(audit["class_counts"]["not_ribs"].values()) == 20
    multi = define_task(inv.folder_classes, {}, None)
    assert multi.kind == "multiclass" and multi.num_outputs == 3


def test_two_classes_default_to_minority_positive():
    task = define_task(["hotdog", "not_hotdog"], {"hotdog": 10, "not_hotdog": 70}, None)
    assert task.positive == "hotdog" and task.classes == ["not_hotdog", "hotdog"]
    task = define_task(["cats", "dogs"], {"cats": 70, "dogs": 10}, None)
    assert task.positive == "dogs"


def test_errors_name_the_path_and_the_fix(tmp_path):
    with pytest.raises(DataError, match="no such folder"):
        discover(tmp_path / "missing")
    write_class_folder(tmp_path / "one", {"hotdog": 5})
    with pytest.raises(DataError) as info:
        discover(tmp_path / "one")
    assert "negative class" in str(info.value) and "not_hotdog" in str(info.value)
    (tmp_path / "empty" / "a").mkdir(parents=True)
    (tmp_path / "empty" / "b").mkdir(parents=True)
    (tmp_path / "empty" / "a" / "x.txt").write_text("x")
    with pytest.raises(DataError, match="no readable images"):
        discover(tmp_path / "empty")
    data = write_class_folder(tmp_path / "few", {"hotdog": 1, "not_hotdog": 40})
    inv = discover(data)
    task = define_task(inv.folder_classes, {"hotdog": 1, "not_hotdog": 40}, None)
    with pytest.raises(DataError, match="too few to split"):
        check_splittable(build_audit(inv, task))


def _audit(inv):
    counts = {c: 0 for c in inv.folder_classes}
    for ex in inv.examples:
        counts[ex.folder_class] += ex.split == "train"
    return build_audit(inv, define_task(inv.folder_classes, counts, None))


def test_a_class_with_no_validation_photo_lends_its_closest_training_photo(tmp_path):
    """14 photos at 15% validation: about 1 seed in 10 puts none of them in validation. Rather than
    refuse to train, the class lends validation the training photo whose hash lies closest to the cut."""
    from training.dataset import hash_position, split_for

    data = write_class_folder(tmp_path / "data", {"hotdog": 14, "not_hotdog": 60}, seed=3)
    for seed in range(300):
        inv = discover(data, seed=seed)
        if inv.lent_to_val:
            break
    else:
        pytest.fail("no seed in 300 left the 14 hotdogs without a validation photo")
    hotdogs = [e for e in inv.examples if e.folder_class == "hotdog"]
    natural = {e.path: split_for(e.sha256, seed, 0.15, 0.15) for e in hotdogs}
    assert "val" not in natural.values()  # the hash alone gave them none
    lent = [e for e in hotdogs if e.split == "val"]
    assert len(lent) == 1 and inv.lent_to_val[0]["path"] == lent[0].path and inv.lent_to_val[0]["class"] == "hotdog"
    training = [e for e in hotdogs if natural[e.path] == "train"]
    assert lent[0].sha256 == min(training, key=lambda e: hash_position(e.sha256, seed)).sha256
    audit = _audit(inv)
    check_splittable(audit)  # trainable now
    assert "training photo(s) lent to validation" in format_audit(audit)
    assert not discover(data, seed=seed, val_fraction=0.0).lent_to_val  # no validation asked for, none lent


def test_too_few_photos_to_lend_are_still_refused_naming_the_train_folder(tmp_path):
    data = write_class_folder(tmp_path / "data" / "train", {"hotdog": 2, "not_hotdog": 40}, seed=4)
    for seed in range(300):
        inv = discover(tmp_path / "data", seed=seed)
        if not any(e.split == "val" and e.folder_class == "hotdog" for e in inv.examples):
            break
    assert not inv.lent_to_val
    with pytest.raises(DataError, match=r"none landed in the val split.*data/train/hotdog/"):
        check_splittable(_audit(inv))
    assert data.name == "train"
