"""Photos decoded once: each photo's model input (``images.load_fitted``) kept on disk across runs.

Every ``seefood train``, ``compare`` repeat, ``evaluate``, ``verify``, ``predict`` and benchmark seed
used to decode every photo again; a phone photo costs tens of milliseconds, the cached input 49 KB
read back. ``fitted(path, image_size)`` is the one way photo files become model input; with the
cache on it looks the photo up by its content hash and decodes only what is not there yet, so a
retrain after adding 10 photos decodes those 10.

Layout: ``ROOT/<key>/<sha[:2]>/<sha256 of the file>.rgb``, raw uint8 pixels (``image_size`` x
``image_size`` x 3, nothing else). ``key`` names everything the pixels depend on: the input size, the
crop policy, the decoder's DCT margin, Pillow's version and a digest of the code that decodes, crops
and resizes; changing any of them starts a new key, never mixes old pixels in (old keys age out). ROOT is ``$SEEFOOD_CACHE_DIR``, else ``$XDG_CACHE_HOME/seefood/decoded``,
else ``~/.cache/seefood/decoded``.

Safety: an entry is written to a temporary file beside it and renamed into place, so a reader sees a
whole entry or none; two processes filling the cache at once write the same bytes and the last
rename wins; a process killed midway leaves only a ``.tmp-*`` file, which lookups ignore and
``prune``/``clear`` remove. An entry of the wrong length is a miss (and is rewritten). The cache
never makes a run fail: when it cannot be written (disk full, read-only) the photo is decoded as
without it and one warning says so.

Hashing: ``hashes.sqlite`` beside the entries remembers each photo's content hash against its size,
modification time, inode and change time (git's index does the same), so a second audit of an
unchanged folder reads no photo's bytes: for 300 phone photos that is 1.26 GB not read again.
SQLite's own locking and journal make it safe to share and to kill; an index that cannot be read or
written means hashing every photo, as without it.

Size: ``prune`` (after each training and prediction) deletes the least recently used entries beyond
``$SEEFOOD_CACHE_LIMIT_MB`` (default 4096 MiB: about 85,000 photos at 128 px). Memory: nothing is
held here; reads go through the operating system's page cache (see ``training.pipeline`` for what
the training stream keeps in memory). ``SEEFOOD_CACHE=off`` (what ``--no-cache`` sets, inherited by
child processes) turns it off. ``seefood cache info|clear`` shows and empties it.
"""

from __future__ import annotations

import contextlib
import functools
import hashlib
import os
import re
import sys
import tempfile
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

ENV_DIR = "SEEFOOD_CACHE_DIR"
ENV_SWITCH = "SEEFOOD_CACHE"  # "off" turns the cache off
ENV_LIMIT = "SEEFOOD_CACHE_LIMIT_MB"
DEFAULT_LIMIT_MB = 4096
FORMAT = "v1"
SUFFIX = ".rgb"
TMP_PREFIX = ".tmp-"
STALE_TMP_SECONDS = 3600  # a temporary file this old belongs to a killed process
_ENTRY = re.compile(r"^[0-9a-f]{64}\.rgb$")
_KEY = re.compile(rf"^{FORMAT}-\d+px-")


def enabled() -> bool:
    return os.environ.get(ENV_SWITCH, "on").strip().lower() not in ("off", "0", "no", "false")


def turn_off() -> None:
    """``--no-cache``: off for this process and the processes it starts."""
    os.environ[ENV_SWITCH] = "off"


def root() -> Path:
    if os.environ.get(ENV_DIR):
        return Path(os.environ[ENV_DIR]).expanduser()
    base = os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache"
    return Path(base) / "seefood" / "decoded"


def limit_bytes() -> int:
    raw = os.environ.get(ENV_LIMIT, "")
    try:
        return int(float(raw) * 2**20) if raw.strip() else DEFAULT_LIMIT_MB * 2**20
    except ValueError:
        _warn_once("limit", f"{ENV_LIMIT}={raw!r} is not a number of MiB; using {DEFAULT_LIMIT_MB}")
        return DEFAULT_LIMIT_MB * 2**20


@functools.lru_cache(maxsize=1)
def _code_digest() -> str:
    """A digest of the two modules that turn a file into pixels: any change to decoding, cropping or
    resizing (even one that forgets to rename the policy) starts a new key instead of serving pixels
    the new code would not produce, which would be train/serve skew."""
    from seefood import images, preprocessing

    digest = hashlib.sha256()
    for module in (images, preprocessing):
        try:
            digest.update(Path(module.__file__).read_bytes())
        except (OSError, TypeError):  # a frozen app without sources: its code cannot change anyway
            digest.update(module.__name__.encode())
    return digest.hexdigest()[:10]


def key_for(image_size: int) -> str:
    """Everything the cached pixels depend on besides the file's bytes."""
    import PIL

    from seefood.images import DRAFT_MARGIN
    from seefood.preprocessing import CROP_POLICY

    policy = re.sub(r"[^a-z0-9]+", "-", CROP_POLICY.lower()).strip("-")
    return f"{FORMAT}-{image_size}px-{policy}-dct{DRAFT_MARGIN}-pillow{PIL.__version__}-code{_code_digest()}"


@dataclass
class Counts:
    """What this process's lookups did (``snapshot`` before and after a stage; ``summary`` of the two)."""

    hits: int = 0
    decoded: int = 0
    decode_seconds: float = 0.0
    lock: threading.Lock = field(default_factory=threading.Lock, repr=False, compare=False)

    def add(self, hit: bool, seconds: float = 0.0) -> None:
        with self.lock:
            if hit:
                self.hits += 1
            else:
                self.decoded += 1
                self.decode_seconds += seconds

    def snapshot(self) -> tuple[int, int, float]:
        with self.lock:
            return self.hits, self.decoded, self.decode_seconds


COUNTS = Counts()
_KNOWN_SHA: dict[tuple[str, str], str] = {}  # _file_state -> sha256, filled by the audit
_TOUCHED: set[Path] = set()
_WARNED: set[str] = set()


def _warn_once(topic: str, message: str) -> None:
    if topic not in _WARNED:
        _WARNED.add(topic)
        print(f"warning: decoded-photo cache: {message}", file=sys.stderr)


def _file_state(path: Path | str) -> tuple[str, str] | None:
    """(real path, size:mtime_ns:inode:ctime_ns): the file as the audit and the training stream both
    name it (they may spell its path differently), and what changes when its content does; None when
    it cannot be stat'ed."""
    try:
        st = os.stat(path)
    except OSError:
        return None
    return os.path.realpath(path), f"{st.st_size}:{st.st_mtime_ns}:{st.st_ino}:{st.st_ctime_ns}"


def remember(path: Path | str, sha: str) -> None:
    """The audit hashed this file: later lookups of the unchanged file need not read it again."""
    key = _file_state(path)
    if key is not None:
        _KNOWN_SHA[key] = sha


def sha_of(path: Path | str) -> str:
    key = _file_state(path)
    known = _KNOWN_SHA.get(key) if key is not None else None
    if known is not None:
        return known
    from seefood.manifest import sha256_of

    sha = sha256_of(Path(path))
    if key is not None:
        _KNOWN_SHA[key] = sha
    return sha


# ---------------------------------------------------------------- the hash index

INDEX_NAME = "hashes.sqlite"


RACY_NS = 2_000_000_000  # a file changed this recently may change again within its timestamp's resolution


def _index():
    import sqlite3

    base = root()
    base.mkdir(parents=True, exist_ok=True)
    con = sqlite3.connect(base / INDEX_NAME, timeout=30)
    con.execute("CREATE TABLE IF NOT EXISTS hashes (path TEXT PRIMARY KEY, state TEXT NOT NULL, sha TEXT NOT NULL)")
    return con


def known_hashes(paths: list[Path]) -> dict[Path, str]:
    """The content hashes recorded for those of ``paths`` whose size, modification time, inode and
    change time are what they were when hashed (git's index does the same): a second audit of a folder
    reads no photo's bytes again. Empty with the cache off or when the index cannot be read."""
    if not enabled() or not paths:
        return {}
    import sqlite3

    try:
        con = _index()
        try:
            recorded = {p: (state, sha) for p, state, sha in con.execute("SELECT path, state, sha FROM hashes")}
        finally:
            con.close()
    except (sqlite3.Error, OSError) as error:
        _warn_once("index", f"cannot read the hash index in {root()} ({error}); every photo is hashed")
        return {}
    found = {}
    for path in paths:
        state = _file_state(path)
        if state is not None and recorded.get(state[0], ("", ""))[0] == state[1]:
            found[path] = recorded[state[0]][1]
    return found


def record_hashes(hashed: dict[Path, str]) -> None:
    """Remember these files' content hashes against their current state (one transaction)."""
    if not enabled() or not hashed:
        return
    import sqlite3

    now = time.time_ns()
    rows = []
    for path, sha in hashed.items():
        state = _file_state(path)
        # a file modified in the last RACY_NS could be modified again without its state changing
        # (git's "racily clean" entries): it is hashed again next time rather than trusted
        if state is not None and now - int(state[1].split(":")[1]) > RACY_NS:
            rows.append((state[0], state[1], sha))
    try:
        con = _index()
        try:
            with con:
                con.executemany("INSERT OR REPLACE INTO hashes (path, state, sha) VALUES (?, ?, ?)", rows)
        finally:
            con.close()
    except (sqlite3.Error, OSError) as error:
        _warn_once("index", f"cannot write the hash index in {root()} ({error}); photos are hashed every run")


def entry_path(sha: str, image_size: int, base: Path | None = None) -> Path:
    return (base or root()) / key_for(image_size) / sha[:2] / f"{sha}{SUFFIX}"


def lookup(sha: str, image_size: int) -> np.ndarray | None:
    """The cached input of the photo whose content hash is ``sha``, or None."""
    path = entry_path(sha, image_size)
    try:
        data = np.fromfile(path, dtype=np.uint8)
    except OSError:
        return None
    if data.size != image_size * image_size * 3:
        return None  # not an entry this version wrote whole: decoded again and replaced
    if path not in _TOUCHED:  # least recently used, for prune: once per process is enough
        _TOUCHED.add(path)
        with contextlib.suppress(OSError):
            os.utime(path)
    return data.reshape(image_size, image_size, 3)


def store(sha: str, image_size: int, pixels: np.ndarray) -> None:
    """Write one entry whole or not at all; never raises (the cache is an optimisation)."""
    path = entry_path(sha, image_size)
    tmp = None
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(prefix=f"{TMP_PREFIX}{os.getpid()}-", dir=path.parent)
        with os.fdopen(fd, "wb") as handle:
            handle.write(np.ascontiguousarray(pixels, dtype=np.uint8).tobytes())
        os.replace(tmp, path)
        tmp = None
    except OSError as error:
        _warn_once("write", f"cannot write to {path.parent} ({error}); photos are decoded without it "
                            f"(set {ENV_DIR} to a writable folder, or pass --no-cache)")
    finally:
        if tmp is not None:
            with contextlib.suppress(OSError):
                os.unlink(tmp)


def fitted(path: Path | str, image_size: int, sha: str | None = None) -> np.ndarray:
    """``images.load_fitted(path, image_size)``, from the cache when this content was decoded before."""
    from seefood.images import load_fitted

    if not enabled():
        return load_fitted(path, image_size)
    sha = sha or sha_of(path)
    cached = lookup(sha, image_size)
    if cached is not None:
        COUNTS.add(hit=True)
        return cached
    started = time.perf_counter()
    pixels = load_fitted(path, image_size)
    COUNTS.add(hit=False, seconds=time.perf_counter() - started)
    store(sha, image_size, pixels)
    return pixels


# ---------------------------------------------------------------- info, prune, clear


@dataclass
class Entry:
    path: Path
    size: int
    mtime: float


def _walk(base: Path) -> tuple[list[Entry], list[Entry]]:
    """(entries, temporary files) under ``base``; nothing else there is looked at or touched."""
    entries, temps = [], []
    if not base.is_dir():
        return entries, temps
    for key_dir in base.iterdir():
        if not (key_dir.is_dir() and not key_dir.is_symlink() and _KEY.match(key_dir.name)):
            continue
        for shard in key_dir.iterdir():
            if not (shard.is_dir() and not shard.is_symlink() and re.fullmatch(r"[0-9a-f]{2}", shard.name)):
                continue
            for f in shard.iterdir():
                if _ENTRY.match(f.name) or f.name.startswith(TMP_PREFIX):
                    try:
                        st = f.lstat()
                    except OSError:
                        continue
                    if os.path.isfile(f) and not f.is_symlink():
                        (entries if _ENTRY.match(f.name) else temps).append(Entry(f, st.st_size, st.st_mtime))
    return entries, temps


def info(base: Path | None = None) -> dict:
    base = base or root()
    entries, temps = _walk(base)
    keys: dict[str, dict] = {}
    for e in entries:
        k = keys.setdefault(e.path.parent.parent.name, {"photos": 0, "bytes": 0})
        k["photos"] += 1
        k["bytes"] += e.size
    index = base / INDEX_NAME
    return {"location": str(base), "enabled": enabled(), "limit_bytes": limit_bytes(),
            "photos": len(entries), "bytes": sum(e.size for e in entries), "keys": keys,
            "temporary_files": len(temps), "hash_index_bytes": index.stat().st_size if index.is_file() else 0}


def _remove(files: list[Entry]) -> tuple[int, int]:
    count = freed = 0
    for e in files:
        try:
            os.unlink(e.path)
        except OSError:
            continue
        count += 1
        freed += e.size
    return count, freed


def _remove_empty_dirs(base: Path) -> None:
    if not base.is_dir():
        return
    for key_dir in base.iterdir():
        if key_dir.is_dir() and not key_dir.is_symlink() and _KEY.match(key_dir.name):
            for shard in key_dir.iterdir():
                with contextlib.suppress(OSError):
                    shard.rmdir()  # only succeeds when empty
            with contextlib.suppress(OSError):
                key_dir.rmdir()


def prune(limit: int | None = None, base: Path | None = None) -> tuple[int, int]:
    """Delete the least recently used entries until the cache fits ``limit`` bytes, and temporary
    files left by killed processes; returns (files removed, bytes freed)."""
    base = base or root()
    limit = limit_bytes() if limit is None else limit
    entries, temps = _walk(base)
    now = time.time()
    removed = _remove([t for t in temps if now - t.mtime > STALE_TMP_SECONDS])
    total = sum(e.size for e in entries)
    doomed = []
    for e in sorted(entries, key=lambda e: e.mtime):
        if total <= limit:
            break
        doomed.append(e)
        total -= e.size
    count, freed = _remove(doomed)
    return removed[0] + count, removed[1] + freed


def keep_within_limit() -> None:
    """``prune`` after a command that filled the cache; never fails the command."""
    if enabled():
        try:
            prune()
        except OSError as error:
            _warn_once("prune", f"cannot prune {root()} ({error})")


def clear(base: Path | None = None) -> tuple[int, int]:
    """Delete every entry and temporary file (nothing else: other files under the folder stay)."""
    base = base or root()
    entries, temps = _walk(base)
    index = [Entry(f, f.stat().st_size, 0.0) for f in base.glob(INDEX_NAME + "*") if f.is_file()] if base.is_dir() else []
    result = _remove(entries + temps + index)
    _remove_empty_dirs(base)
    _KNOWN_SHA.clear()
    _TOUCHED.clear()
    return result


def summary(before: tuple[int, int, float], after: tuple[int, int, float], wall_seconds: float | None = None) -> dict:
    """What the lookups between two ``COUNTS.snapshot()`` did, for run.json and the terminal;
    ``wall_seconds``: how long that stage took (the audit: hashing, checking and decoding)."""
    hits, decoded, seconds = (b - a for a, b in zip(before, after))
    out = {"enabled": enabled(), "from_cache": int(hits), "decoded": int(decoded),
           "decode_seconds": round(float(seconds), 3), "location": str(root()) if enabled() else None}
    if wall_seconds is not None:
        out["wall_seconds"] = round(wall_seconds, 3)
    return out


def format_summary(s: dict) -> str:
    took = f" in {s['wall_seconds']:.1f} s" if "wall_seconds" in s else ""
    if not s["enabled"]:
        return f"Checked the photos{took} (decoded-photo cache off: training decodes them again)"
    return (f"Checked the photos{took}: {s['decoded']} decoded ({s['decode_seconds']:.1f} s summed over the "
            f"decoding threads), {s['from_cache']} already in the decoded-photo cache ({s['location']})")

