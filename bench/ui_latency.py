#!/usr/bin/env python3
"""Latency of `canopy ui` on a database folder (docs/PERFORMANCE.md, "The web console").

usage: ui_latency.py --canopy BIN --db DIR --user LOGIN [--repeat N] [--browser]

Starts `canopy --db DIR ui`, then times over loopback, each on a fresh
connection: the very first answer of the accounts table (20 rows, tree
order) and of the first page of LOGIN's devices (20, with the exact
count), then N more of each (min, median, max). With --browser, also the
first paint in headless Chromium (started beforehand, as a person's
browser is): from navigation to the table drawn (as the system actor), and
to the first page of devices drawn (the page served with --as LOGIN), as the
page itself stamps them (window.canopyTimings); the first navigation to each
server (the token's redirect included), then the median of 5 more.
"""
import argparse
import http.client
import statistics
import subprocess
import time
import urllib.parse


def start(canopy, db, *args):
    p = subprocess.Popen([canopy, "--db", db, "ui"] + list(args), stdout=subprocess.PIPE,
                         stderr=subprocess.DEVNULL, text=True)
    url = p.stdout.readline().strip()
    u = urllib.parse.urlparse(url)
    token = urllib.parse.parse_qs(u.query)["token"][0]
    return p, url, u.port, token


def timed_get(port, token, path):
    t0 = time.perf_counter()
    c = http.client.HTTPConnection("127.0.0.1", port, timeout=60)
    c.request("GET", path, headers={"Authorization": "Bearer " + token})
    r = c.getresponse()
    body = r.read()
    ms = (time.perf_counter() - t0) * 1000
    c.close()
    if r.status != 200:
        raise SystemExit(f"GET {path}: {r.status} {body[:200]!r}")
    return ms, len(body)


def new_browser():
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service
    options = webdriver.ChromeOptions()
    options.binary_location = "/usr/bin/chromium"
    for a in ("--headless=new", "--no-sandbox", "--disable-dev-shm-usage", "--disable-gpu"):
        options.add_argument(a)
    return webdriver.Chrome(service=Service("/usr/bin/chromedriver"), options=options)


def browser_paint(d, url, what, times=5):
    """The first navigation's stamp, and the median of `times` more."""
    from selenium.webdriver.support.ui import WebDriverWait

    def one():
        d.get(url)
        return WebDriverWait(d, 60).until(
            lambda d: d.execute_script(f"return window.canopyTimings && window.canopyTimings.{what}"))
    first = one()
    return first, statistics.median(one() for _ in range(times))


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--canopy", required=True)
    ap.add_argument("--db", required=True)
    ap.add_argument("--user", required=True)
    ap.add_argument("--repeat", type=int, default=20)
    ap.add_argument("--browser", action="store_true")
    a = ap.parse_args()
    routes = {
        "table (first 20 rows)": "/api/accounts?pageSize=20",
        "devices (first 20, with count)":
            "/api/devices?pageSize=20&user=" + urllib.parse.quote(a.user),
    }
    p, url, port, token = start(a.canopy, a.db)
    try:
        for name, path in routes.items():
            first, size = timed_get(port, token, path)
            rest = sorted(timed_get(port, token, path)[0] for _ in range(a.repeat))
            print(f"{name:32s} first {first:7.1f} ms   then min {rest[0]:6.1f} "
                  f"median {statistics.median(rest):6.1f} max {rest[-1]:6.1f} ms   ({size} bytes)")
        if a.browser:
            d = new_browser()
            d.get("about:blank")  # the browser is up, as a person's would be
            first, median = browser_paint(d, url, "table")
            print(f"{'browser: table drawn':32s} first {first:7.1f} ms   then median {median:6.1f} ms "
                  f"after navigation")
    finally:
        p.terminate()
        p.wait()
    if a.browser:
        p, url, port, token = start(a.canopy, a.db, "--as", a.user)
        try:
            first, median = browser_paint(d, url, "devices")
            print(f"{'browser: devices drawn (--as)':32s} first {first:7.1f} ms   then median "
                  f"{median:6.1f} ms after navigation")
        finally:
            d.quit()
            p.terminate()
            p.wait()


if __name__ == "__main__":
    main()
