"""The decoded-photo cache: each photo decoded once per input size, by content, safe to share."""

from __future__ import annotations

import io
import json
import multiprocessing
import os
import shutil
import time
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from seefood import decoded_cache, images
from seefood.progress import Progress
from tests.conftest import write_class_folder

SIZE = 32


@pytest.fixture
def cache_dir(tmp_path, monkeypatch) -> Path:
    folder = tmp_path / "cache"
    monkeypatch.setenv(decoded_cache.ENV_DIR, str(folder))
    monkeypatch.delenv(decoded_cache.ENV_SWITCH, raising=False)
    return folder


@pytest.fixture
def decodes(monkeypatch) -> list[str]:
    """Every real decode (images.load_fitted) that the cache lets through."""
    seen: list[str] = []
    real = images.load_fitted

    def counting(path, image_size):
        seen.append(str(path))
        return real(path, image_size)

    monkeypatch.setattr(images, "load_fitted", counting)
    return seen


def _photos(folder: Path, n: int, seed: int = 0) -> list[Path]:
    write_class_folder(folder, {"a": n}, seed=seed)
    return sorted((folder / "a").iterdir())


def test_a_photo_is_decoded_once_then_read_back_by_content(tmp_path, cache_dir, decodes):
    photo = _photos(tmp_path / "data", 1)[0]
    first = decoded_cache.fitted(photo, SIZE)
    assert np.array_equal(first, images.load_fitted(photo, SIZE)) and first.shape == (SIZE, SIZE, 3)
    decodes.clear()
    again = decoded_cache.fitted(photo, SIZE)
    assert decodes == [] and np.array_equal(again, first)
    copy = tmp_path / "renamed.jpg"  # same bytes under another name: the same entry
    shutil.copy(photo, copy)
    assert np.array_equal(decoded_cache.fitted(copy, SIZE), first) and decodes == []
    entry = decoded_cache.entry_path(decoded_cache.sha_of(photo), SIZE)
    assert entry.is_file() and entry.stat().st_size == SIZE * SIZE * 3 and entry.is_relative_to(cache_dir)
    decoded_cache.fitted(photo, 2 * SIZE)  # another input size is another key
    assert decodes == [str(photo)]


def test_an_edited_photo_is_decoded_again(tmp_path, cache_dir, decodes):
    photo = _photos(tmp_path / "data", 1)[0]
    before = decoded_cache.fitted(photo, SIZE)
    Image.fromarray(np.full((40, 40, 3), 250, np.uint8)).save(photo, format="JPEG")
    os.utime(photo, ns=(time.time_ns() + 10**9,) * 2)  # a new mtime, as an editor leaves it
    after = decoded_cache.fitted(photo, SIZE)
    assert len(decodes) == 2 and not np.array_equal(before, after) and after.min() > 230


def test_a_damaged_entry_is_a_miss_and_is_rewritten_whole(tmp_path, cache_dir, decodes):
    photo = _photos(tmp_path / "data", 1)[0]
    good = decoded_cache.fitted(photo, SIZE)
    entry = decoded_cache.entry_path(decoded_cache.sha_of(photo), SIZE)
    entry.write_bytes(entry.read_bytes()[:100])  # cut short (by hand; the cache's own writes are whole)
    assert np.array_equal(decoded_cache.fitted(photo, SIZE), good) and len(decodes) == 2
    assert entry.stat().st_size == SIZE * SIZE * 3


def test_a_killed_writer_leaves_only_a_temporary_file_that_prune_and_clear_remove(tmp_path, cache_dir):
    photo = _photos(tmp_path / "data", 1)[0]
    sha = decoded_cache.sha_of(photo)
    entry = decoded_cache.entry_path(sha, SIZE)
    entry.parent.mkdir(parents=True)
    leftover = entry.parent / f"{decoded_cache.TMP_PREFIX}999999-abc"
    leftover.write_bytes(b"\0" * 10)  # what a process killed mid-write leaves
    assert decoded_cache.lookup(sha, SIZE) is None
    assert decoded_cache.info()["temporary_files"] == 1
    assert decoded_cache.prune() == (0, 0)  # recent: it may belong to a process still writing
    old = time.time() - 2 * decoded_cache.STALE_TMP_SECONDS
    os.utime(leftover, (old, old))
    assert decoded_cache.prune() == (1, 10) and not leftover.exists()


def _fill(args) -> int:
    folder, cache, order = args
    os.environ[decoded_cache.ENV_DIR] = cache
    for name in order:
        decoded_cache.fitted(Path(folder) / name, SIZE)
    return len(order)


def test_two_processes_filling_the_cache_at_once_leave_whole_correct_entries(tmp_path, cache_dir):
    photos = _photos(tmp_path / "data", 40)
    names = [p.name for p in photos]
    with multiprocessing.get_context("spawn").Pool(2) as pool:
        pool.map(_fill, [(str(photos[0].parent), str(cache_dir), names), (str(photos[0].parent), str(cache_dir), names[::-1])])
    found = decoded_cache.info()
    assert found["photos"] == 40 and found["temporary_files"] == 0
    for p in photos:
        assert np.array_equal(decoded_cache.lookup(decoded_cache.sha_of(p), SIZE), images.load_fitted(p, SIZE))


def test_prune_removes_the_least_recently_used_first(tmp_path, cache_dir):
    photos = _photos(tmp_path / "data", 3)
    entries = []
    for age, p in zip((300, 200, 100), photos):
        decoded_cache.fitted(p, SIZE)
        entry = decoded_cache.entry_path(decoded_cache.sha_of(p), SIZE)
        os.utime(entry, (time.time() - age,) * 2)
        entries.append(entry)
    per_entry = SIZE * SIZE * 3
    assert decoded_cache.prune(limit=2 * per_entry) == (1, per_entry)
    assert [e.exists() for e in entries] == [False, True, True]


def test_clear_removes_cache_entries_and_nothing_else(tmp_path, cache_dir):
    photo = _photos(tmp_path / "data", 1)[0]
    decoded_cache.fitted(photo, SIZE)
    notes = cache_dir / "notes.txt"
    notes.write_text("mine")
    stray = cache_dir / "holiday" / "ab" / ("0" * 64 + ".rgb")  # entry-shaped, but not under a cache key
    stray.parent.mkdir(parents=True)
    stray.write_bytes(b"x")
    assert decoded_cache.clear() == (1, SIZE * SIZE * 3)
    assert notes.read_text() == "mine" and stray.exists() and photo.exists()
    assert decoded_cache.info()["photos"] == 0


def test_off_writes_nothing_and_an_unwritable_cache_warns_once_but_decodes(tmp_path, cache_dir, monkeypatch, capsys):
    photos = _photos(tmp_path / "data", 2)
    monkeypatch.setenv(decoded_cache.ENV_SWITCH, "off")
    assert np.array_equal(decoded_cache.fitted(photos[0], SIZE), images.load_fitted(photos[0], SIZE))
    assert not cache_dir.exists()
    monkeypatch.delenv(decoded_cache.ENV_SWITCH)
    blocker = tmp_path / "a-file"
    blocker.write_text("not a folder")
    monkeypatch.setenv(decoded_cache.ENV_DIR, str(blocker))
    monkeypatch.setattr(decoded_cache, "_WARNED", set())
    for p in photos:
        assert np.array_equal(decoded_cache.fitted(p, SIZE), images.load_fitted(p, SIZE))
    err = capsys.readouterr().err
    assert err.count("cannot write") == 1 and str(blocker) in err and "--no-cache" in err


def test_the_audit_decodes_only_photos_it_has_not_seen(tmp_path, cache_dir, decodes):
    from training.dataset import discover

    data = write_class_folder(tmp_path / "data", {"hotdog": 10, "not_hotdog": 30})
    before = decoded_cache.COUNTS.snapshot()
    discover(data, image_size=SIZE)
    first = decoded_cache.summary(before, decoded_cache.COUNTS.snapshot())
    assert (first["decoded"], first["from_cache"]) == (40, 0) and len(decodes) == 40
    write_class_folder(data, {"hotdog": 3}, seed=9)  # three new photos of hotdog
    decodes.clear()
    before = decoded_cache.COUNTS.snapshot()
    inv = discover(data, image_size=SIZE)
    second = decoded_cache.summary(before, decoded_cache.COUNTS.snapshot())
    assert (second["decoded"], second["from_cache"]) == (3, 40) and len(inv.examples) == 43
    assert sorted(Path(p).name for p in decodes) == [f"hotdog_9_{i}.jpg" for i in range(3)]


def test_a_truncated_photo_is_still_caught_by_the_audit_with_the_cache_on(tmp_path, cache_dir):
    from training.dataset import discover

    data = write_class_folder(tmp_path / "data", {"hotdog": 5, "not_hotdog": 5})
    broken = data / "hotdog" / "hotdog_0_0.jpg"
    broken.write_bytes(broken.read_bytes()[: broken.stat().st_size // 2])
    inv = discover(data, image_size=SIZE)
    assert [u["path"] for u in inv.unreadable] == [str(broken)]
    assert decoded_cache.info()["photos"] == 9


def test_training_reads_what_the_audit_decoded(tiny_binary_run):
    decoding = json.loads((tiny_binary_run / "run.json").read_text())["decoding"]
    audit, run = decoding["audit"], decoding["run"]
    assert audit["enabled"] and audit["decoded"] + audit["from_cache"] == 120
    assert run["decoded"] == audit["decoded"]  # the training stream and evaluation decoded nothing more
    assert run["from_cache"] >= 120


def test_a_large_split_streams_from_the_disk_cache_instead_of_memory(tmp_path, cache_dir, monkeypatch):
    from training import pipeline

    assert pipeline.keep_in_memory(1000, 128) and not pipeline.keep_in_memory(50_000, 128)
    monkeypatch.setenv(decoded_cache.ENV_SWITCH, "off")
    assert pipeline.keep_in_memory(50_000, 128)  # nothing else could serve them each epoch
    monkeypatch.delenv(decoded_cache.ENV_SWITCH)
    monkeypatch.setattr(pipeline, "MEMORY_BUDGET", 0)
    photos = [str(p) for p in _photos(tmp_path / "data", 6)]
    targets = [0, 1] * 3
    ds, _ = pipeline.training_dataset(photos, targets, SIZE, 1, True, _plan(), 3, seed=0)
    expected = [images.load_fitted(p, SIZE) for p in photos]
    seen = [(x, float(t[0])) for batch, target in ds.take(6) for x, t in zip(batch.numpy(), target.numpy())]
    which = [next(i for i, e in enumerate(expected) if np.array_equal(x, e)) for x, _ in seen]
    assert all(t == targets[i] for i, (_, t) in zip(which, seen))  # each photo with its own target
    passes = [which[k:k + 6] for k in (0, 6, 12)]  # three passes over the six photos, each a new order
    assert all(sorted(p) == list(range(6)) for p in passes) and len({tuple(p) for p in passes}) > 1


def _plan():
    from training.balance import plan_balance

    return plan_balance("none", [3, 3])


def test_cache_commands_show_and_clear(tmp_path, cache_dir, capsys):
    from seefood.cli import main

    decoded_cache.fitted(_photos(tmp_path / "data", 1)[0], SIZE)
    assert main(["cache", "info", "--json"]) == 0
    shown = json.loads(capsys.readouterr().out)
    assert shown["photos"] == 1 and shown["location"] == str(cache_dir) and shown["enabled"]
    assert main(["cache", "clear"]) == 0
    assert "Removed 1 files" in capsys.readouterr().out and decoded_cache.info()["photos"] == 0


def test_no_cache_is_accepted_by_every_command_that_reads_photos(capsys):
    from seefood.cache_commands import CACHED_COMMANDS
    from seefood.cli import build_parser

    parser = build_parser()
    assert parser.parse_args(["train", "d", "--out", "o", "--no-cache"]).no_cache
    for name in CACHED_COMMANDS:
        with pytest.raises(SystemExit):
            parser.parse_args([name, "--help"])
        assert "--no-cache" in capsys.readouterr().out, name


def test_progress_redraws_on_a_terminal_and_logs_sparsely_otherwise(monkeypatch):
    class Tty(io.StringIO):
        def isatty(self):
            return True

    monkeypatch.setattr("seefood.progress.REDRAW_EVERY_S", 0.0)
    monkeypatch.setattr("seefood.progress.LOG_EVERY_S", 0.0)
    tty, log = Tty(), io.StringIO()
    for stream in (tty, log):
        p = Progress(4, "Checking photos", stream=stream)
        for _ in range(4):
            p.advance()
        p.close()
    assert tty.getvalue().count("\r") == 5 and "Checking photos: 4/4 (100%)" in tty.getvalue()
    assert tty.getvalue().endswith("\r\033[K")
    assert log.getvalue().splitlines()[-1].startswith("Checking photos: 4/4 (100%)") and "\r" not in log.getvalue()
    monkeypatch.setattr("seefood.progress.LOG_EVERY_S", 3600.0)
    quiet = io.StringIO()
    p = Progress(4, "Checking photos", stream=quiet)
    p.advance()
    p.close()
    assert quiet.getvalue() == ""  # a short pass in a log adds nothing


def test_a_second_audit_hashes_only_files_that_changed(tmp_path, cache_dir, monkeypatch):
    from training import dataset

    data = write_class_folder(tmp_path / "data", {"hotdog": 5, "not_hotdog": 10})
    hour_ago = time.time() - 3600
    for photo in data.rglob("*.jpg"):
        os.utime(photo, (hour_ago, hour_ago))
    fresh = data / "hotdog" / "hotdog_0_4.jpg"
    os.utime(fresh)  # written just now: its timestamp cannot yet prove it unchanged ("racily clean")
    hashed: list[str] = []
    real = dataset.sha256_of
    monkeypatch.setattr(dataset, "sha256_of", lambda p: hashed.append(Path(p).name) or real(p))
    first = dataset.discover(data, image_size=SIZE)
    assert len(hashed) == 15 and (cache_dir / decoded_cache.INDEX_NAME).is_file()
    hashed.clear()
    second = dataset.discover(data, image_size=SIZE)
    assert hashed == [fresh.name] and [e.sha256 for e in second.examples] == [e.sha256 for e in first.examples]
    hashed.clear()
    edited = data / "hotdog" / "hotdog_0_0.jpg"
    Image.fromarray(np.full((48, 64, 3), 30, np.uint8)).save(edited, format="JPEG")  # same name, new content
    os.utime(fresh, (hour_ago, hour_ago))
    third = dataset.discover(data, image_size=SIZE)
    assert sorted(hashed) == ["hotdog_0_0.jpg", fresh.name]
    changed = {e.path: e.sha256 for e in third.examples}[str(edited.resolve())]
    assert changed == real(edited) != {e.path: e.sha256 for e in first.examples}[str(edited.resolve())]
    assert decoded_cache.info()["hash_index_bytes"] > 0
    decoded_cache.clear()
    assert not (cache_dir / decoded_cache.INDEX_NAME).exists()


def test_an_unreadable_hash_index_means_hashing_everything_not_failing(tmp_path, cache_dir, capsys, monkeypatch):
    from training.dataset import discover

    data = write_class_folder(tmp_path / "data", {"hotdog": 3, "not_hotdog": 3})
    cache_dir.mkdir(parents=True)
    (cache_dir / decoded_cache.INDEX_NAME).write_bytes(b"not a database, " * 100)
    monkeypatch.setattr(decoded_cache, "_WARNED", set())
    assert len(discover(data, image_size=SIZE).examples) == 6
    err = capsys.readouterr().err
    assert "hash index" in err and "every photo is hashed" in err
