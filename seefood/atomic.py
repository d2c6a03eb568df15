"""Folders that appear whole or not at all (bundles, the demo data set), and run folders that
replace an old one only once they are finished (``fresh_folder``).

``staged_folder(target)`` yields an empty temporary folder beside ``target``; when the block ends
without an exception, it takes ``target``'s place (an existing ``target`` is swapped with it in
one atomic step where Linux offers ``renameat2``, else moved aside first and deleted only once the
new one is in place); on an exception it is removed and ``target`` is left as it was. A process
killed on the way leaves ``.<name>.tmp-<pid>-*`` / ``.<name>.old-<pid>-*`` folders; the next
``staged_folder`` of the same target cleans them up (and puts an old folder back if the kill came
between the two renames). Whether an existing ``target`` may be replaced at all (``--force``) is the
caller's decision, made before.
"""

from __future__ import annotations

import contextlib
import ctypes
import errno
import os
import shutil
import sys
import tempfile
from collections.abc import Iterator
from pathlib import Path


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


@contextlib.contextmanager
def staged_folder(target: Path | str) -> Iterator[Path]:
    target = Path(target)
    target.parent.mkdir(parents=True, exist_ok=True)
    _sweep_leftovers(target)
    tmp = Path(tempfile.mkdtemp(prefix=f".{target.name}.tmp-{os.getpid()}-", dir=target.parent))
    os.chmod(tmp, 0o777 & ~_umask())  # mkdtemp makes it private; the result gets normal permissions
    try:
        yield tmp
        if target.exists() or target.is_symlink():
            if _exchange(tmp, target):  # one atomic step: readers see the old folder or the new one
                shutil.rmtree(tmp, ignore_errors=True)  # (tmp now holds the old one)
            else:  # no renameat2 here: two renames, the old folder kept aside until the new one is in place
                old = Path(tempfile.mkdtemp(prefix=f".{target.name}.old-{os.getpid()}-", dir=target.parent))
                os.replace(target, old / "previous")
                os.replace(tmp, target)
                shutil.rmtree(old, ignore_errors=True)
        else:
            os.replace(tmp, target)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise


def _exchange(a: Path, b: Path) -> bool:
    """Swap two existing paths in one atomic step (Linux ``renameat2(RENAME_EXCHANGE)``); False where
    the C library or the file system does not offer it (the caller then renames twice)."""
    if not sys.platform.startswith("linux"):
        return False
    try:
        renameat2 = ctypes.CDLL(None, use_errno=True).renameat2
    except (OSError, AttributeError):
        return False
    at_fdcwd, rename_exchange = -100, 2
    if renameat2(at_fdcwd, os.fsencode(a), at_fdcwd, os.fsencode(b), rename_exchange) == 0:
        return True
    error = ctypes.get_errno()
    if error in (errno.ENOSYS, errno.EINVAL, errno.EOPNOTSUPP):
        return False
    raise OSError(error, os.strerror(error), str(b))


def sweep_leftovers(target: Path | str) -> None:
    """Clean up after killed writers of ``target`` now (``staged_folder`` also does it first):
    ``seefood retrain`` calls it before it starts, so a killed retrain's staging goes at once."""
    target = Path(target)
    if target.parent.is_dir():
        _sweep_leftovers(target)


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def _sweep_leftovers(target: Path) -> None:
    """Clean up after a staged_folder whose process was killed: its ``.tmp-PID-`` folder is deleted,
    and an old ``target`` moved aside (``.old-PID-*/previous``) but never replaced is put back, so a
    kill between the two renames of the fallback path loses nothing. Folders of live processes are
    left alone (another export may be running)."""
    for leftover in sorted(target.parent.glob(f".{target.name}.*-*")):
        kind, _, rest = leftover.name[len(target.name) + 2:].partition("-")
        pid = rest.split("-", 1)[0]
        if kind not in ("tmp", "old") or not pid.isdigit() or _alive(int(pid)):
            continue
        previous = leftover / "previous"
        if kind == "old" and previous.exists() and not (target.exists() or target.is_symlink()):
            os.replace(previous, target)
        shutil.rmtree(leftover, ignore_errors=True)


def _free_name(path: Path) -> Path:
    candidate, i = path, 1
    while candidate.exists() or candidate.is_symlink():
        i += 1
        candidate = path.with_name(f"{path.name}-{i}")
    return candidate


@contextlib.contextmanager
def fresh_folder(target: Path | str, replace: bool) -> Iterator[Path]:
    """``target`` created empty for a result written in place over a long time (a training run).

    With ``replace``, the existing ``target`` is first moved aside (renamed, not deleted) and
    deleted only once the block ends without an exception. On an exception the new ``target``
    is removed and the old one put back: a failed run leaves nothing half-written and loses
    nothing. On Ctrl-C the new, partial ``target`` stays (its checkpoint can be continued) and the
    old one is kept beside it as ``<target>.previous`` (the message says where).
    """
    target = Path(target)
    previous = None
    existed_empty = not replace and target.is_dir()
    if replace:
        previous = Path(tempfile.mkdtemp(prefix=f".{target.name}.previous-", dir=target.parent)) / "run"
        os.replace(target, previous)
    try:
        target.mkdir(parents=True, exist_ok=not replace)
    except BaseException:
        if previous is not None:
            os.replace(previous, target)
            shutil.rmtree(previous.parent, ignore_errors=True)
        raise
    try:
        yield target
    except KeyboardInterrupt:
        if previous is not None:
            kept = _free_name(target.with_name(f"{target.name}.previous"))
            os.replace(previous, kept)
            shutil.rmtree(previous.parent, ignore_errors=True)
            print(f"the run that --force was replacing is kept, unchanged, in {kept}", file=sys.stderr, flush=True)
        raise
    except BaseException:
        shutil.rmtree(target, ignore_errors=True)
        if previous is not None:
            os.replace(previous, target)
            shutil.rmtree(previous.parent, ignore_errors=True)
        elif existed_empty:
            target.mkdir(exist_ok=True)  # the empty folder the user made stays
        raise
    if previous is not None:
        shutil.rmtree(previous.parent, ignore_errors=True)
