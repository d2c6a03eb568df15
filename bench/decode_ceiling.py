"""What one phone photo costs, piece by piece, in one thread: the floor under the first pass's speed.

    python -m bench.decode_ceiling [--photos 40]

Times, per photo and in one thread, every step ``seefood train``'s audit spends on a 4032x3024 JPEG (reading,
hashing, the header, the DCT-scaled decode, crop and resize) beside what ``image_dataset_from_directory`` spends
(TensorFlow's full decode and resize). Each step runs over all photos, then the next, three times; the fastest
of the three is kept (the least disturbed by other work on the machine). The last lines turn them into the
ratio the first pass could reach on this machine if it did nothing but hash, decode and resize.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import sys
import tempfile
import time
from pathlib import Path

from bench import measure
from bench.food5 import FOOD5

ROUNDS = 3
FOLDER = Path(tempfile.gettempdir()) / "seefood-decode-ceiling"
IMAGE_SIZE = 128


def _per_photo_ms(step, items) -> float:
    best = float("inf")
    for _ in range(ROUNDS):
        start = time.perf_counter()
        for item in items:
            step(item)
        best = min(best, time.perf_counter() - start)
    return 1000.0 * best / len(items)


def steps(image_size: int):
    """(name, function of a path) for each step timed: the audit's own, then the two baselines'."""
    from seefood.bundle import sha256_of
    from seefood.images import image_size_of, load_fitted, load_rgb
    from seefood.quiet import import_tensorflow

    tf = import_tensorflow()  # without its start-up noise

    def tf_decode(path: str, ratio: int):
        image = tf.io.decode_jpeg(tf.io.read_file(path), channels=3, ratio=ratio)
        return tf.image.resize(image, (image_size, image_size))

    return [
        ("read the file", lambda p: Path(p).read_bytes()),
        ("sha256 of the bytes in memory", lambda p: hashlib.sha256(Path(p).read_bytes()).digest()),
        ("seefood: sha256_of(file)", sha256_of),
        ("seefood: image_size_of (header only)", image_size_of),
        ("seefood: load_rgb, DCT-scaled (1/8 here)", lambda p: load_rgb(p, min_side=image_size)),
        ("seefood: load_fitted (DCT-scaled decode + crop + resize)", lambda p: load_fitted(p, image_size)),
        ("Pillow full decode (the loop's baseline)", load_rgb),
        ("TensorFlow decode_jpeg ratio=8 + resize", lambda p: tf_decode(p, 8)),
        ("TensorFlow decode_jpeg full + resize (as image_dataset_from_directory)", lambda p: tf_decode(p, 1)),
    ]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--photos", type=int, default=40)
    parser.add_argument("--json", type=Path, help="write the per-photo times here")
    args = parser.parse_args(argv)
    food5 = FOOD5 / "train"
    sources = [p for p, _ in measure.class_files(food5)] if food5.is_dir() else \
        [p for p, _ in measure.class_files(measure.generate_photos(FOLDER.with_name(FOLDER.name + "-src"), per_class=12))]
    folder, _ = measure.phone_folder(FOLDER, args.photos, sources)
    paths = [p for p, _ in measure.class_files(folder)]
    measure.warm_page_cache(paths)
    megabytes = sum(Path(p).stat().st_size for p in paths) / len(paths) / 2**20
    print(f"{len(paths)} phone-size JPEGs in {folder} ({megabytes:.1f} MB each on average), one thread, "
          f"fastest of {ROUNDS} rounds")
    times = {}
    for name, step in steps(IMAGE_SIZE):
        times[name] = _per_photo_ms(step, paths)
        print(f"  {times[name]:7.2f} ms/photo  {name}", flush=True)
    ours = times["seefood: sha256_of(file)"] + times["seefood: load_fitted (DCT-scaled decode + crop + resize)"]
    theirs = times["TensorFlow decode_jpeg full + resize (as image_dataset_from_directory)"]
    print(f"hash + DCT-scaled decode + crop/resize: {ours:.1f} ms against image_dataset_from_directory's "
          f"{theirs:.1f} ms: at most {theirs / ours:.2f}x it with every core busy and nothing else spent")
    if args.json:
        args.json.write_text(json.dumps({"photos": len(paths), "mb_per_photo": megabytes, "ms_per_photo": times},
                                        indent=1), encoding="utf-8")
    return 0


if __name__ == "__main__":
    sys.exit(main())
