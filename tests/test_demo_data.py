"""The built-in demo dataset: counts, imbalance, determinism, the video, and no silent overwrite."""

from __future__ import annotations

import hashlib
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from demogen import data as demo_data
from seefood.cli import main

SCALE = 0.1  # 7 + 42 train, 2 + 14 test: enough to check the layout, quick to write


def _digests(root: Path) -> dict[str, str]:
    return {
        str(p.relative_to(root)): hashlib.sha256(p.read_bytes()).hexdigest()
        for p in sorted(root.rglob("*")) if p.is_file()
    }


@pytest.fixture(scope="module")
def small(tmp_path_factory) -> Path:
    root = tmp_path_factory.mktemp("demo") / "data"
    demo_data.generate(root, seed=3, scale=SCALE)
    return root


def test_default_counts_are_imbalanced_one_to_six():
    counts = demo_data.split_counts(1.0)
    assert counts["train"] == {"hotdog": 70, "not_hotdog": 420}
    for split in ("train", "test"):
        ratio = counts[split]["not_hotdog"] / counts[split]["hotdog"]
        assert 5.0 <= ratio <= 7.0, (split, ratio)
    assert counts["test"]["hotdog"] >= 20  # enough held-out hot dogs to measure recall


def test_layout_counts_and_image_sizes(small):
    expected = demo_data.split_counts(SCALE)
    for split, per_class in expected.items():
        for cls, n in per_class.items():
            files = sorted((small / split / cls).glob("*.jpg"))
            assert len(files) == n, (split, cls)
            with Image.open(files[0]) as image:
                assert image.format == "JPEG" and image.mode == "RGB"
                assert image.size == (demo_data.IMAGE_SIZE, demo_data.IMAGE_SIZE)
    assert sorted(p.name for p in small.iterdir()) == sorted(
        ["train", "test", demo_data.VIDEO_NAME, demo_data.README_NAME, demo_data.MARKER_NAME])
    assert "1:6" in (small / demo_data.README_NAME).read_text()
    assert demo_data.is_demo_data(small, seed=3)
    assert not demo_data.is_demo_data(small, seed=4)


def test_not_hotdog_mixes_every_other_dish(small):
    names = [p.name for p in (small / "train" / "not_hotdog").glob("*.jpg")]
    kinds = {name.rsplit("_", 1)[0] for name in names}
    assert kinds == set(demo_data.NEGATIVE_KINDS)


def test_pictures_vary(small):
    pictures = [np.asarray(Image.open(p), dtype=np.float32) for p in sorted((small / "train" / "hotdog").glob("*.jpg"))]
    means = [p.mean(axis=(0, 1)) for p in pictures]
    assert np.std(means, axis=0).max() > 5  # backgrounds and lighting differ, not one template
    assert min(p.std() for p in pictures) > 5  # not blank


def test_same_seed_same_bytes_other_seed_other_pictures(small, tmp_path):
    again = tmp_path / "again"
    demo_data.generate(again, seed=3, scale=SCALE)
    assert _digests(again) == _digests(small)
    other = tmp_path / "other"
    demo_data.generate(other, seed=4, scale=SCALE)
    first = "train/hotdog/hotdog_0000.jpg"
    assert _digests(other)[first] != _digests(small)[first]


def test_a_picture_does_not_depend_on_scale():
    small_plan = {(s, c, n): scene for s, c, n, scene in demo_data.plan(seed=1, scale=SCALE)}
    full_plan = {(s, c, n): scene for s, c, n, scene in demo_data.plan(seed=1, scale=1.0)}
    assert small_plan.keys() <= full_plan.keys()
    assert all(full_plan[key] == scene for key, scene in small_plan.items())


def test_video_is_readable_with_the_expected_frames(small):
    cv2 = pytest.importorskip("cv2")
    capture = cv2.VideoCapture(str(small / demo_data.VIDEO_NAME))
    assert capture.isOpened()
    assert capture.get(cv2.CAP_PROP_FPS) == pytest.approx(demo_data.VIDEO_FPS)
    frames = 0
    while True:
        ok, frame = capture.read()
        if not ok:
            break
        assert frame.shape == (demo_data.VIDEO_FRAME[1], demo_data.VIDEO_FRAME[0], 3)
        frames += 1
    capture.release()
    assert frames == demo_data.VIDEO_FPS * demo_data.VIDEO_SECONDS


def test_refuses_to_overwrite_without_force(tmp_path):
    root = tmp_path / "data"
    root.mkdir()
    (root / "mine.txt").write_text("keep me")
    with pytest.raises(FileExistsError, match="--force"):
        demo_data.generate(root, scale=SCALE)
    assert [p.name for p in root.iterdir()] == ["mine.txt"]
    assert sorted(p.name for p in tmp_path.iterdir()) == ["data"]  # no temporary folder left


def test_force_replaces_demo_data_whole_but_never_someone_elses_file(tmp_path):
    root = tmp_path / "data"
    root.mkdir()
    (root / "stale.jpg").write_bytes(b"old")
    with pytest.raises(FileExistsError, match="stale.jpg"):
        demo_data.generate(root, scale=SCALE, force=True)  # not demo data: never deleted
    assert (root / "stale.jpg").read_bytes() == b"old"
    (root / "stale.jpg").unlink()
    demo_data.generate(root, scale=SCALE, force=True)
    next((root / "train" / "hotdog").glob("*.jpg")).unlink()  # incomplete demo data is the generator's own
    demo_data.generate(root, scale=SCALE, force=True)
    assert demo_data.is_demo_data(root)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["data"]


def test_incomplete_data_is_not_taken_for_demo_data(tmp_path):
    root = tmp_path / "data"
    demo_data.generate(root, scale=SCALE)
    next((root / "train" / "hotdog").glob("*.jpg")).unlink()
    assert not demo_data.is_demo_data(root)


def test_command_line(tmp_path, capsys):
    root = tmp_path / "data"
    assert main(["demo-data", str(root), "--scale", str(SCALE), "--seed", "5"]) == 0
    assert "train" in capsys.readouterr().out
    assert demo_data.is_demo_data(root, seed=5)
    assert main(["demo-data", str(root), "--scale", str(SCALE)]) == 2
    assert "--force" in capsys.readouterr().err
    assert main(["demo-data", str(root), "--scale", str(SCALE), "--force"]) == 0
    assert demo_data.is_demo_data(root, seed=0)
