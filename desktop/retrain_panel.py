"""The Retrain panel: a button, a progress bar fed by ``RetrainJob`` events, Cancel, and when the
retrain ends, the old-versus-new comparison with Switch / Keep. A view only: the window owns the
job and the bundle's versions and connects them here through signals."""

from __future__ import annotations

import html

from PySide6.QtCore import Signal
from PySide6.QtWidgets import QGroupBox, QHBoxLayout, QLabel, QProgressBar, QPushButton, QVBoxLayout, QWidget

from desktop.retrain import overall_fraction

STAGE_WORDS = {"start": "starting", "train": "training", "export": "exporting", "verify": "verifying",
               "compare": "comparing old and new", "install": "installing the new version"}


def comparison_html(comparison: dict | None) -> str:
    """Old vs new on the held-back photos (and on the newly added ones): a small table."""
    if not comparison:
        return ""
    rows = []
    for title, key in (("held-back test photos", "held_back"), ("newly added photos", "added")):
        part = comparison.get(key) or {}
        old, new = part.get("old") or {}, part.get("new") or {}
        if not (old or new):
            continue
        n = part.get("n")
        rows.append(f"<tr><td colspan=3><b>{html.escape(title)}</b>{f' ({n})' if n is not None else ''}</td></tr>")
        for metric in ("f1", "macro_f1", "pr_auc"):
            if metric in old or metric in new:
                rows.append(f"<tr><td>{metric}</td><td>{_fmt(old.get(metric))}</td><td>{_fmt(new.get(metric))}</td></tr>")
    if not rows:
        return ""
    return "<table><tr><th></th><th>old</th><th>new</th></tr>" + "".join(rows) + "</table>"


def _fmt(value) -> str:
    return f"{value:.3f}" if isinstance(value, (int, float)) else "–"


class RetrainPanel(QGroupBox):
    retrain_requested = Signal()
    cancel_requested = Signal()
    switch_requested = Signal(str)  # the version to make current
    keep_requested = Signal()

    def __init__(self, parent: QWidget | None = None):
        super().__init__("Retrain", parent)
        self.retrain_button = QPushButton("Retrain with the new photos")
        self.retrain_button.setToolTip("Continue training from this model on the training folder as it is now; "
                                       "the live preview keeps running. The new model is compared with this one "
                                       "on photos neither trained on.")
        self.cancel_button = QPushButton("Cancel")
        self.progress = QProgressBar()
        self.progress.setRange(0, 1000)
        self.progress.setTextVisible(False)
        self.status = QLabel("")
        self.status.setWordWrap(True)
        self.result = QLabel("")
        self.result.setWordWrap(True)
        self.switch_button = QPushButton("Switch to the new model")
        self.keep_button = QPushButton("Keep the current one")
        self._offered_version = ""
        buttons = QHBoxLayout()
        buttons.addWidget(self.retrain_button, 1)
        buttons.addWidget(self.cancel_button)
        choice = QHBoxLayout()
        choice.addWidget(self.switch_button)
        choice.addWidget(self.keep_button)
        layout = QVBoxLayout(self)
        layout.addLayout(buttons)
        layout.addWidget(self.progress)
        layout.addWidget(self.status)
        layout.addWidget(self.result)
        layout.addLayout(choice)
        self.retrain_button.clicked.connect(self.retrain_requested)
        self.cancel_button.clicked.connect(self.cancel_requested)
        self.switch_button.clicked.connect(lambda _checked=False: self.switch_requested.emit(self._offered_version))
        self.keep_button.clicked.connect(self.keep_requested)
        self.set_running(False)
        self.show_choice(False)
        self.progress.hide()

    def set_available(self, available: bool, why: str = "") -> None:
        self.retrain_button.setEnabled(available)
        self.status.setText("" if available else why)

    def set_running(self, running: bool) -> None:
        self.retrain_button.setVisible(not running)
        self.cancel_button.setVisible(running)
        if running:
            self.progress.show()
            self.progress.setValue(0)
            self.result.setText("")
            self.show_choice(False)

    def show_progress(self, event: dict) -> None:
        self.progress.setValue(int(1000 * overall_fraction(event)))
        stage = event.get("stage", "")
        text = STAGE_WORDS.get(stage, stage)
        if stage == "train" and isinstance(event.get("audit"), dict):
            audit = event["audit"]
            text += f": photos checked ({audit.get('decoded', 0)} decoded, {audit.get('from_cache', 0)} already decoded)"
        elif stage == "train" and event.get("of"):
            text += f": epoch {event.get('epoch', 0)} of {event['of']}"
            if event.get("eta_s") is not None:
                text += f", about {int(event['eta_s'])} s left"
        self.status.setText(text + " …")

    def show_result(self, event: dict) -> None:
        """The retrain's end: what was decided and why, the comparison, and Switch / Keep when a new
        version waits to be used."""
        self.set_running(False)
        self.progress.setValue(1000 if event.get("installed") else self.progress.value())
        # the decision and its figures; the command-line hints after ';' are for the terminal
        reason = html.escape(str(event.get("reason", "")).split("; ")[0])
        version = str(event.get("version") or "")
        waiting = bool(event.get("installed")) and bool(version) and not event.get("current", False)
        if event.get("installed"):
            head = f"<b>New version {html.escape(version)}</b>" + (" is ready." if waiting else " is in use.")
        else:
            head = "<b>No new version</b>"
        self.status.setText(f"{head} {reason}")
        self.result.setText(comparison_html(event.get("comparison")))
        self._offered_version = version
        self.show_choice(waiting)

    def show_choice(self, shown: bool) -> None:
        self.switch_button.setVisible(shown)
        self.keep_button.setVisible(shown)
