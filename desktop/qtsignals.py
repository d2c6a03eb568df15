"""Emitting Qt signals from Python without corrupting the interpreter.

PySide6 6.12.0 on Python 3.11 returns ``True`` from ``SignalInstance.emit()`` without taking a
reference, so every emit from Python drops one reference to ``True``. After a few thousand emits
(seconds of video) the interpreter aborts with "Fatal Python error: bool_dealloc: deallocating
True or False" (measured here: 20 emits lower ``sys.getrefcount(True)`` by 20). Python 3.12+ has
immortal booleans, so it only bites 3.10/3.11. ``emit`` below measures the bug once at import and
gives the reference back only where it is missing, so it is a no-op on fixed PySide versions.
Every signal the app emits from Python goes through it.
"""

from __future__ import annotations

import ctypes
import sys

from PySide6.QtCore import QObject, Signal

_PROBES = 4
_incref = ctypes.pythonapi.Py_IncRef
_incref.argtypes = [ctypes.py_object]
_incref.restype = None


class _Probe(QObject):
    fired = Signal()


def _emit_drops_a_reference() -> bool:
    probe = _Probe()
    before = sys.getrefcount(True)
    for _ in range(_PROBES):
        probe.fired.emit()
    lost = before - sys.getrefcount(True)
    for _ in range(max(0, lost)):
        _incref(True)  # give back what the probe itself cost
    return lost == _PROBES


EMIT_DROPS_REFERENCE = _emit_drops_a_reference()


def emit(signal, *args) -> None:
    """``signal.emit(*args)``, repairing the reference PySide6 6.12 fails to take on its result."""
    result = signal.emit(*args)
    if EMIT_DROPS_REFERENCE and result is not None:
        _incref(result)
