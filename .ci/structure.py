#!/usr/bin/env python3
"""The shape of the source, counted: files, functions and module imports of each library crate.

Prints, for every crate (`models`, `training`, `experiments`, `datasets`, the binary's `src`):
library files over the line limit, functions over the line limit, the imports between its
modules that close a circle (an arrow from A to B where B also reaches A), and the imports that
run back up between its rooms (its top-level folders and files: an import from room A into room
B where B's modules also reach A's, though no module-level circle closes). Exits 1 when any
limit is broken, so CI keeps the house as it was built.

    python3 .ci/structure.py                          # every crate must keep the limits
    python3 .ci/structure.py --enforce models/src     # only these must (CI); the rest reported
    python3 .ci/structure.py --graph                  # also print every crate's import arrows

An import is any `crate::…` or `super::…` path in a file (in `use` or inline), resolved to the
module that defines the name, following `pub use` re-exports of the crate root and of a
folder's `mod.rs`.
"""
import re
import sys
from pathlib import Path

FILE_LIMIT = 400
FN_LIMIT = 70
CRATES = ["models/src", "training/src", "experiments/src", "datasets/src", "src", "python/src"]


def strip_comments_and_strings(text):
    text = re.sub(r"'(\\.|[^'\\\n])'", "' '", text)
    text = re.sub(r"//[^\n]*", "", text)
    text = re.sub(r"/\*.*?\*/", "", text, flags=re.S)
    text = re.sub(r'r#"(.*?)"#', lambda m: '""' + "\n" * m.group(0).count("\n"), text, flags=re.S)
    text = re.sub(r'"(\\.|[^"\\])*"', lambda m: '""' + "\n" * m.group(0).count("\n"), text, flags=re.S)
    return text


def module_of(root, path):
    rel = path.relative_to(root).with_suffix("")
    parts = list(rel.parts)
    if parts[-1] in ("lib", "main", "mod"):
        parts = parts[:-1]
    return tuple(parts)


def expand_use(tree):
    """`a::{b, c::{d, e}}` → ['a::b', 'a::c::d', 'a::c::e']."""
    tree = re.sub(r"\s+", "", tree)
    depth, start = 0, None
    for i, ch in enumerate(tree):
        if ch == "{":
            if depth == 0:
                start = i
            depth += 1
        elif ch == "}":
            depth -= 1
            if depth == 0:
                prefix, inner, rest = tree[:start], tree[start + 1:i], tree[i + 1:]
                items, d, cur = [], 0, ""
                for c in inner:
                    if c == "," and d == 0:
                        items.append(cur)
                        cur = ""
                        continue
                    d += c == "{"
                    d -= c == "}"
                    cur += c
                items.append(cur)
                out = []
                for item in items:
                    if item:
                        out += expand_use(prefix + item + rest)
                return out
    return [re.sub(r"\bas\b.*$", "", tree)]


def paths_in(text):
    """Every `crate::…`/`super::…` path, `use` trees expanded."""
    paths = []
    for m in re.finditer(r"\buse\s+((?:crate|super|self)::[^;]*);", text, flags=re.S):
        paths += expand_use(m.group(1))
    body = re.sub(r"\buse\s+[^;]*;", "", text, flags=re.S)
    paths += re.findall(r"\b(?:crate|super)(?:::\w+)+", body)
    return paths


def crate_graph(root):
    files = sorted(p for p in root.rglob("*.rs"))
    if root.name == "src" and root.parent == Path("."):
        files = [p for p in files if p.parent == root]  # the binary's own modules
    mods = {module_of(root, p): p for p in files}
    texts = {m: strip_comments_and_strings(p.read_text()) for m, p in mods.items()}
    reexports = {}  # (module, name) -> module path tuple of the source
    for m, text in texts.items():
        for use in re.finditer(r"\bpub(?:\([^)]*\))?\s+use\s+([^;]*);", text, flags=re.S):
            for full in expand_use(use.group(1)):
                parts = [p for p in full.split("::") if p]
                if not parts:
                    continue
                reexports[(m, parts[-1])] = resolve_parts(m, parts)

    def resolve(m, parts, seen=0):
        parts = resolve_parts(m, parts)
        if parts is None:
            return None
        # the longest prefix that is a module
        for n in range(len(parts), -1, -1):
            if tuple(parts[:n]) in mods:
                base = tuple(parts[:n])
                rest = parts[n:]
                if rest and (base, rest[0]) in reexports and seen < 8:
                    target = reexports[(base, rest[0])]
                    if target is not None and tuple(target) != base + (rest[0],):
                        return resolve((), ["crate"] + list(target), seen + 1) or base
                return base
        return None

    edges = set()
    for m, text in texts.items():
        for path in paths_in(text):
            parts = [p for p in path.split("::") if p]
            target = resolve(m, parts)
            if target is not None and target != m:
                edges.add((m, target))
    return mods, edges


def is_ancestor(a, b):
    return len(a) < len(b) and b[: len(a)] == a


def resolve_parts(m, parts):
    """A path from module m → absolute parts (without `crate`)."""
    if not parts:
        return None
    if parts[0] == "crate":
        return parts[1:]
    cur = list(m)
    while parts and parts[0] in ("super", "self"):
        if parts[0] == "super":
            if not cur:
                return None
            cur = cur[:-1]
        parts = parts[1:]
    return cur + list(parts)


def circles(mods, edges):
    """Edges inside a strongly connected component (Tarjan)."""
    graph = {m: [] for m in mods}
    for a, b in edges:
        graph[a].append(b)
    index, low, stack, on, comp, counter = {}, {}, [], set(), {}, [0]

    def strong(v):
        index[v] = low[v] = counter[0]
        counter[0] += 1
        stack.append(v)
        on.add(v)
        for w in graph[v]:
            if w not in index:
                strong(w)
                low[v] = min(low[v], low[w])
            elif w in on:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            while True:
                w = stack.pop()
                on.discard(w)
                comp[w] = v
                if w == v:
                    break

    sys.setrecursionlimit(10000)
    for v in graph:
        if v not in index:
            strong(v)
    return sorted((a, b) for a, b in edges if comp[a] == comp[b])


def back_up_imports(mods, edges):
    """Module imports between two rooms (a crate's top-level modules, a folder with all it
    holds) that reach each other: the arrows of circles in the graph of rooms."""
    room = lambda m: m[:1]
    rooms = {room(m) for m in mods}
    room_edges = {(room(a), room(b)) for a, b in edges if room(a) != room(b) and room(a) and room(b)}
    closing = set(circles(rooms, room_edges))
    return sorted((a, b) for a, b in edges if (room(a), room(b)) in closing)


def long_functions(path):
    lines = path.read_text().split("\n")
    text = strip_comments_and_strings(path.read_text()).split("\n")
    out = []
    i = 0
    while i < len(text):
        m = re.match(r"\s*(?:pub(?:\([^)]*\))?\s+)?(?:const\s+)?(?:async\s+)?(?:unsafe\s+)?fn\s+(\w+)", text[i])
        if m:
            depth, started, j = 0, False, i
            while j < len(text):
                for ch in text[j]:
                    if ch == "{":
                        depth += 1
                        started = True
                    elif ch == "}":
                        depth -= 1
                if started and depth == 0:
                    break
                if not started and text[j].rstrip().endswith(";"):
                    break
                j += 1
            length = j - i + 1
            if started and length > FN_LIMIT:
                out.append((m.group(1), i + 1, length))
            i += 1 if not started else 1
            continue
        i += 1
    del lines
    return out


def main():
    show = "--graph" in sys.argv
    enforced = [a for i, a in enumerate(sys.argv) if i > 0 and sys.argv[i - 1] == "--enforce"]
    broken = 0
    for crate in CRATES:
        before = broken
        root = Path(crate)
        mods, edges = crate_graph(root)
        back = circles(mods, edges)
        up = back_up_imports(mods, edges)
        name = lambda m: "::".join(m) or "(root)"
        print(
            f"{crate}: {len(mods)} modules, {len(edges)} import arrows, {len(back)} in circles, "
            f"{len(up)} back up between rooms"
        )
        for a, b in back:
            print(f"  circle: {name(a)} -> {name(b)}")
        for a, b in up:
            print(f"  back up: {name(a)} -> {name(b)} ({a[0]} and {b[0]} import each other)")
        if show:
            for a, b in sorted(edges):
                print(f"  {name(a)} -> {name(b)}")
        broken += len(back) + len(up)
        for path in sorted(mods.values()):
            n = len(path.read_text().split("\n")) - 1
            if n > FILE_LIMIT:
                print(f"  file over {FILE_LIMIT} lines: {path} ({n})")
                broken += 1
            for fn, line, length in long_functions(path):
                print(f"  function over {FN_LIMIT} lines: {path}:{line} {fn} ({length})")
                broken += 1
        if enforced and crate not in enforced:
            broken = before  # reported, not enforced
    scope = f" in {', '.join(enforced)}" if enforced else ""
    print(f"structure: ok{scope}" if not broken else f"structure: {broken} limits broken{scope}")
    return 1 if broken else 0


if __name__ == "__main__":
    sys.exit(main())
