"""``seefood compare``: the rebalancing experiment, run on the user's own folder.

Every strategy trains the same model with the same data split and epoch budget; only the
recipe (balance x augmentation x loss) changes. Each strategy is repeated over N model seeds
(the split seed stays fixed, so every repeat is judged on the same validation and test photos),
and the summary reports the mean and spread over repeats, because on a few hundred minority
photos one lucky seed can look like a better recipe.

Reads each run's ``metrics.json`` (written by ``seefood train``) and scores the test split once
more with the saved model for the PR-curve plot. Writes ``OUT/compare.json``, ``OUT/compare.md``
and ``OUT/compare_pr.png``; each run keeps its own folder under ``OUT/runs/<strategy>-r<k>/``.
"""

from __future__ import annotations

import functools
import json
import shlex
import shutil
import statistics
from dataclasses import asdict, dataclass, field
from datetime import datetime, timezone
from pathlib import Path

import numpy as np

from seefood.errors import InputError
from training.config import TrainConfig


@dataclass(frozen=True)
class Strategy:
    """One recipe under comparison: the ``seefood train`` options it sets."""

    name: str
    balance: str
    augment: str
    loss: str = "crossentropy"

    def train_options(self) -> list[str]:
        return ["--balance", self.balance, "--augment", self.augment, "--loss", self.loss]


def _catalogue() -> dict[str, Strategy]:
    """"+augment" is ``seefood train``'s own augmentation (``strong``), so that
    ``oversample+class_weight+augment`` is exactly the default recipe."""
    augment = TrainConfig.__dataclass_fields__["augment"].default
    out: dict[str, Strategy] = {}
    for balance in ("none", "class_weight", "oversample", "oversample+class_weight"):
        out[balance] = Strategy(balance, balance, "none")
        out[f"{balance}+augment"] = Strategy(f"{balance}+augment", balance, augment)
    out["focal"] = Strategy("focal", "none", "none", "focal")
    out["focal+augment"] = Strategy("focal+augment", "none", augment, "focal")
    return out


STRATEGIES = _catalogue()
# The experiment: four balance strategies with and without augmentation, plus focal loss.
DEFAULT_STRATEGIES = (
    "none", "none+augment", "class_weight", "class_weight+augment", "oversample", "oversample+augment",
    "oversample+class_weight", "oversample+class_weight+augment", "focal",
)
# Metrics summarised per strategy; "f1_tuned" (F1 of the minority class at the threshold chosen on
# validation) decides the recommendation, PR-AUC and then stability break ties.
METRICS = (
    "precision_0.5", "recall_0.5", "f1_0.5", "precision_tuned", "recall_tuned", "f1_tuned",
    "pr_auc", "balanced_accuracy", "macro_f1", "threshold", "train_seconds", "epochs_run",
)
TIE_MARGIN = 0.01  # mean F1 within this of the best counts as a tie


@dataclass
class CompareConfig:
    """Options of ``seefood compare``.

    strategies: names from ``STRATEGIES``.
    repeats: model seeds per strategy (``seed``, ``seed+1``, ...); the split always uses ``seed``.
    epochs, image_size, model, batch_size, patience: the budget every strategy shares; the defaults
        are ``seefood train``'s (epochs 0: set from the folder's size; patience 0: no early stopping),
        so a comparison measures the recipes as they would be trained.
    force: retrain runs that already finished (otherwise a finished run folder is reused, so an
        interrupted comparison continues where it stopped).
    """

    data_dir: str
    out: str
    strategies: list[str] = field(default_factory=lambda: list(DEFAULT_STRATEGIES))
    repeats: int = 1
    epochs: int = 0
    image_size: int = 0
    model: str = "small_cnn"
    batch_size: int = 32
    patience: int = 0
    positive: str | None = None
    seed: int = 1337
    force: bool = False
    command: str = ""  # the command line that asked for this comparison, quoted in compare.md

    def __post_init__(self) -> None:
        unknown = [s for s in self.strategies if s not in STRATEGIES]
        if unknown:
            raise InputError(f"unknown strategy {', '.join(unknown)}; choose from {', '.join(STRATEGIES)}")
        if not self.strategies:
            raise InputError("--strategies needs at least one strategy")
        if len(set(self.strategies)) != len(self.strategies):
            raise InputError("--strategies lists a strategy twice")
        if self.repeats < 1:
            raise InputError("--repeats must be at least 1")

    def train_config(self, strategy: Strategy, repeat: int) -> TrainConfig:
        return TrainConfig(
            data_dir=self.data_dir, out=str(run_folder(Path(self.out), strategy.name, repeat)), model=self.model,
            image_size=self.image_size, epochs=self.epochs, batch_size=self.batch_size, balance=strategy.balance,
            augment=strategy.augment, loss=strategy.loss, positive=self.positive, seed=self.seed + repeat,
            split_seed=self.seed, patience=self.patience, force=True,
        )


def _budget_text(cfg: dict) -> str:
    epochs = f"{cfg['epochs']} epochs" if cfg.get("epochs") else "the epoch budget set from the folder's size"
    stopping = f", early stopping with patience {cfg['patience']}" if cfg.get("patience") else ", no early stopping"
    return epochs + stopping


def run_folder(out: Path, strategy: str, repeat: int) -> Path:
    return out / "runs" / f"{strategy}-r{repeat}"


def _finished(run_dir: Path, cfg: TrainConfig, fingerprint) -> str | None:
    """Why a finished run cannot be reused for ``cfg`` (None: it can, instead of retraining):
    it must have the same options and have been trained on the folder as it is now
    (``fingerprint()``: the content-hash fingerprint of the data folder, computed only when needed)."""
    if not ((run_dir / "metrics.json").is_file() and (run_dir / "scores.npz").is_file()):
        return "not finished"
    saved = json.loads((run_dir / "config.json").read_text(encoding="utf-8"))
    wanted = cfg.to_dict()
    changed = [k for k, v in wanted.items()
               if k not in ("out", "force") and not (k == "positive" and v is None) and saved.get(k) != v]
    if changed:
        return f"options changed ({', '.join(changed)})"
    run = json.loads((run_dir / "run.json").read_text(encoding="utf-8"))
    if run.get("dataset_fingerprint") != fingerprint():
        return "the data folder changed since it was trained"
    return None


# --- one run ---------------------------------------------------------------------------------------------------

def held_out_scores(run_dir: Path) -> tuple[str, np.ndarray, np.ndarray]:
    """(split, labels, scores) of the run's test split (val when it has none), as ``evaluate_run``
    saved them in scores.npz: the comparison never scores a photo again."""
    from training.run_io import load_scores

    splits = load_scores(run_dir)
    split = "test" if "test" in splits else "val"
    _, labels, scores = splits[split]
    return split, labels, scores


def minority_class(run_dir: Path) -> str:
    """The decision class with the fewest training photos (binary: the positive class)."""
    run = json.loads((run_dir / "run.json").read_text(encoding="utf-8"))
    if run["task"] == "binary":
        return run["positive_class"]
    audit = json.loads((run_dir / "audit.json").read_text(encoding="utf-8"))
    counts = audit["class_counts"]
    return min(run["classes"], key=lambda c: (counts[c]["train"], c))


def run_row(run_dir: Path) -> dict:
    """The compared numbers of one finished run, for its minority class, on test (or val)."""
    metrics = json.loads((run_dir / "metrics.json").read_text(encoding="utf-8"))
    run = json.loads((run_dir / "run.json").read_text(encoding="utf-8"))
    split = "test" if "test" in metrics["splits"] else "val"
    m = metrics["splits"][split]
    cls = minority_class(run_dir)
    at5, tuned = m["untuned"]["per_class"][cls], m["at_threshold"]["per_class"][cls]
    ranking = m["ranking"]
    pr_auc = ranking.get("pr_auc") if run["task"] == "binary" else ranking.get("per_class", {}).get(cls, {}).get("pr_auc")
    return {
        "run_dir": str(run_dir), "split": split, "minority_class": cls,
        "precision_0.5": at5["precision"], "recall_0.5": at5["recall"], "f1_0.5": at5["f1"],
        "precision_tuned": tuned["precision"], "recall_tuned": tuned["recall"], "f1_tuned": tuned["f1"],
        "pr_auc": pr_auc, "balanced_accuracy": m["at_threshold"]["balanced_accuracy"],
        "macro_f1": m["at_threshold"]["macro_f1"], "threshold": run["threshold"],
        "train_seconds": run["train_seconds"], "epochs_run": run["epochs_run"],
    }


# --- summary and recommendation --------------------------------------------------------------------------------

def summarise(values: list[float | None]) -> dict:
    vals = [float(v) for v in values if v is not None]
    if not vals:
        return {"mean": None, "std": None, "min": None, "max": None, "n": 0}
    return {"mean": statistics.fmean(vals), "std": statistics.pstdev(vals) if len(vals) > 1 else 0.0,
            "min": min(vals), "max": max(vals), "n": len(vals)}


def recommend(summary: dict[str, dict]) -> tuple[str, str]:
    """(strategy, reason): best mean tuned-threshold F1; within ``TIE_MARGIN`` of it, the best mean
    PR-AUC, then the smallest F1 spread over repeats."""
    def mean(name, metric):
        value = summary[name][metric]["mean"]
        return -1.0 if value is None else value

    best_f1 = max(mean(n, "f1_tuned") for n in summary)
    tied = [n for n in summary if mean(n, "f1_tuned") >= best_f1 - TIE_MARGIN]
    choice = max(tied, key=lambda n: (round(mean(n, "pr_auc"), 3), -(summary[n]["f1_tuned"]["std"] or 0.0)))
    s = summary[choice]
    reason = (f"best mean minority-class F1 at the validation-tuned threshold ({s['f1_tuned']['mean']:.3f}"
              f"{_spread(s['f1_tuned'])})")
    if len(tied) > 1:
        others = ", ".join(f"{n} {mean(n, 'f1_tuned'):.3f}" for n in tied if n != choice)
        reason = (f"mean minority-class F1 at the tuned threshold {s['f1_tuned']['mean']:.3f}{_spread(s['f1_tuned'])} "
                  f"ties within {TIE_MARGIN} with {others}; of those it has the best mean PR-AUC "
                  f"({s['pr_auc']['mean']:.3f})")
        if s["f1_tuned"]["n"] > 1:
            reason += ", then the smallest F1 spread over repeats"
    else:
        runner = sorted(summary, key=lambda n: -mean(n, "f1_tuned"))
        if len(runner) > 1:
            second = runner[1]
            reason += f"; next best is {second} ({mean(second, 'f1_tuned'):.3f})"
        if s["pr_auc"]["mean"] is not None:
            reason += f"; its PR-AUC is {s['pr_auc']['mean']:.3f}"
    return choice, reason


def train_command(cfg: CompareConfig, strategy: Strategy, run_name: str = "runs/best") -> str:
    """The one ``seefood train`` command that reproduces the recipe (repeat 0's seed and split)."""
    args = ["seefood", "train", cfg.data_dir, "--out", run_name, "--model", cfg.model]
    if cfg.image_size:
        args += ["--image-size", str(cfg.image_size)]
    args += ["--epochs", str(cfg.epochs), "--batch-size", str(cfg.batch_size), "--patience", str(cfg.patience)]
    args += strategy.train_options()
    if cfg.positive:
        args += ["--positive", cfg.positive]
    args += ["--seed", str(cfg.seed)]
    return shlex.join(args)


def _spread(stat: dict) -> str:
    if stat["n"] > 1:
        return f" ± {stat['std']:.3f}"
    return ""


def _cell(stat: dict, digits: int = 3) -> str:
    if stat["mean"] is None:
        return "–"
    text = f"{stat['mean']:.{digits}f}"
    if stat["n"] > 1:
        text += f" ± {stat['std']:.{digits}f} ({stat['min']:.{digits}f}–{stat['max']:.{digits}f})"
    return text


# --- outputs ---------------------------------------------------------------------------------------------------

def plot_pr_curves(rows: dict[str, list[dict]], summary: dict[str, dict], path: Path, minority: str) -> None:
    """Test-split precision-recall curves of every run, one colour per strategy."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    from seefood.scoring import pr_curve

    fig, ax = plt.subplots(figsize=(7.5, 6))
    cmap = plt.get_cmap("tab10")
    base_rate = None
    for i, (name, runs) in enumerate(rows.items()):
        for k, row in enumerate(runs):
            _, labels, scores = held_out_scores(Path(row["run_dir"]))
            if scores.ndim > 1:
                cls_index = json.loads((Path(row["run_dir"]) / "run.json").read_text())["classes"].index(minority)
                scores, labels = scores[:, cls_index], labels == cls_index
            labels = np.asarray(labels).astype(bool)
            base_rate = float(labels.mean())
            curve = pr_curve(scores, labels)
            p, r = curve["precision"], curve["recall"]
            pr = summary[name]["pr_auc"]["mean"]
            label = f"{name} (PR-AUC {pr:.3f})" if k == 0 and pr is not None else (name if k == 0 else None)
            ax.plot(r, p, color=cmap(i % 10), linestyle="-" if i < 10 else "--", alpha=0.85 if k == 0 else 0.4,
                    linewidth=1.6 if k == 0 else 1.0, label=label)
    if base_rate is not None:
        ax.axhline(base_rate, color="grey", linestyle=":", label=f"random ({base_rate:.3f})")
    ax.set(xlabel=f"recall ({minority})", ylabel=f"precision ({minority})", xlim=(0, 1), ylim=(0, 1.02),
           title=f"Test-split precision-recall, {minority} (one line per run)")
    ax.legend(fontsize=8, loc="lower left")
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def write_markdown(result: dict, path: Path) -> None:
    cfg = result["config"]
    binary = result["task"] == "binary"
    lines = ["# Rebalancing comparison", ""]
    if cfg.get("command"):
        lines += ["```", cfg["command"], "```", ""]
    lines += [
        f"Data: `{cfg['data_dir']}` ({result['task']}; minority class **{result['minority_class']}**, "
        f"{result['train_counts_text']} in training). Model `{cfg['model']}` at {result['image_size']} px, "
        f"{_budget_text(cfg)}, {cfg['repeats']} repeat(s) "
        f"(model seeds {cfg['seed']}..{cfg['seed'] + cfg['repeats'] - 1}, split seed {cfg['seed']} for all). "
        f"Metrics on the **{result['split']}** split (n={result['split_size']}, {result['split_minority']} "
        f"{result['minority_class']}), for the minority class; 'tuned' is the threshold chosen on validation for F1.",
        "",
        f"Cells: mean{' ± std (min–max)' if cfg['repeats'] > 1 else ''} over repeats. "
        f"Run on {result['created']} with TensorFlow {result['versions']['tensorflow']}.",
        "",
    ]
    last = "balanced acc" if binary else "macro F1"
    last_key = "balanced_accuracy" if binary else "macro_f1"
    untuned = "0.5" if binary else "top"  # multi-class without a threshold: the top class, never "unknown"
    header = ["strategy", "balance", "augment", "loss", f"P@{untuned}", f"R@{untuned}", f"F1@{untuned}",
              "P@tuned", "R@tuned", "F1@tuned",
              "PR-AUC", last, "threshold", "train s", "epochs"]
    lines += ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    for name, s in result["summary"].items():
        st = result["strategies"][name]
        mark = " **(recommended)**" if name == result["recommendation"]["strategy"] else ""
        cells = [f"`{name}`{mark}", st["balance"], st["augment"], st["loss"]]
        cells += [_cell(s[k]) for k in ("precision_0.5", "recall_0.5", "f1_0.5", "precision_tuned", "recall_tuned",
                                         "f1_tuned", "pr_auc", last_key, "threshold")]
        cells += [_cell(s["train_seconds"], 0), _cell(s["epochs_run"], 1)]
        lines.append("| " + " | ".join(cells) + " |")
    rec = result["recommendation"]
    lines += [
        "",
        f"![precision-recall curves]({result['plot']})",
        "",
        f"## Recommendation: `{rec['strategy']}`",
        "",
        f"Why: {rec['reason']}.",
        "",
        "Reproduce it:",
        "",
        "```",
        rec["command"],
        "```",
        "",
        "Caveats: the test split is small for the minority class, so differences of a few F1 points between "
        "strategies are within the run-to-run spread; more repeats (`--repeats`) narrow it. Training seconds "
        "depend on what else the machine was doing while each run trained.",
        "",
    ]
    path.write_text("\n".join(lines), encoding="utf-8")


def compare(cfg: CompareConfig) -> dict:
    """Train every strategy x repeat, summarise, recommend; returns what compare.json holds."""
    import keras

    from training.train import train

    out = Path(cfg.out)
    if out.exists() and cfg.force:
        shutil.rmtree(out / "runs", ignore_errors=True)
    out.mkdir(parents=True, exist_ok=True)
    rows: dict[str, list[dict]] = {}

    @functools.cache
    def fingerprint() -> str:
        """The data folder's fingerprint as ``seefood train`` computes it (same split seed and fractions),
        computed once and only when a finished run could be reused."""
        from training.dataset import discover

        t = cfg.train_config(STRATEGIES[cfg.strategies[0]], 0)
        return discover(t.data_dir, t.split_seed, t.val_fraction, t.test_fraction, t.min_image_side).fingerprint()

    total = len(cfg.strategies) * cfg.repeats
    done = 0
    for name in cfg.strategies:
        strategy = STRATEGIES[name]
        rows[name] = []
        for repeat in range(cfg.repeats):
            done += 1
            tcfg = cfg.train_config(strategy, repeat)
            run_dir = Path(tcfg.out)
            stale = _finished(run_dir, tcfg, fingerprint)
            if stale is None:
                print(f"== [{done}/{total}] {name} repeat {repeat}: reusing finished run {run_dir}", flush=True)
            else:
                again = "" if stale == "not finished" else f" (retraining: {stale})"
                print(f"== [{done}/{total}] {name} repeat {repeat} (seed {tcfg.seed}) -> {run_dir}{again}", flush=True)
                keras.backend.clear_session()
                train(tcfg)
            rows[name].append(run_row(run_dir))
    first = Path(rows[cfg.strategies[0]][0]["run_dir"])
    run_info = json.loads((first / "run.json").read_text(encoding="utf-8"))
    audit = json.loads((first / "audit.json").read_text(encoding="utf-8"))
    minority = minority_class(first)
    split, labels, _ = held_out_scores(first)
    minority_index = run_info["classes"].index(minority)
    summary = {name: {m: summarise([r[m] for r in runs]) for m in METRICS} for name, runs in rows.items()}
    choice, reason = recommend(summary)
    if cfg.positive is None and run_info["task"] == "binary":
        cfg.positive = run_info["positive_class"]
    image_size = json.loads((first / "config.json").read_text(encoding="utf-8"))["image_size"]
    result = {
        "config": asdict(cfg),
        "task": run_info["task"],
        "classes": run_info["classes"],
        "minority_class": minority,
        "train_counts": {c: audit["class_counts"][c]["train"] for c in run_info["classes"]},
        "train_counts_text": ", ".join(f"{audit['class_counts'][c]['train']} {c}" for c in run_info["classes"]),
        "image_size": image_size,
        "split": split,
        "split_size": int(len(labels)),
        "split_minority": int(np.sum(labels == minority_index)),
        "strategies": {n: asdict(STRATEGIES[n]) for n in cfg.strategies},
        "runs": rows,
        "summary": summary,
        "recommendation": {"strategy": choice, "reason": reason, "command": train_command(cfg, STRATEGIES[choice]),
                           "rule": f"max mean F1@tuned; within {TIE_MARGIN}: max mean PR-AUC, then min F1 std"},
        "plot": "compare_pr.png",
        "created": datetime.now(timezone.utc).isoformat(timespec="seconds"),
        "versions": run_info.get("versions", {}),
    }
    plot_pr_curves(rows, summary, out / "compare_pr.png", minority)
    (out / "compare.json").write_text(json.dumps(result, indent=2) + "\n", encoding="utf-8")
    write_markdown(result, out / "compare.md")
    return result
