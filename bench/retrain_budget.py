"""How long and how fast should a retrain continue? (``python -m bench.retrain_budget``)

A retrain (``seefood retrain``) continues the bundle's run (``--init-from``) on the training folder
with 10 photos added. This benchmark takes the quality benchmark's trained default runs (label
``--base``, e.g. ``prior``) as the old models, adds 10 unused photos of the task's smallest class to
a copy of each task's training folder, and continues each old run under several budgets
(epochs x peak learning rate). The test folder is the task's own, so every row, and the old run,
is scored on the same photos.

Rows go to ``bench/quality-runs/retrain-budget.jsonl`` (one JSON object per run); the table
(``--table``) gives each budget's mean and spread of test minority F1 / PR-AUC, its change from
the old run, and its wall time. Trainings run one at a time (timings are wall times on this machine).
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path

from bench.quality import DATA, ROOT, _photos, _smallest_class, load_results, row_of

OUT = ROOT / "bench" / "quality-runs"
RESULTS = OUT / "retrain-budget.jsonl"
ADDED = 10
# (epochs, learning-rate factor); epochs 0 = the run's own automatic budget (what retrain did before)
BUDGETS = ((0, 1.0), (10, 1.0), (10, 0.3), (10, 0.1))
BASE_LR = 3e-3


def task_plus(task: Path, set_name: str) -> Path:
    """A copy of TASK (symlinks) with ADDED unused training photos of its smallest class."""
    copy = OUT / "tasks-retrain" / f"{task.name}-plus{ADDED}"
    if (copy / ".complete").is_file():
        return copy
    cls = _smallest_class(task)
    for split in ("train", "test"):
        for folder in (task / split).iterdir():
            if folder.is_dir():
                (copy / split / folder.name).mkdir(parents=True, exist_ok=True)
                for f in folder.iterdir():
                    link = copy / split / folder.name / f.name
                    if not link.is_symlink():
                        os.symlink(f.resolve(), link)
    used = {f.resolve().name for f in (task / "train" / cls).iterdir()}
    spare = [p for p in _photos(set_name, "train", cls) if p.name not in used][:ADDED]
    if len(spare) < ADDED:
        raise SystemExit(f"{set_name}/{cls}: only {len(spare)} unused training photos, {ADDED} needed")
    for p in spare:
        os.symlink(p.resolve(), copy / "train" / cls / f"added_{p.name}")
    (copy / ".complete").write_text("ok\n")
    return copy


def run_one(base: Path, task: Path, seed: int, epochs: int, factor: float, runs: Path) -> dict:
    out = runs / f"{task.name}-e{epochs}-x{factor:g}-s{seed}"
    args = [sys.executable, "-m", "seefood", "train", str(task), "--out", str(out), "--seed", str(seed), "--force",
            "--init-from", str(base), "--epochs", str(epochs), "--learning-rate", f"{BASE_LR * factor:g}"]
    started = time.time()
    proc = subprocess.run(args, cwd=ROOT, capture_output=True, text=True, check=False,
                          env={**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3"})
    seconds = time.time() - started
    (runs / f"{out.name}.log").write_text(proc.stdout + proc.stderr, encoding="utf-8")
    if proc.returncode != 0:
        raise RuntimeError(f"{' '.join(args)} failed ({proc.returncode}); log in {runs / (out.name + '.log')}")
    return dict(row_of(out, task, "default"), wall_seconds=round(seconds, 1))


def table(rows: list[dict], bases: dict) -> str:
    lines = ["| task family | budget | runs | minority F1 mean (min-max) | change from old run | PR-AUC mean | change | wall s |",
             "|---|---|---|---|---|---|---|---|"]
    for family, epochs, factor in ((f, e, x) for f in ("binary", "longtail", "tiny") for e, x in BUDGETS):
        mine = [r for r in rows if r["epochs_arg"] == epochs and r["lr_factor"] == factor and r["family"] == family]
        if not mine:
            continue
        f1 = [r["minority_f1"] for r in mine]
        d_f1 = [r["minority_f1"] - bases[(r["set"], r["family"], r["seed"])]["minority_f1"] for r in mine]
        auc = [r["pr_auc"] for r in mine]
        d_auc = [r["pr_auc"] - bases[(r["set"], r["family"], r["seed"])]["pr_auc"] for r in mine]
        name = f"{'auto' if epochs == 0 else epochs} epochs, lr x{factor:g}"
        lines.append(f"| {family} | {name} | {len(mine)} | {statistics.mean(f1):.3f} ({min(f1):.3f}-{max(f1):.3f}) | "
                     f"{statistics.mean(d_f1):+.3f} ({min(d_f1):+.3f}..{max(d_f1):+.3f}) | {statistics.mean(auc):.3f} | "
                     f"{statistics.mean(d_auc):+.3f} ({min(d_auc):+.3f}..{max(d_auc):+.3f}) | "
                     f"{statistics.mean(r['wall_seconds'] for r in mine):.0f} |")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--base", default="prior", help="label of the quality benchmark's runs to continue")
    parser.add_argument("--tasks", nargs="+", default=["food5-binary", "flowers5-binary", "scenes6-binary"])
    parser.add_argument("--seeds", nargs="+", type=int, default=[0, 1])
    parser.add_argument("--table", action="store_true", help="only print the table of what was run")
    args = parser.parse_args(argv)
    base_rows = {(r["set"], r["family"], r["seed"]): r for r in load_results(OUT / "results.jsonl")
                 if r.get("label") == args.base and r["recipe"] == "default"}
    done = load_results(RESULTS) if RESULTS.is_file() else []
    if not args.table:
        runs = OUT / "runs" / "retrain-budget"
        runs.mkdir(parents=True, exist_ok=True)
        for name in args.tasks:
            set_name, family = name.split("-")
            task = task_plus(OUT / "tasks" / name, set_name)
            for seed in args.seeds:
                base = OUT / "runs" / args.base / f"{name}-default-s{seed}"
                if not (base / "metrics.json").is_file() or (set_name, family, seed) not in base_rows:
                    raise SystemExit(f"{base}: no finished run of label {args.base!r} to continue")
                for epochs, factor in BUDGETS:
                    key = (set_name, family, seed, epochs, factor)
                    if any((r["set"], r["family"], r["seed"], r["epochs_arg"], r["lr_factor"]) == key for r in done):
                        continue
                    print(f"{name} seed {seed}: {epochs or 'auto'} epochs, lr x{factor:g}", flush=True)
                    row = dict(run_one(base, task, seed, epochs, factor, runs), set=set_name, family=family,
                               seed=seed, epochs_arg=epochs, lr_factor=factor, base=args.base)
                    with RESULTS.open("a", encoding="utf-8") as fh:
                        fh.write(json.dumps(row) + "\n")
                    done.append(row)
    if not DATA.is_dir():
        return 0
    print(table(done, base_rows))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
