"""Where frames come from: a camera, a video file, a still image or a folder of images.

``FrameSource`` lives on its own QThread. A precise single-shot timer in that thread reads one
frame per tick (a camera read blocks until the next frame; a file is paced at its own FPS, since
OpenCV would otherwise read it as fast as it can), puts it in ``latest`` and signals
``frame_ready`` only when the slot was empty: a slow viewer gets the newest frame, never a queue.
"""

from __future__ import annotations

import sys
import time
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np
from PySide6.QtCore import QObject, Qt, QThread, QTimer, Signal, Slot

from seefood.images import ImageReadError, image_files, load_rgb
from desktop.frames import Frame, LatestSlot

VIDEO_SUFFIXES = frozenset({".avi", ".mp4", ".mov", ".mkv", ".webm", ".m4v", ".mpg", ".mpeg", ".wmv"})
DEFAULT_FPS = 30.0
FOLDER_INTERVAL_S = 2.0  # how long each picture of a folder stays on screen
CAMERA_LOST_AFTER = 5  # consecutive failed reads before a camera counts as lost
PAUSED_POLL_MS = 50


@dataclass(frozen=True)
class SourceSpec:
    """What to open. kind: "camera" (target: index), "video", "image" or "folder" (target: path)."""

    kind: str
    target: int | str
    resolution: tuple[int, int] | None = None  # camera only; None keeps the camera's default

    @property
    def name(self) -> str:
        return f"camera {self.target}" if self.kind == "camera" else Path(str(self.target)).name

    @classmethod
    def for_path(cls, path: Path | str) -> "SourceSpec":
        """The spec for a file or folder, chosen by what it is."""
        path = Path(path)
        if path.is_dir():
            return cls("folder", str(path))
        if path.suffix.lower() in VIDEO_SUFFIXES:
            return cls("video", str(path))
        return cls("image", str(path))


def folder_images(folder: Path) -> list[Path]:
    """The photos directly inside a folder, sorted by name (hidden files and OS litter skipped).

    Anything named like a photo is listed, even a FIFO or a device: ``load_rgb`` refuses it with a
    message the slideshow shows, rather than the file being skipped without a word.
    """
    return image_files(folder, recursive=False)


def open_camera(index: int, resolution: tuple[int, int] | None = None) -> cv2.VideoCapture:
    """A VideoCapture for a camera index (DirectShow on Windows: MSMF can take seconds to open)."""
    api = cv2.CAP_DSHOW if sys.platform == "win32" else cv2.CAP_ANY
    capture = cv2.VideoCapture(index, api)
    if capture.isOpened() and resolution:
        capture.set(cv2.CAP_PROP_FRAME_WIDTH, resolution[0])
        capture.set(cv2.CAP_PROP_FRAME_HEIGHT, resolution[1])
    return capture


class FrameSource(QObject):
    """Reads frames on its own thread; see the module docstring.

    Signals: ``frame_ready()`` (a frame waits in ``latest``), ``opened(dict)`` (kind, name, fps, width,
    height), ``failed(str, str)`` (reason: "no_camera", "camera_lost" or "unreadable"; message),
    ``cameras_found(list)`` ([(index, description)]).
    """

    frame_ready = Signal()
    opened = Signal(dict)
    failed = Signal(str, str)
    cameras_found = Signal(list)

    def __init__(self, folder_interval_s: float = FOLDER_INTERVAL_S, loop_video: bool = True):
        super().__init__()
        self.latest = LatestSlot()
        self.folder_interval_s = folder_interval_s
        self.loop_video = loop_video
        self.frames_read = 0
        self.nominal_fps = 0.0
        self.first_frame_at: float | None = None
        self.last_frame_at: float | None = None
        self._timer: QTimer | None = None
        self._spec: SourceSpec | None = None
        self._capture: cv2.VideoCapture | None = None
        self._paths: list[Path] = []
        self._position = 0
        self._period_s = 0.0
        self._next_due = 0.0
        self._failures = 0
        self._paused = False
        self._index = 0
        self._skipped: set[Path] = set()  # slideshow files already reported as unreadable
        self._shown_in_cycle = False

    # -- slots called from the GUI thread through queued signals --------------------------------

    @Slot(object)
    def open_source(self, spec: SourceSpec) -> None:
        """Close what is open and start reading ``spec``; reports ``opened`` or ``failed``."""
        self._close()
        self._ensure_timer()
        self._spec = spec
        self._failures = 0
        opener = {"camera": self._open_camera, "video": self._open_video,
                  "image": self._open_image, "folder": self._open_folder}.get(spec.kind)
        if opener is None:
            self.failed.emit("unreadable", f"unknown source kind {spec.kind!r}")
            return
        if opener(spec):
            self._next_due = time.perf_counter()
            self._schedule(0)

    @Slot(bool)
    def set_paused(self, paused: bool) -> None:
        self._paused = bool(paused)

    @Slot()
    def close_source(self) -> None:
        self._close()

    @Slot()
    def shutdown(self) -> None:
        """Release the camera or file and end this object's thread (call through a queued signal)."""
        self._close()
        thread = self.thread()
        if thread is not QThread.currentThread():  # called directly, e.g. after the thread ended
            return
        thread.quit()

    @Slot(int)
    def probe_cameras(self, count: int) -> None:
        """Try camera indices 0..count-1 (OpenCV cannot list cameras) and report those that open."""
        found = []
        current = self._spec.target if self._spec and self._spec.kind == "camera" and self._capture else None
        for index in range(count):
            if index == current:
                found.append((index, f"camera {index} (in use)"))
                continue
            capture = open_camera(index)
            if capture.isOpened():
                found.append((index, f"camera {index}"))
            capture.release()
        self.cameras_found.emit(found)

    # -- opening ---------------------------------------------------------------------------------

    def _open_camera(self, spec: SourceSpec) -> bool:
        capture = open_camera(int(spec.target), spec.resolution)
        if not capture.isOpened():
            capture.release()
            self.failed.emit("no_camera", f"No camera found at index {spec.target}. Open a video or image file instead, "
                                         "or pick another camera.")
            return False
        self._capture = capture
        self._period_s = 0.0  # the read itself waits for the next frame
        fps = capture.get(cv2.CAP_PROP_FPS)
        self.nominal_fps = float(fps) if fps and fps > 0 else 0.0
        self._announce(spec, int(capture.get(cv2.CAP_PROP_FRAME_WIDTH)), int(capture.get(cv2.CAP_PROP_FRAME_HEIGHT)))
        return True

    def _open_video(self, spec: SourceSpec) -> bool:
        path = Path(str(spec.target))
        capture = cv2.VideoCapture(str(path)) if path.is_file() else None
        if capture is None or not capture.isOpened():
            if capture is not None:
                capture.release()
            self.failed.emit("unreadable", f"{path}: cannot open this video (missing file or unsupported format).")
            return False
        fps = capture.get(cv2.CAP_PROP_FPS)
        self.nominal_fps = float(fps) if fps and 0 < fps <= 240 else DEFAULT_FPS
        self._period_s = 1.0 / self.nominal_fps
        self._capture = capture
        self._announce(spec, int(capture.get(cv2.CAP_PROP_FRAME_WIDTH)), int(capture.get(cv2.CAP_PROP_FRAME_HEIGHT)))
        return True

    def _open_image(self, spec: SourceSpec) -> bool:
        self._paths = [Path(str(spec.target))]
        self._period_s = 0.0
        self.nominal_fps = 0.0
        frame = self._read_path(self._paths[0])
        if frame is None:
            self._paths = []
            return False
        self._announce(spec, frame.width, frame.height)
        self._deliver(frame)
        self._paths = []  # a still image is shown once; nothing more to read
        return False

    def _open_folder(self, spec: SourceSpec) -> bool:
        folder = Path(str(spec.target))
        paths = folder_images(folder) if folder.is_dir() else []
        if not paths:
            self.failed.emit("unreadable", f"{folder}: no images in this folder (JPEG, PNG, BMP, GIF or WebP).")
            return False
        self._paths = paths
        self._position = 0
        self._skipped = set()
        self._shown_in_cycle = False
        self._period_s = self.folder_interval_s
        self.nominal_fps = 1.0 / self.folder_interval_s
        self._announce(spec, 0, 0)
        return True

    def _announce(self, spec: SourceSpec, width: int, height: int) -> None:
        self.opened.emit({"kind": spec.kind, "name": spec.name, "fps": self.nominal_fps,
                         "width": width, "height": height, "target": spec.target})

    # -- reading ---------------------------------------------------------------------------------

    def _ensure_timer(self) -> None:
        if self._timer is None:  # created here so that it lives in this object's thread
            self._timer = QTimer(self)
            self._timer.setSingleShot(True)
            self._timer.setTimerType(Qt.TimerType.PreciseTimer)
            self._timer.timeout.connect(self._tick)

    def _schedule(self, delay_ms: int) -> None:
        if self._timer is not None:
            self._timer.start(max(0, int(delay_ms)))

    @Slot()
    def _tick(self) -> None:
        if self._spec is None:
            return
        if self._paused:
            if self._capture is not None and self._spec.kind == "camera":
                self._capture.grab()  # keep the camera's buffer fresh so resuming shows "now"
            self._next_due = time.perf_counter()
            self._schedule(PAUSED_POLL_MS)
            return
        if self._spec.kind == "folder":
            if not self._next_slide():
                return
        elif not self._read_capture():
            return
        if self._period_s <= 0:
            self._schedule(0)
            return
        now = time.perf_counter()
        self._next_due += self._period_s
        if self._next_due < now - self._period_s:  # fell behind: do not burst to catch up
            self._next_due = now
        self._schedule(round((self._next_due - now) * 1000.0))

    def _read_capture(self) -> bool:
        """Read one frame from the camera or video; False when reading has ended."""
        ok, bgr = self._capture.read()
        if not ok and self._spec.kind == "video" and self.loop_video and self.frames_read:
            self._capture.set(cv2.CAP_PROP_POS_FRAMES, 0)
            ok, bgr = self._capture.read()
        if not ok or bgr is None:
            self._failures += 1
            if self._spec.kind == "camera" and self._failures < CAMERA_LOST_AFTER:
                self._schedule(20)
                return False
            reason = "camera_lost" if self._spec.kind == "camera" else "unreadable"
            message = (f"Lost {self._spec.name}: it stopped sending frames (unplugged or used by another app)."
                       if reason == "camera_lost" else f"{self._spec.target}: cannot read frames from this video.")
            self._close()
            self.failed.emit(reason, message)
            return False
        self._failures = 0
        rgb = cv2.cvtColor(bgr, cv2.COLOR_BGR2RGB)  # a new array: the frame owns its pixels
        self._deliver(self._frame(rgb))
        return True

    def _next_slide(self) -> bool:
        """Show the folder's next picture; False when the slideshow has ended.

        An unreadable picture (damaged, too large, a FIFO named .jpg) is reported once and skipped;
        a whole pass without one readable picture ends the slideshow with a message.
        """
        if self._position and self._position % len(self._paths) == 0:
            if not self._shown_in_cycle:
                folder = Path(str(self._spec.target))
                self._close()
                self.failed.emit("unreadable", f"{folder}: none of the pictures in this folder can be read "
                                               "(see the messages before). Open another folder.")
                return False
            self._shown_in_cycle = False
        path = self._paths[self._position % len(self._paths)]
        self._position += 1
        frame = self._read_path(path, report=path not in self._skipped, what="Skipped; the slideshow goes on.")
        if frame is None:
            self._skipped.add(path)
            return True
        self._shown_in_cycle = True
        self._deliver(frame)
        return True

    def _read_path(self, path: Path, report: bool = True, what: str = "Pick another file.") -> Frame | None:
        """The picture at ``path`` as a frame, or None after reporting (when ``report``) why it cannot be read."""
        try:
            return self._frame(load_rgb(path))
        except ImageReadError as error:  # also FIFOs, devices and decompression bombs, refused unread
            if report:
                self.failed.emit("unreadable", f"{error}. {what}")
            return None

    def _frame(self, rgb: np.ndarray) -> Frame:
        rgb = np.ascontiguousarray(rgb)
        rgb.flags.writeable = False
        self._index += 1
        return Frame(rgb=rgb, index=self._index, source=self._spec.name if self._spec else "")

    def _deliver(self, frame: Frame) -> None:
        now = time.perf_counter()
        self.frames_read += 1
        if self.first_frame_at is None:
            self.first_frame_at = now
        self.last_frame_at = now
        if self.latest.put(frame):
            self.frame_ready.emit()

    def _close(self) -> None:
        if self._timer is not None and self._timer.thread() is QThread.currentThread():
            self._timer.stop()
        if self._capture is not None:
            self._capture.release()
            self._capture = None
        self._paths = []
        self._spec = None
