"""Every import arrow points down the documented order of the packages, and no module imports
itself back through others (docs/architecture.md, "Arrows point down").

Read with `ast`, without importing anything, and counting every import: those at the top of a
module and those inside functions (a lazy import is still an arrow).
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
PACKAGE = "transfer_lab"

# Bottom to top: a room may import its own level and those below it, never one above.
# The same list is in docs/architecture.md.
ORDER = (
    ("errors", "machine", "test_epochs"),  # the ground: torch-free, import nothing of ours
    ("data",),
    ("store",),
    ("train", "sweep", "slurm"),
    ("models",),
    ("transfer", "transferability"),
    ("config",),
    ("job", "report"),
    ("cli", "hydra_plugins"),  # the front door and Hydra's plugins, which call into the rooms
    ("__main__",),
)
LEVEL = {room: level for level, rooms in enumerate(ORDER) for room in rooms}

# Arrows the front-door rewrite removes (report/cli.py moves into cli/): listed, not allowed.
KNOWN_BACK_ARROWS: set[tuple[str, str]] = set()


def module_name(path: Path) -> str:
    parts = list(path.relative_to(ROOT).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def modules() -> dict[str, Path]:
    """Every module of the package and of its Hydra plugins, by dotted name."""
    found = sorted([*(ROOT / PACKAGE).rglob("*.py"), *(ROOT / "hydra_plugins").rglob("*.py")])
    return {module_name(path): path for path in found}


def imported(name: str, path: Path, known: set[str]) -> set[str]:
    """The modules of ours that a module imports anywhere in its text."""
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    targets: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            targets.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                parent = package.rsplit(".", node.level - 1)[0] if node.level > 1 else package
                base = f"{parent}.{base}" if base else parent
            for alias in node.names:  # `from pkg import module` names the module itself
                targets.add(f"{base}.{alias.name}" if f"{base}.{alias.name}" in known else base)
    ours = set()
    for target in targets:
        while target and target not in known:  # `import a.b.c` of a name inside a module
            target = target.rpartition(".")[0]
        if target and target != name:
            ours.add(target)
    return ours


def room(name: str) -> str:
    """The package a module lives in (`train`, `report`, …), or the top-level module's name."""
    parts = name.split(".")
    if parts[0] == "hydra_plugins":
        return "hydra_plugins"
    return parts[1] if len(parts) > 1 else "__init__"


@pytest.fixture(scope="module")
def graph() -> dict[str, set[str]]:
    found = modules()
    known = set(found)
    return {name: imported(name, path, known) for name, path in found.items()}


def test_every_known_back_arrow_still_exists(graph):
    """An exception outlives its arrow only by mistake: remove it once the import is gone."""
    gone = [pair for pair in KNOWN_BACK_ARROWS if pair[1] not in graph.get(pair[0], set())]
    assert not gone, f"remove {gone} from KNOWN_BACK_ARROWS"


def test_every_room_has_a_place_in_the_order(graph):
    rooms = {room(name) for name in graph} - {"__init__"}
    assert rooms <= set(LEVEL), f"add {sorted(rooms - set(LEVEL))} to ORDER and the docs"


def test_no_module_imports_a_room_above_its_own(graph):
    upward = [
        f"{name} imports {target} ({room(target)} is above {room(name)})"
        for name, targets in graph.items()
        for target in sorted(targets)
        if room(name) != "__init__"
        and room(target) != "__init__"
        and LEVEL[room(target)] > LEVEL[room(name)]
        and (name, target) not in KNOWN_BACK_ARROWS
    ]
    assert not upward, "\n".join(upward)


def cycle_in(edges: dict[str, set[str]]) -> list[str]:
    """One cycle of the graph as a list of nodes (first == last), or [] when it has none."""
    state: dict[str, int] = {}  # 1: on the current path, 2: done
    path: list[str] = []

    def visit(node: str) -> list[str]:
        state[node] = 1
        path.append(node)
        for nxt in sorted(edges.get(node, ())):
            if state.get(nxt) == 1:
                return path[path.index(nxt) :] + [nxt]
            if nxt not in state and (found := visit(nxt)):
                return found
        state[node] = 2
        path.pop()
        return []

    for node in sorted(edges):
        if node not in state and (found := visit(node)):
            return found
    return []


def test_no_module_imports_itself_back_through_others(graph):
    edges = {
        name: {t for t in targets if (name, t) not in KNOWN_BACK_ARROWS}
        for name, targets in graph.items()
    }
    cycle = cycle_in(edges)
    assert not cycle, " -> ".join(cycle)


def test_no_two_rooms_import_each_other(graph):
    edges: dict[str, set[str]] = {}
    for name, targets in graph.items():
        for target in targets:
            if room(name) != room(target) and (name, target) not in KNOWN_BACK_ARROWS:
                edges.setdefault(room(name), set()).add(room(target))
    cycle = cycle_in(edges)
    assert not cycle, " -> ".join(cycle)


def test_the_check_finds_an_arrow_up_and_a_cycle(tmp_path):
    """The reading itself: a lazy import inside a function counts, a relative one resolves."""
    (tmp_path / "a.py").write_text("def f():\n    from pkg.b import g\n")
    (tmp_path / "b.py").write_text("from .a import f\n")
    known = {"pkg.a", "pkg.b"}
    a = imported("pkg.a", tmp_path / "a.py", known)
    b = imported("pkg.b", tmp_path / "b.py", known)
    assert a == {"pkg.b"} and b == {"pkg.a"}
    assert cycle_in({"pkg.a": a, "pkg.b": b}) == ["pkg.a", "pkg.b", "pkg.a"]
