#!/usr/bin/env python3
"""Finds import cycles between the module files of each crate.

A file `a.rs` imports module `b` when it names a path under `crate::b`, `super::b` or
`self::b` (in a `use` or in an expression); a cycle is a set of files that import each
other, directly or through others. An item named through an ancestor that only re-exports it
(`super::CloseCause`, where the parent says `use self::close::CloseCause`) counts as an import
of the module it comes from; items an ancestor defines itself, and an ancestor's declaring
and re-exporting its children, are the module tree, not imports. Test modules
(`#[cfg(test)] mod tests`, at the end of a file by this workspace's convention) are left out:
they may use anything.

Usage: scripts/import-cycles.py [CRATE_DIR ...]   (default: every crate with a src/)
Exits 1 and prints each cycle when there is one.
"""

import re
import sys
from pathlib import Path

PATH = re.compile(r"\b(crate|super|self)((?:::[A-Za-z_][A-Za-z0-9_]*)+)")
GROUP = re.compile(r"\b(crate|super|self)((?:::[A-Za-z_][A-Za-z0-9_]*)*)::\{([^{}]*)\}", re.S)


def module_of(src: Path, file: Path) -> tuple[str, ...]:
    rel = file.relative_to(src).with_suffix("")
    parts = list(rel.parts)
    if parts[-1] in ("mod", "lib", "main"):
        parts = parts[:-1]
    return tuple(parts)


def code_of(file: Path) -> str:
    text = file.read_text()
    cut = text.find("#[cfg(test)]\nmod tests")
    if cut >= 0:
        text = text[:cut]
    # Drop comments, so doc examples and prose do not count.
    return "\n".join(line.split("//", 1)[0] for line in text.splitlines())


USE = re.compile(r"\buse\s+(self|super|crate)((?:::[A-Za-z_][A-Za-z0-9_]*)*)(?:::\{([^{}]*)\}|::([A-Za-z_][A-Za-z0-9_]*)(?:\s+as\s+([A-Za-z_][A-Za-z0-9_]*))?)\s*;", re.S)


def reexports(modules: set, here: tuple, code: str) -> dict:
    """Item name -> the module it comes from, for the `use` declarations of `here`."""
    out = {}
    for m in USE.finditer(code):
        root, prefix, group, single, alias = m.groups()
        stem = [p for p in prefix.split("::") if p]
        items = []
        if group is not None:
            for item in group.split(","):
                item = item.strip()
                if not item or "{" in item:
                    continue
                name, _, rename = item.partition(" as ")
                parts = [p for p in name.strip().split("::") if p]
                items.append((stem + parts, (rename.strip() or parts[-1]) if parts else None))
        elif single is not None:
            items.append((stem + [single], alias or single))
        for path, name in items:
            if not name or name == "self":
                continue
            origin = resolve(modules, here, root, path[:-1], keep_ancestors=True)
            if origin is not None:
                out[name] = origin
    return out


def resolve(modules: set, here: tuple, root: str, rest: list, keep_ancestors=False) -> tuple | None:
    if root == "crate":
        base = ()
    elif root == "self":
        base = here
    else:
        base = here[:-1] if here else ()
    path = list(base)
    for name in rest:
        if name == "super":
            path = path[:-1]
            continue
        if tuple(path + [name]) in modules:
            path.append(name)
        else:
            break
    target = tuple(path)
    if target not in modules or target == here:
        return None
    if not keep_ancestors and here[: len(target)] == target:
        # An ancestor: the item may be one it re-exports from elsewhere.
        name = rest[len([p for p in rest if p != "super"]) - 1] if rest else None
        consumed = len(target) - len(base) if root != "crate" else len(target)
        names = [p for p in rest if p != "super"]
        item = names[consumed] if consumed < len(names) else None
        origin = REEXPORTS.get(target, {}).get(item) if item else None
        if origin is not None and here[: len(origin)] != origin and origin != here:
            return origin
        return None
    return target


REEXPORTS: dict = {}


def edges(modules: set, here: tuple, code: str) -> set:
    found = set()
    for m in GROUP.finditer(code):
        root, prefix, inner = m.group(1), m.group(2), m.group(3)
        stem = [p for p in prefix.split("::") if p]
        for item in inner.split(","):
            item = item.strip().split(" as ")[0].strip()
            if not item or item == "self":
                names = stem
            else:
                names = stem + [p for p in item.split("::") if p]
            target = resolve(modules, here, root, names)
            if target is not None:
                found.add(target)
    for m in PATH.finditer(GROUP.sub("", code)):
        names = [p for p in m.group(2).split("::") if p]
        target = resolve(modules, here, m.group(1), names)
        if target is not None:
            found.add(target)
    return found


def cycles(graph: dict) -> list:
    """Strongly connected components of more than one module (Tarjan)."""
    index, low, stack, on, out = {}, {}, [], set(), []
    counter = [0]

    def visit(v):
        index[v] = low[v] = counter[0]
        counter[0] += 1
        stack.append(v)
        on.add(v)
        for w in graph.get(v, ()):
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

    sys.setrecursionlimit(10_000)
    for v in graph:
        if v not in index:
            visit(v)
    return out


def check(crate: Path) -> list:
    src = crate / "src"
    files = sorted(src.rglob("*.rs"))
    modules = {module_of(src, f): f for f in files}
    codes = {m: code_of(f) for m, f in modules.items()}
    REEXPORTS.clear()
    for m, code in codes.items():
        REEXPORTS[m] = reexports(set(modules), m, code)
    graph = {m: edges(set(modules), m, code) for m, code in codes.items()}
    return [[ "::".join(m) or "(root)" for m in comp] for comp in cycles(graph)]


def main() -> int:
    roots = [Path(a) for a in sys.argv[1:]] or sorted(
        p.parent for p in Path(".").glob("*/src") if (p.parent / "Cargo.toml").exists()
    )
    failed = False
    for crate in roots:
        for comp in check(crate):
            failed = True
            print(f"{crate}: import cycle between {', '.join(comp)}")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
