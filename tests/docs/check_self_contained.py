#!/usr/bin/env python3
"""The repository explains itself: no source file, help text or document
may send a reader to a design brief that is not in the repository
(SPEC.md, DESIGN.md). Exits 1 naming every place that does."""

import os
import re
import sys

ROOT = sys.argv[1]
PATTERN = re.compile(r"\b(SPEC|DESIGN)\.md\b")
FOLDERS = ["include", "storage", "query", "engine", "bindings", "bench", "docs", "scripts",
           "cmake", "tests"]
SUFFIXES = (".h", ".cc", ".c", ".py", ".md", ".txt", ".sh", ".cmake", ".fbs", ".in")

found = []
for top in [os.path.join(ROOT, f) for f in FOLDERS] + [os.path.join(ROOT, "README.md"),
                                                      os.path.join(ROOT, "CMakeLists.txt")]:
    paths = [top] if os.path.isfile(top) else [
        os.path.join(d, n) for d, _, names in os.walk(top) for n in names]
    for path in paths:
        if not path.endswith(SUFFIXES) or path == os.path.abspath(__file__):
            continue
        with open(path, encoding="utf-8", errors="replace") as f:
            for no, line in enumerate(f, 1):
                if PATTERN.search(line):
                    found.append("%s:%d: %s" % (os.path.relpath(path, ROOT), no, line.strip()))
for line in found:
    print(line)
print("%d reference(s) to documents outside the repository" % len(found))
sys.exit(1 if found else 0)
