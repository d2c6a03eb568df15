"""Reading the photo formats people actually have."""

from __future__ import annotations

import numpy as np
import pytest
from PIL import Image

from seefood.images import ImageReadError, classify_path, load_fitted, load_fitted_ahead, load_rgb
from seefood.preprocessing import crop_box, fit_to_input


def _rgb(h=40, w=60):
    rng = np.random.default_rng(0)
    return rng.integers(0, 255, (h, w, 3), dtype=np.uint8)


def test_formats_become_rgb_uint8(tmp_path):
    arr = _rgb()
    Image.fromarray(arr).save(tmp_path / "a.PNG")
    Image.fromarray(arr).save(tmp_path / "b.webp", lossless=True)
    Image.fromarray(arr).save(tmp_path / "c.bmp")
    Image.fromarray(arr).convert("P").save(tmp_path / "d.gif")
    Image.fromarray(arr).convert("CMYK").save(tmp_path / "e.jpg")
    Image.fromarray(arr).convert("L").save(tmp_path / "f.JPEG")
    rgba = np.dstack([arr, np.full(arr.shape[:2], 0, np.uint8)])  # fully transparent
    Image.fromarray(rgba).save(tmp_path / "g.png")  # 4 uint8 channels: RGBA
    sixteen = (np.arange(40 * 60, dtype=np.uint16).reshape(40, 60) * 27).astype(np.uint16)
    Image.fromarray(sixteen).save(tmp_path / "h.png")  # uint16: mode I;16
    for path in sorted(tmp_path.iterdir()):
        out = load_rgb(path)
        assert out.dtype == np.uint8 and out.shape == (40, 60, 3), path.name
    np.testing.assert_array_equal(load_rgb(tmp_path / "a.PNG"), arr)
    np.testing.assert_array_equal(load_rgb(tmp_path / "b.webp"), arr)
    assert (load_rgb(tmp_path / "g.png") == 255).all()  # transparent composited on white
    assert load_rgb(tmp_path / "h.png").max() > 200  # 16-bit scaled, not clipped to black


def test_gif_first_frame(tmp_path):
    red = Image.new("RGB", (20, 20), (255, 0, 0))
    blue = Image.new("RGB", (20, 20), (0, 0, 255))
    red.save(tmp_path / "anim.gif", save_all=True, append_images=[blue])
    out = load_rgb(tmp_path / "anim.gif")
    assert out[0, 0, 0] > 200 and out[0, 0, 2] < 50


def test_exif_orientation_applied(tmp_path):
    image = Image.fromarray(_rgb(40, 60))
    exif = image.getexif()
    exif[0x0112] = 6  # rotate 90 degrees when displayed
    image.save(tmp_path / "rot.jpg", exif=exif)
    assert load_rgb(tmp_path / "rot.jpg").shape == (60, 40, 3)


def test_unreadable_file_names_the_path(tmp_path):
    bad = tmp_path / "broken.jpg"
    bad.write_bytes(b"\xff\xd8\xff\xe0 not really a jpeg")
    with pytest.raises(ImageReadError) as info:
        load_rgb(bad)
    assert str(bad) in str(info.value)


def test_litter_and_hidden_are_recognised(tmp_path):
    assert classify_path(tmp_path / ".DS_Store") == "litter"
    assert classify_path(tmp_path / "Thumbs.db") == "litter"
    assert classify_path(tmp_path / "notes.txt") == "litter"
    assert classify_path(tmp_path / "._photo.jpg") == "litter"
    assert classify_path(tmp_path / ".hidden.jpg") == "hidden"
    assert classify_path(tmp_path / "PHOTO.JPG") == "image"
    assert classify_path(tmp_path / "clip.mov") == "other"


def test_fit_to_input_center_crops_then_resizes():
    frame = np.zeros((100, 200, 3), np.uint8)
    frame[:, 50:150] = 255  # the centre square is white, the sides black
    assert crop_box(200, 100) == (50, 0, 150, 100)
    out = fit_to_input(frame, 32)
    assert out.shape == (32, 32, 3) and out.min() == 255


def phone_photo(path, seed: int = 0, size=(4032, 3024)):
    """A phone-size JPEG (quality 90): smooth shapes upscaled, with sensor-like noise."""
    rng = np.random.default_rng(seed)
    small = rng.integers(0, 255, (12, 16, 3), dtype=np.uint8)
    image = Image.fromarray(small).resize(size, Image.Resampling.BICUBIC)
    pixels = np.asarray(image, dtype=np.int16) + rng.integers(-12, 13, (size[1], size[0], 1), dtype=np.int16)
    Image.fromarray(np.clip(pixels, 0, 255).astype(np.uint8)).save(path, quality=90)
    return path


def test_a_phone_jpeg_decodes_at_the_dct_scale_to_nearly_the_same_model_input(tmp_path):
    from seefood.images import load_fitted

    path = phone_photo(tmp_path / "IMG_0001.jpg")
    assert load_rgb(path, min_side=128).shape == (378, 504, 3)  # 1/8 of 3024x4032: 8x8 fewer pixels decoded
    assert load_rgb(path, min_side=500).shape == (1512, 2016, 3)  # 1/2: the smallest scale keeping 2 x 500 px
    small = tmp_path / "food.jpg"  # a 512x384 photo for a 128 px model: 1/2 would leave 192 < 2 x 128, so full size
    Image.fromarray(_rgb(384, 512)).save(small, quality=90)
    assert load_rgb(small, min_side=128).shape == (384, 512, 3)
    assert load_rgb(path).shape == (3024, 4032, 3)
    full = fit_to_input(load_rgb(path), 128).astype(int)
    fast = load_fitted(path, 128).astype(int)
    difference = np.abs(full - fast)
    assert difference.mean() < 2.0 and np.percentile(difference, 99) < 12, (difference.mean(), difference.max())


def test_a_truncated_jpeg_still_fails_at_the_dct_scale(tmp_path):
    path = phone_photo(tmp_path / "whole.jpg", size=(1600, 1200))
    cut = tmp_path / "cut.jpg"
    cut.write_bytes(path.read_bytes()[: path.stat().st_size // 2])
    with pytest.raises(ImageReadError, match="cut.jpg"):
        load_rgb(cut, min_side=128)


def test_photos_decoded_ahead_come_back_in_order_with_each_files_own_error(tmp_path):
    paths = []
    for i in range(12):
        path = tmp_path / f"{i:02d}.png"
        if i == 5:
            path.write_bytes(b"not a png")
        else:
            Image.fromarray(np.full((30 + i, 50, 3), i * 20, np.uint8)).save(path)
        paths.append(path)
    taken = []

    def counted():  # how far the read-ahead has gone into the folder when the caller takes each photo
        for path in paths:
            taken.append(path)
            yield path

    seen = []
    for index, (path, photo) in enumerate(load_fitted_ahead(counted(), 32, workers=2)):
        assert len(taken) <= index + 1 + 2 * 2  # bounded: never the whole folder in memory
        seen.append(path)
        if path.name == "05.png":
            with pytest.raises(ImageReadError, match="05.png"):
                photo.result()
        else:
            np.testing.assert_array_equal(photo.result(), load_fitted(path, 32))
    assert seen == paths
