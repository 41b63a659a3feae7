#!/usr/bin/env python3
"""Runs one example of the docs in a fresh folder and compares its output.

usage: run_example.py EXPECTED_OUTPUT_OR_- COMMAND [ARGS...]
The command runs with a new empty temporary folder as its working
directory; it must exit 0, and when an expected output file is given its
standard output must equal it.
"""
import os
import subprocess
import sys
import tempfile


def main():
    expected, command = sys.argv[1], sys.argv[2:]
    with tempfile.TemporaryDirectory(prefix="canopy-example-") as tmp:
        run = subprocess.run(command, cwd=tmp, capture_output=True, text=True, timeout=300)
    sys.stderr.write(run.stderr)
    if run.returncode != 0:
        sys.stdout.write(run.stdout)
        sys.exit(f"example exited with {run.returncode}")
    if expected != "-":
        want = open(expected, encoding="utf-8").read()
        if run.stdout != want:
            sys.exit("example output differs from the page\n--- the page shows\n" + want +
                     "--- the example printed\n" + run.stdout)
    print("ok")


if __name__ == "__main__":
    main()
