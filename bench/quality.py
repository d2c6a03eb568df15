"""Quality benchmark: the default recipe against the plain recipe and the one-file reference, on
tasks cut from every set in ../shared/data, over several seeds.

    python -m bench.quality                      # every set, family and seed (long: see docs/quality.md)
    python -m bench.quality --quick --jobs 2     # the default recipe on food5 + flowers5, one seed (12.7 min on 2 cores)
    python -m bench.quality --sets food5 --families binary --seeds 0 1 2 --recipes default plain
    python -m bench.quality --table              # only print the table of what is already measured

Task families (built once with symlinks under OUT/tasks/, never copies; train/ and test/ folders, so every recipe
is judged on the same test photos and each recipe carves its own validation split out of train/):
- binary: one class against the others merged, 1:8 in training ("hotdog / not hotdog");
- longtail: five classes at 240/128/64/32/16 training photos (the 375/200/100/50/25 shape scaled to fit every set);
- tiny: 14 photos of one class against 100 others (the guard must warn here and nowhere else).
- longtail2 (opt-in, not in the full run): the long tail again with other photos and other classes in each role
  (classes taken in reverse name order, photos drawn in another order), to check a decision chosen on ``longtail``.
- longtail3 (opt-in, likewise): a third cast (name order starting at the third class, so its smallest class is the
  smallest in neither of the others), for a decision chosen on both ``longtail`` and ``longtail2``.

Recipes: ``default`` is ``seefood train`` as a user runs it; ``plain`` is no rebalancing, no augmentation and no
label smoothing, judged at 0.5 / argmax (the articles' recipe); ``reference`` is
../shared/reference/one_file_recipe.py (binary tasks only: it merges every class but the smallest). Each training
runs as its own process, one at a time by default (each run's time is then its own); ``--jobs N`` runs N side by
side, each given its share of the cores (``thread_env``), which finishes the whole benchmark sooner on a machine with
cores to spare. Every finished training is appended to OUT/results.jsonl, so an interrupted benchmark resumes.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import statistics
import subprocess
import sys
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
SHARED = ROOT.parent / "shared"
DATA = SHARED / "data"
REFERENCE = SHARED / "reference" / "one_file_recipe.py"
SETS = ("food5", "food13", "flowers5", "scenes6")
FAMILIES = ("binary", "longtail", "tiny")
HELD_OUT_FAMILIES = ("longtail2", "longtail3")
RECIPES = ("default", "plain", "reference")
# One positive class per set for the binary and tiny tasks (the first class with enough test photos).
POSITIVE = {"food5": "baby_back_ribs", "food13": "sushi", "flowers5": "tulips", "scenes6": "glacier"}
BINARY_NEGATIVES, BINARY_RATIO, TEST_POSITIVES, TEST_NEGATIVES = 360, 8, 60, 240
LONGTAIL = (240, 128, 64, 32, 16)
LONGTAIL_TEST = 50
TINY_POSITIVES, TINY_NEGATIVES = 14, 100
# --quick: the default recipe only (the plain and reference rows do not change while the default is tuned):
# 6 trainings, 12.7 minutes on 2 cores with --jobs 2 (2026-12-06, 60-epoch budget).
QUICK = {"sets": ("food5", "flowers5"), "families": FAMILIES, "seeds": (0,), "recipes": ("default",)}


def _ranked(files: list[Path], salt: str) -> list[Path]:
    """A fixed pseudo-random order of files (by name hash): tasks are the same on every machine."""
    return sorted(files, key=lambda p: hashlib.sha256(f"{salt}:{p.name}".encode()).hexdigest())


def _photos(set_name: str, split: str, cls: str) -> list[Path]:
    return sorted((DATA / set_name / split / cls).glob("*.jpg"))


def _classes(set_name: str) -> list[str]:
    """Classes by training photos (most first), then name."""
    names = [p.name for p in (DATA / set_name / "train").iterdir() if p.is_dir()]
    return sorted(names, key=lambda c: (-len(_photos(set_name, "train", c)), c))


def _link(files: list[Path], folder: Path) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    for f in files:
        link = folder / f.name
        if not link.is_symlink():
            os.symlink(f.resolve(), link)


def _spread(set_name: str, split: str, classes: list[str], total: int, salt: str) -> list[Path]:
    """``total`` photos taken evenly from ``classes`` (round robin over each class's fixed order)."""
    pools = [_ranked(_photos(set_name, split, c), f"{salt}:{c}") for c in classes]
    picked, i = [], 0
    while len(picked) < total and any(pools):
        pool = pools[i % len(pools)]
        if pool:
            picked.append(pool.pop(0))
        i += 1
    return picked


def build_task(set_name: str, family: str, tasks_dir: Path) -> Path:
    """TASK/{train,test}/<class>/ symlinks for one set and family (built once, reused)."""
    task = tasks_dir / f"{set_name}-{family}"
    done = task / ".complete"
    if done.is_file():
        return task
    salt = f"{set_name}:{family}"
    if family in ("binary", "tiny"):
        positive = POSITIVE[set_name]
        others = [c for c in _classes(set_name) if c != positive]
        negatives = BINARY_NEGATIVES if family == "binary" else TINY_NEGATIVES
        positives = negatives // BINARY_RATIO if family == "binary" else TINY_POSITIVES
        _link(_ranked(_photos(set_name, "train", positive), salt)[:positives], task / "train" / positive)
        _link(_spread(set_name, "train", others, negatives, salt), task / "train" / f"not_{positive}")
        _link(_ranked(_photos(set_name, "test", positive), salt)[:TEST_POSITIVES], task / "test" / positive)
        _link(_spread(set_name, "test", others, TEST_NEGATIVES, salt), task / "test" / f"not_{positive}")
    else:
        roles = _classes(set_name)[:len(LONGTAIL)] if family == "longtail" else _held_out_roles(set_name, family)
        for count, cls in zip(LONGTAIL, roles):
            _link(_ranked(_photos(set_name, "train", cls), salt)[:count], task / "train" / cls)
            _link(_ranked(_photos(set_name, "test", cls), salt)[:LONGTAIL_TEST], task / "test" / cls)
    done.write_text("ok\n")
    return task


def _held_out_roles(set_name: str, family: str = "longtail2") -> list[str]:
    """The classes of a held-out long tail, largest role first: ``longtail2`` walks the classes in reverse name
    order, ``longtail3`` in name order starting at the third; each role takes the first class not yet used that has
    the photos for it. On every set here the three families give the smallest role to three different classes."""
    sizes = {c: len(_photos(set_name, "train", c)) for c in _classes(set_name)}
    names = sorted(sizes)
    order = names[::-1] if family == "longtail2" else names[2:] + names[:2]
    roles: list[str] = []
    for count in LONGTAIL:
        left = [c for c in order if c not in roles]
        need = min(count, max(sizes[c] for c in left))  # as in longtail, a set short of 240 gives what it has
        roles.append(next(c for c in left if sizes[c] >= need))
    return roles


def _smallest_class(task: Path) -> str:
    counts = {p.name: len(list(p.iterdir())) for p in (task / "train").iterdir() if p.is_dir()}
    return min(counts, key=lambda c: (counts[c], c))


def thread_env(jobs: int, cores: int | None = None) -> dict[str, str]:
    """Environment that gives each of ``jobs`` side-by-side trainings its share of the cores (TensorFlow's
    op thread pools and oneDNN's OpenMP); nothing for one job at a time, which uses every core."""
    if jobs <= 1:
        return {}
    share = str(max(1, (cores or os.cpu_count() or 1) // jobs))
    return {"TF_NUM_INTRAOP_THREADS": share, "TF_NUM_INTEROP_THREADS": share, "OMP_NUM_THREADS": share}


def run_seefood(task: Path, recipe: str, seed: int, runs_dir: Path, extra: list[str], jobs: int = 1) -> dict:
    """Train with ``seefood train`` in its own process; the test split's numbers from metrics.json."""
    out = runs_dir / f"{task.name}-{recipe}-s{seed}"
    args = [sys.executable, "-m", "seefood", "train", str(task), "--out", str(out), "--seed", str(seed), "--force"]
    if recipe == "plain":
        args += ["--balance", "none", "--augment", "none", "--label-smoothing", "0"]
    args += extra
    started = time.time()
    proc = subprocess.run(args, cwd=ROOT, capture_output=True, text=True,
                          env={**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3", "PYTHONUNBUFFERED": "1", **thread_env(jobs)})
    seconds = time.time() - started
    (runs_dir / f"{out.name}.log").write_text(proc.stdout + proc.stderr, encoding="utf-8")
    if proc.returncode != 0:
        raise RuntimeError(f"{' '.join(args)} failed ({proc.returncode}); log in {runs_dir / (out.name + '.log')}")
    return dict(row_of(out, task, recipe), seconds=round(seconds, 1))


def row_of(out: Path, task: Path, recipe: str) -> dict:
    """A results row from a finished run's metrics.json and run.json (the test split's numbers)."""
    metrics = json.loads((out / "metrics.json").read_text())
    run = json.loads((out / "run.json").read_text())
    test = metrics["splits"]["test"]
    at = test["untuned"] if recipe == "plain" else test["at_threshold"]
    smallest = _smallest_class(task)
    per_class = at["per_class"]
    n = max(1, at["n"])
    return {
        "minority_f1": per_class[smallest]["f1"],
        "pr_auc": test["ranking"].get("pr_auc"),
        "macro_f1": at["macro_f1"],
        "smallest_recall": per_class[smallest]["recall"],
        "unknown_share": at.get("unknown", 0) / n,
        "seconds": run.get("train_seconds"),
        "epochs": run.get("epochs_run"),
        "threshold": at["threshold"],
        "warnings": [w.get("code") for w in metrics.get("warnings", [])],
    }


def run_folder(runs_root: Path, row: dict) -> Path:
    """Where a results row's run was trained: RUNS/<label or "runs">/<set>-<family>-<recipe>-s<seed>."""
    name = f"{row['set']}-{row['family']}-{row['recipe']}-s{row['seed']}"
    return runs_root / (row.get("label") or "runs") / name


def evaluate_again(run: Path, *options: str) -> None:
    """``seefood evaluate RUN [options]`` in its own process (no retraining)."""
    proc = subprocess.run([sys.executable, "-m", "seefood", "evaluate", str(run), *options], cwd=ROOT,
                          capture_output=True, text=True, env={**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3"})
    if proc.returncode != 0:
        raise RuntimeError(f"seefood evaluate {run} failed: {proc.stderr[-1000:]}")


def rethreshold(out_dir: Path, label: str, new_label: str) -> None:
    """Copy the finished default runs of ``label`` to ``new_label`` and choose their thresholds again
    with this checkout's rule (``seefood evaluate RUN --threshold-objective OBJ``): a new threshold
    rule measured on the very same models, without retraining. Rows keep the original wall time."""
    import shutil

    results_file = out_dir / "results.jsonl"
    rows = load_results(results_file)
    done = {(r["set"], r["family"], r["recipe"], r["seed"]) for r in rows if r.get("label", "") == new_label}
    for row in [r for r in rows if r.get("label", "") == label and r["recipe"] == "default"]:
        if (row["set"], row["family"], row["recipe"], row["seed"]) in done:
            continue
        source, target = run_folder(out_dir / "runs", row), run_folder(out_dir / "runs", {**row, "label": new_label})
        if target.exists():
            shutil.rmtree(target)
        shutil.copytree(source, target, symlinks=True)
        objective = json.loads((target / "config.json").read_text()).get("threshold_objective", "f1")
        evaluate_again(target, "--threshold-objective", objective)
        new = {**row, **row_of(target, out_dir / "tasks" / f"{row['set']}-{row['family']}", "default"),
               "seconds": row["seconds"], "label": new_label}
        with results_file.open("a", encoding="utf-8") as handle:
            handle.write(json.dumps(new) + "\n")
        print(f"{target.name}: threshold {row['threshold']:.3f} -> {new['threshold']:.3f}, minority F1 "
              f"{row['minority_f1']:.3f} -> {new['minority_f1']:.3f}", flush=True)


def run_reference(task: Path, jobs: int = 1) -> dict:
    """The one-file reference (binary tasks; it has no seed of its own, so every seed is the same run)."""
    started = time.time()
    proc = subprocess.run([sys.executable, str(REFERENCE), str(task), "96", "30", "40"], cwd=ROOT,
                          capture_output=True, text=True,
                          env={**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3", **thread_env(jobs)})
    if proc.returncode != 0:
        raise RuntimeError(f"reference on {task} failed: {proc.stderr[-1500:]}")
    result = json.loads(proc.stdout.strip().splitlines()[-1])
    return {"minority_f1": result["f1"], "pr_auc": result["pr_auc"], "macro_f1": None, "smallest_recall": result["recall"],
            "unknown_share": 0.0, "seconds": round(time.time() - started, 1), "epochs": result["epochs_run"],
            "threshold": result["thr"], "warnings": []}


def reevaluate(results_file: Path, runs_root: Path, label: str | None = None) -> None:
    """Evaluate finished default/plain runs again (those of ``label`` when given) and refresh their
    warnings (nothing is retrained)."""
    rows = load_results(results_file)
    for row in rows:
        if row["recipe"] == "reference" or (label is not None and row.get("label", "") != label):
            continue
        run = run_folder(runs_root, row)
        evaluate_again(run)
        metrics = json.loads((run / "metrics.json").read_text())
        row["warnings"] = [w.get("code") for w in metrics.get("warnings", [])]
        print(f"{run.name}: warnings {row['warnings']}", flush=True)
    tmp = results_file.with_suffix(".tmp")
    tmp.write_text("".join(json.dumps(r) + "\n" for r in rows), encoding="utf-8")
    os.replace(tmp, results_file)


def load_results(path: Path) -> list[dict]:
    if not path.is_file():
        return []
    return [json.loads(line) for line in path.read_text().splitlines() if line.strip()]


def _stat(values: list[float]) -> str:
    values = [v for v in values if v is not None]
    if not values:
        return "–"
    if len(values) == 1:
        return f"{values[0]:.3f}"
    return f"{statistics.mean(values):.3f} ± {statistics.stdev(values):.3f} [{min(values):.2f}–{max(values):.2f}]"


def parse_show(entries: list[str]) -> dict[tuple[str | None, str], str]:
    """``[RECIPE:]LABEL=NAME`` entries -> {(recipe or None, label): name}; NAME may be empty."""
    show = {}
    for entry in entries:
        key, _, name = entry.partition("=")
        recipe, _, lab = key.rpartition(":") if ":" in key else ("", "", key)
        show[(recipe or None, lab)] = name
    return show


def table(rows: list[dict], label: str = "", show: dict[tuple[str | None, str], str] | None = None) -> str:
    """Per task and recipe: mean ± sd [min–max] over seeds; then per family, the mean over sets.
    ``show`` keeps only rows whose (recipe, label) or (None, label) it names, under that name
    (rows of two labels shown under one name are pooled: e.g. the plain recipe of two loops)."""
    keys = ("minority_f1", "pr_auc", "macro_f1", "smallest_recall", "unknown_share", "seconds")
    groups: dict[tuple, list[dict]] = {}
    for r in rows:
        lab = r.get("label", "")
        if label and lab != label:
            continue
        if show is not None:
            name = show.get((r["recipe"], lab), show.get((None, lab)))
            if name is None:
                continue
            lab = name
        groups.setdefault((r["family"], r["set"], r["recipe"], lab), []).append(r)
    lines = ["| family | set | recipe | seeds | minority F1 | PR-AUC | macro-F1 | smallest-class recall | unknown | train s | tiny warning |",
             "|---|---|---|---|---|---|---|---|---|---|---|"]
    for (family, set_name, recipe, lab), group in sorted(groups.items()):
        warned = sum("tiny_class" in (r.get("warnings") or []) for r in group)
        name = recipe + (f" ({lab})" if lab else "")
        lines.append(f"| {family} | {set_name} | {name} | {len(group)} | "
                     + " | ".join(_stat([r[k] for r in group]) for k in keys) + f" | {warned}/{len(group)} |")
    lines += ["", "Mean over sets (each set's mean over seeds first):", "",
              "| family | recipe | sets | minority F1 | PR-AUC | macro-F1 | smallest-class recall | unknown |",
              "|---|---|---|---|---|---|---|---|"]
    by_family: dict[tuple, dict[str, list[dict]]] = {}
    for (family, set_name, recipe, lab), group in groups.items():
        by_family.setdefault((family, recipe + (f" ({lab})" if lab else "")), {})[set_name] = group
    for (family, recipe), sets in sorted(by_family.items()):
        cells = []
        for k in keys[:-1]:
            means = [statistics.mean(v) for v in ([r[k] for r in g if r[k] is not None] for g in sets.values()) if v]
            cells.append(f"{statistics.mean(means):.3f}" if means else "–")
        lines.append(f"| {family} | {recipe} | {len(sets)} | " + " | ".join(cells) + " |")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--out", type=Path, default=ROOT / "bench" / "quality-runs")
    parser.add_argument("--quick", action="store_true",
                        help="the default recipe on food5 and flowers5, every family, one seed")
    parser.add_argument("--sets", nargs="+", choices=SETS, default=list(SETS))
    parser.add_argument("--families", nargs="+", choices=FAMILIES + HELD_OUT_FAMILIES, default=list(FAMILIES),
                        help=f"default: {' '.join(FAMILIES)}; {' '.join(HELD_OUT_FAMILIES)} only when named")
    parser.add_argument("--seeds", nargs="+", type=int, default=[0, 1, 2])
    parser.add_argument("--recipes", nargs="+", choices=RECIPES, default=list(RECIPES))
    parser.add_argument("--label", default="", help="tag rows (e.g. the recipe version being compared)")
    parser.add_argument("--train-args", default="", help="extra `seefood train` options for default/plain")
    parser.add_argument("--jobs", type=int, default=1,
                        help="trainings side by side, each given its share of the cores (1: one at a time, every "
                             "core each; the wall-time column is then each run's own)")
    parser.add_argument("--table", action="store_true", help="print the table of results.jsonl and stop")
    parser.add_argument("--show", nargs="+", metavar="[RECIPE:]LABEL=NAME",
                        help="with --table: only these labels (per recipe, or for all), shown as NAME")
    parser.add_argument("--reevaluate", action="store_true",
                        help="run `seefood evaluate` again on every finished run (of --label, when given) with this "
                             "checkout's code (e.g. a changed tiny-class guard) and update the warnings column")
    parser.add_argument("--rethreshold", metavar="NEW_LABEL",
                        help="copy the default runs of --label to NEW_LABEL and choose their thresholds again with "
                             "this checkout's rule (no retraining)")
    args = parser.parse_args(argv)
    results_file = args.out / "results.jsonl"
    if args.table:
        print(table(load_results(results_file), show=parse_show(args.show) if args.show else None))
        return 0
    if args.rethreshold:
        rethreshold(args.out, args.label, args.rethreshold)
        print(table(load_results(results_file)))
        return 0
    if args.reevaluate:
        reevaluate(results_file, args.out / "runs", args.label if args.label else None)
        print(table(load_results(results_file)))
        return 0
    missing = [s for s in args.sets if not (DATA / s / "train").is_dir()]
    if missing:
        print(f"error: {', '.join(missing)} not found under {DATA} (the benchmark needs ../shared/data)", file=sys.stderr)
        return 2
    if args.quick:
        args.sets, args.families, args.seeds = list(QUICK["sets"]), list(QUICK["families"]), list(QUICK["seeds"])
        args.recipes = list(QUICK["recipes"])
    runs_dir = args.out / "runs"
    runs_dir.mkdir(parents=True, exist_ok=True)
    done = {(r["set"], r["family"], r["recipe"], r["seed"], r.get("label", "")) for r in load_results(results_file)}
    extra = args.train_args.split()
    pending = []
    for set_name in args.sets:
        for family in args.families:
            task = build_task(set_name, family, args.out / "tasks")
            for recipe in args.recipes:
                if recipe == "reference" and family.startswith("longtail"):
                    continue
                for seed in args.seeds if recipe != "reference" else args.seeds[:1]:
                    if (set_name, family, recipe, seed, args.label) not in done:
                        pending.append((task, set_name, family, recipe, seed))
    started = time.time()
    write_lock = threading.Lock()

    def train(job: tuple[Path, str, str, str, int]) -> None:
        task, set_name, family, recipe, seed = job
        print(f"[{time.time() - started:6.0f} s] {set_name} {family} {recipe} seed {seed}", flush=True)
        row = run_reference(task, args.jobs) if recipe == "reference" else run_seefood(
            task, recipe, seed, runs_dir / (args.label or "runs"), extra, args.jobs)
        row.update(set=set_name, family=family, recipe=recipe, seed=seed, label=args.label, jobs=args.jobs)
        with write_lock, results_file.open("a", encoding="utf-8") as handle:
            handle.write(json.dumps(row) + "\n")
        print(f"    {set_name} {family} {recipe} seed {seed}: minority F1 {row['minority_f1']:.3f}, "
              f"PR-AUC {row['pr_auc'] or 0:.3f}, smallest recall {row['smallest_recall']:.3f}, {row['seconds']:.0f} s",
              flush=True)

    # Longest first (the reference, then the default) so side-by-side jobs finish together.
    pending.sort(key=lambda job: RECIPES.index(job[3]) if job[3] != "reference" else -1)
    with ThreadPoolExecutor(max_workers=max(1, args.jobs)) as pool:
        for future in [pool.submit(train, job) for job in pending]:
            future.result()
    print(f"benchmark wall time {time.time() - started:.0f} s\n")
    print(table(load_results(results_file)))
    return 0


if __name__ == "__main__":
    sys.exit(main())
