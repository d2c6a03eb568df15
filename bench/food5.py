"""Imbalanced variants of ../shared/data/food5 for experiments and benchmarks.

food5 is Food-101 data for research use only: it is linked (symlinks), never copied into the
project or its packages.
"""

from __future__ import annotations

import argparse
import hashlib
import os
from pathlib import Path

FOOD5 = Path(__file__).resolve().parents[1].parent / "shared" / "data" / "food5"
DEFAULT_POSITIVE = "baby_back_ribs"


def _ranked(files: list[Path], seed: int) -> list[Path]:
    return sorted(files, key=lambda p: hashlib.sha256(f"{seed}:{p.name}".encode()).hexdigest())


def make_imbalanced(dst: Path, positive: str = DEFAULT_POSITIVE, ratio: float = 8.0, seed: int = 0,
                    src: Path = FOOD5) -> Path:
    """dst/{train,test}/{positive, other classes...}: training keeps every negative photo and
    1/ratio as many positives as negatives in total (one class against the other four at 1:ratio);
    the test split is food5's own, untouched. Returns dst."""
    if not src.is_dir():
        raise FileNotFoundError(f"{src}: food5 is not here (it lives in ../shared/data/food5)")
    dst = Path(dst)
    classes = sorted(p.name for p in (src / "train").iterdir() if p.is_dir())
    if positive not in classes:
        raise ValueError(f"{positive!r} is not a food5 class: {classes}")
    negatives = sum(len(list((src / "train" / c).glob("*.jpg"))) for c in classes if c != positive)
    keep_pos = int(round(negatives / ratio))
    for split in ("train", "test"):
        for cls in classes:
            files = sorted((src / split / cls).glob("*.jpg"))
            if split == "train" and cls == positive:
                files = _ranked(files, seed)[:keep_pos]
            out = dst / split / cls
            out.mkdir(parents=True, exist_ok=True)
            for f in files:
                link = out / f.name
                if not link.exists():
                    os.symlink(f.resolve(), link)
    return dst


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("dst")
    parser.add_argument("--positive", default=DEFAULT_POSITIVE)
    parser.add_argument("--ratio", type=float, default=8.0)
    args = parser.parse_args()
    print(make_imbalanced(Path(args.dst), args.positive, args.ratio))
