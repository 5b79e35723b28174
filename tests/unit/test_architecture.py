"""The import structure of `fwemu`, read from the source with `ast` (nothing is imported).

Rules:
1. Modules form a DAG: no module reaches itself through imports. Every import counts,
   module-level and function-level alike: an import inside a function only delays the
   dependency, it does not remove it (a lazy import that closes a cycle still means the two
   modules cannot be understood, tested or moved apart). Importing `a.b.c` also runs the
   packages `a` and `a.b`, so it counts as importing them too (except a package the
   importing module lies inside, which is already being initialised).
2. Packages form a DAG: with every subpackage of `fwemu` collapsed to one node (targets,
   channel, records, …) there is still no cycle. Two packages can import each other with no
   module-level cycle (targets.agent → channel while channel.simagent → targets.sim was
   one), and that is the coupling this rule is for.
3. Backends are reached through their interface: outside `fwemu.targets`, only the package
   (`open_target`) and `targets.base` (`Target`) are imported, never a backend or the sim
   OS model by name; and one backend (sim, agent, qemu) never imports another.
4. Layers: docs/architecture.md's layer table puts every module in one layer; a module
   imports only from its own layer or a lower one. The test reads the table from the doc,
   so the doc and the code cannot drift apart.
5. labgrid (an optional extra) is imported only inside `fwemu.labgrid`.

A failure names the cycle (a → b → a) or the offending import (file:line).
"""

from __future__ import annotations

import ast
import pathlib
import re

ROOT = pathlib.Path(__file__).resolve().parents[2]
PKG_DIR = ROOT / "emulator" / "fwemu"
DOC = ROOT / "docs" / "architecture.md"


def _modules() -> dict[str, tuple[pathlib.Path, bool]]:
    """Dotted name → (file, is a package's __init__)."""
    mods = {}
    for path in sorted(PKG_DIR.rglob("*.py")):
        parts = list(path.relative_to(PKG_DIR.parent).with_suffix("").parts)
        is_pkg = parts[-1] == "__init__"
        if is_pkg:
            parts.pop()
        mods[".".join(parts)] = (path, is_pkg)
    return mods


MODULES = _modules()


def _owner(name: str) -> str | None:
    """The fwemu module an imported dotted name lives in (a name imported from a module,
    `from .x import Y`, resolves to the module x), or None outside fwemu."""
    while name not in MODULES:
        if "." not in name:
            return None
        name = name.rsplit(".", 1)[0]
    return name


def _with_parents(mod: str, importer: str) -> list[str]:
    """mod and the packages importing it runs, less those the importer lies inside."""
    out = []
    parts = mod.split(".")
    for i in range(1, len(parts) + 1):
        name = ".".join(parts[:i])
        if name in MODULES and not (importer == name or importer.startswith(name + ".")):
            out.append(name)
    return out


def import_edges() -> dict[str, dict[str, int]]:
    """importer → {imported module: first line}; every import statement in the file."""
    edges: dict[str, dict[str, int]] = {m: {} for m in MODULES}
    for mod, (path, is_pkg) in MODULES.items():
        pkg = mod if is_pkg else mod.rsplit(".", 1)[0]
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"), str(path))):
            targets: list[str] = []
            if isinstance(node, ast.Import):
                targets = [a.name for a in node.names]
            elif isinstance(node, ast.ImportFrom):
                if node.level:
                    base = pkg.split(".")
                    base = base[:len(base) - (node.level - 1)]
                    prefix = ".".join(base + ([node.module] if node.module else []))
                else:
                    prefix = node.module or ""
                # `from pkg import name`: name is a submodule or an attribute of pkg
                targets = [f"{prefix}.{a.name}" for a in node.names]
            for t in targets:
                owner = _owner(t)
                if owner is None:
                    continue
                for dep in _with_parents(owner, mod):
                    if dep != mod:
                        edges[mod].setdefault(dep, node.lineno)
    return edges


def package_of(mod: str) -> str:
    """fwemu.targets.sim → fwemu.targets; fwemu.session → fwemu.session."""
    parts = mod.split(".")
    return ".".join(parts[:2])


def find_cycle(graph: dict[str, set[str]]) -> list[str] | None:
    """One cycle as [a, b, …, a], or None (iterative DFS, deterministic order)."""
    WHITE, GREY, BLACK = 0, 1, 2
    color = dict.fromkeys(graph, WHITE)
    for start in sorted(graph):
        if color[start] != WHITE:
            continue
        stack = [(start, iter(sorted(graph[start])))]
        path = [start]
        color[start] = GREY
        while stack:
            node, it = stack[-1]
            nxt = next(it, None)
            if nxt is None:
                color[node] = BLACK
                stack.pop()
                path.pop()
            elif color.get(nxt, BLACK) == GREY:
                return path[path.index(nxt):] + [nxt]
            elif color.get(nxt) == WHITE:
                color[nxt] = GREY
                stack.append((nxt, iter(sorted(graph[nxt]))))
                path.append(nxt)
    return None


def _describe(cycle: list[str], edges: dict[str, dict[str, int]], coarse: bool) -> str:
    steps = []
    for a, b in zip(cycle, cycle[1:], strict=False):
        if coarse:   # name one import that makes each package edge
            a_mod, b_mod, line = next(
                (m, d, ln) for m in sorted(edges) if package_of(m) == a
                for d, ln in sorted(edges[m].items()) if package_of(d) == b)
            steps.append(f"{a} → {b} ({MODULES[a_mod][0].relative_to(ROOT)}:{line} imports {b_mod})")
        else:
            steps.append(f"{a} → {b} ({MODULES[a][0].relative_to(ROOT)}:{edges[a][b]})")
    return "import cycle:\n  " + "\n  ".join(steps)


def test_the_scan_sees_the_package():
    # guards the tests below against passing on an empty or misread graph
    edges = import_edges()
    assert len(MODULES) > 40
    assert "fwemu.firmware" in edges["fwemu.session"]
    assert "fwemu.channel.protocol" in edges["fwemu.channel.client"]
    # a function-level import counts (LocalSession imports the session on use)
    assert "fwemu.session" in edges["fwemu.api"]
    # importing fwemu.channel.hostagent runs fwemu.channel's __init__ too
    assert "fwemu.channel" in edges["fwemu.targets.simagent"]


def test_find_cycle_finds_one():
    g = {"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}
    assert find_cycle(g) == ["a", "b", "c", "a"]
    assert find_cycle({"a": {"b"}, "b": set()}) is None


def test_modules_form_a_dag():
    edges = import_edges()
    cycle = find_cycle({m: set(d) for m, d in edges.items()})
    assert cycle is None, _describe(cycle, edges, coarse=False)


def test_packages_form_a_dag():
    edges = import_edges()
    graph: dict[str, set[str]] = {}
    for m, deps in edges.items():
        graph.setdefault(package_of(m), set()).update(
            package_of(d) for d in deps if package_of(d) != package_of(m))
    cycle = find_cycle(graph)
    assert cycle is None, _describe(cycle, edges, coarse=True)


def doc_layers() -> list[list[str]]:
    """docs/architecture.md's layer table, lowest layer first: rows `| N | `mod`, … |`."""
    rows = []
    in_table = False
    for line in DOC.read_text(encoding="utf-8").splitlines():
        if line.startswith("<!-- layers -->"):
            in_table = True
            continue
        if in_table and line.startswith("<!-- /layers -->"):
            break
        m = re.match(r"\|\s*(\d+)\s*\|(.*)\|", line) if in_table else None
        if m:
            rows.append((int(m.group(1)), re.findall(r"`([\w.*]+)`", m.group(2))))
    assert rows, f"{DOC}: no layer table between <!-- layers --> and <!-- /layers -->"
    assert [n for n, _ in rows] == list(range(len(rows))), "layers are numbered 0, 1, 2, … from the bottom"
    return [names for _, names in rows]


def layer_of() -> dict[str, int]:
    """Every fwemu module → its layer; `pkg.*` in the table covers the package and all in it."""
    out = {}
    for n, names in enumerate(doc_layers()):
        for name in names:
            full = "fwemu" if name == "fwemu" else f"fwemu.{name}"
            if full.endswith(".*"):
                base = full[:-2]
                hits = [m for m in MODULES if m == base or m.startswith(base + ".")]
            else:
                hits = [full] if full in MODULES else []
            assert hits, f"{DOC}: layer {n} names {name!r}, which is not a module of fwemu"
            for m in hits:
                out.setdefault(m, n)
    return out


def test_layer_table_covers_every_module():
    layers = layer_of()
    missing = sorted(set(MODULES) - set(layers))
    assert not missing, f"modules in no layer of {DOC.name}'s table: {missing}"


def test_imports_go_down_the_layers():
    layers = layer_of()
    bad = [f"{MODULES[m][0].relative_to(ROOT)}:{line}: {m} (layer {layers[m]}) imports "
           f"{d} (layer {layers[d]})"
           for m, deps in sorted(import_edges().items()) for d, line in sorted(deps.items())
           if layers.get(d, -1) > layers.get(m, -1)]
    assert not bad, "imports from a higher layer:\n  " + "\n  ".join(bad)


def test_backends_are_not_named_outside_targets():
    public = {"fwemu.targets", "fwemu.targets.base"}
    bad = [f"{MODULES[m][0].relative_to(ROOT)}:{line}: {m} imports {d}"
           for m, deps in sorted(import_edges().items()) if not m.startswith("fwemu.targets")
           for d, line in sorted(deps.items())
           if d.startswith("fwemu.targets.") and d not in public]
    assert not bad, "a backend imported by name outside fwemu.targets:\n  " + "\n  ".join(bad)


def test_backends_do_not_import_each_other():
    backends = {"fwemu.targets.sim", "fwemu.targets.agent", "fwemu.targets.qemu"}
    edges = import_edges()
    bad = [f"{MODULES[m][0].relative_to(ROOT)}:{line}: {m} imports {d}"
           for m in sorted(backends) for d, line in sorted(edges[m].items()) if d in backends]
    assert not bad, "a backend imports another:\n  " + "\n  ".join(bad)


def test_only_the_labgrid_package_imports_labgrid():
    bad = []
    for mod, (path, _) in MODULES.items():
        if mod == "fwemu.labgrid" or mod.startswith("fwemu.labgrid."):
            continue
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"), str(path))):
            names = []
            if isinstance(node, ast.Import):
                names = [a.name for a in node.names]
            elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
                names = [node.module]
            bad += [f"{path.relative_to(ROOT)}:{node.lineno} imports {n}" for n in names
                    if n == "labgrid" or n.startswith("labgrid.")]
    assert not bad, "; ".join(bad)
