"""Saving the current frame into the training folder: DATA_DIR/<class>/<timestamp>.jpg.

The file is written under a temporary hidden name in the same folder and then linked to its final
name, which fails instead of overwriting when the name exists; the next free suffix is tried. Class
names are checked with the project's one rule (``seefood.names``: the same rule training applies to
class folders, so every class a bundle can hold can be captured into, accents and all) before
anything is written.
"""

from __future__ import annotations

import os
import time
from datetime import datetime
from pathlib import Path

import numpy as np
from PIL import Image

from seefood.errors import InputError
from seefood.images import image_files
from seefood.names import ClassNameError
from seefood.names import check_class_name as _check_name

JPEG_QUALITY = 95
MAX_SUFFIX = 10000


class CaptureError(InputError):
    """A capture that cannot be saved; the message says why and what to do."""


def check_class_name(name: str) -> str:
    """Return ``name`` if ``seefood.names`` accepts it as a class folder, else raise CaptureError."""
    try:
        _check_name(name)
    except ClassNameError as error:
        raise CaptureError(f"{error}, then train and export again") from error
    return name


def count_images(folder: Path) -> int:
    """Photos directly inside ``folder`` (0 when it does not exist)."""
    if not folder.is_dir():
        return 0
    return len(image_files(folder, recursive=False))


def class_counts(data_dir: Path, classes: list[str]) -> dict[str, int]:
    return {name: count_images(data_dir / name) for name in classes}


def _timestamp(now: float | None = None) -> str:
    moment = datetime.fromtimestamp(time.time() if now is None else now)
    return moment.strftime("%Y%m%d-%H%M%S-") + f"{moment.microsecond // 1000:03d}"


def save_capture(rgb: np.ndarray, data_dir: Path | str, class_name: str, now: float | None = None) -> Path:
    """Write ``rgb`` as DATA_DIR/<class_name>/<timestamp>[-N].jpg without overwriting; return the path."""
    check_class_name(class_name)
    data_dir = Path(data_dir)
    if not data_dir.is_dir():
        raise CaptureError(f"{data_dir}: the training folder does not exist; choose it again")
    folder = data_dir / class_name
    folder.mkdir(exist_ok=True)
    stem = _timestamp(now)
    temp = folder / f".{stem}.{os.getpid()}.tmp.jpg"
    try:
        Image.fromarray(np.ascontiguousarray(rgb)).save(temp, format="JPEG", quality=JPEG_QUALITY)
        for suffix in range(MAX_SUFFIX):
            final = folder / (f"{stem}.jpg" if suffix == 0 else f"{stem}-{suffix}.jpg")
            if _place_without_overwrite(temp, final):
                return final
        raise CaptureError(f"{folder}: too many captures named {stem}*.jpg")
    finally:
        temp.unlink(missing_ok=True)


def _place_without_overwrite(temp: Path, final: Path) -> bool:
    """Give ``temp`` the name ``final`` unless that name exists; False when it does."""
    try:
        os.link(temp, final)  # atomic, and refuses an existing name
        return True
    except FileExistsError:
        return False
    except OSError:  # a file system without hard links
        if final.exists():
            return False
        if os.name == "nt":
            try:
                os.rename(temp, final)  # Windows rename refuses an existing name
            except FileExistsError:
                return False
            return True
        os.rename(temp, final)
        return True
