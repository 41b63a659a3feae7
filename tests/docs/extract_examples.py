#!/usr/bin/env python3
"""Extracts a Markdown page's examples so the test suite can run them.

usage: extract_examples.py PAGE OUT_DIR   (PAGE: a Markdown file)

An example is a fenced code block right after an HTML comment
`<!-- example: NAME -->`; its expected output, when shown, is the fenced
block after `<!-- output: NAME -->`. Writes NAME.<lang> and NAME.out into
the output folder (made only when the page has examples) and prints the
names found, one per line.
"""
import pathlib
import re
import sys

EXT = {"cpp": "cc", "c": "c", "python": "py", "sh": "sh"}


def main():
    page, out = pathlib.Path(sys.argv[1]), pathlib.Path(sys.argv[2])
    text = page.read_text(encoding="utf-8")
    block = r"\s*```(\w*)\n(.*?)```"
    names = []
    for m in re.finditer(r"<!-- example: ([\w-]+) -->" + block, text, re.S):
        name, lang, body = m.group(1), m.group(2), m.group(3)
        if lang not in EXT:
            sys.exit(f"{page.name} example {name}: unknown language '{lang}'")
        out.mkdir(parents=True, exist_ok=True)
        (out / f"{name}.{EXT[lang]}").write_text(body, encoding="utf-8")
        names.append(f"{name}.{EXT[lang]}")
    for m in re.finditer(r"<!-- output: ([\w-]+) -->" + block, text, re.S):
        if f"{m.group(1)}" not in {n.rsplit(".", 1)[0] for n in names}:
            sys.exit(f"{page.name}: output {m.group(1)} has no example of that name")
        (out / f"{m.group(1)}.out").write_text(m.group(3), encoding="utf-8")
    print("\n".join(names))


if __name__ == "__main__":
    main()
