"""What ``--force`` may replace: only folders SeeFood itself wrote, never a user's photos.

A run folder or a bundle folder is recognised by its own files (``config.json`` with the run's
options, ``manifest.json`` with a bundle schema; a versioned bundle's ``versions/`` folder of whole
bundles and its ``current`` pointer, ``seefood.versions``) AND by holding nothing else: a folder that also
holds a photo, a class folder or any file SeeFood does not write is not SeeFood's to delete, with
or without ``--force``. ``check_output_folder`` says, before any slow work, whether ``--out`` may
be written; ``check_apart`` refuses an output folder that is, contains or sits inside a folder the
command reads (the photos, the run it starts from).

No TensorFlow here: training and export both use it.
"""

from __future__ import annotations

import json
from pathlib import Path

from seefood.errors import InputError

# Top-level entries of a run folder (docs/design.md), and of its subfolders.
RUN_FILES = frozenset({"config.json", "audit.json", "splits.json", "run.json", "model.keras", "metrics.json",
                       "report.md", "history.csv", "scores.npz", "out_of_fold.json",
                       "test_scores.npz",  # out_of_fold: --threshold-folds; test_scores: compare before scores.npz
                       "retrain.json"})  # `seefood retrain`: how the run compared with the one it continued
RUN_FOLDERS = {"checkpoints": (".keras", ".txt"), "plots": (".png",), "logs": None}  # None: TensorBoard's own tree
BUNDLE_FILES = frozenset({"model.tflite", "labels.txt", "manifest.json", "README.md", "verification.json",
                          "comparison.json", "comparison.md", "export_config.json"})
BUNDLE_MODES = frozenset({"float32", "float16", "dynamic", "int8"})
# A versioned bundle (seefood.versions): BUNDLE/versions/{current, NNN/}; a version folder holds a
# bundle's files and the files only a version keeps.
VERSIONS_DIR = "versions"
POINTER_FILE = "current"
VERSION_ONLY_FILES = frozenset({"retrain.json"})
VERSION_FILES = BUNDLE_FILES | VERSION_ONLY_FILES
LISTED = 5  # entries named in a refusal


class OutputFolderError(InputError):
    """``--out`` names a folder SeeFood must not write or replace; the message says why."""


def _is_temp(entry: Path) -> bool:
    """The hidden half-written files of SeeFood's atomic writes (``.run.json.x.tmp``, ``.model.tmp.keras``)."""
    return entry.name.startswith(".") and ".tmp" in entry.name and entry.is_file() and not entry.is_symlink()


def read_json_object(path: Path) -> dict | None:
    """A small JSON object file, or None when it is missing, unreadable, over 16 MiB or not an object
    (for recognising SeeFood's own folders, where a damaged file just means "not recognised")."""
    try:
        if path.stat().st_size > 16 * 1024 * 1024:
            return None
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError, RecursionError):
        return None
    return data if isinstance(data, dict) else None


def foreign_entries(folder: Path, kind: str) -> list[Path]:
    """Entries of ``folder`` that a SeeFood ``kind`` ('run' or 'bundle') folder never holds."""
    foreign = []
    for entry in sorted(folder.iterdir()):
        if entry.is_symlink():
            foreign.append(entry)
        elif _is_temp(entry):
            continue
        elif kind == "run" and entry.is_file() and entry.name in RUN_FILES:
            continue
        elif kind == "run" and entry.is_dir() and entry.name in RUN_FOLDERS:
            suffixes = RUN_FOLDERS[entry.name]
            if suffixes is not None:
                foreign += [p for p in sorted(entry.rglob("*")) if p.is_symlink() or
                            not (p.is_file() and (p.suffix in suffixes or _is_temp(p)))]
        elif kind == "bundle" and entry.is_file() and entry.name in BUNDLE_FILES:
            continue
        elif kind == "bundle" and entry.is_dir() and entry.name in BUNDLE_MODES:
            foreign += foreign_entries(entry, "bundle")
        elif kind == "bundle" and entry.is_dir() and entry.name == VERSIONS_DIR:
            foreign += _foreign_in_versions(entry)
        else:
            foreign.append(entry)
    return foreign


def _foreign_in_versions(folder: Path) -> list[Path]:
    """Entries of a bundle's ``versions/`` that ``seefood.versions`` never writes."""
    foreign = []
    for entry in sorted(folder.iterdir()):
        if entry.is_symlink():
            foreign.append(entry)
        elif entry.is_file() and entry.name == POINTER_FILE:
            continue
        elif entry.is_dir() and entry.name.isdigit():
            foreign += [p for p in sorted(entry.iterdir()) if p.is_symlink() or not p.is_file()
                        or (p.name not in VERSION_FILES and not _is_temp(p))]
        else:
            foreign.append(entry)
    return foreign


def is_run_folder(folder: Path) -> bool:
    """A folder ``seefood train`` wrote: its config.json names a data folder and an output."""
    config = read_json_object(folder / "config.json")
    return config is not None and "data_dir" in config and "out" in config


def is_bundle_folder(folder: Path) -> bool:
    """A folder ``seefood export`` wrote: a manifest with a schema, or one bundle per mode; or a
    versioned bundle (``seefood.versions``) whose current version's manifest has one."""
    manifest = read_json_object(folder / "manifest.json")
    if manifest is not None and "schema_version" in manifest:
        return True
    pointer = folder / VERSIONS_DIR / POINTER_FILE
    if pointer.is_file() and not pointer.is_symlink():
        try:
            current = pointer.read_text(encoding="utf-8").strip()
        except (OSError, UnicodeDecodeError):
            current = ""
        version = read_json_object(folder / VERSIONS_DIR / current / "manifest.json") if current.isdigit() else None
        if version is not None and "schema_version" in version:
            return True
    modes = [folder / m for m in BUNDLE_MODES if (folder / m).is_dir()]
    return bool(modes) and all(is_bundle_folder(m) for m in modes)


def looks_like_seefood_output(folder: Path) -> str | None:
    """'run' or 'bundle' when ``folder`` carries SeeFood's own files (whatever else it holds)."""
    if is_run_folder(folder):
        return "run"
    if is_bundle_folder(folder):
        return "bundle"
    return None


def check_output_folder(out: Path, kind: str, force: bool, option: str = "--out") -> bool:
    """Whether ``out`` may become a new ``kind`` folder. Returns True when an existing SeeFood
    folder will be replaced (``force``), False when ``out`` is new or empty; raises
    OutputFolderError otherwise, naming what is in the way."""
    out = Path(out)
    if not out.exists() and not out.is_symlink():
        return False
    what = "run folder" if kind == "run" else "bundle"
    if out.is_symlink() or not out.is_dir():
        raise OutputFolderError(f"{option} {out}: exists and is not a folder; choose a new folder for the {what}")
    if not any(out.iterdir()):
        return False
    recognised = is_run_folder(out) if kind == "run" else is_bundle_folder(out)
    foreign = foreign_entries(out, kind)
    if not recognised or foreign:
        named = ", ".join(str(p.relative_to(out)) for p in foreign[:LISTED]) or "its contents"
        more = f" and {len(foreign) - LISTED} more" if len(foreign) > LISTED else ""
        raise OutputFolderError(
            f"{option} {out}: this folder holds files SeeFood did not write ({named}{more}); it is not a SeeFood "
            f"{what}, so it is never replaced, even with --force. Choose a new or empty folder for the {what}"
        )
    if not force:
        raise OutputFolderError(
            f"{option} {out}: a SeeFood {what} is already there; pass --force to replace it, or choose another {option}"
        )
    return True


def check_apart(out: Path, other: Path, other_name: str, option: str = "--out") -> None:
    """Refuse an output folder that is, contains or lies inside ``other`` (a folder being read)."""
    out_r, other_r = Path(out).resolve(), Path(other).resolve()
    if out_r == other_r:
        relation = "is"
    elif other_r in out_r.parents:
        relation = "is inside"
    elif out_r in other_r.parents:
        relation = "contains"
    else:
        return
    raise OutputFolderError(
        f"{option} {out}: {relation} {other_name} {other}; writing there could delete or mix with what is read "
        f"from it. Choose a folder outside {other}"
    )
