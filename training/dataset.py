"""From a folder of class subfolders to a checked, split list of examples.

``discover`` walks the folder, reads every candidate file once (content hash, full decode
check, size) and builds the audit: what was used, what was skipped and why, duplicates,
leakage across splits. Nothing is skipped silently: every skipped file is named in
``audit.json`` and counted in the printed table.

The split is a pure function of each file's content hash (and the seed): a photo's split never
depends on the other photos, so adding photos and retraining never moves an existing
validation or test photo into training.
"""

from __future__ import annotations

import hashlib
import os
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

from seefood.bundle import sha256_of
from seefood.errors import InputError
from seefood.names import ClassNameError, check_class_name
from seefood.ownership import looks_like_seefood_output
from seefood.images import ImageReadError, classify_path, image_size_of, load_rgb

SPLITS = ("train", "val", "test")


class DataError(InputError):
    """A data folder that cannot be trained on; the message names the path and the fix."""


@dataclass(frozen=True)
class Example:
    path: str
    folder_class: str  # the class subfolder the file sits in
    split: str
    sha256: str


@dataclass
class Inventory:
    """What ``discover`` found: usable examples plus everything the audit reports."""

    data_dir: str
    layout: str  # "flat" (DATA_DIR/<class>) or "split" (DATA_DIR/{train,val,test}/<class>)
    folder_classes: list[str]
    examples: list[Example]
    unreadable: list[dict] = field(default_factory=list)
    too_small: list[dict] = field(default_factory=list)
    ignored: list[dict] = field(default_factory=list)
    duplicates: list[dict] = field(default_factory=list)
    leakage: list[dict] = field(default_factory=list)
    conflicts: list[dict] = field(default_factory=list)

    def fingerprint(self) -> str:
        digest = hashlib.sha256()
        for ex in sorted(self.examples, key=lambda e: (e.folder_class, e.sha256)):
            digest.update(f"{ex.folder_class}:{ex.split}:{ex.sha256}\n".encode())
        return digest.hexdigest()[:16]


def split_for(sha256: str, seed: int, val_fraction: float, test_fraction: float) -> str:
    """The split of one file, from its content hash alone: stable as the folder grows."""
    u = int(hashlib.sha256(f"{seed}:{sha256}".encode()).hexdigest()[:15], 16) / float(16**15)
    if u < test_fraction:
        return "test"
    if u < test_fraction + val_fraction:
        return "val"
    return "train"


def _class_dirs(root: Path) -> list[Path]:
    return sorted(p for p in root.iterdir() if p.is_dir() and not p.name.startswith("."))


def _layout(data_dir: Path) -> tuple[str, dict[str, Path]]:
    """('split', {split: dir}) when DATA_DIR has train/ (and maybe val/, test/), else ('flat', {})."""
    subdirs = {p.name.lower(): p for p in _class_dirs(data_dir)}
    if "train" in subdirs:
        return "split", {name: subdirs[name] for name in SPLITS if name in subdirs}
    return "flat", {}


def _check_file(path: Path, min_side: int) -> tuple[str, object]:
    """('ok', sha) | ('unreadable', reason) | ('too_small', (w, h))."""
    try:
        width, height = image_size_of(path)
        if min(width, height) < min_side:
            return "too_small", (width, height)
        load_rgb(path)  # full decode: catches truncated files before training does
    except ImageReadError as error:
        return "unreadable", error.reason
    return "ok", sha256_of(path)


def _check_class_folder(class_dir: Path) -> None:
    """One rule for class names (``seefood.names``), from the training folder to the app's capture."""
    try:
        check_class_name(class_dir.name)
    except ClassNameError as error:
        raise DataError(f"{class_dir}: {error}; the name becomes a label in the bundle and a capture folder in the app") from error


def _refuse_seefood_output(folder: Path, data_dir: Path) -> None:
    """A run or bundle folder saved inside the data folder would be trained on as photos (its
    plots as pictures of a class): refuse it, by name, instead of learning from it."""
    kind = looks_like_seefood_output(folder)
    if kind is not None:
        raise DataError(
            f"{folder}: a SeeFood {kind} folder inside the data folder {data_dir}; its files would be trained on as "
            f"photos. Move it out of {data_dir} (and write runs and bundles with --out outside it)"
        )


def discover(
    data_dir: Path | str,
    seed: int = 1337,
    val_fraction: float = 0.15,
    test_fraction: float = 0.15,
    min_side: int = 32,
    workers: int | None = None,
) -> Inventory:
    """Walk DATA_DIR, check every file, assign splits. Raises DataError with the fix."""
    data_dir = Path(data_dir)
    if not data_dir.exists():
        raise DataError(f"{data_dir}: no such folder. Point seefood at a folder with one subfolder per class, e.g. {data_dir}/hotdog/ and {data_dir}/not_hotdog/")
    if not data_dir.is_dir():
        raise DataError(f"{data_dir}: not a folder. Point seefood at a folder with one subfolder per class")
    layout, split_dirs = _layout(data_dir)
    # (path, folder_class, given split or None)
    candidates: list[tuple[Path, str, str | None]] = []
    ignored: list[dict] = []
    roots = [(d, s) for s, d in split_dirs.items()] if layout == "split" else [(data_dir, None)]
    classes: set[str] = set()
    for root, given_split in roots:
        for entry in sorted(root.iterdir()):
            if entry.is_file():
                ignored.append({"path": str(entry), "reason": "file outside a class folder"})
        for class_dir in _class_dirs(root):
            _check_class_folder(class_dir)
            classes.add(class_dir.name)
            for dirpath, dirnames, filenames in os.walk(class_dir):
                dirnames[:] = sorted(d for d in dirnames if not d.startswith("."))
                _refuse_seefood_output(Path(dirpath), data_dir)
                for name in sorted(filenames):
                    path = Path(dirpath) / name
                    kind = classify_path(path)
                    if kind == "image":
                        candidates.append((path, class_dir.name, given_split))
                    elif kind in ("hidden", "litter"):
                        ignored.append({"path": str(path), "reason": f"{kind} file"})
                    else:
                        ignored.append({"path": str(path), "reason": "not an image type (.jpg .jpeg .png .bmp .gif .webp)"})
    if len(classes) < 2:
        found = ", ".join(sorted(classes)) or "none"
        raise DataError(
            f"{data_dir}: found {len(classes)} class folder(s) ({found}); a classifier needs at least 2. "
            "A one-class problem needs a negative class: add a folder such as "
            f"{data_dir}/not_hotdog/ with ordinary photos of other things, so the model learns what is NOT your class."
        )
    with ThreadPoolExecutor(max_workers=workers or min(8, (os.cpu_count() or 2) * 2)) as pool:
        checks = list(pool.map(lambda c: _check_file(c[0], min_side), candidates))

    inv = Inventory(data_dir=str(data_dir.resolve()), layout=layout, folder_classes=sorted(classes), examples=[])
    inv.ignored = ignored
    first_seen: dict[str, Example] = {}
    for (path, folder_class, given_split), (status, info) in zip(candidates, checks):
        if status == "unreadable":
            inv.unreadable.append({"path": str(path), "reason": str(info)})
            continue
        if status == "too_small":
            inv.too_small.append({"path": str(path), "size": list(info), "min_side": min_side})
            continue
        sha = str(info)
        if given_split is None:
            split = split_for(sha, seed, val_fraction, test_fraction)
        elif given_split == "train" and "val" not in split_dirs:
            # No val/ folder: carve validation out of train/ by hash, stable as above.
            split = "val" if split_for(sha, seed, val_fraction, 0.0) == "val" else "train"
        else:
            split = given_split
        example = Example(str(path.resolve()), folder_class, split, sha)
        previous = first_seen.get(sha)
        if previous is None:
            first_seen[sha] = example
            inv.examples.append(example)
            continue
        record = {"path": str(path), "same_as": previous.path}
        if previous.folder_class != folder_class:
            inv.conflicts.append({**record, "classes": [previous.folder_class, folder_class], "action": "both kept out of training"})
        elif previous.split != split:
            inv.leakage.append({**record, "splits": [previous.split, split], "action": f"kept in {previous.split} only"})
        else:
            inv.duplicates.append({**record, "action": "kept once"})
    if inv.conflicts:
        bad = {c["same_as"] for c in inv.conflicts}
        inv.examples = [e for e in inv.examples if e.path not in bad]
    if not inv.examples:
        raise DataError(
            f"{data_dir}: no readable images found ({len(inv.unreadable)} unreadable, {len(inv.too_small)} too small, "
            f"{len(inv.ignored)} ignored). Put .jpg/.png/.webp photos in {data_dir}/<class>/"
        )
    return inv


def counts(inv: Inventory) -> dict[str, dict[str, int]]:
    """{folder_class: {split: n}}."""
    table = {c: {s: 0 for s in SPLITS} for c in inv.folder_classes}
    for ex in inv.examples:
        table[ex.folder_class][ex.split] += 1
    return table
