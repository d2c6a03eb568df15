"""SeeFood's error hierarchy: every error meant for the user derives from ``SeeFoodError``.

``seefood.cli`` prints any ``SeeFoodError`` as one line (``error: ...``) and exits with code 2, so a
stage only has to raise a subclass with a message that names the file and the fix; it never has to
know about the command line, and no library module imports ``seefood.cli``.

- ``InputError`` (also a ``ValueError``): input the user can fix: an option value, a file, a folder,
  a name. ``BundleError``, ``ImageReadError``, ``ClassNameError``, ``OutputFolderError``,
  ``DataError``, ``RunError``, ``TrainingFailed``, ``CaptureError`` and ``QtPlatformError`` derive
  from it.
- ``WeightsError``, ``ConversionError`` and ``BuildError`` (also ``RuntimeError``): a step that
  could not be done here (no network for weights, a converter failure, a packaging tool), with
  the way round it in the message.
"""

from __future__ import annotations

import errno

MAX_ECHO_CHARS = 200  # how much of a user's file content an error message may repeat


class SeeFoodError(Exception):
    """An error for the user: its message says what went wrong, where, and what to do."""


class InputError(SeeFoodError, ValueError):
    """Input the user can fix (an option, a file, a folder, a name); the message names it and says how."""


def clip(text: str, limit: int = MAX_ECHO_CHARS) -> str:
    """``text`` cut to ``limit`` characters, saying how long it was.

    A hostile or broken file (a 27 MB labels.txt, a one-line manifest of megabytes) must not turn
    into an error message of the same size: the user needs to see which value it is, not all of it.
    """
    if len(text) <= limit:
        return text
    return f"{text[:limit]}... ({len(text)} characters)"


def shorten(value: object, limit: int = MAX_ECHO_CHARS) -> str:
    """``repr(value)`` cut by ``clip``, for messages that quote a value read from a file."""
    return clip(repr(value), limit)


def write_failure(error: OSError, path: object) -> str:
    """'<file>: <reason>; <fix>' for an OSError raised while writing (the file the error names, else
    ``path``): free space for a full disk, a writable folder for a refused write. Training, export
    and verify say it the same way."""
    if error.errno in (errno.ENOSPC, errno.EDQUOT):
        fix = "free some disk space (or choose a folder on another disk)"
    elif error.errno in (errno.EACCES, errno.EPERM, errno.EROFS):
        fix = "choose a folder you can write to"
    else:
        fix = "check the disk and the folder"
    return f"{error.filename or path}: {error.strerror or error}; {fix}"
