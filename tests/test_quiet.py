"""TensorFlow's start-up noise stays off the terminal; everything else, and --verbose, gets through."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def run_python(code: str, *args: str) -> subprocess.CompletedProcess:
    env = {k: v for k, v in os.environ.items() if k != "SEEFOOD_VERBOSE"}
    return subprocess.run([sys.executable, "-c", textwrap.dedent(code), *args], capture_output=True, text=True,
                          cwd=ROOT, env=env, timeout=120)


def test_the_filter_drops_only_matching_lines_written_at_the_file_descriptor():
    result = run_python("""
        import os, sys
        from seefood.quiet import filtered_stderr
        with filtered_stderr() as dropped:
            os.write(2, b"WARNING: All log messages before absl::InitializeLog() is called are written to STDERR\\n")
            os.write(2, b"I0000 00:00:1795517378.926613   17997 port.cc:153] oneDNN custom operations are on.\\n")
            os.write(2, b"E0000 00:00:1795517381.901424   17997 cuda_platform.cc:52] failed call to cuInit: (303)\\n")
            os.write(2, b"E0000 00:00:1795517381.901424   17997 other.cc:1] a real error\\n")
            print("from python", file=sys.stderr)
        print(len(dropped))
        print("after", file=sys.stderr)
    """)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "3"
    assert result.stderr.splitlines() == ["E0000 00:00:1795517381.901424   17997 other.cc:1] a real error",
                                          "from python", "after"]


def test_a_tensorflow_command_shows_its_error_and_no_start_up_noise_unless_verbose(tmp_path):
    missing = str(tmp_path / "no-bundle")
    quiet = run_python("import sys; from seefood.cli import main; sys.exit(main(sys.argv[1:]))", "verify", missing)
    assert quiet.returncode == 2
    assert quiet.stderr.strip().splitlines() == [f"error: {missing}: no such bundle folder; "
                                                 f"export one with `seefood export RUN_DIR --out {missing}`"]
    loud = run_python("import sys; from seefood.cli import main; sys.exit(main(sys.argv[1:]))",
                      "--verbose", "verify", missing)
    assert loud.returncode == 2 and "I0000" in loud.stderr and loud.stderr.strip().endswith(f"--out {missing}`")


def test_litert_start_up_line_stays_off_stderr_unless_verbose(tmp_path_factory):
    from tests.export_fixtures import cached_bundle

    code = """
        import os, sys
        import numpy as np
        os.environ["SEEFOOD_VERBOSE"] = sys.argv[2]
        from seefood.bundle import Classifier
        print("before", file=sys.stderr, flush=True)
        classifier = Classifier(sys.argv[1])
        print("scores", classifier.scores(np.zeros((60, 80, 3), np.uint8)).tolist())
        print("after", file=sys.stderr, flush=True)
    """
    bundle = str(cached_bundle(tmp_path_factory, "binary", "float32"))
    quiet, loud = run_python(code, bundle, "0"), run_python(code, bundle, "1")
    assert quiet.returncode == loud.returncode == 0 and "scores" in quiet.stdout, quiet.stderr[-3000:]
    assert quiet.stderr.splitlines() == ["before", "after"]  # the interpreter's line dropped, ours kept, in order
    assert "INFO: Created TensorFlow Lite XNNPACK delegate for CPU." in loud.stderr
