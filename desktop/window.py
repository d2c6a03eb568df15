"""The main window: composes the panels and wires the capture thread and the classifier thread.

The window never reads a camera or runs a model: ``FrameSource`` and ``ClassifierWorker`` live on
their own QThreads and talk to it through signals. Frames reach the window through a one-frame
mailbox (the newest wins); the window shows each one and submits it to the worker, whose own
mailbox drops frames that arrive while an inference runs.
"""

from __future__ import annotations

import sys
import time
from pathlib import Path

from PySide6.QtCore import QFileSystemWatcher, QSettings, Qt, QThread, QTimer, Signal, Slot
from PySide6.QtGui import QAction, QActionGroup, QKeySequence, QShortcut
from PySide6.QtWidgets import QFileDialog, QFrame, QHBoxLayout, QMainWindow, QScrollArea, QVBoxLayout, QWidget

from seefood.bundle import MANIFEST_NAME, verification_warning
from desktop.capture import CaptureError, class_counts, count_images, save_capture
from desktop.retrain import CANCEL_GRACE_MS, RetrainJob, retrain_command
from desktop.retrain_panel import RetrainPanel
from desktop.frames import Frame
from desktop.panels import CapturePanel, MessageBanner, ModelPanel, RatesPanel, ThresholdPanel, VerdictPanel
from desktop.preview import PreviewWidget
from desktop.sources import VIDEO_SUFFIXES, FrameSource, SourceSpec
from desktop.stats import RunStats, measured_fps
from desktop.worker import ClassifierWorker, LoadedModel, Verdict, bundle_stamp

THREAD_STOP_TIMEOUT_MS = 3000
RELOAD_DEBOUNCE_MS = 1000  # an export writes several files: reload once they have settled
RATES_INTERVAL_MS = 500
PROBE_CAMERAS = 6
RESOLUTIONS = [None, (640, 480), (1280, 720), (1920, 1080)]
IMAGE_FILTER = "Images (*.jpg *.jpeg *.png *.bmp *.gif *.webp)"
VIDEO_FILTER = "Videos (" + " ".join(f"*{s}" for s in sorted(VIDEO_SUFFIXES)) + ")"


def version_label(info) -> str:
    """A Versions menu entry: "002 · 2026-11-24 11:18 · float32 · test F1 0.600"."""
    parts = [info.version]
    if info.created:
        parts.append(str(info.created)[:16].replace("T", " "))
    if info.quantization:
        parts.append(info.quantization)
    test = info.test or {}
    if isinstance(test.get("value"), (int, float)):
        parts.append(f"test {'F1' if test.get('metric') == 'f1' else 'macro-F1'} {test['value']:.3f}")
    return " · ".join(parts)


class MainWindow(QMainWindow):
    """SeeFood live classification window; see the module docstring."""

    _open_source = Signal(object)
    _pause_source = Signal(bool)
    _probe_cameras = Signal(int)
    _stop_source = Signal()
    _load_bundle = Signal(str)
    _set_threshold = Signal(float)
    _set_smoothing = Signal(int)
    _stop_worker = Signal()

    def __init__(self, settings: QSettings, num_threads: int | None = None, started_at: float | None = None):
        super().__init__()
        self.settings = settings
        self.stats = RunStats(started_at)
        self.model: LoadedModel | None = None
        self.data_dir: Path | None = None
        self.source_spec: SourceSpec | None = None
        self.paused = False
        self.last_verdict: Verdict | None = None
        self._last_ms: float | None = None
        self._rates_mark = (0, 0.0)
        self._shut_down = False
        self._capture_keys: list[QShortcut] = []
        self._resolution: tuple[int, int] | None = None

        self.setWindowTitle("SeeFood")
        self.setAcceptDrops(True)
        self._build_widgets()
        self._build_menus()
        self._start_threads(num_threads)

        self._watcher = QFileSystemWatcher(self)
        self._watcher.directoryChanged.connect(self._bundle_changed)
        self._watcher.fileChanged.connect(self._bundle_changed)
        self._reload_timer = QTimer(self, singleShot=True, interval=RELOAD_DEBOUNCE_MS)
        self._reload_timer.timeout.connect(self._reload_bundle)
        self._rates_timer = QTimer(self, interval=RATES_INTERVAL_MS)
        self._rates_timer.timeout.connect(self._show_rates)
        self._rates_timer.start()

    # -- construction ----------------------------------------------------------------------------

    def _build_widgets(self) -> None:
        self.banner = MessageBanner()
        self.preview = PreviewWidget()
        self.verdict_panel = VerdictPanel()
        self.threshold_panel = ThresholdPanel()
        self.rates = RatesPanel("display — FPS · inference — · dropped 0")
        self.model_panel = ModelPanel()
        self.capture_panel = CapturePanel()
        self.retrain_panel = RetrainPanel()
        self._retrain_job: RetrainJob | None = None

        side = QVBoxLayout()
        side.addWidget(self.verdict_panel)
        side.addWidget(self.threshold_panel)
        side.addWidget(self.capture_panel)
        side.addWidget(self.retrain_panel)
        side.addWidget(self.model_panel)
        side.addStretch(1)
        side.addWidget(self.rates)
        side_widget = QWidget()
        side_widget.setLayout(side)
        side_widget.setFixedWidth(380)
        # The side column scrolls when its panels (a retrain's result table, many classes) outgrow the window.
        side_scroll = QScrollArea()
        side_scroll.setWidget(side_widget)
        side_scroll.setWidgetResizable(True)
        side_scroll.setFrameShape(QFrame.Shape.NoFrame)
        side_scroll.setHorizontalScrollBarPolicy(Qt.ScrollBarPolicy.ScrollBarAlwaysOff)
        side_scroll.setFixedWidth(380 + side_scroll.verticalScrollBar().sizeHint().width())
        body = QHBoxLayout()
        body.addWidget(self.preview, 1)
        body.addWidget(side_scroll)
        central = QWidget()
        layout = QVBoxLayout(central)
        layout.addWidget(self.banner)
        layout.addLayout(body, 1)
        self.setCentralWidget(central)
        self.resize(1100, 760)

        self.threshold_panel.threshold_changed.connect(self._threshold_moved)
        self.threshold_panel.smoothing_changed.connect(self._set_smoothing)
        self.capture_panel.choose_folder_requested.connect(self.choose_data_dir)
        self.capture_panel.capture_requested.connect(self.capture)
        self.retrain_panel.retrain_requested.connect(self.retrain)
        self.retrain_panel.cancel_requested.connect(self.cancel_retrain)
        self.retrain_panel.switch_requested.connect(self.use_version)
        self.retrain_panel.keep_requested.connect(self._keep_current)

    def _build_menus(self) -> None:
        file_menu = self.menuBar().addMenu("&File")
        self._action(file_menu, "Open model bundle…", self.choose_bundle, "Ctrl+M")
        self._action(file_menu, "Open image…", self.choose_image, QKeySequence.StandardKey.Open)
        self._action(file_menu, "Open folder of images…", self.choose_folder)
        self._action(file_menu, "Open video…", self.choose_video)
        file_menu.addSeparator()
        self._action(file_menu, "Save snapshot…", self.choose_snapshot, QKeySequence.StandardKey.Save)
        self._action(file_menu, "Choose training folder…", self.choose_data_dir)
        file_menu.addSeparator()
        self._action(file_menu, "Quit", self.close, QKeySequence.StandardKey.Quit)

        model_menu = self.menuBar().addMenu("&Model")
        self._action(model_menu, "Retrain with the new photos", self.retrain, "Ctrl+T")
        self._action(model_menu, "Cancel retrain", self.cancel_retrain)
        self.versions_menu = model_menu.addMenu("Versions")
        self.versions_menu.aboutToShow.connect(self._fill_versions_menu)

        source_menu = self.menuBar().addMenu("&Source")
        self.pause_action = self._action(source_menu, "Pause", self.toggle_pause, "Space")
        self.pause_action.setCheckable(True)
        self._action(source_menu, "Retry source", self.retry_source, "Ctrl+R")
        self.camera_menu = source_menu.addMenu("Camera")
        self._fill_camera_menu([(0, "camera 0")])
        resolution_menu = source_menu.addMenu("Camera resolution")
        group = QActionGroup(self)
        for resolution in RESOLUTIONS:
            text = "camera default" if resolution is None else f"{resolution[0]} × {resolution[1]}"
            action = QAction(text, self, checkable=True, checked=resolution is None)
            action.triggered.connect(lambda _c=False, r=resolution: self.set_resolution(r))
            group.addAction(action)
            resolution_menu.addAction(action)

    def _action(self, menu, text, slot, shortcut=None) -> QAction:
        action = QAction(text, self)
        if shortcut is not None:
            action.setShortcut(QKeySequence(shortcut))
        action.triggered.connect(lambda _checked=False: slot())
        menu.addAction(action)
        return action

    def _fill_camera_menu(self, cameras: list[tuple[int, str]]) -> None:
        self.camera_menu.clear()
        for index, description in cameras:
            self._action(self.camera_menu, description, lambda i=index: self.open_camera(i))
        self.camera_menu.addSeparator()
        self._action(self.camera_menu, "Find cameras", lambda: self._probe_cameras.emit(PROBE_CAMERAS))

    def _start_threads(self, num_threads: int | None) -> None:
        self.source_thread = QThread(self)
        self.source_thread.setObjectName("seefood-capture")
        self.source = FrameSource()
        self.source.moveToThread(self.source_thread)
        self._open_source.connect(self.source.open_source)
        self._pause_source.connect(self.source.set_paused)
        self._probe_cameras.connect(self.source.probe_cameras)
        self._stop_source.connect(self.source.shutdown)
        self.source.frame_ready.connect(self._show_frame)
        self.source.opened.connect(self._source_opened)
        self.source.failed.connect(self._source_failed)
        self.source.cameras_found.connect(self._cameras_found)

        self.worker_thread = QThread(self)
        self.worker_thread.setObjectName("seefood-classifier")
        self.worker = ClassifierWorker(num_threads=num_threads, smoothing=self.threshold_panel.smoothing)
        self.worker.moveToThread(self.worker_thread)
        self._load_bundle.connect(self.worker.load_bundle)
        self._set_threshold.connect(self.worker.set_threshold)
        self._set_smoothing.connect(self.worker.set_smoothing)
        self._stop_worker.connect(self.worker.shutdown)
        self.worker.results.connect(self._show_verdict)
        self.worker.error.connect(self._worker_error)
        self.worker.inference_failed.connect(self._inference_failed)
        self.worker.model_loaded.connect(self._model_loaded)

        self.source_thread.start()
        self.worker_thread.start()

    # -- public actions --------------------------------------------------------------------------

    def open_bundle(self, bundle_dir: Path | str) -> None:
        """Ask the worker to load a bundle; the current model keeps running if it fails."""
        self._load_bundle.emit(str(Path(bundle_dir).resolve()))

    def retrain(self, epochs: int | None = None) -> bool:
        """Start ``seefood retrain`` on the running bundle and the training folder, as a child
        process; the preview keeps running. False (with the reason shown) when it cannot start."""
        if self._retrain_job is not None and self._retrain_job.running():
            return False
        if self.model is None:
            self.banner.show_message("Open a model bundle first: retraining continues from it.", topic="retrain")
            return False
        if self.data_dir is None:
            self.banner.show_message("Choose the training folder first (the one the model was trained on, with the "
                                     "photos you captured): File → Choose training folder…", topic="retrain",
                                     actions=[("Choose folder…", self.choose_data_dir)])
            return False
        try:
            command = retrain_command(self.model.bundle_dir, self.data_dir, epochs)
        except RuntimeError as error:
            self.banner.show_message(str(error), topic="retrain")
            return False
        self.banner.clear("retrain")
        job = RetrainJob(command, self)
        job.progress.connect(self.retrain_panel.show_progress)
        job.finished.connect(self._retrain_finished)
        self._retrain_job = job
        self.retrain_panel.set_running(True)
        job.start()
        return True

    def cancel_retrain(self) -> None:
        if self._retrain_job is not None:
            self._retrain_job.cancel()

    def use_version(self, version: str) -> bool:
        """Make ``version`` of the running bundle current; the watcher reloads the model."""
        from seefood.errors import SeeFoodError
        from seefood.versions import use_version

        if self.model is None:
            return False
        try:
            use_version(self.model.bundle_dir, version)
        except SeeFoodError as error:
            self.banner.show_message(str(error), topic="retrain")
            return False
        self.retrain_panel.status.setText(f"Switched to version {version}.")
        self.retrain_panel.show_choice(False)
        return True

    def versions(self) -> list:
        """The running bundle's versions (``seefood.versions.VersionInfo``), oldest first."""
        from seefood.versions import list_versions

        return list_versions(self.model.bundle_dir) if self.model is not None else []

    def _keep_current(self) -> None:
        self.retrain_panel.status.setText("Kept the current model; the new version stays listed under Model → Versions.")
        self.retrain_panel.show_choice(False)

    def _retrain_finished(self, event: dict) -> None:
        self.retrain_panel.show_result(event)

    def _fill_versions_menu(self) -> None:
        from seefood.errors import SeeFoodError

        self.versions_menu.clear()
        try:
            versions = self.versions()
        except SeeFoodError as error:
            self.versions_menu.addAction(f"cannot read versions: {error}").setEnabled(False)
            return
        if not versions:
            self.versions_menu.addAction("no model open").setEnabled(False)
        for info in versions:
            action = QAction(version_label(info), self, checkable=True, checked=bool(info.current))
            action.triggered.connect(lambda _checked=False, v=info.version: self.use_version(v))
            self.versions_menu.addAction(action)

    def open_camera(self, index: int) -> None:
        self.open_source(SourceSpec("camera", int(index), self._resolution))

    def open_path(self, path: Path | str) -> None:
        self.open_source(SourceSpec.for_path(path))

    def open_source(self, spec: SourceSpec) -> None:
        self.source_spec = spec
        self.banner.clear("source")
        self.preview.clear(f"opening {spec.name}…")
        self._open_source.emit(spec)

    def retry_source(self) -> None:
        if self.source_spec is not None:
            self.open_source(self.source_spec)

    def set_resolution(self, resolution: tuple[int, int] | None) -> None:
        self._resolution = resolution
        if self.source_spec is not None and self.source_spec.kind == "camera":
            self.open_camera(int(self.source_spec.target))

    def toggle_pause(self) -> None:
        self.set_paused(not self.paused)

    def set_paused(self, paused: bool) -> None:
        self.paused = paused
        self.pause_action.setChecked(paused)
        self.preview.set_overlay_text("PAUSED" if paused else "")
        self._pause_source.emit(paused)

    def set_data_dir(self, folder: Path | str | None) -> None:
        self.data_dir = Path(folder) if folder else None
        if self.data_dir is not None:
            self.settings.setValue("data_dir", str(self.data_dir))
        self._refresh_counts()

    def capture(self, class_name: str) -> Path | None:
        """Save the frame on screen as DATA_DIR/<class_name>/<timestamp>.jpg; returns the path."""
        frame = self.preview.frame
        if frame is None:
            self.banner.show_message("Nothing to capture yet: no frame is on screen.")
            return None
        if self.data_dir is None:
            self.choose_data_dir()
            if self.data_dir is None:
                return None
        try:
            path = save_capture(frame.rgb, self.data_dir, class_name)
        except (CaptureError, OSError) as error:
            self.banner.show_message(f"Capture not saved: {error}")
            return None
        self.capture_panel.set_count(class_name, count_images(path.parent))
        self.statusBar().showMessage(f"saved {path}", 4000)
        return path

    def snapshot(self, path: Path | str) -> bool:
        """Save the frame on screen (full resolution, no overlay) to ``path``."""
        frame = self.preview.frame
        if frame is None:
            self.banner.show_message("Nothing to save yet: no frame is on screen.")
            return False
        from PIL import Image

        try:
            Image.fromarray(frame.rgb).save(path)
        except (OSError, ValueError) as error:
            self.banner.show_message(f"Snapshot not saved: {error}")
            return False
        self.statusBar().showMessage(f"saved {path}", 4000)
        return True

    # -- dialogs ---------------------------------------------------------------------------------

    def choose_bundle(self) -> None:
        folder = QFileDialog.getExistingDirectory(self, "Open model bundle", self._last_dir())
        if folder:
            self.open_bundle(folder)

    def choose_image(self) -> None:
        path, _ = QFileDialog.getOpenFileName(self, "Open image", self._last_dir(), IMAGE_FILTER)
        if path:
            self.open_path(path)

    def choose_video(self) -> None:
        path, _ = QFileDialog.getOpenFileName(self, "Open video", self._last_dir(), VIDEO_FILTER)
        if path:
            self.open_path(path)

    def choose_folder(self) -> None:
        folder = QFileDialog.getExistingDirectory(self, "Open folder of images", self._last_dir())
        if folder:
            self.open_source(SourceSpec("folder", folder))

    def choose_file(self) -> None:
        path, _ = QFileDialog.getOpenFileName(self, "Open image or video", self._last_dir(),
                                              f"{IMAGE_FILTER};;{VIDEO_FILTER};;All files (*)")
        if path:
            self.open_path(path)

    def choose_snapshot(self) -> None:
        path, _ = QFileDialog.getSaveFileName(self, "Save snapshot", self._last_dir(), "PNG (*.png);;JPEG (*.jpg)")
        if path:
            self.snapshot(path)

    def choose_data_dir(self) -> None:
        folder = QFileDialog.getExistingDirectory(self, "Choose the training folder (one subfolder per class)",
                                                  str(self.data_dir or self._last_dir()))
        if folder:
            self.set_data_dir(folder)

    def _last_dir(self) -> str:
        return str(self.settings.value("last_dir", str(Path.home())))

    # -- slots: frames and verdicts --------------------------------------------------------------

    @Slot()
    def _show_frame(self) -> None:
        frame: Frame | None = self.source.latest.take()
        if frame is None or self._shut_down:
            return
        self.preview.show_frame(frame)
        self.stats.frame_shown()
        self.worker.submit(frame)

    @Slot(object, float)
    def _show_verdict(self, verdict: Verdict, inference_ms: float) -> None:
        if inference_ms > 0:
            self.banner.clear("inference")  # the model answers again
        self.last_verdict = verdict
        self.verdict_panel.show_verdict(verdict)
        self.stats.verdict(inference_ms)
        if inference_ms > 0:
            self._last_ms = inference_ms

    @Slot()
    def _show_rates(self) -> None:
        shown, at = self._rates_mark
        now = time.perf_counter()
        fps = (self.stats.frames_shown - shown) / (now - at) if at else 0.0
        self._rates_mark = (self.stats.frames_shown, now)
        self.rates.show_rates(fps, self._last_ms, self.worker.frames_dropped + self.source.latest.dropped)

    # -- slots: source ---------------------------------------------------------------------------

    @Slot(dict)
    def _source_opened(self, info: dict) -> None:
        self.statusBar().showMessage(f"reading {info['name']}", 4000)
        if info["kind"] != "camera":
            self.settings.setValue("last_dir", str(Path(str(info["target"])).parent))

    @Slot(str, str)
    def _source_failed(self, reason: str, message: str) -> None:
        actions = [("Open file…", self.choose_file)]
        if reason in ("no_camera", "camera_lost"):
            actions.append(("Retry", self.retry_source))
        if self.preview.frame is None:
            self.preview.clear("no picture: " + ("no camera" if reason == "no_camera" else "source failed"))
        self.banner.show_message(message, actions, topic="source")

    @Slot(list)
    def _cameras_found(self, cameras: list) -> None:
        self._fill_camera_menu(cameras)
        if not cameras:
            self.banner.show_message("No camera found. Open a video or image file instead.",
                                     [("Open file…", self.choose_file)], topic="source")

    # -- slots: model ----------------------------------------------------------------------------

    @Slot(object)
    def _model_loaded(self, model: LoadedModel) -> None:
        """Set the window up for a newly loaded model.

        What every model needs comes first (reload watching, capture keys, counts), so nothing a
        bundle holds can leave the window half set up; then the threshold, verdict and model panels;
        then any warning about the bundle, shown in the banner until dismissed.
        """
        reloaded = self.model is not None and self.model.bundle_dir == model.bundle_dir
        self.model = model
        manifest = model.manifest
        self._watch(model.bundle_dir)
        self.settings.setValue("last_bundle", str(model.bundle_dir))
        self.capture_panel.set_classes(manifest.classes)
        self._bind_capture_keys(manifest.classes)
        self._refresh_counts()
        threshold = self._remembered_threshold(manifest.threshold)
        self.threshold_panel.set_model(manifest, threshold)
        if abs(threshold - manifest.threshold) > 1e-9:
            self._set_threshold.emit(threshold)
        self.verdict_panel.set_model(manifest)
        self.model_panel.show_model(manifest, model.bundle_dir, model.interpreter)
        self.banner.clear("model")
        self.banner.clear("inference")
        self._show_model_warnings(model)
        self.statusBar().showMessage(("reloaded " if reloaded else "loaded ") + manifest.name, 4000)
        if self.preview.frame is not None:  # a still image or a paused picture gets a verdict at once
            self.worker.submit(self.preview.frame)

    def _remembered_threshold(self, default: float) -> float:
        """The threshold saved for this model, or ``default`` when none (or a damaged one) is saved."""
        saved = self.settings.value(self._threshold_key(), default)
        try:
            value = float(saved)
        except (TypeError, ValueError):
            return default
        return value if 0.0 <= value <= 1.0 else default

    def _show_model_warnings(self, model: LoadedModel) -> None:
        """A failed verification (prominent, as an error) and what loading had to leave out."""
        failed = verification_warning(model.manifest, model.bundle_dir)
        self.model_panel.show_verification(failed is not None)
        lines = ([failed] if failed else []) + list(model.manifest.warnings)
        if lines:
            self.banner.show_message("\n".join(lines), [("Open model…", self.choose_bundle)],
                                     error=failed is not None, topic="model")

    @Slot(str)
    def _worker_error(self, message: str) -> None:
        self.banner.show_message(message, [("Open model…", self.choose_bundle)], topic="model")

    @Slot(str)
    def _inference_failed(self, message: str) -> None:
        """The model failed on a frame (reported once per failure): no verdict rather than a stale one."""
        self.last_verdict = None
        self.verdict_panel.clear()
        self.banner.show_message(message, [("Open model…", self.choose_bundle)], topic="inference")

    @Slot(float)
    def _threshold_moved(self, threshold: float) -> None:
        if self.model is not None:
            self.settings.setValue(self._threshold_key(), threshold)
        self._set_threshold.emit(threshold)

    def _threshold_key(self) -> str:
        return f"thresholds/{self.model.manifest.model_sha256}"

    def _bind_capture_keys(self, classes: list[str]) -> None:
        for shortcut in self._capture_keys:
            shortcut.setEnabled(False)
            shortcut.deleteLater()
        self._capture_keys = []
        for number, name in enumerate(classes[:9], start=1):
            shortcut = QShortcut(QKeySequence(str(number)), self)
            shortcut.activated.connect(lambda n=name: self.capture(n))
            self._capture_keys.append(shortcut)

    def _refresh_counts(self) -> None:
        classes = self.model.manifest.classes if self.model else []
        counts = class_counts(self.data_dir, classes) if self.data_dir else {}
        self.capture_panel.set_folder(self.data_dir, counts)

    def _watch(self, bundle_dir: Path) -> None:
        """Watch the bundle folder, its files and its parent folder.

        The watcher follows inodes: a folder swapped with ``mv`` (the old one renamed away, a new one
        put in its place) is reported once and then forgotten, and a path that does not exist yet
        cannot be watched. The parent folder sees the new one arrive; ``_reload_bundle`` re-adds the
        paths after every change.
        """
        old = self._watcher.files() + self._watcher.directories()
        if old:
            self._watcher.removePaths(old)
        candidates = [bundle_dir.parent, bundle_dir, bundle_dir / MANIFEST_NAME,
                      bundle_dir / self.model.manifest.model_file]
        self._watcher.addPaths([str(p) for p in candidates if p.exists()])

    @Slot(str)
    def _bundle_changed(self, _path: str) -> None:
        self._reload_timer.start()

    @Slot()
    def _reload_bundle(self) -> None:
        """Reload the bundle when its folder or files changed since it was loaded (debounced)."""
        if self.model is None:
            return
        self._watch(self.model.bundle_dir)
        stamp = bundle_stamp(self.model.bundle_dir)
        if stamp is None:
            self.statusBar().showMessage(f"{self.model.bundle_dir} is gone; the loaded model keeps running "
                                         "and reloads when the folder is back", 8000)
        elif stamp != self.model.stamp:
            self.open_bundle(self.model.bundle_dir)

    # -- drag and drop ---------------------------------------------------------------------------

    def dragEnterEvent(self, event) -> None:  # noqa: N802 (Qt name)
        if event.mimeData().hasUrls() and any(url.isLocalFile() for url in event.mimeData().urls()):
            event.acceptProposedAction()

    def dropEvent(self, event) -> None:  # noqa: N802 (Qt name)
        paths = [Path(url.toLocalFile()) for url in event.mimeData().urls() if url.isLocalFile()]
        if paths:
            self.open_dropped(paths[0])
            event.acceptProposedAction()

    def open_dropped(self, path: Path) -> None:
        """A bundle folder loads as the model; an image, video or folder of images becomes the source."""
        if path.is_dir() and (path / MANIFEST_NAME).is_file():
            self.open_bundle(path)
        else:
            self.open_path(path)

    # -- shutdown --------------------------------------------------------------------------------

    def shutdown(self) -> bool:
        """Stop both threads (stop request, quit, wait with a timeout); True when both ended."""
        if self._shut_down:
            return True
        self._shut_down = True
        if self._retrain_job is not None and self._retrain_job.running():
            self._retrain_job.cancel()  # a retrain's staged files are swept; the bundle stays as it was
            if not self._retrain_job.wait(CANCEL_GRACE_MS):
                self._retrain_job.kill()
        self._rates_timer.stop()
        self._reload_timer.stop()
        self._stop_source.emit()
        self._stop_worker.emit()
        stopped = True
        for thread in (self.source_thread, self.worker_thread):
            if not thread.wait(THREAD_STOP_TIMEOUT_MS):
                print(f"warning: thread {thread.objectName()} did not stop within "
                      f"{THREAD_STOP_TIMEOUT_MS} ms", file=sys.stderr)
                stopped = False
        if not self.source_thread.isRunning():
            self.source.shutdown()  # releases the camera if the queued request never ran
        return stopped

    def closeEvent(self, event) -> None:  # noqa: N802 (Qt name)
        self.shutdown()
        self.settings.sync()
        super().closeEvent(event)

    # -- measurements ----------------------------------------------------------------------------

    def run_stats(self) -> dict:
        """The --stats-json numbers for this run so far."""
        source = self.source
        return self.stats.to_dict(
            frames_classified=self.worker.frames_classified,
            frames_dropped=self.worker.frames_dropped + source.latest.dropped,
            source_fps=measured_fps(source.frames_read, source.first_frame_at, source.last_frame_at),
            source_nominal_fps=round(source.nominal_fps, 2),
            frames_read=source.frames_read,
            dropped_before_display=source.latest.dropped,
            dropped_before_inference=self.worker.frames_dropped,
            model=self.model.manifest.name if self.model else None,
            quantization=self.model.manifest.quantization if self.model else None,
            interpreter=self.model.interpreter if self.model else None,
            classifier="tflite-worker-thread",
        )
