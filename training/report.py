"""Human-readable outputs of evaluation: report.md and PNG plots under RUN_DIR/plots/."""

from __future__ import annotations

from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
from sklearn.metrics import roc_curve  # noqa: E402

from seefood.images import load_rgb  # noqa: E402
from seefood.preprocessing import fit_to_input  # noqa: E402
from seefood.scoring import UNKNOWN_INDEX, UNKNOWN_LABEL, pr_curve  # noqa: E402
from training.balance import describe_head_norm, describe_tail_adjust  # noqa: E402
from training.metrics import decisions  # noqa: E402
from training.threshold import BOOTSTRAP, describe_uncertainty  # noqa: E402

GRID_MAX = 24


def _save(fig, path: Path) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=110, bbox_inches="tight")
    plt.close(fig)


def plot_confusion(cm: np.ndarray, classes: list[str], path: Path, title: str) -> None:
    cm = np.asarray(cm, dtype=float)
    norm = cm / np.maximum(cm.sum(axis=1, keepdims=True), 1)
    size = max(4.0, 0.9 * len(classes) + 2)
    fig, axes = plt.subplots(1, 2, figsize=(2 * size, size))
    for ax, data, fmt, name in ((axes[0], cm, "{:.0f}", "counts"), (axes[1], norm, "{:.2f}", "row-normalised (recall on diagonal)")):
        ax.imshow(data, cmap="Blues", vmin=0, vmax=data.max() or 1)
        ax.set_xticks(range(len(classes)), classes, rotation=45, ha="right")
        ax.set_yticks(range(len(classes)), classes)
        ax.set_xlabel("predicted")
        ax.set_ylabel("true")
        ax.set_title(name)
        for i in range(len(classes)):
            for j in range(len(classes)):
                ax.text(j, i, fmt.format(data[i, j]), ha="center", va="center",
                        color="white" if data[i, j] > 0.6 * (data.max() or 1) else "black")
    fig.suptitle(title)
    _save(fig, path)


def plot_binary_curves(splits: dict, threshold: float, positive: str, pr_path: Path, roc_path: Path) -> None:
    fig_pr, ax_pr = plt.subplots(figsize=(5.5, 4.5))
    fig_roc, ax_roc = plt.subplots(figsize=(5.5, 4.5))
    for name, (_, labels, scores) in splits.items():
        if labels.sum() == 0 or labels.sum() == len(labels):
            continue
        curve = pr_curve(scores, labels)
        p, r, t = curve["precision"], curve["recall"], curve["threshold"]
        ax_pr.plot(r, p, label=f"{name}")
        fpr, tpr, rt = roc_curve(labels, scores)
        ax_roc.plot(fpr, tpr, label=name)
        for thr, marker, lab in ((threshold, "o", f"chosen {threshold:.2f}"), (0.5, "x", "0.50")):
            i = int(np.argmin(np.abs(t - thr))) if len(t) else None
            if i is not None:
                ax_pr.plot(r[i], p[i], marker, color="black", ms=8, label=f"{name} @ {lab}")
            j = int(np.argmin(np.abs(rt - thr)))
            ax_roc.plot(fpr[j], tpr[j], marker, color="black", ms=8)
        ax_pr.axhline(labels.mean(), ls=":", color="grey", lw=1)
    ax_pr.set(xlabel=f"recall ({positive})", ylabel="precision", title="Precision-recall (dotted: random model)", xlim=(0, 1), ylim=(0, 1.02))
    ax_roc.plot([0, 1], [0, 1], ":", color="grey")
    ax_roc.set(xlabel="false positive rate", ylabel="true positive rate", title="ROC (o: chosen threshold, x: 0.5)")
    ax_pr.legend(fontsize=7)
    ax_roc.legend(fontsize=7)
    _save(fig_pr, pr_path)
    _save(fig_roc, roc_path)


def plot_multiclass_pr(labels: np.ndarray, scores: np.ndarray, classes: list[str], path: Path) -> None:
    fig, ax = plt.subplots(figsize=(6, 4.5))
    for i, cls in enumerate(classes):
        y = labels == i
        if 0 < y.sum() < len(y):
            curve = pr_curve(scores[:, i], y)
            ax.plot(curve["recall"], curve["precision"], label=cls)
    ax.set(xlabel="recall", ylabel="precision", title="Precision-recall per class (test)", xlim=(0, 1), ylim=(0, 1.02))
    ax.legend(fontsize=7)
    _save(fig, path)


def plot_learning_curves(history: dict, binary: bool, path: Path, overfit: dict, kept: dict | None = None) -> None:
    """Training vs validation loss and the main metric per epoch; a solid line marks the epoch whose
    weights the model keeps (``kept``: run.json's kept_weights), a dotted one the lowest validation loss."""
    if not history.get("loss"):
        return
    key = "pr_auc" if binary else "accuracy"
    fig, axes = plt.subplots(1, 2, figsize=(10, 4))
    epochs = np.arange(1, len(history["loss"]) + 1)
    for ax, metric in ((axes[0], "loss"), (axes[1], key)):
        if metric in history:
            ax.plot(epochs, history[metric], label=f"train {metric}")
        if f"val_{metric}" in history:
            ax.plot(epochs[: len(history[f'val_{metric}'])], history[f"val_{metric}"], label=f"validation {metric}")
        ax.set(xlabel="epoch", title=metric)
        ax.legend()
    if overfit.get("best_val_loss_epoch"):
        axes[0].axvline(overfit["best_val_loss_epoch"], ls=":", color="grey", label="lowest validation loss")
    if kept and kept.get("epoch"):
        for ax in axes:
            ax.axvline(kept["epoch"], color="black", lw=1.2, label=f"kept: {kept['rule']} weights, epoch {kept['epoch']}")
        axes[1].legend(fontsize=8)
    axes[0].legend(fontsize=8)
    if overfit.get("overfitting"):
        axes[0].set_title("loss: validation rising while training falls = overfitting", color="darkred")
    _save(fig, path)


def plot_misclassified(paths, labels, scores, run, path: Path) -> int:
    binary = run.binary
    pred = decisions(scores, run.threshold, binary)  # the runtime's rule: multi-class "unknown" is a mistake too
    wrong = np.flatnonzero(pred != labels)
    if binary:  # most confident mistakes first
        conf = np.abs(scores - run.threshold)
    else:
        conf = scores.max(axis=1)
    wrong = wrong[np.argsort(-conf[wrong])][:GRID_MAX]
    if len(wrong) == 0:
        return 0
    cols = 6
    rows = int(np.ceil(len(wrong) / cols))
    fig, axes = plt.subplots(rows, cols, figsize=(cols * 2, rows * 2.3))
    for ax in np.atleast_1d(axes).ravel():
        ax.axis("off")
    for ax, i in zip(np.atleast_1d(axes).ravel(), wrong):
        try:
            ax.imshow(fit_to_input(load_rgb(paths[i]), 96))
        except Exception:  # noqa: BLE001 - a file that vanished since training: leave the cell blank
            pass
        score = scores[i] if binary else scores[i].max()
        said = run.classes[pred[i]] if pred[i] != UNKNOWN_INDEX else UNKNOWN_LABEL
        ax.set_title(f"true {run.classes[labels[i]]}\npred {said} ({score:.2f})", fontsize=7)
    fig.suptitle("Misclassified test images (most confident first)")
    _save(fig, path)
    return len(wrong)


def _fmt(v) -> str:
    return f"{v:.3f}" if isinstance(v, float) else str(v)


def write_report(run, metrics: dict, raw: dict, history: dict) -> None:
    plots = run.run_dir / "plots"
    main_split = "test" if "test" in raw else "val"
    m = metrics["splits"][main_split]
    plot_confusion(np.array(m["at_threshold"]["confusion_matrix"]), run.classes, plots / "confusion_matrix.png",
                   f"{main_split} split at threshold {run.threshold:.2f}")
    if run.binary:
        plot_binary_curves(raw, run.threshold, run.positive_class, plots / "pr_curve.png", plots / "roc_curve.png")
    else:
        _, labels, scores = raw[main_split]
        plot_multiclass_pr(labels, scores, run.classes, plots / "pr_curve.png")
    plot_learning_curves(history, run.binary, plots / "learning_curves.png", metrics["overfitting"],
                         metrics.get("kept_weights"))
    n_wrong = plot_misclassified(*raw[main_split], run, plots / "misclassified.png")

    lines = [f"# SeeFood report: run {run.run_id}", ""]
    for warning in metrics.get("warnings", []):
        lines += [f"> **WARNING:** {warning['message']}", ""]
    lines.append(f"Task: **{run.task}**, classes: {', '.join(run.classes)}" + (f", positive class **{run.positive_class}**" if run.binary else ""))
    chosen_on = metrics["threshold"].get("chosen_on") or {}
    if chosen_on.get("scores") == "out_of_fold":
        where, pool = (f"the out-of-fold scores of {chosen_on['photos']} train+val photos ({chosen_on['positives']} "
                       f"positive; {chosen_on['folds']} models, each scoring the photos it did not train on)",
                       "those scores")
    else:
        where, pool = "the validation split", "the validation split"
    lines.append(f"Threshold: **{run.threshold:.3f}**, chosen on {where} for `{run.threshold_objective}` (never on test).")
    if chosen_on.get("scores") == "out_of_fold":
        lines.append(f"The validation split alone ({chosen_on['validation_positives']} positive photos) would have chosen "
                     f"{chosen_on['validation_only']:.3f}.")
    uncertainty = describe_uncertainty(run.raw.get("threshold_choice") or {})
    if uncertainty:
        lines.append(f"It is the mean of the best-F1 thresholds of {BOOTSTRAP} bootstrap resamples of {pool}: "
                     f"{uncertainty}.")
    gap = metrics["threshold"].get("validation_vs_test")
    if gap:
        lines.append(f"Validation and test disagree by {gap['threshold_gap']:.2f}: at the chosen threshold F1 is "
                     f"{gap['val_f1']:.3f} on validation and {gap['test_f1']:.3f} on test; the test split alone would "
                     f"have picked {gap['test_best_threshold']:.2f} (F1 {gap['test_best_f1']:.3f}), which no product can "
                     "know in advance.")
    if not run.binary:
        if (run.raw.get("head_norm") or {}).get("exponent"):
            lines.append(describe_head_norm(run.raw["head_norm"]) + ".")
        lines.append(describe_tail_adjust(run.raw.get("tail_adjust") or {}) + ".")
    lines.append("")
    for split, s in metrics["splits"].items():
        a, h, lazy = s["at_threshold"], s["untuned"], s["lazy_baseline"]
        lines.append(f"## {split} split (n={a['n']})")
        lines.append("")
        if run.binary:
            lines.append("| | accuracy | balanced acc. | precision | recall | F1 |")
            lines.append("|---|---|---|---|---|---|")
            lines.append(f"| model @ {run.threshold:.2f} (tuned) | {_fmt(a['accuracy'])} | {_fmt(a['balanced_accuracy'])} | {_fmt(a['precision'])} | {_fmt(a['recall'])} | {_fmt(a['f1'])} |")
            lines.append(f"| model @ 0.50 | {_fmt(h['accuracy'])} | {_fmt(h['balanced_accuracy'])} | {_fmt(h['precision'])} | {_fmt(h['recall'])} | {_fmt(h['f1'])} |")
            lines.append(f"| always '{lazy['always']}' | {_fmt(lazy['accuracy'])} | {_fmt(lazy['balanced_accuracy'])} | {_fmt(lazy['precision'])} | {_fmt(lazy['recall'])} | {_fmt(lazy['f1'])} |")
            r = s["ranking"]
            if "pr_auc" in r:
                lines.append("")
                lines.append(f"PR-AUC {r['pr_auc']:.3f} (random: {r['positive_rate']:.3f}), ROC-AUC {r['roc_auc']:.3f}. "
                             f"Accuracy alone misleads: always answering '{lazy['always']}' scores {lazy['accuracy']:.1%}.")
        else:
            lines.append(f"Accuracy {_fmt(a['accuracy'])}, balanced accuracy {_fmt(a['balanced_accuracy'])}, macro F1 {_fmt(a['macro_f1'])}; "
                         f"always '{lazy['always']}': accuracy {_fmt(lazy['accuracy'])}, macro F1 {_fmt(lazy['macro_f1'])}. "
                         f"Unknown (below threshold): {a.get('unknown', 0)}.")
        lines.append("")
        lines.append("| class | precision | recall | F1 | support |")
        lines.append("|---|---|---|---|---|")
        for cls, pc in a["per_class"].items():
            lines.append(f"| {cls} | {_fmt(pc['precision'])} | {_fmt(pc['recall'])} | {_fmt(pc['f1'])} | {pc['support']} |")
        lines.append("")
        lines.append("Threshold sweep:")
        lines.append("")
        lines.append("| threshold | precision | recall | F1 |")
        lines.append("|---|---|---|---|")
        for row in s["sweep"]:
            lines.append(f"| {row['threshold']:.2f} | {_fmt(row['precision'])} | {_fmt(row['recall'])} | {_fmt(row['f1'])} |")
        lines.append("")
        if s["most_confused"]:
            lines.append("Most confused: " + "; ".join(f"{p['true']} → {p['predicted']} ({p['count']})" for p in s["most_confused"]))
            lines.append("")
    lines.append("## Training")
    lines.append("")
    lines.append(f"Overfitting check: {metrics['overfitting']['note']}")
    lines.append("")
    for name, title in (("confusion_matrix", "Confusion matrix"), ("pr_curve", "Precision-recall"), ("roc_curve", "ROC"),
                        ("learning_curves", "Learning curves"), ("misclassified", f"Misclassified ({n_wrong} shown)")):
        if (plots / f"{name}.png").is_file():
            lines.append(f"### {title}\n\n![{title}](plots/{name}.png)\n")
    (run.run_dir / "report.md").write_text("\n".join(lines) + "\n", encoding="utf-8")
