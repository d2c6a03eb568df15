"""Folders that appear whole or not at all (bundles, the demo data set).

``staged_folder(target)`` yields an empty temporary folder beside ``target``; when the block ends
without an exception, it takes ``target``'s place (an existing ``target`` is moved aside first
and deleted only once the new one is in place); on an exception it is removed and ``target`` is
left as it was. Whether an existing ``target`` may be replaced at all (``--force``) is the
caller's decision, made before.
"""

from __future__ import annotations

import contextlib
import os
import shutil
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
    tmp = Path(tempfile.mkdtemp(prefix=f".{target.name}.tmp-", dir=target.parent))
    os.chmod(tmp, 0o777 & ~_umask())  # mkdtemp makes it private; the result gets normal permissions
    try:
        yield tmp
        if target.exists() or target.is_symlink():
            old = Path(tempfile.mkdtemp(prefix=f".{target.name}.old-", dir=target.parent))
            os.replace(target, old / "previous")  # moved aside, not deleted, until the new one is in place
            os.replace(tmp, target)
            shutil.rmtree(old, ignore_errors=True)
        else:
            os.replace(tmp, target)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
