"""Versioned bundles (``seefood bundle list|use|prune``, ``seefood.versions``) and ``seefood retrain``.

The first half needs no TensorFlow: bundles made of files with the right names and manifests. The
second half trains one tiny run (32 px, 3 epochs, 40 generated photos), exports it, adds photos and
retrains it once for real (module fixture ``world``); the refusals and failures after it reuse that
retrained run instead of training again (``_train`` is replaced by a copy of it), so each costs an
export, not a training.
"""

from __future__ import annotations

import contextlib
import hashlib
import importlib.util
import io
import json
import os
import shutil
import signal
import subprocess
import sys
import textwrap
import threading
import time
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pytest
from conftest import write_class_folder

from seefood import versions
from seefood.cli import main
from seefood.ownership import check_output_folder, foreign_entries, is_bundle_folder

FILES = ("model.tflite", "labels.txt", "manifest.json", "README.md", "verification.json", "export_config.json")


def snapshot(root: Path) -> dict[str, str]:
    """Every file under ``root`` (relative path -> sha256)."""
    return {str(p.relative_to(root)): hashlib.sha256(p.read_bytes()).hexdigest()
            for p in sorted(root.rglob("*")) if p.is_file()}


def top_level(bundle: Path) -> dict[str, str]:
    return {k: v for k, v in snapshot(bundle).items() if "/" not in k}


def leftovers(bundle: Path) -> list[str]:
    return sorted(p.name for p in bundle.parent.iterdir() if p.name.startswith(f".{bundle.name}."))


def fake_bundle(folder: Path, tag: str, run_id: str = "run-a", source_run: str | None = None,
                threshold: float = 0.5) -> Path:
    """A bundle folder as far as ``seefood.versions`` reads one (it never runs the model)."""
    folder.mkdir(parents=True)
    model = (f"tflite model {tag} " * 50).encode()
    (folder / "model.tflite").write_bytes(model)
    (folder / "labels.txt").write_text("hotdog\n", encoding="utf-8")
    manifest = {"schema_version": 1, "name": f"seefood-{tag}", "task": "binary", "quantization": "float32",
                "threshold": threshold, "run_id": run_id, "source_run": source_run,
                "model_sha256": hashlib.sha256(model).hexdigest(), "created": f"2026-11-2{len(tag) % 10}T10:00:00+00:00"}
    (folder / "manifest.json").write_text(json.dumps(manifest), encoding="utf-8")
    for name in ("README.md", "verification.json", "export_config.json"):
        (folder / name).write_text(json.dumps({"file": name, "tag": tag}), encoding="utf-8")
    return folder


def versioned(tmp_path: Path, count: int) -> Path:
    """BUNDLE with versions 001..count (count current), built the way retrain adds them."""
    bundle = fake_bundle(tmp_path / "bundle", "v1")
    for i in range(2, count + 1):
        versions.add_version(bundle, fake_bundle(tmp_path / f"src{i}", f"v{i}"), make_current=True)
    return bundle


def dead_pid() -> int:
    child = subprocess.Popen([sys.executable, "-c", "pass"])
    child.wait()
    return child.pid


# ---------------------------------------------------------------- versions (no TensorFlow)


def test_an_unversioned_bundle_is_001_and_becomes_001_losing_nothing(tmp_path, capsys):
    bundle = fake_bundle(tmp_path / "bundle", "first")
    before = snapshot(bundle)
    [only] = versions.list_versions(bundle)
    assert (only.version, only.current, only.recorded) == ("001", True, False)
    assert snapshot(bundle) == before, "list only reads"

    assert main(["bundle", "use", str(bundle), "1"]) == 0  # the first change keeps it as versions/001
    assert (bundle / "versions" / "current").read_text() == "001\n"
    assert top_level(bundle) == before
    assert {k.split("/")[-1]: v for k, v in snapshot(bundle / "versions" / "001").items()} == before
    assert versions.list_versions(bundle)[0].recorded is True
    assert main(["bundle", "use", str(bundle), "001"]) == 0
    assert "already current; nothing changed" in capsys.readouterr().out


def test_add_list_and_use_roll_back_and_forward(tmp_path, capsys):
    bundle = versioned(tmp_path, 3)
    assert versions.current_version(bundle) == "003"
    v1 = snapshot(bundle / "versions" / "001")
    assert main(["bundle", "use", str(bundle), "v1"]) == 0
    assert top_level(bundle) == v1 and (bundle / "versions" / "current").read_text() == "001\n"
    assert set(os.listdir(bundle / "versions")) == {"001", "002", "003", "current"}
    # the top-level files are hard links to the version's, not copies
    assert (bundle / "model.tflite").stat().st_ino == (bundle / "versions" / "001" / "model.tflite").stat().st_ino

    capsys.readouterr()
    assert main(["bundle", "list", str(bundle)]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert lines[0] == f"Versions of {bundle} (current: 001)"
    assert lines[2].startswith("*  001") and lines[3].startswith("   002") and lines[4].startswith("   003")
    assert main(["bundle", "list", str(bundle), "--json"]) == 0
    listed = json.loads(capsys.readouterr().out)
    assert [(v["version"], v["current"]) for v in listed] == [("001", True), ("002", False), ("003", False)]

    assert main(["bundle", "use", str(bundle), "7"]) == 2
    assert "has no version 007 (it has 001, 002, 003)" in capsys.readouterr().err
    assert main(["bundle", "use", str(bundle), "latest"]) == 2
    assert "is not a version" in capsys.readouterr().err


def test_list_shows_each_versions_test_figures_from_its_run(tmp_path, capsys):
    run = tmp_path / "run"
    run.mkdir()
    (run / "run.json").write_text(json.dumps({"run_id": "run-a"}))
    (run / "metrics.json").write_text(json.dumps({"run_id": "run-a", "splits": {"test": {
        "at_threshold": {"f1": 0.8125, "n": 12}, "ranking": {"pr_auc": 0.9}}}}))
    bundle = fake_bundle(tmp_path / "bundle", "v1", source_run=str(run))
    [info] = versions.list_versions(bundle)
    assert info.test == {"metric": "f1", "value": 0.8125, "pr_auc": 0.9, "n": 12}
    assert main(["bundle", "list", str(bundle)]) == 0
    out = capsys.readouterr().out
    assert "0.812" in out and "0.900" in out and "001+" in out  # + : not yet kept under versions/
    shutil.rmtree(run)
    assert versions.list_versions(bundle)[0].test is None  # the run is gone: unknown, not an error


def test_prune_asks_first_and_never_deletes_the_current_version(tmp_path, capsys):
    bundle = versioned(tmp_path, 4)
    assert main(["bundle", "use", str(bundle), "2"]) == 0
    before = snapshot(bundle)
    capsys.readouterr()
    assert main(["bundle", "prune", str(bundle), "--keep", "1"]) == 1  # without --yes: says, deletes nothing
    out = capsys.readouterr().out
    assert "would delete version(s) 001, 003" in out and "current version 002" in out and "--yes" in out
    assert snapshot(bundle) == before
    assert main(["bundle", "prune", str(bundle), "--keep", "1", "--yes"]) == 0
    assert "deleted version(s) 001, 003" in capsys.readouterr().out
    assert sorted(os.listdir(bundle / "versions")) == ["002", "004", "current"]
    assert versions.current_version(bundle) == "002"
    assert top_level(bundle) == top_level_of(before)
    assert main(["bundle", "prune", str(bundle), "--keep", "1", "--yes"]) == 0
    assert "nothing to prune" in capsys.readouterr().out
    assert main(["bundle", "prune", str(bundle), "--keep", "0"]) == 2


def top_level_of(snap: dict[str, str]) -> dict[str, str]:
    return {k: v for k, v in snap.items() if "/" not in k}


def test_use_is_atomic_readers_see_one_whole_version_never_a_mix(tmp_path):
    """A reader that opens the bundle folder once and reads its files through that handle sees one
    folder: with the folder swapped whole, every read is all of one version; with files replaced
    one by one it would catch a manifest of one version beside the model of another. A reader still
    holding the swapped-out folder finds it deleted and reads again. The path never disappears
    (RENAME_EXCHANGE, not remove-then-rename)."""
    bundle = versioned(tmp_path, 2)
    tags = {}
    for v in ("001", "002"):
        folder = bundle / "versions" / v
        tags[hashlib.sha256((folder / "model.tflite").read_bytes()).hexdigest()] = json.loads(
            (folder / "README.md").read_text())["tag"]
    seen, problems, retried, stop = [], [], [], threading.Event()

    def read(fd, name):
        handle = os.open(name, os.O_RDONLY, dir_fd=fd)
        with os.fdopen(handle, "rb") as f:
            return f.read()

    def reader():
        while not stop.is_set():
            try:
                fd = os.open(bundle, os.O_RDONLY)
            except FileNotFoundError:
                problems.append("the bundle folder was missing")
                continue
            try:
                manifest = json.loads(read(fd, "manifest.json"))
                model = hashlib.sha256(read(fd, "model.tflite")).hexdigest()
                readme = json.loads(read(fd, "README.md"))["tag"]
            except FileNotFoundError:  # the folder it holds was swapped out and deleted: read again
                retried.append(1)
                continue
            finally:
                os.close(fd)
            if manifest["model_sha256"] != model or tags[model] != readme:
                problems.append(f"mixed: manifest {manifest['name']}, model {tags.get(model)}, readme {readme}")
            seen.append(readme)

    thread = threading.Thread(target=reader)
    thread.start()
    try:
        for i in range(30):
            versions.use_version(bundle, "001" if i % 2 == 0 else "002")
    finally:
        stop.set()
        thread.join()
    assert not problems, problems[:5]
    assert {"v1", "v2"} <= set(seen), "the reader should have seen both versions"
    assert leftovers(bundle) == []


def test_a_versioned_bundle_is_still_a_seefood_bundle_and_foreign_files_stop_changes(tmp_path, capsys):
    bundle = versioned(tmp_path, 2)
    (bundle / "versions" / "002" / "retrain.json").write_text("{}")
    assert is_bundle_folder(bundle) and foreign_entries(bundle, "bundle") == []
    assert check_output_folder(bundle, "bundle", force=True) is True  # --force rules: SeeFood's own folder
    (bundle / "versions" / "001" / "holiday.jpg").write_bytes(b"a user's photo")
    before = snapshot(bundle)
    assert [p.name for p in foreign_entries(bundle, "bundle")] == ["holiday.jpg"]
    assert main(["bundle", "use", str(bundle), "1"]) == 2
    err = capsys.readouterr().err
    assert "versions/001/holiday.jpg" in err and "Move them out" in err
    assert snapshot(bundle) == before


def test_a_killed_change_leaves_the_bundle_and_is_swept_next_time(tmp_path):
    bundle = versioned(tmp_path, 2)
    before = snapshot(bundle)
    # what a process killed half-way through a change leaves: its staging, under its (dead) pid
    junk = bundle.parent / f".{bundle.name}.tmp-{dead_pid()}-abcd"
    (junk / "versions" / "003").mkdir(parents=True)
    (junk / "model.tflite").write_bytes(b"half")
    assert snapshot(bundle) == before and versions.current_version(bundle) == "002"
    versions.use_version(bundle, "1")
    assert leftovers(bundle) == []


def test_a_process_killed_while_switching_leaves_the_bundle_whole(tmp_path):
    """SIGKILL (no clean-up at all) in the middle of building the new folder: the bundle is as it
    was, and the staging left behind goes at the next change."""
    bundle = versioned(tmp_path, 2)
    before = snapshot(bundle)
    script = textwrap.dedent(f"""
        import time
        from seefood import versions
        real = versions._link
        def slow(source, target):
            time.sleep(0.05)
            real(source, target)
        versions._link = slow
        versions.use_version({str(bundle)!r}, "1")
    """)
    env = {**os.environ, "PYTHONPATH": str(Path(__file__).resolve().parents[1])}
    child = subprocess.Popen([sys.executable, "-c", script], env=env)
    staging = []
    for _ in range(400):
        staging = list(bundle.parent.glob(f".{bundle.name}.tmp-{child.pid}-*/versions/001/*"))
        if len(staging) >= 2 or child.poll() is not None:
            break
        time.sleep(0.01)
    child.kill()
    child.wait()
    assert staging, "the child should have been caught half-way"
    assert snapshot(bundle) == before and versions.current_version(bundle) == "002"
    assert leftovers(bundle), "a killed process leaves its staging"
    versions.use_version(bundle, "1")
    assert leftovers(bundle) == [] and versions.current_version(bundle) == "001"


def test_top_level_files_replaced_by_hand_become_a_version_instead_of_being_lost(tmp_path):
    bundle = versioned(tmp_path, 2)
    shutil.rmtree(tmp_path / "src2")
    replacement = fake_bundle(tmp_path / "by-hand", "hand")
    for name in FILES:
        os.replace(replacement / name, bundle / name)
    assert [(v.version, v.current, v.recorded) for v in versions.list_versions(bundle)] == [
        ("001", False, True), ("002", False, True), ("003", True, False)]
    versions.use_version(bundle, "2")
    assert json.loads((bundle / "versions" / "003" / "README.md").read_text())["tag"] == "hand"


def test_a_bundle_of_one_folder_per_quantization_names_one(tmp_path, capsys):
    fake_bundle(tmp_path / "all" / "float32", "f")
    assert main(["bundle", "list", str(tmp_path / "all")]) == 2
    assert "name one, e.g." in capsys.readouterr().err


def test_the_worse_rule():
    from retrain.compare import compare_set, judge

    classes = ["a", "b", "c"]
    targets = np.array([0, 0, 1, 1, 2, 2])
    right = np.eye(3)[targets] * 0.9 + 0.03
    wrong = np.eye(3)[(targets + 1) % 3] * 0.9 + 0.03
    held = compare_set("multiclass", classes, targets, right, wrong, 0.5, 0.5)
    assert held["old"]["macro_f1"] == 1.0 and held["new"]["macro_f1"] == 0.0
    decision = judge(held, "multiclass")
    assert decision["worse"] and "macro-F1 1.000 -> 0.000" in decision["reason"]
    assert not judge(compare_set("multiclass", classes, targets, right, right, 0.5, 0.5), "multiclass")["worse"]
    # binary: F1 of the positive class; a drop of exactly the tolerance is not worse, more is
    base = {"n": 10, "old": {"f1": 0.80}, "new": {"f1": 0.78}}
    assert not judge(base, "binary")["worse"]
    assert judge({**base, "new": {"f1": 0.77}}, "binary")["worse"]
    assert judge({"n": 0, "old": {}, "new": {}}, "binary")["worse"]  # no shared held-back photo: no evidence


def test_a_drop_within_the_noise_of_the_held_back_photos_is_not_worse_and_a_real_one_is():
    from retrain.compare import compare_set, judge

    rng = np.random.default_rng(5)
    targets = (rng.random(600) < 0.12).astype(int)  # about 70 positives, as food5 at 1:8's test split has
    old = np.where(rng.random(600) < 0.9, targets, 1 - targets)
    found, missed = np.flatnonzero((targets == 1) & (old == 1)), np.flatnonzero((targets == 1) & (old == 0))
    alarms, quiet = np.flatnonzero((targets == 0) & (old == 1)), np.flatnonzero((targets == 0) & (old == 0))
    new = old.copy()  # a retrained model: different answers on about 40 photos, in both directions
    new[found[:12]], new[missed[:8]], new[alarms[:6]], new[quiet[:6]] = 0, 1, 0, 1

    def rows(decided):
        return np.stack([0.9 - decided * 0.8, decided * 0.8 + 0.1], axis=1)

    held = compare_set("binary", ["no", "yes"], targets, rows(old), rows(new), 0.5, 0.5)
    decision = judge(held, "binary")
    assert held["new"]["f1"] - held["old"]["f1"] < -0.02 and held["change_interval"][0] < 0 < held["change_interval"][1]
    assert 0.5 < held["new_lower_share"] < 0.95
    assert not decision["worse"] and "not worse beyond noise" in decision["reason"]
    new[found[:30]] = 0  # thirty positives fewer found: lower in every resample
    held = compare_set("binary", ["no", "yes"], targets, rows(old), rows(new), 0.5, 0.5)
    assert held["change_interval"][1] < 0 and held["new_lower_share"] > 0.95 and judge(held, "binary")["worse"]


# ---------------------------------------------------------------- retrain (one tiny training)


def quiet_main(argv: list[str]) -> tuple[int, str]:
    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        code = main(argv)
    return code, out.getvalue()


@pytest.fixture(scope="module")
def world(tmp_path_factory):
    root = tmp_path_factory.mktemp("retrain")
    data = write_class_folder(root / "photos", {"hotdog": 16, "not_hotdog": 24}, seed=1)
    run = root / "runs" / "hotdog"
    code, _ = quiet_main(["train", str(data), "--out", str(run), "--image-size", "32", "--epochs", "3",
                          "--batch-size", "8", "--val-fraction", "0.25", "--test-fraction", "0.25", "--augment", "none"])
    assert code == 0
    pristine = root / "pristine"
    assert quiet_main(["export", str(run), "--out", str(pristine)])[0] == 0
    write_class_folder(root / "photos", {"hotdog": 4, "not_hotdog": 4}, seed=7)  # photos captured since
    bundle = root / "bundle"
    shutil.copytree(pristine, bundle)
    code, out = quiet_main(["retrain", str(bundle), "--epochs", "1", "--json-progress"])
    listing = quiet_main(["bundle", "list", str(bundle)])[1]
    return SimpleNamespace(root=root, data=data, run=run, pristine=pristine, bundle=bundle, code=code,
                           lines=out.splitlines(), listing=listing, new_run=root / "runs" / "hotdog-v002")


def test_retrain_installs_the_next_version_with_its_comparison(world, capsys):
    assert world.code == 0, world.lines[-1:]
    events = [json.loads(line) for line in world.lines]  # stdout holds JSON lines only
    stages = [e["stage"] for e in events]
    assert stages == ["train", "train", "train", "export", "verify", "compare", "install", "done"], stages
    audit = events[1]["audit"]  # the audit's line: the 8 photos captured since were decoded, the rest came from the cache
    assert audit["decoded"] == 8 and audit["from_cache"] >= 40
    epoch = events[2]
    assert epoch["epoch"] == 1 and epoch["of"] == 1 and epoch["eta_s"] >= 0 and "loss" in epoch["metrics"]
    done = events[-1]
    assert done["installed"] is True and done["version"] == "002" and done["current"] is True
    assert done["reason"].startswith("installed: ") and "seefood bundle use" in done["reason"]
    held, added = done["comparison"]["held_back"], done["comparison"]["added"]
    assert held["n"] > 0 and {"f1", "pr_auc", "recall"} <= set(held["old"]) and {"f1", "pr_auc"} <= set(held["new"])
    assert added["n_total"] == 8 and added["n"] + added["n_train"] == 8
    if importlib.util.find_spec("PySide6") is not None:  # the app's Retrain panel reads this very event
        from desktop.retrain_panel import comparison_html

        table = comparison_html(done["comparison"])
        assert "held-back test photos" in table and f"({held['n']})" in table and "pr_auc" in table

    bundle = world.bundle
    assert (bundle / "versions" / "current").read_text() == "002\n"
    assert snapshot(bundle / "versions" / "001") == snapshot(world.pristine), "001 is the bundle as it was"
    assert top_level(bundle) == {k: v for k, v in snapshot(bundle / "versions" / "002").items() if k != "retrain.json"}
    saved = json.loads((bundle / "versions" / "002" / "retrain.json").read_text())
    assert saved["decision"]["installed"] and saved["new"]["version"] == "002" and saved["from_version"] == "001"
    assert saved["old"]["run_dir"] == str(world.run.resolve()) and saved["new"]["run_dir"] == str(world.new_run.resolve())
    assert json.loads((world.new_run / "retrain.json").read_text())["held_back"] == saved["held_back"]
    manifest = json.loads((bundle / "manifest.json").read_text())
    assert manifest["source_run"] == str(world.new_run.resolve()) and manifest["quantization"] == "float32"
    config = json.loads((world.new_run / "config.json").read_text())
    assert config["out"] == str(world.new_run) and config["init_from"] == str(world.run) and config["epochs"] == 1
    assert json.loads((bundle / "export_config.json").read_text())["out"] == str(bundle)
    assert leftovers(bundle) == [] and not [p for p in world.new_run.parent.iterdir() if p.name.startswith(".")]
    rows = [line for line in world.listing.splitlines() if line[:6] in ("   001", "*  002")]
    assert len(rows) == 2 and "float32" in rows[1] and "→" in rows[1], world.listing

    photo = next((world.data / "hotdog").iterdir())
    assert main(["predict", str(bundle), str(photo), "--json"]) == 0  # loads exactly as before
    assert main(["bundle", "use", str(bundle), "1"]) == 0
    assert top_level(bundle) == snapshot(world.pristine)
    assert main(["bundle", "use", str(bundle), "2"]) == 0


def copy_of_the_new_run(world, monkeypatch):
    """Instead of training again: the run the real retrain trained, copied where the new run goes."""
    from retrain import pipeline
    from training.run_io import load_run

    configs = []

    def trained(cfg, target, progress, log=print):
        configs.append(cfg)
        shutil.copytree(world.new_run, target)
        return load_run(target)

    monkeypatch.setattr(pipeline, "_train", trained)
    return configs


def test_a_worse_model_is_refused_and_accept_worse_installs_it(world, tmp_path, monkeypatch, capsys):
    from retrain import pipeline

    configs = copy_of_the_new_run(world, monkeypatch)
    real_scorer = pipeline._Scorer

    class BlindNewModel(real_scorer):  # the new model answers 'not_hotdog' to every photo: F1 0
        def __call__(self, paths):
            rows = super().__call__(paths)
            return rows if self.run.run_dir.name == "hotdog" else np.tile([1.0, 0.0], (len(rows), 1))

    monkeypatch.setattr(pipeline, "_Scorer", BlindNewModel)
    bundle = shutil.copytree(world.pristine, tmp_path / "bundle")
    before = snapshot(bundle)
    argv = ["retrain", str(bundle), "--epochs", "1", "--runs-dir", str(tmp_path / "runs")]
    assert main(argv) == 1
    out = capsys.readouterr().out
    assert "not installed: worse: held-back F1" in out and "a drop of more than 0.02" in out and "--accept-worse" in out
    assert snapshot(bundle) == before and leftovers(bundle) == []
    kept = json.loads((tmp_path / "runs" / "hotdog-v002" / "retrain.json").read_text())
    assert kept["held_back"]["old"]["f1"] > 0.02, "the test needs an old model that finds some hotdogs"
    assert kept["decision"]["worse"] and not kept["decision"]["installed"] and kept["held_back"]["new"]["f1"] == 0.0

    assert main(argv + ["--accept-worse", "--learning-rate", "0.0007"]) == 0
    out = capsys.readouterr().out
    assert "installed although worse: held-back F1" in out and "(--accept-worse)" in out
    assert versions.current_version(bundle) == "002" and (tmp_path / "runs" / "hotdog-v002-2").is_dir()
    assert [(c.epochs, c.learning_rate) for c in configs] == [(1, 0.003), (1, 0.0007)]  # the run's own rate, then the override
    decision = json.loads((bundle / "versions" / "002" / "retrain.json").read_text())["decision"]
    assert decision["accepted_worse"] and decision["installed"]


def test_no_switch_installs_but_keeps_the_current_version(world, tmp_path, monkeypatch, capsys):
    copy_of_the_new_run(world, monkeypatch)
    bundle = shutil.copytree(world.pristine, tmp_path / "bundle")
    code, out = quiet_main(["retrain", str(bundle), "--runs-dir", str(tmp_path / "runs"), "--no-switch",
                            "--json-progress"])
    done = json.loads(out.splitlines()[-1])
    assert code == 0 and done["installed"] and done["version"] == "002" and done["current"] is False
    assert versions.current_version(bundle) == "001" and top_level(bundle) == snapshot(world.pristine)


def refused(capsys, argv: list[str], *needles: str) -> str:
    assert main(argv) == 2
    err = capsys.readouterr().err
    [message] = [line for line in err.splitlines() if line.startswith("error: ")]
    for needle in needles:
        assert needle in message, message
    return message


def test_a_new_class_set_is_refused_naming_the_added_and_missing_classes(world, tmp_path, capsys):
    bundle = shutil.copytree(world.pristine, tmp_path / "bundle")
    before = snapshot(bundle)
    other = write_class_folder(tmp_path / "other", {"not_hotdog": 3, "fries": 3, "pizza": 3}, seed=4)
    refused(capsys, ["retrain", str(bundle), "--data-dir", str(other)], "added fries, pizza",
            "missing hotdog", "train anew", "version 001", "unchanged")
    assert snapshot(bundle) == before
    refused(capsys, ["retrain", str(bundle), "--data-dir", str(tmp_path / "nowhere")],
            "no such training folder", "--data-dir")
    assert snapshot(bundle) == before


def test_a_bundle_without_its_training_run_is_refused(world, tmp_path, capsys):
    bundle = shutil.copytree(world.pristine, tmp_path / "bundle")
    manifest = json.loads((bundle / "manifest.json").read_text())
    manifest["source_run"] = str(tmp_path / "deleted-run")
    (bundle / "manifest.json").write_text(json.dumps(manifest))
    before = snapshot(bundle)
    code, out = quiet_main(["retrain", str(bundle), "--json-progress"])
    assert code == 2 and snapshot(bundle) == before
    done = json.loads(out.splitlines()[-1])
    assert done["stage"] == "done" and done["installed"] is False
    for needle in ("deleted-run", "needs its folder", "train anew", "unchanged"):
        assert needle in done["reason"], done["reason"]


def test_failed_verification_installs_nothing(world, tmp_path, monkeypatch, capsys):
    import export.exporter

    copy_of_the_new_run(world, monkeypatch)
    real = export.exporter.export_run

    def failing(opts):
        result = real(opts)
        result.passed, result.reports[0]["failures"] = False, ["agreement 0.90 < 0.98"]
        return result

    monkeypatch.setattr(export.exporter, "export_run", failing)
    bundle = shutil.copytree(world.pristine, tmp_path / "bundle")
    before = snapshot(bundle)
    refused(capsys, ["retrain", str(bundle), "--runs-dir", str(tmp_path / "runs")], "failed verification",
            "agreement 0.90 < 0.98", "version 001", "unchanged", "--quantize float32")
    assert snapshot(bundle) == before and leftovers(bundle) == []


def test_a_retrain_killed_while_installing_leaves_no_half_version(world, tmp_path, monkeypatch):
    copy_of_the_new_run(world, monkeypatch)
    real_link, made = versions._link, []

    def dies_half_way(source, target):  # the process "dies" after a few files of the new folder
        if len(made) == 9:
            raise RuntimeError("killed")
        made.append(target)
        real_link(source, target)

    monkeypatch.setattr(versions, "_link", dies_half_way)
    bundle = shutil.copytree(world.pristine, tmp_path / "bundle")
    before = snapshot(bundle)
    with pytest.raises(RuntimeError, match="killed"):
        main(["retrain", str(bundle), "--runs-dir", str(tmp_path / "runs")])
    assert snapshot(bundle) == before and not (bundle / "versions").exists() and leftovers(bundle) == []


def test_sigterm_during_the_export_cancels_and_changes_nothing(world, tmp_path, monkeypatch):
    import export.exporter

    copy_of_the_new_run(world, monkeypatch)
    monkeypatch.setattr(export.exporter, "export_run", lambda opts: signal.raise_signal(signal.SIGTERM))
    bundle = shutil.copytree(world.pristine, tmp_path / "bundle")
    before, handler = snapshot(bundle), signal.getsignal(signal.SIGTERM)
    code, out = quiet_main(["retrain", str(bundle), "--runs-dir", str(tmp_path / "runs"), "--json-progress"])
    done = json.loads(out.splitlines()[-1])
    assert code == 130 and done["cancelled"] is True and done["installed"] is False and "SIGTERM" in done["reason"]
    assert snapshot(bundle) == before and leftovers(bundle) == []
    assert signal.getsignal(signal.SIGTERM) == handler  # the handler is put back


def test_export_force_onto_a_versioned_bundle_adds_a_version(world, tmp_path, capsys):
    bundle = shutil.copytree(world.pristine, tmp_path / "bundle")
    versions.use_version(bundle, "1")
    refused(capsys, ["export", str(world.run), "--out", str(bundle)], "keeps versions", "--force", "version 002")
    assert main(["export", str(world.run), "--out", str(bundle), "--force"]) == 0
    assert "as its version 002, now current" in capsys.readouterr().out
    assert sorted(os.listdir(bundle / "versions")) == ["001", "002", "current"]
    assert snapshot(bundle / "versions" / "001") == snapshot(world.pristine)


def test_a_retrain_continues_on_a_shorter_budget_that_does_not_shrink_again():
    from types import SimpleNamespace

    from retrain.pipeline import CONTINUE_EPOCH_SHARE, continuation_epochs
    from training.config import TrainConfig, auto_epochs

    fresh = TrainConfig(data_dir="photos", out="runs/a", learning_rate=3e-3)
    ran_30 = SimpleNamespace(raw={"epochs_run": 30}, splits={"train": []})
    assert continuation_epochs(fresh, ran_30) == -(-30 // CONTINUE_EPOCH_SHARE) < 30
    assert continuation_epochs(fresh, SimpleNamespace(raw={"epochs_run": 1}, splits={"train": []})) == 1  # never 0
    no_record = SimpleNamespace(raw={}, splits={"train": [{}] * 1000})  # automatic budget, epochs_run not recorded
    assert continuation_epochs(fresh, no_record) == -(-auto_epochs(1000) // CONTINUE_EPOCH_SHARE)
    continued = TrainConfig(data_dir="photos", out="runs/a-v002", epochs=10, learning_rate=3e-4, init_from="runs/a")
    assert continuation_epochs(continued, SimpleNamespace(raw={"epochs_run": 10}, splits={})) == 10
