"""``seefood cache info|clear``: the decoded-photo cache (``seefood.decoded_cache``). No TensorFlow."""

from __future__ import annotations

import json

from seefood import decoded_cache

# Commands that read photos through the cache; each gets --no-cache (seefood.cli adds it).
CACHED_COMMANDS = ("train", "compare", "evaluate", "export", "verify", "retrain", "demo")
NO_CACHE_HELP = ("decode every photo again and leave the decoded-photo cache alone "
                 f"(same as {decoded_cache.ENV_SWITCH}=off; `seefood cache info` shows where it is)")


def register(subparsers) -> None:
    cache = subparsers.add_parser(
        "cache", help="the decoded-photo cache: where it is, how big, empty it",
        description="Photos are decoded once per input size and kept, by content hash, in "
        f"${decoded_cache.ENV_DIR} (default ~/.cache/seefood/decoded), up to ${decoded_cache.ENV_LIMIT} MiB "
        f"(default {decoded_cache.DEFAULT_LIMIT_MB}); the least recently used go first. Training, compare, "
        "evaluate, export and verify read photos through it; --no-cache on those commands turns it off.")
    actions = cache.add_subparsers(dest="cache_command", metavar="ACTION", required=True)
    show = actions.add_parser("info", help="location, size, limit, photos per input size")
    show.add_argument("--json", action="store_true", help="print it as a JSON object")
    show.set_defaults(func=run_info)
    clear = actions.add_parser("clear", help="delete every cached photo (your photo files are not touched)")
    clear.set_defaults(func=run_clear)


def _mib(n: int) -> str:
    return f"{n / 2**20:.1f} MiB"


def run_info(args) -> int:
    found = decoded_cache.info()
    if args.json:
        print(json.dumps(found, indent=2))
        return 0
    state = "on" if found["enabled"] else f"off ({decoded_cache.ENV_SWITCH}=off)"
    print(f"Decoded-photo cache: {found['location']} ({state})")
    print(f"  {found['photos']} photos, {_mib(found['bytes'])} of a {_mib(found['limit_bytes'])} limit "
          f"(${decoded_cache.ENV_LIMIT})")
    for key, k in sorted(found["keys"].items()):
        print(f"  {key}: {k['photos']} photos, {_mib(k['bytes'])}")
    if found["temporary_files"]:
        print(f"  {found['temporary_files']} temporary files (from interrupted runs; removed by the next prune or clear)")
    return 0


def run_clear(args) -> int:
    count, freed = decoded_cache.clear()
    print(f"Removed {count} files ({_mib(freed)}) from {decoded_cache.root()}")
    return 0
