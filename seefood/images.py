"""Reading photos the way people actually have them, and refusing what only looks like one.

JPEG, PNG (8 and 16 bit), BMP, GIF (first frame) and WebP, in any letter case; EXIF
orientation applied; grayscale, palette, alpha and CMYK become RGB. Hidden files and OS
litter are recognised so the audit can count them instead of tripping over them.

Two kinds of file are refused with ``ImageReadError`` before any pixel is decoded, so a photo
folder cannot hang or exhaust a training run, ``predict`` or the app:

- anything that is not a regular file once symlinks are followed (a FIFO or a device named
  ``x.jpg`` would block the reader forever or stream without end);
- images whose header declares more than ``MAX_IMAGE_PIXELS`` (a "decompression bomb": a PNG of a
  few hundred bytes can declare 20000 x 20000 pixels, 1.2 GB once decoded to RGB).
"""

from __future__ import annotations

import os
import re
import stat
import struct
import warnings
from collections import deque
from concurrent.futures import Future, ThreadPoolExecutor
from contextlib import contextmanager
from pathlib import Path
from typing import Iterator

import numpy as np
from PIL import Image, ImageOps, UnidentifiedImageError

from seefood.errors import InputError

# 70 megapixels: every phone camera mode people keep (12 MP, 48/50 MP, 64 MP = 9248 x 6936) passes;
# a decoded RGB copy is then at most 210 MB. Larger files (108/200 MP sensor modes, scans, bombs)
# are refused with the fix: a model sees 128-512 pixels, so downscaling loses nothing.
MAX_IMAGE_PIXELS = 70_000_000

# The Pillow decoders the suffixes above stand for ("JPEG" also opens phones' multi-picture MPO files).
# Naming them keeps Pillow from handing a renamed file to another decoder (EPS would run Ghostscript).
PILLOW_FORMATS = ("JPEG", "PNG", "BMP", "GIF", "WEBP")

# Pillow warns about images over its own limit (89 MP) and fails over twice that. Our lower cap is
# checked first from the header, so its warning would only repeat ours: silence just that category.
warnings.filterwarnings("ignore", category=Image.DecompressionBombWarning)

IMAGE_SUFFIXES = frozenset({".jpg", ".jpeg", ".png", ".bmp", ".gif", ".webp"})
LITTER_NAMES = frozenset({".ds_store", "thumbs.db", "desktop.ini", "icon\r", ".directory"})
TEXT_SUFFIXES = frozenset({".txt", ".md", ".json", ".csv", ".xml", ".ini", ".log", ".html"})


class ImageReadError(InputError):
    """A file that should be a photo but cannot be decoded. Carries the path."""

    def __init__(self, path: Path | str, reason: str):
        self.path = Path(path)
        self.reason = reason
        super().__init__(f"{self.path}: cannot read image ({reason})")


def classify_path(path: Path) -> str:
    """'image', 'hidden', 'litter' (OS files, text) or 'other' for a file name."""
    name = path.name
    if name.startswith("._") or name.lower() in LITTER_NAMES:
        return "litter"
    if name.startswith("."):
        return "hidden"
    suffix = path.suffix.lower()
    if suffix in IMAGE_SUFFIXES:
        return "image"
    if suffix in TEXT_SUFFIXES:
        return "litter"
    return "other"


def class_folders(root: Path) -> list[Path]:
    """The visible subfolders of ``root``, sorted: the class folders of a training folder."""
    return sorted(p for p in Path(root).iterdir() if p.is_dir() and not p.name.startswith("."))


def image_files(folder: Path, recursive: bool = True) -> list[Path]:
    """The photos in ``folder`` (and, when ``recursive``, its visible subfolders), sorted, by the
    one rule of ``classify_path``: hidden files and folders and OS litter are left out.

    Anything named like a photo is listed, even a FIFO or a device: ``load_rgb`` refuses it with a
    message, rather than the file being skipped without a word.
    """
    folder = Path(folder)
    if not recursive:
        return sorted(p for p in folder.iterdir() if not p.is_dir() and classify_path(p) == "image")
    files: list[Path] = []
    for dirpath, dirnames, filenames in os.walk(folder):
        dirnames[:] = sorted(d for d in dirnames if not d.startswith("."))
        files.extend(Path(dirpath) / name for name in sorted(filenames) if classify_path(Path(name)) == "image")
    return files


def _to_rgb(image: Image.Image) -> Image.Image:
    """Any Pillow mode to 8-bit RGB; transparency is composited on white."""
    if image.mode in ("I;16", "I;16B", "I;16L", "I"):
        # 16-bit (or 32-bit int) grayscale: scale to 8 bits by the type's range (float32 is exact
        # for 16-bit values and half the memory of float64 on a large scan).
        array = np.asarray(image, dtype=np.float32)
        top = 65535.0 if array.max(initial=0) > 255 or image.mode.startswith("I;16") else 255.0
        array = np.clip(array / top * 255.0 + 0.5, 0, 255).astype(np.uint8)
        return Image.fromarray(array).convert("RGB")
    if image.mode == "P":
        image = image.convert("RGBA" if "transparency" in image.info else "RGB")
    if image.mode in ("RGBA", "LA", "PA"):
        rgba = image.convert("RGBA")
        background = Image.new("RGBA", rgba.size, (255, 255, 255, 255))
        return Image.alpha_composite(background, rgba).convert("RGB")
    if image.mode != "RGB":
        return image.convert("RGB")
    return image


def _not_regular(path: Path, mode: int) -> ImageReadError:
    kind = ("a FIFO (named pipe)" if stat.S_ISFIFO(mode) else "a device" if stat.S_ISCHR(mode) or stat.S_ISBLK(mode)
            else "a socket" if stat.S_ISSOCK(mode) else "a folder" if stat.S_ISDIR(mode) else "a special file")
    return ImageReadError(path, f"not a regular file but {kind}; move it out of the photo folder")


def _too_large(path: Path, declared: str) -> ImageReadError:
    return ImageReadError(
        path,
        f"{declared}, over SeeFood's limit of {MAX_IMAGE_PIXELS // 1_000_000} megapixels: a huge scan or a "
        "decompression bomb; downscale it, e.g. to 4000 pixels on the long side, or move it out of the folder",
    )


def _pillow_bomb_size(error: Exception) -> str:
    """What Pillow's DecompressionBombError says the image declares ("Image size (N pixels) ...")."""
    found = re.search(r"\((\d+) pixels\)", str(error))
    return f"{int(found.group(1)) / 1e6:.0f} megapixels" if found else "a size"


@contextmanager
def _open_image(path: Path) -> Iterator[Image.Image]:
    """Open ``path`` with Pillow after the checks in the module docstring; header read, no pixels decoded.

    The file's type is checked twice: ``os.stat`` refuses a FIFO or device without opening it (opening
    can block or have side effects), and ``fstat`` on the opened descriptor closes the gap in which
    the name could be swapped. ``O_NONBLOCK`` keeps even that open from waiting on a FIFO's writer.
    """
    try:
        mode = os.stat(path).st_mode  # follows symlinks: a link to /dev/zero is a device
        if not stat.S_ISREG(mode):
            raise _not_regular(path, mode)
        fd = os.open(path, os.O_RDONLY | getattr(os, "O_NONBLOCK", 0) | getattr(os, "O_BINARY", 0))
    except OSError as error:
        raise ImageReadError(path, error.strerror or type(error).__name__) from error
    with os.fdopen(fd, "rb") as handle:
        mode = os.fstat(handle.fileno()).st_mode
        if not stat.S_ISREG(mode):
            raise _not_regular(path, mode)
        try:
            with Image.open(handle, formats=PILLOW_FORMATS) as image:
                width, height = image.size
                if width * height > MAX_IMAGE_PIXELS:
                    raise _too_large(path, f"{width} x {height} pixels")
                yield image
        except Image.DecompressionBombError as error:  # over Pillow's own hard limit, refused in open()
            raise _too_large(path, _pillow_bomb_size(error)) from error
        except UnidentifiedImageError as error:  # its message names the file descriptor, not the file
            raise ImageReadError(path, "not a JPEG, PNG, BMP, GIF or WebP image, or a damaged one") from error
        except (OSError, SyntaxError, ValueError, EOFError, IndexError, struct.error) as error:
            # The types Pillow's decoders raise on damaged data (its own fuzz tests accept these).
            if isinstance(error, ImageReadError):
                raise
            raise ImageReadError(path, str(error) or type(error).__name__) from error


DRAFT_MARGIN = 2  # DCT-scaled decoding keeps at least twice the side the model needs


def load_rgb(path: Path | str, min_side: int | None = None) -> np.ndarray:
    """Decode a photo file to an HxWx3 uint8 RGB array (first frame of animations).

    ``min_side``: the caller needs no more than this many pixels on the shorter side, so a JPEG is
    decoded at the smallest DCT scale (1/2, 1/4 or 1/8, libjpeg's own scaling inside Pillow's
    ``draft``) that still gives at least ``DRAFT_MARGIN`` times that: a 4032x3024 phone photo headed
    for a 128 px model decodes at 504x378, 64x fewer pixels and several times faster. Every byte of the file is
    still read, so a truncated file fails the same way. Other formats decode at full size.

    Raises ImageReadError naming the file when it is not a readable image, not a regular file, or
    larger than ``MAX_IMAGE_PIXELS`` (checked from the header, before decoding).
    """
    path = Path(path)
    with _open_image(path) as image:
        image.seek(0)
        if min_side and image.format == "JPEG":
            # at least twice the side the caller needs, so the final resize still filters over 2+ decoded
            # pixels; food5's 256 px photos decoded at 1/2 straight to 128 px lowered test F1 (quick
            # benchmark, 0.699 -> 0.641), and with the margin such photos decode at full size as before
            image.draft(image.mode, (DRAFT_MARGIN * min_side, DRAFT_MARGIN * min_side))
        image = ImageOps.exif_transpose(image)
        rgb = _to_rgb(image)
        rgb.load()
        return np.asarray(rgb, dtype=np.uint8)


def image_size_of(path: Path | str) -> tuple[int, int]:
    """(width, height) after EXIF orientation, from the header: no pixels are decoded.

    Raises ImageReadError for what ``load_rgb`` would refuse (not a regular file, over
    ``MAX_IMAGE_PIXELS``, not an image), so a folder can be audited cheaply.
    """
    path = Path(path)
    with _open_image(path) as image:
        width, height = image.size
        orientation = _orientation(image)
    if orientation in (5, 6, 7, 8):
        width, height = height, width
    return width, height


def _orientation(image: Image.Image) -> int:
    """The EXIF orientation tag, without decoding pixels.

    Pillow's PNG ``getexif()`` decodes the whole image to look for an eXIf chunk after the pixel
    data; only the header's chunk is consulted here (where the PNG specification puts it).
    """
    if image.format == "PNG":
        raw = image.info.get("exif")
        if not raw:
            return 1
        exif = Image.Exif()
        exif.load(raw)
    else:
        exif = image.getexif()
    value = exif.get(0x0112, 1)
    return value if isinstance(value, int) else 1


def load_fitted(path: Path | str, image_size: int) -> np.ndarray:
    """A photo file as the model's uint8 input (image_size x image_size x 3): ``load_rgb``, decoding
    a JPEG at the smallest DCT scale that keeps ``image_size`` pixels on its shorter side, then the
    one crop + resize of ``seefood.preprocessing``. Training, export's int8 calibration, verify,
    predict and the benchmarks read photo files through this function alone."""
    from seefood.preprocessing import fit_to_input

    return fit_to_input(load_rgb(path, min_side=image_size), image_size)


def load_fitted_ahead(paths: list[Path], image_size: int, workers: int | None = None
                      ) -> Iterator[tuple[Path, Future]]:
    """``load_fitted`` over ``paths`` in a thread pool: (path, future) in the order given, with at most
    ``2 * workers`` photos decoded ahead of the caller, so memory stays bounded on a folder of any
    size. Pillow releases the GIL while it decodes, so the threads use every core; ``future.result()``
    raises what ``load_fitted`` would have raised for that file, and the caller decides what to do.
    A caller that stops early (an exception, ``break``) cancels the photos not yet started."""
    workers = workers or min(8, max(2, os.cpu_count() or 2))  # the audit's cap: a 12 MP PNG is 36 MB while decoding
    pool = ThreadPoolExecutor(max_workers=workers, thread_name_prefix="seefood-decode")
    pending: deque[tuple[Path, Future]] = deque()
    try:
        for path in paths:
            pending.append((path, pool.submit(load_fitted, path, image_size)))
            if len(pending) > 2 * workers:
                yield pending.popleft()
        while pending:
            yield pending.popleft()
    finally:
        pool.shutdown(wait=True, cancel_futures=True)
