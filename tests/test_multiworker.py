"""The README's multi-machine recipe, run: two ``seefood train`` processes on 127.0.0.1, each with its
own TF_CONFIG, train one run together with MultiWorkerMirroredStrategy. Both must finish, agree on
the model they trained, and only the chief may write ``--out`` (the other worker writes to a
scratch folder that is gone at the end). Both get the same ``--out`` on purpose: on one host that
is the case where a worker writing it would collide with the chief."""

from __future__ import annotations

import json
import math
import os
import re
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import pytest
from conftest import write_class_folder

ROOT = Path(__file__).resolve().parents[1]
DEADLINE_S = 240


def _free_ports(count: int) -> list[int]:
    """``count`` ports free on 127.0.0.1 now (bound to port 0, then released for the workers)."""
    sockets = []
    try:
        for _ in range(count):
            s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
            sockets.append(s)
            s.bind(("127.0.0.1", 0))
        return [s.getsockname()[1] for s in sockets]
    except OSError as error:
        pytest.skip(f"this platform cannot bind a port on 127.0.0.1 ({error}); a TF_CONFIG cluster's workers need two")
    finally:
        for s in sockets:
            s.close()


def _run_workers(commands: list[list[str]], envs: list[dict], logs: list[Path]) -> list[int]:
    """Start every worker, wait for all; kill them all (and fail with their output) past the deadline,
    or soon after one fails (the others would wait for it in their next collective step)."""
    procs = []
    try:
        for command, env, log in zip(commands, envs, logs):
            with open(log, "wb") as handle:
                procs.append(subprocess.Popen(command, cwd=ROOT, env=env, stdout=handle, stderr=subprocess.STDOUT))
        started, failed_at = time.monotonic(), None
        while any(p.poll() is None for p in procs):
            now = time.monotonic()
            if failed_at is None and any(p.returncode not in (None, 0) for p in procs):
                failed_at = now
            if now - started > DEADLINE_S or (failed_at is not None and now - failed_at > 15):
                break
            time.sleep(0.5)
    finally:
        for p in procs:
            if p.poll() is None:
                p.kill()
                p.wait()
    return [p.returncode for p in procs]


@pytest.mark.timeout(DEADLINE_S + 60)
def test_two_workers_train_one_run_and_only_the_chief_writes_it(tmp_path):
    data = write_class_folder(tmp_path / "data", {"hotdog": 16, "not_hotdog": 32}, seed=3)
    runs, scratch_root, log_dir = tmp_path / "runs", tmp_path / "tmp", tmp_path / "logs"
    for folder in (runs, scratch_root, log_dir):
        folder.mkdir()
    run = runs / "run"
    ports = _free_ports(2)
    cluster = {"worker": [f"127.0.0.1:{port}" for port in ports]}
    command = [sys.executable, "-m", "seefood", "train", str(data), "--out", str(run), "--image-size", "32",
               "--epochs", "2", "--batch-size", "8", "--augment", "none", "--model", "small_cnn"]
    envs = []
    for index in range(2):
        env = {k: v for k, v in os.environ.items() if k not in ("TF_CONFIG", "SEEFOOD_CPU_DEVICES")}
        env.update(TF_CONFIG=json.dumps({"cluster": cluster, "task": {"type": "worker", "index": index}}),
                   TMPDIR=str(scratch_root),  # where a worker's scratch folder goes: checked below
                   CUDA_VISIBLE_DEVICES="", TF_CPP_MIN_LOG_LEVEL="2", PYTHONUNBUFFERED="1")
        envs.append(env)
    logs = [log_dir / f"worker{index}.log" for index in range(2)]

    codes = _run_workers([command, command], envs, logs)
    chief, other = (log.read_text(encoding="utf-8", errors="replace") for log in logs)
    both = f"--- worker 0 (exit {codes[0]}) ---\n{chief[-5000:]}\n--- worker 1 (exit {codes[1]}) ---\n{other[-5000:]}"
    assert codes == [0, 0], both

    # They trained as one cluster of two replicas, not as two separate runs.
    for output in (chief, other):  # tf.distribute.MultiWorkerMirroredStrategy's class is CollectiveAllReduceStrategy
        assert re.search(r"^Devices: 2 replica\(s\) with (MultiWorkerMirrored|CollectiveAllReduce)Strategy;", output,
                         re.MULTILINE), both
    assert "worker 0 of 2, the chief: this worker writes the run to " + str(run) in chief, both
    assert "worker 1 of 2, not the chief: the chief writes the run to " + str(run) in other, both

    # Both agree: the same final loss to the last bit, and the same per-epoch summary lines.
    finals = [re.findall(r"final loss (\S+), val_loss (\S+)$", output, re.MULTILINE) for output in (chief, other)]
    assert len(finals[0]) == 1 and finals[0] == finals[1], both
    assert all(math.isfinite(float(v)) for v in finals[0][0]), both
    epochs = [re.findall(r"^\s*epoch \d+ \(train/val\): .*$", output, re.MULTILINE) for output in (chief, other)]
    assert len(epochs[0]) == 2 and epochs[0] == epochs[1], both

    # Only the chief wrote the run: it is whole, it names --out, and nothing else appeared beside it.
    assert sorted(p.name for p in runs.iterdir()) == ["run"]
    finished = json.loads((run / "run.json").read_text())
    assert finished["status"] == "finished" and finished["epochs_run"] == 2
    assert (run / "model.keras").is_file() and (run / "metrics.json").is_file()
    assert json.loads((run / "config.json").read_text())["out"] == str(run)
    assert f"model saved to {run / 'model.keras'}" in chief, both

    # The other worker wrote its copy to a scratch folder under TMPDIR, and deleted it.
    scratch = re.search(r"writes to the scratch folder (\S+), deleted at the end", other)
    assert scratch, both
    scratch = Path(scratch.group(1))
    assert scratch.parent == scratch_root and not scratch.exists(), both
    assert f"model saved to {scratch / 'run' / 'model.keras'}" in other, both
    assert str(run / "model.keras") not in other, both
    assert not [p.name for p in scratch_root.iterdir() if p.name.startswith("seefood-")], both


@pytest.mark.parametrize("cluster, task, expected", [
    ({"worker": ["a:1", "b:1"]}, {"type": "worker", "index": 0}, ("worker", 0, 2, True)),
    ({"worker": ["a:1", "b:1"]}, {"type": "worker", "index": 1}, ("worker", 1, 2, False)),
    ({"chief": ["c:1"], "worker": ["a:1"]}, {"type": "chief", "index": 0}, ("chief", 0, 2, True)),
    ({"chief": ["c:1"], "worker": ["a:1"]}, {"type": "worker", "index": 0}, ("worker", 0, 2, False)),
    ({"worker": ["a:1"]}, {"type": "worker", "index": 0}, None),  # one machine: no cluster to share with
])
def test_worker_role_follows_tensorflows_chief_rule(monkeypatch, cluster, task, expected):
    from training.cluster import worker_role

    monkeypatch.setenv("TF_CONFIG", json.dumps({"cluster": cluster, "task": task}))
    role = worker_role()
    assert (role if role is None else (role.kind, role.index, role.workers, role.chief)) == expected
    assert worker_role("none") is None  # --distribute none: this process trains alone, and writes


def test_worker_role_refuses_a_tf_config_that_is_not_json(monkeypatch):
    from seefood.errors import InputError
    from training.cluster import worker_role

    monkeypatch.delenv("TF_CONFIG", raising=False)
    assert worker_role() is None
    monkeypatch.setenv("TF_CONFIG", "{cluster: worker}")
    with pytest.raises(InputError, match="TF_CONFIG must be a JSON object"):
        worker_role()


def test_scratch_out_is_deleted_even_when_the_worker_fails(monkeypatch, tmp_path):
    from training.cluster import WorkerRole, scratch_out

    monkeypatch.setenv("TMPDIR", str(tmp_path))
    monkeypatch.setattr(tempfile, "tempdir", None)  # read TMPDIR again
    with pytest.raises(RuntimeError), scratch_out(WorkerRole("worker", 1, 2, False)) as out:
        out.mkdir()
        (out / "model.keras").write_bytes(b"x")
        raise RuntimeError("collective step failed")
    assert out.parent.parent == tmp_path and not out.parent.exists()
    assert list(tmp_path.iterdir()) == []
