"""seefood.bundle: a good bundle classifies frames of any size; a bad one raises BundleError that says why."""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap
from pathlib import Path

import numpy as np
import pytest

from seefood.bundle import BundleError, Classifier, load_manifest, sha256_of
from seefood.cli import main
from tests.desktop_fixtures import tiny_tflite, write_bundle  # noqa: F401 (tiny_tflite: a fixture)
from tests.export_fixtures import COLOURS, cached_bundle, copy_bundle


@pytest.fixture
def bundle(tmp_path_factory, tmp_path) -> Path:
    return copy_bundle(cached_bundle(tmp_path_factory, "binary", "float32"), tmp_path / "bundle")


@pytest.fixture
def multiclass_bundle(tmp_path_factory, tmp_path) -> Path:
    return copy_bundle(cached_bundle(tmp_path_factory, "multiclass", "float32"), tmp_path / "multi")


def _frame(colour, height=480, width=640) -> np.ndarray:
    return np.broadcast_to(np.array(colour, dtype=np.uint8), (height, width, 3)).copy()


def _edit_manifest(bundle: Path, **changes) -> None:
    path = bundle / "manifest.json"
    data = json.loads(path.read_text())
    data.update(changes)
    path.write_text(json.dumps(data))


def test_classifies_frames_of_any_size(bundle):
    classifier = Classifier(bundle, num_threads=1)
    assert classifier.classes == ["salad", "pizza"]
    for shape in ((480, 640), (640, 480), (32, 32), (17, 300)):
        assert classifier.classify(_frame(COLOURS["pizza"], *shape)).label == "pizza"
        assert classifier.classify(_frame(COLOURS["salad"], *shape)).label == "salad"
    prediction = classifier.classify(_frame(COLOURS["pizza"]))
    assert prediction.top_class == "pizza" and prediction.confidence == prediction.scores["pizza"]
    assert classifier.classify(_frame(COLOURS["salad"]), threshold=0.0).label == "pizza"  # threshold is honoured


def test_multiclass_scores_follow_classes(multiclass_bundle):
    classifier = Classifier(multiclass_bundle)
    for name in ("salad", "pizza", "sushi"):
        prediction = classifier.classify(_frame(COLOURS[name]))
        assert prediction.top_class == name and list(prediction.scores) == ["salad", "pizza", "sushi"]
    assert classifier.decide(np.array([0.4, 0.35, 0.25]), threshold=0.5)[0] == "unknown"


def test_missing_model_file(bundle):
    (bundle / "model.tflite").unlink()
    with pytest.raises(BundleError, match="model_file is missing"):
        load_manifest(bundle)


def test_missing_manifest_and_folder(bundle, tmp_path):
    with pytest.raises(BundleError, match="no such bundle folder"):
        load_manifest(tmp_path / "nowhere")
    (bundle / "manifest.json").unlink()
    with pytest.raises(BundleError, match="not a SeeFood bundle"):
        load_manifest(bundle)


def test_changed_model_fails_the_hash(bundle):
    data = bytearray((bundle / "model.tflite").read_bytes())
    data[len(data) // 2] ^= 0xFF
    (bundle / "model.tflite").write_bytes(bytes(data))
    with pytest.raises(BundleError, match="sha256"):
        Classifier(bundle)


def test_a_model_file_rewritten_in_place_does_not_touch_a_loaded_classifier(tmp_path, tiny_tflite):
    """The classifier runs the bytes it checked, not a memory map of the file. On a memory map, a model rewritten
    in place (a copy over it while the app runs) changed a loaded classifier's answers (this model's weights are
    read from the map: its scores became 0.5 / 0.5) or ended the process with SIGBUS (seen in the desktop tests).
    Run in a child process, so that a regression fails this test instead of killing the suite."""
    bundle = write_bundle(tmp_path / "bundle", tiny_tflite)
    script = textwrap.dedent(f"""
        import numpy as np
        from pathlib import Path
        from seefood.bundle import Classifier
        bundle = Path({str(bundle)!r})
        frame = np.full((64, 64, 3), 200, np.uint8)
        classifier = Classifier(bundle, num_threads=1)
        before = classifier.scores(frame)
        with open(bundle / "model.tflite", "r+b") as handle:  # in place: same file, truncated, then new bytes
            handle.truncate(0)
            handle.write(bytes(4) + b"TFL3" + bytes(56))
        after = classifier.scores(frame)
        assert np.array_equal(before, after), (before, after)
        print("same scores", after.tolist())
    """)
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=120,
                          cwd=Path(__file__).resolve().parents[1])
    assert done.returncode == 0, f"exit {done.returncode}: {done.stderr[-3000:]}"
    assert "same scores" in done.stdout
    with pytest.raises(BundleError, match="sha256"):  # and a new classifier refuses the rewritten file
        Classifier(bundle)


def test_labels_that_do_not_match_the_manifest(bundle):
    (bundle / "labels.txt").write_text("pizza\nsalad\n")
    with pytest.raises(BundleError, match="do not match"):
        load_manifest(bundle)


def test_labels_count_not_matching_the_model_output(multiclass_bundle):
    (multiclass_bundle / "labels.txt").write_text("salad\npizza\n")
    _edit_manifest(multiclass_bundle, classes=["salad", "pizza"], labels=["salad", "pizza"])
    load_manifest(multiclass_bundle)  # consistent on paper ...
    with pytest.raises(BundleError, match="3 outputs"):
        Classifier(multiclass_bundle)  # ... but the model has three outputs


@pytest.mark.parametrize("name", ["../model.tflite", "/etc/passwd", "sub/../../x.tflite"])
def test_paths_escaping_the_bundle(bundle, name):
    _edit_manifest(bundle, model_file=name)
    with pytest.raises(BundleError, match="inside the bundle|outside the bundle"):
        load_manifest(bundle)


def test_a_file_that_is_not_tflite(bundle):
    (bundle / "model.tflite").write_bytes(b"PK\x03\x04 this is a zip, not a model" * 10)
    _edit_manifest(bundle, model_sha256=sha256_of(bundle / "model.tflite"))
    with pytest.raises(BundleError, match="not a TFLite model"):
        load_manifest(bundle)


def test_unsupported_schema_version_and_bad_json(bundle):
    _edit_manifest(bundle, schema_version=99)
    with pytest.raises(BundleError, match="schema_version"):
        load_manifest(bundle)
    (bundle / "manifest.json").write_text("{not json")
    with pytest.raises(BundleError, match="not valid JSON"):
        load_manifest(bundle)


def test_cli_reports_a_bad_bundle_without_a_traceback(bundle, capsys):
    (bundle / "model.tflite").unlink()
    assert main(["bench", str(bundle), "--runs", "5"]) == 2
    assert "model.tflite" in capsys.readouterr().err


def test_falls_back_to_tflite_runtime_then_fails_clearly_without_any_interpreter(bundle, monkeypatch):
    """Without ai-edge-litert the classifier uses tflite_runtime (phones, old Raspberry Pi images);
    with no interpreter at all it says what to install."""
    import types

    from ai_edge_litert.interpreter import Interpreter

    fake = types.ModuleType("tflite_runtime")
    fake.interpreter = types.ModuleType("tflite_runtime.interpreter")
    fake.interpreter.Interpreter = Interpreter  # same API: Interpreter(model_content=..., num_threads=...)
    monkeypatch.setitem(sys.modules, "ai_edge_litert", None)  # None in sys.modules: import raises ImportError
    monkeypatch.setitem(sys.modules, "ai_edge_litert.interpreter", None)
    monkeypatch.setitem(sys.modules, "tflite_runtime", fake)
    monkeypatch.setitem(sys.modules, "tflite_runtime.interpreter", fake.interpreter)
    classifier = Classifier(bundle, num_threads=1)
    assert classifier.interpreter_name == "tflite_runtime"
    assert classifier.classify(_frame(COLOURS["pizza"])).label == "pizza"

    for name in ("tflite_runtime", "tflite_runtime.interpreter", "tensorflow", "tensorflow.lite"):
        monkeypatch.setitem(sys.modules, name, None)
    with pytest.raises(BundleError, match="no TFLite interpreter is installed.*pip install ai-edge-litert"):
        Classifier(bundle)

