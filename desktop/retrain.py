"""Retraining from the app: ``seefood retrain`` as a child process, its progress as Qt signals.

The app never imports TensorFlow, so the retrain runs as its own process (``QProcess``): the
preview keeps running, and Cancel stops the child, whose staged writes leave the bundle as it was.
The child speaks one JSON object per line on stdout (``seefood retrain --json-progress``):

    {"stage": "train", "epoch": 3, "of": 10, "metrics": {...}, "eta_s": 41}
    {"stage": "export"} / {"stage": "verify"} / {"stage": "compare"} / {"stage": "install"}
    {"stage": "done", "installed": true, "version": "002", "reason": "...", "comparison": {...}}

Other lines (stderr, or stdout that is not JSON) are passed on as ``log`` lines and kept, so a
failure can say what the child said last.
"""

from __future__ import annotations

import json
import shutil
import sys
from collections import deque
from pathlib import Path

from PySide6.QtCore import QObject, QProcess, QTimer, Signal

# Where each stage starts on the overall progress bar (0..1); training fills most of it.
STAGE_START = {"start": 0.0, "train": 0.02, "export": 0.82, "verify": 0.9, "compare": 0.95, "install": 0.98, "done": 1.0}
CANCEL_GRACE_MS = 10_000  # after terminate(), how long the child has to clean up before it is killed
LOG_LINES = 40


def retrain_command(bundle_dir: Path | str, data_dir: Path | str | None, epochs: int | None = None) -> list[str]:
    """The ``seefood retrain`` command line for this installation.

    From source or pip: this Python (``-m seefood.cli``). From the packaged app, which holds no
    TensorFlow: the ``seefood`` command of a full installation on PATH, else a clear error.
    ``--no-switch``: a new version is installed without being made current; the panel's Switch /
    Keep decides."""
    # --no-switch: the new version is installed but the user chooses (Switch / Keep) in the app
    args = ["retrain", str(bundle_dir), "--json-progress", "--no-switch"]
    if data_dir is not None:
        args += ["--data-dir", str(data_dir)]
    if epochs is not None:
        args += ["--epochs", str(epochs)]
    if getattr(sys, "frozen", False):
        seefood = shutil.which("seefood")
        if seefood is None:
            raise RuntimeError("retraining needs SeeFood's training installed (the packaged app has no TensorFlow): "
                               "`pip install seefood[train]`, then press Retrain again")
        return [seefood, *args]
    return [sys.executable, "-m", "seefood.cli", *args]


def overall_fraction(event: dict) -> float:
    """0..1 for the progress bar from one progress event."""
    stage = event.get("stage", "start")
    start = STAGE_START.get(stage, 0.0)
    if stage == "train" and event.get("of"):
        end = STAGE_START["export"]
        return start + (end - start) * min(1.0, float(event.get("epoch", 0)) / float(event["of"]))
    return start


class RetrainJob(QObject):
    """One ``seefood retrain`` child process. ``finished`` always comes exactly once: with the
    child's own ``done`` event, or one made here when it was cancelled or failed."""

    progress = Signal(dict)
    log = Signal(str)
    finished = Signal(dict)

    def __init__(self, command: list[str], parent: QObject | None = None):
        super().__init__(parent)
        self.command = list(command)
        self.lines: deque[str] = deque(maxlen=LOG_LINES)
        self.cancelled = False
        self._done: dict | None = None
        self._ended = False
        self._buffer = b""
        self._process = QProcess(self)
        self._process.setProcessChannelMode(QProcess.ProcessChannelMode.SeparateChannels)
        self._process.readyReadStandardOutput.connect(self._read_stdout)
        self._process.readyReadStandardError.connect(self._read_stderr)
        self._process.finished.connect(self._process_finished)
        self._process.errorOccurred.connect(self._process_error)
        self._kill_timer = QTimer(self)
        self._kill_timer.setSingleShot(True)
        self._kill_timer.timeout.connect(self._process.kill)

    def start(self) -> None:
        self.progress.emit({"stage": "start"})
        self._process.start(self.command[0], self.command[1:])

    def running(self) -> bool:
        return self._process.state() != QProcess.ProcessState.NotRunning

    def cancel(self) -> None:
        """Ask the child to stop (SIGTERM: it cleans up its staged files), and kill it after a grace period."""
        if not self.running():
            return
        self.cancelled = True
        self._process.terminate()
        self._kill_timer.start(CANCEL_GRACE_MS)

    def wait(self, msecs: int = 30_000) -> bool:
        return self._process.waitForFinished(msecs)

    def kill(self) -> None:
        self._process.kill()
        self._process.waitForFinished(2_000)

    def _read_stdout(self) -> None:
        self._buffer += bytes(self._process.readAllStandardOutput())
        *complete, self._buffer = self._buffer.split(b"\n")
        for raw in complete:
            self._line(raw.decode("utf-8", "replace").rstrip("\r"))

    def _line(self, text: str) -> None:
        if not text.strip():
            return
        try:
            event = json.loads(text)
        except ValueError:
            event = None
        if not isinstance(event, dict) or "stage" not in event:
            self.lines.append(text)
            self.log.emit(text)
            return
        if event["stage"] == "done":
            self._done = event
        else:
            self.progress.emit(event)

    def _read_stderr(self) -> None:
        for text in bytes(self._process.readAllStandardError()).decode("utf-8", "replace").splitlines():
            if text.strip():
                self.lines.append(text)
                self.log.emit(text)

    def _process_finished(self, exit_code: int, _status) -> None:
        self._kill_timer.stop()
        self._read_stdout()
        if self._buffer:
            self._line(self._buffer.decode("utf-8", "replace"))
            self._buffer = b""
        if self._done is not None and not self.cancelled:
            self._end(self._done)
        elif self.cancelled:
            self._end({"stage": "done", "installed": False, "cancelled": True,
                       "reason": "cancelled: the retrain was stopped; the current model and its files are unchanged"})
        else:
            said = self.lines[-1] if self.lines else "no output"
            self._end({"stage": "done", "installed": False, "exit_code": exit_code,
                       "reason": f"the retrain stopped with exit code {exit_code}: {said}"})

    def _process_error(self, error) -> None:
        if error == QProcess.ProcessError.FailedToStart:
            self._end({"stage": "done", "installed": False,
                       "reason": f"could not start {self.command[0]}: {self._process.errorString()}"})

    def _end(self, event: dict) -> None:
        if not self._ended:
            self._ended = True
            self.finished.emit(event)
