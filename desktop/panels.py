"""The small widgets around the preview: verdict, threshold, rates, model facts, capture, messages."""

from __future__ import annotations

import html
from pathlib import Path
from typing import Callable

from PySide6.QtCore import QSize, Qt, Signal, Slot
from PySide6.QtWidgets import (
    QCheckBox, QComboBox, QCompleter, QFrame, QGridLayout, QGroupBox, QHBoxLayout, QLabel, QProgressBar, QPushButton,
    QSizePolicy, QSlider, QSpinBox, QStyle, QStyleOptionButton, QVBoxLayout, QWidget,
)

from seefood import photo_advice
from seefood.bundle import Manifest
from desktop.worker import DEFAULT_SMOOTHING, MAX_SMOOTHING, Verdict

TOP_K = 5
SLIDER_STEPS = 1000  # the threshold slider moves in steps of 0.001 (page step 0.01)


def verdict_text(verdict: Verdict) -> str:
    """Binary: the positive class or "not <positive>"; multi-class: the class, or "unknown"."""
    if verdict.task == "binary":
        return verdict.positive_class if verdict.is_positive else f"not {verdict.positive_class}"
    return verdict.label


def tradeoff_at(curve: list[dict], threshold: float) -> dict | None:
    """The validation-curve point nearest to ``threshold`` ({threshold, precision, recall}), or None."""
    points = [p for p in curve if isinstance(p, dict) and "threshold" in p]
    if not points:
        return None
    return min(points, key=lambda p: abs(float(p["threshold"]) - threshold))


def _bar(maximum: int = 1000) -> QProgressBar:
    bar = QProgressBar()
    bar.setRange(0, maximum)
    bar.setTextVisible(True)
    return bar


class VerdictPanel(QGroupBox):
    """The decision in large type, its confidence, and the top classes for multi-class models."""

    def __init__(self, parent: QWidget | None = None):
        super().__init__("Verdict", parent)
        self.label = QLabel("—")
        font = self.label.font()
        font.setPointSize(30)
        font.setBold(True)
        self.label.setFont(font)
        self.label.setAlignment(Qt.AlignmentFlag.AlignCenter)
        self.label.setMinimumHeight(60)
        self.confidence = _bar()
        self._rows: list[tuple[QLabel, QProgressBar]] = []
        self._top = QGridLayout()
        layout = QVBoxLayout(self)
        layout.addWidget(self.label)
        layout.addWidget(self.confidence)
        layout.addLayout(self._top)

    def set_model(self, manifest: Manifest) -> None:
        """Show one bar per top class for multi-class models, none for binary ones."""
        for name_label, bar in self._rows:
            name_label.deleteLater()
            bar.deleteLater()
        self._rows = []
        if manifest.task == "multiclass":
            for row in range(min(TOP_K, len(manifest.classes))):
                name_label, bar = QLabel(""), _bar()
                self._top.addWidget(name_label, row, 0)
                self._top.addWidget(bar, row, 1)
                self._rows.append((name_label, bar))
        self.label.setText("—")
        self.confidence.setValue(0)
        self.confidence.setFormat("")

    def show_verdict(self, verdict: Verdict) -> None:
        self.label.setText(verdict_text(verdict))
        positive = verdict.is_positive or (verdict.task == "multiclass" and verdict.label != "unknown")
        self.label.setStyleSheet(f"color: {'#1b8a3a' if positive else '#8a8a8a'};")
        what = f"{verdict.positive_class} score" if verdict.task == "binary" else "confidence"
        self.confidence.setValue(round(verdict.confidence * 1000))
        self.confidence.setFormat(f"{what} {verdict.confidence:.2f} (threshold {verdict.threshold:.2f})")
        ranked = sorted(verdict.scores.items(), key=lambda item: item[1], reverse=True)
        for (name_label, bar), (name, score) in zip(self._rows, ranked):
            name_label.setText(name)
            bar.setValue(round(score * 1000))
            bar.setFormat(f"{score:.2f}")

    def clear(self) -> None:
        self.label.setText("—")
        self.label.setStyleSheet("")
        self.confidence.setValue(0)
        self.confidence.setFormat("")


class ThresholdPanel(QGroupBox):
    """The threshold slider with the validation precision/recall there, and score smoothing."""

    threshold_changed = Signal(float)
    smoothing_changed = Signal(int)

    def __init__(self, parent: QWidget | None = None):
        super().__init__("Threshold", parent)
        self.slider = QSlider(Qt.Orientation.Horizontal)
        self.slider.setRange(0, SLIDER_STEPS)
        self.slider.setPageStep(SLIDER_STEPS // 100)
        self.value_label = QLabel("0.50")
        self.tradeoff_label = QLabel("")
        self.tradeoff_label.setWordWrap(True)
        self.smooth_check = QCheckBox("Smooth over last")
        self.smooth_check.setChecked(True)
        self.smooth_frames = QSpinBox()
        self.smooth_frames.setRange(2, MAX_SMOOTHING)
        self.smooth_frames.setValue(DEFAULT_SMOOTHING)
        self.smooth_frames.setSuffix(" frames")
        self._curve: list[dict] = []
        self._exact: float | None = None  # the model's own threshold, kept unrounded until the slider moves

        row = QHBoxLayout()
        row.addWidget(self.slider, 1)
        row.addWidget(self.value_label)
        smoothing = QHBoxLayout()
        smoothing.addWidget(self.smooth_check)
        smoothing.addWidget(self.smooth_frames)
        smoothing.addStretch(1)
        layout = QVBoxLayout(self)
        layout.addLayout(row)
        layout.addWidget(self.tradeoff_label)
        layout.addLayout(smoothing)

        self.slider.valueChanged.connect(self._slider_moved)
        self.smooth_check.toggled.connect(self._smoothing_edited)
        self.smooth_frames.valueChanged.connect(self._smoothing_edited)

    @property
    def threshold(self) -> float:
        """The slider's value; the exact threshold given by ``set_model`` while the slider sits on it
        (a bundle's 0.5443 stays 0.5443, not the slider's 0.544)."""
        value = self.slider.value()
        if self._exact is not None and value == round(self._exact * SLIDER_STEPS):
            return self._exact
        return value / SLIDER_STEPS

    @property
    def smoothing(self) -> int:
        return self.smooth_frames.value() if self.smooth_check.isChecked() else 1

    def set_model(self, manifest: Manifest, threshold: float) -> None:
        """Show ``threshold`` for this model without emitting threshold_changed."""
        self._curve = manifest.validation_curve
        self._exact = float(threshold)
        self.slider.blockSignals(True)
        self.slider.setValue(round(threshold * SLIDER_STEPS))
        self.slider.blockSignals(False)
        self._show_value()

    def set_threshold(self, threshold: float) -> None:
        """Move the slider as a user would (emits threshold_changed)."""
        self.slider.setValue(round(threshold * SLIDER_STEPS))

    def _show_value(self) -> None:
        value = self.threshold
        self.value_label.setText(f"{value:.3f}")
        point = tradeoff_at(self._curve, value)
        if point is None:
            self.tradeoff_label.setText("no validation curve in this bundle")
        elif "coverage" in point:  # multi-class: below the threshold the answer is "unknown"
            self.tradeoff_label.setText(
                f"validation at {float(point['threshold']):.2f}: answers {float(point['coverage']):.0%} of photos, "
                f"{float(point['accuracy']):.0%} of those right"
            )
        else:
            self.tradeoff_label.setText(
                f"validation at {float(point['threshold']):.2f}: precision {float(point['precision']):.2f}, "
                f"recall {float(point['recall']):.2f}"
            )

    @Slot(int)
    def _slider_moved(self, _value: int) -> None:
        self._show_value()
        self.threshold_changed.emit(self.threshold)

    @Slot()
    def _smoothing_edited(self) -> None:
        self.smooth_frames.setEnabled(self.smooth_check.isChecked())
        self.smoothing_changed.emit(self.smoothing)


class RatesPanel(QLabel):
    """One line: display FPS, inference milliseconds, frames dropped."""

    def show_rates(self, display_fps: float, inference_ms: float | None, dropped: int) -> None:
        ms = "—" if inference_ms is None else f"{inference_ms:.1f} ms"
        self.setText(f"display {display_fps:.1f} FPS · inference {ms} · dropped {dropped}")


class ModelPanel(QGroupBox):
    """Name, quantization, labels and folder of the running model, and a failed verification in red."""

    def __init__(self, parent: QWidget | None = None):
        super().__init__("Model", parent)
        self.text = QLabel("no model loaded: File → Open model bundle…")
        self.text.setWordWrap(True)
        self.text.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        self.verification = QLabel("verification FAILED: this model's answers may differ from the evaluated one")
        self.verification.setWordWrap(True)
        self.verification.setStyleSheet("color: #b00020; font-weight: bold;")
        self.verification.hide()
        layout = QVBoxLayout(self)
        layout.addWidget(self.text)
        layout.addWidget(self.verification)

    def show_model(self, manifest: Manifest, bundle_dir: Path, interpreter: str) -> None:
        # Everything shown comes from files on disk: escaped, so a name cannot become markup.
        self.text.setText(
            f"<b>{html.escape(manifest.name)}</b> ({html.escape(manifest.task)}, "
            f"{html.escape(manifest.quantization)}, {html.escape(interpreter)})<br>"
            f"labels: {html.escape(', '.join(manifest.classes))}<br><small>{html.escape(str(bundle_dir))}</small>"
        )

    def show_verification(self, failed: bool) -> None:
        self.verification.setVisible(failed)


class CaptureButton(QPushButton):
    """A capture button: ``"3: beet_salad (12)"``, the class name elided to the button's width.

    The key number and the count always show; only the name is shortened ("3: beet_sal…"), and
    the tooltip holds the full name. The size hint is that of the full text, so a roomy layout
    shows it whole; the minimum is the key and an ellipsis, so a tight one never hides the number.
    """

    _PROBE = 400  # a text width past the style's minimum button width, to measure its margins

    def __init__(self, key: int | None, name: str, parent: QWidget | None = None):
        super().__init__(parent)
        self.key = key
        self.name = name
        self.count: int | None = None
        self.setSizePolicy(QSizePolicy.Policy.Preferred, QSizePolicy.Policy.Fixed)
        self._update()

    def set_count(self, count: int | None) -> None:
        if count != self.count or not self.text():
            self.count = count
            self._update()

    def _prefix(self) -> str:
        return f"{self.key}: " if self.key is not None else ""

    def _suffix(self) -> str:
        return f" ({self.count})" if self.count is not None else ""

    def full_text(self) -> str:
        return self._prefix() + self.name + self._suffix()

    def _update(self) -> None:
        how = f"key {self.key} or click" if self.key is not None else "click"
        held = f" ({self.count} photos there)" if self.count is not None else ""
        self.setToolTip(f"{self.name}\n{how}: save the frame into the training folder's {self.name}/{held}")
        self._elide()
        self.updateGeometry()

    def _chrome(self) -> int:
        """Width the style adds around the text (frame, margins)."""
        option = QStyleOptionButton()
        self.initStyleOption(option)
        size = self.style().sizeFromContents(QStyle.ContentsType.CT_PushButton, option,
                                             QSize(self._PROBE, self.fontMetrics().height()), self)
        return max(0, size.width() - self._PROBE)

    def _text_width(self, text: str) -> int:
        return self.fontMetrics().horizontalAdvance(text)

    def _elide(self) -> None:
        room = self.width() - self._chrome() if self.isVisible() else 10 ** 6
        fixed = self._prefix() + self._suffix()
        name = self.fontMetrics().elidedText(self.name, Qt.TextElideMode.ElideRight,
                                             max(room - self._text_width(fixed), self._text_width("…")))
        text = (self._prefix() + name + self._suffix()).replace("&", "&&")  # '&' is not a mnemonic here
        if text != self.text():
            self.setText(text)

    def sizeHint(self) -> QSize:
        width = self._chrome() + self._text_width(self.full_text()) + 2
        return QSize(width, super().sizeHint().height())

    def minimumSizeHint(self) -> QSize:
        width = self._chrome() + self._text_width(self._prefix() + "…" + self._suffix()) + 2
        return QSize(width, super().minimumSizeHint().height())

    def resizeEvent(self, event) -> None:
        super().resizeEvent(event)
        self._elide()

    def showEvent(self, event) -> None:
        super().showEvent(event)
        self._elide()


class ClassPicker(QComboBox):
    """An editable combo box of class names that finds a class by any part of its name (case
    ignored) and emits ``chosen`` once per Return/Enter (QComboBox's line edit alone emits
    ``returnPressed`` twice for one key press)."""

    chosen = Signal()

    def __init__(self, parent: QWidget | None = None):
        super().__init__(parent)
        self.setEditable(True)
        self.setInsertPolicy(QComboBox.InsertPolicy.NoInsert)
        self.lineEdit().setPlaceholderText("type to find a class…")
        completer = QCompleter(self.model(), self)
        completer.setFilterMode(Qt.MatchFlag.MatchContains)
        completer.setCaseSensitivity(Qt.CaseSensitivity.CaseInsensitive)
        completer.setCompletionMode(QCompleter.CompletionMode.PopupCompletion)
        self.setCompleter(completer)

    def keyPressEvent(self, event) -> None:
        if event.key() in (Qt.Key.Key_Return, Qt.Key.Key_Enter):
            event.accept()
            self.chosen.emit()
            return
        super().keyPressEvent(event)


class CapturePanel(QGroupBox):
    """Choose the training folder once; a button and number key for each of the first nine classes,
    and a class picker with search for any class (a 49-class model has one key per class only up to
    9), save the frame. Each button shows how many photos its class folder holds, coloured against
    what the tiny-class guard asks for (``seefood.photo_advice``), and a line under them says which
    classes are still too small.

    The buttons flow into rows (as many per row as fit their full names, at most ``MAX_ROWS``
    rows), so five long class names are not squeezed into one row and cut.
    """

    MAX_ROWS = 4
    KEYED = 9  # number keys 1..9; every class stays reachable through the picker
    COLOURS = {"too_few": "#b3261e", "few": "#8a5a00", "enough": "#1e6b2e"}

    choose_folder_requested = Signal()
    capture_requested = Signal(str)

    def __init__(self, parent: QWidget | None = None):
        super().__init__("Capture to training folder", parent)
        self.folder_label = QLabel("no folder chosen")
        self.folder_label.setWordWrap(True)
        choose = QPushButton("Choose folder…")
        choose.clicked.connect(self.choose_folder_requested)
        top = QHBoxLayout()
        top.addWidget(self.folder_label, 1)
        top.addWidget(choose)
        self._buttons_layout = QGridLayout()
        self._columns = 0
        self.buttons: dict[str, CaptureButton] = {}
        self._classes: list[str] = []
        self._counts: dict[str, int] = {}
        self.picker = ClassPicker()
        self.picker.chosen.connect(self._capture_picked)
        self.save_picked = QPushButton("Save to class")
        self.save_picked.clicked.connect(self._capture_picked)
        pick_row = QHBoxLayout()
        pick_row.addWidget(self.picker, 1)
        pick_row.addWidget(self.save_picked)
        self._pick_row = QWidget()
        self._pick_row.setLayout(pick_row)
        pick_row.setContentsMargins(0, 0, 0, 0)
        self.advice = QLabel("")
        self.advice.setWordWrap(True)
        layout = QVBoxLayout(self)
        layout.addLayout(top)
        layout.addLayout(self._buttons_layout)
        layout.addWidget(self._pick_row)
        layout.addWidget(self.advice)
        self._pick_row.hide()

    def set_classes(self, classes: list[str]) -> None:
        for button in self.buttons.values():
            self._buttons_layout.removeWidget(button)
            button.hide()  # gone at once, not when the deferred delete runs
            button.deleteLater()
        self.buttons = {}
        self._classes = list(classes)
        for number, name in enumerate(classes[: self.KEYED], start=1):
            button = CaptureButton(number, name)
            button.clicked.connect(lambda _checked=False, n=name: self.capture_requested.emit(n))
            self.buttons[name] = button
        self.picker.clear()
        self.picker.addItems(self._classes)
        self.picker.setCurrentIndex(-1)
        self._pick_row.setVisible(len(classes) > self.KEYED)
        self._refresh()  # counts, then the rows

    def picked_class(self) -> str | None:
        """The picker's class: its exact text, or the one class whose name contains the typed text."""
        text = self.picker.currentText().strip()
        if text in self._classes:
            return text
        matches = [name for name in self._classes if text and text.lower() in name.lower()]
        return matches[0] if len(matches) == 1 else None

    def _capture_picked(self) -> None:
        name = self.picked_class()
        if name is not None:
            self.capture_requested.emit(name)
        else:
            self.advice.setText(f"No single class matches {self.picker.currentText()!r}: pick one from the list.")

    def columns_for(self, width: int) -> int:
        """Buttons per row in ``width`` pixels: as many full names as fit, at least enough for MAX_ROWS rows."""
        count = len(self.buttons)
        if not count:
            return 1
        spacing = max(self._buttons_layout.horizontalSpacing(), 0)
        widest = max(button.sizeHint().width() for button in self.buttons.values())
        fit = max(1, (width + spacing) // (widest + spacing))
        needed = -(-count // self.MAX_ROWS)
        return max(1, min(count, max(fit, needed)))

    def _arrange(self) -> None:
        margins = self.contentsMargins()
        inner = self.layout().contentsMargins()
        width = self.width() - margins.left() - margins.right() - inner.left() - inner.right()
        columns = self.columns_for(width if width > 0 else 360)
        if columns == self._columns:
            return
        self._columns = columns
        for button in self.buttons.values():
            self._buttons_layout.removeWidget(button)
        for column in range(self._buttons_layout.columnCount()):
            self._buttons_layout.setColumnStretch(column, 0)
        for index, button in enumerate(self.buttons.values()):
            self._buttons_layout.addWidget(button, index // columns, index % columns)
        for column in range(columns):
            self._buttons_layout.setColumnStretch(column, 1)

    def resizeEvent(self, event) -> None:
        super().resizeEvent(event)
        self._arrange()

    def set_folder(self, folder: Path | None, counts: dict[str, int]) -> None:
        self.folder_label.setText(str(folder) if folder else "no folder chosen")
        self._counts = dict(counts)
        self._refresh()

    def set_count(self, name: str, count: int) -> None:
        self._counts[name] = count
        self._refresh()

    def _refresh(self) -> None:
        for name, button in self.buttons.items():
            count = self._counts.get(name)
            button.set_count(count)
            colour = self.COLOURS.get(photo_advice.level(count))
            button.setStyleSheet(f"QPushButton {{ color: {colour}; }}" if colour else "")
        for index, name in enumerate(self._classes):
            count = self._counts.get(name)
            self.picker.setItemData(index, f"{count} photos" if count is not None else "", Qt.ItemDataRole.ToolTipRole)
        known = {name: self._counts[name] for name in self._classes if name in self._counts}
        self.advice.setText(photo_advice.summary(known) if known else "")
        self._columns = 0  # counts change the widths: flow again
        self._arrange()


class MessageBanner(QFrame):
    """A message across the top of the window with optional action buttons; hidden when empty."""

    def __init__(self, parent: QWidget | None = None):
        super().__init__(parent)
        self.setObjectName("messageBanner")
        self.topic = ""
        self.text = QLabel("")
        self.text.setWordWrap(True)
        self._actions = QHBoxLayout()
        layout = QHBoxLayout(self)
        layout.addWidget(self.text, 1)
        layout.addLayout(self._actions)
        self.hide()

    def show_message(self, text: str, actions: list[tuple[str, Callable[[], None]]] = (), error: bool = True,
                     topic: str = "") -> None:
        """Show ``text``; ``topic`` ("model", "source", ...) lets ``clear(topic)`` remove only its own message."""
        self._clear_actions()
        self.topic = topic
        background, foreground = ("#fde2e1", "#611a15") if error else ("#e5f1fb", "#0b3d62")
        self.setStyleSheet(f"#messageBanner {{ background: {background}; }} "
                           f"#messageBanner QLabel {{ color: {foreground}; }}")
        self.text.setText(text)
        for label, callback in actions:
            button = QPushButton(label)
            button.clicked.connect(callback)
            self._actions.addWidget(button)
        close = QPushButton("Dismiss")
        close.clicked.connect(lambda _checked=False: self.clear())
        self._actions.addWidget(close)
        self.show()

    @Slot()
    def clear(self, topic: str | None = None) -> None:
        """Hide the message (only if it is about ``topic``, when one is given)."""
        if topic is not None and topic != self.topic:
            return
        self._clear_actions()
        self.text.setText("")
        self.hide()

    def _clear_actions(self) -> None:
        while self._actions.count():
            widget = self._actions.takeAt(0).widget()
            if widget is not None:
                widget.deleteLater()
