"""Emitting Qt signals from Python without corrupting the interpreter.

PySide6 6.12.0 on Python 3.11 returns ``True`` from ``SignalInstance.emit()`` without taking a
reference, so every emit from Python drops one reference to ``True``. After a few thousand emits
(seconds of video) the interpreter aborts with "Fatal Python error: bool_dealloc: deallocating
True or False" (measured here: 20 emits lower ``sys.getrefcount(True)`` by 20). Python 3.12+ has
immortal booleans, so it only bites 3.10/3.11. ``emit`` below measures the bug once at import and
gives the reference back only where it is missing, so it is a no-op on fixed PySide versions.
Every signal the app emits from Python goes through it.

``SignalInstance.disconnect()`` has the same bug (measured: 50 connect/disconnect pairs lower
``sys.getrefcount(True)`` by 50), and code we do not own calls it: pytest-qt's ``waitSignal``
disconnects after every wait, which is how a long test session could abort at exit. So where the
bug is present, ``protect_singletons`` also lifts the reference counts of ``True`` and ``False`` far
out of reach, which is what Python 3.12 does for every interpreter (immortal booleans); it runs
at import, in the app and in the tests alike.

Worse, every PySide6 6.12 method that returns nothing drops a reference to ``None`` (measured on
Python 3.11: 100 ``QLabel.setText`` calls lower ``sys.getrefcount(None)`` by 100; so do
``QSlider.setValue`` and ``QSettings.setValue``). ``None`` starts with a few thousand references,
and the app makes hundreds of such calls a second, so an unprotected app or test session dies after
about a minute of live video with a segfault wherever ``None`` happens to be freed (this was the
"1 run in 10" crash of tests/test_desktop.py, in ``QSettings.value``). ``None`` is protected the same
way; all three are protected at import on CPython < 3.12, unconditionally (harmless where PySide is
fixed, and the None drop is not what the emit probe measures).
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
_HEADROOM = 1 << 40  # references; each leaked one is a PySide call, so this outlives any process


def protect_singletons(values: tuple = (True, False, None)) -> bool:
    """Make ``values`` effectively immortal on CPython < 3.12 (an object's reference count is its
    first field), as 3.12 does for every interpreter; returns whether anything was done."""
    if sys.version_info >= (3, 12) or sys.implementation.name != "cpython":
        return False
    for value in values:
        ctypes.c_ssize_t.from_address(id(value)).value += _HEADROOM
    return True


SINGLETONS_PROTECTED = protect_singletons()  # unconditionally: harmless where PySide is fixed


def emit(signal, *args) -> None:
    """``signal.emit(*args)``, repairing the reference PySide6 6.12 fails to take on its result."""
    result = signal.emit(*args)
    if EMIT_DROPS_REFERENCE and result is not None:
        _incref(result)
