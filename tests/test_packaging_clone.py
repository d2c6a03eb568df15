"""A fresh clone needs nothing outside itself: `make -n demo` and `make -n test` stay inside it."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parent.parent
ALLOWED_ABSOLUTE = ("/dev/null",)
ABSOLUTE_PATH = re.compile(r"(?<![\w.$-])/[\w.+-]+(?:/[\w.+-]+)*")


def _git(*args, cwd=REPO) -> subprocess.CompletedProcess:
    return subprocess.run(["git", *args], cwd=cwd, capture_output=True, text=True)


@pytest.fixture(scope="module")
def clone(tmp_path_factory) -> Path:
    if shutil.which("git") is None or shutil.which("make") is None:
        pytest.skip("git and make are needed to check a fresh clone")
    head = _git("rev-parse", "HEAD")
    if head.returncode != 0:
        pytest.skip(f"the repository has no commit to clone yet ({head.stderr.strip()})")
    target = tmp_path_factory.mktemp("clone") / "seefood"
    cloned = _git("clone", "--quiet", str(REPO), str(target))
    assert cloned.returncode == 0, cloned.stderr
    return target


def _dry_run(clone: Path, target: str) -> str:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("MAKE", "MFLAGS", "VIRTUAL_ENV"))}
    result = subprocess.run(["make", "-n", target], cwd=clone, env=env, capture_output=True, text=True)
    assert result.returncode == 0, result.stdout + result.stderr
    return result.stdout


def _outside(output: str, clone: Path) -> list[str]:
    inside = str(clone.resolve())
    problems = [f"relative path leaving the clone: {line.strip()}" for line in output.splitlines() if "../" in line]
    for path in ABSOLUTE_PATH.findall(output):
        if path in ALLOWED_ABSOLUTE or path == inside or path.startswith(inside + "/"):
            continue
        problems.append(f"absolute path: {path}")
    return problems


@pytest.mark.parametrize("target", ["demo", "test"])
def test_make_target_uses_only_the_clone(clone, target):
    output = _dry_run(clone, target)
    assert output.strip(), f"`make -n {target}` printed no commands"
    assert str(REPO) not in output
    assert "shared" not in output.split()  # never ../shared or a shared data folder
    assert not _outside(output, clone), "\n".join(_outside(output, clone))


def test_the_clone_has_what_the_demo_runs(clone):
    demo = _dry_run(clone, "demo")
    assert "seefood demo" in demo and "--epochs" in demo
    for path in ("pyproject.toml", "Makefile", "seefood/cli.py", "demogen/data.py", "demogen/commands.py"):
        assert (clone / path).is_file(), f"{path} is not committed"
    for package in ("training", "export", "desktop"):
        assert (clone / package / "commands.py").is_file(), f"{package}/commands.py is not committed"
