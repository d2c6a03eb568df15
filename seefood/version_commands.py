"""``seefood bundle list|use|prune``: a bundle's versions (``seefood.versions``). No TensorFlow, so
the packaged app's ``seefood`` has them too."""

from __future__ import annotations

import json
from pathlib import Path

from seefood import versions


def register(subparsers) -> None:
    bundle = subparsers.add_parser(
        "bundle", help="a bundle's versions: list them, switch (roll back), prune",
        description="A bundle folder keeps every model it has held in BUNDLE/versions/NNN/; the current one's files "
        "are also at the top of BUNDLE, where phones, `seefood predict` and the app load them. `seefood retrain` "
        "adds versions; an unversioned bundle is version 001.")
    actions = bundle.add_subparsers(dest="bundle_command", metavar="ACTION", required=True)

    listing = actions.add_parser("list", help="every version: created, quantization, run, threshold, test figures")
    listing.add_argument("bundle_dir", type=Path, metavar="BUNDLE")
    listing.add_argument("--json", action="store_true", help="print the versions as a JSON list")
    listing.set_defaults(func=run_list)

    use = actions.add_parser("use", help="make VERSION current (its files at the top of BUNDLE), in one atomic step")
    use.add_argument("bundle_dir", type=Path, metavar="BUNDLE")
    use.add_argument("version", metavar="VERSION", help="e.g. 001 or 1")
    use.set_defaults(func=run_use)

    prune = actions.add_parser("prune", help="delete all but the N newest versions (never the current one)")
    prune.add_argument("bundle_dir", type=Path, metavar="BUNDLE")
    prune.add_argument("--keep", type=int, required=True, metavar="N", help="how many of the newest versions to keep")
    prune.add_argument("--yes", action="store_true",
                       help="delete them; without it the command only says what it would delete (and exits 1)")
    prune.set_defaults(func=run_prune)


def _fmt(value, digits: int = 3) -> str:
    return f"{value:.{digits}f}" if isinstance(value, (int, float)) else "–"


def format_versions(bundle: Path, infos: list[versions.VersionInfo]) -> str:
    current = next((i.version for i in infos if i.current), "?")
    multiclass = any(i.task == "multiclass" for i in infos)
    metric = "test macro-F1" if multiclass else "test F1"
    header = ["", "version", "created", "quantization", "run", "threshold", metric, "PR-AUC", "held-back F1 old→new"]
    rows = []
    for i in infos:
        test = i.test or {}
        held = (i.retrain or {}).get("held_back") or {}
        key = (held.get("metric") or ("macro_f1" if multiclass else "f1"))
        old, new = (held.get("old") or {}).get(key), (held.get("new") or {}).get(key)
        rows.append(["*" if i.current else "", i.version + ("" if i.recorded else "+"),
                     (i.created or "–").replace("T", " ")[:19], i.quantization or "–", i.run_id or "–",
                     _fmt(i.threshold, 4), _fmt(test.get("value")), _fmt(test.get("pr_auc")),
                     f"{_fmt(old)}→{_fmt(new)}" if held else ""])
    widths = [max(len(str(r[c])) for r in [header, *rows]) for c in range(len(header))]
    lines = [f"Versions of {bundle} (current: {current})",
             "  ".join(h.ljust(w) for h, w in zip(header, widths)).rstrip()]
    lines += ["  ".join(str(v).ljust(w) for v, w in zip(r, widths)).rstrip() for r in rows]
    lines.append(f"{metric} and PR-AUC: each version's own run on its own test photos at its threshold (– where the "
                 "run folder is gone); held-back: `seefood retrain`'s comparison with the version it came from on the "
                 "test photos both runs held back.")
    if any(not i.recorded for i in infos):
        lines.append("+: the top-level files, not kept under versions/ yet; the next `seefood bundle use`, `prune` or "
                     "`retrain` keeps them as that version.")
    return "\n".join(lines)


def run_list(args) -> int:
    infos = versions.list_versions(args.bundle_dir)
    if args.json:
        print(json.dumps([i.to_dict() for i in infos], indent=2))
    else:
        print(format_versions(args.bundle_dir, infos))
    return 0


def run_use(args) -> int:
    version, changed = versions.use_version(args.bundle_dir, args.version)
    if changed:
        print(f"{args.bundle_dir}: version {version} is now current (its files are at the top of the folder)")
    else:
        print(f"{args.bundle_dir}: version {version} is already current; nothing changed")
    return 0


def run_prune(args) -> int:
    if not args.yes:
        doomed = versions.prune_plan(args.bundle_dir, args.keep)
        if not doomed:
            print(f"{args.bundle_dir}: nothing to prune (keeping the {args.keep} newest and the current version)")
            return 0
        print(f"{args.bundle_dir}: would delete version(s) {', '.join(doomed)} (keeping the {args.keep} newest and "
              f"the current version {versions.current_version(args.bundle_dir)}); nothing deleted. Pass --yes to "
              "delete them (their training runs are not touched)")
        return 1
    deleted = versions.prune(args.bundle_dir, args.keep)
    if deleted:
        print(f"{args.bundle_dir}: deleted version(s) {', '.join(deleted)}; their training runs are not touched")
    else:
        print(f"{args.bundle_dir}: nothing to prune (keeping the {args.keep} newest and the current version)")
    return 0
