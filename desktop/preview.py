"""The live picture: the frame scaled with its aspect kept, and the square the model sees outlined."""

from __future__ import annotations

from PySide6.QtCore import QRectF, QSize, Qt
from PySide6.QtGui import QColor, QImage, QPainter, QPen
from PySide6.QtWidgets import QSizePolicy, QWidget

from seefood.preprocessing import crop_box
from desktop.frames import Frame


def frame_to_qimage(frame: Frame) -> QImage:
    """A QImage over the frame's pixels (no copy: keep ``frame`` alive while the image is used).

    Bytes per line come from the array's strides, so padded rows draw correctly.
    """
    rgb = frame.rgb
    return QImage(rgb.data, rgb.shape[1], rgb.shape[0], rgb.strides[0], QImage.Format.Format_RGB888)


def fit_rect(width: int, height: int, area: QRectF) -> QRectF:
    """The largest rectangle of aspect width:height centred in ``area``."""
    if width <= 0 or height <= 0:
        return QRectF(area)
    scale = min(area.width() / width, area.height() / height)
    w, h = width * scale, height * scale
    return QRectF(area.x() + (area.width() - w) / 2, area.y() + (area.height() - h) / 2, w, h)


class PreviewWidget(QWidget):
    """Draws the newest frame; shades what lies outside the model's crop and outlines the crop."""

    CROP_COLOR = QColor(255, 210, 0)

    def __init__(self, parent: QWidget | None = None):
        super().__init__(parent)
        self.setMinimumSize(320, 240)
        self.setSizePolicy(QSizePolicy.Policy.Expanding, QSizePolicy.Policy.Expanding)
        self.setAttribute(Qt.WidgetAttribute.WA_OpaquePaintEvent)
        self._frame: Frame | None = None
        self._image: QImage | None = None
        self._overlay_text = ""
        self.placeholder = "No picture yet"

    @property
    def frame(self) -> Frame | None:
        return self._frame

    def sizeHint(self) -> QSize:
        return QSize(640, 480)

    def show_frame(self, frame: Frame) -> None:
        self._frame = frame  # keeps the pixels alive for the QImage below
        self._image = frame_to_qimage(frame)
        self.update()

    def clear(self, placeholder: str | None = None) -> None:
        self._frame = None
        self._image = None
        if placeholder is not None:
            self.placeholder = placeholder
        self.update()

    def set_overlay_text(self, text: str) -> None:
        self._overlay_text = text
        self.update()

    def paintEvent(self, event) -> None:  # noqa: N802 (Qt name)
        painter = QPainter(self)
        painter.fillRect(self.rect(), QColor(24, 24, 24))
        if self._image is None:
            painter.setPen(QColor(170, 170, 170))
            painter.drawText(self.rect(), Qt.AlignmentFlag.AlignCenter, self.placeholder)
            return
        painter.setRenderHint(QPainter.RenderHint.SmoothPixmapTransform)
        width, height = self._image.width(), self._image.height()
        target = fit_rect(width, height, QRectF(self.rect()))
        painter.drawImage(target, self._image)
        left, top, right, bottom = crop_box(width, height)
        scale = target.width() / width
        crop = QRectF(target.x() + left * scale, target.y() + top * scale,
                      (right - left) * scale, (bottom - top) * scale)
        shade = QColor(0, 0, 0, 110)
        painter.fillRect(QRectF(target.left(), target.top(), crop.left() - target.left(), target.height()), shade)
        painter.fillRect(QRectF(crop.right(), target.top(), target.right() - crop.right(), target.height()), shade)
        painter.fillRect(QRectF(crop.left(), target.top(), crop.width(), crop.top() - target.top()), shade)
        painter.fillRect(QRectF(crop.left(), crop.bottom(), crop.width(), target.bottom() - crop.bottom()), shade)
        painter.setPen(QPen(self.CROP_COLOR, 2))
        painter.drawRect(crop.adjusted(1, 1, -1, -1))
        if self._overlay_text:
            font = painter.font()
            font.setPointSize(18)
            font.setBold(True)
            painter.setFont(font)
            painter.setPen(QColor(255, 255, 255))
            painter.drawText(target.adjusted(10, 10, -10, -10), Qt.AlignmentFlag.AlignTop | Qt.AlignmentFlag.AlignRight,
                             self._overlay_text)
