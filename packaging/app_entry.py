"""Entry point of the packaged desktop app (`seefood-app`), built by packaging/build_desktop.py.

    seefood-app                     open the window on the default bundle and camera 0
    seefood-app --source FILE ...   any `seefood app` option (--model, --camera, --exit-after, ...)
    seefood-app --self-test         load the default bundle, classify the built-in picture, print
                                    the verdict, exit 0 (1 when anything is wrong)

The default bundle and the self-test picture sit beside the executable (`default_bundle/`,
`selftest.jpg`, drawn by `selftest_picture` at build time). Run from a source checkout, the same
file uses `demo/bundle` and draws the picture itself, so the self-test can be tried before building.
The demo generator (`demogen`) is not part of the app: nothing here imports it.
"""

from __future__ import annotations

import math
import sys
from pathlib import Path

# Imported here (not only through seefood.cli's by-name loading) so PyInstaller sees them.
import desktop.commands  # noqa: F401
import seefood.version_commands  # noqa: F401  (seefood bundle list|use|prune; the app's versions)
import seefood.cli

DEFAULT_BUNDLE = "default_bundle"
SELFTEST_IMAGE = "selftest.jpg"


def app_folder() -> Path:
    """The folder holding the executable (frozen) or the repository root (from source)."""
    if getattr(sys, "frozen", False):
        return Path(sys.executable).resolve().parent
    return Path(__file__).resolve().parent.parent


def default_bundle() -> Path:
    folder = app_folder()
    return folder / (DEFAULT_BUNDLE if getattr(sys, "frozen", False) else "demo/bundle")


def selftest_image() -> Path | None:
    path = app_folder() / SELFTEST_IMAGE
    return path if path.is_file() else None


def selftest_picture(size: int = 224):
    """The self-test's picture, drawn with numpy: a sausage in a bun on a plate (uint8 RGB).

    Any picture proves the bundle loads and runs; this one needs no demo generator (and no Pillow
    drawing code, which would pack FreeType) and is the same on every build. The verdict is
    printed, not checked: it depends on the bundle.
    """
    import numpy as np

    y, x = np.mgrid[0:size, 0:size] / size  # coordinates in fractions of the picture

    def capsule(half_length: float, radius: float):  # a rounded bar across the centre
        return np.hypot(np.maximum(np.abs(x - 0.5) - half_length, 0), y - 0.5) <= radius

    picture = np.empty((size, size, 3), np.uint8)
    picture[:] = (150, 105, 70)  # a wooden table
    picture[((x - 0.5) / 0.44) ** 2 + ((y - 0.5) / 0.40) ** 2 <= 1] = (236, 234, 228)  # a plate
    picture[capsule(0.22, 0.13)] = (216, 164, 96)  # a bun
    picture[capsule(0.34, 0.05)] = (160, 62, 40)  # a sausage
    return picture


def self_test() -> int:
    """Load the default bundle with LiteRT, classify the built-in picture, print the verdict."""
    import numpy as np

    from seefood.bundle import Classifier
    from seefood.images import load_rgb

    bundle = default_bundle()
    image_path = selftest_image()
    if image_path is not None:
        rgb = load_rgb(image_path)
        name = image_path.name
    else:  # from a source checkout: draw the picture the build ships
        rgb, name = selftest_picture(), "the drawn self-test picture"
    classifier = Classifier(bundle)
    prediction = classifier.classify(rgb)
    scores = np.array(list(prediction.scores.values()))
    problems = []
    if not np.all(np.isfinite(scores)) or scores.min() < 0 or scores.max() > 1 + 1e-6:
        problems.append(f"scores out of range: {prediction.scores}")
    if "tensorflow" in sys.modules:
        problems.append("TensorFlow was imported; the app must run on LiteRT alone")
    print(f"self-test: bundle {classifier.manifest.name!r} ({classifier.manifest.quantization}, "
          f"{classifier.interpreter_name}) says {prediction.label!r} for {name} "
          f"(p({prediction.top_class})={prediction.confidence:.3f}, threshold {prediction.threshold:.2f}, "
          f"{prediction.inference_ms:.1f} ms)")
    # The window's modules must import too (a frozen build can lose a Qt or OpenCV library).
    import cv2  # noqa: F401

    import desktop.app  # noqa: F401

    for problem in problems:
        print(f"self-test FAILED: {problem}", file=sys.stderr)
    if not problems and math.isfinite(prediction.inference_ms):
        print("self-test passed")
        return 0
    return 1


def main(argv: list[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    if "--self-test" in argv:
        try:
            return self_test()
        except Exception as error:  # report, never a traceback dialog
            print(f"self-test FAILED: {type(error).__name__}: {error}", file=sys.stderr)
            return 1
    if "-h" in argv or "--help" in argv:
        print(__doc__)
    if "--model" not in argv and not any(a.startswith("--model=") for a in argv) and default_bundle().is_dir():
        argv = ["--model", str(default_bundle()), *argv]
    return seefood.cli.main(["app", *argv])


if __name__ == "__main__":
    sys.exit(main())
