#!/usr/bin/env python3
"""What a writing process holds of the catalog (docs/PERFORMANCE.md, "Two copies that share their pages").

usage: writer_memory.py DIR [--writes N] [--accounts A]   (the Python binding on PYTHONPATH)

Opens the database folder DIR for writing, as a platform server does, and
prints the time and the process's resident memory (VmRSS) after the open,
after its first write (which waits for the writer's copy of the catalog),
and after N more account creations (default 2,000) under accounts spread
over ids 1..A (default 1,000,000: a generated tree imported into an empty
folder, whose account ids are 1..A); then, on a read-only open of the same folder,
the time and memory of three snapshots (Db.snapshot()). It writes: give it
a copy of the database.
"""
import argparse
import os
import time

import canopy


def rss_mib():
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith("VmRSS"):
                return int(line.split()[1]) / 1024
    return float("nan")


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("dir")
    ap.add_argument("--writes", type=int, default=2000)
    ap.add_argument("--accounts", type=int, default=1000000)
    args = ap.parse_args()
    system = canopy.SYSTEM_ACTOR

    t = time.time()
    db = canopy.open(args.dir)
    opened, rss_open = time.time() - t, rss_mib()
    parents = list(range(1, args.accounts + 1, 499))
    tag = os.getpid()
    t = time.time()
    db.create_account(system, "writer-memory-%d" % tag, "probe", parents[len(parents) // 2])
    first, rss_first = time.time() - t, rss_mib()
    t = time.time()
    for i in range(args.writes):
        db.create_account(system, "writer-memory-%d-%d" % (tag, i), "probe",
                          parents[(i * 7919) % len(parents)])
    many, rss_many = time.time() - t, rss_mib()
    db.close()
    print("open for writing %.2f s, RSS %.0f MiB; first write %.3f s, RSS %.0f MiB; "
          "%d account creations %.3f s, RSS %.0f MiB"
          % (opened, rss_open, first, rss_first, args.writes, many, rss_many))

    db = canopy.open(args.dir, read_only=True)
    before = rss_mib()
    t = time.time()
    snaps = [db.snapshot() for _ in range(3)]
    each = (time.time() - t) / 3
    print("3 snapshots on a read-only open: %.3f s each, RSS %.0f -> %.0f MiB"
          % (each, before, rss_mib()))
    for s in snaps:
        s.close()
    db.close()


if __name__ == "__main__":
    main()
