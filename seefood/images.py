"""Reading photos the way people actually have them.

JPEG, PNG (8 and 16 bit), BMP, GIF (first frame) and WebP, in any letter case; EXIF
orientation applied; grayscale, palette, alpha and CMYK become RGB. Hidden files and OS
litter are recognised so the audit can count them instead of tripping over them.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
from PIL import Image, ImageOps, UnidentifiedImageError

IMAGE_SUFFIXES = frozenset({".jpg", ".jpeg", ".png", ".bmp", ".gif", ".webp"})
LITTER_NAMES = frozenset({".ds_store", "thumbs.db", "desktop.ini", "icon\r", ".directory"})
TEXT_SUFFIXES = frozenset({".txt", ".md", ".json", ".csv", ".xml", ".ini", ".log", ".html"})


class ImageReadError(ValueError):
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


def _to_rgb(image: Image.Image) -> Image.Image:
    """Any Pillow mode to 8-bit RGB; transparency is composited on white."""
    if image.mode in ("I;16", "I;16B", "I;16L", "I"):
        # 16-bit (or 32-bit int) grayscale: scale to 8 bits by the type's range.
        array = np.asarray(image, dtype=np.float64)
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


def load_rgb(path: Path | str) -> np.ndarray:
    """Decode a photo file to an HxWx3 uint8 RGB array (first frame of animations).

    Raises ImageReadError naming the file when it is not a readable image.
    """
    path = Path(path)
    try:
        with Image.open(path) as image:
            image.seek(0)
            image = ImageOps.exif_transpose(image)
            rgb = _to_rgb(image)
            rgb.load()
            return np.asarray(rgb, dtype=np.uint8)
    except (UnidentifiedImageError, OSError, SyntaxError, ValueError) as error:
        raise ImageReadError(path, str(error) or type(error).__name__) from error


def image_size_of(path: Path | str) -> tuple[int, int]:
    """(width, height) after EXIF orientation, reading only the header where possible."""
    try:
        with Image.open(path) as image:
            width, height = image.size
            orientation = image.getexif().get(0x0112, 1)
    except (UnidentifiedImageError, OSError, SyntaxError, ValueError) as error:
        raise ImageReadError(path, str(error) or type(error).__name__) from error
    if orientation in (5, 6, 7, 8):
        width, height = height, width
    return width, height
