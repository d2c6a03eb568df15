"""The code's layout rules, checked on the source: no import cycles among project modules
(function-level imports included, since that is where cycles hide), and the command line at the
top: no library module imports ``seefood.cli``."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
PACKAGES = ("seefood", "training", "export", "retrain", "desktop", "packaging", "bench", "demogen")
# Entry points: the only modules that may import the command line.
CLI_IMPORTERS = {"seefood.__main__", "packaging.app_entry", "seefood.cli"}


def project_modules() -> dict[str, Path]:
    modules = {}
    for package in PACKAGES:
        for path in sorted((ROOT / package).rglob("*.py")) if (ROOT / package).is_dir() else []:
            if "dist" in path.relative_to(ROOT).parts or "build" in path.relative_to(ROOT).parts:
                continue
            parts = list(path.relative_to(ROOT).with_suffix("").parts)
            if parts[-1] == "__init__":
                parts.pop()
            modules[".".join(parts)] = path
    return modules


def imports_of(name: str, path: Path, modules: dict[str, Path]) -> set[str]:
    """Project modules that ``name`` imports anywhere in its file (top level or inside functions)."""
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    found = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"), str(path))):
        if isinstance(node, ast.Import):
            targets = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                anchor = package.split(".")[: len(package.split(".")) - (node.level - 1)]
                base = ".".join(anchor + ([base] if base else []))
            # `from pkg import module` imports pkg.module; `from module import name` imports module
            targets = [f"{base}.{alias.name}" if f"{base}.{alias.name}" in modules else base for alias in node.names]
        else:
            continue
        for target in targets:
            while target and target not in modules:
                target = target.rpartition(".")[0]
            if target and target != name:
                found.add(target)
    return found


def import_graph() -> dict[str, set[str]]:
    modules = project_modules()
    return {name: imports_of(name, path, modules) for name, path in modules.items()}


def cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """Strongly connected components of more than one module (Tarjan)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[list[str]] = []

    def visit(node: str) -> None:
        index[node] = low[node] = len(index)
        stack.append(node)
        on_stack.add(node)
        for other in sorted(graph.get(node, ())):
            if other not in index:
                visit(other)
                low[node] = min(low[node], low[other])
            elif other in on_stack:
                low[node] = min(low[node], index[other])
        if low[node] == index[node]:
            component = []
            while True:
                member = stack.pop()
                on_stack.discard(member)
                component.append(member)
                if member == node:
                    break
            if len(component) > 1:
                found.append(sorted(component))

    for node in sorted(graph):
        if node not in index:
            visit(node)
    return found


def test_the_cycle_finder_finds_a_planted_cycle_and_nothing_in_a_chain():
    assert cycles({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}) == [["a", "b", "c"]]
    assert cycles({"a": {"b"}, "b": {"c"}, "c": set()}) == []


def test_the_import_reader_sees_function_level_and_relative_imports(tmp_path):
    source = tmp_path / "mod.py"
    source.write_text("def f():\n    from training import metrics\n    import export.convert\nfrom . import sibling\n")
    modules = {"training": Path(), "training.metrics": Path(), "export.convert": Path(), "pkg.sibling": Path(), "pkg.mod": source}
    assert imports_of("pkg.mod", source, modules) == {"training.metrics", "export.convert", "pkg.sibling"}


def test_no_import_cycle_among_project_modules():
    graph = import_graph()
    assert len(graph) > 50, "the walk found too few modules to mean anything"
    found = cycles(graph)
    assert not found, "import cycles (break each by moving the shared code down a layer): " + "; ".join(
        " <-> ".join(cycle) for cycle in found)


def test_only_entry_points_import_the_command_line():
    offenders = sorted(name for name, imported in import_graph().items()
                       if "seefood.cli" in imported and name not in CLI_IMPORTERS)
    assert not offenders, f"these modules import seefood.cli (raise a seefood.errors error instead): {offenders}"


@pytest.mark.parametrize("name", ["training.models.WeightsError", "export.convert.ConversionError",
                                  "desktop.capture.CaptureError", "training.dataset.DataError",
                                  "seefood.manifest.BundleError", "packaging/build_desktop.py:BuildError"])
def test_every_stage_error_is_a_seefood_error(name):
    import importlib
    import importlib.util

    from seefood.errors import SeeFoodError

    if ":" in name:  # packaging/ holds scripts: `packaging` is also the name of a PyPI library
        path, cls = name.split(":")
        spec = importlib.util.spec_from_file_location("seefood_build_script", ROOT / path)
        module = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(module)
    else:
        module_name, _, cls = name.rpartition(".")
        module = importlib.import_module(module_name)
    assert issubclass(getattr(module, cls), SeeFoodError)
