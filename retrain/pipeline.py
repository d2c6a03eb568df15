"""``seefood retrain BUNDLE``: continue the bundle's model on the training folder as it is now, and
keep the result as the bundle's next version only when it is not worse.

Steps, each announced to ``progress`` (``{"stage": ...}``; the command prints them as JSON lines
for the app with ``--json-progress``):

1. read the bundle's current version (manifest: ``source_run``, ``run_id``, ``quantization``) and its
   training run (``training.run_io.load_run``; a bundle whose run folder is gone cannot be retrained:
   the run holds the options, the weights and the test photos to compare on);
2. check the training folder (the run's, or ``--data-dir``): it must exist and hold the same class
   folders as the model (a new class set is a new model: ``seefood train``);
3. ``train``: a new run with the old run's own options (its config.json), ``init_from`` the old run,
   ``--epochs`` overriding. It goes beside the old run as ``<old run name>-vNNN`` (NNN: the version it
   would become; ``-2``, ``-3``... when taken), or under ``--runs-dir``; never inside the training
   folder or the bundle. It is trained in a hidden staging folder and renamed into place once finished;
   a finished run is kept whatever is decided later (nothing a user trained is deleted unasked);
4. ``export`` with the bundle's quantization and export options (its export_config.json) into a
   scratch folder beside the bundle; ``verify``: the export's verification must pass;
5. ``compare`` old and new on the held-back test photos both runs share, and on the newly added photos
   the new run held back (``retrain.compare``: figures and the rule that defines "worse");
6. ``install`` the new bundle as the next version (``seefood.versions.add_version``), current unless
   ``switch`` is off, only when verification passed and it is not worse (or ``accept_worse``).

The bundle is changed in one place, the last step, in one atomic folder swap. An error or a cancel
before it leaves the bundle byte for byte as it was; a process killed anywhere leaves hidden staging
folders that the next retrain (or change of the bundle) sweeps. The comparison is saved as
``retrain.json`` in the new run and, when installed, in ``BUNDLE/versions/NNN/``.
"""

from __future__ import annotations

import contextlib
import datetime as _dt
import json
import os
import re
import signal
from collections.abc import Iterator
from dataclasses import dataclass, replace
from pathlib import Path

import numpy as np

from retrain.compare import MAX_DROP, compare_set, format_table, judge
from seefood import versions
from seefood.atomic import staged_folder, sweep_leftovers
from seefood.errors import InputError, SeeFoodError
from training.run_io import write_json_atomic

RETRAIN_FILE = versions.RETRAIN_FILE
CONTINUE_EPOCH_SHARE = 3  # a retrain runs a third of the epochs of the run it continues (continuation_epochs)
SCORE_BATCH = 64


class RetrainError(InputError):
    """A retrain that cannot go on; the message names the file and the fix, and says that the
    bundle's current version was not changed."""


class Cancelled(BaseException):
    """SIGTERM or Ctrl-C during a retrain (a BaseException, like KeyboardInterrupt, so nothing on the
    way catches it): the staging is removed on the way out and the bundle is left as it was."""


@dataclass(frozen=True)
class RetrainOptions:
    bundle: Path
    data_dir: Path | None = None  # default: the run's own training folder
    epochs: int | None = None  # default: continuation_epochs
    learning_rate: float | None = None  # default: the run's own
    accept_worse: bool = False
    switch: bool = True  # make the new version current (False: install it, keep the current one)
    max_drop: float = MAX_DROP
    runs_dir: Path | None = None  # default: beside the old run

    def __post_init__(self) -> None:
        if self.epochs is not None and self.epochs < 1:
            raise InputError(f"--epochs must be at least 1, got {self.epochs}")
        if self.learning_rate is not None and not self.learning_rate > 0:
            raise InputError(f"--learning-rate must be positive, got {self.learning_rate}")
        if not 0 <= self.max_drop < 1:
            raise InputError(f"--max-drop must be between 0 and 1, got {self.max_drop}")


@dataclass
class RetrainResult:
    installed: bool
    version: str | None  # the new version's name when installed
    current: bool  # whether the new version is now the current one
    reason: str
    comparison: dict  # what retrain.json holds
    run_dir: Path
    table: str

    def done_event(self) -> dict:
        return {"stage": "done", "installed": self.installed, "version": self.version, "current": self.current,
                "reason": self.reason, "run": str(self.run_dir),
                "comparison": {k: self.comparison.get(k) for k in ("held_back", "added", "decision")}}


def _nothing_changed(bundle: Path, version: str) -> str:
    return f"nothing was installed; version {version} of {bundle} stays current, unchanged"


# ---------------------------------------------------------------- guards


@contextlib.contextmanager
def _one_retrain_at_a_time(bundle: Path) -> Iterator[None]:
    """An exclusive lock on the bundle folder for the whole retrain: a second retrain of the same
    bundle (the app's button pressed twice, a terminal beside it) is refused at once instead of
    racing for the same new run folder and version."""
    try:
        import fcntl
    except ImportError:  # Windows: no lock
        yield
        return
    try:
        fd = os.open(bundle, os.O_RDONLY)
    except OSError:
        yield  # no such folder: the next step says so
        return
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError as error:
            raise RetrainError(f"{bundle}: another `seefood retrain` of this bundle is running; wait for it to "
                               "finish (or cancel it), then retrain again. Nothing was changed") from error
        yield
    finally:
        os.close(fd)


@contextlib.contextmanager
def _signals_held() -> Iterator[None]:
    """SIGTERM and SIGINT wait until the block ends: the install is one step, so a cancel arriving
    during it takes effect after it (reported as installed, since it was)."""
    if not hasattr(signal, "pthread_sigmask"):
        yield
        return
    previous = signal.pthread_sigmask(signal.SIG_BLOCK, {signal.SIGTERM, signal.SIGINT})
    try:
        yield
    finally:
        signal.pthread_sigmask(signal.SIG_SETMASK, previous)


# ---------------------------------------------------------------- before any slow work


def _read_bundle(bundle: Path) -> tuple[dict, str]:
    """The current version's manifest (checked like the app checks it) and the version's name."""
    from seefood.manifest import load_manifest

    state_version = versions.current_version(bundle)  # VersionError for a missing folder or a --quantize all folder
    versions.check_changeable(bundle)  # a file SeeFood did not write in it: refused now, not after the training
    load_manifest(bundle)  # BundleError: damaged manifest, model not matching its sha256...
    manifest = json.loads((bundle / versions.MANIFEST).read_text(encoding="utf-8"))
    return manifest, state_version


def _old_run(bundle: Path, manifest: dict, version: str):
    from training.run_io import RunError, load_run

    source = manifest.get("source_run")
    where = bundle / versions.MANIFEST
    train_anew = (f"or train anew: `seefood train DATA_DIR --out RUN` and `seefood export RUN --out {bundle} --force` "
                  "(kept as the bundle's next version)")
    if not source:
        raise RetrainError(f"{where}: names no source_run, so the training run behind version {version} is unknown; "
                           f"retrain continues that run (its weights, options and test photos) and needs its folder. "
                           f"Re-export the bundle from its run, {train_anew}. {_nothing_changed(bundle, version)}")
    try:
        run = load_run(source)
    except RunError as error:
        raise RetrainError(f"{where}: version {version}'s training run {source} cannot be used ({error}); retrain "
                           f"continues that run (its weights, options and test photos) and needs its folder: put it "
                           f"back at that path, {train_anew}. {_nothing_changed(bundle, version)}") from error
    if manifest.get("run_id") and run.run_id != manifest["run_id"]:
        raise RetrainError(f"{source}: now holds run {run.run_id}, not run {manifest['run_id']} that version {version} "
                           f"of {bundle} was exported from (was it trained again with --force?); retrain needs the "
                           f"bundle's own run: put it back, {train_anew}. {_nothing_changed(bundle, version)}")
    return run


def _config(run, opts: RetrainOptions, bundle: Path, version: str):
    from training.config import TrainConfig

    path = run.run_dir / "config.json"
    try:
        cfg = TrainConfig.load(path)
    except FileNotFoundError as error:
        raise RetrainError(f"{path}: missing; retrain trains with the run's own options from it. Train anew "
                           f"(`seefood train`). {_nothing_changed(bundle, version)}") from error
    except (OSError, ValueError, TypeError) as error:
        raise RetrainError(f"{path}: cannot be read as the run's options ({error}); train anew (`seefood train`). "
                           f"{_nothing_changed(bundle, version)}") from error
    data_dir = opts.data_dir or Path(run.data_dir or cfg.data_dir)
    cfg.epochs = continuation_epochs(cfg, run)
    cfg.data_dir = str(data_dir)
    cfg.init_from = str(run.run_dir)
    cfg.force = False
    if opts.epochs is not None:
        cfg.epochs = opts.epochs
    if opts.learning_rate is not None:
        cfg.learning_rate = opts.learning_rate
    return cfg


def continuation_epochs(cfg, run) -> int:
    """The epochs of a retrain that continues ``run`` (trained with ``cfg``), at the run's own learning rate.

    A run trained from scratch is continued for 1/CONTINUE_EPOCH_SHARE of the epochs it ran, at its
    own learning rate: the weights already fit the folder, and the added photos need a short
    schedule, not a whole new one. Measured (``python -m bench.retrain_budget``, docs/quality.md: 4
    tasks x 2 seeds, 10 photos added): 10 epochs instead of 30-35 took a third of the time; at the
    run's own rate they changed binary F1 by +0.019 and the long tail's smallest class by +0.062
    (the whole budget again: +0.000 and +0.121), while a gentler rate (x0.3, x0.1) learned the added
    photos less (smallest class +0.021, -0.012). A run that itself continued another (``init_from``:
    an earlier retrain, or ``train --init-from``) already has a continuation's budget and passes it
    on unchanged, so retrains in a row do not shrink it further."""
    if cfg.init_from:
        return cfg.epochs or int(run.raw.get("epochs_run") or 0) or 1
    ran = int(run.raw.get("epochs_run") or 0) or cfg.epochs
    if not ran:
        from training.config import auto_epochs

        ran = auto_epochs(len(run.splits.get("train", [])))
    return max(1, -(-ran // CONTINUE_EPOCH_SHARE))


def _check_data(cfg, run, opts: RetrainOptions, bundle: Path, version: str) -> None:
    from training.dataset import folder_class_names

    data_dir = Path(cfg.data_dir)
    given = "--data-dir" if opts.data_dir else f"the training folder of {run.run_dir} (its run.json)"
    if not data_dir.is_dir():
        raise RetrainError(f"{data_dir}: no such training folder ({given}); retrain trains on the photos as they are "
                           f"now: pass --data-dir DIR, a folder with one subfolder per class "
                           f"({', '.join(sorted(run.class_map or run.classes))}). {_nothing_changed(bundle, version)}")
    have = set(folder_class_names(data_dir))
    want = set(run.class_map or run.classes)
    if have != want:
        added, missing = sorted(have - want), sorted(want - have)
        parts = ([f"added {', '.join(added)} (not classes of the model)"] if added else []) + \
                ([f"missing {', '.join(missing)} (classes of the model with no folder now)"] if missing else [])
        raise RetrainError(
            f"{data_dir}: its class folders differ from the bundle's classes ({', '.join(sorted(want))}): "
            f"{'; '.join(parts)}. Retrain keeps the model's classes; for a new set of classes train anew "
            f"(`seefood train {data_dir} --out NEW_RUN`, then `seefood export NEW_RUN --out NEW_BUNDLE`), or "
            f"{'move the added folders out' if added else ''}{' and ' if added and missing else ''}"
            f"{'put the missing folders back' if missing else ''}. {_nothing_changed(bundle, version)}")


def _new_run_dir(run, opts: RetrainOptions, bundle: Path, data_dir: Path, version: str) -> Path:
    """``<old run name>-vNNN`` beside the old run (or in --runs-dir), a free name; never inside the
    training folder or the bundle. Dead retrains' staging of such runs is swept here."""
    from seefood.ownership import check_apart

    parent = Path(opts.runs_dir) if opts.runs_dir else run.run_dir.parent
    base = re.sub(r"-v\d{3,}(-\d+)?$", "", run.run_dir.name)
    for leftover in parent.glob(f".{base}-v*.tmp-*") if parent.is_dir() else []:
        sweep_leftovers(parent / leftover.name[1:].split(".tmp-")[0])
    target = parent / f"{base}-v{versions.next_version(bundle)}"
    i = 1
    while target.exists() or target.is_symlink():
        i += 1
        target = parent / f"{base}-v{versions.next_version(bundle)}-{i}"
    try:
        check_apart(target, data_dir, "the training folder", option="the new run")
        check_apart(target, bundle, "the bundle", option="the new run")
    except InputError as error:
        raise RetrainError(f"{error}; pass --runs-dir DIR for the new run. {_nothing_changed(bundle, version)}") from error
    return target


def _export_options(bundle: Path, manifest: dict):
    """The bundle's own export options (export_config.json), for the new run: the same
    quantization, calibration size and tolerances; a mode that fails verification is not swapped
    for another (``keep_failed``): it fails the retrain."""
    from export.exporter import EXPORT_CONFIG_NAME, ExportOptions
    from export.verify import Tolerances

    saved = {}
    try:
        saved = json.loads((bundle / EXPORT_CONFIG_NAME).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        pass
    saved = saved if isinstance(saved, dict) else {}
    tolerances = saved.get("tolerances") if isinstance(saved.get("tolerances"), dict) else {}
    try:
        tol = Tolerances(**{k: float(v) for k, v in tolerances.items() if k in Tolerances.__dataclass_fields__})
    except (TypeError, ValueError):
        tol = Tolerances()
    mode = manifest.get("quantization") or "float32"
    return ExportOptions(
        run_dir=Path("."), out=Path("."), quantize=mode,
        representative_size=int(saved.get("representative_size") or 200),
        int8_granularity=saved.get("int8_granularity") if saved.get("int8_granularity") in ("auto", "per-tensor", "per-channel") else "auto",
        keep_failed=True, tolerances=tol,
    )


# ---------------------------------------------------------------- the slow steps


def _train(cfg, target: Path, progress, log=print):
    """Train into a hidden staging folder beside ``target``; renamed into place once finished (the
    training's own messages name the staging folder)."""
    from training.run_io import load_run
    from training.train import train

    with staged_folder(target) as tmp:
        cfg.out = str(tmp)
        train(cfg, progress=lambda event: progress({"stage": "train", **event}))
        cfg.out = str(target)
        write_json_atomic(tmp / "config.json", cfg.to_dict())  # where it lives from now on
    log(f"New run finished: {target}")
    return load_run(target)


def _key(path: str, data_dir: str) -> str:
    """A photo's identity across runs: its path inside the training folder (so a folder moved and
    named with --data-dir still matches), else its absolute path."""
    try:
        return str(Path(path).resolve().relative_to(Path(data_dir).resolve()))
    except (ValueError, OSError):
        return str(Path(path).resolve())


class _Scorer:
    """One run's Keras class scores for photos: from its scores.npz where it has them, else by
    running its model (loaded once, when first needed)."""

    def __init__(self, run):
        from training.run_io import RunError, load_scores

        self.run = run
        self.saved: dict[str, np.ndarray] = {}
        try:
            for paths, _labels, scores in load_scores(run.run_dir).values():
                self.saved.update(zip(paths, scores))
        except RunError:
            pass
        self.model = None
        self.scored = 0

    def __call__(self, paths: list[str]) -> np.ndarray:
        from seefood.scoring import class_probabilities
        from training.pipeline import predict_scores

        missing = [p for p in paths if p not in self.saved]
        if missing:
            if self.model is None:
                self.model = self.run.load_model()
            scores = predict_scores(self.model, missing, self.run.preprocessing.image_size, SCORE_BATCH, self.run.binary)
            self.saved.update(zip(missing, scores))
            self.scored += len(missing)
        raw = np.asarray([self.saved[p] for p in paths], dtype=np.float64)
        if not paths:
            raw = np.zeros((0,) if self.run.binary else (0, len(self.run.classes)))
        return class_probabilities(raw, self.run.binary)


def compare_runs(old, new, old_threshold: float, new_threshold: float) -> dict:
    """The held-back and added photo sets and both models' figures on them (``retrain.compare``)."""
    old_keys = {_key(p, old.data_dir): (p, t) for split in ("train", "val", "test") for p, t in old.splits.get(split, [])}
    old_test = {_key(p, old.data_dir) for p, _ in old.splits.get("test", [])}
    held, added, added_train = [], [], 0
    for split in ("train", "val", "test"):
        for path, target in new.splits.get(split, []):
            key = _key(path, new.data_dir)
            if split == "test" and key in old_test and old_keys[key][1] == target:
                held.append((old_keys[key][0], path, target))
            elif key not in old_keys:
                if split == "train":
                    added_train += 1
                else:
                    added.append((path, path, target))
    old_scorer, new_scorer = _Scorer(old), _Scorer(new)
    sets = {}
    for name, items in (("held_back", held), ("added", added)):
        targets = np.asarray([t for _, _, t in items], dtype=int)
        sets[name] = compare_set(new.task, list(new.classes), targets, old_scorer([o for o, _, _ in items]),
                                 new_scorer([n for _, n, _ in items]), old_threshold, new_threshold)
    sets["added"]["n_train"] = added_train
    sets["added"]["n_total"] = added_train + len(added)
    sets["held_back"]["old_test_photos"] = len(old_test)
    sets["scored_again"] = {"old": old_scorer.scored, "new": new_scorer.scored}
    return sets


def retrain(opts: RetrainOptions, progress=None, log=print) -> RetrainResult:
    """The whole retrain (the module docstring); ``progress`` gets one dict per step or epoch."""
    with _one_retrain_at_a_time(Path(opts.bundle)):
        return _retrain(opts, progress or (lambda event: None), log)


def _retrain(opts: RetrainOptions, progress, log) -> RetrainResult:
    bundle = Path(opts.bundle)
    sweep_leftovers(bundle)
    manifest, old_version = _read_bundle(bundle)
    run = _old_run(bundle, manifest, old_version)
    cfg = _config(run, opts, bundle, old_version)
    _check_data(cfg, run, opts, bundle, old_version)
    target = _new_run_dir(run, opts, bundle, Path(cfg.data_dir), old_version)
    export_opts = _export_options(bundle, manifest)
    log(f"Retraining version {old_version} of {bundle} (run {run.run_id}) on {cfg.data_dir}: new run in {target}, "
        f"{cfg.epochs} epochs at learning rate {cfg.learning_rate:g}, then export {export_opts.quantize}, verify "
        "and compare")

    from seefood.quiet import import_tensorflow

    progress({"stage": "train", "epoch": 0, "of": cfg.epochs})
    import_tensorflow()
    try:
        new = _train(cfg, target, progress, log)
    except SeeFoodError as error:
        raise RetrainError(f"{error}. {_nothing_changed(bundle, old_version)}") from error

    from export.exporter import export_run

    with versions.scratch_folder(bundle) as scratch:
        staged = scratch / "bundle"
        progress({"stage": "export"})
        try:
            result = export_run(replace(export_opts, run_dir=new.run_dir, out=staged))
        except SeeFoodError as error:
            raise RetrainError(f"exporting the new run {new.run_dir} failed: {error}. The new run is kept; "
                               f"{_nothing_changed(bundle, old_version)}") from error
        from export.exporter import EXPORT_CONFIG_NAME

        # the options as they will read in the bundle: written to the bundle, not to the scratch folder
        write_json_atomic(staged / EXPORT_CONFIG_NAME, replace(export_opts, run_dir=new.run_dir, out=bundle).to_dict())
        progress({"stage": "verify"})
        report = result.reports[0] if result.reports else {}
        if not result.passed:
            failures = "; ".join(report.get("failures") or []) or "see its verification.json"
            raise RetrainError(
                f"{new.run_dir}: the new model's {export_opts.quantize} bundle failed verification against its Keras "
                f"model ({failures}); {_nothing_changed(bundle, old_version)}. The new run is kept: export it with "
                f"another quantization (`seefood export {new.run_dir} --out OTHER --quantize float32`) or retrain again")
        new_manifest = json.loads((staged / versions.MANIFEST).read_text(encoding="utf-8"))

        progress({"stage": "compare"})
        sets = compare_runs(run, new, float(manifest["threshold"]), float(new_manifest["threshold"]))
        decision = judge(sets["held_back"], new.task, opts.max_drop)
        install = not decision["worse"] or opts.accept_worse
        if decision["worse"] and opts.accept_worse:
            reason = f"installed although {decision['reason']} (--accept-worse)"
        elif decision["worse"]:
            reason = (f"not installed: {decision['reason']}; {_nothing_changed(bundle, old_version)}. The new run is "
                      f"kept in {new.run_dir}; install it anyway with `seefood retrain {bundle} --accept-worse` (it "
                      "trains again) or add photos and retrain")
        else:
            reason = f"installed: {decision['reason']}"
        comparison = {
            "bundle": str(bundle.resolve()),
            "created": _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds"),
            "task": new.task, "classes": list(new.classes),
            "from_version": old_version,
            "old": {"version": old_version, "run_id": run.run_id, "run_dir": str(run.run_dir.resolve()),
                    "threshold": float(manifest["threshold"]), "quantization": manifest.get("quantization")},
            "new": {"version": None, "run_id": new.run_id, "run_dir": str(new.run_dir.resolve()),
                    "threshold": float(new_manifest["threshold"]), "quantization": new_manifest.get("quantization")},
            "held_back": sets["held_back"], "added": sets["added"], "scored_again": sets["scored_again"],
            "verification": {k: report.get(k) for k in ("passed", "agreement", "max_score_diff", "failures")},
            "rule": decision["rule"],
            "decision": {**decision, "installed": install, "accepted_worse": bool(decision["worse"] and install),
                         "reason": reason},
        }
        table = format_table(comparison)
        version = None
        if install:
            progress({"stage": "install"})
            comparison["new"]["version"] = versions.next_version(bundle)
            try:
                with _signals_held():
                    version = versions.add_version(bundle, staged, make_current=opts.switch,
                                                   extra_json={RETRAIN_FILE: comparison})
            except Cancelled:
                if version is None:  # it came before the install began
                    raise
                log("a cancel arrived while the new version was being installed; the install is one step and had "
                    "already been done, so it stands")
            comparison["new"]["version"] = version
            if opts.switch:
                reason += f"; version {version} is now current (roll back: `seefood bundle use {bundle} {old_version}`)"
            else:
                reason += (f"; version {version} is kept but version {old_version} stays current "
                           f"(switch: `seefood bundle use {bundle} {version}`)")
            comparison["decision"]["reason"] = reason
    write_json_atomic(new.run_dir / RETRAIN_FILE, comparison)
    return RetrainResult(installed=install, version=version, current=bool(install and opts.switch), reason=reason,
                         comparison=comparison, run_dir=new.run_dir, table=table)
