# Copyright (c) Canopy authors.
"""canopy ui: the server's command line — the URL it prints, the viewer,
loopback by default, refusals, and a clean stop on SIGINT / SIGTERM. The
routes themselves are tested in tests/bindings/http/ (http_test, ui_browser)."""

import json
import signal
import socket
import subprocess
import time
import urllib.error
import urllib.parse
import urllib.request

from cli_harness import CANOPY, CliTestCase


class UiTest(CliTestCase):
    def start(self, *args, host=r"127\.0\.0\.\d+"):
        p = subprocess.Popen([CANOPY, "--db", self.db] + list(args), stdout=subprocess.PIPE,
                             stderr=subprocess.PIPE, text=True)
        self.addCleanup(lambda: p.poll() is None and p.kill())
        url = p.stdout.readline().strip()
        self.assertRegex(url, r"^http://" + host + r":\d+/\?token=[0-9a-f]{32}$")
        return p, url

    def get(self, url, path, token=None):
        u = urllib.parse.urlparse(url)
        req = urllib.request.Request(f"http://127.0.0.1:{u.port}{path}")
        if token:
            req.add_header("Authorization", "Bearer " + token)
        try:
            with urllib.request.urlopen(req, timeout=30) as r:
                return r.status, json.loads(r.read())
        except urllib.error.HTTPError as e:
            return e.code, json.loads(e.read())

    def stop(self, p, sig=signal.SIGINT):
        p.send_signal(sig)
        out, err = p.communicate(timeout=30)
        self.assertEqual(p.returncode, 0, err)
        self.assertIn("canopy ui: stopped", err)

    def test_serves_as_the_system_actor_until_interrupted(self):
        self.seed()
        p, url = self.start("ui")
        token = urllib.parse.parse_qs(urllib.parse.urlparse(url).query)["token"][0]
        self.assertEqual(self.get(url, "/api/session")[0], 401)
        status, body = self.get(url, "/api/session", token)
        self.assertEqual(status, 200)
        self.assertEqual(body["viewer"], "system")
        status, body = self.get(url, "/api/accounts?pageSize=2", token)
        self.assertEqual(body["totalElements"], 4)
        self.assertEqual([r["key"] for r in body["data"]], ["acme", "acme-a"])
        self.stop(p)

    def test_beside_a_writer_it_follows_the_writers_commits(self):
        self.seed()
        writer, wurl = self.start("ui")
        wtoken = urllib.parse.parse_qs(urllib.parse.urlparse(wurl).query)["token"][0]
        reader = subprocess.Popen([CANOPY, "--db", self.db, "ui"], stdout=subprocess.PIPE,
                                  stderr=subprocess.PIPE, text=True)
        self.addCleanup(lambda: reader.poll() is None and reader.kill())
        rurl = reader.stdout.readline().strip()
        rtoken = urllib.parse.parse_qs(urllib.parse.urlparse(rurl).query)["token"][0]
        self.assertEqual(self.get(rurl, "/api/accounts?pageSize=10", rtoken)[1]["totalElements"], 4)
        u = urllib.parse.urlparse(wurl)
        req = urllib.request.Request(f"http://127.0.0.1:{u.port}/api/accounts", method="POST",
                                     data=json.dumps({"key": "acme-new", "parent": "acme"}).encode(),
                                     headers={"Authorization": "Bearer " + wtoken,
                                              "Content-Type": "application/json"})
        with urllib.request.urlopen(req, timeout=30) as r:
            self.assertEqual(r.status, 201)
        deadline = time.monotonic() + 20
        total = 4
        while total == 4 and time.monotonic() < deadline:
            time.sleep(0.1)
            total = self.get(rurl, "/api/accounts?pageSize=10", rtoken)[1]["totalElements"]
        self.assertEqual(total, 5)  # caught up with the writer, within seconds
        reader.send_signal(signal.SIGINT)
        _, err = reader.communicate(timeout=30)
        self.assertEqual(reader.returncode, 0, err)
        self.assertIn("opened as a follower", err)
        self.stop(writer)

    def test_as_a_user(self):
        self.seed()
        for args in (["ui", "--as", "a@acme.example"], ["--actor", "a@acme.example", "ui"]):
            p, url = self.start(*args)
            token = urllib.parse.parse_qs(urllib.parse.urlparse(url).query)["token"][0]
            status, body = self.get(url, "/api/devices", token)
            self.assertEqual(status, 200)
            self.assertEqual(body["totalElements"], 3)  # dev-a1, dev-a2, dev-a11
            status, body = self.get(url, "/api/devices?user=b@acme.example", token)
            self.assertEqual(status, 403)
            self.stop(p, signal.SIGTERM)

    def test_warns_when_it_listens_beyond_this_machine(self):
        self.seed()
        # Loopback, the default and named: no warning.
        for args in (["ui"], ["ui", "--listen", "127.0.0.3"]):
            p, url = self.start(*args)
            p.send_signal(signal.SIGINT)
            _, err = p.communicate(timeout=30)
            self.assertEqual(p.returncode, 0, err)
            self.assertNotIn("warning", err)
        # Every address: the URL names loopback, and a warning says who can reach it.
        p, url = self.start("ui", "--listen", "0.0.0.0")
        token = urllib.parse.parse_qs(urllib.parse.urlparse(url).query)["token"][0]
        self.assertEqual(self.get(url, "/api/session", token)[0], 200)
        p.send_signal(signal.SIGINT)
        _, err = p.communicate(timeout=30)
        self.assertEqual(p.returncode, 0, err)
        self.assertIn("canopy ui: warning: listening on 0.0.0.0, reachable from other machines",
                      err)
        self.assertIn("plain HTTP carries the token unencrypted", err)
        self.assertIn("whoever has the token reads and writes as the viewer", err)
        self.check_ipv6_forms()
        # A server that refuses changes says the token gives reads only.
        for flag in ("--read-only", "--follower"):
            p, url = self.start(flag, "ui", "--listen", "0.0.0.0")
            p.send_signal(signal.SIGINT)
            _, err = p.communicate(timeout=30)
            self.assertEqual(p.returncode, 0, err)
            self.assertIn("whoever has the token reads as the viewer, and plain HTTP", err)

    def check_ipv6_forms(self):
        try:  # (a machine without IPv6 has neither form)
            with socket.socket(socket.AF_INET6) as s:
                s.bind(("::1", 0))
        except OSError:
            return
        # Every IPv4 address written as IPv6: the URL names 127.0.0.1 too.
        p, url = self.start("ui", "--listen", "::ffff:0.0.0.0")
        self.assertEqual(urllib.parse.urlparse(url).hostname, "127.0.0.1", url)
        token = urllib.parse.parse_qs(urllib.parse.urlparse(url).query)["token"][0]
        self.assertEqual(self.get(url, "/api/session", token)[0], 200)
        p.send_signal(signal.SIGINT)
        _, err = p.communicate(timeout=30)
        self.assertIn("reachable from other machines", err)
        # An IPv6 address in brackets, as a URL writes it, is that address.
        p, url = self.start("ui", "--listen", "[::1]", host=r"\[::1\]")
        self.assertEqual(urllib.parse.urlparse(url).hostname, "::1", url)
        p.send_signal(signal.SIGINT)
        _, err = p.communicate(timeout=30)
        self.assertEqual(p.returncode, 0, err)
        self.assertNotIn("warning", err)

    def test_bad_arguments(self):
        self.seed()
        self.assertIn("no user", self.refused("ui", "--as", "nobody@acme.example"))
        # A disabled actor is refused this command too, before serving.
        self.ok("user", "disable", "b@acme.example")
        for args in (["ui", "--as", "b@acme.example"], ["--actor", "b@acme.example", "ui"]):
            err = self.refused(*args)
            self.assertIn("user 'b@acme.example' is disabled and holds no permissions", err)
        self.assertIn("give --as or --actor, not both",
                      self.usage_error("--actor", "a@acme.example", "ui", "--as", "b@acme.example"))
        self.assertIn("--as needs a login", self.usage_error("ui", "--as="))
        self.assertIn("--port", self.usage_error("ui", "--port", "http"))
        self.assertIn("--port", self.usage_error("ui", "--port", "70000"))
        self.assertIn("--listen", self.usage_error("ui", "--listen="))
        self.usage_error("ui", "extra")
        err = self.refused("ui", "--listen", "203.0.113.77")
        self.assertIn("cannot listen on 203.0.113.77", err)

    def test_help(self):
        out = self.ok("ui", "--help", db=False)
        self.assertIn("usage: canopy [--db DIR] ui [--as LOGIN]", out)
        self.assertIn("127.0.0.1", out)
        self.assertIn("docs/http.md", out)
