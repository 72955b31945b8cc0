#!/usr/bin/env python3
"""The import graph of nakku-core's modules: which top-level module of nakku-core/src refers
to which (`crate::x` paths, grouped `crate::{x, y}` imports), and whether it has a cycle.

    scripts/import-graph.py            # edges, cycles, and files over 700 lines
    scripts/import-graph.py --check    # exit 1 on a cycle (run by .ci/run)
    scripts/import-graph.py --dot      # Graphviz

A domain's `events` module is its contract with other services, and a node of its own
(`order::events`): consumers import the contract of the domain they listen to, not the
domain, so `order` may read `delivery::events` while `delivery` reads `order::events`.
For that to be a DAG, a contract imports no domain (its own included): only leaves and
other contracts. Test modules are left out (they may reach anywhere).
"""
import os
import re
import sys
from collections import defaultdict

ROOT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "nakku-core", "src")
REF = re.compile(r"\bcrate::([a-z_]+)(?:::([a-z_]+))?")
GROUP = re.compile(r"\bcrate::\{([^}]*)\}")
COMMENT = re.compile(r"//[^\n]*")


def modules():
    mods = set()
    for name in os.listdir(ROOT):
        if name.endswith(".rs") and name not in ("lib.rs",):
            mods.add(name[:-3])
        elif os.path.isdir(os.path.join(ROOT, name)):
            mods.add(name)
    return mods


def strip_tests(text):
    # Test modules may reach anywhere; the graph is of the code that ships.
    i = text.find("#[cfg(test)]\nmod tests")
    return text if i < 0 else text[:i]


def node_of(rel):
    parts = rel.split(os.sep)
    top = parts[0][:-3] if parts[0].endswith(".rs") else parts[0]
    if len(parts) == 2 and parts[1] == "events.rs":
        return top + "::events", top
    return top, top


def edges():
    mods = modules()
    out = defaultdict(set)
    lines = {}
    for dirpath, _, files in os.walk(ROOT):
        for f in files:
            if not f.endswith(".rs"):
                continue
            path = os.path.join(dirpath, f)
            rel = os.path.relpath(path, ROOT)
            text = open(path, encoding="utf-8").read()
            lines[rel] = text.count("\n")
            node, top = node_of(rel)
            if top == "lib":
                continue
            code = COMMENT.sub("", strip_tests(text))
            refs = [(m.group(1), m.group(2)) for m in REF.finditer(code)]
            for g in GROUP.finditer(code):
                for item in g.group(1).split(","):
                    parts = [p.strip() for p in item.strip().split("::")]
                    if parts and parts[0]:
                        refs.append((parts[0], parts[1] if len(parts) > 1 else None))
            if node.endswith("::events") and re.search(r"\bsuper::", code):
                refs.append((top, None))
            for target, sub in refs:
                if target not in mods:
                    continue
                dest = target + "::events" if sub == "events" else target
                if dest != node and not (dest == top and node == top):
                    out[node].add(dest)
    return mods, out, lines


def cycles(graph):
    """Strongly connected components with more than one module (Tarjan)."""
    index, low, stack, on, found = {}, {}, [], set(), []
    counter = [0]

    def visit(v):
        index[v] = low[v] = counter[0]
        counter[0] += 1
        stack.append(v)
        on.add(v)
        for w in sorted(graph.get(v, ())):
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
                found.append(sorted(comp))

    sys.setrecursionlimit(10000)
    for v in sorted(graph):
        if v not in index:
            visit(v)
    return found


def main():
    mods, graph, lines = edges()
    found = cycles(graph)
    if "--dot" in sys.argv:
        print("digraph nakku_core {")
        for a in sorted(graph):
            for b in sorted(graph[a]):
                print(f'  "{a}" -> "{b}";')
        print("}")
        return 0
    if "--check" not in sys.argv:
        for a in sorted(graph):
            print(f"{a} -> {', '.join(sorted(graph[a]))}")
        print()
        big = sorted(((n, f) for f, n in lines.items() if n > 700), reverse=True)
        print(f"{len(big)} files over 700 lines:")
        for n, f in big:
            print(f"  {n:5}  {f}")
        print()
    edge_count = sum(len(v) for v in graph.values())
    mods = set(graph) | {b for v in graph.values() for b in v}
    if found:
        print(f"{edge_count} imports between {len(mods)} modules; {len(found)} cycle(s):")
        for c in found:
            print("  " + " <-> ".join(c))
        return 1 if "--check" in sys.argv else 0
    print(f"{edge_count} imports between {len(mods)} modules; no cycle")
    return 0


if __name__ == "__main__":
    sys.exit(main())
