"""Folders that appear whole or not at all (seefood/atomic.py): the swap, its fallback, and the
clean-up after a process killed half way."""

from __future__ import annotations

import subprocess
import sys

import pytest

import seefood.atomic as atomic
from seefood.atomic import _sweep_leftovers, staged_folder


def _dead_pid() -> int:
    child = subprocess.Popen([sys.executable, "-c", "pass"])
    child.wait()
    return child.pid


def _folder(path, text):
    path.mkdir()
    (path / "model.tflite").write_text(text)
    return path


@pytest.mark.parametrize("exchange", [True, False], ids=["renameat2", "two-renames"])
def test_a_staged_folder_replaces_the_old_one_whole_and_leaves_nothing_beside_it(tmp_path, monkeypatch, exchange):
    if not exchange:
        monkeypatch.setattr(atomic, "_exchange", lambda a, b: False)
    target = _folder(tmp_path / "bundle", "old")
    with staged_folder(target) as tmp:
        (tmp / "model.tflite").write_text("new")
        assert (target / "model.tflite").read_text() == "old"  # nothing changes before the block ends
    assert (target / "model.tflite").read_text() == "new"
    assert [p.name for p in tmp_path.iterdir()] == ["bundle"]


def test_a_failed_block_leaves_the_old_folder_and_no_temporary_one(tmp_path):
    target = _folder(tmp_path / "bundle", "old")
    with pytest.raises(RuntimeError), staged_folder(target) as tmp:
        (tmp / "model.tflite").write_text("half")
        raise RuntimeError("converter failed")
    assert (target / "model.tflite").read_text() == "old"
    assert [p.name for p in tmp_path.iterdir()] == ["bundle"]


def test_leftovers_of_a_killed_process_are_cleaned_and_a_half_swapped_folder_comes_back(tmp_path):
    dead, alive = _dead_pid(), __import__("os").getpid()
    target = tmp_path / "bundle"  # missing: the kill came between "move the old one aside" and "move the new one in"
    _folder(tmp_path / f".bundle.old-{dead}-x1", "unused")
    _folder(tmp_path / f".bundle.old-{dead}-x1" / "previous", "old")
    _folder(tmp_path / f".bundle.tmp-{dead}-x2", "new but unfinished")
    live = _folder(tmp_path / f".bundle.tmp-{alive}-x3", "another export, still running")
    _sweep_leftovers(target)
    assert (target / "model.tflite").read_text() == "old"  # nothing the user had is lost
    assert sorted(p.name for p in tmp_path.iterdir()) == [live.name, "bundle"]
    # with the target in place, an old copy aside is stale and goes
    _folder(tmp_path / f".bundle.old-{dead}-x4", "unused")
    _folder(tmp_path / f".bundle.old-{dead}-x4" / "previous", "older")
    with staged_folder(target) as tmp:
        (tmp / "model.tflite").write_text("new")
    assert (target / "model.tflite").read_text() == "new"
    assert sorted(p.name for p in tmp_path.iterdir()) == [live.name, "bundle"]
