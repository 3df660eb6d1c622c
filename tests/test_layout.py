"""The code's shape, as STYLE.md and DESIGN.md section 4 want it: small modules, a short
loop, imports that point one way (no circle; report/ read by the command line only)."""

from __future__ import annotations

import ast
import inspect
from pathlib import Path

from dltricks import train

PACKAGE = Path(__file__).resolve().parents[1] / "dltricks"
MODULES = sorted(p for p in PACKAGE.rglob("*.py") if "conf" not in p.parts)


def module_name(path: Path) -> str:
    parts = path.relative_to(PACKAGE.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def imports(path: Path) -> set[str]:
    """The dltricks modules a module imports at run time (at the top or inside functions;
    not the names imported for type hints only, under `if TYPE_CHECKING:`)."""
    tree = ast.parse(path.read_text())
    for node in ast.walk(tree):
        if isinstance(node, ast.If) and getattr(node.test, "id", "") == "TYPE_CHECKING":
            node.body = []
    found = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom) and node.module and node.module.startswith("dltricks"):
            found.add(node.module)
            found.update(f"{node.module}.{a.name}" for a in node.names)
        elif isinstance(node, ast.Import):
            found.update(a.name for a in node.names if a.name.startswith("dltricks"))
    known = {module_name(p) for p in MODULES}
    return {m for m in found if m in known}


def test_every_module_is_under_300_lines():
    long = {module_name(p): n for p in MODULES if (n := len(p.read_text().splitlines())) >= 300}
    assert not long


def test_the_loop_reads_in_under_70_lines():
    assert len(inspect.getsource(train.run).splitlines()) <= 70


def test_no_import_circle():
    graph = {module_name(p): imports(p) - {module_name(p)} for p in MODULES}

    def reaches(start: str, target: str, seen: set[str]) -> bool:
        for nxt in graph.get(start, ()):
            if nxt == target or (nxt not in seen and reaches(nxt, target, seen | {nxt})):
                return True
        return False

    # a package's __init__ is imported with each of its modules: no edge back to it counts
    circles = [
        (a, b)
        for a, deps in graph.items()
        for b in deps
        if not a.startswith(b + ".") and reaches(b, a, {b})
    ]
    assert not circles


def test_only_the_command_line_reads_the_report_package():
    readers = {
        module_name(p)
        for p in MODULES
        if any(m.startswith("dltricks.report") for m in imports(p))
        and not module_name(p).startswith("dltricks.report")
    }
    assert readers <= {"dltricks.cli"}


def test_the_report_package_never_imports_torch():
    for path in (PACKAGE / "report").glob("*.py"):
        tree = ast.parse(path.read_text())
        names = [a.name for n in ast.walk(tree) if isinstance(n, ast.Import) for a in n.names]
        names += [n.module or "" for n in ast.walk(tree) if isinstance(n, ast.ImportFrom)]
        assert not any(n.split(".")[0] == "torch" for n in names), path.name
        deps = imports(path)
        assert deps <= {
            m
            for m in deps
            if m.startswith(("dltricks.report", "dltricks.records", "dltricks.errors"))
        }, path.name
