"""The built-in demo dataset: procedural, photo-like pictures of hot dogs and other food.

Why procedural: the demo must run on a fresh clone without downloading anything, and it must
teach what the product is for. So the data is built to behave like a real photo collection:

- imbalanced about 1:6 (few hot dogs, many other dishes), so a model trained naively learns
  to say "not hotdog" and misses most hot dogs at the 0.5 threshold;
- hard negatives that share colours and shapes with hot dogs: a sausage on a plate (no bun),
  a baguette (bun colours, elongated), fries, burgers (bun colours) on a red tablecloth;
- photo nuisances: angle, scale, perspective squish, background (wood, cloth, checks,
  stone), plates, lighting direction and falloff, colour cast, blur, sensor noise, JPEG
  artefacts, partial occlusion (napkin, cup, hand, fork) and objects cut by the frame.

Every picture is a *scene* (a small dict of parameters sampled from a seeded generator) that
is rendered at any size with numpy signed-distance shapes, so the demo video can show the
held-out scenes at a higher resolution than the training images. The output for a given
seed and scale is identical byte for byte across runs on the same library versions.

This module must not import TensorFlow.
"""

from __future__ import annotations

import copy
import json
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from PIL import Image

from demogen.scenes import IMAGE_SIZE, NEGATIVE_KINDS, render_scene, sample_scene
from seefood.atomic import staged_folder

FORMAT_VERSION = 1
MARKER_NAME = "demo_data.json"
VIDEO_NAME = "demo.avi"
README_NAME = "README.txt"
POSITIVE = "hotdog"
NEGATIVE = "not_hotdog"
# Images per split and class at --scale 1 (about 1:6, like a real photo collection).
COUNTS = {"train": {POSITIVE: 70, NEGATIVE: 420}, "test": {POSITIVE: 24, NEGATIVE: 144}}
VIDEO_FPS = 30
VIDEO_SECONDS = 10
VIDEO_FRAME = (320, 240)  # width, height: a 4:3 camera; the app's model sees the centre square
VIDEO_SOURCE_SIZE = 360  # held-out scenes are re-rendered at this size for the video
VIDEO_SHOTS = 8


@dataclass(frozen=True)
class DemoDataSummary:
    """What `generate` wrote."""

    root: Path
    counts: dict  # {"train": {"hotdog": n, "not_hotdog": n}, "test": {...}}
    video: Path
    video_frames: int
    seconds: float


def split_counts(scale: float = 1.0) -> dict:
    """Images per split and class for a scale factor (at least 2 of each)."""
    if scale <= 0:
        raise ValueError(f"scale must be positive, got {scale}")
    return {
        split: {cls: max(2, int(round(n * scale))) for cls, n in per_class.items()}
        for split, per_class in COUNTS.items()
    }


# ----------------------------------------------------------------------------- dataset


def _scene_rng(seed: int, split: str, kind: str, index: int) -> np.random.Generator:
    """One generator per picture, so a picture does not depend on the others (or on scale)."""
    split_id = ["train", "test"].index(split)
    kind_id = (POSITIVE,) + NEGATIVE_KINDS
    return np.random.default_rng([seed, split_id, kind_id.index(kind), index])


def plan(seed: int = 0, scale: float = 1.0) -> list[tuple[str, str, str, dict]]:
    """Every picture of the dataset: (split, class folder, file name, scene)."""
    items = []
    for split, per_class in split_counts(scale).items():
        for i in range(per_class[POSITIVE]):
            scene = sample_scene(_scene_rng(seed, split, POSITIVE, i), POSITIVE)
            items.append((split, POSITIVE, f"hotdog_{i:04d}.jpg", scene))
        for i in range(per_class[NEGATIVE]):
            kind = NEGATIVE_KINDS[i % len(NEGATIVE_KINDS)]
            index = i // len(NEGATIVE_KINDS)
            scene = sample_scene(_scene_rng(seed, split, kind, index), kind)
            items.append((split, NEGATIVE, f"{kind}_{index:04d}.jpg", scene))
    return items


def example_scene(seed: int = 0) -> dict:
    """A clear held-out hot dog (centred, not hidden, not blurred): the packaged app's self-test picture."""
    for split, cls, _, scene in plan(seed, scale=1.0):
        if split == "test" and cls == POSITIVE and scene["occluder"] is None and scene["extra"] is None \
                and scene["blur"] == 0 and scene["noise"] < 0.03:
            scene = copy.deepcopy(scene)
            scene["food"]["pose"].update(cx=0.5, cy=0.5)
            return scene
    raise LookupError(f"no clear hot dog in the test split for seed {seed}")


def _save_jpeg(rgb: np.ndarray, path: Path, quality: int) -> None:
    Image.fromarray(rgb).save(path, format="JPEG", quality=quality, optimize=False)


def _video_shots(items, seed: int) -> list[dict]:
    """Held-out scenes for the video: hot dogs and hard negatives, alternating."""
    test = [it for it in items if it[0] == "test"]
    hot = [it[3] for it in test if it[1] == POSITIVE]
    by_kind = {k: [it[3] for it in test if it[3]["kind"] == k] for k in NEGATIVE_KINDS}
    order = ["hotdog", "fries", "hotdog", "sausage_plate", "pizza", "hotdog", "baguette", "donut"]
    shots, used = [], {}
    for kind in order[:VIDEO_SHOTS]:
        pool = hot if kind == POSITIVE else by_kind[kind]
        n = used.get(kind, 0)
        if pool:
            scene = copy.deepcopy(pool[n % len(pool)])
            scene["food"]["pose"].update(cx=0.5, cy=0.5)  # a person points the camera at the food
            shots.append(scene)
            used[kind] = n + 1
    return shots


def write_video(shots: list[dict], path: Path, seed: int = 0) -> int:
    """An MJPG .avi (VIDEO_FPS, VIDEO_SECONDS) showing each scene with a slow pan and zoom."""
    import cv2  # only here: the dataset itself needs numpy and Pillow only

    width, height = VIDEO_FRAME
    total = VIDEO_FPS * VIDEO_SECONDS
    writer = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*"MJPG"), VIDEO_FPS, (width, height))
    if not writer.isOpened():
        raise OSError(f"{path}: OpenCV cannot write an MJPG video here")
    rng = np.random.default_rng([seed, 99])
    sources = [cv2.cvtColor(render_scene(s, VIDEO_SOURCE_SIZE), cv2.COLOR_RGB2BGR) for s in shots]
    pans = [(rng.uniform(-1, 1, 2), rng.uniform(-1, 1, 2), rng.uniform(1.0, 1.08), rng.uniform(1.05, 1.18))
            for _ in sources]
    per_shot = total / len(sources)
    fade = 6  # frames of cross-fade between shots

    def view(i: int, t: float) -> np.ndarray:
        start, end, z0, z1 = pans[i]
        zoom = z0 + (z1 - z0) * t
        src = sources[i]
        side = src.shape[0]
        w = side / zoom
        h = w * height / width
        centre = (start + (end - start) * t) * 0.5  # -0.5..0.5 of the free room
        cx = side / 2 + centre[0] * (side - w)
        cy = side / 2 + centre[1] * (side - h)
        scale = width / w
        matrix = np.array([[scale, 0, width / 2 - cx * scale], [0, scale, height / 2 - cy * scale]], dtype=np.float64)
        return cv2.warpAffine(src, matrix, (width, height), flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_REFLECT)

    try:
        for frame_index in range(total):
            shot = min(int(frame_index / per_shot), len(sources) - 1)
            t = (frame_index - shot * per_shot) / per_shot
            frame = view(shot, t)
            to_next = (shot + 1) * per_shot - frame_index
            if shot + 1 < len(sources) and to_next <= fade:
                mix = 1.0 - to_next / fade
                frame = cv2.addWeighted(frame, 1.0 - mix, view(shot + 1, 0.0), mix, 0.0)
            writer.write(frame)
    finally:
        writer.release()
    return total


def _readme(seed: int, scale: float, counts: dict, frames: int) -> str:
    lines = [
        "SeeFood demo dataset (generated by `seefood demo-data`; do not edit by hand)",
        "",
        f"seed {seed}, scale {scale:g}, format version {FORMAT_VERSION}",
        "",
        "train/ and test/ each hold hotdog/ and not_hotdog/ (JPEG, "
        f"{IMAGE_SIZE}x{IMAGE_SIZE}). test/ is held out: never use it to train or to pick a threshold.",
    ]
    for split, per_class in counts.items():
        pos, neg = per_class[POSITIVE], per_class[NEGATIVE]
        lines.append(f"  {split:5s}: {pos:4d} hotdog, {neg:4d} not_hotdog (1:{neg / pos:.1f})")
    lines += [
        "",
        "The pictures are procedural: a sausage in a bun (with or without toppings) against other dishes",
        "merged into not_hotdog: " + ", ".join(NEGATIVE_KINDS) + " (file names start with the dish).",
        "The first three share a hot dog's colours and long shape on purpose. Every picture varies angle,",
        "scale, perspective, background, plate, lighting, colour cast, blur, noise, JPEG quality, and",
        "may have a side dish or be partly hidden by a napkin, cup, hand or fork.",
        "",
        "The imbalance is the lesson: a model trained without rebalancing reaches high accuracy by",
        "saying not_hotdog, and misses most hot dogs at threshold 0.5. Rebalancing the classes and",
        "choosing the threshold on validation data recover them; `seefood train` reports both.",
        "",
        f"{VIDEO_NAME}: {frames} frames, MJPG, {VIDEO_FPS} FPS, {VIDEO_FRAME[0]}x{VIDEO_FRAME[1]}: held-out test",
        "scenes re-rendered at a higher resolution, with slow pans and zooms, for `seefood app --source`.",
        "",
    ]
    return "\n".join(lines)


def is_demo_data(root: Path | str, seed: int | None = None, scale: float | None = None) -> bool:
    """True when `root` holds complete demo data (for seed/scale when given)."""
    root = Path(root)
    try:
        marker = json.loads((root / MARKER_NAME).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return False
    if marker.get("format_version") != FORMAT_VERSION:
        return False
    if seed is not None and marker.get("seed") != seed:
        return False
    if scale is not None and marker.get("scale") != scale:
        return False
    if not (root / VIDEO_NAME).is_file():
        return False
    for split, per_class in marker.get("counts", {}).items():
        for cls, n in per_class.items():
            if len(list((root / split / cls).glob("*.jpg"))) != n:
                return False
    return bool(marker.get("counts"))


def foreign_files(root: Path) -> list[Path]:
    """Entries under ``root`` that the generator did not write (photos captured into the demo
    data, a user's own folder): everything, when ``root`` has no demo marker."""
    if root.is_symlink() or not root.is_dir():
        return [root]
    try:
        marker = json.loads((root / MARKER_NAME).read_text(encoding="utf-8"))
        expected = {Path(split) / cls / name for split, cls, name, _ in plan(int(marker["seed"]), float(marker["scale"]))}
    except (OSError, ValueError, KeyError, TypeError):
        return sorted(root.iterdir())
    own = {Path(MARKER_NAME), Path(VIDEO_NAME), Path(README_NAME)}
    foreign = []
    for path in sorted(root.rglob("*")):
        relative = path.relative_to(root)
        if path.is_symlink() or (path.is_file() and relative not in own and relative not in expected):
            foreign.append(path)
    return foreign


def _check_replaceable(root: Path) -> None:
    """--force replaces demo data the generator wrote, never photos someone added to it."""
    foreign = foreign_files(root)
    if foreign:
        named = ", ".join(str(p) for p in foreign[:3]) + (f" and {len(foreign) - 3} more" if len(foreign) > 3 else "")
        raise FileExistsError(
            f"{root}: holds files the demo generator did not write ({named}); they are never replaced, even with "
            "--force. Move them out (captured photos belong in your own training folder) or choose another folder"
        )


def generate(root: Path | str, seed: int = 0, scale: float = 1.0, force: bool = False,
             progress=None) -> DemoDataSummary:
    """Write the demo dataset to `root` (see the module docstring).

    Refuses to touch an existing `root` unless `force`. Writes into a temporary folder
    beside it and renames it into place, so `root` is never left half written.
    """
    root = Path(root)
    if root.exists() and not force:
        raise FileExistsError(f"{root} already exists; pass --force to replace it")
    if root.exists() or root.is_symlink():
        _check_replaceable(root)
    start = time.perf_counter()
    counts = split_counts(scale)
    with staged_folder(root) as tmp:
        for split, per_class in counts.items():
            for cls in per_class:
                (tmp / split / cls).mkdir(parents=True)
        items = plan(seed, scale)
        for i, (split, cls, name, scene) in enumerate(items):
            _save_jpeg(render_scene(scene), tmp / split / cls / name, scene["jpeg"])
            if progress and (i + 1) % 100 == 0:
                progress(f"  {i + 1}/{len(items)} images")
        frames = write_video(_video_shots(items, seed), tmp / VIDEO_NAME, seed)
        (tmp / README_NAME).write_text(_readme(seed, scale, counts, frames), encoding="utf-8")
        marker = {"format_version": FORMAT_VERSION, "seed": seed, "scale": scale, "counts": counts,
                  "video": VIDEO_NAME, "video_frames": frames, "image_size": IMAGE_SIZE}
        (tmp / MARKER_NAME).write_text(json.dumps(marker, indent=2) + "\n", encoding="utf-8")
    return DemoDataSummary(root=root, counts=counts, video=root / VIDEO_NAME, video_frames=frames,
                           seconds=time.perf_counter() - start)
