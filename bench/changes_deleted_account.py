#!/usr/bin/env python3
"""A change-log read filtered by a deleted account (docs/PERFORMANCE.md,
"Reading the log of a deleted account").

usage: changes_deleted_account.py DIR build [--revisions N]
       changes_deleted_account.py DIR read ACCOUNT_ID SINCE
(the Python binding on PYTHONPATH)

`build` writes, into an empty folder DIR, a tenant with an account deleted
at revision 4 (after one device), 50 accounts, devices up to N revisions
(default 50,000), then an account created and deleted at the head; it
prints the ids. `read` opens DIR in a fresh process and times three
Db.changes() calls of one page filtered by ACCOUNT_ID from SINCE: the
first looks for the deletion in the log, the next ones find it (or the
revisions looked through without it) remembered.
"""
import argparse
import time

import canopy

SYSTEM = canopy.SYSTEM_ACTOR


def build(db, revisions):
    device = canopy.EntityKind.DEVICE
    tenant = db.create_account(SYSTEM, "t", "T")
    early = db.create_account(SYSTEM, "early", "Early", tenant)
    db.create_entity(SYSTEM, device, "e0", "E0", early)
    db.delete_account(SYSTEM, early, tenant)
    accounts = [db.create_account(SYSTEM, "a%d" % i, "A", tenant) for i in range(50)]
    n = 0
    while db.revision < revisions:
        db.create_entity(SYSTEM, device, "d%d" % n, "D", accounts[n % len(accounts)])
        n += 1
    late = db.create_account(SYSTEM, "late", "Late", tenant)
    db.delete_account(SYSTEM, late)
    print("head %d; deleted early: account %d at revision 4; deleted late: account %d at %d; "
          "a live account: %d" % (db.revision, early, late, db.revision, accounts[0]))


def read(db, account, since):
    for i in range(3):
        began = time.perf_counter()
        try:
            what = "%d entries" % len(db.changes(since, 1000, account=account).entries)
        except canopy.NotFound as e:
            what = "NotFound: %s" % e
        print("call %d: %.2f ms, %s" % (i + 1, (time.perf_counter() - began) * 1e3, what))


def main():
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("dir")
    p.add_argument("mode", choices=["build", "read"])
    p.add_argument("args", nargs="*", type=int)
    p.add_argument("--revisions", type=int, default=50000)
    a = p.parse_args()
    db = canopy.open(a.dir)
    try:
        if a.mode == "build":
            build(db, a.revisions)
        else:
            if len(a.args) != 2:
                p.error("read takes ACCOUNT_ID SINCE")
            read(db, a.args[0], a.args[1])
    finally:
        db.close()


if __name__ == "__main__":
    main()
