"""Build the one-folder desktop app with PyInstaller: packaging/dist/seefood-app/.

    python packaging/build_desktop.py                 # uses demo/bundle (make demo writes it)
    python packaging/build_desktop.py --bundle DIR    # another exported bundle as the default
    python packaging/build_desktop.py --with-tensorflow   # the comparison build (TensorFlow inside)

The folder holds the `seefood-app` executable (packaging/app_entry.py), its libraries under
`_internal/` (the `desktop` and `seefood` packages, PySide6, OpenCV, numpy, Pillow, LiteRT),
`default_bundle/` and `selftest.jpg`. Training and export code, the demo generator (`demogen`)
and TensorFlow, Keras, MediaPipe and matplotlib are excluded: the app runs bundles on LiteRT only.
See packaging/README.md for why PyInstaller, and the measured sizes.
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import shutil
import subprocess
import sys
import time
from pathlib import Path

from seefood.errors import SeeFoodError

HERE = Path(__file__).resolve().parent
REPO = HERE.parent
NAME = "seefood-app"
# Never in the app: the training stack (and what it drags in), and stages that need it.
EXCLUDED = (
    "tensorflow", "tensorboard", "keras", "tf_keras", "tensorflow_estimator", "tensorflow_io_gcs_filesystem",
    "mediapipe", "matplotlib", "sklearn", "scipy", "pandas", "jax", "jaxlib", "torch", "h5py",
    "tkinter", "IPython", "pytest", "training", "export", "retrain", "bench", "demogen",
    # Qt modules the window does not use (the PySide6 hooks would otherwise follow them).
    "PySide6.QtQml", "PySide6.QtQuick", "PySide6.QtNetwork", "PySide6.QtWebEngineCore", "PySide6.QtPdf",
)
# LiteRT has no PyInstaller hook: its interpreter extension needs this library beside it
# (loaded through the extension's $ORIGIN run path), so it must land in ai_edge_litert/.
LITERT_LIBRARIES = ("libpywrap_litert_common.so", "libpywrap_litert_common.dylib", "pywrap_litert_common.dll")


class BuildError(SeeFoodError, RuntimeError):
    """Something the person building can fix; printed without a traceback."""


def find_bundle(path: Path | None) -> Path:
    """The default bundle to ship, validated with the runtime's own loader."""
    sys.path.insert(0, str(REPO))
    from seefood.bundle import BundleError, load_manifest

    bundle = path or REPO / "demo" / "bundle"
    if not bundle.is_dir():
        raise BuildError(
            f"no default bundle at {bundle}: run `make demo` first (it trains a model and exports "
            "demo/bundle), or pass --bundle DIR with a bundle from `seefood export`")
    try:
        load_manifest(bundle)
    except BundleError as error:
        raise BuildError(f"the default bundle is not usable: {error}") from error
    return bundle


def write_selftest_image(path: Path) -> Path:
    """The picture `seefood-app --self-test` classifies: app_entry's drawn one (no demo generator)."""
    from PIL import Image

    sys.path[:0] = [str(REPO), str(HERE)]
    from app_entry import selftest_picture  # the app draws the same picture when run from source

    path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(selftest_picture()).save(path, quality=92)
    return path


def litert_binaries() -> list[str]:
    spec = importlib.util.find_spec("ai_edge_litert")
    if spec is None or not spec.submodule_search_locations:
        raise BuildError("ai_edge_litert is not installed: pip install -e '.[app]'")
    folder = Path(list(spec.submodule_search_locations)[0])
    found = [folder / name for name in LITERT_LIBRARIES if (folder / name).exists()]
    if not found:
        raise BuildError(f"{folder}: none of {LITERT_LIBRARIES} found; is this a supported ai-edge-litert wheel?")
    sep = ";" if sys.platform == "win32" else ":"
    return [f"--add-binary={path}{sep}ai_edge_litert" for path in found]


def pyinstaller_args(name: str, with_tensorflow: bool, dist: Path, work: Path) -> list[str]:
    excluded = [m for m in EXCLUDED if not (with_tensorflow and m in ("tensorflow", "keras"))]
    args = [
        str(HERE / "app_entry.py"),
        f"--name={name}",
        "--onedir",
        "--noconfirm",
        "--clean",
        "--log-level=WARN",
        f"--distpath={dist}",
        f"--workpath={work}",
        f"--specpath={work}",
        f"--paths={REPO}",
        "--hidden-import=desktop.commands",
        "--collect-submodules=desktop",
        *litert_binaries(),
        *[f"--exclude-module={m}" for m in excluded],
    ]
    if with_tensorflow:
        args += ["--hidden-import=tensorflow", "--hidden-import=keras"]
    return args


def folder_size(path: Path) -> int:
    return sum(p.stat().st_size for p in path.rglob("*") if p.is_file() and not p.is_symlink())


def build(bundle: Path | None, with_tensorflow: bool = False, dist: Path | None = None) -> Path:
    try:
        import PyInstaller.__main__ as pyinstaller
    except ImportError as error:
        raise BuildError("PyInstaller is not installed: pip install -e '.[package]'") from error
    bundle = find_bundle(bundle)
    dist = dist or HERE / "dist"
    name = NAME + ("-with-tensorflow" if with_tensorflow else "")
    work = HERE / "build" / name
    start = time.perf_counter()
    print(f"building {dist / name} with PyInstaller (default bundle: {bundle}) ...", flush=True)
    pyinstaller.run(pyinstaller_args(name, with_tensorflow, dist, work))
    app = dist / name
    shutil.copytree(bundle, app / "default_bundle", dirs_exist_ok=True)
    write_selftest_image(app / "selftest.jpg")
    size = folder_size(app)
    info = {"name": name, "size_bytes": size, "with_tensorflow": with_tensorflow,
            "default_bundle": str(bundle), "platform": sys.platform,
            "build_seconds": round(time.perf_counter() - start, 1)}
    (app / "build_info.json").write_text(json.dumps(info, indent=2) + "\n", encoding="utf-8")
    print(f"built {app} in {info['build_seconds']:.0f} s: {size / 2**20:.0f} MiB")
    return app


def self_test(app: Path) -> int:
    exe = app / (NAME + (".exe" if sys.platform == "win32" else ""))
    if not exe.exists():
        exe = next(app.glob(NAME + "*"))
    return subprocess.call([str(exe), "--self-test"])


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--bundle", type=Path, help="bundle to ship as the default (default: demo/bundle)")
    parser.add_argument("--with-tensorflow", action="store_true",
                        help="build the comparison app that keeps TensorFlow (to measure its size)")
    parser.add_argument("--dist", type=Path, help="output folder (default: packaging/dist)")
    parser.add_argument("--no-self-test", action="store_true", help="do not run the built app's --self-test")
    args = parser.parse_args(argv)
    try:
        app = build(args.bundle, args.with_tensorflow, args.dist)
    except BuildError as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    return 0 if args.no_self_test else self_test(app)


if __name__ == "__main__":
    sys.exit(main())
