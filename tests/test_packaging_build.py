"""The packaged desktop app (`make package`): builds, has neither TensorFlow nor the demo generator, passes --self-test, opens.

Slow (a PyInstaller build): run by `make package-test`, not `make test`. Reuses the folder that
`make package` just built when it is newer than every source file it packs; builds it otherwise.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

pytestmark = pytest.mark.slow

REPO = Path(__file__).resolve().parent.parent
APP = REPO / "packaging" / "dist" / "seefood-app"
EXE = APP / ("seefood-app.exe" if sys.platform == "win32" else "seefood-app")
SOURCES = ("seefood", "desktop", "packaging")
FORBIDDEN = ("tensorflow", "keras", "mediapipe", "matplotlib")


def _newest_source() -> float:
    return max(p.stat().st_mtime for folder in SOURCES for p in (REPO / folder).rglob("*.py")
               if "dist" not in p.parts and "build" not in p.parts)


@pytest.fixture(scope="module")
def app() -> Path:
    pytest.importorskip("PyInstaller", reason="pip install -e '.[package]'")
    if not (EXE.exists() and EXE.stat().st_mtime >= _newest_source()):
        if not (REPO / "demo" / "bundle" / "manifest.json").is_file():
            pytest.fail("no packaged app and no demo/bundle to build one from: run `make demo` then `make package`")
        result = subprocess.run([sys.executable, str(REPO / "packaging" / "build_desktop.py"), "--no-self-test"],
                                cwd=REPO, capture_output=True, text=True, timeout=1800)
        assert result.returncode == 0, (result.stdout + result.stderr)[-6000:]
    assert EXE.exists()
    return APP


def _env() -> dict:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("PYTHON", "VIRTUAL_ENV"))}
    env["QT_QPA_PLATFORM"] = "offscreen"
    return env


def test_self_test_classifies_the_built_in_picture(app):
    result = subprocess.run([str(EXE), "--self-test"], capture_output=True, text=True, timeout=120, env=_env())
    assert result.returncode == 0, result.stdout + result.stderr
    assert "self-test passed" in result.stdout
    assert "ai_edge_litert" in result.stdout  # ran on LiteRT, not a TensorFlow fallback
    classes = json.loads((app / "default_bundle" / "manifest.json").read_text())["classes"]
    assert any(f"says '{name}'" in result.stdout for name in classes)


def test_the_folder_holds_no_training_stack(app):
    internal = app / "_internal"
    names = {p.name.lower() for p in internal.iterdir()} if internal.is_dir() else set()
    for forbidden in FORBIDDEN:
        assert forbidden not in names, f"{forbidden} was packed into {internal}"
    assert not list(app.rglob("libtensorflow*")), "a TensorFlow library was packed"
    assert not (internal / "training").exists() and not (internal / "export").exists()
    info = json.loads((app / "build_info.json").read_text())
    assert info["with_tensorflow"] is False
    assert info["size_bytes"] < 400 * 2**20  # see packaging/README.md for the measured size


def _packed_modules(exe: Path) -> set[str]:
    """The Python modules inside the executable (PyInstaller keeps them in an archive, not as files)."""
    from PyInstaller.archive.readers import CArchiveReader

    archive = CArchiveReader(str(exe))
    return {name for entry in archive.toc if entry.endswith(".pyz")
            for name in archive.open_embedded_archive(entry).toc}


def test_the_app_packs_neither_the_training_stages_nor_the_demo_generator(app):
    packages = {name.split(".")[0] for name in _packed_modules(EXE)}
    assert {"seefood", "desktop"} <= packages
    assert not packages & {"training", "export", "bench", "demogen", "tensorflow", "keras"}


def test_the_window_opens_offscreen_on_the_built_in_picture(app, tmp_path):
    shot, stats = tmp_path / "shot.png", tmp_path / "stats.json"
    result = subprocess.run(
        [str(EXE), "--source", str(app / "selftest.jpg"), "--exit-after", "3",
         "--screenshot", str(shot), "--stats-json", str(stats), "--settings", str(tmp_path / "settings.ini")],
        capture_output=True, text=True, timeout=120, env=_env())
    assert result.returncode == 0, result.stdout + result.stderr
    assert shot.is_file() and shot.stat().st_size > 0
    numbers = json.loads(stats.read_text())
    assert numbers["tensorflow_imported"] is False
    assert numbers["frames_classified"] > 0
