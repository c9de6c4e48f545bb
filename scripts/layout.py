#!/usr/bin/env python3
"""Checks the shape of the code that review asks for, so that it cannot drift back:

- no non-test source file (under crates/*/src) is over 800 lines;
- no import cycle between the files of one crate: a file that uses an item of
  another file (`use crate::a::X`, `super::b::Y`, a path written inline) depends on
  it, and no file depends on itself through others. Unit-test modules
  (`#[cfg(test)]`) are left out: they import their own file's items.

Usage: scripts/layout.py [--max-lines N]   (exit 1 with the offenders listed)
"""

import argparse
import pathlib
import re
import sys

ROOT = pathlib.Path(__file__).resolve().parent.parent


def module_path(src: pathlib.Path, f: pathlib.Path):
    rel = f.relative_to(src).with_suffix("")
    parts = list(rel.parts)
    if parts[-1] in ("lib", "main", "mod"):
        parts = parts[:-1]
    if parts and parts[0] == "bin":
        return None  # each src/bin file is a crate of its own
    return tuple(parts)


def strip(text: str) -> str:
    """The text without comments, string literals and #[cfg(test)] items."""
    text = re.sub(r"//[^\n]*", "", text)
    text = re.sub(r"/\*.*?\*/", "", text, flags=re.S)
    text = re.sub(r'r#*"(?:.|\n)*?"#*', '""', text)
    text = re.sub(r'"(?:\\.|[^"\\])*"', '""', text)
    out, i = [], 0
    for m in re.finditer(r"#\[cfg\(test\)\]", text):
        if m.start() < i:
            continue
        out.append(text[i:m.start()])
        j = text.find("{", m.end())
        semi = text.find(";", m.end())
        if j < 0 or (0 <= semi < j):
            i = semi + 1
            continue
        depth = 0
        k = j
        while k < len(text):
            if text[k] == "{":
                depth += 1
            elif text[k] == "}":
                depth -= 1
                if depth == 0:
                    break
            k += 1
        i = k + 1
    out.append(text[i:])
    return "".join(out)


def expand(tree: str):
    """`a::{b, c::{d, e}}` -> [a::b, a::c::d, a::c::e]."""
    tree = re.sub(r"\s+", "", tree)
    if "{" not in tree:
        return [tree]
    head, rest = tree.split("{", 1)
    body = rest[: rest.rfind("}")]
    parts, depth, cur = [], 0, ""
    for ch in body:
        if ch == "," and depth == 0:
            parts.append(cur)
            cur = ""
            continue
        depth += ch == "{"
        depth -= ch == "}"
        cur += ch
    parts.append(cur)
    return [p for part in parts if part for p in expand(head + part)]


def paths_of(text: str):
    found = []
    for m in re.finditer(r"\buse\s+([^;]+);", text):
        found += expand(m.group(1))
    found += re.findall(r"\b((?:crate|super|self)(?:::\w+)+)", text)
    return found


def resolve(path: str, here, modules):
    path = re.sub(r"\s+as\s+\w+$", "", path)
    path = path.split(" as ")[0]
    segs = path.split("::")
    if segs[0] == "crate":
        base, segs = [], segs[1:]
    elif segs[0] in ("super", "self"):
        base = list(here)
        while segs and segs[0] in ("super", "self"):
            if segs[0] == "super":
                if not base:
                    return None
                base.pop()
            segs = segs[1:]
    else:
        return None
    full = tuple(base + [s for s in segs if s != "*"])
    for n in range(len(full), -1, -1):
        if full[:n] in modules:
            return full[:n]
    return None


def cycles(graph):
    """Strongly connected components with more than one file (Tarjan)."""
    index, low, on, stack, out = {}, {}, set(), [], []
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
                out.append(comp)

    for v in list(graph):
        if v not in index:
            visit(v)
    return out


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--max-lines", type=int, default=800)
    args = ap.parse_args()
    problems = []
    for src in sorted(ROOT.glob("crates/*/src")):
        files = sorted(src.rglob("*.rs"))
        for f in files:
            n = sum(1 for _ in f.open(encoding="utf-8"))
            if n > args.max_lines:
                problems.append(f"{f.relative_to(ROOT)}: {n} lines (at most {args.max_lines})")
        # The library's files (a binary's main.rs beside a lib.rs only uses it).
        for root_name in ("lib.rs",) if (src / "lib.rs").exists() else ("main.rs",):
            modules = {}
            for f in files:
                if f.parent == src and f.name in ("lib.rs", "main.rs") and f.name != root_name:
                    continue
                mp = module_path(src, f)
                if mp is not None:
                    modules[mp] = f
            graph = {}
            for mp, f in modules.items():
                text = strip(f.read_text(encoding="utf-8"))
                deps = set()
                for p in paths_of(text):
                    t = resolve(p, mp, modules)
                    if t is not None and t != mp:
                        deps.add(t)
                graph[mp] = deps
            for comp in cycles(graph):
                names = sorted(str(modules[m].relative_to(ROOT)) for m in comp)
                problems.append("import cycle: " + " <-> ".join(names))
    for p in problems:
        print(f"layout: {p}", file=sys.stderr)
    if problems:
        sys.exit(1)
    print("layout: every source file under the line limit, no import cycle between files")


if __name__ == "__main__":
    main()
