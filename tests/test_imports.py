"""The package's import graph: no module imports the command line (hashnotes.__main__), and no two modules
import each other, directly or through others, counting the imports inside functions too (a lazy import is
still a dependency). Checked twice: statically over every module's source, and by importing every module in
a fresh interpreter (``python -c``) and looking for ``hashnotes.__main__`` in ``sys.modules``."""
from __future__ import annotations

import ast
import json
import subprocess
import sys
from pathlib import Path

PKG = Path(__file__).resolve().parents[1] / "hashnotes"


def _modules() -> dict[str, tuple[Path, bool]]:
    out = {}
    for p in PKG.rglob("*.py"):
        parts = list(p.relative_to(PKG.parent).with_suffix("").parts)
        is_pkg = parts[-1] == "__init__"
        out[".".join(parts[:-1] if is_pkg else parts)] = (p, is_pkg)
    return out


def import_graph() -> dict[str, set[str]]:
    """module -> the package modules it imports (``from . import x`` counts x when x is a module)."""
    mods = _modules()
    graph = {}
    for name, (path, is_pkg) in mods.items():
        deps = set()
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.Import):
                for a in node.names:
                    target = a.name
                    while target and target not in mods and "." in target:
                        target = target.rsplit(".", 1)[0]
                    if target in mods:
                        deps.add(target)
            elif isinstance(node, ast.ImportFrom):
                if node.level:
                    base = name.split(".") if is_pkg else name.split(".")[:-1]
                    base = base[:len(base) - node.level + 1]
                    target = ".".join(base + ([node.module] if node.module else []))
                else:
                    target = node.module or ""
                for a in node.names:
                    sub = f"{target}.{a.name}"
                    if sub in mods:
                        deps.add(sub)
                    elif target in mods:
                        deps.add(target)
        deps.discard(name)
        graph[name] = deps
    return graph


def cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """The strongly connected components with more than one module (Tarjan)."""
    index, low, stack, on, out, counter = {}, {}, [], set(), [], [0]

    def visit(v):
        index[v] = low[v] = counter[0]
        counter[0] += 1
        stack.append(v)
        on.add(v)
        for w in sorted(graph[v]):
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            comp = []
            while True:
                w = stack.pop()
                on.discard(w)
                comp.append(w)
                if w == v:
                    break
            if len(comp) > 1:
                out.append(sorted(comp))

    for v in sorted(graph):
        if v not in index:
            visit(v)
    return out


def test_the_graph_reader_sees_imports_and_cycles():
    graph = import_graph()
    assert "hashnotes.train.state" in graph["hashnotes.train.checkpoint"]  # a module-level relative import
    assert "hashnotes.train.checkpoint" in graph["hashnotes.train.base"]  # an import inside a method
    assert "hashnotes.methods" in graph["hashnotes.train.checkpoint"]  # `from .. import methods`
    assert "hashnotes.data.layouts.registry" in graph["hashnotes.data.layouts.reader"]
    assert cycles({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}) == [["a", "b", "c"]]


def test_no_module_imports_the_command_line():
    users = sorted(m for m, deps in import_graph().items() if "hashnotes.__main__" in deps)
    assert users == [], f"these modules import hashnotes.__main__: {users}"


def test_the_import_graph_has_no_cycle():
    assert cycles(import_graph()) == []


def test_importing_every_module_leaves_the_command_line_unimported():
    names = sorted(m for m in _modules() if m != "hashnotes.__main__")
    code = ("import importlib, json, sys\n"
            f"for m in {names!r}:\n"
            "    importlib.import_module(m)\n"
            "print(json.dumps(sorted(k for k in sys.modules if k.startswith('hashnotes'))))\n")
    r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=300,
                       cwd=PKG.parent)
    assert r.returncode == 0, r.stderr[-2000:]
    loaded = json.loads(r.stdout.strip().splitlines()[-1])
    assert "hashnotes.data.layouts.dcmh_mat" in loaded and "hashnotes.__main__" not in loaded
