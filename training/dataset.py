"""From a folder of class subfolders to a checked, split list of examples.

``discover`` walks the folder, reads every candidate file once (content hash, full decode
check, size) and builds the audit: what was used, what was skipped and why, duplicates,
leakage across splits. Nothing is skipped silently: every skipped file is named in
``audit.json`` and counted in the printed table.

The split is a pure function of each file's content hash (and the seed): a photo's split never
depends on the other photos, so adding photos and retraining never moves an existing
validation or test photo into training. One exception: a class none of whose photos hashed into
validation lends it one (``_lend_to_validation``), which returns to training once a photo of the
class hashes there.
"""

from __future__ import annotations

import hashlib
import os
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

from seefood import decoded_cache
from seefood.bundle import sha256_of
from seefood.errors import InputError
from seefood.images import ImageReadError, class_folders, classify_path, image_size_of, load_rgb
from seefood.names import ClassNameError, check_class_name
from seefood.ownership import looks_like_seefood_output
from seefood.progress import Progress

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
    lent_to_val: list[dict] = field(default_factory=list)

    def fingerprint(self) -> str:
        digest = hashlib.sha256()
        for ex in sorted(self.examples, key=lambda e: (e.folder_class, e.sha256)):
            digest.update(f"{ex.folder_class}:{ex.split}:{ex.sha256}\n".encode())
        return digest.hexdigest()[:16]


def hash_position(sha256: str, seed: int) -> float:
    """A file's place in [0, 1) from its content hash and the split seed."""
    return int(hashlib.sha256(f"{seed}:{sha256}".encode()).hexdigest()[:15], 16) / float(16**15)


def split_for(sha256: str, seed: int, val_fraction: float, test_fraction: float) -> str:
    """The split of one file, from its content hash alone: stable as the folder grows."""
    u = hash_position(sha256, seed)
    if u < test_fraction:
        return "test"
    if u < test_fraction + val_fraction:
        return "val"
    return "train"


def _layout(data_dir: Path) -> tuple[str, dict[str, Path]]:
    """('split', {split: dir}) when DATA_DIR has train/ (and maybe val/, test/), else ('flat', {})."""
    subdirs = {p.name.lower(): p for p in class_folders(data_dir)}
    if "train" in subdirs:
        return "split", {name: subdirs[name] for name in SPLITS if name in subdirs}
    return "flat", {}


def folder_class_names(data_dir: Path | str) -> list[str]:
    """The class folder names ``discover`` would find (either layout), without reading a photo:
    a quick check before slow work (``seefood retrain`` compares them with the model's classes)."""
    layout, split_dirs = _layout(Path(data_dir))
    roots = list(split_dirs.values()) if layout == "split" else [Path(data_dir)]
    return sorted({folder.name for root in roots for folder in class_folders(root)})


def _check_file(path: Path, min_side: int, image_size: int | None, known_sha: str | None = None) -> tuple[str, object]:
    """('ok', sha) | ('unreadable', reason) | ('too_small', (w, h)).

    With ``image_size`` and the decoded-photo cache on, the check is the photo's one decode: its
    model input goes into the cache for training to read (a photo whose content is cached already
    decoded whole before, and is not decoded again). ``known_sha``: the hash index's record of this
    unchanged file (``decoded_cache.known_hashes``), so its bytes need not be read to hash it."""
    try:
        width, height = image_size_of(path)
        if min(width, height) < min_side:
            return "too_small", (width, height)
        if image_size and decoded_cache.enabled():
            sha = known_sha or sha256_of(path)
            decoded_cache.remember(path, sha)
            decoded_cache.fitted(path, image_size, sha)  # reads every byte: catches truncated files
            return "ok", sha
        load_rgb(path, min_side=min_side)  # reads every byte (DCT-scaled for a JPEG): catches truncated files
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
    image_size: int | None = None,
) -> Inventory:
    """Walk DATA_DIR, check every file (with a progress line), assign splits. Raises DataError with
    the fix. ``image_size``: the model's input side; the check then fills the decoded-photo cache."""
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
        for class_dir in class_folders(root):
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
    progress = Progress(len(candidates), f"Checking photos in {data_dir}")
    known = decoded_cache.known_hashes([c[0] for c in candidates]) if image_size else {}

    def check(candidate: tuple[Path, str, str | None]) -> tuple[str, object]:
        result = _check_file(candidate[0], min_side, image_size, known.get(candidate[0]))
        progress.advance()
        return result

    with ThreadPoolExecutor(max_workers=workers or min(8, (os.cpu_count() or 2) * 2)) as pool:
        try:
            checks = list(pool.map(check, candidates))
        finally:
            progress.close()
    if image_size:
        decoded_cache.record_hashes({c[0]: str(info) for c, (status, info) in zip(candidates, checks)
                                     if status == "ok" and c[0] not in known})

    inv = Inventory(data_dir=str(data_dir.resolve()), layout=layout, folder_classes=sorted(classes), examples=[])
    inv.ignored = ignored
    first_seen: dict[str, Example] = {}
    hashed: set[str] = set()  # examples whose split came from the hash (not from a folder the user made)
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
        if given_split is None or (given_split == "train" and "val" not in split_dirs):
            hashed.add(example.path)
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
    if val_fraction > 0:
        _lend_to_validation(inv, hashed, seed)
    if not inv.examples:
        raise DataError(
            f"{data_dir}: no readable images found ({len(inv.unreadable)} unreadable, {len(inv.too_small)} too small, "
            f"{len(inv.ignored)} ignored). Put .jpg/.png/.webp photos in {data_dir}/<class>/"
        )
    return inv


MIN_TO_LEND = 3  # training photos a class needs before one of them is lent to validation


def _lend_to_validation(inv: Inventory, hashed: set[str], seed: int) -> None:
    """A class none of whose photos hashed into validation (14 photos at 15%: 1 time in 10) lends
    validation its training photo closest to the cut, so a threshold can still be chosen and the
    tiny-class guard can speak, instead of refusing to train. Recorded in ``inv.lent_to_val`` (the
    audit prints it). The one exception to "adding photos never moves a validation photo into
    training": once a photo of the class hashes into validation, the lent one returns to training."""
    by_class: dict[str, list[int]] = {}
    for i, ex in enumerate(inv.examples):
        by_class.setdefault(ex.folder_class, []).append(i)
    for folder_class, indices in by_class.items():
        if any(inv.examples[i].split == "val" for i in indices):
            continue
        lendable = [i for i in indices if inv.examples[i].split == "train" and inv.examples[i].path in hashed]
        if len(lendable) < MIN_TO_LEND:
            continue  # check_splittable names the class and the fix
        pick = min(lendable, key=lambda i: hash_position(inv.examples[i].sha256, seed))
        ex = inv.examples[pick]
        inv.examples[pick] = Example(ex.path, ex.folder_class, "val", ex.sha256)
        inv.lent_to_val.append({"path": ex.path, "class": folder_class,
                                "reason": f"none of the {len(lendable)} training photos of {folder_class!r} hashed "
                                          "into validation; this one (the closest) is used there"})


def counts(inv: Inventory) -> dict[str, dict[str, int]]:
    """{folder_class: {split: n}}."""
    table = {c: {s: 0 for s in SPLITS} for c in inv.folder_classes}
    for ex in inv.examples:
        table[ex.folder_class][ex.split] += 1
    return table
