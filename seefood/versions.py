"""The versions of a bundle folder: every model it has held, which one is in use, and rolling back.

Layout (docs/bundle-format.md)::

    BUNDLE/
      model.tflite labels.txt manifest.json README.md verification.json export_config.json
                              the current version's files, where phones, `seefood predict` and
                              the app have always loaded them
      versions/
        current               one line: the current version's name, e.g. "002"
        001/                  a whole bundle: the six files above
        002/                  ... and retrain.json (how `seefood retrain` compared it with its parent)

A bundle that has no ``versions/`` yet is one version: its files become ``versions/001`` the first
time anything here changes the folder (nothing is lost), and ``list_versions`` shows it as 001.

Every change (adopt, add, use, prune) builds the whole new folder beside ``BUNDLE`` (hard links to
the files already there, so it costs no copy; a copy where the file system has no hard links) and
puts it in place with ``seefood.atomic.staged_folder``: one ``renameat2(RENAME_EXCHANGE)`` on Linux.
A reader opening ``BUNDLE/...`` sees the old folder or the new one, never the top level of one
version with another's files, and a process killed half-way leaves the old folder as it was (its
hidden ``.BUNDLE.tmp-PID-*`` staging is swept by the next change). SeeFood replaces files by
renaming (never writes into one), so a hard-linked file is never changed under another name.
Changes by two processes are serialised with a lock on the parent folder.

numpy and the standard library only: the desktop app imports this without TensorFlow.
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import shutil
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

from seefood.atomic import staged_folder
from seefood.errors import InputError, clip
from seefood.ownership import (
    BUNDLE_FILES,
    BUNDLE_MODES,
    POINTER_FILE,
    VERSION_FILES,
    VERSIONS_DIR,
    foreign_entries,
    read_json_object,
)

MANIFEST = "manifest.json"
RETRAIN_FILE = "retrain.json"  # written into a retrained version by `seefood retrain`
_NAME = re.compile(r"^\d{3,}$")


class VersionError(InputError):
    """A bundle whose versions cannot be read or changed as asked; the message names the fix."""


def version_name(number: int) -> str:
    return f"{int(number):03d}"


def parse_version(text: str | int) -> int:
    """'2', '002', 'v2' -> 2; VersionError otherwise."""
    raw = str(text).strip()
    digits = raw[1:] if raw[:1] in ("v", "V") else raw
    if not digits.isdigit() or int(digits) < 1:
        raise VersionError(f"{clip(raw)!r} is not a version; versions are numbers such as 001 or 2 "
                           "(`seefood bundle list BUNDLE` shows them)")
    return int(digits)


@dataclass
class VersionInfo:
    """One version as ``seefood bundle list`` shows it."""

    version: str
    current: bool
    recorded: bool  # False: the top-level files, not yet kept under versions/ (they will be, as this number)
    path: str
    created: str | None = None
    quantization: str | None = None
    run_id: str | None = None
    source_run: str | None = None
    task: str | None = None
    threshold: float | None = None
    model_sha256: str | None = None
    test: dict | None = None  # {"metric": "f1"|"macro_f1", "value", "pr_auc", "n"} from the run's metrics.json
    retrain: dict | None = None  # retrain.json's decision and held-back figures, for retrained versions
    notes: list[str] = field(default_factory=list)

    def to_dict(self) -> dict:
        return dict(self.__dict__)


# ---------------------------------------------------------------- reading


def _model_sha(folder: Path) -> str | None:
    manifest = read_json_object(folder / MANIFEST) or {}
    sha = manifest.get("model_sha256")
    return sha if isinstance(sha, str) else None


def _plain_file(path: Path) -> bool:
    return path.is_file() and not path.is_symlink()


def is_versioned(bundle: Path | str) -> bool:
    """Whether ``bundle`` keeps its versions (``BUNDLE/versions/``)."""
    return (Path(bundle) / VERSIONS_DIR).is_dir()


@dataclass
class _State:
    bundle: Path
    recorded: dict[int, Path]  # version -> its folder under versions/
    current: int  # the version the top-level files are
    pending: int | None  # the top-level files are not recorded yet: at the next change they become this version

    def numbers(self) -> list[int]:
        return sorted(set(self.recorded) | ({self.pending} if self.pending is not None else set()))


def _check_bundle(bundle: Path) -> None:
    if not bundle.is_dir():
        raise VersionError(f"{bundle}: no such bundle folder; `seefood export RUN --out {bundle}` writes one")
    if not _plain_file(bundle / MANIFEST):
        modes = sorted(m for m in BUNDLE_MODES if (bundle / m / MANIFEST).is_file())
        if modes:
            raise VersionError(f"{bundle}: holds one bundle per quantization ({', '.join(modes)}), not one bundle; "
                               f"versions are kept per bundle: name one, e.g. {bundle / modes[0]}")
        raise VersionError(f"{bundle / MANIFEST}: missing; {bundle} is not a SeeFood bundle "
                           f"(`seefood export RUN --out {bundle}` writes one)")


def _state(bundle: Path) -> _State:
    """What is in ``bundle``: its recorded versions, which one is current, and whether the top-level
    files are a version not recorded yet (an unversioned bundle; or top-level files replaced by
    hand, which then become a new version rather than being lost)."""
    bundle = Path(bundle)
    _check_bundle(bundle)
    root = bundle / VERSIONS_DIR
    recorded: dict[int, Path] = {}
    if root.is_dir():
        for entry in sorted(root.iterdir()):
            if _NAME.match(entry.name) and entry.is_dir() and not entry.is_symlink() and _plain_file(entry / MANIFEST):
                recorded[int(entry.name)] = entry
    pointer = None
    if _plain_file(root / POINTER_FILE):
        try:
            pointer = parse_version((root / POINTER_FILE).read_text(encoding="utf-8").strip())
        except (OSError, UnicodeDecodeError, VersionError):
            pointer = None
    top = _model_sha(bundle)
    if pointer in recorded and _model_sha(recorded[pointer]) == top:
        return _State(bundle, recorded, pointer, None)
    same = [n for n, folder in recorded.items() if _model_sha(folder) == top and top is not None]
    if same:  # no (or a stale) pointer, but the top level is one of the versions
        return _State(bundle, recorded, max(same), None)
    new = max(recorded, default=0) + 1
    return _State(bundle, recorded, new, new)


def _version_files(state: _State, number: int) -> dict[str, Path]:
    """File name -> where its bytes are now, for one version. The top level is the current version
    (newer than its recorded copy where `seefood verify` re-recorded the verification), except for
    the files only a version folder keeps (retrain.json)."""
    files: dict[str, Path] = {}
    folder = state.recorded.get(number)
    if folder is not None:
        files.update({name: folder / name for name in VERSION_FILES if _plain_file(folder / name)})
    if number == state.current:
        for name in BUNDLE_FILES:
            if _plain_file(state.bundle / name):
                files[name] = state.bundle / name
    return files


def _info(state: _State, number: int) -> VersionInfo:
    folder = state.recorded.get(number)
    recorded = number != state.pending
    where = folder if recorded and folder is not None else state.bundle
    manifest = read_json_object(where / MANIFEST) or {}
    if number == state.current:
        manifest = read_json_object(state.bundle / MANIFEST) or manifest
    info = VersionInfo(
        version=version_name(number), current=number == state.current, recorded=recorded, path=str(where),
        created=manifest.get("created"), quantization=manifest.get("quantization"), run_id=manifest.get("run_id"),
        source_run=manifest.get("source_run"), task=manifest.get("task"), threshold=manifest.get("threshold"),
        model_sha256=manifest.get("model_sha256"),
    )
    if not recorded:
        info.notes.append(f"the top-level files; kept as versions/{info.version} at the next change")
    info.test = _run_test_metrics(info.source_run, info.run_id, info.task)
    retrain = read_json_object(where / RETRAIN_FILE) if folder is not None else None
    if retrain:
        info.retrain = {k: retrain.get(k) for k in ("from_version", "decision", "held_back", "added", "rule")}
    return info


def _run_test_metrics(source_run: object, run_id: object, task: object) -> dict | None:
    """The version's test figures from its own run's metrics.json (None when the run is gone or
    now holds another run)."""
    if not isinstance(source_run, str) or not source_run:
        return None
    run_dir = Path(source_run)
    run = read_json_object(run_dir / "run.json") or {}
    metrics = read_json_object(run_dir / "metrics.json") or {}
    if run.get("run_id") != run_id or metrics.get("run_id") not in (None, run_id):
        return None
    test = (metrics.get("splits") or {}).get("test") or {}
    at = test.get("at_threshold") or {}
    key = "f1" if task == "binary" else "macro_f1"
    if not isinstance(at.get(key), (int, float)):
        return None
    pr_auc = (test.get("ranking") or {}).get("pr_auc")
    return {"metric": key, "value": float(at[key]), "pr_auc": float(pr_auc) if isinstance(pr_auc, (int, float)) else None,
            "n": at.get("n")}


def list_versions(bundle: Path | str) -> list[VersionInfo]:
    """Every version, oldest first; an unversioned bundle is one version, 001. Reads only."""
    state = _state(Path(bundle))
    return [_info(state, n) for n in state.numbers()]


def current_version(bundle: Path | str) -> str:
    return version_name(_state(Path(bundle)).current)


def next_version(bundle: Path | str) -> str:
    """The name the next added version will get (unless another is added first)."""
    return version_name(max(_state(Path(bundle)).numbers()) + 1)


# ---------------------------------------------------------------- changing


@contextlib.contextmanager
def _locked(bundle: Path) -> Iterator[None]:
    """One change at a time per folder of bundles (an flock on the parent folder, Linux and macOS;
    elsewhere no lock)."""
    try:
        import fcntl
    except ImportError:  # Windows
        yield
        return
    try:
        fd = os.open(bundle.parent, os.O_RDONLY)
    except FileNotFoundError:  # no such folder: reading the bundle says so
        yield
        return
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        yield
    finally:
        os.close(fd)  # closing releases the lock


def check_changeable(bundle: Path | str) -> None:
    """Before slow work that ends in a change (``seefood retrain``): the bundle can be read and holds
    nothing but SeeFood's files."""
    _state(Path(bundle))
    _check_ours(Path(bundle))


def _check_ours(bundle: Path) -> None:
    """The folder is rebuilt whole: refuse when it holds anything SeeFood did not write (it would
    not be carried over)."""
    foreign = foreign_entries(bundle, "bundle")
    if foreign:
        named = ", ".join(str(p.relative_to(bundle)) for p in foreign[:5])
        raise VersionError(f"{bundle}: holds files SeeFood did not write ({named}); versions rebuild the folder and "
                           "would not keep them. Move them out of the bundle folder, then try again")


def _link(source: Path, target: Path) -> None:
    try:
        os.link(source, target)
    except OSError:  # another file system, or one without hard links
        shutil.copy2(source, target)


def _rebuild(state: _State, plan: dict[int, dict[str, Path]], current: int, extra: dict[int, dict[str, dict]]) -> None:
    """Write ``plan`` (version -> {file name: source}) as the whole bundle folder, ``current`` at
    the top level, and swap it in (``staged_folder``)."""
    with staged_folder(state.bundle) as tmp:
        root = tmp / VERSIONS_DIR
        root.mkdir()
        for number, files in sorted(plan.items()):
            folder = root / version_name(number)
            folder.mkdir()
            for name, source in files.items():
                _link(source, folder / name)
            for name, data in extra.get(number, {}).items():
                (folder / name).write_text(json.dumps(data, indent=2) + "\n", encoding="utf-8")
        top = root / version_name(current)
        for name in BUNDLE_FILES:
            if _plain_file(top / name):
                _link(top / name, tmp / name)
        (root / POINTER_FILE).write_text(version_name(current) + "\n", encoding="utf-8")


def _plan(state: _State, keep: list[int]) -> dict[int, dict[str, Path]]:
    return {n: _version_files(state, n) for n in keep}


def use_version(bundle: Path | str, version: str | int) -> tuple[str, bool]:
    """Make ``version`` current: its files at the top level, in one atomic step. Returns (the
    version, whether anything changed)."""
    bundle = Path(bundle)
    wanted = parse_version(version)
    with _locked(bundle):
        state = _state(bundle)
        if wanted not in state.numbers():
            raise VersionError(f"{bundle}: has no version {version_name(wanted)} (it has "
                               f"{', '.join(version_name(n) for n in state.numbers())}); `seefood bundle list {bundle}`")
        if wanted == state.current and state.pending is None and _plain_file(bundle / VERSIONS_DIR / POINTER_FILE):
            return version_name(wanted), False
        _check_ours(bundle)
        _rebuild(state, _plan(state, state.numbers()), wanted, {})
    return version_name(wanted), True


def prune_plan(bundle: Path | str, keep: int) -> list[str]:
    """The versions ``prune(bundle, keep)`` would delete: all but the ``keep`` newest, never the current one."""
    if keep < 1:
        raise VersionError(f"--keep must be at least 1, got {keep}")
    state = _state(Path(bundle))
    return [version_name(n) for n in _prunable(state, keep)]


def _prunable(state: _State, keep: int) -> list[int]:
    numbers = state.numbers()
    kept = set(numbers[-keep:]) | {state.current}
    return [n for n in numbers if n not in kept]


def prune(bundle: Path | str, keep: int) -> list[str]:
    """Delete all versions but the ``keep`` newest and the current one; returns the deleted names.
    Only bundle versions: their training runs are not touched."""
    bundle = Path(bundle)
    if keep < 1:
        raise VersionError(f"--keep must be at least 1, got {keep}")
    with _locked(bundle):
        state = _state(bundle)
        doomed = _prunable(state, keep)
        if doomed:
            _check_ours(bundle)
            _rebuild(state, _plan(state, [n for n in state.numbers() if n not in doomed]), state.current, {})
    return [version_name(n) for n in doomed]


def add_version(bundle: Path | str, source: Path | str, make_current: bool = True,
                extra_json: dict[str, dict] | None = None) -> str:
    """Keep the bundle in ``source`` (a folder ``seefood export`` wrote) as ``bundle``'s next
    version, with ``extra_json`` files (name -> data) in its version folder only, and make it
    current when asked. An unversioned ``bundle`` first becomes 001, in the same atomic step.
    Returns the new version's name."""
    bundle, source = Path(bundle), Path(source)
    if not _plain_file(source / MANIFEST):
        raise VersionError(f"{source}: not a single bundle (no manifest.json); cannot be added as a version")
    files = {name: source / name for name in BUNDLE_FILES if _plain_file(source / name)}
    for name in ("comparison.json", "comparison.md"):  # only a --quantize all folder has them at its top
        files.pop(name, None)
    with _locked(bundle):
        state = _state(bundle)
        _check_ours(bundle)
        number = max(state.numbers()) + 1
        plan = _plan(state, state.numbers())
        plan[number] = files
        _rebuild(state, plan, number if make_current else state.current, {number: dict(extra_json or {})})
    return version_name(number)


@contextlib.contextmanager
def scratch_folder(bundle: Path | str) -> Iterator[Path]:
    """A private empty folder beside ``bundle`` (same file system: hard links work), removed when
    the block ends. It is named like ``staged_folder``'s staging, so a killed process's scratch is
    swept by the next change of the bundle (or ``seefood.atomic.sweep_leftovers``)."""
    bundle = Path(bundle)
    bundle.parent.mkdir(parents=True, exist_ok=True)
    folder = Path(tempfile.mkdtemp(prefix=f".{bundle.name}.tmp-{os.getpid()}-", dir=bundle.parent))
    try:
        yield folder
    finally:
        shutil.rmtree(folder, ignore_errors=True)


@contextlib.contextmanager
def incoming(bundle: Path | str) -> Iterator[Path]:
    """An empty folder for a new bundle that, when the block ends without an exception, becomes
    ``bundle``'s next version and its current one (``seefood export --force`` onto a versioned
    bundle: the earlier versions are kept, and ``seefood bundle use`` rolls back)."""
    with scratch_folder(bundle) as folder:
        target = folder / "bundle"
        target.mkdir()
        yield target
        add_version(bundle, target, make_current=True)
