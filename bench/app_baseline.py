"""Baseline for the desktop benchmark: the naive app, classifying with the Keras model in the GUI thread.

Same kind of window (preview with the crop outlined, verdict, rates) and the same video source as
``seefood app --source VIDEO``, but one timer in the GUI thread reads the next frame, runs
``model.keras`` from the training run on it, and only then draws. Frames that came due while the GUI
thread was busy are skipped, as a live camera would lose them, and counted as dropped. It writes the
same ``--stats-json`` keys as the app. It imports TensorFlow: it is a benchmark, not the app.

    python -m bench.app_baseline --run RUN_DIR --source VIDEO --exit-after 10 --stats-json out.json
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

STARTED_AT = time.perf_counter()  # before TensorFlow, Qt and OpenCV load, as in `seefood app`


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m bench.app_baseline", description=__doc__.split("\n")[0])
    parser.add_argument("--run", required=True, metavar="RUN_DIR", help="training run folder with model.keras and run.json")
    parser.add_argument("--source", required=True, metavar="VIDEO", help="video file, paced at its own FPS")
    parser.add_argument("--exit-after", type=float, required=True, metavar="SECONDS")
    parser.add_argument("--stats-json", metavar="FILE")
    parser.add_argument("--screenshot", metavar="FILE")
    return parser.parse_args(argv)


class KerasGuiClassifier:
    """model.keras + run.json: scores in ``classes`` order and the decision, like seefood.bundle.Classifier."""

    def __init__(self, run_dir: Path):
        import keras

        run = json.loads((run_dir / "run.json").read_text(encoding="utf-8"))
        self.task = run["task"]
        self.classes = list(run["classes"])
        self.positive_class = run.get("positive_class")
        self.threshold = float(run["threshold"])
        self.image_size = int(run["preprocessing"]["image_size"])
        self.model = keras.models.load_model(run_dir / "model.keras", compile=False)

    def classify(self, rgb):
        import numpy as np

        from desktop.worker import Verdict
        from seefood.preprocessing import fit_to_input
        from seefood.scoring import class_probabilities, decide

        start = time.perf_counter()
        out = np.asarray(self.model(fit_to_input(rgb, self.image_size)[np.newaxis], training=False))[0]
        ms = (time.perf_counter() - start) * 1000.0
        scores = class_probabilities(out[np.newaxis], self.task == "binary")[0]
        label, confidence, top = decide(self.task, self.classes, scores, self.threshold)
        verdict = Verdict(label=label, confidence=confidence, top_class=top,
                          scores=dict(zip(self.classes, scores)), threshold=self.threshold, task=self.task,
                          positive_class=self.positive_class, frame_index=0, inference_ms=ms)
        return verdict, ms


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    import cv2
    from PySide6.QtCore import Qt, QTimer
    from PySide6.QtWidgets import QApplication, QHBoxLayout, QMainWindow, QVBoxLayout, QWidget

    from desktop.frames import Frame
    from desktop.panels import RatesPanel, VerdictPanel
    from desktop.preview import PreviewWidget
    from desktop.qtsignals import protect_singletons
    from desktop.stats import RunStats, measured_fps, write_stats

    protect_singletons()  # CPython < 3.12 with PySide6 6.12: see desktop/qtsignals.py
    app = QApplication.instance() or QApplication(sys.argv[:1])
    classifier = KerasGuiClassifier(Path(args.run))
    capture = cv2.VideoCapture(args.source)
    if not capture.isOpened():
        print(f"error: {args.source}: cannot open this video", file=sys.stderr)
        return 2
    fps = capture.get(cv2.CAP_PROP_FPS) or 30.0

    window = QMainWindow()
    window.setWindowTitle("SeeFood baseline (Keras in the GUI thread)")
    preview, verdict_panel, rates = PreviewWidget(), VerdictPanel(), RatesPanel("")
    side = QVBoxLayout()
    side.addWidget(verdict_panel)
    side.addStretch(1)
    side.addWidget(rates)
    side_widget = QWidget()
    side_widget.setLayout(side)
    side_widget.setFixedWidth(380)
    body = QHBoxLayout()
    body.addWidget(preview, 1)
    body.addWidget(side_widget)
    central = QWidget()
    central.setLayout(body)
    window.setCentralWidget(central)
    window.resize(1100, 640)
    window.show()

    stats = RunStats(STARTED_AT)
    state = {"read": 0, "dropped": 0, "index": 0, "first": None, "last": None, "opened": time.perf_counter()}

    def read_frame():
        ok, bgr = capture.read()
        if not ok:  # loop the video like the app does
            capture.set(cv2.CAP_PROP_POS_FRAMES, 0)
            ok, bgr = capture.read()
        now = time.perf_counter()
        state["read"] += 1
        state["first"] = state["first"] or now
        state["last"] = now
        return bgr if ok else None

    def tick():
        due = int((time.perf_counter() - state["opened"]) * fps)  # frames a live source has sent by now
        while state["index"] < due - 1:  # the GUI thread was busy: those frames are gone
            read_frame()
            state["index"] += 1
            state["dropped"] += 1
        bgr = read_frame()
        state["index"] += 1
        if bgr is None:
            return
        rgb = cv2.cvtColor(bgr, cv2.COLOR_BGR2RGB)
        verdict, ms = classifier.classify(rgb)  # blocks the GUI thread: the point of the baseline
        preview.show_frame(Frame(rgb=rgb, index=state["index"], source=args.source))
        stats.frame_shown()
        verdict_panel.show_verdict(verdict)
        stats.verdict(ms)
        rates.show_rates(stats.display_fps(), ms, state["dropped"])

    timer = QTimer(interval=max(1, round(1000.0 / fps)))
    timer.setTimerType(Qt.TimerType.PreciseTimer)
    timer.timeout.connect(tick)
    timer.start()

    def finish():
        timer.stop()
        if args.screenshot:
            window.grab().save(args.screenshot)
        result = stats.to_dict(frames_classified=len(stats.inference_ms), frames_dropped=state["dropped"],
                               source_fps=measured_fps(state["read"], state["first"], state["last"]),
                               source_nominal_fps=round(fps, 2), frames_read=state["read"],
                               classifier="keras-gui-thread")
        capture.release()
        if args.stats_json:
            write_stats(args.stats_json, result)
        window.close()
        app.quit()

    QTimer.singleShot(round(args.exit_after * 1000), finish)
    return app.exec()


if __name__ == "__main__":
    sys.exit(main())
