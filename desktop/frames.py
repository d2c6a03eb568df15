"""Frames and the one-item mailbox that hands the newest frame from one thread to another.

A producer that outruns its consumer must not queue frames (the queue grows and the picture lags):
it overwrites the waiting frame and counts the one it replaced as dropped.
"""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass, field

import numpy as np


@dataclass(frozen=True)
class Frame:
    """One picture from a source. ``rgb`` is an owned, read-only HxWx3 uint8 RGB array."""

    rgb: np.ndarray
    index: int
    source: str  # what produced it, for messages ("camera 0", a file name)
    captured_at: float = field(default_factory=time.perf_counter)

    @classmethod
    def owned(cls, rgb: np.ndarray, index: int, source: str) -> "Frame":
        """A Frame holding its own copy of ``rgb``, safe to hand to another thread."""
        copy = np.array(rgb, dtype=np.uint8, copy=True, order="C")
        copy.flags.writeable = False
        return cls(rgb=copy, index=index, source=source)

    @property
    def width(self) -> int:
        return int(self.rgb.shape[1])

    @property
    def height(self) -> int:
        return int(self.rgb.shape[0])


class LatestSlot:
    """Holds at most one item; ``put`` replaces a waiting item and counts it as dropped.

    ``put`` returns True when the slot was empty, i.e. when the consumer needs a wake-up;
    while an item waits the consumer has already been woken, so no signal piles up.
    """

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._item = None
        self.dropped = 0

    def put(self, item) -> bool:
        with self._lock:
            was_empty = self._item is None
            if not was_empty:
                self.dropped += 1
            self._item = item
            return was_empty

    def take(self):
        with self._lock:
            item, self._item = self._item, None
            return item

    def clear(self) -> None:
        with self._lock:
            self._item = None
