"""The results table of ``make bench``: rows with their target and verdict, and the machine they ran on.

A row says what was measured, the number, its ratio to the row it is compared with (measured side
by side in the same run), the target from the issues and whether it holds, and the command that
produced it. A row that could not be measured stays in the table with the reason, so a missing
number is never mistaken for a passing one.
"""

from __future__ import annotations

import os
import platform
import sys
from dataclasses import asdict, dataclass
from datetime import datetime, timezone
from pathlib import Path

HOLDS = ("yes", "no", "n/a", "not measured")


@dataclass
class Row:
    section: str
    what: str
    value: str
    ratio: str = ""
    target: str = ""
    holds: str = "n/a"  # one of HOLDS
    command: str = ""
    note: str = ""

    def __post_init__(self) -> None:
        if self.holds not in HOLDS:
            raise ValueError(f"holds must be one of {HOLDS}, got {self.holds!r}")

    def to_dict(self) -> dict:
        return asdict(self)


def skipped(section: str, what: str, reason: str, target: str = "", command: str = "") -> Row:
    """A row that could not be measured here, and why."""
    return Row(section, what, f"not available: {reason}", target=target, holds="not measured", command=command)


def verdict(ok: bool | None) -> str:
    return "not measured" if ok is None else ("yes" if ok else "no")


def _cpu_name() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def _version(*distributions: str) -> str:
    """The installed version of the first of ``distributions`` that is installed."""
    from importlib.metadata import PackageNotFoundError, version

    for name in distributions:
        try:
            return version(name)
        except PackageNotFoundError:
            continue
    return "not installed"


def load_average() -> str:
    try:
        return " / ".join(f"{x:.2f}" for x in os.getloadavg())
    except OSError:
        return "unknown"


def gpu_names() -> list[str]:
    """The GPUs TensorFlow sees here (empty on a CPU-only machine)."""
    import tensorflow as tf

    return [device.name for device in tf.config.list_physical_devices("GPU")]


def machine_info() -> dict:
    """What the numbers depend on: CPU, cores, load, library versions, date."""
    return {
        "date": datetime.now(timezone.utc).isoformat(timespec="seconds"),
        "machine": f"{_cpu_name()}, {os.cpu_count()} logical cores, {platform.system()} {platform.release()}",
        "load average at start (1/5/15 min)": load_average(),
        "python": sys.version.split()[0],
        "tensorflow": _version("tensorflow"),
        "keras": _version("keras"),
        "ai-edge-litert": _version("ai-edge-litert", "ai-edge-litert-nightly"),
        "numpy": _version("numpy"),
        "pillow": _version("pillow"),
        "PySide6": _version("PySide6", "PySide6-Essentials", "shiboken6"),
        "gpu": ", ".join(gpu_names()) or "no GPU found by TensorFlow",
    }


def _escape(text: str) -> str:
    return str(text).replace("|", "\\|").replace("\n", " ")


def render(info: dict, rows: list[Row], notes: list[str] = ()) -> str:
    """The whole RESULTS.md: machine, one table per section, then the commands."""
    lines = ["# SeeFood benchmarks", "", "Written by `make bench` (`python -m bench.run`). All ratios come from "
             "measurements taken side by side in the same run on this machine.", ""]
    lines += [f"- **{k}**: {v}" for k, v in info.items()]
    lines.append("")
    sections: dict[str, list[Row]] = {}
    for row in rows:
        sections.setdefault(row.section, []).append(row)
    for section, section_rows in sections.items():
        lines += [f"## {section}", "", "| what | result | ratio | target | holds | command |", "|---|---|---|---|---|---|"]
        for r in section_rows:
            value = r.value + (f" ({r.note})" if r.note else "")
            cmd = f"`{_escape(r.command)}`" if r.command else ""
            lines.append(f"| {_escape(r.what)} | {_escape(value)} | {_escape(r.ratio)} | {_escape(r.target)} | "
                         f"{r.holds} | {cmd} |")
        lines.append("")
    if notes:
        lines += ["## Notes", ""] + [f"- {n}" for n in notes] + [""]
    return "\n".join(lines)


def write_results(path: Path | str, info: dict, rows: list[Row], notes: list[str] = ()) -> Path:
    path = Path(path)
    path.write_text(render(info, rows, notes), encoding="utf-8")
    return path
