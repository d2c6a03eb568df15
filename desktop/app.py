"""Starting the window from the command line, and the timed ``--exit-after`` run used by tests and benchmarks."""

from __future__ import annotations

import sys
import time
from pathlib import Path

import shiboken6
from PySide6.QtCore import QSettings, QTimer
from PySide6.QtWidgets import QApplication

from desktop.qtsignals import protect_singletons
from desktop.sources import SourceSpec
from desktop.stats import write_stats
from desktop.window import MainWindow

ORGANIZATION = "SeeFood"
APPLICATION = "seefood"


def make_settings(path: Path | str | None = None) -> QSettings:
    """Per-user settings (thresholds per model, last bundle, training folder), or an INI file at ``path``."""
    if path:
        return QSettings(str(path), QSettings.Format.IniFormat)
    return QSettings(QSettings.Format.IniFormat, QSettings.Scope.UserScope, ORGANIZATION, APPLICATION)


def source_spec(camera: int | None, source: str | None) -> SourceSpec:
    """``--source FILE`` (video, image or folder) wins; otherwise the camera (0 when not given)."""
    if source:
        return SourceSpec.for_path(source)
    return SourceSpec("camera", 0 if camera is None else int(camera))


def finish_timed_run(window, stats_json: str | None, screenshot: str | None) -> None:
    """Write the stats and the screenshot, then close the window (which stops the threads)."""
    if screenshot:
        Path(screenshot).parent.mkdir(parents=True, exist_ok=True)
        if not window.grab().save(str(screenshot)):
            print(f"warning: could not save the screenshot to {screenshot}", file=sys.stderr)
    stats = window.run_stats()
    window.close()
    stats["threads_stopped"] = not (window.source_thread.isRunning() or window.worker_thread.isRunning())
    if stats_json:
        write_stats(stats_json, stats)


def run_app(args, started_at: float | None = None) -> int:
    """Open the window for ``seefood app``; returns the exit code."""
    started_at = time.perf_counter() if started_at is None else started_at
    protect_singletons()  # CPython < 3.12 with PySide6 6.12: see desktop/qtsignals.py
    app = QApplication.instance() or QApplication(sys.argv[:1])
    app.setOrganizationName(ORGANIZATION)
    app.setApplicationName(APPLICATION)
    settings = make_settings(getattr(args, "settings", None))
    window = MainWindow(settings, num_threads=args.threads, started_at=started_at)

    bundle = args.model or settings.value("last_bundle", "")
    if bundle:
        window.open_bundle(bundle)
    else:
        window.banner.show_message("No model loaded: open a model bundle exported with `seefood export`.",
                                   [("Open model…", window.choose_bundle)], error=False, topic="model")
    data_dir = args.data_dir or settings.value("data_dir", "")
    if data_dir and Path(data_dir).is_dir():
        window.set_data_dir(data_dir)
    elif data_dir:  # remembered from an earlier session (--data-dir was checked before Qt started)
        window.banner.show_message(f"The training folder {data_dir} remembered from last time is gone; choose it "
                                   "again to save captures.", [("Choose folder…", window.choose_data_dir)],
                                   error=False, topic="data")
    window.open_source(source_spec(args.camera, args.source))
    window.show()

    if args.exit_after is not None:
        QTimer.singleShot(round(args.exit_after * 1000),
                          lambda: finish_timed_run(window, args.stats_json, args.screenshot))
    code = app.exec()
    # Delete the window (and its finished threads) while QApplication still exists: leaving it to
    # the garbage collector at interpreter exit can destroy them in the wrong order.
    window.shutdown()
    shiboken6.delete(window)
    return code
