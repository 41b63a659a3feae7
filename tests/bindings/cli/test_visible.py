# Copyright (c) Canopy authors.
"""canopy visible: what a user may see, filtered, paginated and counted."""

import json
import re
import unittest

from cli_harness import CliTestCase

# 25 more devices in acme-b, so that pages have something to page over.
BULK = [{"type": "device", "key": f"bulk-{i:02d}", "name": f"Bulk {i:02d}",
         "device_type": "sensor", "account": "acme-b"} for i in range(25)]
ADMIN_ALL = ["dev-c1", "dev-a1", "dev-a2", "dev-a11", "dev-b1"] + [r["key"] for r in BULK]


class VisibleTest(CliTestCase):
    def setUp(self):
        super().setUp()
        self.seed(BULK)

    def test_json_lines_have_key_name_and_owner_account_key(self):
        rows = self.json_lines("visible", "--user", "a@acme.example")
        self.assertEqual(rows[0], {"key": "dev-a1", "name": "Truck A1", "account": "acme-a",
                                   "type": "tracker", "kind": "device", "id": rows[0]["id"]})
        self.assertEqual([(r["key"], r["account"]) for r in rows],
                         [("dev-a1", "acme-a"), ("dev-a2", "acme-a"), ("dev-a11", "acme-a1")])

    def test_all_pages_without_limit_in_tree_order(self):
        self.assertEqual(self.visible_keys("admin@acme.example"), ADMIN_ALL)

    def test_top_down_only(self):
        # b is a viewer on acme-b only; a never sees its parent's device.
        self.assertEqual(self.visible_keys("b@acme.example"), ["dev-b1"] + [r["key"] for r in BULK])
        self.assertNotIn("dev-c1", self.visible_keys("a@acme.example"))

    def test_table_output(self):
        out = self.ok("visible", "--user", "a@acme.example")
        lines = out.splitlines()
        self.assertEqual(lines[0].split(), ["KEY", "NAME", "TYPE", "ACCOUNT"])
        self.assertEqual(lines[1].split(), ["dev-a1", "Truck", "A1", "tracker", "acme-a"])
        self.assertEqual(len(lines), 4)
        # Columns line up: every ACCOUNT cell starts where the header does.
        col = lines[0].index("ACCOUNT")
        self.assertTrue(all(l[col:].startswith("acme-a") for l in lines[1:]), out)

    def test_count(self):
        self.assertEqual(self.ok("visible", "--user", "admin@acme.example", "--count"), "30\n")
        self.assertEqual(self.json_one("visible", "--user", "a@acme.example", "--count", "--json"),
                         {"count": 3})
        self.assertEqual(self.ok("visible", "--user", "admin@acme.example", "--count",
                                 "--type", "sensor"), "25\n")

    def json_page(self, *flags):
        """One page with --json: (the items on stdout, the cursor on stderr or None)."""
        p = self.expect(0, "--json", "visible", "--user", "admin@acme.example", *flags)
        rows = [json.loads(line) for line in p.stdout.splitlines()]
        m = re.fullmatch(r"next cursor: (\S+)\n", p.stderr)
        self.assertTrue(p.stderr == "" or m, p.stderr)
        return rows, (m.group(1) if m else None)

    def test_limit_gives_one_page_and_the_cursor_on_stderr(self):
        rows, cursor = self.json_page("--limit", "4")
        # stdout holds the items only: every line is an entity.
        self.assertEqual([r["key"] for r in rows], ADMIN_ALL[:4])
        self.assertTrue(all(set(r) == {"key", "name", "account", "type", "kind", "id"}
                            for r in rows), rows)
        self.assertIsNotNone(cursor)

    def test_cursor_pages_cover_everything_exactly_once(self):
        seen, cursor, pages = [], None, 0
        while True:
            rows, cursor = self.json_page("--limit", "7", *(["--cursor", cursor] if cursor else []))
            pages += 1
            seen += [r["key"] for r in rows]
            if cursor is None:
                break
        self.assertEqual(seen, ADMIN_ALL)
        self.assertEqual(pages, 5)

    def test_last_page_has_no_cursor(self):
        p = self.expect(0, "--json", "visible", "--user", "a@acme.example", "--limit", "3")
        rows = [json.loads(line) for line in p.stdout.splitlines()]
        self.assertEqual([r.get("key") for r in rows], ["dev-a1", "dev-a2", "dev-a11"])
        self.assertEqual(p.stderr, "")

    def test_cursor_without_limit_prints_the_rest(self):
        _, cursor = self.json_page("--limit", "10")
        rest = self.visible_keys("admin@acme.example", "--cursor", cursor)
        self.assertEqual(rest, ADMIN_ALL[10:])

    def test_table_with_limit_prints_the_cursor_on_stderr(self):
        p = self.expect(0, "visible", "--user", "admin@acme.example", "--limit", "2")
        self.assertEqual(len(p.stdout.splitlines()), 3)
        self.assertRegex(p.stderr, r"^next cursor: \S+\n$")
        cursor = p.stderr.split()[-1]
        rows, _ = self.json_page("--limit", "2", "--cursor", cursor)
        self.assertEqual([r["key"] for r in rows], ADMIN_ALL[2:4])

    def test_cursor_of_another_request_is_refused(self):
        _, cursor = self.json_page("--limit", "2")
        # A bad --cursor value: a usage error naming what is wrong with it.
        err = self.usage_error("visible", "--user", "admin@acme.example", "--limit", "2",
                               "--type", "sensor", "--cursor", cursor)
        self.assertIn("cursor belongs to another request", err)
        err = self.usage_error("visible", "--user", "admin@acme.example", "--cursor", "garbage")
        self.assertIn("cursor is malformed", err)

    def test_filters(self):
        admin = "admin@acme.example"
        self.assertEqual(self.visible_keys(admin, "--type", "camera"), ["dev-a2"])
        self.assertEqual(self.visible_keys(admin, "--name-prefix", "Truck"), ["dev-a1", "dev-a11"])
        self.assertEqual(self.visible_keys(admin, "--attribute", "vin=V1"), ["dev-a1"])
        self.assertEqual(self.visible_keys(admin, "--attribute", "vin=V2"), [])
        self.assertEqual(self.visible_keys(admin, "--within", "acme-a"),
                         ["dev-a1", "dev-a2", "dev-a11"])
        self.assertEqual(self.visible_keys(admin, "--within", "acme-a", "--direct"),
                         ["dev-a1", "dev-a2"])
        self.assertEqual(self.visible_keys(admin, "--direct"), ["dev-c1"])
        self.assertEqual(self.visible_keys(admin, "--within", "acme-a", "--type", "tracker",
                                           "--name-prefix", "Truck A1"), ["dev-a1", "dev-a11"])

    def test_within_out_of_the_users_sight_is_a_missing_account(self):
        # a@acme.example cannot see its sibling acme-b: refused as missing to
        # it, never answered as an empty selection. The operator, who named
        # the account, is told so by key (not by an internal id).
        err = self.refused("visible", "--user", "a@acme.example", "--within", "acme-b")
        self.assertEqual(err, "canopy: not_found: within: user 'a@acme.example' cannot see "
                              "account 'acme-b'\n")
        self.refused("visible", "--count", "--user", "a@acme.example", "--within", "acme-b")
        # A disabled user sees nothing, within any account (not an error).
        self.ok("user", "disable", "b@acme.example")
        self.assertEqual(self.visible_keys("b@acme.example", "--within", "acme-b"), [])
        # Asked as that user: the account is unknown to it, like a missing one.
        err = self.refused("--actor", "a@acme.example", "visible", "--user", "a@acme.example",
                           "--within", "acme-b")
        self.assertIn("no account with key 'acme-b'", err)

    def test_permission(self):
        # The auditor role holds device.read only; the viewer likewise.
        self.assertEqual(self.visible_keys("aud@acme.example", "--permission", "device.assign"), [])
        self.assertEqual(len(self.visible_keys("aud@acme.example", "--permission",
                                               "device.read")), 26)
        self.assertEqual(self.visible_keys("a@acme.example", "--permission", "device.assign"),
                         ["dev-a1", "dev-a2", "dev-a11"])

    def test_kind(self):
        rows = self.json_lines("visible", "--user", "a@acme.example", "--kind", "asset")
        self.assertEqual([(r["key"], r["kind"], r["account"]) for r in rows],
                         [("site-7", "asset", "acme-a")])
        self.assertEqual(self.visible_keys("b@acme.example", "--kind", "asset"), [])
        self.assertEqual(self.visible_keys("a@acme.example", "--kind", "dashboard"), [])

    def test_disabled_user_sees_nothing(self):
        self.ok("user", "disable", "a@acme.example")
        self.assertEqual(self.visible_keys("a@acme.example"), [])
        self.assertEqual(self.ok("visible", "--user", "a@acme.example", "--count"), "0\n")


class VisibleErrorTest(CliTestCase):
    def setUp(self):
        super().setUp()
        self.seed()

    def test_unknown_user(self):
        err = self.refused("visible", "--user", "ghost@acme.example")
        self.assertIn("no user with login 'ghost@acme.example'", err)

    def test_unknown_within_account(self):
        err = self.refused("visible", "--user", "a@acme.example", "--within", "nowhere")
        self.assertIn("no account with key 'nowhere'", err)

    def test_bad_permission(self):
        # Bad flag values the query refuses are usage errors (exit 2), with
        # --count, a page or the whole stream alike; so is a forged cursor.
        for extra in ([], ["--count"], ["--limit", "5"]):
            err = self.usage_error("visible", "--user", "a@acme.example", "--permission",
                                   "device.fly", *extra)
            self.assertIn("unknown permission 'device.fly'", err)
            err = self.usage_error("visible", "--user", "a@acme.example", "--permission",
                                   "asset.read", *extra)
            self.assertIn("not a permission on device entities", err)
        self.assertIn("cursor", self.usage_error("visible", "--user", "a@acme.example",
                                                 "--limit", "5", "--cursor", "garbage"))


    def test_usage_errors(self):
        a = ["visible", "--user", "a@acme.example"]
        self.assertIn("--user is required", self.usage_error("visible"))
        self.assertIn("--kind must be", self.usage_error(*a, "--kind", "spaceship"))
        self.assertIn("--limit must be in 1..10000", self.usage_error(*a, "--limit", "0"))
        self.assertIn("--limit must be in 1..10000", self.usage_error(*a, "--limit", "10001"))
        self.assertIn("--limit needs a number", self.usage_error(*a, "--limit", "ten"))
        self.assertIn("--count takes no --limit", self.usage_error(*a, "--count", "--limit", "2"))
        self.assertIn("--attribute needs NAME=VALUE", self.usage_error(*a, "--attribute", "vin"))
        self.assertIn("only once", self.usage_error(*a, "--attribute", "a=1", "--attribute", "b=2"))
        self.assertIn("unexpected argument", self.usage_error(*a, "extra"))


if __name__ == "__main__":
    unittest.main()
