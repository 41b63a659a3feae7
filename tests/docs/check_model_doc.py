#!/usr/bin/env python3
"""docs/model.md names what the engine knows.

usage: check_model_doc.py DOC_FACTS REPO_ROOT [MODEL_MD]
(MODEL_MD defaults to the repository's docs/model.md)

The lists come from the library at test time (doc_facts, built from the
engine's own tables), never from a copy:
- every permission the engine knows appears in model.md as `name`;
- the built-in roles' table (a row per role: | `name` | id | title |
  permissions |) gives each role's id, title and exact permission set
  ("every permission" or the backquoted names);
- every Frontegg name in the Frontegg table expands to exactly the Canopy
  names given, and every Frontegg name in query/permissions.cc is in it;
- every entity kind and sub_account_access value appears as `name`.
Exits 1 naming each difference."""

import os
import re
import subprocess
import sys

FACTS, ROOT = sys.argv[1], os.path.abspath(sys.argv[2])
DOC = sys.argv[3] if len(sys.argv) > 3 else os.path.join(ROOT, "docs", "model.md")
problems = []


def facts(*args):
    run = subprocess.run([FACTS, *args], capture_output=True, text=True, check=True)
    return [line for line in run.stdout.split("\n") if line]


text = open(DOC, encoding="utf-8").read()
quoted = set(re.findall(r"`([^`\n]+)`", text))

# The permissions the page defines: those in the table rows of its
# "## Permissions" section (Frontegg's table aside), not mentions elsewhere.
section = re.search(r"^## Permissions\n(.*?)(?=^## )", text, re.S | re.M)
defined = set()
for line in (section.group(1) if section else "").split("\n"):
    if line.startswith("|") and not line.startswith("| `fe."):
        defined.update(re.findall(r"`([a-z_]+\.[a-z_]+)`", line))
permissions = facts("permissions")
if len(permissions) < 10:
    problems.append("doc_facts listed only %d permissions" % len(permissions))
for name in permissions:
    if name not in defined:
        problems.append("permission %s is not in the tables of model.md's \"Permissions\" section"
                        % name)
for name in sorted(defined - set(permissions)):
    problems.append("model.md's permission tables name %s, which the engine does not know" % name)

for kind in facts("kinds"):
    if kind not in quoted:
        problems.append("entity kind %s is not in model.md" % kind)
for value in facts("access"):
    if value not in quoted:
        problems.append("sub_account_access value %s is not in model.md" % value)


def table_rows(first_cell, keep=None):
    """The cells of the Markdown table rows whose first cell matches."""
    rows = {}
    for line in text.split("\n"):
        if not line.startswith("|"):
            continue
        cells = [c.strip() for c in line.strip().strip("|").split("|")]
        m = re.fullmatch(first_cell, cells[0])
        if m and (keep is None or keep(cells)):
            rows[m.group(1)] = cells
    return rows


# The built-in roles: rows | `name` | id | title | permissions |.
documented = table_rows(r"`([a-z_]+)`", lambda cells: len(cells) == 4 and cells[1].isdigit())
for line in facts("roles"):
    name, rid, title, perms = line.split("\t")
    row = documented.get(name)
    if row is None or len(row) < 4:
        problems.append("built-in role %s has no row | `%s` | id | title | permissions |" %
                        (name, name))
        continue
    if row[1] != rid:
        problems.append("built-in role %s: model.md says id %s, the engine %s" % (name, row[1], rid))
    if row[2] != title:
        problems.append("built-in role %s: model.md says title %r, the engine %r" %
                        (name, row[2], title))
    held = set(perms.split(",")) if perms else set()
    said = set(permissions) if row[3] == "every permission" else set(re.findall(r"`([^`]+)`", row[3]))
    if said != held:
        problems.append("built-in role %s: model.md lists %s, the engine %s (missing: %s; extra: %s)" %
                        (name, sorted(said), sorted(held), sorted(held - said), sorted(said - held)))

# The Frontegg names: the doc's table against the engine's expansion, and
# every name the engine's source knows against the table.
frontegg = table_rows(r"`(fe\.[^`]+)`")
if not frontegg:
    problems.append("model.md has no Frontegg table (| `fe....` | `canopy.name`, ... |)")
for name, row in frontegg.items():
    (line,) = facts("expand", name)
    expanded = line.split("\t")[1]
    if expanded.startswith("error"):
        problems.append("Frontegg name %s: the engine says %s" % (name, expanded))
        continue
    said = set(re.findall(r"`([^`]+)`", row[1]))
    if said != set(expanded.split(",")):
        problems.append("Frontegg name %s: model.md says %s, the engine %s" %
                        (name, sorted(said), expanded))
source = open(os.path.join(ROOT, "query", "permissions.cc"), encoding="utf-8").read()
for name in sorted(set(re.findall(r'"(fe\.[^"]+)"', source))):
    (line,) = facts("expand", name)
    if not line.split("\t")[1].startswith("error") and name not in frontegg:
        problems.append("Frontegg name %s (query/permissions.cc) is not in model.md's table" % name)

for p in problems:
    print(p)
print("%d difference(s) between docs/model.md and the engine" % len(problems))
sys.exit(1 if problems else 0)
