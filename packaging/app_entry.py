"""Entry point of the packaged desktop app (`seefood-app`), built by packaging/build_desktop.py.

    seefood-app                     open the window on the default bundle and camera 0
    seefood-app --source FILE ...   any `seefood app` option (--model, --camera, --exit-after, ...)
    seefood-app --self-test         load the default bundle, classify the built-in picture, print
                                    the verdict, exit 0 (1 when anything is wrong)

The default bundle and the self-test picture sit beside the executable (`default_bundle/`,
`selftest.jpg`). Run from a source checkout, the same file uses `demo/bundle` and renders the
picture from the demo generator, so the self-test can be tried before building.
"""

from __future__ import annotations

import math
import sys
from pathlib import Path

# Imported here (not only through seefood.cli's by-name loading) so PyInstaller sees them.
import desktop.commands  # noqa: F401
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
    else:  # from a source checkout: render the same held-out demo hot dog the build ships
        from seefood.demo_data import example_scene
        from seefood.demo_scenes import render_scene

        rgb, name = render_scene(example_scene()), "a rendered demo hot dog"
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
