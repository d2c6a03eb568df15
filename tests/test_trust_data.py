"""Never lose a photo or a run: ``--force`` replaces only what SeeFood wrote, outputs never land in
or around what a command reads, and a failed run leaves nothing half-written behind.

Every case asserts the message, the exit code, and that no user file changed (content hashes of
the whole tree before and after)."""

from __future__ import annotations

import errno
import hashlib
import json
import shutil
from pathlib import Path

import pytest

from conftest import write_class_folder
from seefood.cli import main


def snapshot(root: Path) -> dict[str, str]:
    """Every file under ``root`` (relative path -> sha256): equal snapshots mean nothing changed."""
    return {str(p.relative_to(root)): hashlib.sha256(p.read_bytes()).hexdigest()
            for p in sorted(root.rglob("*")) if p.is_file()}


@pytest.fixture
def photos(tmp_path) -> Path:
    return write_class_folder(tmp_path / "photos", {"hotdog": 6, "not_hotdog": 12}, seed=3)


@pytest.fixture
def run_copy(tiny_binary_run, tmp_path) -> Path:
    run = tmp_path / "run"
    shutil.copytree(tiny_binary_run, run)
    return run


def refused(capsys, argv: list[str], *needles: str) -> str:
    """Run the CLI, expect exit code 2 and a one-line error containing every needle."""
    assert main(argv) == 2
    err = capsys.readouterr().err
    message = [line for line in err.splitlines() if line.startswith("error: ")]
    assert len(message) == 1, err
    for needle in needles:
        assert needle in message[0], message[0]
    return message[0]


@pytest.mark.parametrize("where", ["same", "parent", "inside"])
def test_train_never_writes_into_or_around_the_photos(capsys, photos, where):
    out = {"same": photos, "parent": photos.parent, "inside": photos / "hotdog" / "run"}[where]
    relation = {"same": "is the data folder", "parent": "contains the data folder", "inside": "is inside the data folder"}
    before = snapshot(photos.parent)
    refused(capsys, ["train", str(photos), "--out", str(out), "--force", "--epochs", "1"], relation[where])
    assert snapshot(photos.parent) == before


def test_force_never_replaces_a_folder_seefood_did_not_write(capsys, photos, tmp_path):
    album = write_class_folder(tmp_path / "album", {"holiday": 3}, seed=4)
    before = snapshot(album)
    message = refused(capsys, ["train", str(photos), "--out", str(album), "--force", "--epochs", "1"],
                      "files SeeFood did not write", "holiday", "never replaced, even with --force")
    assert "bundle" not in message  # it names what the folder is, not "a bundle"
    assert snapshot(album) == before


def test_a_run_folder_with_a_photo_added_is_not_replaced(capsys, photos, run_copy):
    (run_copy / "plots" / "my_photo.jpg").write_bytes(b"\xff\xd8 a user's photo")
    before = snapshot(run_copy)
    refused(capsys, ["train", str(photos), "--out", str(run_copy), "--force"], "plots/my_photo.jpg")
    assert snapshot(run_copy) == before


def test_init_from_and_out_the_same_run_is_refused(capsys, photos, run_copy):
    before = snapshot(run_copy)
    refused(capsys, ["train", str(photos), "--out", str(run_copy), "--init-from", str(run_copy), "--force"],
            "is the --init-from run")
    assert snapshot(run_copy) == before


def test_without_force_an_existing_run_is_named_as_a_run(capsys, photos, run_copy):
    refused(capsys, ["train", str(photos), "--out", str(run_copy)], "a SeeFood run folder is already there", "--force")


def test_a_failed_forced_retrain_puts_the_old_run_back(monkeypatch, capsys, run_copy):
    import training.train as train_mod

    before = snapshot(run_copy)
    data = json.loads((run_copy / "config.json").read_text())["data_dir"]

    def full_disk(cfg, out, prepared):
        (out / "checkpoints").mkdir()
        (out / "checkpoints" / "last.keras").write_bytes(b"half")
        raise OSError(errno.ENOSPC, "No space left on device", str(out / "checkpoints" / "last.keras"))

    monkeypatch.setattr(train_mod, "fit", full_disk)
    refused(capsys, ["train", data, "--out", str(run_copy), "--force", "--image-size", "32"],
            "No space left on device", "free some disk space", "last.keras")
    assert snapshot(run_copy) == before  # the earlier run is back, whole
    assert not [p for p in run_copy.parent.iterdir() if p.name.startswith(".run.previous")]


def test_a_failed_new_run_leaves_no_folder(monkeypatch, capsys, photos, tmp_path):
    import training.train as train_mod

    def full_disk(cfg, out, prepared):
        raise OSError(errno.ENOSPC, "No space left on device", str(out / "history.csv"))

    monkeypatch.setattr(train_mod, "fit", full_disk)
    refused(capsys, ["train", str(photos), "--out", str(tmp_path / "new_run"), "--image-size", "32"], "history.csv")
    assert not (tmp_path / "new_run").exists()


def test_a_diverged_training_stops_with_a_message_and_keeps_nothing(capsys, photos, tmp_path):
    before = snapshot(photos)
    refused(capsys, ["train", str(photos), "--out", str(tmp_path / "nan_run"), "--image-size", "32", "--epochs", "3",
                     "--augment", "none", "--learning-rate", "1e30"],
            "diverged", "NaN", "--learning-rate 0.003")
    assert not (tmp_path / "nan_run").exists() and snapshot(photos) == before


def test_a_run_folder_inside_the_data_folder_is_not_trained_on(capsys, photos, run_copy, tmp_path):
    shutil.copytree(run_copy, photos / "old_run")
    refused(capsys, ["train", str(photos), "--out", str(tmp_path / "r2"), "--image-size", "32"],
            "old_run", "SeeFood run folder inside the data folder", "Move it out")


def test_a_class_name_that_cannot_round_trip_is_refused_before_training(capsys, tmp_path):
    data = write_class_folder(tmp_path / "d", {"hotdog ": 4, "not_hotdog": 4}, seed=5)
    refused(capsys, ["train", str(data), "--out", str(tmp_path / "r"), "--image-size", "32"],
            "hotdog ", "whitespace", "rename it")
    assert not (tmp_path / "r").exists()


@pytest.mark.parametrize("target", ["run", "photos", "parent_of_photos"])
def test_export_never_replaces_the_run_or_the_photos(capsys, run_copy, target):
    data = Path(json.loads((run_copy / "run.json").read_text())["data_dir"])
    out = {"run": run_copy, "photos": data, "parent_of_photos": data.parent}[target]
    watched = out if target != "run" else run_copy
    before = snapshot(watched)
    refused(capsys, ["export", str(run_copy), "--out", str(out), "--force", "--no-verify"],
            {"run": "is the run folder", "photos": "is the run's data folder",
             "parent_of_photos": "contains the run's data folder"}[target])
    assert snapshot(watched) == before


def test_export_force_refuses_a_folder_of_photos(capsys, run_copy, tmp_path):
    album = write_class_folder(tmp_path / "album", {"holiday": 3}, seed=6)
    before = snapshot(album)
    refused(capsys, ["export", str(run_copy), "--out", str(album), "--force", "--no-verify"],
            "files SeeFood did not write", "not a SeeFood bundle")
    assert snapshot(album) == before


def test_export_force_replaces_its_own_bundle(capsys, run_copy, tmp_path):
    bundle = tmp_path / "bundle"
    assert main(["export", str(run_copy), "--out", str(bundle), "--no-verify"]) == 0
    refused(capsys, ["export", str(run_copy), "--out", str(bundle), "--no-verify"], "a SeeFood bundle is already there")
    assert main(["export", str(run_copy), "--out", str(bundle), "--no-verify", "--force"]) == 0
    assert (bundle / "model.tflite").is_file()


def test_demo_data_force_never_deletes_added_photos(capsys, tmp_path):
    from demogen.data import generate

    root = tmp_path / "demo"
    generate(root, scale=0.05)
    captured = root / "train" / "hotdog" / "capture_0001.jpg"
    captured.write_bytes(b"\xff\xd8 captured frame")
    before = snapshot(root)
    with pytest.raises(FileExistsError, match="capture_0001.jpg"):
        generate(root, scale=0.05, force=True)
    assert snapshot(root) == before
    captured.unlink()
    generate(root, scale=0.05, force=True)  # its own files alone: replaced


def test_predict_on_an_interrupted_run_says_how_to_continue(capsys, run_copy, photos):
    info = json.loads((run_copy / "run.json").read_text())
    (run_copy / "run.json").write_text(json.dumps({"status": "interrupted", "task": info["task"],
                                                   "classes": info["classes"]}))
    refused(capsys, ["predict", str(run_copy), str(photos)], "interrupted", "--init-from")
    refused(capsys, ["evaluate", str(run_copy)], "interrupted", "--init-from")


def test_init_from_a_truncated_checkpoint_names_the_file(capsys, run_copy, photos, tmp_path):
    (run_copy / "model.keras").unlink()
    last = run_copy / "checkpoints" / "last.keras"
    last.write_bytes(last.read_bytes()[:1000])
    refused(capsys, ["train", str(photos), "--out", str(tmp_path / "r3"), "--image-size", "32",
                     "--init-from", str(run_copy)], "last.keras", "cannot be loaded")
    assert not (tmp_path / "r3").exists()


@pytest.fixture
def bundle_copy(run_copy, tmp_path) -> Path:
    bundle = tmp_path / "bundle"
    assert main(["export", str(run_copy), "--out", str(bundle), "--no-verify"]) == 0
    return bundle


def test_verify_on_a_read_only_bundle_prints_the_report_and_changes_nothing(monkeypatch, capsys, bundle_copy):
    import export.verify as verify

    def read_only(folder, report):
        raise PermissionError(errno.EACCES, "Permission denied", str(Path(folder) / "verification.json"))

    monkeypatch.setattr(verify, "record", read_only)  # root ignores chmod, so the refusal is simulated
    before = snapshot(bundle_copy)
    assert main(["verify", str(bundle_copy)]) == 2
    captured = capsys.readouterr()
    assert "agreement" in captured.out  # the report is shown, not lost
    assert "Permission denied" in captured.err and "report above was not saved" in captured.err
    assert snapshot(bundle_copy) == before


def test_export_on_a_full_disk_leaves_no_half_bundle(monkeypatch, capsys, run_copy, tmp_path):
    import export.bundle_writer as writer

    def full_disk(folder, *args, **kwargs):
        raise OSError(errno.ENOSPC, "No space left on device", str(Path(folder) / "model.tflite"))

    monkeypatch.setattr(writer, "write_bundle_files", full_disk)
    refused(capsys, ["export", str(run_copy), "--out", str(tmp_path / "b"), "--no-verify"],
            "No space left on device", "free some disk space")
    assert not (tmp_path / "b").exists() and [p.name for p in tmp_path.iterdir()] == ["run"]


def test_a_conversion_error_is_one_line_with_the_way_out(monkeypatch, capsys, run_copy, tmp_path):
    import export.convert as convert

    def broken(*args, **kwargs):
        raise RuntimeError("ConverterError: quantization of op FULLY_CONNECTED is not supported")

    monkeypatch.setattr(convert, "convert", broken)
    refused(capsys, ["export", str(run_copy), "--out", str(tmp_path / "b"), "--quantize", "int8"],
            "converting to int8 failed", "FULLY_CONNECTED", "--quantize float16 or dynamic")
    assert not (tmp_path / "b").exists()


def test_a_model_keras_safe_mode_refuses_is_one_line_not_a_traceback(capsys, run_copy, photos):
    """A crafted model.keras with a Lambda layer (arbitrary code): Keras safe mode refuses it, and
    the user gets one line naming the file instead of a traceback."""
    import keras

    inputs = keras.Input((32, 32, 3), dtype="uint8")
    outputs = keras.layers.Lambda(lambda x: keras.ops.mean(keras.ops.cast(x, "float32"), axis=(1, 2, 3), keepdims=False)[:, None])(inputs)
    keras.Model(inputs, outputs).save(run_copy / "model.keras")
    refused(capsys, ["predict", str(run_copy), str(photos)], "model.keras", "cannot be loaded")
    refused(capsys, ["export", str(run_copy), "--out", str(run_copy.parent / "b"), "--no-verify"], "model.keras",
            "cannot be loaded")
