"""The one preprocessing definition shared by training, export, the app and phones.

Policy: take an RGB uint8 image of any size, centre-crop it to the model's (square) aspect,
resize it with Pillow's antialiased bilinear filter to ``image_size``, and hand the uint8
pixels to the model. The model scales them itself (``pixel * scale + offset``), so an exported
model takes raw uint8 RGB and there is nothing to get wrong on the caller's side.

This module must not import TensorFlow: the desktop app uses it.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

import numpy as np
from PIL import Image

CROP_POLICY = "center-crop to square, then resize"
RESIZE_FILTER = "bilinear (Pillow, antialiased)"
COLOR_ORDER = "RGB"


@dataclass(frozen=True)
class Preprocessing:
    """How pixels reach the model.

    image_size: side of the square input, in pixels.
    scale, offset: the model computes ``pixel * scale + offset`` on the uint8 input. These
        are set by the backbone (``[-1, 1]`` for small_cnn; ``[0, 255]`` for keras.applications
        backbones, which normalise internally).
    """

    image_size: int = 128
    scale: float = 1.0 / 127.5
    offset: float = -1.0
    crop: str = CROP_POLICY
    resize: str = RESIZE_FILTER
    color_order: str = COLOR_ORDER
    input_dtype: str = "uint8"

    def to_dict(self) -> dict:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict) -> "Preprocessing":
        known = {k: data[k] for k in cls.__dataclass_fields__ if k in data}
        return cls(**known)


def crop_box(width: int, height: int) -> tuple[int, int, int, int]:
    """The centred square (left, top, right, bottom) the model sees in a width x height frame."""
    side = min(width, height)
    left = (width - side) // 2
    top = (height - side) // 2
    return left, top, left + side, top + side


def fit_to_input(rgb: np.ndarray, image_size: int) -> np.ndarray:
    """Centre-crop and resize an HxWx3 uint8 RGB array to image_size x image_size x 3 uint8."""
    if rgb.ndim != 3 or rgb.shape[2] != 3 or rgb.dtype != np.uint8:
        raise ValueError(
            f"expected an HxWx3 uint8 RGB array, got shape {rgb.shape} dtype {rgb.dtype}"
        )
    height, width = rgb.shape[:2]
    left, top, right, bottom = crop_box(width, height)
    square = rgb[top:bottom, left:right]
    if square.shape[0] == image_size and square.shape[1] == image_size:
        return np.ascontiguousarray(square)
    image = Image.fromarray(np.ascontiguousarray(square))
    image = image.resize((image_size, image_size), Image.Resampling.BILINEAR)
    return np.asarray(image, dtype=np.uint8)
