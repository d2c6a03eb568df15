"""Keeping PySide6 6.12 from freeing ``True``, ``False`` and ``None`` on CPython 3.10/3.11.

The bug (PySide6-Essentials 6.12.0, measured on CPython 3.11.7): several PySide6 calls hand a
singleton back to Python without taking the reference they return, so each call drops one
reference that someone else owns:

- ``SignalInstance.emit()`` returns ``True``: 100 emits lower ``sys.getrefcount(True)`` by 100;
- ``SignalInstance.disconnect()`` returns ``True`` (``False`` when the slot was not connected):
  100 failed disconnects lower ``sys.getrefcount(False)`` by 100. pytest-qt's ``waitSignal``
  disconnects after every wait, so the test session is hit even though it is not our code;
- every method that returns nothing drops ``None``: 100 ``QLabel.setText`` calls lower
  ``sys.getrefcount(None)`` by 100 (so do ``QSlider.setValue``, ``QSettings.setValue``...).

``True`` starts with a few hundred references and ``None`` with a few thousand, so an unprotected
process dies within seconds to a minute of live video: "Fatal Python error: bool_dealloc" /
"none_dealloc", or a segfault wherever ``None`` happens to be freed. CPython 3.12+ makes these
objects immortal (their count is never decremented), so only CPython 3.10/3.11 need this module.

The workaround, installed once at start-up by ``protect_singletons()`` (``desktop.app.run_app``
before it makes the ``QApplication``, ``tests/conftest.py`` for the test session,
``bench/app_baseline.py`` for the baseline), unconditionally on CPython < 3.12 (no probing: it is
harmless where PySide is fixed): give each singleton a reserve of ``RESERVE`` extra references
that are never released. Why that is enough: an object is freed only when its count reaches zero,
and each PySide call above lowers the count by exactly one, so the process survives as long as it
makes fewer than ``RESERVE`` such calls in its lifetime, whoever makes them (our emits, pytest-qt's
disconnects, Qt setters); the references the rest of the interpreter takes and gives back stay
balanced on top of the reserve.

Sizing. Measured with ``seefood app`` on a 30 FPS 640x480 video (int8 bundle, offscreen, 22 s
after start-up; every frame shown and classified): 844 references to ``None`` lost per second
(28 per frame), 90 to ``True`` (3 per frame: the source's, the worker's and the wake-up emits),
0 to ``False``. Unprotected, ``None`` (about 5,000 references at start) would have been freed
within 6 s of that run. Bound it generously: 60 FPS x 100 lost references per frame = 6,000 per
second for each singleton, 5.2e8 a day. ``RESERVE`` = 2**40 (1.1e12) lasts 1.8e8 s at that bound,
about 5.8 years of continuous live video (41 years at the measured rate of ``None``); the tests'
100,000 emits use 1e-7 of it, and the count (a 64-bit ``Py_ssize_t``, max 9.2e18) has room for
8 million times more.

Memory. Holding the reserve as real references (a module-level list or tuple of N ``True``) costs
8*N bytes: 8.8 TB for 2**40; even one day at the measured rate of ``None`` (7.3e7 references) would
be 580 MB, more than four times the whole app's peak RSS, and a week at the bound 29 GB. So instead
of storing N pointers, ``protect_singletons`` adds N to the object's reference count itself: the
same state N ``Py_INCREF`` calls (or that list) would leave, for 0 bytes. This is what 3.12 does
for every interpreter (an immortal object's count is a huge number no one reaches). The count
field is checked first (a ``+1`` there must be what ``sys.getrefcount`` sees), so a build with
another object layout gets a warning and no reserve rather than a corrupted object.
"""

from __future__ import annotations

import ctypes
import sys
import time
import warnings

SINGLETONS = (True, False, None)
RESERVE = min(1 << 40, sys.maxsize >> 2)  # references added once to each singleton (see the docstring)

_installed = False


def needs_reserve(version_info=None, implementation: str | None = None) -> bool:
    """True on CPython < 3.12, where ``True``/``False``/``None`` are mortal (3.12+: immortal)."""
    version_info = sys.version_info if version_info is None else version_info
    implementation = sys.implementation.name if implementation is None else implementation
    return implementation == "cpython" and tuple(version_info[:2]) < (3, 12)


def _refcount_field(value) -> ctypes.c_ssize_t | None:
    """``value``'s ``ob_refcnt``, after checking that a +1 there is what ``sys.getrefcount`` sees."""
    offset = object.__basicsize__ - ctypes.sizeof(ctypes.c_ssize_t) - ctypes.sizeof(ctypes.c_void_p)
    field = ctypes.c_ssize_t.from_address(id(value) + offset)
    before = sys.getrefcount(value)
    field.value += 1
    seen = sys.getrefcount(value) - before
    field.value -= 1
    return field if seen == 1 else None


def protect_singletons(version_info=None, implementation: str | None = None) -> bool:
    """Give ``True``, ``False`` and ``None`` ``RESERVE`` extra references, once per process.

    Idempotent: later calls add nothing. Returns whether the reserve is in place; False (and a
    no-op) on CPython 3.12+ and other interpreters, which need none.
    """
    global _installed
    if not needs_reserve(version_info, implementation):
        return False
    interval = sys.getswitchinterval()
    sys.setswitchinterval(100.0)  # no other Python thread runs between reading and writing a count
    time.sleep(0)  # let a thread already waiting for the GIL go first, under the new interval
    try:
        if _installed:
            return True
        fields = [_refcount_field(value) for value in SINGLETONS]
        if any(field is None for field in fields):
            warnings.warn("cannot find the reference count of True/False/None on this Python build; "
                          "PySide6 6.12 may abort it after many signal emits", RuntimeWarning, stacklevel=2)
            return False
        for field in fields:
            field.value += RESERVE
        _installed = True
        return True
    finally:
        sys.setswitchinterval(interval)
