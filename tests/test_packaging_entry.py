"""The packaged app's entry point (packaging/app_entry.py) from the source checkout: its self-test
and the command line work without the demo generator, which the packaged app leaves out."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

pytest.importorskip("PySide6.QtWidgets")
pytest.importorskip("ai_edge_litert")

from desktop_fixtures import bundle_dir, offscreen_env, tiny_tflite  # noqa: E402,F401

REPO = Path(__file__).resolve().parent.parent
# Run in a fresh Python where `import demogen` fails, as in the packaged app.
WITHOUT_DEMOGEN = f"""
import sys
sys.path[:0] = [{str(REPO)!r}, {str(REPO / "packaging")!r}]
sys.modules["demogen"] = None  # any import of the demo generator now raises ModuleNotFoundError
"""


def _run(code: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-c", WITHOUT_DEMOGEN + code], capture_output=True, text=True,
                          timeout=120, env=offscreen_env(), cwd=REPO)


def test_the_self_test_picture_is_drawn_the_same_every_time():
    sys.path.insert(0, str(REPO / "packaging"))
    try:
        from app_entry import selftest_picture
    finally:
        sys.path.remove(str(REPO / "packaging"))
    picture = selftest_picture()
    assert picture.shape == (224, 224, 3) and picture.dtype == np.uint8
    assert picture.std() > 20  # a plate, a bun and a sausage, not a blank frame
    assert np.array_equal(picture, selftest_picture())


def test_the_self_test_passes_without_the_demo_generator(bundle_dir):
    result = _run(f"""
from pathlib import Path
import app_entry
app_entry.default_bundle = lambda: Path({str(bundle_dir)!r})
sys.exit(app_entry.self_test())
""")
    assert result.returncode == 0, result.stdout + result.stderr
    assert "self-test passed" in result.stdout
    assert "for the drawn self-test picture" in result.stdout


@pytest.mark.parametrize("command, code", [("app", 0), ("demo", 2), ("demo-data", 2)])
def test_the_command_line_has_the_app_but_no_demo_without_the_demo_generator(command, code):
    result = _run(f"""
from seefood.cli import main
main([{command!r}, "--help"])
""")
    assert result.returncode == code, result.stdout + result.stderr
    if code:
        assert f"invalid choice: '{command}'" in result.stderr
