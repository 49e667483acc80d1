"""The package's layers: imports point one way, Faust stays in the runtime, no import cycle."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]

#: Lowest first. A module may import from its own layer or a lower one, never a higher one.
LAYERS: tuple[tuple[str, ...], ...] = (
    ("stream_app.paths", "stream_app.clock", "stream_app.events"),
    ("stream_app.state",),
    ("stream_app.model",),
    ("stream_app.schedule",),
    ("stream_app.policy",),  # the pure core ends here: no I/O clients, no settings
    ("stream_app.data", "stream_app.kafka", "stream_app.settings"),
    ("stream_app.topology", "stream_app.contracts", "stream_app.asyncapi"),
    ("stream_app.service.ports",),  # what the service speaks to: source, store, sink
    ("stream_app.worker",),  # the per-batch service, without Faust
    ("stream_app.service",),  # the batch loops, the commit unit, timers; the memory adapter
    ("stream_app.runtime",),  # the only Faust importer
    ("stream_app.commands",),
    ("stream_app.cli", "stream_app.__main__"),
)
#: Training may use the model and the data readers, never the worker or its runtime.
EXPORT_MAY_IMPORT = LAYERS[0] + LAYERS[1] + LAYERS[2] + ("stream_app.data",)
FAUST_PACKAGES = ("faust", "mode")


def module_name(path: Path) -> str:
    parts = path.relative_to(REPO).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def imports_of(path: Path) -> set[str]:
    """Every module named by an import statement anywhere in the file (lazy ones included)."""
    names: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names.add(node.module)
            names.update(f"{node.module}.{alias.name}" for alias in node.names)
    return names


def layer_of(module: str) -> int | None:
    for index, prefixes in enumerate(LAYERS):
        if any(module == p or module.startswith(p + ".") for p in prefixes):
            return index
    return None


def package_modules(package: str) -> dict[str, set[str]]:
    return {module_name(path): imports_of(path) for path in sorted((REPO / package).rglob("*.py"))}


def layer_violations(graph: dict[str, set[str]]) -> list[str]:
    found = []
    for module, imported in graph.items():
        own = layer_of(module)
        for name in sorted(imported):
            other = layer_of(name)
            if own is not None and other is not None and other > own:
                found.append(f"{module} imports {name} (layer {other} above {own})")
    return found


def test_every_module_has_a_layer() -> None:
    assert [m for m in package_modules("stream_app") if layer_of(m) is None] == ["stream_app"]


def test_imports_point_down_the_layers() -> None:
    assert layer_violations(package_modules("stream_app")) == []


def test_the_layer_check_fails_on_an_upward_import() -> None:
    graph = {"stream_app.state.user_state": {"stream_app.worker.pipeline"}}
    assert layer_violations(graph) == [
        "stream_app.state.user_state imports stream_app.worker.pipeline (layer 8 above 1)"
    ]


def test_only_the_runtime_imports_faust() -> None:
    outside = [
        f"{module} imports {name}"
        for module, imported in package_modules("stream_app").items()
        if not module.startswith("stream_app.runtime")
        for name in imported
        if name.split(".")[0] in FAUST_PACKAGES
    ]
    assert outside == []


def test_training_uses_the_model_and_the_readers_only() -> None:
    wrong = [
        f"{module} imports {name}"
        for module, imported in package_modules("export").items()
        for name in imported
        if name.startswith("stream_app")
        and not any(name == p or name.startswith(p + ".") for p in EXPORT_MAY_IMPORT)
    ]
    assert wrong == []


def cycle_in(graph: dict[str, set[str]]) -> list[str]:
    """One import cycle among the graph's own modules, or []."""
    edges = {m: {n for n in imported if n in graph and n != m} for m, imported in graph.items()}
    state: dict[str, int] = {}
    path: list[str] = []

    def visit(module: str) -> list[str]:
        state[module] = 1
        path.append(module)
        for nxt in sorted(edges[module]):
            if state.get(nxt) == 1:
                return [*path[path.index(nxt) :], nxt]
            if nxt not in state and (cycle := visit(nxt)):
                return cycle
        path.pop()
        state[module] = 2
        return []

    for module in sorted(edges):
        if module not in state and (cycle := visit(module)):
            return cycle
    return []


@pytest.mark.parametrize("package", ["stream_app", "export"])
def test_no_import_cycle(package: str) -> None:
    assert cycle_in(package_modules(package)) == []


def test_the_cycle_check_finds_a_cycle() -> None:
    graph = {"a": {"b"}, "b": {"c"}, "c": {"a"}}
    assert cycle_in(graph) == ["a", "b", "c", "a"]


#: The most lines a module of the product, its training or its benchmarks may have.
MAX_MODULE_LINES = 300


@pytest.mark.parametrize("package", ["stream_app", "export", "bench"])
def test_no_module_is_over_the_line_limit(package: str) -> None:
    lengths = {
        str(path.relative_to(REPO)): len(path.read_text(encoding="utf-8").splitlines())
        for path in sorted((REPO / package).rglob("*.py"))
    }
    assert {path: n for path, n in lengths.items() if n > MAX_MODULE_LINES} == {}
