"""The data audit printed before training and saved as RUN_DIR/audit.json."""

from __future__ import annotations

import json
from pathlib import Path

from training.dataset import SPLITS, DataError, Inventory, counts
from training.task import Task

MAX_LISTED = 10


def build_audit(inv: Inventory, task: Task) -> dict:
    table = counts(inv)
    per_task_class = {c: {s: 0 for s in SPLITS} for c in task.classes}
    for folder_class, by_split in table.items():
        for split, n in by_split.items():
            per_task_class[task.classes[task.class_map[folder_class]]][split] += n
    train = {c: v["train"] for c, v in per_task_class.items()}
    nonzero = [n for n in train.values() if n > 0]
    ratio = (max(nonzero) / min(nonzero)) if nonzero else float("nan")
    return {
        "data_dir": inv.data_dir,
        "layout": inv.layout,
        "task": task.to_dict(),
        "folder_counts": table,
        "class_counts": per_task_class,
        "imbalance_ratio": round(ratio, 2),
        "totals": {s: sum(v[s] for v in table.values()) for s in SPLITS},
        "unreadable": inv.unreadable,
        "too_small": inv.too_small,
        "ignored": inv.ignored,
        "duplicates": inv.duplicates,
        "leakage_across_splits": inv.leakage,
        "label_conflicts": inv.conflicts,
        "lent_to_val": inv.lent_to_val,
        "fingerprint": inv.fingerprint(),
    }


def check_splittable(audit: dict) -> None:
    """Every decision class needs training and validation images, or nothing can be measured."""
    for cls, by_split in audit["class_counts"].items():
        total = sum(by_split.values())
        for split in ("train", "val"):
            if by_split[split] == 0:
                folder = f"{audit['data_dir']}/train/{cls}/" if audit["layout"] == "split" else f"{audit['data_dir']}/{cls}/"
                raise DataError(
                    f"class {cls!r} has {total} usable image(s) and none landed in the {split} split; "
                    f"too few to split. Add photos to {folder} (aim for 20 or more), lower "
                    "--val-fraction/--test-fraction, or give explicit train/ and val/ folders."
                )


def format_audit(audit: dict) -> str:
    """A human table: classes x splits, the imbalance, and every problem file (first few named)."""
    lines = []
    classes = list(audit["class_counts"])
    width = max(12, *(len(c) for c in classes))
    lines.append(f"Data audit: {audit['data_dir']} ({audit['layout']} layout, task {audit['task']['kind']})")
    lines.append(f"  {'class':<{width}} {'train':>7} {'val':>7} {'test':>7}")
    for cls in classes:
        row = audit["class_counts"][cls]
        lines.append(f"  {cls:<{width}} {row['train']:>7} {row['val']:>7} {row['test']:>7}")
    t = audit["totals"]
    lines.append(f"  {'total':<{width}} {t['train']:>7} {t['val']:>7} {t['test']:>7}")
    ratio = audit["imbalance_ratio"]
    lines.append(f"  imbalance (largest/smallest class in train): {ratio}:1")
    if ratio >= 3:
        majority = max(classes, key=lambda c: audit["class_counts"][c]["train"])
        share = audit["class_counts"][majority]["train"] / max(1, t["train"])
        lines.append(
            f"  ! imbalanced: a model that always answers {majority!r} is {share:.0%} accurate and useless; "
            "watch precision, recall and PR-AUC of the minority class, not accuracy"
        )
    for key, title in (
        ("unreadable", "unreadable files skipped"),
        ("too_small", "images too small to use, skipped"),
        ("ignored", "non-image, hidden and OS files ignored"),
        ("duplicates", "exact duplicate files kept once"),
        ("leakage_across_splits", "duplicates across splits (leakage), kept in one split"),
        ("label_conflicts", "identical files in different classes, kept out"),
        ("lent_to_val", "training photo(s) lent to validation (a class had none there)"),
    ):
        items = audit.get(key, [])
        if not items:
            continue
        lines.append(f"  {len(items)} {title}:")
        for item in items[:MAX_LISTED]:
            extra = item.get("reason") or item.get("same_as") or item.get("size")
            lines.append(f"    {item['path']}  ({extra})")
        if len(items) > MAX_LISTED:
            lines.append(f"    ... and {len(items) - MAX_LISTED} more (all listed in audit.json)")
    return "\n".join(lines)


def save_audit(audit: dict, path: Path) -> None:
    Path(path).write_text(json.dumps(audit, indent=2) + "\n", encoding="utf-8")
