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


def test_only_the_front_ends_read_the_report_package():
    # the command line and the Python API (dltricks.api): the report is read, never imported
    # by the code that trains
    readers = {
        module_name(p)
        for p in MODULES
        if any(m.startswith("dltricks.report") for m in imports(p))
        and not module_name(p).startswith("dltricks.report")
    }
    assert readers <= {"dltricks.cli", "dltricks.api"}


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
            if m.startswith(
                ("dltricks.report", "dltricks.records", "dltricks.errors", "dltricks.rundir")
            )
        }, path.name


RUN_FILES = {"summary.json", "metrics.csv", "layers.csv", "checkpoint.pt", ".lock", ".hydra"}
RUN_FILES |= {"config.yaml", "overrides.yaml", "multirun.yaml", "train.log", "outputs"}
NAMES = {"SUMMARY", "METRICS", "LAYERS", "CHECKPOINT", "LOCK", "HYDRA", "CONFIG", "OVERRIDES"}
NAMES |= {"MULTIRUN", "read_json", "read_yaml", "read_columns", "read_csv_rows"}


# modules that open files that are no run's: downloads, /proc/loadavg, a tracker's store
OPENS_OTHER_FILES = {"dltricks.data.download", "dltricks.device", "dltricks.stores"}


def test_only_the_run_dir_package_names_a_run_file_or_reads_one():
    """A run file's path is joined, and summary.json read, in dltricks.rundir alone: a string
    that is a run file's name, or a use of the rundir's names and readers, is a failure
    anywhere else (messages that mention a file are free)."""
    found = []
    for path in MODULES:
        if module_name(path).startswith("dltricks.rundir"):
            continue
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.Constant) and node.value in RUN_FILES:
                found.append(f"{module_name(path)}: {node.value!r}")
            elif (
                isinstance(node, ast.Attribute)
                and node.attr in NAMES
                and getattr(node.value, "id", "") in ("rundir", "names", "records", "files")
            ):
                found.append(f"{module_name(path)}: .{node.attr}")
            elif isinstance(node, ast.ImportFrom) and (node.module or "").startswith(
                "dltricks.rundir"
            ):
                found += [f"{module_name(path)}: {a.name}" for a in node.names if a.name in NAMES]
            elif (
                isinstance(node, ast.Call)
                and getattr(node.func, "id", "") == "open"
                and module_name(path) not in OPENS_OTHER_FILES
            ):
                found.append(f"{module_name(path)}: open() (a run file goes through RunDir)")
    assert not found
