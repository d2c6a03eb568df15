"""A progress line for long passes over a folder (the audit that opens every photo): a 10,000-photo
folder never sits silent. On a terminal one line is redrawn (at most 5 times a second); in a log
(not a terminal) a line is written every ``LOG_EVERY_S`` seconds, so short passes add nothing.
Thread-safe: the audit's worker threads call ``advance``."""

from __future__ import annotations

import sys
import threading
import time
from typing import TextIO

LOG_EVERY_S = 10.0
REDRAW_EVERY_S = 0.2


class Progress:
    def __init__(self, total: int, what: str, stream: TextIO | None = None) -> None:
        self.total, self.what = total, what
        self.stream = stream if stream is not None else sys.stderr
        self.done = 0
        self.started = self._shown = time.monotonic()
        self._drew = False
        self._lock = threading.Lock()
        self._tty = bool(getattr(self.stream, "isatty", lambda: False)())

    def line(self) -> str:
        elapsed = time.monotonic() - self.started
        share = self.done / self.total if self.total else 1.0
        eta = f", about {elapsed / share - elapsed:.0f} s left" if 0 < share < 1 and elapsed > 1 else ""
        return f"{self.what}: {self.done}/{self.total} ({share:.0%}) in {elapsed:.0f} s{eta}"

    def advance(self, n: int = 1) -> None:
        with self._lock:
            self.done += n
            now = time.monotonic()
            if now - self._shown < (REDRAW_EVERY_S if self._tty else LOG_EVERY_S):
                return
            self._shown = now
            if self._tty:
                self.stream.write("\r" + self.line() + "\033[K")
                self._drew = True
            else:
                self.stream.write(self.line() + "\n")
            self.stream.flush()

    def close(self) -> None:
        """Clear a redrawn line (the caller prints its own summary)."""
        with self._lock:
            if self._drew:
                self.stream.write("\r\033[K")
                self.stream.flush()
                self._drew = False
