#!/usr/bin/env python3
"""The repository explains itself: every Markdown document that a source
file, help text, script or document names must be one the repository has
(at the path given, beside the naming file, under docs/, or by its name
anywhere in the tree). Exits 1 naming every reference that leads nowhere,
such as a design note kept outside the repository."""

import os
import re
import sys

ROOT = os.path.abspath(sys.argv[1])
REFERENCE = re.compile(r"(?<![\w./-])((?:\.\./|[\w-]+/)*[\w-]+\.md)\b")
FOLDERS = ["include", "storage", "query", "engine", "bindings", "bench", "docs", "scripts",
           "cmake", "tests", "fuzz"]
SUFFIXES = (".h", ".cc", ".c", ".py", ".md", ".txt", ".sh", ".cmake", ".fbs", ".in")
SKIP = {"build", ".git", "node_modules"}


def files():
    for top in FOLDERS:
        for d, dirs, names in os.walk(os.path.join(ROOT, top)):
            dirs[:] = [x for x in dirs if x not in SKIP and not x.startswith("build-")]
            for n in names:
                yield os.path.join(d, n)
    yield os.path.join(ROOT, "README.md")
    yield os.path.join(ROOT, "CMakeLists.txt")


paths = [p for p in files() if p.endswith(SUFFIXES) and os.path.isfile(p)]
documents = {os.path.basename(p) for p in paths if p.endswith(".md")}
found = []
for path in paths:
    with open(path, encoding="utf-8", errors="replace") as f:
        for no, line in enumerate(f, 1):
            for ref in REFERENCE.findall(line):
                candidates = [os.path.join(os.path.dirname(path), ref), os.path.join(ROOT, ref),
                              os.path.join(ROOT, "docs", ref)]
                inside = [c for c in candidates
                          if os.path.abspath(c).startswith(ROOT + os.sep) and os.path.isfile(c)]
                if not inside and ("/" in ref or os.path.basename(ref) not in documents):
                    found.append("%s:%d: %s" % (os.path.relpath(path, ROOT), no, ref))
for line in found:
    print(line)
print("%d reference(s) to documents the repository does not have" % len(found))
sys.exit(1 if found else 0)
