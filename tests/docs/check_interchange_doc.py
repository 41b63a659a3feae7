#!/usr/bin/env python3
"""docs/interchange.md's grammar is exactly what import accepts.

usage: check_interchange_doc.py DOC_FACTS REPO_ROOT [INTERCHANGE_MD]
(INTERCHANGE_MD defaults to the repository's docs/interchange.md)

Reads the grammar block after `<!-- interchange-grammar -->` in
docs/interchange.md: each record is an alternative of the form
  {"type":"<record>", ["kind":<kind>,] "<field>":<value>, ?"<field>":<value>, ...}
('?' marks an optional field; a value is a JSON literal, [..] for an array,
or a name defined in the block). Then asks the engine itself, through real
imports into a scratch database (doc_facts import), and fails on any
difference:

- which record types import accepts: every documented one, and none of the
  candidates beyond them;
- for each record (and each entity kind), which fields it accepts: the
  documented ones, and none of the other candidates; which are required
  (leaving one out is "missing field"); and the JSON type of each (a
  string where a bool, object, array or number belongs is named as such);
- the same for an object-valued field with fixed fields (`settings`);
- the entity kinds and `access` values against the engine's lists.

The candidates are every identifier-like string literal in the engine's
source (engine/, query/, storage/), every key of a sample export that
doc_facts writes with one of everything, and the grammar's own names, so a
field the parser starts to accept is found even where this test has never
heard of it. Exits 1 naming each difference."""

import glob
import json
import os
import re
import subprocess
import sys
import tempfile

FACTS, ROOT = sys.argv[1], os.path.abspath(sys.argv[2])
DOC = sys.argv[3] if len(sys.argv) > 3 else os.path.join(ROOT, "docs", "interchange.md")
problems = []


def facts(*args):
    run = subprocess.run([FACTS, *args], capture_output=True, text=True)
    if run.returncode != 0:
        sys.exit("doc_facts %s failed: %s" % (" ".join(args[:1]), run.stderr))
    return [line for line in run.stdout.split("\n") if line]


# ---- The grammar --------------------------------------------------------

text = open(DOC, encoding="utf-8").read()
m = re.search(r"<!-- interchange-grammar -->\s*```\w*\n(.*?)```", text, re.S)
if not m:
    sys.exit("docs/interchange.md has no grammar block after <!-- interchange-grammar -->")
definitions = {}  # name -> right-hand side (continuation lines joined)
current = None
for line in m.group(1).split("\n"):
    d = re.match(r"([\w-]+)\s*:=\s*(.*)", line)
    if d:
        current = d.group(1)
        definitions[current] = d.group(2)
    elif current and line.strip():
        definitions[current] += " " + line.strip()

FIELD = re.compile(r'(\?)?"(\w+)"\s*:\s*("[\w-]*"|\[[^\]]*\]|[\w-]+)')


def objects(rhs):
    """The {...} alternatives of a right-hand side, each a list of
    (field, value, optional)."""
    return [[(f, v, bool(q)) for q, f, v in FIELD.findall(body)]
            for body in re.findall(r"\{([^{}]*\"[^{}]*)\}", rhs)]


def literals(name):
    """The string alternatives of a definition like a := "x" | "y"."""
    return re.findall(r'"([\w-]+)"', definitions.get(name, ""))


STRING, BOOL, OBJECT, ARRAY, NUMBER = "string", "bool", "object", "array", "number"
KINDS = {"bool": BOOL, "count": NUMBER}


def json_kind(value):
    if value.startswith("["):
        return ARRAY
    if value.startswith('"'):
        return STRING
    if value in KINDS:
        return KINDS[value]
    rhs = definitions.get(value)
    if rhs is None:
        problems.append("the grammar uses '%s' but does not define it" % value)
        return STRING
    return OBJECT if rhs.lstrip().startswith("{") else (
        OBJECT if "JSON object" in rhs else
        NUMBER if "JSON number" in rhs else STRING)


# Records: (record type, kind or None) -> {field: (json kind, optional)}
records = {}
nested = {}  # (record type, field) -> {field: (json kind, optional)} for fixed-field objects
for name, rhs in definitions.items():
    for alternative in objects(rhs):
        if not alternative or alternative[0][0] != "type" or not alternative[0][1].startswith('"'):
            continue  # not a record: a nested object, handled below
        rtype = alternative[0][1].strip('"')
        fields = alternative[1:]
        kinds = [None]
        kind_field = [f for f in fields if f[0] == "kind"]
        if kind_field:
            value = kind_field[0][1]
            kinds = [value.strip('"')] if value.startswith('"') else literals(value)
            if not kinds:
                problems.append("record %s: kind '%s' lists no kinds" % (rtype, value))
        for kind in kinds:
            spec = {}
            for f, value, optional in fields:
                spec[f] = (json_kind(value), optional)
                sub = definitions.get(value, "")
                if sub.lstrip().startswith("{"):
                    (inner,) = objects(sub) or [[]]
                    nested[(rtype, f)] = {g: (json_kind(v), o) for g, v, o in inner}
            key = (rtype, kind)
            if key in records:
                problems.append("record %s%s is defined twice" % (rtype, " kind " + kind if kind else ""))
            records[key] = spec
if len(records) < 3:
    sys.exit("the grammar block defines only %d record(s); is it in the form this test reads?" %
             len(records))

documented_types = {rtype for rtype, _ in records}
entity_kinds = {kind for (rtype, kind) in records if kind and rtype == "entity"}
if entity_kinds and entity_kinds != set(facts("kinds")):
    problems.append("the grammar's entity kinds %s differ from the engine's %s" %
                    (sorted(entity_kinds), sorted(facts("kinds"))))
if set(literals("group-kind")) != set(facts("group-kinds")):
    problems.append("the grammar's group kinds %s differ from the engine's %s" %
                    (sorted(literals("group-kind")), sorted(facts("group-kinds"))))
if set(literals("access")) != set(facts("access")):
    problems.append("the grammar's access values %s differ from the engine's %s" %
                    (sorted(literals("access")), sorted(facts("access"))))

# ---- Candidates ---------------------------------------------------------

candidates = set()
for folder in ("engine", "query", "storage"):
    for path in glob.glob(os.path.join(ROOT, folder, "*.cc")) + glob.glob(os.path.join(ROOT, folder, "*.h")):
        source = open(path, encoding="utf-8", errors="replace").read()
        candidates.update(re.findall(r'"([a-z_][a-z0-9_]*)"', source))
for spec in list(records.values()) + list(nested.values()):
    candidates.update(spec)
candidates.update(documented_types)

tmp = tempfile.TemporaryDirectory(prefix="canopy-interchange-doc-")
sample = os.path.join(tmp.name, "sample.jsonl")
facts("export", os.path.join(tmp.name, "sample-db"), sample)


def keys(value):
    if isinstance(value, dict):
        for k, v in value.items():
            yield k
            yield from keys(v)
    elif isinstance(value, list):
        for v in value:
            yield from keys(v)


for line in open(sample, encoding="utf-8"):
    # json.loads keeps the last of repeated keys; the names are what count.
    candidates.update(re.findall(r'"(\w+)"\s*:', line))
    candidates.update(keys(json.loads(line)))

# ---- Probing ------------------------------------------------------------

USERS = 2 * len(candidates) + 50  # a fresh member for every membership probe
ENTITY_KINDS = ["device", "asset", "dashboard", "entity_view"]
# What group records name: a group of every kind in `base`, and a member for
# each (an entity of each kind, a user created in base, a sub-account).
base = [
    {"type": "account", "key": "base", "name": "Base", "settings": {"sub_account_management": True}},
    {"type": "account", "key": "base-sub", "name": "Sub", "parent": "base"},
    {"type": "user", "login": "grouped", "name": "G", "account": "base"},
] + [{"type": "user", "login": "member-%d" % i, "name": "M", "account": "base"} for i in range(USERS)] + [
    {"type": "entity", "kind": k, "key": "probe-" + k, "name": "E", "account": "base"}
    for k in ENTITY_KINDS] + [
    {"type": "group", "kind": k, "name": "probe-" + k, "account": "base"}
    for k in ENTITY_KINDS + ["user", "account"]]
GROUP_MEMBERS = dict({k: "probe-" + k for k in ENTITY_KINDS}, user="grouped", account="base-sub")
counter = [0]


def unique(prefix):
    counter[0] += 1
    return "%s-%d" % (prefix, counter[0])


members = iter(range(USERS))
# A valid value for each required field; a new required field needs one here.
VALUES = {
    "key": lambda: unique("key"),
    "name": lambda: "Name",
    "parent": lambda: "base",
    "account": lambda: "base",
    "tenant": lambda: "base",
    "login": None,  # depends on the record (below)
    "role": lambda: "viewer",
    "permissions": lambda: [],
    "records": lambda: 0,
    "format": lambda: 1,
    "xxh3": lambda: "2d06800538d394c2",  # XXH3-64 of nothing: the end line alone
}


def template(rtype, kind):
    """[(field, JSON text)] of a valid record with only its required fields."""
    pairs = [("type", json.dumps(rtype))]
    if kind:
        pairs.append(("kind", json.dumps(kind)))
    for f, (_, optional) in records[(rtype, kind)].items():
        if optional or f == "kind":
            continue
        if f == "login":
            value = unique("login") if rtype == "user" else "member-%d" % next(members)
        elif rtype == "group" and f == "name":
            value = unique("group")
        elif f == "group":
            value = "probe-" + (kind or "user")  # a group_grant's is a user group
        elif f == "member":
            value = GROUP_MEMBERS[kind]
        elif f in VALUES:
            value = VALUES[f]()
        else:
            problems.append("record %s: no probe value for required field '%s' (add one to VALUES "
                            "in tests/docs/check_interchange_doc.py)" % (rtype, f))
            value = "x"
        pairs.append((f, json.dumps(value)))
    return pairs


def line_of(pairs):
    return "{" + ",".join("%s:%s" % (json.dumps(f), v) for f, v in pairs) + "}"


# Refusals that mean "this record never has that field", from a parser that
# reads the field for every kind and then refuses it where it does not
# belong. Each must be explained in docs/interchange.md.
NOT_FOR_THIS_RECORD = ["only devices have a unit id"]
for reason in NOT_FOR_THIS_RECORD:
    if reason not in text:
        problems.append("docs/interchange.md does not mention the refusal '%s'" % reason)



def refuses(answer, field):
    """Does import's answer refuse the field itself (rather than its value)?"""
    return ("unknown field '%s'" % field in answer or "field '%s' is repeated" % field in answer or
            any(reason in answer for reason in NOT_FOR_THIS_RECORD))


probes = []  # (variant, file text, check(answer) -> problem or None)
variant = [None]  # the record the probes being added belong to


def probe(text_, check):
    probes.append((variant[0], text_, check))


def name(rtype, kind):
    return rtype + (" (kind %s)" % kind if kind else "")


# Record types: every documented one and every candidate.
for cand in sorted(candidates | documented_types):
    def check(answer, cand=cand):
        accepted = "unknown record type '%s'" % cand not in answer
        if accepted and cand not in documented_types:
            return "import accepts record type '%s', which the grammar lacks" % cand
        if not accepted and cand in documented_types:
            return "the grammar has record type '%s', which import refuses: %s" % (cand, answer)
        return None
    probe(json.dumps({"type": cand}) + "\n", check)

for (rtype, kind), spec in records.items():
    what = name(rtype, kind)
    variant[0] = what
    base_pairs = template(rtype, kind)

    def check_valid(answer, what=what, line=line_of(base_pairs)):
        if answer != "ok":
            return "%s: a record with only its required fields is refused: %s (line %s)" % (
                what, answer, line)
        return None
    probe(line_of(base_pairs) + "\n", check_valid)

    # Required fields: leaving one out is "missing field".
    for f, (_, optional) in spec.items():
        if optional:
            continue
        pairs = [p for p in template(rtype, kind) if p[0] != f]

        def check_required(answer, f=f, what=what):
            if "missing field '%s'" % f not in answer:
                return "%s: the grammar says '%s' is required, but without it import says: %s" % (
                    what, f, answer)
            return None
        probe(line_of(pairs) + "\n", check_required)

    # JSON types: a string given where the documented type belongs.
    for f, (json_type, optional) in spec.items():
        if f == "kind":
            continue
        pairs = [p for p in template(rtype, kind) if p[0] != f or f == "type"] + [(f, json.dumps("x"))]
        expected = {BOOL: "must be true or false", OBJECT: "must be an object",
                    ARRAY: "must be an array", NUMBER: "must be a number"}.get(json_type)

        def check_type(answer, f=f, what=what, expected=expected, json_type=json_type):
            if refuses(answer, f):
                return "%s: the grammar has field '%s', which import refuses: %s" % (what, f, answer)
            said = re.search(r"field '%s' must be [a-z ]+" % f, answer)
            if expected is None and said:
                return "%s: the grammar says '%s' is a string, but import says: %s" % (what, f, said.group(0))
            if expected is not None and "field '%s' %s" % (f, expected) not in answer:
                return "%s: the grammar says '%s' is a %s, but import says: %s" % (
                    what, f, json_type, answer)
            return None
        probe(line_of(pairs) + "\n", check_type)

    # Every candidate as one more field: accepted only if documented.
    for cand in sorted(candidates):
        if cand in spec and cand != "type":
            continue  # documented, and given (required) or probed above
        pairs = template(rtype, kind) + [(cand, json.dumps("x"))]
        listed = cand in spec

        def check_field(answer, cand=cand, what=what, listed=listed):
            refused = refuses(answer, cand)
            if not refused and not listed:
                return "%s: import accepts field '%s', which the grammar lacks (%s)" % (what, cand, answer)
            if refused and listed:
                return "%s: the grammar has field '%s', which import refuses: %s" % (what, cand, answer)
            return None
        probe(line_of(pairs) + "\n", check_field)

    # Objects with fixed fields (settings): the same inside them.
    for (nrtype, field), inner in nested.items():
        if nrtype != rtype:
            continue
        for cand in sorted(candidates | set(inner)):
            pairs = template(rtype, kind) + [(field, json.dumps({cand: "x"}))]
            listed = cand in inner
            inner_type = inner.get(cand, (STRING, True))[0]
            expected = {BOOL: "must be true or false", OBJECT: "must be an object",
                        ARRAY: "must be an array", NUMBER: "must be a number"}.get(inner_type)

            def check_inner(answer, cand=cand, what=what, field=field, listed=listed,
                            expected=expected):
                refused = "unknown field '%s'" % cand in answer
                if not refused and not listed:
                    return "%s: import accepts '%s.%s', which the grammar lacks (%s)" % (
                        what, field, cand, answer)
                if refused and listed:
                    return "%s: the grammar has '%s.%s', which import refuses: %s" % (
                        what, field, cand, answer)
                if listed and expected and "field '%s' %s" % (cand, expected) not in answer:
                    return "%s: the grammar gives '%s.%s' another type than import: %s" % (
                        what, field, cand, answer)
                if listed and not expected and re.search(r"field '%s' must be" % cand, answer):
                    return "%s: the grammar says '%s.%s' is a string; import: %s" % (
                        what, field, cand, answer)
                return None
            probe(line_of(pairs) + "\n", check_inner)

# Run them all in one scratch database (a refused import changes nothing;
# every probe's keys are its own).
base_file = os.path.join(tmp.name, "base.jsonl")
with open(base_file, "w", encoding="utf-8") as f:
    for record in base:
        f.write(json.dumps(record) + "\n")
paths = [base_file]
for i, (_, body, _) in enumerate(probes):
    path = os.path.join(tmp.name, "probe-%d.jsonl" % i)
    with open(path, "w", encoding="utf-8") as f:
        f.write(body)
    paths.append(path)
answers = facts("import", os.path.join(tmp.name, "db"), *paths)
if len(answers) != len(paths):
    sys.exit("doc_facts answered %d of %d imports" % (len(answers), len(paths)))
if answers[0] != "ok":
    sys.exit("the probes' base file is refused: " + answers[0])
# A record refused with only its required fields says it all: its other
# probes would only repeat that refusal.
broken = set()
for (what, body, check), answer in zip(probes, answers[1:]):
    if what in broken:
        continue
    # A begin line alone is a valid line in a file cut short: import reads
    # it whole (any field it refuses is refused first), then refuses the
    # file for its missing end line. That is a line accepted.
    if what == "begin" and "without the end line its begin line promises" in answer:
        answer = "ok"
    problem = check(answer)
    if problem:
        problems.append(problem)
        if problem.startswith("%s: a record with only its required fields" % what):
            broken.add(what)

for p in problems:
    print(p)
print("%d probe(s) of %d record(s) and %d candidate name(s); %d difference(s) between "
      "docs/interchange.md and import" % (len(probes), len(records), len(candidates), len(problems)))
sys.exit(1 if problems else 0)
