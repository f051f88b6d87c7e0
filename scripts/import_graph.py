"""The import graph of the app, checked for the layering of DESIGN §2 (issue 11).

    python scripts/import_graph.py            # problems, one per line; exit 1 if any
    python scripts/import_graph.py --cycles   # every import cycle, the sandbox's too
    python scripts/import_graph.py --edges    # every edge, "importer -> imported"

Reads the source with `ast` (nothing is imported or run) and counts every import, at module
level or inside a function: an import placed inside a function still ties the two modules
together. An import under `if TYPE_CHECKING:` is left out, since it never runs.

Problems:
- an import cycle among the app's modules outside `wecom_app.sandbox`;
- a domain module importing a face (`wecom_app.api`, `wecom_app.workbench`, `wecom_app.cli`)
  or `handlers`/`jobs`;
- a module under `wecom_app.models` importing anything of the app but `wecom_app.db` and
  other models.
"""

from __future__ import annotations

import argparse
import ast
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
PACKAGES = ("wecom_app", "handlers", "jobs")
FACES = ("wecom_app.api", "wecom_app.workbench", "wecom_app.cli")
OUTSIDE_DOMAIN = FACES + ("wecom_app.sandbox", "wecom_app.app", "wecom_app.wsgi", "wecom_app.served",
                          "wecom_app.scheduler", "wecom_app.migrations", "handlers", "jobs")


def modules() -> dict[str, Path]:
    found = {}
    for package in PACKAGES:
        for path in (ROOT / package).rglob("*.py"):
            parts = path.relative_to(ROOT).with_suffix("").parts
            if "versions" in parts:  # Alembic revisions
                continue
            name = ".".join(parts[:-1] if parts[-1] == "__init__" else parts)
            found[name] = path
    return found


def _under(name: str, prefixes: tuple[str, ...]) -> bool:
    return any(name == p or name.startswith(p + ".") for p in prefixes)


def _type_checking_only(tree: ast.Module) -> set[int]:
    """Ids of import nodes inside `if TYPE_CHECKING:` blocks."""
    skipped = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.If) and "TYPE_CHECKING" in ast.unparse(node.test):
            for child in node.body:
                for inner in ast.walk(child):
                    skipped.add(id(inner))
    return skipped


def imports_of(name: str, path: Path, known: dict[str, Path]) -> set[str]:
    """The app modules `name` imports (resolving relative imports and `from pkg import module`)."""
    tree = ast.parse(path.read_text(), str(path))
    skipped = _type_checking_only(tree)
    is_package = path.name == "__init__.py"
    found = set()

    def add(target: str) -> None:
        while target and target not in known:  # `from a.b import C`: C is not a module
            target = target.rpartition(".")[0]
        if target and target != name:
            found.add(target)

    for node in ast.walk(tree):
        if id(node) in skipped:
            continue
        if isinstance(node, ast.Import):
            for alias in node.names:
                if _under(alias.name, PACKAGES):
                    add(alias.name)
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = name.split(".") if is_package else name.split(".")[:-1]
                base = base[: len(base) - node.level + 1]
                module = ".".join(base + ([node.module] if node.module else []))
            else:
                module = node.module or ""
            if not _under(module, PACKAGES):
                continue
            for alias in node.names:
                submodule = f"{module}.{alias.name}"
                add(submodule if submodule in known else module)
    return found


def graph() -> dict[str, set[str]]:
    known = modules()
    return {name: imports_of(name, path, known) for name, path in sorted(known.items())}


def cycles(edges: dict[str, set[str]]) -> list[list[str]]:
    """Strongly connected components of more than one module (Tarjan), each sorted."""
    index, low, stack, on_stack, result = {}, {}, [], set(), []
    counter = [0]
    sys.setrecursionlimit(10_000)

    def visit(v: str) -> None:
        index[v] = low[v] = counter[0]
        counter[0] += 1
        stack.append(v)
        on_stack.add(v)
        for w in edges.get(v, ()):
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on_stack:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            component = []
            while True:
                w = stack.pop()
                on_stack.discard(w)
                component.append(w)
                if w == v:
                    break
            if len(component) > 1:
                result.append(sorted(component))

    for v in sorted(edges):
        if v not in index:
            visit(v)
    return sorted(result)


def problems(edges: dict[str, set[str]]) -> list[str]:
    found = []
    for component in cycles(edges):
        if not all(_under(m, ("wecom_app.sandbox",)) for m in component):
            found.append("cycle: " + " ↔ ".join(component))
    for importer, targets in sorted(edges.items()):
        for target in sorted(targets):
            if not _under(importer, OUTSIDE_DOMAIN) and _under(target, FACES + ("handlers", "jobs")):
                found.append(f"domain imports a face: {importer} -> {target}")
            if _under(importer, ("wecom_app.models",)) and not _under(target, ("wecom_app.models", "wecom_app.db")):
                found.append(f"models import logic: {importer} -> {target}")
    return found


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--cycles", action="store_true", help="list every cycle, the sandbox's too")
    parser.add_argument("--edges", action="store_true", help="list every edge")
    args = parser.parse_args(argv)
    edges = graph()
    if args.edges:
        for importer, targets in edges.items():
            for target in sorted(targets):
                print(f"{importer} -> {target}")
        return 0
    if args.cycles:
        for component in cycles(edges):
            print(" ↔ ".join(component))
        return 0
    found = problems(edges)
    for line in found:
        print(line)
    return 1 if found else 0


if __name__ == "__main__":
    sys.exit(main())
